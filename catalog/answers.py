"""The one reader of `id_global,Temperature,Tint` CSVs: the true edits (`answers.csv`, as the demo and the
synthetic benchmark write them) and the predictions `predict` writes, read by evaluate, audit and apply.

Either file may come from someone else, so every cell is checked before any of it is used: a bad one
is a CatalogError naming the file, the row (and its line in the file) and the column.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from catalog.reader import TARGETS
from core.errors import CatalogError
from core.ids import check_id


def _where(path: Path, row: int) -> str:
    return f"{path}: row {row + 1} (line {row + 2})"


def read_wb_csv(path: str | Path, what: str = "predictions") -> pd.DataFrame:
    """id_global (str), Temperature and Tint (float) of the CSV at `path`, other columns kept as read;
    `what` names the file in errors ('answers', 'predictions'). Every id must be a file name
    (core.ids.check_id) and appear once; every Temperature/Tint a finite number, Temperature > 0 K."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: {what} file not found")
    df = pd.read_csv(path, dtype={"id_global": str}, keep_default_na=False, na_values=[""])
    missing = [c for c in ("id_global",) + TARGETS if c not in df.columns]
    if missing:
        raise CatalogError(f"{path}: {what} needs columns id_global,Temperature,Tint; missing {', '.join(missing)}")
    for r, value in enumerate(df["id_global"]):
        check_id(value, where=_where(path, r))
    for col in TARGETS:
        num = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(num))
        if len(bad):
            cell = df[col].iloc[bad[0]]
            shown = "an empty cell" if pd.isna(cell) else repr(cell)
            raise CatalogError(f"{_where(path, int(bad[0]))}, column '{col}': {shown} is not a number")
        df[col] = num
    cold = np.flatnonzero(df["Temperature"].to_numpy() <= 0)
    if len(cold):
        raise CatalogError(f"{_where(path, int(cold[0]))}, column 'Temperature': expected Kelvin > 0, "
                           f"got {df['Temperature'].iloc[cold[0]]}")
    dup = df["id_global"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = (np.flatnonzero(dup) + 1).tolist()
        raise CatalogError(f"{path}: id_global {df['id_global'][dup].iloc[0]!r} appears more than once "
                           f"(rows {rows[:6]}); one {what} row per photo")
    return df
