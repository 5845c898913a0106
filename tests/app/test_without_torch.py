"""The predict-only commands run without torch: `predict`, `add-edits` and `apply` in a process where
`import torch` fails (what the lean install — `pip install -e .`, no `train` extra — gives)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from finetune.options import FinetuneConfig
from tests.conftest import write_catalog

PROJECT = Path(__file__).resolve().parents[2]
BLOCK_TORCH = "import sys, runpy; sys.modules['torch'] = None; sys.argv = ['cli.py'] + sys.argv[1:]; " \
              "runpy.run_path('cli.py', run_name='__main__')"


def cli_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH, *map(str, args)], cwd=PROJECT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import torch

    from finetune.train import run_finetune

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("lean")
    root = write_catalog(base, n_train=12, n_val=4, layout="A", size=16, seed=0)
    run_finetune(FinetuneConfig(data=root, encoder=None, image_size=16, out=base / "model", epochs=1, ensemble=1,
                                hidden=8, batch_size=8, rerender_aug=0, baselines=False, folds=1, threads=1,
                                workers=1, progress=False, device="cpu"))
    return root, base / "model"


def test_the_guard_really_blocks_torch():
    r = subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None; import torch"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and ("ModuleNotFoundError" in r.stderr or "ImportError" in r.stderr)


def test_predict_add_edits_and_apply_run_without_torch(model, tmp_path):
    root, model_dir = model
    # predict: every input row, the same numbers as in a process with torch
    r = cli_without_torch("predict", "--data", root, "--model", model_dir, "--out", tmp_path / "p.csv", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    lean = pd.read_csv(tmp_path / "p.csv")
    from finetune.predict import WBModel
    from catalog.reader import read_catalog

    full = WBModel.load(model_dir).predict(read_catalog(root, "Validation", labels="ignore"), progress=False)
    assert list(lean["id_global"].astype(str)) == list(full["id_global"])
    np.testing.assert_array_equal(lean[["Temperature", "Tint"]].to_numpy(), full[["Temperature", "Tint"]].to_numpy())

    # add-edits: a new shoot's edited photos join the index
    new = write_catalog(tmp_path / "new", n_train=3, n_val=1, layout="A", size=16, seed=5)
    r = cli_without_torch("add-edits", "--model", model_dir, "--data", new, "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(WBModel.load(model_dir).index) == 12 + 3

    # apply: the prediction written into a JPEG's XMP (exiftool) or reported in a dry run
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (8, 8), (120, 110, 100)).save(photos / f"{lean['id_global'].iloc[0]}.jpg")
    lean.head(1).to_csv(tmp_path / "one.csv", index=False)
    jpg = photos / f"{lean['id_global'].iloc[0]}.jpg"
    before = jpg.read_bytes()
    r = cli_without_torch("apply", tmp_path / "one.csv", "--photos", photos, "--dry-run")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "dry run" in r.stdout and "IncrementalTemperature" in r.stdout and jpg.read_bytes() == before
    r = cli_without_torch("apply", tmp_path / "one.csv", "--photos", photos, "--wb-only", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert jpg.read_bytes() != before and jpg.with_name(jpg.name + "_original").read_bytes() == before
