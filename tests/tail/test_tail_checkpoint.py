"""The checkpoint file: round trip, atomic replacement, and what a broken one says."""

from __future__ import annotations

import pathlib

import pytest

from audithound.source import checkpoint


def position(offset: int) -> checkpoint.Position:
    identity = checkpoint.FileIdentity(
        dev=2049,
        ino=131077,
        fingerprint_size=5,
        fingerprint=checkpoint.fingerprint(b"hello"),
        path="/var/log/kubernetes/audit/audit.log",
        live_at_ns=1_795_000_000_123_456_789,
    )
    return checkpoint.Position(identity, offset)


def test_nothing_saved_loads_as_none(state_dir: pathlib.Path) -> None:
    assert checkpoint.Checkpoint(state_dir).load() is None


def test_a_saved_position_loads_back_whole(state_dir: pathlib.Path) -> None:
    store = checkpoint.Checkpoint(state_dir)
    store.save(position(42))
    loaded = checkpoint.Checkpoint(state_dir).load()
    assert loaded == position(42)
    assert loaded is not None
    assert loaded.identity.path == "/var/log/kubernetes/audit/audit.log"
    assert loaded.identity.live_at_ns == 1_795_000_000_123_456_789


def test_saving_replaces_the_file_and_leaves_no_temporary_file(state_dir: pathlib.Path) -> None:
    store = checkpoint.Checkpoint(state_dir)
    store.save(position(1))
    store.save(position(2))
    assert store.load() == position(2)
    assert sorted(p.name for p in state_dir.iterdir()) == [checkpoint.CHECKPOINT_NAME]


def test_a_leftover_temporary_file_is_ignored(state_dir: pathlib.Path) -> None:
    store = checkpoint.Checkpoint(state_dir)
    store.save(position(7))
    # A crash between writing the temporary file and renaming it leaves this behind.
    (state_dir / (checkpoint.CHECKPOINT_NAME + ".tmp")).write_text('{"offset": 9')
    assert store.load() == position(7)
    store.save(position(8))
    assert store.load() == position(8)


def test_a_broken_checkpoint_is_an_error_naming_the_file(state_dir: pathlib.Path) -> None:
    state_dir.mkdir()
    (state_dir / checkpoint.CHECKPOINT_NAME).write_text('{"offset": -1}')
    with pytest.raises(checkpoint.CheckpointError, match=checkpoint.CHECKPOINT_NAME):
        checkpoint.Checkpoint(state_dir).load()


def test_identity_ignores_where_the_file_was_and_when() -> None:
    moved = checkpoint.FileIdentity(
        dev=2049,
        ino=131077,
        fingerprint_size=5,
        fingerprint=checkpoint.fingerprint(b"hello"),
        path="/var/log/kubernetes/audit/audit-2026-11-28T08-12-41.123.log",
        live_at_ns=0,
    )
    assert moved == position(0).identity
    assert moved.same_content(b"hello world")
    assert not moved.same_content(b"hell")
