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


def test_a_lost_state_file_keeps_the_position(state_dir: pathlib.Path) -> None:
    store = checkpoint.Checkpoint(state_dir)
    store.save(position(5), {"rule": {"key": "k", "state": {"terms": {}}}})
    (name,) = [path for path in state_dir.glob("detector-state-*.json")]
    name.unlink()
    saved = checkpoint.Checkpoint(state_dir).load_saved()
    assert saved is not None
    assert saved.position == position(5)
    assert saved.state is None and saved.state_problem is not None


def test_state_saved_with_a_position_comes_back_and_old_files_go(state_dir: pathlib.Path) -> None:
    store = checkpoint.Checkpoint(state_dir)
    store.save(position(1), {"a": {"key": "1", "state": {}}})
    store.save(position(2))  # the state did not change: it still goes with the position
    store.save(position(3), {"a": {"key": "3", "state": {}}})
    saved = checkpoint.Checkpoint(state_dir).load_saved()
    assert saved is not None
    assert (saved.position, saved.state) == (position(3), {"a": {"key": "3", "state": {}}})
    assert len(list(state_dir.glob("detector-state-*.json"))) == 1


def test_a_version_1_checkpoint_keeps_its_position(state_dir: pathlib.Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / checkpoint.CHECKPOINT_NAME).write_text(
        '{"version":1,"path":"/var/log/audit.log","dev":1,"ino":2,"fingerprintSize":0,'
        '"fingerprint":"' + "0" * 64 + '","liveAtNs":3,"offset":42}'
    )
    saved = checkpoint.Checkpoint(state_dir).load_saved()
    assert saved is not None and saved.state is None
    assert saved.position is not None and saved.position.offset == 42
