"""Accuracy figures — the single place they are computed, so every table in the project agrees.

MAE in Kelvin is what the challenge scores (score = 1/(1+MAE)); MAE in mired is what the eye sees
(a 100 K error at 3000 K is a far bigger shift than at 8000 K), so both are reported.
"""
from __future__ import annotations

import numpy as np

from catalog.wb import kelvin_to_mired


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
# ... and the gain must be real, not luck of a small validation set: its mean per-photo gain must
# exceed SIGNIFICANCE standard errors (a one-sided ~98 % z-test over the validation photos).
SIGNIFICANCE = 2.0


def gain_z(before, after, truth, scale, groups=None) -> float:
    """z-score of the mean per-photo improvement of `after` over `before` ((N, T) arrays), each
    target's absolute error divided by its `scale` (length T) and summed over targets. With `groups`
    (N,) (the shoot of each photo) the test runs over the groups' mean improvements instead: photos of
    one shoot are near-duplicates, so a gain carried by a few shoots is not significant however many
    photos they hold."""
    before, after, truth = (np.asarray(a, np.float64) for a in (before, after, truth))
    d = ((np.abs(before - truth) - np.abs(after - truth)) / np.asarray(scale, np.float64)).sum(1)
    if groups is not None:
        _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        d = np.bincount(inv, weights=d) / np.bincount(inv)
    if len(d) < 2:
        return 0.0
    se = float(d.std(ddof=1)) / np.sqrt(len(d))
    return float(d.mean()) / se if se > 0 else (np.inf if d.mean() > 0 else 0.0)
