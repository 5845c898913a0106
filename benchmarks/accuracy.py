"""The accuracy sections: the real release (grouped k-fold, plus the consistency of every system) and
the synthetic benchmark (its Train -> its Validation). Each returns one plain, JSON-ready dict.

real_section reads as its steps: load the catalog and its folds -> gradient-boosting baselines ->
SimCLR once on every photo -> the heads on every fold -> pooled metrics (MAE, ΔE00, flash slices) ->
the time-ordered split (older shoots train, the most recent dates test) -> consistency on fold 1.
synthetic_section: pretrain + finetune through cli.py -> the systems' Validation CSVs -> score.py.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.evaluate.probes import subset_catalog as subset
from core.runtime import one_openmp_thread
from benchmarks.harness import SHARED, Budget, Context, console, measured
from benchmarks.oracle import camera_oracles
from benchmarks.systems import (BLEND_BASE, BLEND_SYSTEM, GBM_SYSTEMS, HEAD_SYSTEMS, PRODUCT_SYSTEM, RECENCY_SYSTEM, GBM, AsShot,
                                Catalogs, csv_delta_e, finetune_cmd, finetune_fold, head_predictions, predict_cmd, pretrain_cmd, score,
                                write_fold)
from catalog.reader import TARGETS


# ---------------------------------------------------------------------------------------------------
# Stage 1's figures (both accuracy sections pretrain once and report them)
# ---------------------------------------------------------------------------------------------------
def pretrain_figures(folder: Path, run: dict[str, float]) -> dict[str, Any]:
    """Stage 1's measurements from a pretrain folder (its report, its encoder) and its measured process."""
    from pretrain.encoder import load_encoder

    report = json.loads((folder / "pretrain_report.json").read_text())
    encoder, _ = load_encoder(folder)
    files = [p for p in folder.glob("encoder.*") if p.is_file()]
    return {"run": run, "epochs": report["epochs_trained"], "seconds_per_epoch": report["seconds_per_epoch"],
            "images_per_s": report["images_per_s"], "n_images": report["n_images"],
            "params": int(sum(p.numel() for p in encoder.parameters())),
            "encoder_files": sorted(p.name for p in files), "encoder_mb": sum(p.stat().st_size for p in files) / 1e6,
            "initial": report["initial_eval"], "final": report["final_eval"], "hardware": report["hardware"]}


# ---------------------------------------------------------------------------------------------------
# Section: accuracy on the real release, grouped k-fold cross-validation
# ---------------------------------------------------------------------------------------------------
RECENT_FRACTION = 0.2  # the time-ordered split tests on the most recent 20 % of shoot dates (core.splits)
# the heads fitted on the time-ordered split: the pretrained ones (the from-scratch head is the slow comparison
# of section 1 and says nothing about recency)
TIME_SYSTEMS = [name for name, (_, encoder, _) in HEAD_SYSTEMS.items() if encoder == "pretrained"]


@dataclass
class RealRun:
    """The state real_section's steps share: the catalog, its folds, and what each system predicted."""
    root: Path
    budget: Budget
    work: Path
    quick: bool
    catalogs: Catalogs
    cat: Any                                                     # the Train catalog at stage 1's image size
    folds: list[tuple[np.ndarray, np.ndarray]]
    groups: np.ndarray
    preds: dict[str, np.ndarray] = field(default_factory=dict)   # system -> (N, 2) Temperature, Tint
    seconds: dict[str, float] = field(default_factory=dict)
    models0: dict[str, Any] = field(default_factory=dict)        # head system -> its fold-1 WBModel


def real_section(ctx: Context) -> dict[str, Any]:
    from pretrain.train import PretrainConfig

    root, budget, work = ctx.real_root(), ctx.budget, ctx.work / "real"
    pre_cfg = PretrainConfig(data=root, out=work / "pretrained", progress=not ctx.quick, seed=0,
                             **{"threads": budget.threads, **budget.pretrain})
    run = _load_folds(root, budget, work, ctx.quick, pre_cfg.image_size)
    run.preds |= _gbm_predictions(run, run.folds, "")
    stage1 = _pretrain_all(run, pre_cfg)
    run.preds |= _head_predictions(run, run.folds, pre_cfg.out, "fold",
                                   [name for name, (_, _, b) in HEAD_SYSTEMS.items()
                                    if name != RECENCY_SYSTEM and getattr(budget, b) is not None])
    timed = _time_ordered(run, pre_cfg.out)
    # recency weighting costs five more fold models: measured on the grouped folds only where it helped on
    # the time-ordered split, the one place it could earn a default
    if _recency_helps(timed["results"]):
        run.preds |= _head_predictions(run, run.folds, pre_cfg.out, "fold", [RECENCY_SYSTEM])
        order = ["as-shot", *GBM_SYSTEMS, *HEAD_SYSTEMS, BLEND_SYSTEM, PRODUCT_SYSTEM]  # rows, as if all ran at once
        run.preds = {name: run.preds[name] for name in sorted(run.preds, key=order.index)}
    return {"n": len(run.cat), "n_shoots": len(set(run.groups)), "fold_sizes": [len(va) for _, va in run.folds],
            "results": _pooled_metrics(run), "time_ordered": timed, "seconds": run.seconds,
            "consistency": _consistency(run, pre_cfg.image_size), "pretrain": json.loads(json.dumps(
                dataclasses.asdict(pre_cfg), default=str)), "stage1": stage1,
            "budgets": {nm: getattr(budget, v[2]) for nm, v in HEAD_SYSTEMS.items() if getattr(budget, v[2]) is not None}}


def _load_folds(root: Path, budget: Budget, work: Path, quick: bool, size: int) -> RealRun:
    from core.splits import grouped_kfold, shoot_groups

    catalogs = Catalogs(root, "Train", quick)
    cat = catalogs.at(size)
    table = cat.table
    groups = shoot_groups(table)
    folds = grouped_kfold(groups, budget.folds, seed=0)
    console.log(f"real release: {len(table)} labelled photos, {len(set(groups))} shoots, {len(folds)} folds "
                f"(validation sizes {[len(va) for _, va in folds]})")
    run = RealRun(root, budget, work, quick, catalogs, cat, folds, groups)
    run.preds["as-shot"] = table[["currTemp", "currTint"]].to_numpy(np.float64)
    return run


def _gbm_predictions(run: RealRun, splits: list[tuple[np.ndarray, np.ndarray]], what: str) -> dict[str, np.ndarray]:
    """finetune.train's gradient-boosting baselines on `splits`: (N, 2) Temperature, Tint (NaN outside
    the held-out rows); their seconds go to run.seconds under name + `what`."""
    from core.colour import colour_features
    from finetune.ensemble import make_specs, to_csv_units
    from finetune.train import baseline_gbm

    cat = run.cat
    specs = make_specs(TARGETS, cat.table.columns)
    cols = [[s.name for s in specs].index(t) for t in TARGETS]
    colour = colour_features(cat.images)
    out = {}
    for name, with_colour in GBM_SYSTEMS.items():
        t0 = time.perf_counter()
        with one_openmp_thread():
            units = baseline_gbm(cat.table, cat.exif_units, splits, specs, colour=colour if with_colour else None,
                                 seed=0)
        out[name] = to_csv_units(units, specs)[:, cols]
        run.seconds[name + what] = time.perf_counter() - t0
    return out


def _pretrain_all(run: RealRun, pre_cfg) -> dict[str, Any]:
    """SimCLR once on every photo, no labels (as a user would: the whole catalog is unlabelled input),
    through the CLI in its own process: wall time and that process's peak memory are stage 1's own."""
    overrides = {k: v for k, v in dataclasses.asdict(pre_cfg).items() if k not in ("data", "out")}
    measurement = measured(pretrain_cmd(run.root, Path(pre_cfg.out), {**overrides, "progress": False}),
                           run.work / "logs" / "pretrain.log")
    run.seconds["SimCLR pretraining (all photos, once)"] = measurement["wall_s"]
    return pretrain_figures(Path(pre_cfg.out), measurement)


def _head_predictions(run: RealRun, splits: list[tuple[np.ndarray, np.ndarray]], encoder_dir: Path, tag: str,
                      names: list[str], what: str = "") -> dict[str, np.ndarray]:
    """The head systems `names` trained on each split's training photos (WORK/<tag><k>/), predicting its
    held-out photos: (N, 2) Temperature, Tint each (NaN elsewhere), and BLEND_SYSTEM when BLEND_BASE is
    among them; their seconds go to run.seconds under name + `what`. The grouped folds (tag "fold") keep
    fold 1's models for the consistency probes."""
    from core.wb import mired_to_kelvin
    from finetune.train import FinetuneConfig

    cat = run.cat
    extra = [BLEND_SYSTEM, PRODUCT_SYSTEM] if BLEND_BASE in names else []
    out = {name: np.full((len(cat), 2), np.nan) for name in [*names, *extra]}
    for k, (tr, va) in enumerate(splits):
        fold_root = write_fold(cat, tr, run.work / f"{tag}{k}" / "data")
        for name in names:
            folder, encoder, overrides = HEAD_SYSTEMS[name]
            console.log(f"{tag} {k + 1}/{len(splits)}: {name}")
            model_dir = run.work / f"{tag}{k}" / folder
            cfg = FinetuneConfig(data=str(fold_root), encoder=str(encoder_dir) if encoder else "", out=str(model_dir),
                                 baselines=False, progress=not run.quick, seed=0,
                                 **{"threads": run.budget.threads, **getattr(run.budget, overrides)})
            t0 = time.perf_counter()
            finetune_fold(cfg, model_dir)  # a rerun keeps a fold model already trained exactly so
            run.seconds[name + what] = run.seconds.get(name + what, 0.0) + time.perf_counter() - t0
            model, p = head_predictions(model_dir, run.catalogs, va, encoder == "pretrained")
            out[name][va] = np.stack([mired_to_kelvin(p["head_mired"].to_numpy(np.float64)),
                                      p["head_tint"].to_numpy(np.float64)], 1)
            if name == BLEND_BASE:
                out[BLEND_SYSTEM][va] = p[["Temperature", "Tint"]].to_numpy(np.float64)
                # what `cli.py predict` writes for the held-out photos as one batch: blending, batch smoothing
                # and the scene pull, each at the strength the model's cross-fitting chose
                product = model.predict(subset(run.catalogs.at(model.image_size), va), blend=True, smooth=True,
                                        consistency="scene", progress=False)
                out[PRODUCT_SYSTEM][va] = product[["Temperature", "Tint"]].to_numpy(np.float64)
            if tag == "fold" and k == 0:
                run.models0[name] = model
    return out


def _delta_e(run: RealRun, preds: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per system, (N,) ΔE00 (catalog.delta_e) of each photo in `rows` between its canonical render at
    the prediction and at the edit; NaN elsewhere."""
    from core.canonical import to_reference
    from catalog.delta_e import render_delta_e_many

    t = run.cat.table.iloc[rows]
    canonical = to_reference(run.cat.images[rows], t["currTemp"].to_numpy(np.float64),
                             t["currTint"].to_numpy(np.float64))
    de = render_delta_e_many(canonical, t["Temperature"].to_numpy(np.float64), t["Tint"].to_numpy(np.float64),
                             {name: (p[rows, 0], p[rows, 1]) for name, p in preds.items()})
    out = {}
    for name, values in de.items():
        out[name] = np.full(len(run.cat), np.nan)
        out[name][rows] = values
    return out


def _figures(run: RealRun, p: np.ndarray, de: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """MAE figures (core.metrics) and ΔE00 mean / P75 / P90 of predictions p (N, 2) on `rows`."""
    from catalog.delta_e import summary
    from core.metrics import wb_metrics

    t = run.cat.table
    m = wb_metrics(t["Temperature"].to_numpy(np.float64)[rows], t["Tint"].to_numpy(np.float64)[rows], p[rows, 0],
                   p[rows, 1])
    return {**m, **{k: v for k, v in summary(de[rows]).items() if k != "n"}}


def _sliced_figures(run: RealRun, p: np.ndarray, de: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """_figures on `rows`, and per flash slice (core.slices: every row in one slice)."""
    from core.slices import flash_slice, slice_rows

    flash = flash_slice(run.cat.table.iloc[rows])
    return {**_figures(run, p, de, rows),
            "per_flash": {sl: _figures(run, p, de, rows[r]) for sl, r in slice_rows(flash).items()}}


def _pooled_metrics(run: RealRun) -> dict[str, dict[str, Any]]:
    """Figures of the out-of-fold predictions pooled over the folds (and per flash slice), plus each
    fold's own MAE and ΔE00 P75."""
    rows = np.arange(len(run.cat))
    de = _delta_e(run, run.preds, rows)
    results = {}
    for name, p in run.preds.items():
        per_fold = [_figures(run, p, de[name], va) for _, va in run.folds]
        results[name] = {**_sliced_figures(run, p, de[name], rows),
                         "fold_mae_mired": [f["mae_mired"] for f in per_fold],
                         "fold_mae_temp_k": [f["mae_temp_k"] for f in per_fold],
                         "fold_de00_p75": [f["de00_p75"] for f in per_fold]}
    return results


def _time_ordered(run: RealRun, encoder_dir: Path) -> dict[str, Any]:
    """Train on the older shoots, test on the most recent RECENT_FRACTION of shoot dates
    (core.splits.recent_holdout): as-shot, the GBMs and the pretrained heads (recency-weighted or not)."""
    from core.splits import recent_holdout

    tr, te = recent_holdout(run.cat.table, RECENT_FRACTION)
    dates = sorted({str(d) for d in run.cat.table["shoot"].iloc[te]})
    console.log(f"time-ordered: {len(tr)} older photos train, {len(te)} of {len(dates)} recent dates "
                f"({dates[0]} .. {dates[-1]}) test")
    preds = {"as-shot": run.preds["as-shot"], **_gbm_predictions(run, [(tr, te)], ", time-ordered"),
             **_head_predictions(run, [(tr, te)], encoder_dir, "recent", TIME_SYSTEMS, ", time-ordered")}
    de = _delta_e(run, preds, te)
    return {"n_train": int(len(tr)), "n_test": int(len(te)), "test_dates": dates, "fraction": RECENT_FRACTION,
            "results": {name: _sliced_figures(run, p, de[name], te) for name, p in preds.items()}}


def _recency_helps(results: dict[str, dict[str, Any]]) -> bool:
    """Whether the recency-weighted head beat the unweighted one on the time-ordered split, in MAE mired
    and in ΔE00 P75 both."""
    if RECENCY_SYSTEM not in results or BLEND_BASE not in results:
        return False
    a, b = results[BLEND_BASE], results[RECENCY_SYSTEM]
    return b["mae_mired"] < a["mae_mired"] and b["de00_p75"] < a["de00_p75"]


def _consistency(run: RealRun, size: int) -> dict[str, dict[str, Any]]:
    """Variant and as-shot bracket spread of every system on fold 1's validation photos."""
    from app.evaluate.probes import consistency_metrics

    tr0, va0 = run.folds[0]
    b = run.budget
    kw = dict(n_variants=b.n_variants, n_brackets=b.n_brackets, max_photos=b.consistency_photos, seed=0,
              progress=False)
    train0 = subset(run.cat, tr0)
    systems = [("as-shot", AsShot(), size, False),
               *[(name, GBM(train0, colour=c), size, False) for name, c in GBM_SYSTEMS.items()],
               *[(nm, run.models0[nm], run.models0[nm].image_size, nm == BLEND_BASE) for nm in HEAD_SYSTEMS
                 if nm in run.models0]]
    out: dict[str, dict[str, Any]] = {}
    blended: dict[str, Any] = {}
    for name, predictor, at, blend in systems:
        console.log(f"consistency: {name}")
        c = consistency_metrics(predictor, subset(run.catalogs.at(at), va0), blend=blend, **kw)
        common = {"n_photos": c["n_photos"], "brackets_k": c["brackets_k"]}
        out[name] = {"variant": c["variant"]["head"], "bracket": c["bracket"]["head"], **common}
        if blend:
            blended = {"variant": c["variant"]["blend"], "bracket": c["bracket"]["blend"], **common}
    return {**out, BLEND_SYSTEM: blended} if blended else out  # last, as in the accuracy table


# ---------------------------------------------------------------------------------------------------
# Section: the synthetic benchmark (its Train -> its Validation), trained through cli.py
# ---------------------------------------------------------------------------------------------------
def synthetic_section(ctx: Context) -> dict[str, Any]:
    from catalog.reader import read_catalog

    root, work = ctx.bench_root(), ctx.work / "bench"
    n_train = len(read_catalog(root, "Train"))
    n_val = len(read_catalog(root, "Validation", labels="ignore"))
    console.log(f"synthetic benchmark: Train {n_train}, Validation {n_val} photos")
    model, runs, stage1 = _train_bench_model(root, ctx.budget, work)
    csvs = _validation_predictions(root, model, work, ctx.budget, runs)
    if not ctx.quick:
        csvs |= _oracle_predictions(root, work)
    de = csv_delta_e(root, "Validation", root / "answers.csv", csvs)
    return {"n_train": n_train, "n_val": n_val, "n_pretrain_images": n_train + n_val, "runs": runs,
            "scores": {name: {**score(csv, root / "answers.csv"), **de[name]} for name, csv in csvs.items()},
            "model": str(model), "root": root.name, "stage1": stage1}


def _train_bench_model(root: Path, budget: Budget, work: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """`cli.py pretrain` then `cli.py finetune` into one model folder, each measured."""
    model, logs = work / "bench_model", work / "logs"
    quiet = {"threads": budget.threads, "progress": False}
    runs = {"pretrain": measured(pretrain_cmd(root, model, {**budget.pretrain, **quiet}), logs / "bench_pretrain.log")}
    stage1 = pretrain_figures(model, runs["pretrain"])  # before finetune writes its compact encoder there
    runs["finetune"] = measured(finetune_cmd(root, model, model, {**budget.finetune, **quiet}),
                                logs / "bench_finetune.log")
    return model, runs, stage1


def _validation_predictions(root: Path, model: Path, work: Path, budget: Budget,
                            runs: dict[str, Any]) -> dict[str, Path]:
    """As-shot, the head alone (in-process) and the product's answer exactly as a user gets it (the CLI)."""
    from catalog.reader import load_catalog
    from finetune.predict import WBModel

    wb = WBModel.load(model)
    val = load_catalog(root, "Validation", image_size=wb.image_size, labels="ignore", progress=False)
    csvs = {"as-shot": work / "pred_asshot.csv", "head, SimCLR-pretrained encoder": work / "pred_head.csv",
            PRODUCT_SYSTEM: work / "pred_product.csv"}
    val.table[["id_global", "currTemp", "currTint"]].rename(columns={"currTemp": "Temperature", "currTint": "Tint"}) \
        .to_csv(csvs["as-shot"], index=False)
    wb.predict(val, blend=False, progress=False)[["id_global", "Temperature", "Tint"]].to_csv(
        csvs["head, SimCLR-pretrained encoder"], index=False)
    quiet = {"threads": budget.threads, "progress": False}
    runs["predict Validation"] = measured(predict_cmd(root, model, csvs[PRODUCT_SYSTEM], "Validation", True, quiet),
                                          work / "logs" / "bench_predict_validation.log")
    return csvs


def _oracle_predictions(root: Path, work: Path) -> dict[str, Path]:
    """What the inputs allow at best: oracles that know the generator (diagnostic rows)."""
    generator = SHARED / "bench" / "make_wb_bench.py"
    if not (generator.is_file() and (generator.parent / "photos").is_dir()):
        return {}
    csvs = {}
    for name, pred in camera_oracles(root, generator, generator.parent / "photos").items():
        csvs[name] = work / f"pred_oracle_{len(csvs)}.csv"
        pred.to_csv(csvs[name], index=False)
    return csvs
