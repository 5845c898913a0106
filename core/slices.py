"""Slices of an evaluated catalog: flash / no flash, camera. Each labels every row exactly once, so the
slices of a table add up to the table (a row whose flash is not known goes to 'unknown', never dropped).

Why these: flash and no-flash photos are edited differently (real release: Temperature − as-shot averages
−898 K with flash, −23 K without) and a new catalog may hold only one of them, so an overall figure can
hide the slice that matters; a camera's auto white balance has its own habits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.metadata import flash_fired

FLASH, NO_FLASH, UNKNOWN = "flash", "no flash", "unknown"


def flash_slice(table: pd.DataFrame) -> np.ndarray:
    """(N,) object array: 'flash', 'no flash' or 'unknown' per row (core.metadata.flash_fired)."""
    fired = flash_fired(table)
    return np.where(np.isnan(fired), UNKNOWN, np.where(fired > 0, FLASH, NO_FLASH)).astype(object)


def camera_slice(table: pd.DataFrame) -> np.ndarray | None:
    """(N,) object array of camera_model ('unknown' where empty), or None when no row names a camera."""
    if "camera_model" not in table.columns:
        return None
    cams = table["camera_model"]
    known = cams.notna() & (cams.astype(str).str.strip() != "")
    if not known.any():
        return None
    return np.where(known, cams.astype(str), UNKNOWN).astype(object)


def slice_rows(labels: np.ndarray) -> dict[str, np.ndarray]:
    """label -> the row indices carrying it (sorted labels): every row in exactly one slice."""
    labels = np.asarray(labels).astype(str)
    return {str(g): np.flatnonzero(labels == g) for g in np.unique(labels)}
