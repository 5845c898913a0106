"""Scenes: the photos of one batch taken in the same light, and one edit for each of them.

A photographer gives the photos of one scene (a run of shots of one camera, minutes apart, looking
alike) the same white balance: the median spread of their own edits within a 15-minute session is
about 4 mired. Per-photo predictions scatter more than that, so after predicting, each photo is
pulled towards its scene's robust centre:

    scene     connected components of the graph "same camera, captured at most `max_gap_s` apart,
              cosine similarity >= `min_sim`" (a run of shots chains: A-B and B-C put A, B, C
              together even when A and C are further apart). A photo without a capture time links
              only to photos of its camera that look nearly the same (cosine >= max(min_sim,
              UNTIMED_SIM)), so a catalog without times still groups its bursts and nothing else;
    centre    the per-target median of the scene's predictions (robust: one photo with a wild
              prediction does not drag the others; a 2-photo scene meets in the middle);
    pulled    p + strength * (centre - p). A photo alone in its scene is unchanged.

Why the canonical embedding and not just time: a session walks from shade into sun within minutes;
two photos a minute apart that look nothing alike are not one scene. Why not just the embedding:
two weddings in the same church months apart look alike but were edited apart; time keeps them apart.

`strength` (and the gap and similarity threshold) are chosen on the cross-fitted out-of-fold
predictions at finetune time (`fit_scene`), by the same rule as every knob (core.metrics.select):
strength 0, said aloud, unless the pull gains enough, in every fold but one.
Similarities are cosines in the neighbour index's space (retrieval.index), the space the model's
thresholds are written in.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.metrics import photo_errors, select

CONSISTENCY = ("off", "scene")
UNTIMED_SIM = 0.9            # a photo without capture time joins only near-duplicates of its camera
UNTIMED_BLOCK = 256          # rows of the untimed similarity block
UNTIMED_COLUMNS = 4096       # ... and its columns: memory is a fixed 256 x 4096 whatever the catalog
EDGES_PER_PHOTO = 8          # beyond this many collected edges per photo, reduce them to a spanning forest
SCENE_GAPS_S = (30.0, 120.0, 300.0, 900.0)
SCENE_SIMS = (-1.0, 0.0, 0.3, 0.5, 0.7, 0.8, 0.9)
STRENGTHS = tuple(np.round(np.linspace(0.1, 1.0, 10), 2))
MAE_FLOOR = (0.5, 0.5)       # as retrieval.blend: below half a unit nobody sees a difference
CAMERA_COLUMNS = ("camera_model", "camera_group")


@dataclass
class SceneParams:
    max_gap_s: float = 300.0  # consecutive shots of one camera further apart than this start a new scene
    min_sim: float = 0.5      # cosine below which two photos are not linked, however close in time
    strength: float = 0.0     # 0 = off, 1 = every photo takes its scene's centre

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------- grouping
def camera_keys(table: pd.DataFrame) -> np.ndarray:
    """One camera key per row: camera_model, else camera_group, else '' (one camera for all)."""
    for col in CAMERA_COLUMNS:
        if col in table.columns:
            return table[col].fillna("").astype(str).to_numpy()
    return np.full(len(table), "", dtype=object)


def capture_seconds(table: pd.DataFrame) -> np.ndarray:
    """Capture time in seconds (float64, NaN when unknown), from the reader's capture_time or the
    raw captureTime column."""
    for col in ("capture_time", "captureTime"):
        if col in table.columns:
            t = pd.to_datetime(table[col], errors="coerce", format="mixed")
            ns = t.to_numpy("datetime64[ns]").astype(np.int64).astype(np.float64)
            return np.where(t.isna().to_numpy(), np.nan, ns / 1e9)
    return np.full(len(table), np.nan)


class _UnitRows:
    """Rows of `vectors` as float64 unit vectors, made on demand: `rows[idx]` is exactly what
    normalising the whole float64 array and indexing it would give, but the whole float64 copy
    (20,000 photos x 360 dims: 58 MB, twice over) is never made. A non-finite row is all zeros, so
    an unreadable photo links to nothing."""

    def __init__(self, vectors: np.ndarray):
        self.v = np.asarray(vectors)
        self.norm = np.empty(len(self.v), np.float64)
        self.finite = np.empty(len(self.v), bool)
        for a in range(0, len(self.v), UNTIMED_BLOCK):
            x = np.asarray(self.v[a:a + UNTIMED_BLOCK], np.float64)
            self.finite[a:a + UNTIMED_BLOCK] = np.isfinite(x).all(1)
            x = np.where(self.finite[a:a + UNTIMED_BLOCK, None], x, 0.0)
            self.norm[a:a + UNTIMED_BLOCK] = np.maximum(np.linalg.norm(x, axis=1), 1e-12)

    def __len__(self) -> int:
        return len(self.v)

    def __getitem__(self, idx) -> np.ndarray:
        x = np.asarray(self.v[idx], np.float64)
        x = np.where(self.finite[idx][..., None], x, 0.0)
        return x / self.norm[idx][..., None]


def components(n: int, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Connected components of the undirected graph on n nodes with edges (r[i], c[i]): each node's
    label is the smallest node of its component. Numpy only (predict runs without scipy): roots hook
    onto the smaller root across every edge, then pointers jump until each points at its root;
    O(E log N) vectorised steps."""
    parent = np.arange(n, dtype=np.int64)
    r, c = np.asarray(r, np.int64), np.asarray(c, np.int64)
    while True:
        pr, pc = parent[r], parent[c]
        lo, hi = np.minimum(pr, pc), np.maximum(pr, pc)
        linked = lo != hi
        if not linked.any():
            return parent
        np.minimum.at(parent, hi[linked], lo[linked])  # hook root hi under the smaller root lo
        while True:                                      # pointer jumping: flatten every path
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up


def _spanning(n: int, rows: list[np.ndarray], cols: list[np.ndarray]) -> tuple[list, list]:
    """The same connectivity in at most n edges: each photo linked to the first photo of its
    component (scenes only need the components, group_scenes)."""
    root = components(n, np.concatenate(rows), np.concatenate(cols))
    linked = np.flatnonzero(root != np.arange(n))
    return [linked], [root[linked]]


def _edges(times: np.ndarray, cams: np.ndarray, v: _UnitRows, max_gap_s: float,
           min_sim: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) that belong to one scene (see module doc)."""
    rows, cols = [], []
    timed = np.isfinite(times)
    for cam in np.unique(cams):
        on = np.flatnonzero((cams == cam) & timed)
        on = on[np.argsort(times[on], kind="stable")]
        t = times[on]
        # pairs within the time window: for each photo, the later ones up to max_gap_s away
        ends = np.searchsorted(t, t + max_gap_s, side="right")
        for a in range(len(on)):
            b = on[a + 1:ends[a]]
            if len(b):
                s = v[b] @ v[on[a]]
                keep = b[s >= min_sim]
                rows.append(np.full(len(keep), on[a]))
                cols.append(keep)
        off = np.flatnonzero((cams == cam) & ~timed)
        every = np.flatnonzero(cams == cam)
        # untimed photos: near-duplicates among all photos of the camera, in fixed blocks of rows and
        # columns so that memory does not grow with the catalog (20,000 untimed photos took 2.3 GB at once)
        for lo in range(0, len(off), UNTIMED_BLOCK):
            blk = v[off[lo:lo + UNTIMED_BLOCK]]
            for lo2 in range(0, len(every), UNTIMED_COLUMNS):
                to = every[lo2:lo2 + UNTIMED_COLUMNS]
                r, c = np.nonzero(blk @ v[to].T >= max(min_sim, UNTIMED_SIM))
                rows.append(off[lo + r])
                cols.append(to[c])
            if sum(len(x) for x in rows) > EDGES_PER_PHOTO * len(times):  # keep the edges O(N)
                rows, cols = _spanning(len(times), rows, cols)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


def group_scenes(table: pd.DataFrame, vectors: np.ndarray, max_gap_s: float = 300.0,
                 min_sim: float = 0.5) -> np.ndarray:
    """Scene label (int64, 0 .. S-1, numbered in order of first appearance) per row of `table`.

    `vectors` (N, D) are the photos' embeddings in the index space (cosine = inner product after
    normalisation; they are normalised here)."""
    n = len(table)
    if len(vectors) != n:
        raise ValueError(f"group_scenes: {len(vectors)} embeddings for {n} photos")
    if n == 0:
        return np.zeros(0, np.int64)
    r, c = _edges(capture_seconds(table), camera_keys(table), _UnitRows(vectors), max_gap_s, min_sim)
    labels = np.unique(components(n, r, c), return_inverse=True)[1]  # 0 .. S-1
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)                       # renumber by first appearance: stable, readable
    remap = np.empty(len(order), np.int64)
    remap[order] = np.arange(len(order))
    return remap[labels]


# ------------------------------------------------------------------------------------- pulling
def scene_centres(pred: np.ndarray, scenes: np.ndarray) -> np.ndarray:
    """Per-photo robust centre (N, T) of its scene's predictions: the per-target median (NaN
    predictions ignored; a scene of NaNs keeps NaN)."""
    pred = np.asarray(pred, np.float64)
    out = pred.copy()
    order = np.argsort(scenes, kind="stable")
    bounds = np.flatnonzero(np.diff(scenes[order])) + 1
    for members in np.split(order, bounds):
        if len(members) > 1:
            vals = pred[members]
            ok = np.isfinite(vals).all(1)
            if ok.any():
                out[members] = np.median(vals[ok], axis=0)
    return out


def pull_to_scenes(pred: np.ndarray, scenes: np.ndarray, strength: float) -> np.ndarray:
    """p + strength * (scene centre - p); photos alone in their scene are returned unchanged."""
    pred = np.asarray(pred, np.float64)
    if strength == 0 or len(pred) == 0:
        return pred.copy()
    centre = scene_centres(pred, scenes)
    out = pred + strength * (centre - pred)
    return np.where(np.isfinite(out), out, pred)


def scene_consistency(pred: np.ndarray, vectors: np.ndarray, table: pd.DataFrame,
                      params: SceneParams) -> tuple[np.ndarray, np.ndarray]:
    """What `predict --consistency scene` does: (pulled predictions (N, T), scene label per photo)."""
    scenes = group_scenes(table, vectors, params.max_gap_s, params.min_sim)
    return pull_to_scenes(pred, scenes, params.strength), scenes


# ------------------------------------------------------------------------------------- fitting
def _score(pred: np.ndarray, truth: np.ndarray, scale: tuple[float, float]) -> tuple[float, float, float]:
    err = np.abs(pred - truth).mean(0)
    return float(err[0]), float(err[1]), float(err[0] / scale[0] + err[1] / scale[1])


def fit_scene(pred: np.ndarray, truth: np.ndarray, embeddings: np.ndarray, table: pd.DataFrame,
              gaps: tuple[float, ...] = SCENE_GAPS_S, sims: tuple[float, ...] = SCENE_SIMS,
              folds: np.ndarray | None = None, shoots: np.ndarray | None = None) -> tuple[SceneParams, dict[str, Any]]:
    """Choose (max_gap_s, min_sim, strength) on out-of-fold predictions (N, 2) of (mired, tint).

    `embeddings` are the photos' vectors in the index space, `table` their rows (capture time,
    camera). Objective as retrieval.blend.fit_blend: MAE mired / its value before + MAE tint / its
    value before (2.0 = predictions as given). Strength 0 unless core.metrics.select adopts the
    best setting over the photos' `folds` and `shoots`; the report says why.
    """
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(pred).all(1) & np.isfinite(truth).all(1)
    n = int(ok.sum())
    base = _score(pred[ok], truth[ok], (1.0, 1.0)) if n else (np.nan, np.nan, np.nan)
    scale = (max(base[0], MAE_FLOOR[0]), max(base[1], MAE_FLOOR[1]))
    base_score = base[0] / scale[0] + base[1] / scale[1] if n else np.nan
    report: dict[str, Any] = {"n": n, "before": {"mae_mired": base[0], "mae_tint": base[1], "score": base_score},
                              "objective": "mae_mired/max(before_mired, 0.5) + mae_tint/max(before_tint, 0.5)"}
    if n < 2:
        report["chosen"] = {**SceneParams().to_dict(), "why": f"only {n} validation photo(s)"}
        return SceneParams(), report

    cands, errors, n_scenes = [SceneParams()], [photo_errors(pred[ok], truth[ok], scale)], [0]
    for gap, sim in itertools.product(gaps, sims):
        scenes = group_scenes(table, embeddings, gap, sim)
        centre = scene_centres(pred, scenes)
        for s in STRENGTHS:
            cands.append(SceneParams(float(gap), float(sim), float(s)))
            errors.append(photo_errors((pred + s * (centre - pred))[ok], truth[ok], scale))
            n_scenes.append(int(len(np.unique(scenes))))
    errors = np.stack(errors)
    choice = select(errors, 0, None if folds is None else np.asarray(folds)[ok],
                    None if shoots is None else np.asarray(shoots)[ok])
    j = choice.best
    best_pred = scene_consistency(pred, embeddings, table, cands[j])[0] if j else pred
    mm, mt, sc = _score(best_pred[ok], truth[ok], scale)
    report["best"] = {**cands[j].to_dict(), "mae_mired": mm, "mae_tint": mt, "score": sc,
                      "n_scenes": n_scenes[j], "n_photos": int(len(pred))}
    report["gain_z"] = choice.z
    if choice.adopted:
        params = cands[j]
        report["chosen"] = {**report["best"], **choice.to_dict()}
    else:
        params = SceneParams(cands[j].max_gap_s, cands[j].min_sim, 0.0)
        report["chosen"] = {**params.to_dict(), **choice.to_dict()}
    return params, report


# ------------------------------------------------------------------------------------- reporting
def scene_spread(df: pd.DataFrame, scenes: np.ndarray) -> dict[str, Any]:
    """Spread of `df`'s Temperature (as mired) and Tint within scenes of 2+ photos: how far one
    scene's photos disagree. Returns n_scenes, n_photos (in those scenes), and the median / mean /
    max per-scene standard deviation in mired and in tint (NaN when no scene has 2 photos)."""
    scenes = np.asarray(scenes)
    if len(scenes) != len(df):
        raise ValueError(f"scene_spread: {len(scenes)} scene labels for {len(df)} rows")
    mired = 1e6 / pd.to_numeric(df["Temperature"], errors="coerce").to_numpy(np.float64)
    tint = pd.to_numeric(df["Tint"], errors="coerce").to_numpy(np.float64)
    sds = []
    for s in np.unique(scenes):
        m = scenes == s
        if m.sum() >= 2:
            sds.append((np.nanstd(mired[m]), np.nanstd(tint[m]), int(m.sum())))
    out: dict[str, Any] = {"n_scenes": len(sds), "n_photos": int(sum(s[2] for s in sds))}
    for j, name in enumerate(("mired", "tint")):
        v = np.array([s[j] for s in sds], np.float64)
        out[f"sd_{name}_median"] = float(np.median(v)) if len(v) else float("nan")
        out[f"sd_{name}_mean"] = float(v.mean()) if len(v) else float("nan")
        out[f"sd_{name}_max"] = float(v.max()) if len(v) else float("nan")
    return out


def scenes_path(predictions_csv: str | Path) -> Path:
    """The side file next to a predictions CSV: predictions.csv -> predictions.scenes.csv."""
    p = Path(predictions_csv)
    return p.with_name(p.stem + ".scenes.csv")


def write_scenes(predictions_csv: str | Path, ids, scenes: np.ndarray) -> Path:
    """Write id_global, scene ('scene-0001' ...), scene_size next to the predictions; returns its path.
    The submission CSV itself keeps its three columns."""
    scenes = np.asarray(scenes, np.int64)
    sizes = np.bincount(scenes, minlength=int(scenes.max()) + 1 if len(scenes) else 0)[scenes] if len(scenes) else []
    df = pd.DataFrame({"id_global": [str(i) for i in ids], "scene": [f"scene-{s + 1:04d}" for s in scenes],
                       "scene_size": sizes})
    path = scenes_path(predictions_csv)
    df.to_csv(path, index=False)
    return path
