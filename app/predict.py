"""`cli.py predict`: a model folder + a catalog -> `id_global,Temperature,Tint`, one row per input row.

Reads top to bottom: threads, load the model (finetune.predict.WBModel), read the catalog's table
(the model decodes the images itself, overlapping decoding with embedding), predict, write the CSV.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from catalog.errors import CatalogError
from catalog.reader import read_catalog, resolve_split
from finetune.predict import ON_ERROR, WBModel
from retrieval.scenes import write_scenes


@dataclass
class PredictConfig:
    data: Path = field(default=Path(""), metadata={"help": "Catalog root (ROOT/Validation, ROOT/Train) or a folder with images/ and one CSV."})
    model: Path = field(default=Path("artifacts/model"), metadata={"help": "Model folder written by `finetune` (encoder, head, neighbour index)."})
    out: Path = field(default=Path("predictions.csv"), metadata={"help": "Output CSV: id_global,Temperature,Tint, one row per input row, input order."})
    split: str = field(default="auto", metadata={"help": "'auto' (Validation if ROOT/Validation exists, else the single folder), 'Train', 'Validation' or 'folder'."})
    blend_neighbors: bool = field(default=True, metadata={"help": "Pull predictions towards similar training photos' edits (strength chosen on validation; 0 = off)."})
    k: int = field(default=0, metadata={"help": "Neighbours consulted when blending; 0 = the model's setting."})
    smooth: bool = field(default=True, metadata={"help": "Make near-duplicate photos of this batch agree (strength chosen on validation; 0 = off)."})
    consistency: str = field(default="scene", metadata={"help": "'scene': group the photos into scenes (camera, capture-time gaps, look) and pull each towards its scene's median, with the strength chosen on validation (0, said in finetune's report, when it does not help); the scene of each photo goes to OUT's side file OUT.scenes.csv. 'off': neither."})
    on_error: str = field(default="raise", metadata={"help": "Unreadable image: 'raise' (stop with the file name) or 'metadata-only' (predict from metadata, warn)."})
    batch_size: int = field(default=128, metadata={"help": "Images embedded per batch."})
    device: str = field(default="auto", metadata={"help": "Where the encoder runs: 'auto' (onnxruntime's CUDA provider when installed, else the CPU), 'cpu' or 'cuda'."})
    workers: int = field(default=1, metadata={"help": "Image decoding threads (they share one core with the colour statistics; more only help on more cores)."})
    threads: int = field(default=2, metadata={"help": "Cores to use: one decodes images, the encoder gets the others (at least one)."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})


def run_predict(cfg: PredictConfig) -> Path:
    t0 = time.time()
    if cfg.on_error not in ON_ERROR:
        raise CatalogError(f"on_error must be one of {ON_ERROR}, got {cfg.on_error!r}")
    model = WBModel.load(cfg.model, threads=cfg.threads, device=cfg.device)
    split = resolve_split(cfg.data, cfg.split)
    cat = read_catalog(cfg.data, split, targets=tuple(model.targets), labels="ignore")
    full = model.predict_full(cat, blend=cfg.blend_neighbors, k=cfg.k or None, on_error=cfg.on_error,
                              progress=cfg.progress, smooth=cfg.smooth, batch_size=cfg.batch_size,
                              workers=cfg.workers, consistency=cfg.consistency)
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
