"""core/parallel.py: chunks handed out once each, shared output arrays, workers' errors."""
from __future__ import annotations

import os

import numpy as np
import pytest

from core.parallel import ChunkPlan, ChunkQueue, can_fork, run_chunks, run_workers, shared_array

KINDS = ["threads"] + (["processes"] if can_fork() else [])


def _drain(queue: ChunkQueue) -> list[tuple[int, int]]:
    out = []
    while (c := queue.take()) is not None:
        out.append(c)
    return out


def test_chunks_cover_every_row_once_in_order_and_shrink_at_the_end():
    chunks = _drain(ChunkQueue(1000, 128, workers=2, min_chunk=16))
    assert chunks[0] == (0, 128) and chunks[-1][1] == 1000
    assert all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:]))  # contiguous: no row twice or lost
    sizes = [b - a for a, b in chunks]
    assert max(sizes) == 128 and sizes[-2] < 128  # the last chunks are smaller, so workers end together
    assert all(s >= 16 for s in sizes[:-1])
    assert _drain(ChunkQueue(0, 128)) == []


def test_stop_ends_the_queue_before_a_failed_chunk_but_not_before_earlier_ones():
    queue = ChunkQueue(100, 10)
    assert queue.take() == (0, 10)
    queue.stop(30)  # a worker failed in the chunk starting at row 30
    assert _drain(queue) == [(10, 20), (20, 30)]
    queue.finished(7)
    assert queue.done == 7


@pytest.mark.parametrize("kind", KINDS)
def test_workers_write_their_rows_into_one_shared_array(kind):
    n = 257
    queue = ChunkQueue(n, 16, workers=2)
    out = shared_array((n, 2), np.float64, np.nan)

    def work():
        seen = []
        while (c := queue.take()) is not None:
            a, b = c
            out[a:b, 0] = np.arange(a, b)
            out[a:b, 1] = os.getpid()
            seen.append(c)
        return seen

    results = run_workers(work, work, 2, kind == "processes", queue.stop)
    assert len(results) == 2
    np.testing.assert_array_equal(out[:, 0], np.arange(n))  # every row written, by whichever worker
    got = sorted(c for r in results for c in r)
    assert got[0][0] == 0 and got[-1][1] == n and sum(b - a for a, b in got) == n


@pytest.mark.parametrize("kind", KINDS)
def test_a_helpers_exception_reaches_the_caller_and_stops_the_others(kind):
    queue = ChunkQueue(10_000, 10, workers=2)
    taken = shared_array((1,), np.int64, 0)

    def helper():
        queue.take()
        raise ValueError("bad row 7 in chunk 0")

    def main():
        while queue.take() is not None:
            taken[0] += 1
            import time
            time.sleep(0.001)
        return "main done"

    with pytest.raises(ValueError, match="bad row 7"):
        run_workers(helper, main, 2, kind == "processes", queue.stop)
    assert taken[0] < 999  # the caller stopped early instead of running all 1,000 chunks alone


def test_a_plan_forks_only_where_it_may_and_never_for_one_chunk():
    assert ChunkPlan.make(100, threads=4, chunk=64).workers == 2  # no more workers than chunks
    assert ChunkPlan.make(0, threads=2).workers == 1
    assert ChunkPlan.make(1000, threads=2, parallel="threads").processes is False
    assert ChunkPlan.make(1000, threads=2, parallel="processes", fork_safe=False).processes is False
    assert ChunkPlan.make(1000, threads=2, parallel="auto").processes is can_fork()
    assert ChunkPlan.make(10, threads=2, parallel="processes").processes is False  # one chunk: the caller alone
    assert not isinstance(ChunkPlan.make(10, threads=1).array((3, 2), np.float32, np.nan), np.memmap)


@pytest.mark.parametrize("kind", KINDS)
def test_run_chunks_gathers_every_chunk_in_row_order(kind):
    n = 203
    plan = ChunkPlan.make(n, threads=2, parallel=kind, chunk=16)
    assert plan.workers == 2 and plan.processes == (kind == "processes")
    out = plan.array((n,), np.int64, -1)

    def square(a, b):
        out[a:b] = np.arange(a, b) ** 2
        return a, b

    chunks = run_chunks(plan, square)
    # row order, whichever worker ran them: contiguous, no chunk twice or lost
    assert chunks[0][0] == 0 and chunks[-1][1] == n and all(x[1] == y[0] for x, y in zip(chunks, chunks[1:]))
    np.testing.assert_array_equal(out, np.arange(n) ** 2)


@pytest.mark.parametrize("kind", KINDS)
def test_run_chunks_raises_the_earliest_stopping_error_after_earlier_chunks_ran(kind):
    """Rows 50 and 130 are bad: the error raised is row 50's, whichever worker met its chunk first,
    and every chunk before it ran; another kind of exception is not caught as a stop."""
    n = 200
    plan = ChunkPlan.make(n, threads=2, parallel=kind, chunk=10)
    ran = plan.array((n,), np.int64, 0)

    def run(a, b):
        bad = [r for r in (50, 130) if a <= r < b]
        if bad:
            raise KeyError(f"row {bad[0]}")
        ran[a:b] = 1
        return b - a

    with pytest.raises(KeyError, match="row 50"):
        run_chunks(plan, run, stop_on=(KeyError,))
    assert ran[:50].all()

    def fail(a, b):
        raise ZeroDivisionError("not a stop")

    with pytest.raises(ZeroDivisionError):
        run_chunks(plan, fail, stop_on=(KeyError,))
