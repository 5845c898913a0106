"""Evaluate a white-balance model: how close it gets to the photographer's edits, and how consistent
it is on photos of one scene.

    python cli.py evaluate --data ROOT --model artifacts/run1                         # a labelled split
    python cli.py evaluate --data BENCH --answers BENCH/answers.csv --model artifacts/run1
    python cli.py evaluate --answers BENCH/answers.csv --pred predictions.csv          # score a CSV only

Reads top to bottom: options -> labels (a labelled split, or an answers CSV) -> predictions (the
model's head alone and with neighbour blending, or a predictions CSV; as-shot as the reference) ->
accuracy (overall, per camera, per temperature band, by as-shot temperature, flash / no flash) ->
rendered colour difference (ΔE00 per photo: its render at the prediction against its render at the
edit, catalog.delta_e; per shoot, camera and flash slice; OUT/delta_e.csv) -> consistency -> table,
OUT/evaluation.json, plots.

Why ΔE00 next to MAE: Kelvin and tint errors are not equally visible (300 K is a cast at 3,000 K and
next to nothing at 8,000 K); the colour difference of the two renders is what the photographer sees.

Why consistency figures next to MAE: MAE rewards a model that is right *on average*, yet two crops
of one scene with different edits is the first thing a photographer notices. Three probes:
  (a) variant spread: each photo and WB-preserving variants of it (crop, zoom out, flip, pasted
      object: pretrain.augment.WBViewAugment; as-shot metadata unchanged). The light did not
      change, so the edit should not: per-photo sd of predicted mired/tint, averaged.
  (b) as-shot bracket spread: the same capture re-rendered at as-shot temperatures 2,500–12,000 K
      (even steps in mired, tint unchanged; core.wb) with currTemp to match — as if the camera's
      auto-WB had guessed differently. The scene and so the edit are the same; a model that merely
      offsets the as-shot value has the bracket's own spread (reported as the as-shot reference).
  (c) shoot spread: sd of predictions within each shoot next to the labels' own sd — a model
      should be about as steady as the photographer, not noisier (and not flatter either).
(a) and (b) run on a seeded subsample (<= max_photos) so evaluation stays fast on a laptop.
`consistency_metrics` is public: benchmarks/run.py applies it to every system it compares, through
the one hook they share, `predictor.predict(catalog, blend=..., progress=...) -> DataFrame`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from app.evaluate.breakdowns import breakdowns, delta_e_breakdown, photo_delta_e
from app.evaluate.probes import consistency_metrics, has_index, scene_spreads
from app.evaluate.report import print_tables, write_plots
from app.options import EvaluateConfig
from catalog.answers import read_wb_csv
from catalog.reader import TARGETS, load_catalog, resolve_split
from core.errors import CatalogError
from core.artifacts import write_json
from core.runtime import provenance, seed_everything
from core.slices import flash_slice
from core.splits import shoot_groups
from core.wb import mired_to_kelvin
from finetune.predict import WBModel


DELTA_E_LOAD_SIZE = 96  # without a model: images read at the models' default input size (catalog.delta_e)


def _check_options(cfg: EvaluateConfig) -> None:
    if cfg.model is None and cfg.pred is None:
        raise CatalogError("evaluate: give --model (a model folder) or --pred (a predictions CSV)")
    if cfg.data is None and cfg.answers is None:
        raise CatalogError("evaluate: give --data (a labelled catalog) or --answers (an answers CSV)")
    if cfg.model is not None and cfg.data is None:
        raise CatalogError("evaluate: --model needs --data, the catalog whose photos it predicts")


def load_truth(cfg: EvaluateConfig, split: str) -> tuple[WBModel | None, Any, pd.DataFrame]:
    """(model or None, the catalog or None, truth: the labelled rows with their inputs). Labels come
    from the split's own columns, or from --answers joined on id_global."""
    model, catalog = None, None
    labels = "ignore" if cfg.answers is not None else "auto"
    if cfg.model is not None:
        model = WBModel.load(cfg.model, device=cfg.device)
        catalog = load_catalog(cfg.data, split, image_size=model.image_size, labels=labels, progress=cfg.progress)
    elif cfg.data is not None:  # images for the rendered colour difference, at the models' usual input size
        catalog = load_catalog(cfg.data, split, image_size=DELTA_E_LOAD_SIZE, labels=labels, progress=cfg.progress)
    if cfg.answers is None:
        if not catalog.has_labels(TARGETS):
            raise CatalogError(f"{catalog.csv_path}: split {split} has no Temperature/Tint labels on every row; "
                               "give --answers with the labels or choose a labelled --split")
        return model, catalog, catalog.table.copy()
    truth = read_wb_csv(cfg.answers, "answers")
    if catalog is not None:
        inputs = catalog.table.drop(columns=[c for c in TARGETS if c in catalog.table])
        extra = [c for c in truth.columns if c == "id_global" or c not in inputs.columns]
        truth = inputs.merge(truth[extra], on="id_global", how="inner")
        if truth.empty:
            raise CatalogError(f"{cfg.answers}: no id_global in common with {catalog.csv_path}")
    return model, catalog, truth


def system_predictions(cfg: EvaluateConfig, model: WBModel | None, catalog: Any,
                       truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """name -> DataFrame[id_global, Temperature, Tint]: as-shot, a predictions CSV, and the model's
    head, head + neighbours and what `cli.py predict` writes by default (the last is the primary)."""
    systems: dict[str, pd.DataFrame] = {}
    if "currTemp" in truth and "currTint" in truth:  # the camera's own guess: the floor to beat
        systems["as-shot"] = pd.DataFrame({"id_global": truth["id_global"], "Temperature": truth["currTemp"],
                                           "Tint": truth["currTint"]})
    if cfg.pred is not None:
        systems["predictions"] = read_wb_csv(cfg.pred, "predictions")
    if model is None:
        return systems
    blend = bool(cfg.blend and has_index(model))
    p = model.predict(catalog, blend=blend, progress=cfg.progress)
    # one pass gives both: the head's own output and the blended final answer
    systems["head"] = pd.DataFrame({"id_global": p["id_global"], "Temperature": mired_to_kelvin(p["head_mired"]),
                                    "Tint": p["head_tint"]})
    if blend:
        systems["head + neighbours"] = p[["id_global", "Temperature", "Tint"]]
        if model.smooth_params is not None:  # what `cli.py predict` writes by default
            q = model.predict(catalog, blend=True, smooth=True, progress=False)
            systems["head + neighbours + smoothing"] = q[["id_global", "Temperature", "Tint"]]
    return systems


def join_predictions(cfg: EvaluateConfig, truth: pd.DataFrame,
                     systems: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """name -> truth with pred_Temperature/pred_Tint; a labelled id without a prediction is an error."""
    joined: dict[str, pd.DataFrame] = {}
    for name, p in systems.items():
        p = p[["id_global", "Temperature", "Tint"]].rename(columns={"Temperature": "pred_Temperature",
                                                                    "Tint": "pred_Tint"})
        df = truth.merge(p, on="id_global", how="left")
        missing = df["pred_Temperature"].isna()
        if missing.any():
            raise CatalogError(f"{cfg.pred if name == 'predictions' else name}: no prediction for "
                               f"{int(missing.sum())} labelled ids, e.g. {df['id_global'][missing].iloc[0]!r}")
        joined[name] = df
    return joined


def run_evaluate(cfg: EvaluateConfig) -> dict[str, Any]:
    """Score predictions against labels; write OUT/evaluation.json and plots; return the result dict."""
    seed_everything(cfg.seed)
    _check_options(cfg)
    split = resolve_split(cfg.data, cfg.split, labelled=cfg.answers is None) if cfg.data is not None else (
        cfg.split if cfg.split != "auto" else "Validation")
    out = Path(cfg.out) if cfg.out else (Path(cfg.model) / "eval" if cfg.model else Path("eval"))
    model, catalog, truth = load_truth(cfg, split)
    systems = system_predictions(cfg, model, catalog, truth)
    primary = list(systems)[-1]

    # shoots by capture date; a benchmark's answers without dates still name their bursts
    groups = shoot_groups(truth)
    if all(str(g).startswith("row:") for g in groups) and "burst_id" in truth:
        groups = truth["burst_id"].astype(str).to_numpy()
    result: dict[str, Any] = {**provenance(cfg), "split": split, "n": int(len(truth)), "primary": primary,
                              "systems": {}, "plots": []}
    if split == "Train" and model is not None:
        result["note"] = ("evaluated on Train: optimistic if the model was trained on these photos (its neighbour "
                          "index then holds the photos themselves); evaluate a held-out catalog for honest figures")
        if cfg.progress:
            print(f"note: {result['note']}")
    joined = join_predictions(cfg, truth, systems)
    result["systems"] = {name: breakdowns(df, groups) for name, df in joined.items()}
    if catalog is not None and {"currTemp", "currTint"} <= set(truth.columns):
        de, renders = photo_delta_e(catalog, joined)
        for name, values in de.items():
            result["systems"][name]["delta_e"] = delta_e_breakdown(values, joined[name], groups)
        result["delta_e_renders"] = {k: int((renders == k).sum()) for k in ("canonical", "raw")}
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"id_global": truth["id_global"], "shoot": groups, "flash": flash_slice(truth), "render": renders,
                      **{f"de00 | {n}": v for n, v in de.items()}}).to_csv(out / "delta_e.csv", index=False)
    else:
        result["delta_e_note"] = "no ΔE00: needs --data (the photos) and their as-shot currTemp/currTint"
    if model is not None:
        result["scene_spread"] = scene_spreads(model, catalog, joined)
    if cfg.consistency and model is not None:
        result["consistency"] = consistency_metrics(model, catalog, cfg.n_variants, cfg.n_brackets, cfg.max_photos,
                                                    blend=bool(cfg.blend and has_index(model)), seed=cfg.seed,
                                                    progress=cfg.progress)
    out.mkdir(parents=True, exist_ok=True)
    result["plots"] = write_plots(result, joined, out)
    write_json(out / "evaluation.json", result)
    if cfg.progress:
        print_tables(result)
        print(f"evaluation: {out / 'evaluation.json'}")
    return result
