"""Neighbour blending, batch smoothing and label-anomaly search, all in (mired, tint) units.

Blending: the head generalises, the neighbours remember. When a query is (nearly) a photo the
photographer already edited — a burst, a crop, a re-shot scene — their edit is a better answer than
any regression, so the prediction is pulled towards what the neighbours got; when nothing alike was
edited, it is left alone. For a query with head prediction p, as-shot a_q, neighbour j with edit e_j,
as-shot a_j and cosine similarity s_j:

    carried-over edit  c_j = e_j                 ("absolute": the same scene gets the same edit)
                       c_j = a_q + (e_j - a_j)   ("shift": the photographer's correction of the
                                                  neighbour's as-shot is re-applied to ours, so a
                                                  re-shot scene under another camera AWB follows it)
    weight             w_j = exp((s_j - 1) / tau), and w_j = 0 when s_j < min_sim
    trust (gate)       g   = clip((s_max - min_sim) / (1 - min_sim), 0, 1), s_max over kept neighbours
    blended            p + strength * g * (sum_j w_j c_j / sum_j w_j - p)

Why this gate: the weights only say *which* neighbours to listen to (normalised, they are the same
for a set of far neighbours as for a set of exact duplicates); the gate says *how much*. It is 1 for
an exact duplicate (s_max = 1), falls linearly to 0 at the similarity threshold, so the prediction is
a continuous function of the similarity: a neighbour that drifts across min_sim does not make the
answer jump, and a far neighbour (s < min_sim) cannot move the prediction at all. `strength` (fitted
on validation, 0 when blending does not help) caps the pull.

Everything here is pure numpy on arrays; the kNN comes from faiss (retrieval.index).
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.metrics import photo_errors, select  # the one rule that adopts a variant over the head alone
from core.vectors import standardise
from retrieval.index import NeighborIndex, build_faiss, search_faiss

MODES = ("absolute", "shift")
STRENGTHS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
TAUS = (0.01, 0.02, 0.05, 0.1, 0.2)
MIN_SIMS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
# Errors are normalised by the head's own MAE, floored here (mired, tint): below half a unit nobody can
# see a difference, and a head that is exact on one target (MAE 0) must not make that target's tiniest
# blend error outweigh everything else.
MAE_FLOOR = (0.5, 0.5)


@dataclass
class BlendParams:
    mode: str = "shift"      # "absolute" | "shift"
    strength: float = 0.0    # 0 = head alone, 1 = all the way to the neighbours (for an exact duplicate)
    tau: float = 0.05        # softmax temperature on cosine similarity: small = only the closest count
    min_sim: float = 0.5     # neighbours below this cosine are ignored (and the gate is 0 there)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SmoothParams:
    threshold: float = 0.95  # cosine (in the index space) at/above which two photos count as the same scene
    strength: float = 0.0    # 0 = off, 1 = every photo moves to its group's similarity-weighted mean

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------- blending
def _kept(keep: np.ndarray, *arrays: np.ndarray | None) -> tuple[np.ndarray | None, ...]:
    """The rows `keep` of each array (None stays None: no folds or shoots given)."""
    return tuple(None if a is None else np.asarray(a)[keep] for a in arrays)


def _as2(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of (mired, tint), got shape {a.shape}")
    return a


def neighbour_mean(query_asshot: np.ndarray, sims: np.ndarray, idx: np.ndarray, index_edits: np.ndarray,
                   index_asshot: np.ndarray, mode: str = "shift", tau: float = 0.05,
                   min_sim: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """What the neighbours say, and how much to trust it: (mean carried-over edit (M,2), gate (M,)).

    Rows without any neighbour at/above `min_sim` get mean = NaN and gate = 0.
    """
    if mode not in MODES:
        raise ValueError(f"blend mode must be one of {MODES}, got {mode!r}")
    sims = np.asarray(sims, np.float64)
    idx = np.asarray(idx, np.int64)
    edits, asshot = _as2(index_edits, "index_edits"), _as2(index_asshot, "index_asshot")
    valid = (idx >= 0) & (sims >= min_sim)
    safe = np.where(idx >= 0, idx, 0)
    carried = edits[safe]                                     # (M, k, 2)
    if mode == "shift":
        carried = _as2(query_asshot, "query_asshot")[:, None, :] + (carried - asshot[safe])
    valid &= np.isfinite(carried).all(-1)
    # exp((s-1)/tau) <= 1 for s <= 1; sims a hair above 1 (float error) are harmless.
    w = np.where(valid, np.exp((np.minimum(sims, 1.0) - 1.0) / tau), 0.0)
    wsum = w.sum(1)
    has = wsum > 0
    mean = np.full((len(sims), 2), np.nan)
    mean[has] = (w[has, :, None] * np.where(valid[has, :, None], carried[has], 0.0)).sum(1) / wsum[has, None]
    smax = np.where(valid, sims, -np.inf).max(1, initial=-np.inf)
    gate = np.clip((smax - min_sim) / max(1.0 - min_sim, 1e-9), 0.0, 1.0)
    gate[~has] = 0.0
    return mean, gate


def apply_blend(head_pred: np.ndarray, query_asshot: np.ndarray, sims: np.ndarray, idx: np.ndarray,
                index_edits: np.ndarray, index_asshot: np.ndarray, params: BlendParams) -> np.ndarray:
    """Blended (mired, tint) predictions (M, 2); equals `head_pred` exactly where strength or gate is 0."""
    head = _as2(head_pred, "head_pred")
    if params.strength == 0 or len(head) == 0 or np.asarray(idx).size == 0:
        return head.copy()
    mean, gate = neighbour_mean(query_asshot, sims, idx, index_edits, index_asshot,
                                params.mode, params.tau, params.min_sim)
    pull = params.strength * gate
    out = head.copy()
    moved = pull > 0
    out[moved] = head[moved] + pull[moved, None] * (mean[moved] - head[moved])
    return out


def _maes(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    err = np.abs(pred - truth)
    return float(err[:, 0].mean()), float(err[:, 1].mean())


def fit_blend(head_pred: np.ndarray, query_asshot: np.ndarray, truth: np.ndarray, sims: np.ndarray,
              idx: np.ndarray, index_edits: np.ndarray, index_asshot: np.ndarray,
              modes: tuple[str, ...] = MODES, folds: np.ndarray | None = None,
              shoots: np.ndarray | None = None) -> tuple[BlendParams, dict[str, Any]]:
    """Choose mode x tau x min_sim x strength on out-of-fold predictions; (params, report).

    Objective: MAE mired / head's MAE mired + MAE tint / head's MAE tint (both targets count equally;
    2.0 is the head alone unless its MAE is below MAE_FLOOR), decided by core.metrics.select over
    the photos' `folds` (N,) and `shoots` (N,). Not adopted: strength 0, with the best variant's shape
    kept (so `predict --blend-strength X` has a shape to apply). The report holds the head-alone MAEs,
    the best variant of every mode, and the choice with its pooled and per-fold gains.
    """
    head, truth = _as2(head_pred, "head_pred"), _as2(truth, "truth")
    asshot = _as2(query_asshot, "query_asshot")
    keep = np.isfinite(truth).all(1) & np.isfinite(head).all(1)
    head, truth, asshot, sims, idx, folds, shoots = _kept(keep, head, truth, asshot, sims, idx, folds, shoots)
    head_mm, head_mt = _maes(head, truth) if len(head) else (float("nan"), float("nan"))
    scale = (max(head_mm, MAE_FLOOR[0]), max(head_mt, MAE_FLOOR[1]))
    head_score = head_mm / scale[0] + head_mt / scale[1]
    report: dict[str, Any] = {"n": int(len(head)),
                              "head": {"mae_mired": head_mm, "mae_tint": head_mt, "score": head_score},
                              "objective": "mae_mired/max(head_mae_mired, 0.5) + mae_tint/max(head_mae_tint, 0.5)",
                              "modes": {}}
    if len(head) == 0 or idx.size == 0:
        report["chosen"] = {**BlendParams(strength=0.0).to_dict(), "mae_mired": head_mm, "mae_tint": head_mt,
                            "score": head_score, "why": "no validation photo with neighbours"}
        return BlendParams(strength=0.0), report

    # min_sim grid: fixed values plus quantiles of the observed top-1 similarity, because where
    # "near" starts depends on the encoder (a 0.9 cosine may be a duplicate for one, a stranger for another).
    top1 = sims[:, 0][idx[:, 0] >= 0]
    qs = np.quantile(top1, (0.1, 0.25, 0.5, 0.75, 0.9)) if len(top1) else np.array([])
    min_sims = sorted({float(v) for v in MIN_SIMS} | {round(float(q), 4) for q in qs if -1 < q < 0.999})
    strengths = np.array(STRENGTHS[1:], np.float64)
    # candidate 0 = the head alone; then every (mode, tau, min_sim) at every strength
    cands: list[BlendParams] = [BlendParams(strength=0.0)]
    errors = [photo_errors(head, truth, scale)[None]]
    for mode in modes:
        for tau, min_sim in itertools.product(TAUS, min_sims):
            mean, gate = neighbour_mean(asshot, sims, idx, index_edits, index_asshot, mode, tau, min_sim)
            delta = np.where(gate[:, None] > 0, mean - head, 0.0) * gate[:, None]      # (M, 2)
            errors.append(photo_errors(head[None] + strengths[:, None, None] * delta[None], truth, scale))  # (S, M)
            cands += [BlendParams(mode, float(st), float(tau), float(min_sim)) for st in strengths]
    errors = np.concatenate(errors)                                                   # (C, M)
    pooled = errors.mean(1)
    for mode in modes:
        j = min((c for c in range(1, len(cands)) if cands[c].mode == mode), key=lambda c: pooled[c])
        mm, mt = _maes(apply_blend(head, asshot, sims, idx, index_edits, index_asshot, cands[j]), truth)
        report["modes"][mode] = {**cands[j].to_dict(), "mae_mired": mm, "mae_tint": mt, "score": float(pooled[j])}
    choice = select(errors, 0, folds, shoots)
    best = cands[choice.best]
    report["gain_z"] = choice.z
    if choice.adopted:
        params = best
        report["chosen"] = {**report["modes"][best.mode], **choice.to_dict()}
    else:
        params = BlendParams(mode=best.mode, strength=0.0, tau=best.tau, min_sim=best.min_sim)
        report["chosen"] = {**params.to_dict(), "mae_mired": head_mm, "mae_tint": head_mt, "score": head_score,
                            **choice.to_dict()}
    return params, report


# ---------------------------------------------------------------------------------- batch smoothing
SMOOTH_K = 32  # neighbours looked at within a batch; a burst larger than this is still pulled together
SMOOTH_THRESHOLDS = (0.8, 0.85, 0.9, 0.95, 0.97, 0.99)


def _batch_space(embeddings: np.ndarray, index: NeighborIndex | None, normalized: bool = False) -> np.ndarray:
    """Photos of one batch in the cosine space of the neighbour index (training mean/std) when given,
    else just L2-normalised (then fit and apply must both be called without an index). normalized:
    `embeddings` are already in the index space."""
    emb = np.asarray(embeddings, np.float32)
    if normalized:
        return np.ascontiguousarray(emb)
    if index is not None:
        return index.normalize(emb)
    return standardise(emb, np.zeros(emb.shape[1], np.float32), np.ones(emb.shape[1], np.float32))


def _batch_knn(vectors: np.ndarray, k: int = SMOOTH_K) -> tuple[np.ndarray, np.ndarray]:
    index, _ = build_faiss(vectors, compact=False)
    return search_faiss(index, vectors, k)


def _smooth(pred: np.ndarray, sims: np.ndarray, idx: np.ndarray, threshold: float, strength: float) -> np.ndarray:
    """Move each photo towards the similarity-weighted mean of its group (itself + batch neighbours
    with cosine >= threshold). A photo with no such neighbour has itself as the group: unchanged."""
    if strength == 0 or len(pred) == 0:
        return pred.copy()
    safe = np.where(idx >= 0, idx, 0)
    valid = (idx >= 0) & (sims >= threshold) & np.isfinite(pred[safe]).all(-1)  # a NaN neighbour must not spread
    w = np.where(valid, np.clip(sims, 0.0, 1.0), 0.0)
    own = np.arange(len(pred))
    # the photo itself always counts with weight 1 (its own search hit, if any, is dropped to avoid
    # counting it twice; exact duplicates may come before it, so match on the id, not the position)
    w = np.where(safe == own[:, None], 0.0, w)
    num = pred + (w[:, :, None] * np.where(valid[:, :, None], pred[safe], 0.0)).sum(1)
    den = 1.0 + w.sum(1)
    group_mean = num / den[:, None]
    return pred + strength * (group_mean - pred)


def smooth_batch(pred: np.ndarray, embeddings: np.ndarray, params: SmoothParams,
                 index: NeighborIndex | None = None, normalized: bool = False) -> np.ndarray:
    """Test-time consistency among photos predicted together (M, 2) -> (M, 2).

    Near-duplicates within the batch (cosine >= params.threshold in the index space; pass the
    model's `index` so the space is the one its thresholds were fitted in) are pulled towards their
    similarity-weighted group mean by params.strength; dissimilar photos are left exactly as they are.
    normalized: `embeddings` are already in the index space (NeighborIndex.normalize).
    """
    pred = _as2(pred, "pred")
    if params.strength == 0 or len(pred) < 2:
        return pred.copy()
    sims, idx = _batch_knn(_batch_space(embeddings, index, normalized))
    return _smooth(pred, sims, idx, params.threshold, params.strength)


def fit_smooth(pred: np.ndarray, embeddings: np.ndarray, truth: np.ndarray,
               index: NeighborIndex | None = None, folds: np.ndarray | None = None,
               shoots: np.ndarray | None = None) -> tuple[SmoothParams, dict[str, Any]]:
    """Choose (threshold, strength) for smooth_batch on out-of-fold predictions; strength 0 unless
    core.metrics.select adopts it over the photos' `folds` and `shoots`.

    Same normalised objective as fit_blend (2.0 = predictions as given). Pass the same `index`
    (or None) that smooth_batch will get at prediction time.
    """
    pred, truth = _as2(pred, "pred"), _as2(truth, "truth")
    keep = np.isfinite(truth).all(1) & np.isfinite(pred).all(1)
    pred_k, truth_k = pred[keep], truth[keep]
    base_mm, base_mt = _maes(pred_k, truth_k) if len(pred_k) else (float("nan"), float("nan"))
    report: dict[str, Any] = {"n": int(keep.sum()), "before": {"mae_mired": base_mm, "mae_tint": base_mt},
                              "thresholds": {}}
    params = SmoothParams(strength=0.0)
    if len(pred) < 2 or len(pred_k) == 0:
        report["chosen"] = {**params.to_dict(), "mae_mired": base_mm, "mae_tint": base_mt, "score": 2.0,
                            "why": "fewer than 2 validation photos"}
        return params, report
    scale = (max(base_mm, MAE_FLOOR[0]), max(base_mt, MAE_FLOOR[1]))
    base_score = base_mm / scale[0] + base_mt / scale[1]
    # the kNN runs on the whole batch (unlabelled photos still pull), the error only on labelled rows
    sims, idx = _batch_knn(_batch_space(embeddings, index))
    cands, errors = [params], [photo_errors(pred_k, truth_k, scale)]
    for threshold in SMOOTH_THRESHOLDS:
        for strength in STRENGTHS[1:]:
            cands.append(SmoothParams(float(threshold), float(strength)))
            errors.append(photo_errors(_smooth(pred, sims, idx, threshold, float(strength))[keep], truth_k, scale))
    errors = np.stack(errors)
    pooled = errors.mean(1)
    for threshold in SMOOTH_THRESHOLDS:
        j = min((c for c in range(1, len(cands)) if cands[c].threshold == threshold), key=lambda c: pooled[c])
        mm, mt = _maes(_smooth(pred, sims, idx, threshold, cands[j].strength)[keep], truth_k)
        report["thresholds"][str(threshold)] = {"strength": cands[j].strength, "mae_mired": mm, "mae_tint": mt,
                                                "score": float(pooled[j])}
    choice = select(errors, 0, *_kept(keep, folds, shoots))
    best = cands[choice.best]
    report["gain_z"] = choice.z
    if choice.adopted:
        params = best
        mm, mt = _maes(_smooth(pred, sims, idx, best.threshold, best.strength)[keep], truth_k)
        report["chosen"] = {**params.to_dict(), "mae_mired": mm, "mae_tint": mt, "score": float(pooled[choice.best]),
                            **choice.to_dict()}
    else:
        params = SmoothParams(threshold=best.threshold, strength=0.0)
        report["chosen"] = {**params.to_dict(), "mae_mired": base_mm, "mae_tint": base_mt, "score": base_score,
                            **choice.to_dict()}
    return params, report


# ---------------------------------------------------------------------------------- label anomalies
ANOMALY_COLUMNS = ["id_global", "mired", "tint", "neighbour_mired", "neighbour_tint", "z_mired", "z_tint",
                   "n_neighbors", "shoot", "severity", "Temperature", "Tint", "neighbour_Temperature"]
SPREAD_FLOOR = (5.0, 3.0)  # mired, tint: below this, disagreement is within a photographer's own jitter


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    c = np.cumsum(w)
    return float(v[np.searchsorted(c, 0.5 * c[-1])])


def find_anomalies(index: NeighborIndex, embeddings: np.ndarray | None = None, k: int = 8,
                   min_sim: float = 0.85, z: float = 3.0, mode: str = "shift", min_neighbors: int = 2,
                   spread_floor: tuple[float, float] = SPREAD_FLOOR) -> pd.DataFrame:
    """Training photos whose edit disagrees strongly with the edits of their near-duplicates.

    Leave-one-out: each training photo's neighbours (cosine >= min_sim, itself excluded, at least
    `min_neighbors`) vote with a similarity-weighted median of their edits carried over to this photo
    exactly as blending does (`mode`): "absolute" compares edit values; "shift" (default) compares
    the photographer's corrections of the as-shot WB, so the same scene re-shot under other light
    (another as-shot, another edit, the same look) is not called inconsistent. The robust z is
    (own - median) / spread, spread = 1.4826 * MAD of the carried-over edits, floored at
    `spread_floor` (a tight burst must not turn a 2-mired wobble into an "anomaly"). A photo is
    flagged when |z_mired| or |z_tint| >= z. `embeddings` are the training photos' embeddings in
    index order; None uses the vectors stored in the index. neighbour_mired/tint = the median
    (what the neighbours suggest for this photo). Sorted by severity = max |z|.
    """
    if mode not in MODES:
        raise ValueError(f"find_anomalies: mode must be one of {MODES}, got {mode!r}")
    n = len(index)
    if embeddings is None:
        vectors = index.vectors()
    else:
        if len(embeddings) != n:
            raise ValueError(f"find_anomalies: {len(embeddings)} embeddings for an index of {n} photos")
        vectors = index.normalize(embeddings)
    sims, idx = index.search_normalized(vectors, k + 1)
    own = np.arange(n)[:, None]
    rows = []
    for i in range(n):
        keep = (idx[i] >= 0) & (idx[i] != own[i, 0]) & (sims[i] >= min_sim)
        nb, s = idx[i][keep][:k], sims[i][keep][:k]
        edits = index.edits[nb]
        if mode == "shift":
            edits = index.asshot[i] + (edits - index.asshot[nb])
        ok = np.isfinite(edits).all(1)
        nb, s, edits = nb[ok], s[ok], edits[ok]
        if len(nb) < min_neighbors or not np.isfinite(index.edits[i]).all():
            continue
        w = np.clip(s, 1e-6, None)
        med = np.array([_weighted_median(edits[:, c], w) for c in range(2)])
        mad = 1.4826 * np.median(np.abs(edits - np.median(edits, 0)), 0)
        spread = np.maximum(mad, spread_floor)
        zz = (index.edits[i] - med) / spread
        if np.abs(zz).max() >= z:
            rows.append({"id_global": index.ids[i], "mired": index.edits[i, 0], "tint": index.edits[i, 1],
                         "neighbour_mired": med[0], "neighbour_tint": med[1], "z_mired": zz[0], "z_tint": zz[1],
                         "n_neighbors": int(len(nb)), "shoot": index.shoots[i], "severity": float(np.abs(zz).max())})
    df = pd.DataFrame(rows, columns=ANOMALY_COLUMNS[:10])
    from core.wb import mired_to_kelvin  # the one place for unit conversion (used at the CSV edge only)

    df["Temperature"] = mired_to_kelvin(df["mired"].to_numpy(np.float64)) if len(df) else []
    df["Tint"] = df["tint"]
    df["neighbour_Temperature"] = mired_to_kelvin(df["neighbour_mired"].to_numpy(np.float64)) if len(df) else []
    df["n_neighbors"] = df["n_neighbors"].astype(np.int64)
    return df.sort_values("severity", ascending=False, kind="stable").reset_index(drop=True)
