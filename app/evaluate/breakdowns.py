"""Accuracy broken down: overall, per camera, per temperature band, by as-shot temperature, flash / no
flash, per shoot; and the rendered colour difference (ΔE00) per photo and per slice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog.delta_e import grouped_summary, render_delta_e_many, summary as de_summary
from core.canonical import to_reference
from core.metrics import wb_metrics
from core.slices import camera_slice, flash_slice
from core.wb import kelvin_to_mired
from lightroom.raw import is_raw, raw_delta_e


TEMP_BANDS = (("<3500 K", 0.0, 3500.0), ("3500-5500 K", 3500.0, 5500.0), (">5500 K", 5500.0, np.inf))
ASSHOT_BINS_K = (2000, 3000, 3500, 4000, 4500, 5000, 5500, 6500, 8000, 12000, 50000)


# ---------------------------------------------------------------------------------------------------
# Accuracy breakdowns
# ---------------------------------------------------------------------------------------------------
def _metrics(df: pd.DataFrame, mask: np.ndarray | None = None) -> dict[str, float]:
    """wb_metrics on the rows of df (columns Temperature/Tint = truth, pred_Temperature/pred_Tint)."""
    d = df if mask is None else df[mask]
    return wb_metrics(d["Temperature"], d["Tint"], d["pred_Temperature"], d["pred_Tint"])


def breakdowns(df: pd.DataFrame, groups: np.ndarray | None = None) -> dict[str, Any]:
    """Per camera, per edited-temperature band, by as-shot temperature bin, and spread within shoots."""
    out: dict[str, Any] = {"overall": _metrics(df)}
    if "camera_model" in df and df["camera_model"].notna().any():
        cams = df["camera_model"].fillna("(none)").astype(str)
        out["per_camera"] = {c: _metrics(df, (cams == c).to_numpy()) for c in sorted(cams.unique())}
    t = df["Temperature"].to_numpy(np.float64)
    out["per_band"] = {name: _metrics(df, (t >= lo) & (t < hi)) for name, lo, hi in TEMP_BANDS}
    if "currTemp" in df:
        cur = df["currTemp"].to_numpy(np.float64)
        edges = ASSHOT_BINS_K
        out["by_asshot"] = [{"lo_k": lo, "hi_k": hi, **_metrics(df, (cur >= lo) & (cur < hi))}
                            for lo, hi in zip(edges[:-1], edges[1:])]
    flash = flash_slice(df)
    out["per_flash"] = {name: _metrics(df, flash == name) for name in sorted(set(flash))}
    if groups is not None:
        out["shoot_spread"] = shoot_spread(df, groups)
    return out


# ---------------------------------------------------------------------------------------------------
# Rendered colour difference (catalog.delta_e): per photo, then per shoot, camera and flash slice
# ---------------------------------------------------------------------------------------------------
def raw_sources(truth: pd.DataFrame) -> np.ndarray:
    """(N,) object: the raw file a row was imported from (`source_file`, which import-lightroom and
    ingest write) where it is still on disk, else None."""
    files = truth["source_file"].tolist() if "source_file" in truth else [None] * len(truth)
    return np.array([f if isinstance(f, str) and f and is_raw(f) and Path(f).is_file() else None for f in files],
                    dtype=object)


def photo_delta_e(catalog: Any, joined: dict[str, pd.DataFrame]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({system: (N,) ΔE00 per labelled photo, row-aligned with its joined table}, (N,) the render each photo
    was compared on: 'raw' (LibRaw renders of its raw file, lightroom.raw) or 'canonical' (its catalog image
    through the canonical re-render, core.canonical)). The joined tables share the truth's row order."""
    first = next(iter(joined.values()))
    pos = pd.Index(catalog.table["id_global"].astype(str)).get_indexer(first["id_global"].astype(str))
    truth = (first["Temperature"].to_numpy(np.float64), first["Tint"].to_numpy(np.float64))
    canonical = to_reference(catalog.images[pos], first["currTemp"].to_numpy(np.float64),
                             first["currTint"].to_numpy(np.float64))
    preds = {n: (df["pred_Temperature"].to_numpy(np.float64), df["pred_Tint"].to_numpy(np.float64))
             for n, df in joined.items()}
    out = render_delta_e_many(canonical, *truth, preds)
    raws = raw_sources(first)
    for i in np.flatnonzero(raws != None):  # noqa: E711 (elementwise)
        de = raw_delta_e(raws[i], (truth[0][i], truth[1][i]), [(p[0][i], p[1][i]) for p in preds.values()])
        for n, d in zip(preds, de):
            out[n][i] = d
    return out, np.where(raws != None, "raw", "canonical")  # noqa: E711


def delta_e_breakdown(de: np.ndarray, df: pd.DataFrame, groups: np.ndarray | None) -> dict[str, Any]:
    """ΔE00 mean / P75 / P90 overall, per shoot (worst P75 first), per camera and per flash slice."""
    out: dict[str, Any] = {"overall": de_summary(de), "per_flash": grouped_summary(de, flash_slice(df))}
    if groups is not None:
        out["per_shoot"] = grouped_summary(de, groups)
    cams = camera_slice(df)
    if cams is not None:
        out["per_camera"] = grouped_summary(de, cams)
    return out


def shoot_spread(df: pd.DataFrame, groups: np.ndarray) -> dict[str, float]:
    """Mean over shoots (>= 2 photos) of the sd of predictions, and of the labels, in mired and tint."""
    pm, lm = kelvin_to_mired(df["pred_Temperature"].to_numpy(np.float64)), kelvin_to_mired(df["Temperature"].to_numpy(np.float64))
    pt, lt = df["pred_Tint"].to_numpy(np.float64), df["Tint"].to_numpy(np.float64)
    g = pd.Series(np.asarray(groups).astype(str))
    multi = [idx.to_numpy() for _, idx in g.groupby(g).groups.items() if len(idx) >= 2]
    if not multi:
        nan = float("nan")
        return {"n_shoots": 0, "pred_sd_mired": nan, "label_sd_mired": nan, "pred_sd_tint": nan, "label_sd_tint": nan}
    sd = lambda a: float(np.mean([a[i].std() for i in multi]))  # noqa: E731
    return {"n_shoots": len(multi), "pred_sd_mired": sd(pm), "label_sd_mired": sd(lm),
            "pred_sd_tint": sd(pt), "label_sd_tint": sd(lt)}
