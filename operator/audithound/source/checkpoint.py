"""Where the audit log reader stands (file identity plus offset), with the detectors' state.

Fed by: the tailer (``audithound.source.tail``), which stamps every line it yields with the
:class:`Position` just after it, and the operator's audit loop, which saves the position of the
last line whose alerts the sinks acknowledged, together with the state of its stateful
detectors (seen terms, open groups) as it was after that line. Feeds: the tailer and the
pipeline on the next start, which resume at the saved position with the saved state,
following the file across rotations while the operator was down.

A file is named by ``(st_dev, st_ino)`` and a fingerprint of its first bytes, because
inode numbers are reused once a rotated backup is deleted.

Two kinds of file, so that a busy log does not rewrite megabytes of state per batch: the
checkpoint (:data:`CHECKPOINT_NAME`, small, version 2) holds the position and the name of the
state file that goes with it; each state file (``detector-state-<n>.json``) is written once,
under a new name, before the checkpoint that names it. Replacing the checkpoint is the one
atomic step (temporary file, fsync, rename, fsync of the directory), so a crash leaves the
previous (position, state) pair or the new one, never a position with a state it does not
belong to. Older state files are removed after the switch; a leftover temporary file is
ignored. A version-1 checkpoint (a position alone, written before detectors kept state) is
read as that position with no state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import orjson
import pydantic

#: How many bytes at the start of a file its fingerprint covers (unit: bytes, default 1024).
#: The first event of an audit log carries a unique auditID and timestamps within its first few
#: hundred bytes, so 1 KiB tells files apart while costing one small read per identity check.
FINGERPRINT_BYTES = 1024

#: File name of the checkpoint inside the state directory.
CHECKPOINT_NAME = "audit-log-position.json"


@dataclasses.dataclass(frozen=True, slots=True)
class FileIdentity:
    """One audit log file, recognisable after it was renamed or compressed.

    ``fingerprint`` is the SHA-256 (hex) of the first ``fingerprint_size`` bytes of the file's
    content (decompressed, for a gzipped backup); ``fingerprint_size`` is at most
    :data:`FINGERPRINT_BYTES` and smaller while the file is shorter than that.
    ``path`` is where the file was when it was opened and ``live_at_ns`` a moment when the file
    was the live log (its mtime when first read, or the rotation time in a backup's name), so
    that backups rotated later can be told to be newer when the file itself is gone. Neither
    takes part in equality: they describe the file, they do not name it.
    """

    dev: int
    ino: int
    fingerprint_size: int
    fingerprint: str
    path: str = dataclasses.field(compare=False)
    live_at_ns: int = dataclasses.field(compare=False)

    def same_content(self, prefix: bytes) -> bool:
        """Whether a file whose content starts with ``prefix`` has this fingerprint.

        ``prefix`` must hold at least ``fingerprint_size`` bytes of that file, when it has them.
        """
        if len(prefix) < self.fingerprint_size:
            return False
        return fingerprint(prefix[: self.fingerprint_size]) == self.fingerprint


@dataclasses.dataclass(frozen=True, slots=True)
class Position:
    """A byte offset in one file: the start of the next line to read."""

    identity: FileIdentity
    offset: int


def fingerprint(prefix: bytes) -> str:
    """The fingerprint of a file's first bytes (SHA-256, hex)."""
    return hashlib.sha256(prefix).hexdigest()


class CheckpointError(ValueError):
    """The checkpoint file exists but cannot be read as a position."""


class _PositionFile(pydantic.BaseModel):
    """A position on disk (camelCase keys, like the Kubernetes objects around it); version 1
    of the checkpoint is this object alone, with ``version: 1``."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    path: str
    dev: int = pydantic.Field(ge=0)
    ino: int = pydantic.Field(ge=0)
    fingerprintSize: int = pydantic.Field(ge=0, le=FINGERPRINT_BYTES)
    fingerprint: str = pydantic.Field(pattern=r"^[0-9a-f]{64}$")
    liveAtNs: int
    offset: int = pydantic.Field(ge=0)

    @classmethod
    def of(cls, position: Position) -> _PositionFile:
        identity = position.identity
        return cls(
            path=identity.path,
            dev=identity.dev,
            ino=identity.ino,
            fingerprintSize=identity.fingerprint_size,
            fingerprint=identity.fingerprint,
            liveAtNs=identity.live_at_ns,
            offset=position.offset,
        )

    def position(self) -> Position:
        identity = FileIdentity(
            dev=self.dev,
            ino=self.ino,
            fingerprint_size=self.fingerprintSize,
            fingerprint=self.fingerprint,
            path=self.path,
            live_at_ns=self.liveAtNs,
        )
        return Position(identity=identity, offset=self.offset)


class _CheckpointV1(_PositionFile):
    version: int = pydantic.Field(1, ge=1, le=1)


class _CheckpointV2(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    version: int = pydantic.Field(2, ge=2, le=2)
    position: _PositionFile | None
    #: The state file that goes with the position (in the same directory), if any.
    state: str | None = pydantic.Field(default=None, pattern=r"^detector-state-[0-9]+\.json$")


@dataclasses.dataclass(frozen=True)
class Saved:
    """What a checkpoint holds: the position and, when detectors kept state, that state."""

    position: Position | None
    #: The pipeline's snapshot (``pipeline.Pipeline.snapshot``), or None.
    state: dict[str, Any] | None
    #: Why the state named by the checkpoint could not be read (the position stands).
    state_problem: str | None = None


_STATE_PREFIX = "detector-state-"


class Checkpoint:
    """The saved read position of one audit log, in ``state_dir``/:data:`CHECKPOINT_NAME`,
    and the detector state saved with it."""

    def __init__(self, state_dir: pathlib.Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / CHECKPOINT_NAME
        self._tmp_path = state_dir / (CHECKPOINT_NAME + ".tmp")
        #: The state file the checkpoint names now (kept by saves that pass no state).
        self._state_name: str | None = None
        self._sequence = 0

    def load(self) -> Position | None:
        """The saved position, or None when nothing was saved yet.

        Raises :class:`CheckpointError` (naming the file) when the file is not a checkpoint.
        """
        saved = self.load_saved()
        return saved.position if saved is not None else None

    def load_saved(self) -> Saved | None:
        """The saved position and detector state; None when nothing was saved yet.

        Raises :class:`CheckpointError` (naming the file) when a file is not what it must be.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            version = orjson.loads(raw).get("version")
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise CheckpointError(f"{self.path} is not a valid checkpoint: {exc}") from exc
        try:
            if version == 1:
                return Saved(_CheckpointV1.model_validate_json(raw).position(), None)
            saved = _CheckpointV2.model_validate_json(raw)
        except pydantic.ValidationError as exc:
            raise CheckpointError(f"{self.path} is not a valid checkpoint: {exc}") from exc
        state = None
        problem = None
        position = saved.position.position() if saved.position is not None else None
        if saved.state is not None:
            self._sequence = int(saved.state.removeprefix(_STATE_PREFIX).removesuffix(".json"))
            try:
                state = self._read_state(saved.state)
            except CheckpointError as error:
                # The position stands without its state: losing the state costs relearning
                # from the logs on disk, losing the position would cost the log itself.
                problem = str(error)
            else:
                self._state_name = saved.state
        return Saved(position, state, problem)

    def _read_state(self, name: str) -> dict[str, Any]:
        path = self.state_dir / name
        try:
            state = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise CheckpointError(f"{path} (named by {self.path}) is unreadable: {exc}") from exc
        if not isinstance(state, dict) or state.get("version") != 1:
            raise CheckpointError(f"{path} is not a detector state file (version 1)")
        detectors = state.get("detectors")
        return detectors if isinstance(detectors, dict) else {}

    def save(self, position: Position | None, state: Mapping[str, Any] | None = None) -> None:
        """Replace the saved position atomically and durably, creating the directory if needed.

        With ``state`` (the pipeline's snapshot), that state is saved with the position; without
        it, the state saved last stays the one that goes with the position (the caller saves
        a position alone only when the state did not change since).
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if state is not None:
            # A new name each time, never one a checkpoint on disk may name.
            self._sequence = max(self._sequence, *self._existing_sequences()) + 1
            name = f"{_STATE_PREFIX}{self._sequence}.json"
            self._write(self.state_dir / name, orjson.dumps({"version": 1, "detectors": state}))
            self._state_name = name
        data = _CheckpointV2(
            position=_PositionFile.of(position) if position is not None else None,
            state=self._state_name,
        ).model_dump_json()
        self._write(self.path, data.encode())
        if state is not None:
            self._remove_stale(keep=self._state_name)

    def _existing_sequences(self) -> list[int]:
        found = [0]
        for path in self.state_dir.glob(f"{_STATE_PREFIX}*.json"):
            number = path.name.removeprefix(_STATE_PREFIX).removesuffix(".json")
            if number.isdigit():
                found.append(int(number))
        return found

    def _write(self, path: pathlib.Path, data: bytes) -> None:
        tmp_path = path.with_name(path.name + ".tmp")
        with open(tmp_path, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, path)
        # The rename is durable only once the directory entry itself reaches the disk.
        dir_fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _remove_stale(self, *, keep: str | None) -> None:
        """State files no checkpoint names any more (the previous one, and leftovers)."""
        for path in self.state_dir.glob(f"{_STATE_PREFIX}*.json"):
            if path.name != keep:
                path.unlink(missing_ok=True)
