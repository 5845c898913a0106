"""Chunks of a batch on every core: symmetric workers that each take the next chunk and run it whole.

predict's pipeline per photo is decode -> canonical render -> colour statistics -> encoder -> heads,
about 1.7 ms on one core, and every photo is independent. The fastest way to use 2 cores turned out
to be the plainest: each core runs the whole pipeline on its own chunks. Measured here (2-core Xeon,
4,000 photos, in-process, the pipeline's work only):

    one decoding thread feeding the encoder's thread (the previous design)   about 880 photos/s
    two threads, each running whole chunks                                   920 - 980 photos/s
    two processes (fork), each running whole chunks                         1,045 - 1,054 photos/s

Threads share the interpreter lock for every numpy call and every line of tifffile's header parsing;
processes share nothing. So on Linux the helpers are forked processes (copy-on-write: the model and
the catalog are not copied, nothing is pickled on the way in); where fork is not the platform's way
(macOS, Windows) or the work is a single chunk they are threads, with the same results.

Pieces: `ChunkPlan` says how a batch is run (chunk size, workers, processes or threads) and makes
the output arrays the workers write their rows into (`shared_array` when they are processes);
`run_chunks` runs one function per chunk on the plan's workers, with a progress bar, and returns the
chunks' results in row order. Under them: `ChunkQueue` hands out chunk starts in order to any worker,
thread or process (a lock and two counters in shared memory); `run_workers` runs one function on N
workers, the caller being one of them, and returns what each returned, or raises what one raised
(after stopping the others).
"""
from __future__ import annotations

import mmap
import multiprocessing as mp
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from core.progress import progress_bar
from core.runtime import release_freed_memory

_FORK = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
# what the helper workers are: "auto" (forked processes where fork is safe, else threads), or either one
PARALLEL = ("auto", "threads", "processes")


def can_fork() -> bool:
    """Whether helpers may be forked processes: on Linux (fork is its start method; macOS's system
    libraries are not fork-safe, Windows has no fork)."""
    return _FORK is not None and sys.platform.startswith("linux")


class ChunkQueue:
    """Chunks of rows [a, b) covering 0 .. n, each given to exactly one worker, in order. Chunks are
    `chunk` rows until the end nears, then shrink (to what is left over twice the workers, at least
    `min_chunk`) so that the workers finish together instead of one waiting for the other's last full
    chunk. `stop(a)` ends the queue before row a (a worker failed in the chunk starting there; the
    chunks before it still run, so the earliest failure in input order is the one found, whatever the
    timing); `done` counts rows finished, for a progress bar. Works across threads and forked
    processes alike."""

    def __init__(self, n: int, chunk: int, workers: int = 1, min_chunk: int = 16):
        ctx = _FORK or mp.get_context()
        self.n, self.chunk = int(n), max(1, int(chunk))
        self.workers, self.min_chunk = max(1, int(workers)), max(1, min(int(min_chunk), self.chunk))
        self._lock = ctx.Lock()
        self._next = ctx.RawValue("q", 0)
        self._end = ctx.RawValue("q", self.n)
        self._done = ctx.RawValue("q", 0)

    def take(self) -> tuple[int, int] | None:
        """The next chunk (start, stop), or None when there is none left."""
        with self._lock:
            a = self._next.value
            end = min(self.n, self._end.value)
            if a >= end:
                return None
            size = min(self.chunk, max(self.min_chunk, -(-(self.n - a) // (2 * self.workers))))
            b = min(self.n, a + size)
            self._next.value = b
            return a, b

    def stop(self, a: int = 0) -> None:
        """No chunk at or after row `a` is handed out any more (0: none at all)."""
        with self._lock:
            self._end.value = min(self._end.value, int(a))

    def finished(self, count: int) -> None:
        with self._lock:
            self._done.value += int(count)

    @property
    def done(self) -> int:
        return int(self._done.value)


def shared_array(shape: tuple[int, ...], dtype, fill=0) -> np.ndarray:
    """A numpy array in anonymous shared memory: rows a forked worker writes are seen by its parent
    (in one process, or with threads, it is an ordinary array)."""
    dtype = np.dtype(dtype)
    nbytes = max(1, int(np.prod(shape)) * dtype.itemsize)
    out = np.frombuffer(mmap.mmap(-1, nbytes), dtype, count=int(np.prod(shape))).reshape(shape)
    out[...] = fill
    return out


@dataclass(frozen=True)
class ChunkPlan:
    """How `n` rows are run: chunks of `chunk` rows on `workers` workers, forked processes when
    `processes`, else threads (one worker: the caller alone)."""

    n: int
    chunk: int
    workers: int
    processes: bool

    @classmethod
    def make(cls, n: int, threads: int, parallel: str = "auto", chunk: int = 128,
             fork_safe: bool = True) -> "ChunkPlan":
        """Up to `threads` workers, no more than there are chunks; processes when `parallel` (one of
        PARALLEL) allows them, there are helpers, and forking is safe: on this platform (can_fork) and
        for the caller (fork_safe=False: e.g. a CUDA context, which does not fork)."""
        workers = max(1, min(int(threads), -(-int(n) // int(chunk))))
        processes = workers > 1 and parallel in ("auto", "processes") and can_fork() and fork_safe
        return cls(int(n), int(chunk), workers, processes)

    def array(self, shape: tuple[int, ...], dtype, fill) -> np.ndarray:
        """An output array the workers write their rows into: in shared memory when they are processes."""
        return shared_array(shape, dtype, fill) if self.processes else np.full(shape, fill, dtype)


def run_chunks(plan: ChunkPlan, run_chunk: Callable[[int, int], Any], progress: bool = False,
               label: str = "working", stop_on: tuple[type[BaseException], ...] = ()) -> list[Any]:
    """`run_chunk(a, b)` for every chunk of rows [a, b) of `plan`, on its workers; what each returned,
    in row order (it travels back pickled from a process: keep it small, and write the rows' outputs
    into `plan.array`s). An exception of a type in `stop_on` ends the queue at its chunk, the chunks
    before it still run, and the earliest one in row order is raised here (whatever the timing); any
    other exception stops every worker and is raised (run_workers). Each worker hands freed memory back
    after each chunk (core.runtime), so memory stays flat however many rows; the caller's worker
    moves a progress bar labelled `label`."""
    queue = ChunkQueue(plan.n, plan.chunk, plan.workers)

    def work(bar=None, task=None) -> tuple[list[tuple[int, Any]], tuple[int, BaseException] | None]:
        """One worker: chunks until none is left, or until one raises an exception of `stop_on`."""
        done: list[tuple[int, Any]] = []
        while (rows := queue.take()) is not None:
            a, b = rows
            try:
                done.append((a, run_chunk(a, b)))
            except stop_on as e:
                queue.stop(a)
                return done, (a, e)
            queue.finished(b - a)
            if bar is not None:
                bar.update(task, completed=queue.done)
            release_freed_memory()
        return done, None

    def main() -> tuple[list[tuple[int, Any]], tuple[int, BaseException] | None]:
        with progress_bar(progress) as bar:  # opened after the helpers start: none is forked with its thread
            task = bar.add_task(label, total=plan.n)
            return work(bar, task)

    results = run_workers(work, main, plan.workers, plan.processes, queue.stop)
    stopped = sorted((err for _, err in results if err is not None), key=lambda err: err[0])
    if stopped:
        raise stopped[0][1]
    return [out for _, out in sorted((c for done, _ in results for c in done), key=lambda c: c[0])]


def run_workers(work: Callable[[], Any], main: Callable[[], Any], n_workers: int, processes: bool,
                stop: Callable[[], None]) -> list[Any]:
    """Run `work()` on n_workers - 1 helpers, forked processes when `processes` (see can_fork) else
    threads, and `main()` (the same work plus what only the caller does, a progress bar) here once they
    have started: helpers are forked before the caller starts any thread of its own. Returns their
    results, the caller's first. If any worker raises, `stop()` is called so the others finish early,
    and the exception is raised here (a helper process's own exception object when it can be sent
    back, else its traceback)."""
    helpers = max(0, int(n_workers) - 1)
    if helpers == 0:
        return [main()]
    if processes:
        return _run_processes(work, main, helpers, stop)
    from concurrent.futures import ThreadPoolExecutor

    def guarded() -> Any:
        try:
            return work()
        except BaseException:
            stop()
            raise

    with ThreadPoolExecutor(helpers) as pool:
        futures = [pool.submit(guarded) for _ in range(helpers)]
        try:
            mine = main()
        except BaseException:
            stop()
            raise
        return [mine] + [f.result() for f in futures]


def _child(work: Callable[[], Any], conn, stop: Callable[[], None]) -> None:
    """A forked helper: run, send ("ok", result) or ("error", exception, traceback) to the parent. On
    an error the queue is stopped first, so the other workers end early."""
    try:
        message = ("ok", work(), "")
    except BaseException as e:  # everything goes back to the parent, which raises it
        stop()
        message = ("error", e, traceback.format_exc())
    try:
        conn.send(message)
    except Exception:  # the exception itself could not be pickled: its text can
        conn.send(("error", None, message[2] or traceback.format_exc()))
    conn.close()


def _run_processes(work: Callable[[], Any], main: Callable[[], Any], helpers: int,
                   stop: Callable[[], None]) -> list[Any]:
    # Buffered output would be written twice (once by the child) if not flushed before forking.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or replaced stream: nothing to duplicate
            pass
    procs = []
    try:
        for _ in range(helpers):
            recv, send = _FORK.Pipe(duplex=False)
            p = _FORK.Process(target=_child, args=(work, send, stop), daemon=True)
            p.start()
            send.close()  # the child holds the only write end: its death is an EOF here
            procs.append((p, recv))
        results = [main()]
        failure = None
        for p, recv in procs:
            try:
                status, value, text = recv.recv()
            except EOFError:
                p.join()
                status, value, text = "error", None, (f"a worker process ended with exit code {p.exitcode} "
                                                      f"before sending its results")
            if status == "ok":
                results.append(value)
            elif failure is None:
                failure = (value, text)
                stop()
        if failure is not None:
            value, text = failure
            if isinstance(value, BaseException):
                raise value
            raise RuntimeError(f"a worker process failed:\n{text}")
        return results
    except BaseException:
        stop()
        raise
    finally:
        for p, recv in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join()
            recv.close()

