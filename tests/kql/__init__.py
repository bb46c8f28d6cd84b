"""Tests of the query language alone: parser, renderer, compiler, analysis, wildcards."""
