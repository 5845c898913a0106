"""One look for every progress bar: rich's Progress with a description, bar, count and elapsed time.

Transient (the bar goes when the work is done, the tables and results stay) and disabled with
`enabled=False`, so tests and benchmarks run silently through the same code path.
"""
from __future__ import annotations

from typing import Iterator, Sequence, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def progress_bar(enabled: bool = True) -> Progress:
    """A rich Progress to use as a context manager: `with progress_bar(on) as bar: t = bar.add_task(...)`."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=True)


def track(items: Sequence[T], description: str, enabled: bool = True) -> Iterator[T]:
    """Iterate over `items` under a progress_bar: one step of the bar per item."""
    with progress_bar(enabled) as bar:
        task = bar.add_task(description, total=len(items))
        for item in items:
            yield item
            bar.advance(task)
