"""One look for every progress bar: rich's Progress with a description, bar, count and elapsed time.

Transient (the bar goes when the work is done, the tables and results stay) and disabled with
`enabled=False`, so tests and benchmarks run silently through the same code path.
"""
from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(enabled: bool = True) -> Progress:
    """A rich Progress to use as a context manager: `with progress_bar(on) as bar: t = bar.add_task(...)`."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=True)
