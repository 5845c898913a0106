"""core.slices: every row in exactly one slice."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.slices import camera_slice, flash_slice, slice_rows


def test_flash_slices_cover_every_row_exactly_once():
    # 0/1, the full EXIF Flash tag (16 = off, did not fire; 25 = fired), and unknowns
    table = pd.DataFrame({"flashFired": [0, 1, 16, 25, np.nan, None, "x", 1.0, 0.0]})
    labels = flash_slice(table)
    assert labels.tolist() == ["no flash", "flash", "no flash", "flash", "unknown", "unknown", "unknown", "flash",
                               "no flash"]
    rows = slice_rows(labels)
    assert set(rows) == {"flash", "no flash", "unknown"}
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(len(table)))


def test_without_a_flash_column_every_row_is_unknown():
    rows = slice_rows(flash_slice(pd.DataFrame({"a": range(5)})))
    assert list(rows) == ["unknown"] and rows["unknown"].tolist() == list(range(5))


def test_camera_slice():
    assert camera_slice(pd.DataFrame({"a": [1]})) is None
    assert camera_slice(pd.DataFrame({"camera_model": [None, ""]})) is None
    labels = camera_slice(pd.DataFrame({"camera_model": ["X", None, "Y", " "]}))
    assert labels.tolist() == ["X", "unknown", "Y", "unknown"]
    assert sorted(np.concatenate(list(slice_rows(labels).values())).tolist()) == [0, 1, 2, 3]
