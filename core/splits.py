"""Leakage-free validation splits: whole shoots go to one side (finetune's validation and folds,
pretraining's held-out measuring split, the benchmarks' folds).

Photos of one shoot are near-duplicates with near-identical edits; a random row split puts the
twin of every validation photo in training and every figure comes out optimistic. A shoot is the
capture date when the catalog has one; otherwise photos are grouped by visual near-duplication
(connected components of the cosine-similarity graph of their embeddings above a threshold);
without either, each photo is its own group.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.vectors import standardise


def _dates(table: pd.DataFrame) -> list[str | None]:
    """Per-row shoot date string or None: the reader's `shoot` column, else captureTime's date."""
    if "shoot" in table.columns:
        return [None if (v is None or (isinstance(v, float) and np.isnan(v)) or str(v) in ("", "NaT", "None"))
                else str(v) for v in table["shoot"].tolist()]
    for col in ("capture_time", "captureTime"):
        if col in table.columns:
            t = pd.to_datetime(table[col], errors="coerce", format="mixed")
            return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in t]
    return [None] * len(table)


def near_duplicate_clusters(embeddings: np.ndarray, threshold: float = 0.9, chunk: int = 2048) -> np.ndarray:
    """Connected components of the graph 'cosine(standardised embeddings) >= threshold' -> labels (N,)."""
    e = np.asarray(embeddings, np.float64)
    n = len(e)
    if n == 0:
        return np.zeros(0, np.int64)
    # Standardise first (core.vectors): centring makes the cosine measure what differs between photos.
    e = standardise(e, e.mean(0), e.std(0) + 1e-8, dtype=np.float64) if n > 1 else \
        e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)
    rows, cols = [], []
    for i in range(0, n, chunk):
        s = e[i:i + chunk] @ e.T
        r, c = np.nonzero(s >= threshold)
        rows.append(r + i)
        cols.append(c)
    r, c = np.concatenate(rows), np.concatenate(cols)
    from scipy.sparse import coo_matrix  # lazy: scipy.sparse costs ~0.2 s of CLI start-up
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(r), np.int8), (r, c)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def shoot_groups(table: pd.DataFrame, embeddings: np.ndarray | None = None,
                 threshold: float = 0.9) -> np.ndarray:
    """Group label per row (object array of str): 'date:YYYY-MM-DD', 'cluster:<n>' or 'row:<i>'.

    Rows with a capture date group by date; rows without one are clustered by near-duplicate
    embeddings when given, else each is its own group.
    """
    dates = _dates(table)
    out = np.empty(len(table), dtype=object)
    undated = [i for i, d in enumerate(dates) if d is None]
    for i, d in enumerate(dates):
        if d is not None:
            out[i] = f"date:{d}"
    if undated:
        if embeddings is not None and len(embeddings) == len(table):
            labels = near_duplicate_clusters(np.asarray(embeddings)[undated], threshold)
            for i, lab in zip(undated, labels):
                out[i] = f"cluster:{lab}"
        else:
            for i in undated:
                out[i] = f"row:{i}"
    return out


def _group_sizes(groups: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique groups in a seeded random order, their sizes, inverse index per row)."""
    uniq, inverse, counts = np.unique(np.asarray(groups).astype(str), return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(uniq))
    return order, counts, inverse


def grouped_holdout(groups: np.ndarray, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): whole groups in a random order go to validation, each when it brings the
    validation size closer to the fraction, so one shoot far larger than the held-out share stays in
    training; at least one group on each side (the smallest group when none fits). The one grouped
    holdout of the project: finetune's validation and pretraining's measuring split both use it."""
    groups = np.asarray(groups)
    order, counts, inverse = _group_sizes(groups, seed)
    if len(counts) < 2:
        raise ValueError(f"grouped_holdout needs at least 2 groups, got {len(counts)}")
    target = val_fraction * len(groups)
    val_groups, n_val = [], 0
    for g in order:
        if len(val_groups) >= len(counts) - 1:
            break
        # Take the group when it brings the validation size closer to the target.
        if abs(n_val + counts[g] - target) < abs(n_val - target):
            val_groups.append(g)
            n_val += counts[g]
    if not val_groups:
        val_groups = [min(order, key=lambda g: counts[g])]  # stable: ties keep the random order
    is_val = np.isin(inverse, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def grouped_kfold(groups: np.ndarray, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K (train_idx, val_idx) folds; each group in exactly one validation fold; fold sizes balanced
    (largest groups first, each into the currently smallest fold; ties broken by the seeded order)."""
    groups = np.asarray(groups)
    order, counts, inverse = _group_sizes(groups, seed)
    if k < 2:
        raise ValueError(f"grouped_kfold needs k >= 2, got {k}")
    if len(counts) < k:
        raise ValueError(f"grouped_kfold: {len(counts)} groups cannot fill {k} folds")
    by_size = sorted(order, key=lambda g: -counts[g])  # stable: equal sizes keep the random order
    fold_of = np.zeros(len(counts), np.int64)
    sizes = np.zeros(k, np.int64)
    for g in by_size:
        f = int(np.argmin(sizes))
        fold_of[g] = f
        sizes[f] += counts[g]
    row_fold = fold_of[inverse]
    return [(np.flatnonzero(row_fold != f), np.flatnonzero(row_fold == f)) for f in range(k)]


# ---------------------------------------------------------------------------------------------------
# Time: the next shoots, and newer shoots counting more
# ---------------------------------------------------------------------------------------------------
def recent_holdout(table: pd.DataFrame, fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): the photos of the most recent `fraction` of shoot dates (distinct dates,
    rounded, at least one and never all) are the test; every older shoot trains. What a photographer
    meets next is a later shoot, and a style drifts (real release: the mean shift from the as-shot went
    from +11 mired in 2023 to +49 in 2024), which grouped folds, mixing years, cannot show.

    Undated rows stay in training: nothing says they are recent. Needs at least two shoot dates."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"recent_holdout: fraction must be in (0, 1), got {fraction}")
    dates = _dates(table)
    known = sorted({d for d in dates if d is not None})  # ISO dates: text order is time order
    if len(known) < 2:
        raise ValueError(f"recent_holdout needs photos of at least 2 shoot dates, got {len(known)}")
    k = min(len(known) - 1, max(1, int(np.floor(fraction * len(known) + 0.5))))
    test_dates = set(known[-k:])
    is_test = np.array([d in test_dates for d in dates], bool)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def recency_weights(table: pd.DataFrame, half_life_days: float) -> np.ndarray:
    """(N,) float64 training weight per row: 0.5 ** (age / half_life_days), the age in days from the row's
    shoot date to the newest shoot date in `table`, so the newest shoot counts 1 and one half-life
    earlier 0.5. half_life_days <= 0: all 1 (off). Undated rows take the mean weight of the dated ones
    (1 when none is dated): their age is unknown, neither newest nor oldest."""
    n = len(table)
    if half_life_days <= 0:
        return np.ones(n)
    days = pd.to_datetime(pd.Series(_dates(table), dtype=object), format="%Y-%m-%d", errors="coerce")
    dated = days.notna().to_numpy()
    if not dated.any():
        return np.ones(n)
    age = (days.max() - days).dt.days.to_numpy(np.float64)
    w = np.where(dated, 0.5 ** (np.where(dated, age, 0.0) / float(half_life_days)), np.nan)
    return np.where(dated, w, np.nanmean(w))
