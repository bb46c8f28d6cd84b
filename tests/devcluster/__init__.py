"""Tests of the local control plane: build, start/stop, audit behaviour, CLI."""
