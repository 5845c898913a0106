"""What an audit looks at: the audited photos as `predict` sees them, the model's training photos, and
each photo's nearest training neighbours.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from app.options import AuditConfig
from catalog.reader import load_catalog, read_catalog, resolve_split
from core.errors import CatalogError
from core.wb import mired_to_kelvin
from finetune.predict import PredictSettings, WBModel
from retrieval.index import NeighborIndex


def train_photos(root: Path, index: NeighborIndex) -> pd.DataFrame:
    """One row per indexed training photo (index order): path, as-shot and edit in K/tint, shoot.

    Images come from the Train split at `root`; ids the catalog no longer has keep path None (their
    tiles are drawn blank) and fall back to the values stored in the index.
    """
    df = pd.DataFrame({"id_global": index.ids, "shoot": index.shoots,
                       "currTemp": mired_to_kelvin(index.asshot[:, 0]), "currTint": index.asshot[:, 1],
                       "Temperature": mired_to_kelvin(index.edits[:, 0]), "Tint": index.edits[:, 1]})
    df["path"] = None
    try:
        train = read_catalog(root, "Train")
    except CatalogError:
        return df
    t = train.table.assign(path=[str(p) for p in train.image_paths]).set_index("id_global")
    t = t.reindex(df["id_global"])
    df["path"] = [p if isinstance(p, str) else None for p in t["path"].to_numpy(object)]
    for col in ("currTemp", "currTint", "Temperature", "Tint"):
        if col in t.columns:
            vals = t[col].to_numpy(np.float64)
            ok = np.isfinite(vals)
            df.loc[ok, col] = vals[ok]
    return df


def neighbours_excluding(index: NeighborIndex, vectors: np.ndarray, own_ids: Sequence[str], k: int,
                         normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """k nearest training photos other than the query itself (an in-sample query finds itself at
    sim 1, which says nothing). Returns (sims, idx) with -1/-1 padding where fewer exist."""
    search = index.search_normalized if normalized else index.search
    sims, idx = search(vectors, k + 1)
    out_s = np.full((len(vectors), k), -1.0, np.float32)
    out_i = np.full((len(vectors), k), -1, np.int64)
    ids = np.asarray(index.ids, dtype=object)
    for r in range(len(vectors)):
        keep = (idx[r] >= 0) & (ids[np.maximum(idx[r], 0)] != str(own_ids[r]))
        s, i = sims[r][keep][:k], idx[r][keep][:k]
        out_s[r, :len(s)], out_i[r, :len(i)] = s, i
    return out_s, out_i


@dataclass
class Audited:
    """The audited photos as `predict` sees them, and their training neighbours (one row per photo)."""

    model: WBModel
    index: NeighborIndex
    catalog: Any                 # catalog.reader.Catalog of the audited split, images at the model's size
    split: str
    pred: pd.DataFrame           # WBModel.predict_full(...).table: exactly what `predict` writes
    train: pd.DataFrame          # train_photos(): one row per indexed training photo
    sims: np.ndarray             # (N, k) float32 cosine similarity of each photo's neighbours
    idx: np.ndarray              # (N, k) int64 index rows of those neighbours, -1 where none

    @property
    def ids(self) -> list[str]:
        return self.catalog.table["id_global"].astype(str).tolist()


def load_audited(cfg: AuditConfig) -> Audited:
    """Model, index, the audited split predicted exactly as `predict` would (the model's own k,
    blending and batch smoothing; cfg.k only sets how many neighbours the grids show)."""
    data = Path(cfg.data)
    model = WBModel.load(cfg.model, threads=cfg.workers, device=cfg.device)
    index = model.index if model.index is not None else NeighborIndex.load(cfg.model)
    split = resolve_split(data, cfg.split)
    catalog = load_catalog(data, split, image_size=model.image_size, workers=cfg.workers, progress=cfg.progress)
    full = model.predict_full(catalog, PredictSettings(blend=True, smooth=True, progress=cfg.progress))
    ids = catalog.table["id_global"].astype(str).tolist()
    sims, idx = neighbours_excluding(index, full.embeddings, ids, cfg.k)
    return Audited(model, index, catalog, split, full.table, train_photos(data, index), sims, idx)
