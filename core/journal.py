"""A split written photo by photo, so that a killed run continues where it stopped.

`import-lightroom` and `ingest` turn thousands of photos into OUT/<split>/images/<id>.tif plus one
CSV row each. Holding them all until the end costs memory that grows with the catalog, and a run
killed at 90 % would start again from nothing. SplitWriter instead writes each render (atomically:
temp file + rename, core.artifacts) and then appends its CSV row to OUT/<split>/<csv>.partial
with one write() on a file opened for appending (a killed process leaves whole lines; a torn last
line is dropped on resume). finish() renames the .partial to the CSV, so the CSV a stage reads is
always complete.

Resume: OUT/<split>/.<csv>.state.json records what the run was made from (the command's inputs
and options). A new run with the same state takes the rows already written (from the .partial, or
from a finished CSV), keeps those whose render is still there and readable at the right size
(verified, not trusted) and reports them as done, so the caller skips their decoding. Any other
state starts from scratch.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import tifffile

from core.artifacts import atomic_write, write_json
from core.ids import check_id


def _render_ok(path: Path, size: int) -> bool:
    """The render is there, a TIFF, and size x size RGB (its header only is read)."""
    try:
        with tifffile.TiffFile(path) as tif:
            return tuple(tif.pages.first.shape) == (size, size, 3)
    except Exception:  # missing, truncated, not a TIFF: redo it
        return False


def _line(values: list) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue().encode("utf-8")


class SplitWriter:
    """OUT/<split>/images/<id>.tif + OUT/<split>/<csv_name>, one photo at a time, resumable.
    key: the column that names a photo across runs (e.g. lr_image); state: what the run is made
    from (JSON-able); size: the renders' side, verified on resume; fresh: ignore earlier progress."""

    def __init__(self, out: Path, split: str, csv_name: str, columns: list[str], key: str, state: dict,
                 size: int, fresh: bool = False):
        self.dir = Path(out) / split
        self.images = self.dir / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self.csv = self.dir / csv_name
        self.partial = self.dir / f"{csv_name}.partial"
        self.state_file = self.dir / f".{csv_name}.state.json"
        self.columns, self.key, self.size = list(columns), key, size
        state = json.loads(json.dumps({**state, "columns": self.columns, "size": size}, default=str))
        self.done: set[str] = set() if fresh else self._resume(state)
        if not self.done:
            self._start(state)
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_APPEND)

    def _start(self, state: dict) -> None:
        write_json(self.state_file, state)
        atomic_write(self.partial, lambda f: f.write(_line(self.columns)))

    def _resume(self, state: dict) -> set[str]:
        """Keys of the verified rows of an earlier run with this state; the .partial rewritten to
        hold just them (a torn last line and rows whose render is gone are dropped)."""
        try:
            same = json.loads(self.state_file.read_text()) == state
        except (OSError, ValueError):
            same = False
        source = self.partial if self.partial.exists() else self.csv
        if not same or not source.exists():
            return set()
        kept: set[str] = set()

        def keep_verified(f) -> None:
            f.write(_line(self.columns))
            with open(source, newline="", encoding="utf-8") as src:
                reader = csv.reader(src)
                if next(reader, None) != self.columns:
                    return
                for values in reader:
                    if len(values) != len(self.columns):  # the torn last line of a killed run
                        continue
                    row = dict(zip(self.columns, values))
                    if _render_ok(self.images / f"{check_id(row['id_global'])}.tif", self.size):
                        kept.add(row[self.key])
                        f.write(_line(values))

        atomic_write(self.partial, keep_verified)
        if source == self.csv:
            self.csv.unlink()  # the finished CSV is the .partial again until this run finishes
        return kept

    def add(self, row: dict, render: np.ndarray) -> None:
        """One photo: its render (a temporary file renamed into place), then its CSV row (one
        append). The render is not fsynced one by one (14 ms each on a common disk, a third of the
        import's time): a killed process loses nothing the kernel has, and a resume verifies every
        render before trusting its row."""
        name = check_id(row["id_global"], where=str(self.csv))
        target = self.images / f"{name}.tif"
        tmp = target.with_name(f".{target.name}.tmp")
        tifffile.imwrite(tmp, render, photometric="rgb", compression="zlib")
        os.replace(tmp, target)
        os.write(self._fd, _line([row.get(c) for c in self.columns]))

    def finish(self) -> Path:
        """Every row written: the .partial becomes the CSV (atomic rename)."""
        self.close()
        os.replace(self.partial, self.csv)
        return self.csv

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
