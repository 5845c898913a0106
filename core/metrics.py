"""Accuracy figures — the single place they are computed, so every table in the project agrees.

MAE in Kelvin is what the challenge scores (score = 1/(1+MAE)); MAE in mired is what the eye sees
(a 100 K error at 3000 K is a far bigger shift than at 8000 K), so both are reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.wb import kelvin_to_mired


def wb_metrics(true_temp, true_tint, pred_temp, pred_tint) -> dict[str, float]:
    """MAE of Temperature (K), Tint and Temperature in mired, the two scores, and n."""
    tt, ti = np.asarray(true_temp, np.float64), np.asarray(true_tint, np.float64)
    pt, pi = np.asarray(pred_temp, np.float64), np.asarray(pred_tint, np.float64)
    if not (tt.shape == ti.shape == pt.shape == pi.shape):
        raise ValueError(f"wb_metrics: shape mismatch {tt.shape} {ti.shape} {pt.shape} {pi.shape}")
    n = tt.size
    if n == 0:
        nan = float("nan")
        return {"mae_temp_k": nan, "mae_tint": nan, "mae_mired": nan, "score_temp": nan, "score_tint": nan, "n": 0}
    mae_k = float(np.mean(np.abs(pt - tt)))
    mae_tint = float(np.mean(np.abs(pi - ti)))
    mae_mired = float(np.mean(np.abs(kelvin_to_mired(pt) - kelvin_to_mired(tt))))
    return {"mae_temp_k": mae_k, "mae_tint": mae_tint, "mae_mired": mae_mired,
            "score_temp": 1.0 / (1.0 + mae_k), "score_tint": 1.0 / (1.0 + mae_tint), "n": int(n)}


def target_mae(true, pred) -> float:
    """MAE for any other target (e.g. Exposure), in its own units."""
    t, p = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    return float(np.mean(np.abs(p - t))) if t.size else float("nan")


# When validation picks a setting over the default (a blend strength, a mix weight), the choice must
# beat the default by MIN_GAIN of the error: with a grid of settings one of them always "wins" by a
# hair on noise, and that win does not transfer ...
MIN_GAIN = 0.01
# ... and the gain must be real. With cross-fitted folds (finetune's default) that means it holds in
# every held-out fold but at most one: a gain carried by one lucky fold is noise, a gain in 4 of 5 folds
# is the catalog's. Only a single holdout (too few shoots for folds) falls back to a z-test over its
# shoots: SIGNIFICANCE standard errors, one-sided ~98 %.
SIGNIFICANCE = 2.0
MIN_FOLDS = 3  # below this many folds the per-fold check says nothing: the z-test guards instead


def photo_errors(pred, truth, scale) -> np.ndarray:
    """(..., N) per-photo error: each target's |pred - truth| divided by its `scale` (length T) and
    summed over targets, of (..., N, T) predictions — what every knob is chosen on, so that both
    targets (mired, tint) count equally."""
    err = np.abs(np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) / np.asarray(scale, np.float64)
    return err.sum(-1)


def gain_z(before, after, truth, scale, groups=None) -> float:
    """z-score of the mean per-photo improvement of `after` over `before` ((N, T) arrays), each
    target's absolute error divided by its `scale` (length T) and summed over targets. With `groups`
    (N,) (the shoot of each photo) the test runs over the groups' mean improvements instead: photos of
    one shoot are near-duplicates, so a gain carried by a few shoots is not significant however many
    photos they hold."""
    return _z(photo_errors(before, truth, scale) - photo_errors(after, truth, scale), groups)


def _z(d: np.ndarray, groups=None, weights=None) -> float:
    """z of the (weighted) mean of `d`, over the groups' means when `groups` are given."""
    w = np.ones(len(d)) if weights is None else np.asarray(weights, np.float64)
    if groups is not None:
        _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        d = np.bincount(inv, weights=w * d) / np.bincount(inv, weights=w)
    if len(d) < 2:
        return 0.0
    se = float(d.std(ddof=1)) / np.sqrt(len(d))
    return float(d.mean()) / se if se > 0 else (np.inf if d.mean() > 0 else 0.0)


@dataclass(frozen=True)
class Choice:
    """What `select` decided, and the figures that decided it (finetune's report and the model store them)."""
    index: int                      # the candidate to use: `best` when adopted, else the default
    best: int                       # the candidate with the lowest pooled out-of-fold error
    gain: float                     # pooled relative gain of `best` over the default: 1 - error(best)/error(default)
    fold_gains: tuple[float, ...]   # the same gain within each fold (one entry for a holdout)
    z: float                        # the gain's z over shoots (the holdout's guard; reported always)
    adopted: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"adopted": self.adopted, "gain": self.gain, "fold_gains": list(self.fold_gains), "z": self.z,
                "why": self.why}


def select(errors, default: int = 0, folds=None, groups=None, weights=None, min_gain: float = MIN_GAIN,
           guard: bool = True) -> Choice:
    """THE rule by which finetune chooses every knob (member mix, as-shot trust, blending, smoothing,
    scenes, added edits) — the only one in the project.

    errors (C, N): candidate c's error on unit n (a photo, or a simulated reveal), in units comparable
    across candidates (each site normalises and sums its targets); candidate `default` is what the
    model does without the knob. folds (N,): the cross-fitted fold that held unit n out (None: one
    holdout); groups (N,): its shoot; weights (N,): its weight in the means (None: equal).

    1. best = the candidate with the lowest pooled (weighted) mean error; ties go to the lower index,
       so order the grid from the weakest setting up.
    2. It replaces the default when its pooled gain is at least `min_gain` of the default's error and,
       with `guard`, the gain is real: positive in every fold but at most one when there are
       MIN_FOLDS+ folds, else (a holdout) z >= SIGNIFICANCE over the groups. guard=False: the pooled
       gain alone decides.
    """
    err = np.asarray(errors, np.float64)
    if err.ndim != 2:
        raise ValueError(f"select: errors must be (candidates, units), got shape {err.shape}")
    n = err.shape[1]
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    fold = np.zeros(n, np.int64) if folds is None else np.asarray(folds)
    if n == 0 or w.sum() <= 0:
        return Choice(default, default, 0.0, (), 0.0, False, "no validation photos")
    pooled = (err * w).sum(1) / w.sum()
    best = int(np.argmin(pooled))
    base = float(pooled[default])
    gain = 1.0 - float(pooled[best]) / base if base > 0 else 0.0
    fold_gains = []
    for f in np.unique(fold):
        m = fold == f
        b = float((err[default, m] * w[m]).sum())
        fold_gains.append(1.0 - float((err[best, m] * w[m]).sum()) / b if b > 0 else 0.0)
    z = _z(err[default] - err[best], groups, w) if best != default else 0.0
    k = len(fold_gains)
    if best == default or float(pooled[default] - pooled[best]) <= 1e-9:  # (1e-9: float rounding, not a gain)
        return Choice(default, best, max(gain, 0.0), tuple(fold_gains), z, False, "no setting beat the default")
    if gain < min_gain:
        return Choice(default, best, gain, tuple(fold_gains), z, False,
                      f"best gain {gain:.1%} is under the {min_gain:.0%} bar")
    if guard and k >= MIN_FOLDS and sum(g <= 0 for g in fold_gains) > 1:
        return Choice(default, best, gain, tuple(fold_gains), z, False,
                      f"gain {gain:.1%} held in only {sum(g > 0 for g in fold_gains)} of {k} folds")
    if guard and k < MIN_FOLDS and z < SIGNIFICANCE:
        return Choice(default, best, gain, tuple(fold_gains), z, False,
                      f"gain {gain:.1%} not significant on one holdout (z = {z:.2f} < {SIGNIFICANCE:g})")
    held = f"in {sum(g > 0 for g in fold_gains)} of {k} folds" if k >= MIN_FOLDS else f"z = {z:.2f}"
    return Choice(best, best, gain, tuple(fold_gains), z, True, f"gain {gain:.1%} ({held})")
