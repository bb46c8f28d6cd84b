"""Every line exactly once, whatever happens between polls: a property over random histories.

A writer appends lines in arbitrary pieces, rotates (and compresses backups) like lumberjack;
a reader polls, acknowledges (saves the checkpoint), and crashes (forgets what it did not
acknowledge) and restarts from the checkpoint, possibly after several rotations. In the end
the acknowledged lines plus those read since the last restart must be the written lines, in
order, each once.
"""

from __future__ import annotations

import pathlib
import tempfile

import tailkit
from hypothesis import given, settings
from hypothesis import strategies as st

from audithound.source import checkpoint, tail

Operation = tuple[str] | tuple[str, int]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 700)),
        st.tuples(st.just("poll"), st.integers(1, 5)),
        st.tuples(st.sampled_from(["rotate", "compress", "ack", "crash", "start"])),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300) | st.integers(1000, 3000), min_size=1, max_size=40),
    operations=operations,
)
def test_every_line_is_read_exactly_once(sizes: list[int], operations: list[Operation]) -> None:
    written = [b"%04d:" % number + b"x" * size for number, size in enumerate(sizes)]
    stream = b"".join(line + b"\n" for line in written)
    with tempfile.TemporaryDirectory() as root:
        log_dir = tailkit.AuditLogDir(pathlib.Path(root) / "log")
        store = checkpoint.Checkpoint(pathlib.Path(root) / "state")
        history = History(log_dir, store, stream)
        try:
            for operation in operations:
                history.apply(operation)
            history.finish()
        finally:
            history.stop()
    assert history.acknowledged + history.unacknowledged == written


class History:
    """The writer and the reader of one example."""

    def __init__(
        self, log_dir: tailkit.AuditLogDir, store: checkpoint.Checkpoint, stream: bytes
    ) -> None:
        self.log_dir = log_dir
        self.store = store
        self.stream = stream
        self.written = 0
        self.backups: list[pathlib.Path] = []
        self.tailer: tail.Tailer | None = tail.Tailer(log_dir.path, tail.StartPolicy.BEGINNING)
        self.acknowledged: list[bytes] = []
        self.unacknowledged: list[bytes] = []
        self.last: checkpoint.Position | None = None

    def apply(self, operation: Operation) -> None:
        match operation:
            case ("write", size):
                self.write(self.written + size)
            case ("rotate",):
                # Lumberjack rotates between whole lines, and never an empty file.
                end = self.stream.find(b"\n", self.written)
                self.write(len(self.stream) if end < 0 else end + 1)
                if self.log_dir.path.stat().st_size:
                    self.backups.append(self.log_dir.rotate())
            case ("compress",):
                plain = [backup for backup in self.backups if backup.suffix == ".log"]
                if plain:
                    index = self.backups.index(plain[0])
                    self.backups[index] = self.log_dir.compress(plain[0])
            case ("poll", times):
                for _ in range(times):
                    self.poll()
            case ("ack",):
                self.acknowledge()
            case ("crash",):
                self.stop()
                self.unacknowledged = []
            case ("start",):
                self.start()
            case _:
                raise TypeError(operation)

    def write(self, end: int) -> None:
        end = min(end, len(self.stream))
        if end > self.written:
            self.log_dir.write(self.stream[self.written : end])
            self.written = end

    def poll(self) -> None:
        if self.tailer is None:
            return
        for record in self.tailer.poll(3):
            assert record.line is not None
            self.unacknowledged.append(record.line)
            self.last = record.position

    def acknowledge(self) -> None:
        if self.tailer is not None and self.last is not None:
            self.store.save(self.last)
            self.acknowledged += self.unacknowledged
            self.unacknowledged = []

    def start(self) -> None:
        if self.tailer is None:
            saved = self.store.load()
            start = tail.StartPolicy.BEGINNING if saved is None else saved
            self.tailer = tail.Tailer(self.log_dir.path, start)
            self.last = None

    def stop(self) -> None:
        if self.tailer is not None:
            self.tailer.close()
            self.tailer = None

    def finish(self) -> None:
        self.write(len(self.stream))
        self.start()
        for _ in range(len(self.stream) // 3 + 2):
            self.poll()
        assert self.tailer is not None
        assert not [n for n in self.tailer.take_notices() if not isinstance(n, tail.Rotated)]
