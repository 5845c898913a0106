"""`cli.py predict`: a model folder + a catalog -> `id_global,Temperature,Tint`, one row per input row.

Reads top to bottom: threads, load the model (finetune.predict.WBModel), read the catalog's table
(the model decodes the images itself, overlapping decoding with embedding), predict, write the CSV.
"""
from __future__ import annotations

import gc
import time
from pathlib import Path

from app.options import PredictConfig
from core.errors import CatalogError
from core.parallel import PARALLEL
from catalog.reader import read_catalog, resolve_split
from core.runtime import keep_freed_memory
from finetune.predict import PredictSettings, WBModel
from retrieval.scenes import write_scenes


def parse_strength(value: str | float, option: str) -> float | None:
    """'auto' -> None (the model's own choice); else a strength in [0, 1]."""
    if str(value).strip().lower() == "auto":
        return None
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not 0.0 <= x <= 1.0:
        raise CatalogError(f"{option}: expected 'auto' or a number from 0 to 1, got {value!r}")
    return x


def run_predict(cfg: PredictConfig) -> Path:
    t0 = time.time()
    settings = PredictSettings(blend=cfg.blend_neighbors, k=cfg.k or None, smooth=cfg.smooth,
                               consistency=cfg.consistency, on_error=cfg.on_error, batch_size=cfg.batch_size,
                               workers=cfg.workers, progress=cfg.progress,
                               keep_embeddings=False)  # per photo only its index-space vector: memory flat
    if cfg.parallel not in PARALLEL:
        raise CatalogError(f"--parallel must be one of {PARALLEL}, got {cfg.parallel!r}")
    keep_freed_memory()  # this process and its forked workers are predict's (in the demo: the stages after it too)
    model = WBModel.load(cfg.model, threads=cfg.threads, device=cfg.device, parallel=cfg.parallel,
                         blend_strength=parse_strength(cfg.blend_strength, "--blend-strength"),
                         edit_strength=parse_strength(cfg.edit_strength, "--edit-strength"))
    split = resolve_split(cfg.data, cfg.split)
    cat = read_catalog(cfg.data, split, targets=tuple(model.targets), labels="ignore")
    # What is loaded lives until the end: the cyclic collector need not walk it again at every
    # collection (tifffile's per-file objects trigger many), and forked workers leave its pages shared.
    gc.freeze()
    try:
        full = model.predict_full(cat, settings)
    finally:
        gc.unfreeze()  # run in-process (demo, tests): later garbage cycles among those objects are collected again
    pred = full.table
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pred[["id_global"] + model.targets].to_csv(out, index=False)
    if full.scenes is not None:  # the submission CSV keeps its columns; scenes go to a side file
        write_scenes(out, pred["id_global"], full.scenes)
    dt = time.time() - t0
    if cfg.progress:
        print(f"wrote {len(pred):,} predictions to {out} in {dt:.1f} s ({len(pred) / max(dt, 1e-9):.0f} photos/s)")
    return out
