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
