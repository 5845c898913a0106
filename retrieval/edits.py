"""Learning from a few edits of a new shoot: photos added to the index after training (`add-edits`).

A photographer edits 3 photos of a new shoot and wants the other 200 to follow. Those 3 edits say
two things: what this shoot's light needs (a photo taken a minute later looking alike needs the same
edit) and how this photographer's taste today differs from what the model predicts. A shoot offset
(move every prediction by the shrunk mean of the revealed residuals) uses only the second and
gained ~4 % MAE on the real release at k = 3; the gain has to come from same-scene neighbours. For a
query q with model prediction p_q (head h_q) and added photo r with edit e_r and head prediction h_r
(stored when it was added), cosine similarity s and capture-time distance dt:

    carried-over edit  c_r = e_r + beta * (h_q - h_r)       beta = 0: "the same scene gets the same
                                                           edit"; beta = 1: "the same correction of
                                                           the model" (the residual); in between
                                                           trusts the model's sense of how q and r differ
    weight             w_r = exp((s - 1) / tau - dt / time_scale_s - |h_q - h_r| / head_scale)
                             (dt unknown: one time scale; the last term is in mired, off at 0)
                             and 0 below min_sim; only the top `k` weights count
    trust              g   = W / (W + prior), W = sum_r w_r: an exact duplicate shot at the same
                             moment (w = 1) is trusted 1 / (1 + prior); far or long-ago photos not at all
    blended            p_q + strength * g * (sum_r w_r c_r / W - p_q)

Why a separate rule from retrieval.blend (the training entries): training neighbours are other
shoots, whose edits transfer weakly (validation sets their strength to 0 on the real release);
added edits are typically of the very shoot being predicted, minutes apart, and the time kernel is
what tells a same-scene neighbour from a look-alike of another day. All parameters are chosen at
finetune time by simulating reveals inside the cross-fitted held-out shoots (`fit_edit_blend`), by
the project's one selection rule (core.metrics.select); the defaults are what that chose on the
real release.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.metrics import select
from retrieval.index import NeighborIndex
from retrieval.scenes import capture_seconds

MAE_FLOOR = (0.5, 0.5)  # as retrieval.blend
REVEAL_KS = (1, 3, 5)   # edits revealed per validation shoot when fitting
REVEAL_REPEATS = 5      # random reveals per shoot and k
MIN_SHOOT = 6           # shoots smaller than this are not used for fitting (nothing left to predict)
# A small grid on purpose: finetune's validation holds only ~20 shoots of 6+ photos, and a wide grid
# fits their noise. Measured on the real release (5 grouped folds, parameters fitted on one held-out
# fold, gain at k = 3 on the four others, canonical-render model): this grid 10.5 % mean, a 4x4x4x2x4
# grid over beta/tau/time/head/prior 7.4 %, the same with a fixed shape (strength only) 9.1 %. And in
# benchmarks/few_edits.py (5 folds, fitted by finetune on its own validation): this grid +7.5 % at
# k = 3; with beta 0.25 .. 0.75, time scale up to 10,800 s and head scale up to 80 mired, +6.6 %.
GRID = {"beta": (0.5, 0.75), "tau": (0.5,), "time_scale_s": (1200.0, 3600.0), "head_scale": (0.0, 20.0, 40.0),
        "prior": (0.03, 0.1, 0.3), "strength": (0.5, 0.75, 1.0)}


@dataclass
class EditBlendParams:
    """Defaults: typical of what fit_edit_blend chooses on the real release (strength 0 until fitted)."""
    strength: float = 0.0        # 0 = added edits are ignored; 1 = full trust g
    beta: float = 0.5            # 0 = carry the edit itself, 1 = carry the correction of the model
    tau: float = 0.5             # similarity temperature (cosine in the index space)
    time_scale_s: float = 3600.0  # capture-time distance at which a neighbour's weight falls by e
    head_scale: float = 20.0     # mired between the model's predictions for q and r at which the weight
                                 # falls by e (the model sees the light: far predictions = other light); 0 = off
    prior: float = 0.1           # weight of the model's own prediction against the neighbours' W
    min_sim: float = -1.0        # added photos less alike than this are ignored
    k: int = 16                  # at most this many added photos per query (the heaviest)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def edit_weights(q_vec: np.ndarray, q_time: np.ndarray, a_vec: np.ndarray, a_time: np.ndarray,
                 params: EditBlendParams, q_head: np.ndarray | None = None,
                 a_head: np.ndarray | None = None) -> np.ndarray:
    """(M, A) weights of the added photos for each query (see module doc); vectors unit-length,
    times in seconds (NaN = unknown), heads (M, 2) / (A, 2) the model's predictions (mired first)."""
    s = np.minimum(np.asarray(q_vec, np.float64) @ np.asarray(a_vec, np.float64).T, 1.0)
    dt = np.abs(np.asarray(q_time, np.float64)[:, None] - np.asarray(a_time, np.float64)[None])
    dt = np.where(np.isfinite(dt), dt, params.time_scale_s)
    w = np.exp((s - 1.0) / params.tau - dt / params.time_scale_s)
    if params.head_scale > 0 and q_head is not None and a_head is not None:
        dh = np.abs(np.asarray(q_head, np.float64)[:, None, 0] - np.asarray(a_head, np.float64)[None, :, 0])
        w = w * np.exp(-np.where(np.isfinite(dh), dh, params.head_scale) / params.head_scale)
    w = np.where(s >= params.min_sim, w, 0.0)
    if w.shape[1] > params.k:  # keep the k heaviest per query
        cut = -np.partition(-w, params.k - 1, axis=1)[:, params.k - 1:params.k]
        w = np.where(w >= cut, w, 0.0)
    return w


def apply_edit_blend(pred: np.ndarray, head: np.ndarray, q_vec: np.ndarray, q_time: np.ndarray,
                     a_vec: np.ndarray, a_time: np.ndarray, a_edits: np.ndarray, a_head: np.ndarray,
                     params: EditBlendParams) -> np.ndarray:
    """Predictions (M, 2) pulled towards the added photos' edits; `pred` unchanged where strength is
    0, nothing was added, or no added photo carries weight. `head` (M, 2) are the queries' head
    predictions, `a_head` (A, 2) the added photos' (NaN: carry the edit alone, beta = 0)."""
    pred = np.asarray(pred, np.float64)
    if params.strength == 0 or len(a_vec) == 0 or len(pred) == 0:
        return pred.copy()
    w = edit_weights(q_vec, q_time, a_vec, a_time, params, head, a_head)
    edits, a_head = np.asarray(a_edits, np.float64), np.asarray(a_head, np.float64)
    w = np.where(np.isfinite(edits).all(1)[None], w, 0.0)
    edits = np.where(np.isfinite(edits), edits, 0.0)
    diff = np.asarray(head, np.float64)[:, None, :] - np.where(np.isfinite(a_head), a_head, np.nan)[None]
    carried = edits[None] + params.beta * np.where(np.isfinite(diff), diff, 0.0)  # (M, A, 2)
    wsum = w.sum(1)
    mean = (w[:, :, None] * carried).sum(1) / np.maximum(wsum, 1e-300)[:, None]
    pull = params.strength * wsum / (wsum + params.prior)
    out = pred + pull[:, None] * (mean - pred)
    return np.where((wsum[:, None] > 0) & np.isfinite(out), out, pred)


def blend_added(index: NeighborIndex, pred: np.ndarray, head: np.ndarray, embeddings: np.ndarray,
                table: pd.DataFrame, params: EditBlendParams, normalized: bool = False) -> np.ndarray:
    """What `predict --blend-neighbors` does with the photos `add-edits` put in the model's index:
    `pred` (M, 2) pulled towards them (unchanged when none were added or strength is 0). `head` are
    the model's own predictions, `embeddings` the queries' raw embeddings (or, normalized=True, their
    vectors in the index space), `table` their rows (capture time)."""
    pred = np.asarray(pred, np.float64)
    if index is None or index.n_added == 0 or params.strength == 0 or len(pred) == 0:
        return pred.copy()
    a = index.added()
    a_vec = index.index.reconstruct_n(index.n_train, index.n_added)
    vec = embeddings if normalized else index.normalize(embeddings)
    return apply_edit_blend(pred, head, vec, capture_seconds(table), a_vec,
                            index.times[a], index.edits[a], index.head[a], params)


# ---------------------------------------------------------------------------------------- fitting
def reveal_sets(shoots: np.ndarray, ks: tuple[int, ...] = REVEAL_KS, repeats: int = REVEAL_REPEATS,
                min_shoot: int = MIN_SHOOT, seed: int = 0) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """(shoot, k, revealed rows, other rows) for every shoot of >= min_shoot photos, k and repeat:
    the simulation of "edit k photos of a new shoot, predict the rest"."""
    rng = np.random.default_rng(seed)
    shoots = np.asarray(shoots).astype(str)
    out = []
    for s in sorted(set(shoots.tolist())):
        rows = np.flatnonzero(shoots == s)
        if len(rows) < min_shoot or s in ("None", "nan", ""):
            continue
        for k in ks:
            for _ in range(repeats):
                rev = np.sort(rng.choice(rows, k, replace=False))
                out.append((s, k, rev, np.setdiff1d(rows, rev)))
    return out


def reveal_errors(head: np.ndarray, truth: np.ndarray, vec: np.ndarray, times: np.ndarray,
                  sets: list, params: EditBlendParams) -> np.ndarray:
    """(len(sets), 2, 2): per reveal, the mean |error| (mired, tint) of the other photos of the shoot
    before and after blending the revealed edits in."""
    out = np.zeros((len(sets), 2, 2))
    for i, (_, _, rev, rest) in enumerate(sets):
        after = apply_edit_blend(head[rest], head[rest], vec[rest], times[rest], vec[rev], times[rev],
                                 truth[rev], head[rev], params)
        out[i, 0] = np.abs(head[rest] - truth[rest]).mean(0)
        out[i, 1] = np.abs(after - truth[rest]).mean(0)
    return out


def fit_edit_blend(head: np.ndarray, truth: np.ndarray, vec: np.ndarray, times: np.ndarray,
                   shoots: np.ndarray, grid: dict[str, tuple] = GRID, seed: int = 0,
                   folds: np.ndarray | None = None) -> tuple[EditBlendParams, dict[str, Any]]:
    """Choose EditBlendParams on out-of-fold predictions: (head (N,2), truth (N,2), unit vectors (N,K),
    capture times in s (N,), shoot per row, cross-fitted fold per row). Reveals k = 1, 3, 5 photos of
    each held-out shoot (5 times each), blends them into the rest, and keeps the setting with the best
    (MAE mired / before + MAE tint / before) over every unrevealed photo of every reveal; strength 0
    (the best shape kept, for `predict --edit-strength X`) unless core.metrics.select adopts it
    over the reveals' folds and shoots."""
    head, truth = np.asarray(head, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(head).all(1) & np.isfinite(truth).all(1)
    shoots = np.where(ok, np.asarray(shoots).astype(str), "")
    sets = reveal_sets(shoots, seed=seed)
    report: dict[str, Any] = {"n_shoots": len({s for s, *_ in sets}), "n_reveals": len(sets)}
    if len({s for s, *_ in sets}) < 2:
        report["chosen"] = {**EditBlendParams().to_dict(), "why": f"fewer than 2 validation shoots of {MIN_SHOOT}+ photos"}
        return EditBlendParams(), report
    base = reveal_errors(head, truth, vec, times, sets, EditBlendParams())[:, 0]
    # every unrevealed photo counts once (the benchmark's MAE "on the shoot's other photos"): a reveal
    # weighs as many photos as it leaves to predict
    wts = np.array([len(rest) for *_, rest in sets], np.float64)
    wts /= wts.sum()
    scale = np.maximum(wts @ base, MAE_FLOOR)
    strengths = np.asarray(grid["strength"], np.float64)
    rest_truth = [truth[rest] for *_, rest in sets]
    shapes = list(itertools.product(*(grid[k] for k in grid if k != "strength")))
    # candidate 0 = the model alone; then every shape at every strength: (C, reveals, 2) mean |error|
    cands, after = [EditBlendParams()], [base[None]]
    for vals in shapes:
        params = EditBlendParams(strength=1.0, **dict(zip([k for k in grid if k != "strength"], vals)))
        # the blend is linear in strength: one pass at strength 1 gives every strength's answer
        a = np.zeros((len(strengths), len(sets), 2))
        for i, (_, _, rev, rest) in enumerate(sets):
            delta = apply_edit_blend(head[rest], head[rest], vec[rest], times[rest], vec[rev], times[rev],
                                     truth[rev], head[rev], params) - head[rest]
            a[:, i] = np.abs(head[rest][None] + strengths[:, None, None] * delta[None] - rest_truth[i][None]).mean(1)
        after.append(a)
        cands += [EditBlendParams(**{**params.to_dict(), "strength": float(st)}) for st in strengths]
    after = np.concatenate(after)                                            # (C, reveals, 2)
    fold = None if folds is None else np.array([np.asarray(folds)[rev[0]] for _, _, rev, _ in sets])
    choice = select((after / scale).sum(-1), 0, fold, np.array([s for s, *_ in sets]), wts)
    j = choice.best
    ks = np.array([k for _, k, *_ in sets])
    gain_by_k = {name: {int(k): float(1 - wts[ks == k] @ after[j, ks == k, t] / (wts[ks == k] @ base[ks == k, t]))
                        for k in np.unique(ks)} for t, name in enumerate(("mired", "tint"))}
    report.update({"before": {"mae_mired": float(wts @ base[:, 0]), "mae_tint": float(wts @ base[:, 1])},
                   "best": {**cands[j].to_dict(), "mae_mired": float(wts @ after[j, :, 0]),
                            "mae_tint": float(wts @ after[j, :, 1]), "gain_z": choice.z},
                   "gain_mired_by_k": gain_by_k["mired"], "gain_tint_by_k": gain_by_k["tint"]})
    if choice.adopted:
        params = cands[j]
        report["chosen"] = {**report["best"], **choice.to_dict()}
    else:
        params = EditBlendParams(**{**cands[j].to_dict(), "strength": 0.0})
        report["chosen"] = {**params.to_dict(), **choice.to_dict()}
    return params, report
