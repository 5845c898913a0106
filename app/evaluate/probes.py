"""Consistency probes: how steady a predictor is on one scene — its predictions on WB-preserving variants
of each photo (variant spread), on the capture re-rendered at other as-shot temperatures (bracket spread),
and within the model's scenes. Any predictor with `predict(catalog, blend=, progress=) -> DataFrame` works.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from core.progress import track
from core.errors import CatalogError
from core.wb import kelvin_to_mired, mired_to_kelvin, rerender_matrix, rerender_torch
from finetune.predict import PredictSettings, WBModel
from retrieval.scenes import scene_spread


BRACKET_K = (2500.0, 12000.0)


# ---------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Predictors: anything with predict(catalog, blend=, progress=) -> DataFrame[id_global, Temperature, Tint]
# ---------------------------------------------------------------------------------------------------
def has_index(predictor: Any) -> bool:
    """Whether the predictor can blend with neighbours (a WBModel with its FAISS index loaded)."""
    return getattr(predictor, "index", None) is not None


def _predict(predictor: Any, catalog, blend: bool) -> pd.DataFrame:
    return predictor.predict(catalog, blend=blend, progress=False)


def subset_catalog(catalog, rows: np.ndarray):
    """In-memory Catalog of the given rows (table re-indexed, images sliced)."""
    rows = np.asarray(rows, np.int64)
    return dataclasses.replace(catalog, table=catalog.table.iloc[rows].reset_index(drop=True),
                               images=catalog.images[rows], image_paths=[catalog.image_paths[i] for i in rows],
                               image_failures={})


def _stack(base, images: list[np.ndarray], tables: list[pd.DataFrame]):
    """One in-memory Catalog holding several versions of the same photos (ids made unique: `id#v<j>`)."""
    parts = [t.assign(id_global=t["id_global"].astype(str) + f"#v{j}") for j, t in enumerate(tables)]
    return dataclasses.replace(base, table=pd.concat(parts, ignore_index=True), images=np.concatenate(images),
                               image_paths=list(base.image_paths) * len(images), image_failures={})


def _mean_sd(mired: np.ndarray, tint: np.ndarray, versions: int) -> dict[str, float]:
    """Predictions laid out version-major (V*n,) -> mean over photos of the per-photo sd (ddof 0)."""
    m, t = mired.reshape(versions, -1), tint.reshape(versions, -1)
    return {"sd_mired": float(m.std(0).mean()), "sd_tint": float(t.std(0).mean()),
            "p90_sd_mired": float(np.percentile(m.std(0), 90)), "p90_sd_tint": float(np.percentile(t.std(0), 90))}


def _to_uint8(x) -> np.ndarray:
    """float (B,3,H,W) [0,1] -> uint8 NHWC."""
    return (x.clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def consistency_metrics(predictor: Any, catalog, n_variants: int = 5, n_brackets: int = 6, max_photos: int = 200,
                        blend: bool | None = None, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Variant spread and as-shot bracket spread of `predictor` on a seeded subsample of `catalog`.

    catalog: a Catalog with images loaded at the size the predictor expects. blend: evaluate
    blending too (default: when the predictor has a neighbour index). Returns {"n_photos", "brackets_k",
    "variant": {"head"|"blend": {sd_mired, sd_tint, p90_...}}, "bracket": {...}, "bracket_asshot": {...}}.
    """
    import torch

    from pretrain.augment import WBViewAugment
    from pretrain.encoder import to_tensor

    if catalog.images is None:
        raise CatalogError(f"{catalog.csv_path}: consistency_metrics needs the images loaded (load_catalog)")
    ok = np.array([i not in catalog.image_failures for i in range(len(catalog))], bool)
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(ok)
    pick = np.sort(rng.choice(pool, size=min(len(pool), max_photos), replace=False))
    base = subset_catalog(catalog, pick)
    n = len(pick)
    modes = {"head": False}
    if (has_index(predictor) if blend is None else blend):
        modes["blend"] = True
    out: dict[str, Any] = {"n_photos": int(n), "n_variants": int(n_variants), "variant": {}, "bracket": {}}
    if n == 0:
        return out

    # (a) variants: the photo itself + n_variants WB-preserving views; pastes come from other photos
    # of the subsample (the augmenter's donors are the other images of the batch).
    x = to_tensor(base.images)
    aug = WBViewAugment(base.images.shape[1], seed=seed)
    views = [base.images] + [_to_uint8(aug(x)) for _ in range(n_variants)]
    variants = _stack(base, views, [base.table] * len(views))

    # (b) as-shot bracket: re-render from the photo's as-shot WB to each bracket temperature, tint kept.
    bracket_k = mired_to_kelvin(np.linspace(kelvin_to_mired(BRACKET_K[0]), kelvin_to_mired(BRACKET_K[1]), n_brackets))
    cur_t = base.table["currTemp"].to_numpy(np.float64)
    cur_tint = base.table["currTint"].to_numpy(np.float64)
    images, tables = [], []
    for k in bracket_k:
        m = rerender_matrix(cur_t, cur_tint, np.full(n, k), cur_tint)
        images.append(_to_uint8(rerender_torch(x, torch.from_numpy(m))))
        tables.append(base.table.assign(currTemp=float(k)))
    bracket = _stack(base, images, tables)
    out["brackets_k"] = [float(k) for k in bracket_k]
    # what predicting the as-shot value would do: the bracket's own spread (tint is unchanged)
    out["bracket_asshot"] = {"sd_mired": float(np.std(kelvin_to_mired(bracket_k))), "sd_tint": 0.0}

    jobs = [(probe, name, cat, len(views) if probe == "variant" else n_brackets)
            for probe, cat in (("variant", variants), ("bracket", bracket)) for name in modes]
    for probe, name, cat, versions in track(jobs, "consistency probes", progress):
        p = _predict(predictor, cat, modes[name])
        out[probe][name] = _mean_sd(kelvin_to_mired(p["Temperature"].to_numpy(np.float64)),
                                    p["Tint"].to_numpy(np.float64), versions)
    return out


def scene_spreads(model: WBModel, catalog: Any, joined: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Spread within scenes (retrieval.scenes: camera, capture-time gaps, canonical embedding), as
    `cli.py predict --consistency scene` groups these photos: each system's, and the photographer's
    own edits' ("labels") for scale. Scenes pulled with strength 0 still say how consistent a system is."""
    full = model.predict_full(catalog, PredictSettings(blend=has_index(model), smooth=True, consistency="scene",
                                                        progress=False))
    scene_of = pd.Series(full.scenes, index=catalog.table["id_global"].astype(str).to_numpy())
    out: dict[str, Any] = {"strength": float(model.scene_params.strength)}
    for name, df in joined.items():
        scenes = scene_of.reindex(df["id_global"].astype(str)).to_numpy()
        preds = df.rename(columns={"Temperature": "label_T", "Tint": "label_t"}).rename(
            columns={"pred_Temperature": "Temperature", "pred_Tint": "Tint"})
        out[name] = scene_spread(preds, scenes)
        out.setdefault("labels", scene_spread(df, scenes))
    return out
