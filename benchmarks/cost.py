"""The cost section: what the product costs on this CPU, once per instruction-set column.

Each column (harness.ISA_ENV: "native", and "avx2" = this CPU capped with ONEDNN_MAX_CPU_ISA=AVX2
ATEN_CPU_CAPABILITY=avx2) runs, as a user would, through cli.py in measured subprocesses:

    hardware probe   torch's CPU capability and the bf16 decision under the column's environment
    pretrain         `cli.py pretrain` on the synthetic benchmark (both splits, no labels)
    finetune         `cli.py finetune` on its Train
    finetune, real   `cli.py finetune` on the real release (the real section's encoder), when that ran
    predict          `cli.py predict` (blending + smoothing on) on the Train list replicated to
                     Budget.predict_photos photos, TIFF files to CSV, start-up included
    decode only      the physical reference: the same TIFFs read and resized to the model's input size
                     (catalog.images.load_images, no model); predict ÷ decode-only shows what the model costs
    single photo     one TIFF -> CSV (full run only)
    demo             `cli.py demo` into a fresh folder

Every column predicts with the same model files (the first column's that trained), so only the
ISA differs. FAISS query time and the model's size are measured once. The targets (issue #13) are
stored with the result: those of the bf16 path where the column's stages use bf16, else the fp32
(AVX2 laptop) targets.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from benchmarks.harness import ISA_ENV, Context, console, hardware, measured
from benchmarks.systems import demo_cmd, finetune_cmd, predict_cmd, pretrain_cmd, write_fold

# Issue #13's targets on 2 cores, by the precision the column's stages run in.
TARGETS = {
    "fp32": {"pretrain_s": 300.0, "train_s": 360.0, "predict_ips": 500.0, "demo_s": 60.0},
    "bf16": {"pretrain_s": 150.0, "train_s": 360.0, "predict_ips": 1000.0, "demo_s": 60.0},
}
TARGET_DECODE_RATIO = 0.5   # predict end to end ÷ decode-only rate of the same TIFFs
TARGET_MODEL_MB = 4.0       # the files of the model folder that predict reads
TARGET_PEAK_MB = 2048.0     # peak resident memory of any stage
# `cli.py finetune` on the real release (1,872 photos, the real section's encoder), cross-fitting included
TARGET_FINETUNE_REAL_S = {"native": 150.0, "avx2": 200.0}


def cost_section(ctx: Context) -> dict[str, Any]:
    root, work = ctx.bench_root(), ctx.work / "cost"
    many = _replicated_catalog(root, ctx.budget.predict_photos, work / "predict_list")
    columns: dict[str, dict[str, Any]] = {}
    predict_model: Path | None = None
    for isa in ctx.isas:
        console.rule(f"cost: {isa} ({' '.join(f'{k}={v}' for k, v in ISA_ENV[isa].items()) or 'no caps'})")
        col = _isa_column(ctx, isa, root, many, work / isa, predict_model)
        if predict_model is None and "model" in col:
            predict_model = Path(col["model"])
        columns[isa] = col
    shared = _model_figures(predict_model) if predict_model else {"error": "no column trained a model"}
    shared["install"] = _install_sizes(work / "install") if not ctx.quick else {"not_run": "--quick"}
    return {"n_pretrain_images": _count(root, "Train") + _count(root, "Validation"), "n_train": _count(root, "Train"),
            "n_predict": ctx.budget.predict_photos, "n_unique_predict": many["n_unique"], "columns": columns,
            "model_figures": shared, "targets": {"by_precision": TARGETS, "decode_ratio": TARGET_DECODE_RATIO,
                                                 "model_mb": TARGET_MODEL_MB, "peak_mb": TARGET_PEAK_MB,
                                                 "finetune_real_s": TARGET_FINETUNE_REAL_S}}


def _install_sizes(work: Path) -> dict[str, Any]:
    """Disk taken by the predict-only install (README: `pip install -e .` into a fresh venv, no torch),
    measured by making it, against the environment this run trains in (the training install)."""
    import subprocess
    import sys

    def size_mb(folder: Path) -> float:
        return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20

    shutil.rmtree(work, ignore_errors=True)
    venv = work / "lean"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    log = work / "pip.log"
    with open(log, "w") as fh:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(Path(__file__).resolve().parents[1])],
                       check=True, stdout=fh, stderr=subprocess.STDOUT)
    out = {"lean_mb": size_mb(venv), "training_mb": size_mb(Path(sys.prefix))}
    shutil.rmtree(venv, ignore_errors=True)
    return out


def _count(root: Path, split: str) -> int:
    from catalog.reader import read_catalog
    return len(read_catalog(root, split, labels="ignore"))


def _replicated_catalog(root: Path, n: int, dest: Path) -> dict[str, Any]:
    """The Train photos listed over and over up to `n` (a second copy gets the id `<id>~2`), on disk."""
    from catalog.reader import read_catalog

    cat = read_catalog(root, "Train")
    rows = np.resize(np.arange(len(cat)), n)
    folder = write_fold(cat, rows, dest)
    return {"root": folder, "n": n, "n_unique": len(cat)}


def _step(col: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    """Run one measurement of a column. A command that fails (e.g. an abort on the capped ISA) is
    recorded as that cell's error, so one failure does not cost the column's other figures."""
    try:
        col[name] = fn()
        return col[name]
    except RuntimeError as e:
        console.log(f"[red]{name}: {e}")
        col[name] = {"error": str(e).splitlines()[0]}
        return None


def _isa_column(ctx: Context, isa: str, root: Path, many: dict[str, Any], work: Path,
                predict_model: Path | None) -> dict[str, Any]:
    """Every cost figure of one ISA column (see the module docstring)."""
    env, budget, logs = ISA_ENV[isa], ctx.budget, work / "logs"
    quiet = {"threads": budget.threads, "progress": False}
    col: dict[str, Any] = {"isa": isa, "hardware": hardware(isa), "load_start": list(os.getloadavg())}
    model = work / "model"
    trained = _step(col, "pretrain", lambda: measured(pretrain_cmd(root, model, {**budget.pretrain, **quiet}),
                                                       logs / "pretrain.log", env))
    if trained:
        report = json.loads((model / "pretrain_report.json").read_text())  # what the run itself recorded
        col["pretrain_bf16"] = bool(report["hardware"]["bf16_autocast"])  # the bf16 decision it took
        col["pretrain_curve"] = _pretrain_curve(report)
        if _step(col, "finetune", lambda: measured(finetune_cmd(root, model, model, {**budget.finetune, **quiet}),
                                                   logs / "finetune.log", env)):
            col["model"] = model
    real_encoder = ctx.work / "real" / "pretrained"  # the real section's, when it ran in this work folder
    if ctx.quick or not (real_encoder / "pretrain_report.json").is_file():
        col["finetune_real"] = {"not_run": "--quick" if ctx.quick else "the real section's encoder is absent"}
    else:
        _step(col, "finetune_real", lambda: measured(
            finetune_cmd(ctx.real_root(), real_encoder, work / "real_model", {**budget.finetune, **quiet}),
            logs / "finetune_real.log", env))
    predict_model = predict_model or col.get("model")
    if predict_model is None:
        col["predict"] = {"not_run": "no column trained a model"}
    else:
        col["predict_model"] = str(predict_model)
        _step(col, "predict", lambda: _predict_many(many, predict_model, work, quiet, env))
        col["decode_only"] = _decode_only(many["root"], predict_model, budget.threads)
        if ctx.quick:  # saves a subprocess (~15 s of imports on a busy 2-core machine)
            col["single"] = {"not_run": "--quick"}
        else:
            _step(col, "single", lambda: _predict_one(root, predict_model, work, quiet, env))
    _step(col, "demo", lambda: _demo(work / "demo", budget.demo, logs, env))
    col["load_end"] = list(os.getloadavg())
    if "model" in col:
        col["model"] = str(col["model"])
    return col


def _pretrain_curve(report: dict[str, Any]) -> list[dict[str, float]]:
    """The epochs lever, from the pretrain run's own report: at each measured epoch the seconds spent
    so far, the held-out view retrieval top-1 and the nearest neighbour's edit difference (mired)."""
    out, spent = [], 0.0
    for h in report["history"]:
        spent += float(h["seconds"])
        if "view_top1" in h:
            out.append({"epoch": int(h["epoch"]), "seconds": spent, "view_top1": float(h["view_top1"]),
                        "nn_dmired": float(h.get("nn_dmired", float("nan")))})
    return out


def _predict_many(many: dict[str, Any], model: Path, work: Path, quiet: dict, env: dict) -> dict[str, Any]:
    out = work / "pred_many.csv"
    run = measured(predict_cmd(many["root"], model, out, "Train", True, quiet), work / "logs" / "predict.log", env)
    rows = len(pd.read_csv(out))
    if rows != many["n"]:
        raise RuntimeError(f"predict wrote {rows} rows for {many['n']} photos ({out})")
    return {**run, "ips": many["n"] / run["wall_s"]}


def _predict_one(root: Path, model: Path, work: Path, quiet: dict, env: dict) -> dict[str, Any]:
    from catalog.reader import read_catalog

    one = write_fold(read_catalog(root, "Train"), np.array([0]), work / "one_photo")
    return measured(predict_cmd(one, model, work / "pred_one.csv", "Train", True, quiet),
                    work / "logs" / "predict_one.log", env)


def _decode_only(root: Path, model: Path, workers: int) -> dict[str, Any]:
    """The physical reference: read + resize the same TIFFs to the model's input size, no model, with
    as many decoding threads as the stages have cores (the page cache is as warm as predict's)."""
    from catalog.images import load_images
    from catalog.reader import read_catalog
    from finetune.predict import WBModel

    size = WBModel.load(model).image_size
    paths = read_catalog(root, "Train").image_paths
    t0 = time.perf_counter()
    load_images(paths, size, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "ips": len(paths) / wall, "size": size, "workers": workers}


def _demo(out: Path, overrides: dict[str, Any], logs: Path, env: dict) -> dict[str, Any]:
    """`cli.py demo` into a fresh folder: every stage on the embedded demo catalog, as a new user runs it;
    with the demo's own evaluation of its unseen photos (as-shot, head, and what predict wrote)."""
    shutil.rmtree(out, ignore_errors=True)
    run = measured(demo_cmd(out, overrides), logs / "demo.log", env)
    ev = json.loads((out / "model" / "eval" / "evaluation.json").read_text())
    keep = ("mae_temp_k", "mae_mired", "mae_tint", "n")
    run["evaluation"] = {"primary": ev["primary"], "systems": {
        name: {**{k: sys["overall"][k] for k in keep}, **{k: v for k, v in (sys.get("delta_e") or {}).get(
            "overall", {}).items() if k in ("de00_mean", "de00_p75", "de00_p90")}}
        for name, sys in ev["systems"].items()}}
    return run


def _model_figures(model: Path) -> dict[str, Any]:
    """FAISS query time (batch and one at a time) and the size of the files predict reads."""
    from retrieval.index import NeighborIndex

    index = NeighborIndex.load(model)
    v = index.vectors()
    k = min(8, len(index))
    t0 = time.perf_counter()
    index.search_normalized(v, k)
    batch_us = (time.perf_counter() - t0) / len(v) * 1e6
    singles = []
    for i in range(min(200, len(v))):
        t0 = time.perf_counter()
        index.search_normalized(v[i:i + 1], k)
        singles.append(time.perf_counter() - t0)
    files = _model_files(model)
    return {"faiss_batch_us": batch_us, "faiss_single_us": float(np.median(singles)) * 1e6, "faiss_n": len(index),
            "faiss_k": k, "faiss_kind": type(index.index).__name__ if hasattr(index, "index") else "faiss",
            "files": {p.name: p.stat().st_size for p in files}, "model_mb": sum(p.stat().st_size for p in files) / 2**20,
            "encoder": _encoder_figures(model)}


def _encoder_figures(model: Path, n: int = 512, repeats: int = 3) -> dict[str, Any]:
    """The int8 lever (issue #13), measured: the model's stored graph against the float32 export of the
    same float16 weights (encoder.safetensors), each on one onnxruntime thread, best of `repeats`
    passes over the same `n` photo-like images; and how far apart their embeddings are."""
    import tempfile

    from pretrain.encoder import ENCODER_FILE, load_encoder
    from pretrain.onnx import ONNX_FILE, OnnxEncoder, export_onnx

    enc, blob = load_encoder(model / ENCODER_FILE)
    size = int(enc.image_size)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, size)[None, :, None, None] * rng.uniform(-60, 60, (n, 1, 1, 3))
    images = np.clip(rng.uniform(40, 210, (n, 1, 1, 3)) + ramp + rng.normal(0, 8, (n, size, size, 3)),
                     0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        graphs = {"stored": OnnxEncoder(model / ONNX_FILE, threads=1),
                  "float32": OnnxEncoder(export_onnx(enc, Path(tmp) / "float32.onnx"), threads=1)}
        out, ms = {}, {}
        for name, g in graphs.items():
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                out[name] = g.embed(images, batch_size=128)
                best = min(best, time.perf_counter() - t0)
            ms[name] = best / n * 1e3
    diff = float(np.abs(out["stored"] - out["float32"]).mean() / np.abs(out["float32"]).mean())
    return {"graph": blob.get("graph", "float32"), "stored_ms": ms["stored"], "float32_ms": ms["float32"],
            "relative_difference": diff, "n": n, "image_size": size}


def _model_files(model: Path) -> list[Path]:
    """The files a model folder's manifest lists (and the manifest), or, for a folder without one,
    encoder.pt + head.pt + neighbors.*: the model predict reads, not the reports beside it."""
    manifest = model / "manifest.json"
    if manifest.is_file():
        names = json.loads(manifest.read_text())["files"]
        return sorted([model / n for n in names] + [manifest])
    return sorted(p for p in [model / "encoder.pt", model / "head.pt", *model.glob("neighbors.*")] if p.is_file())
