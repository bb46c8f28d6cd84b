"""Worker processes that can die at any moment without holding up the parent.

Fed by: ``parallel``, with the function a worker runs on each job and the jobs, numbered in
the order they are sent. Feeds: ``parallel``, with each job's result in that order, or
:class:`Lost` when a worker can no longer give it.

Why not ``concurrent.futures.ProcessPoolExecutor``: its workers share one result pipe, written
under one lock. A worker killed halfway through sending a result (a large result takes several
writes) leaves the pool's reader waiting for the rest of a message that never comes, and the
other workers waiting for the lock: the scan hangs for good (CPython 3.11; reproduced by
killing a worker while it is in ``write``). Here each worker has a pipe of its own each way,
and no other process holds its ends, so a worker's death ends its pipes: the parent's read
fails at once, halfway through a message or not, and its write fails with a broken pipe.

Job ``n`` goes to worker ``n % jobs`` and each worker does its jobs in order, so the parent
takes result ``n`` from that worker's pipe. Workers are forked (they inherit what the parent
set up, such as compiled rules) when the crew is made, before the parent has written anything
that a child could flush a second time.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import signal
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class Lost(Exception):
    """A worker ended (killed, out of memory) or failed before it gave a result; its message
    says which, for a sentence like "a worker process {message}"."""


@dataclasses.dataclass(frozen=True)
class _Failure:
    """What a worker sends instead of a result when its work raised."""

    error: str


@dataclasses.dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    jobs: multiprocessing.connection.Connection  # the parent's end: it sends
    results: multiprocessing.connection.Connection  # the parent's end: it receives
    owed: int = 0  # jobs sent whose results were not received


def _serve(
    work: Callable[[Any], Any],
    jobs: multiprocessing.connection.Connection,
    results: multiprocessing.connection.Connection,
    inherited: list[multiprocessing.connection.Connection],
) -> None:
    """A worker's life: do each job sent until the parent closes its end."""
    # Ctrl-C reaches the whole process group: the parent handles it and ends the crew.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for connection in inherited:  # other workers' pipes: holding them would keep them open
        connection.close()
    while True:
        try:
            job = jobs.recv()
        except EOFError:
            return
        try:
            result = work(job)
        except Exception as error:  # the parent reads the piece itself and meets it there
            result = _Failure(_told(error))
        try:
            results.send(result)
        except OSError:  # the parent stopped listening (it left early): nothing to say
            return
        if isinstance(result, _Failure):
            return


def _told(error: Exception) -> str:
    """What the parent says of a worker's error: its type, and an OS error's reason. Not the
    message of any other error, which may quote an event (stderr carries nothing of the log's
    secrets); the parent meets the error itself when it reads the piece."""
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return type(error).__name__


class Crew(Generic[Job, Result]):
    """``jobs`` forked worker processes running ``work``; a context manager that ends them."""

    def __init__(self, jobs: int, work: Callable[[Job], Result]) -> None:
        context = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        try:
            for _ in range(jobs):
                self._workers.append(self._fork(context, work))
        except BaseException:
            self.close()
            raise

    def _fork(self, context: Any, work: Callable[[Job], Result]) -> _Worker:
        job_reader, job_writer = context.Pipe(duplex=False)
        result_reader, result_writer = context.Pipe(duplex=False)
        inherited = [end for worker in self._workers for end in (worker.jobs, worker.results)]
        process = context.Process(
            target=_serve,
            args=(work, job_reader, result_writer, [job_writer, result_reader, *inherited]),
            daemon=True,  # ended by multiprocessing's exit handler if the parent dies first
        )
        process.start()
        # The worker's ends now live in the worker alone (workers forked later must not
        # inherit them), so its death is the end of its pipes.
        job_reader.close()
        result_writer.close()
        return _Worker(process, job_writer, result_reader)

    def send(self, number: int, job: Job) -> None:
        """Hand job ``number`` (counted from 0, one after another) to its worker."""
        worker = self._workers[number % len(self._workers)]
        try:
            worker.jobs.send(job)
        except OSError as error:  # BrokenPipeError: the worker is gone
            raise Lost(self._ending(worker)) from error
        worker.owed += 1

    def receive(self, number: int) -> Result:
        """The result of job ``number``; the jobs sent before it to its worker were received."""
        worker = self._workers[number % len(self._workers)]
        try:
            result = worker.results.recv()
        except (EOFError, OSError) as error:  # ended, perhaps halfway through a message
            raise Lost(self._ending(worker)) from error
        worker.owed -= 1
        if isinstance(result, _Failure):
            raise Lost(f"failed ({result.error})")
        return result  # type: ignore[no-any-return]

    @staticmethod
    def _ending(worker: _Worker) -> str:
        worker.process.join(timeout=5)  # its pipes ended: it has died or is dying
        code = worker.process.exitcode
        how = f" by signal {-code}" if code is not None and code < 0 else ""
        return f"ended abruptly{how} (killed, perhaps for want of memory)"

    def close(self) -> None:
        """End every worker: an idle one as it reads the end of its jobs, one still owing
        results (the parent leaves early) by force, as it holds nothing worth waiting for."""
        for worker in self._workers:
            worker.jobs.close()
            worker.results.close()
            if worker.owed:
                worker.process.kill()
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.process.close()
        self._workers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
