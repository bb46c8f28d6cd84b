"""Where the audit log reader stands: file identity plus offset, kept in a small JSON file.

Fed by: the tailer (``audithound.source.tail``), which stamps every line it yields with the
:class:`Position` just after it, and the pipeline, which saves the position of the last line
whose alerts the sinks acknowledged. Feeds: the tailer again on the next start, which resumes at
the saved position, following the file across rotations while the operator was down.

A file is named by ``(st_dev, st_ino)`` and a fingerprint of its first bytes, because
inode numbers are reused once a rotated backup is deleted. The checkpoint is written
atomically (temporary file, fsync, rename, fsync of the directory), so a crash leaves the
previous checkpoint or the new one, never a torn file; a leftover temporary file is ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib

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


class _CheckpointFile(pydantic.BaseModel):
    """The JSON written to disk (camelCase keys, like the Kubernetes objects around it)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    version: int = pydantic.Field(1, ge=1, le=1)
    path: str
    dev: int = pydantic.Field(ge=0)
    ino: int = pydantic.Field(ge=0)
    fingerprintSize: int = pydantic.Field(ge=0, le=FINGERPRINT_BYTES)
    fingerprint: str = pydantic.Field(pattern=r"^[0-9a-f]{64}$")
    liveAtNs: int
    offset: int = pydantic.Field(ge=0)


class Checkpoint:
    """The saved read position of one audit log, in ``state_dir``/:data:`CHECKPOINT_NAME`."""

    def __init__(self, state_dir: pathlib.Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / CHECKPOINT_NAME
        self._tmp_path = state_dir / (CHECKPOINT_NAME + ".tmp")

    def load(self) -> Position | None:
        """The saved position, or None when nothing was saved yet.

        Raises :class:`CheckpointError` (naming the file) when the file is not a checkpoint.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            saved = _CheckpointFile.model_validate_json(raw)
        except pydantic.ValidationError as exc:
            raise CheckpointError(f"{self.path} is not a valid checkpoint: {exc}") from exc
        identity = FileIdentity(
            dev=saved.dev,
            ino=saved.ino,
            fingerprint_size=saved.fingerprintSize,
            fingerprint=saved.fingerprint,
            path=saved.path,
            live_at_ns=saved.liveAtNs,
        )
        return Position(identity=identity, offset=saved.offset)

    def save(self, position: Position) -> None:
        """Replace the saved position atomically and durably, creating the directory if needed."""
        identity = position.identity
        data = _CheckpointFile(
            path=identity.path,
            dev=identity.dev,
            ino=identity.ino,
            fingerprintSize=identity.fingerprint_size,
            fingerprint=identity.fingerprint,
            liveAtNs=identity.live_at_ns,
            offset=position.offset,
        ).model_dump_json()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self._tmp_path, "w", encoding="utf-8") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(self._tmp_path, self.path)
        # The rename is durable only once the directory entry itself reaches the disk.
        dir_fd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
