"""The systems the benchmarks compare, and the plumbing to train, run and score them.

Every in-process system predicts through `predict(catalog, blend=, progress=) -> DataFrame`, the hook
`app.evaluate.probes.consistency_metrics` uses: AsShot (the camera's guess), GBM (finetune's gradient-boosting
baselines), and WBModel (the product, loaded from a model folder). The product's own answer is also
taken exactly as a user gets it: `cli.py predict` through `predict_cmd`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.evaluate.probes import subset_catalog as subset
from core.runtime import one_openmp_thread
from benchmarks.harness import SHARED, cli
from catalog.reader import TARGETS
from cli import argv_for

BLEND_BASE = "head, SimCLR-pretrained encoder"  # the head whose blended answer is BLEND_SYSTEM
RECENCY_SYSTEM = "head, SimCLR-pretrained encoder, recency-weighted"  # BLEND_BASE with --recency-half-life
# name -> (folder, encoder: "pretrained" | "", Budget attribute with FinetuneConfig overrides)
HEAD_SYSTEMS = {
    "head, encoder trained from scratch in stage 2": ("scratch", "", "scratch"),
    BLEND_BASE: ("simclr", "pretrained", "finetune"),
    RECENCY_SYSTEM: ("simclr_recency", "pretrained", "recency"),
}
BLEND_SYSTEM = "head, SimCLR-pretrained + neighbour blending"
PRODUCT_SYSTEM = "head, SimCLR-pretrained + neighbour blending + batch smoothing (`cli.py predict` default)"
GBM_SYSTEMS = {"GBM, metadata": False, "GBM, metadata + grey-world": True}  # name -> with colour statistics


class AsShot:
    """The camera's own guess: the floor every learned system must beat."""
    index = None

    def predict(self, catalog, blend: bool = False, progress: bool = False) -> pd.DataFrame:
        t = catalog.table
        return pd.DataFrame({"id_global": t["id_global"], "Temperature": t["currTemp"], "Tint": t["currTint"]})


class GBM:
    """finetune.train.baseline_gbm (metadata, optionally + colour_features) trained on `train`, applied
    to any catalog: the train rows and the new rows form one table and one (train, new) split."""
    index = None

    def __init__(self, train, colour: bool, seed: int = 0):
        from finetune.ensemble import make_specs

        self.train, self.colour, self.seed = train, colour, seed
        self.specs = make_specs(TARGETS, train.table.columns)
        self.train_colour = self._colour(train.images) if colour else None

    @staticmethod
    def _colour(images: np.ndarray) -> np.ndarray:
        from core.colour import colour_features
        return colour_features(images)

    def predict(self, catalog, blend: bool = False, progress: bool = False) -> pd.DataFrame:
        from finetune.ensemble import to_csv_units
        from finetune.train import baseline_gbm

        n0, m = len(self.train.table), len(catalog.table)
        table = pd.concat([self.train.table, catalog.table], ignore_index=True)
        colour = np.concatenate([self.train_colour, self._colour(catalog.images)]) if self.colour else None
        with one_openmp_thread():
            units = baseline_gbm(table, self.train.exif_units, [(np.arange(n0), np.arange(n0, n0 + m))], self.specs,
                                 colour=colour, seed=self.seed)
        csv = to_csv_units(units[n0:], self.specs)
        names = [s.name for s in self.specs]
        return pd.DataFrame({"id_global": catalog.table["id_global"].to_numpy(),
                             "Temperature": csv[:, names.index("Temperature")], "Tint": csv[:, names.index("Tint")]})


def write_fold(catalog, rows: np.ndarray, dest: Path) -> Path:
    """A Train-only catalog on disk of the given rows: the original CSV rows, images linked.

    A row listed again is a second photo of the same file under the id `<id>~<copy>` (the cost section
    replicates the synthetic Train up to the 4,000 photos its predict target names)."""
    raw = pd.read_csv(catalog.csv_path, dtype=str, keep_default_na=False)
    img_dir = dest / "Train" / "images"
    shutil.rmtree(dest, ignore_errors=True)
    img_dir.mkdir(parents=True)
    out = raw.iloc[catalog.table["row"].to_numpy()[rows] - 1].reset_index(drop=True)
    seen: dict[int, int] = {}
    for j, i in enumerate(rows):
        copy = seen[i] = seen.get(i, 0) + 1
        src = Path(catalog.image_paths[i]).resolve()
        name = out.at[j, "id_global"] if copy == 1 else f"{out.at[j, 'id_global']}~{copy}"
        out.at[j, "id_global"] = name
        os.symlink(src, img_dir / f"{name}{src.suffix}")
    out.to_csv(dest / "Train" / "sliders.csv", index=False)
    return dest


def real_folds(root: Path, n_folds: int, fold_ids: str = "") -> tuple[pd.DataFrame, np.ndarray, list, list[int]]:
    """The real release's Train table, its shoots, the folds grouped by shoot date exactly as
    benchmarks/run.py makes them (core.splits, seed 0), and the folds to measure ("0,2": 0-based ids;
    empty: all)."""
    from catalog.reader import read_catalog
    from core.splits import grouped_kfold, shoot_groups

    table = read_catalog(root, "Train", labels="auto").table
    groups = shoot_groups(table)
    folds = grouped_kfold(groups, n_folds, seed=0)
    return table, groups, folds, [int(f) for f in fold_ids.split(",")] if fold_ids else list(range(len(folds)))


def trained_before(cfg, prior: Path | None) -> bool:
    """Whether `prior`, a model folder another section of the same run trained, is exactly the model
    `finetune` with `cfg` would make now: the same training rows (the fold's CSV, byte for byte), the
    same encoder (its file's SHA-256) and the same options (all but where data, model and progress bars go). The real-release
    sections (accuracy, few edits, bracket) measure the same product fold models; training them once
    saves two thirds of that time and changes no figure."""
    from core.runtime import provenance

    if prior is None or not (prior / "manifest.json").is_file() or not (prior / "finetune_report.json").is_file():
        return False
    stored = json.loads((prior / "finetune_report.json").read_text())["provenance"]["config"]
    now = provenance(cfg)["config"]
    skip = {"data", "out", "progress"}
    if {k: v for k, v in stored.items() if k not in skip} != {k: v for k, v in now.items() if k not in skip}:
        return False
    csvs = [Path(d) / "Train" / "sliders.csv" for d in (stored["data"], now["data"])]
    if not (all(c.is_file() for c in csvs) and csvs[0].read_bytes() == csvs[1].read_bytes()):
        return False
    if not now["encoder"]:  # a randomly initialised encoder: the seed (compared above) makes it
        return True
    from core.artifacts import sha256
    from pretrain.encoder import ENCODER_FILE

    source = Path(now["encoder"])
    source = source / ENCODER_FILE if source.is_dir() else source
    was = json.loads((prior / "finetune_report.json").read_text())["encoder"].get("sha256")
    return source.is_file() and was == sha256(source)  # the same encoder bytes, not only the same path


def finetune_fold(cfg, prior: Path | None) -> Path:
    """The model folder of `finetune` with `cfg`: `prior` when it was trained_before, else trained now
    into cfg.out."""
    from finetune.train import run_finetune

    if trained_before(cfg, prior):
        return Path(prior)
    run_finetune(cfg)
    return Path(cfg.out)


def fold_options(ap, work: str) -> None:
    """The command-line options of the per-fold real-release scripts (few_edits.py, asshot_tradeoff.py)."""
    ap.add_argument("--real", required=True, help="Real release restored in the product's layout (DIR/Train/...).")
    ap.add_argument("--work", default=work, help="Folder for folds, the encoder and models.")
    ap.add_argument("--encoder", help="Pretrained encoder folder (default: pretrain here on every photo).")
    ap.add_argument("--folds", type=int, default=5, help="Grouped folds of the real release.")
    ap.add_argument("--fold-ids", default="", help="Comma-separated folds to measure (0-based; default all).")
    ap.add_argument("--threads", type=int, default=2, help="Torch threads.")
    ap.add_argument("--quick", action="store_true", help="Tiny training budgets (tests).")
    ap.add_argument("--quiet", action="store_true", help="No progress bars.")
    ap.add_argument("--reuse-models", help="Folder of another section's product fold models (FOLDER/fold<k>/simclr), "
                                           "used where they are exactly the model this script would train.")


def fold_models(root: Path, folds: list, fold_ids: list[int], work: Path, make_model, log, what: str = "",
                progress: bool = False, reuse: str | Path | None = None):
    """Per fold in `fold_ids`: (fold, held-out rows, the fold's model, the Train catalog at the model's
    image size (loaded once), start time). `make_model(data, out, prior)` trains on the fold's Train-only
    catalog written to WORK/fold<k>/data (or takes `prior` = REUSE/fold<k>/simclr, see finetune_fold)
    and returns the loaded model."""
    import time

    from catalog.reader import load_catalog, read_catalog

    cat = None
    for k in fold_ids:
        tr, va = folds[k]
        t0 = time.time()
        log(f"fold {k + 1}/{len(folds)}: fine-tuning on {len(tr)} photos{what}")
        data = write_fold(read_catalog(root, "Train", labels="auto"), tr, work / f"fold{k}" / "data")
        model = make_model(data, work / f"fold{k}" / "model", Path(reuse) / f"fold{k}" / "simclr" if reuse else None)
        if cat is None:
            cat = load_catalog(root, "Train", image_size=model.image_size, labels="auto", progress=progress)
        yield k, va, model, cat, t0


class Catalogs:
    """The same split loaded once per image size (models with different encoders see different sizes)."""

    def __init__(self, root: Path, split: str, quick: bool):
        self.root, self.split, self.quick, self.by_size = root, split, quick, {}

    def at(self, size: int):
        from catalog.reader import load_catalog
        if size not in self.by_size:
            self.by_size[size] = load_catalog(self.root, self.split, image_size=size, progress=not self.quick)
        return self.by_size[size]


def head_predictions(model_dir: Path, catalogs: Catalogs, rows: np.ndarray, blend: bool) -> tuple[Any, pd.DataFrame]:
    """(WBModel, its predictions for `rows`) with and without neighbours in one pass."""
    from app.evaluate.probes import has_index
    from finetune.predict import WBModel

    model = WBModel.load(model_dir)
    cat = subset(catalogs.at(model.image_size), rows)
    return model, model.predict(cat, blend=blend and has_index(model), progress=False)


def score(pred_csv: Path, answers: Path) -> dict[str, Any]:
    """The benchmark's own score.py when the answers carry its clean labels; else core.metrics."""
    cols = pd.read_csv(answers, nrows=0).columns
    script = SHARED / "bench" / "score.py"
    if "Temperature_clean" in cols and script.is_file():
        r = subprocess.run([sys.executable, str(script), "--pred", str(pred_csv), "--answers", str(answers), "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"score.py failed on {pred_csv}: {r.stderr.strip()}")
        return {"scorer": "score.py", **json.loads(r.stdout)}
    from catalog.answers import read_wb_csv
    from core.metrics import wb_metrics
    truth = read_wb_csv(answers, "answers")
    df = truth.merge(read_wb_csv(pred_csv, "predictions"), on="id_global", suffixes=("", "_pred"))
    m = wb_metrics(df["Temperature"], df["Tint"], df["Temperature_pred"], df["Tint_pred"])
    return {"scorer": "core.metrics", "mae_temp": m["mae_temp_k"], "mae_tint": m["mae_tint"],
            "mae_mired": m["mae_mired"], "n": m["n"]}


def csv_delta_e(root: Path, split: str, answers: Path, csvs: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """ΔE00 mean / P75 / P90 of each predictions CSV on `split`'s photos against `answers`, exactly as
    `cli.py evaluate --answers` computes them (app.evaluate.run: the canonical render, or LibRaw for raw sources)."""
    from app.evaluate.breakdowns import photo_delta_e
    from app.evaluate.run import DELTA_E_LOAD_SIZE, join_predictions
    from app.options import EvaluateConfig
    from catalog.answers import read_wb_csv
    from catalog.delta_e import summary
    from catalog.reader import load_catalog

    cat = load_catalog(root, split, image_size=DELTA_E_LOAD_SIZE, labels="ignore", progress=False)
    inputs = cat.table.drop(columns=[c for c in TARGETS if c in cat.table])
    truth = inputs.merge(read_wb_csv(answers, "answers")[["id_global", *TARGETS]], on="id_global")
    joined = join_predictions(EvaluateConfig(), truth, {name: read_wb_csv(csv, name) for name, csv in csvs.items()})
    return {name: summary(de) for name, de in photo_delta_e(cat, joined)[0].items()}


# ---------------------------------------------------------------------------------------------------
# Command lines, through cli.argv_for (the inverse of the options cli.py declares)
# ---------------------------------------------------------------------------------------------------
def pretrain_cmd(data: Path, out: Path, overrides: dict[str, Any]) -> list[str]:
    from pretrain.train import PretrainConfig
    return cli("pretrain", *argv_for(PretrainConfig, {**overrides, "data": data, "out": out}))


def finetune_cmd(data: Path, encoder: Path, out: Path, overrides: dict[str, Any]) -> list[str]:
    from finetune.train import FinetuneConfig
    return cli("finetune", *argv_for(FinetuneConfig, {**overrides, "data": data, "encoder": encoder, "out": out}))


def predict_cmd(data: Path, model: Path, out: Path, split: str, blend: bool, extra: dict[str, Any]) -> list[str]:
    """`cli.py predict`: blend=True is the product's default (neighbour blending + batch smoothing),
    False the head alone."""
    from app.predict import PredictConfig
    return cli("predict", *argv_for(PredictConfig, {"data": data, "model": model, "out": out, "split": split,
                                                    "blend_neighbors": blend, "smooth": blend, **extra}))


def demo_cmd(out: Path, overrides: dict[str, Any]) -> list[str]:
    from demo.run import DemoConfig
    return cli("demo", *argv_for(DemoConfig, {**overrides, "out": out, "progress": False}))
