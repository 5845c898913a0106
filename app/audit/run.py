"""Consistency audits as pictures: each photo next to its nearest training photos at the edits the
photographer gave them, and a list of training edits that disagree with their own near-duplicates.

Why pictures: a white-balance error is a colour, and a table of Kelvin numbers hides whether the
model was wrong or the photographer was inconsistent. A grid answers that at a glance:

    row 1   the photo as shot | re-rendered at the predicted WB | at the photographer's edit (if labelled)
    rows 2+ its k nearest training photos, each re-rendered from its as-shot WB to its edit

All tiles are re-read from disk at full tile size (the model's 96-128 px inputs are too small to
judge colour) and re-rendered with core.wb.rerender, the same von Kries transform the rest of the
system uses. `OUT/index.html` lists every grid in a sortable table; `OUT/anomalies.csv` (+ grids)
lists training photos whose edit is far from their near-duplicates' (retrieval.blend.find_anomalies)
— label noise that the model can only learn to average over.

Which photos: --ids, else the --worst N by rendered colour difference (ΔE00 between the photo at the
predicted and at the photographer's white balance, as `evaluate` computes it) when the audited split has
labels, else the N whose head prediction disagrees most with what their neighbours' edits suggest.
"""
from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import Any

import numpy as np

from app.audit.audited import Audited, load_audited
from app.audit.grids import anomaly_grids, load_tile, photo_grids
from app.audit.page import anomalies_section, photos_section, write_page
from app.evaluate.breakdowns import photo_delta_e
from app.options import AuditConfig
from catalog.answers import read_wb_csv
from catalog.reader import TARGETS
from core.errors import CatalogError
from core.artifacts import write_json
from core.runtime import provenance, seed_everything
from core.wb import kelvin_to_mired
from retrieval.blend import BlendParams, find_anomalies, neighbour_mean




# ---------------------------------------------------------------------------------------------------
# Data: which split, labels, the training photos behind the index
# ---------------------------------------------------------------------------------------------------
def query_labels(catalog: Any, answers: Path | None) -> np.ndarray | None:
    """(N, 2) Temperature (K) / Tint edits of the audited photos (NaN where unknown), or None when none is known.

    From the split's own Temperature/Tint columns, else from an answers CSV (id_global,Temperature,
    Tint; read and checked by catalog.answers.read_wb_csv) — Validation CSVs carry no labels."""
    table = catalog.table
    if catalog.has_labels(TARGETS):
        t = table[list(TARGETS)].to_numpy(np.float64)
    elif answers is not None:
        a = read_wb_csv(answers, "answers")
        t = a.set_index("id_global").reindex(table["id_global"].astype(str))[list(TARGETS)].to_numpy(np.float64)
        if not np.isfinite(t).any():
            return None
    else:
        return None
    return t


# ---------------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------------
def _blend_params(model: Any) -> BlendParams:
    """The model's fitted blend mode/tau (for the disagreement ranking), defaults if it has none."""
    bp = getattr(model, "blend_params", None)
    if isinstance(bp, BlendParams):
        return bp
    if isinstance(bp, dict):
        names = {f.name for f in dataclasses.fields(BlendParams)}
        return BlendParams(**{k: v for k, v in bp.items() if k in names})
    return BlendParams()


def _select(cfg: AuditConfig, ids: list[str], delta_e: np.ndarray | None, disagreement: np.ndarray) -> list[int]:
    if cfg.ids:
        wanted = [s.strip() for s in cfg.ids.split(",") if s.strip()]
        pos = {v: i for i, v in enumerate(ids)}
        missing = [w for w in wanted if w not in pos]
        if missing:
            raise CatalogError(f"--ids: {len(missing)} id(s) not in the audited split: {', '.join(missing[:8])}")
        return [pos[w] for w in wanted]
    score = delta_e if delta_e is not None else disagreement
    score = np.where(np.isfinite(score), score, -np.inf)
    return [int(i) for i in np.argsort(-score, kind="stable")[:max(cfg.worst, 0)]]


def _fresh_output(out: Path) -> None:
    """OUT/grids and OUT/anomalies, emptied of an earlier audit's pictures (no page would list them)."""
    for sub in ("grids", "anomalies"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for old in (out / sub).glob("*.png"):
            old.unlink()
    load_tile.cache_clear()


def delta_e_scores(a: Audited, labels: np.ndarray) -> np.ndarray:
    """(N,) ΔE00 of each photo between its renders at the prediction and at the edit, exactly as
    `evaluate` computes it (app.evaluate.breakdowns.photo_delta_e); NaN where the edit is unknown."""
    rows = np.flatnonzero(np.isfinite(labels).all(1))
    out = np.full(len(labels), np.nan)
    if len(rows):
        joined = a.catalog.table.iloc[rows].reset_index(drop=True).assign(
            Temperature=labels[rows, 0], Tint=labels[rows, 1],
            pred_Temperature=a.pred["Temperature"].to_numpy(np.float64)[rows],
            pred_Tint=a.pred["Tint"].to_numpy(np.float64)[rows])
        out[rows] = photo_delta_e(a.catalog, {"predicted": joined})[0]["predicted"]
    return out


def audit_scores(cfg: AuditConfig, a: Audited) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """(labels (N, 2) K/tint or None, ΔE00 per photo or None, head-vs-neighbours disagreement): the
    largest colour differences are audited when labels are known, else the largest disagreements."""
    data, table = Path(cfg.data), a.catalog.table
    answers = cfg.answers if cfg.answers is not None else (data / "answers.csv" if (data / "answers.csv").is_file()
                                                           else None)
    labels = query_labels(a.catalog, answers if a.split != "Train" else None)
    delta_e = None if labels is None else delta_e_scores(a, labels)
    bp = _blend_params(a.model)
    asshot = np.c_[kelvin_to_mired(table["currTemp"].to_numpy(np.float64)), table["currTint"].to_numpy(np.float64)]
    nb_mean, _ = neighbour_mean(asshot, a.sims, a.idx, a.index.edits, a.index.asshot, bp.mode, bp.tau, min_sim=-1.0)
    head = a.pred[["head_mired", "head_tint"]].to_numpy(np.float64)
    disagreement = np.nan_to_num(np.abs(head - nb_mean).sum(1), nan=0.0)
    return labels, delta_e, disagreement


def run_audit(cfg: AuditConfig) -> Path:
    """Grids of the worst (or chosen) photos and of the label anomalies, one sortable page, audit.json."""
    seed_everything(cfg.seed)
    out = Path(cfg.out) if cfg.out else Path(cfg.model) / "audit"
    _fresh_output(out)
    a = load_audited(cfg)
    labels, delta_e, disagreement = audit_scores(cfg, a)
    chosen = _select(cfg, a.ids, delta_e, disagreement)
    rows = photo_grids(cfg, a, out, chosen, labels, delta_e, disagreement)
    sections = [photos_section(rows, a.split, len(a.ids))]

    anomaly_rows: list[dict[str, Any]] = []
    n_anomalies = 0
    bp = _blend_params(a.model)
    if cfg.anomalies:
        anomalies = find_anomalies(a.index, None, k=cfg.k, min_sim=cfg.anomaly_min_sim, z=cfg.anomaly_z, mode=bp.mode)
        anomalies.to_csv(out / "anomalies.csv", index=False)
        n_anomalies = len(anomalies)
        anomaly_rows = anomaly_grids(cfg, a, anomalies, out)
        sections.append(anomalies_section(anomalies, anomaly_rows))

    in_sample = " These are training photos: their neighbours exclude themselves, but the model has seen them." \
        if a.split == "Train" else ""
    intro = (f"Model <code>{html.escape(str(cfg.model))}</code>, catalog <code>{html.escape(str(cfg.data))}</code> "
             f"({a.split}). Each grid: the photo as shot, at the predicted white balance, at the photographer's edit "
             f"(when known), then its {cfg.k} nearest training photos at their edits. Click a column to sort."
             + in_sample)
    page = write_page(out, "wbstyle consistency audit", intro, sections)
    write_json(out / "audit.json", {**provenance(cfg), "split": a.split, "n_photos": len(a.ids), "n_grids": len(rows),
                                    "labelled": labels is not None, "blend_params": dataclasses.asdict(bp),
                                    "photos": rows, "n_anomalies": n_anomalies,
                                    "anomaly_grids": [r["grid"] for r in anomaly_rows]})
    return page
