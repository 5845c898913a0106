"""Cross-fitted knob choice, end to end: the default finetune chooses every knob on its out-of-fold
predictions, so a catalog whose shoots carry an edit the pixels cannot know ships a non-zero
added-edits strength, and a few edits of a new shoot move the rest of it."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from app.add_edits import edit_strength_note, run_add_edits
from app.predict import parse_strength, run_predict
from core.errors import CatalogError
from app.options import AddEditsConfig, PredictConfig
from finetune.options import FinetuneConfig
from finetune.store import load_head
from finetune.train import run_finetune

SIZE = 16


def _shoots(root: Path, offsets: list[tuple[float, float]], per_shoot: int, seed: int, first_day: int = 0) -> Path:
    """A Train catalog of len(offsets) shoots of `per_shoot` near-duplicate photos each, a minute apart,
    under one light per shoot. The photographer's edit is the light plus the shoot's (mired, tint)
    offset: a choice of that day that no pixel shows, only revealed edits of the shoot can tell."""
    rng = np.random.default_rng(seed)
    (root / "Train" / "images").mkdir(parents=True)
    idx = np.linspace(0, 3, SIZE).astype(int)
    rows = []
    for s, (d_mired, d_tint) in enumerate(offsets):
        kelvin = float(rng.uniform(3000, 7000))
        scene = rng.uniform(0.2, 0.9, (4, 4, 3))
        t = np.log(kelvin / 5500.0)
        gains = np.array([np.exp(-0.5 * t), 1.0, np.exp(0.5 * t)])
        start = dt.datetime(2023, 1, 1, 10) + dt.timedelta(days=first_day + s)
        for i in range(per_shoot):
            img = (np.clip((scene[idx][:, idx] + rng.normal(0, 0.02, (SIZE, SIZE, 3))) * gains, 0, 1) * 255)
            ident = str(uuid.UUID(bytes=rng.bytes(16), version=4)).upper()
            tifffile.imwrite(root / "Train" / "images" / f"{ident}.tif", img.round().astype(np.uint8), photometric="rgb")
            mired = 1e6 / kelvin + d_mired
            rows.append({"id_global": ident, "currTemp": round(kelvin * float(rng.uniform(0.9, 1.1))),
                         "currTint": int(rng.integers(-5, 5)), "aperture": 4.0, "shutterSpeed": 1 / 125,
                         "isoSpeedRating": 400, "focalLength": 50, "flashFired": 0,
                         "captureTime": (start + dt.timedelta(minutes=i)).isoformat(), "grayscale": 0,
                         "camera_model": "CAM", "Temperature": round(1e6 / mired), "Tint": round(5 + d_tint, 1)})
    pd.DataFrame(rows).to_csv(root / "Train" / "sliders.csv", index=False)
    return root


def _finetune(data: Path, out: Path, **kw) -> dict:
    # the product's defaults (5 grouped folds, every knob cross-fitted), at a tiny budget
    return run_finetune(FinetuneConfig(data=data, encoder=None, image_size=SIZE, out=out, epochs=20, ensemble=1,
                                       hidden=16, batch_size=32, rerender_aug=0, baselines=False, threads=1,
                                       workers=1, progress=False, device="cpu", **kw))


def _mired(df: pd.DataFrame) -> np.ndarray:
    return 1e6 / df["Temperature"].to_numpy(np.float64)


def test_default_finetune_learns_from_a_few_edits_of_a_new_shoot(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    offsets = [(float(m), float(t)) for m, t in zip(rng.choice([-40, 40], 20), rng.choice([-8, 8], 20))]
    model = tmp_path / "model"
    rep = _finetune(_shoots(tmp_path / "train", offsets, 8, seed=1), model)

    # the default is 5-fold cross-fitting, and the added-edits knob was adopted on it, with a gain in each fold
    assert rep["validation"]["scheme"] == "5-fold cross-fitting"
    knob = next(k for k in rep["knobs"] if k["knob"] == "added-edits strength")
    assert knob["adopted"] and knob["value"] > 0 and len(knob["fold_gains"]) == 5
    assert sum(g > 0 for g in knob["fold_gains"]) >= 4 and knob["gain"] >= 0.01
    blob = load_head(model)
    assert blob["edit_blend"]["strength"] == knob["value"] > 0  # the model stores what was chosen ...
    assert blob["edit_blend_gain"]["mired"]["3"] > 0            # ... and what cross-fitting measured at k = 3
    assert "cross-validation" in edit_strength_note(blob["edit_blend"]["strength"], blob)

    # a new shoot whose edit sits 60 mired warmer than its light: 3 edits added, the other 7 predicted
    new = _shoots(tmp_path / "new", [(60.0, 10.0)], 10, seed=2, first_day=400)
    table = pd.read_csv(new / "Train" / "sliders.csv")
    edits = tmp_path / "edits" / "Train" / "images"
    edits.mkdir(parents=True)
    for ident in table["id_global"][:3]:
        (edits / f"{ident}.tif").write_bytes((new / "Train" / "images" / f"{ident}.tif").read_bytes())
    table[:3].to_csv(edits.parent / "sliders.csv", index=False)
    rest = tmp_path / "rest" / "images"
    rest.mkdir(parents=True)
    for ident in table["id_global"][3:]:
        (rest / f"{ident}.tif").write_bytes((new / "Train" / "images" / f"{ident}.tif").read_bytes())
    table[3:].drop(columns=["Temperature", "Tint"]).to_csv(rest.parent / "sliders.csv", index=False)

    def predict(name: str) -> pd.DataFrame:
        out = tmp_path / f"{name}.csv"
        run_predict(PredictConfig(data=rest.parent, model=model, out=out, threads=1, progress=False, device="cpu"))
        return pd.read_csv(out)

    before = predict("before")
    run_add_edits(AddEditsConfig(model=model, data=tmp_path / "edits", threads=1, progress=False, device="cpu"))
    after = predict("after")
    truth = table[3:].reset_index(drop=True)
    err_before = np.abs(_mired(before) - _mired(truth)).mean()
    err_after = np.abs(_mired(after) - _mired(truth)).mean()
    assert err_after < 0.8 * err_before                         # the rest of the shoot follows its edits
    assert (_mired(after) - _mired(before)).mean() > 5          # towards the warmer edits
    assert (after["Tint"] - before["Tint"]).mean() > 0.5
    # --edit-strength 0 switches the added edits off again
    out = tmp_path / "off.csv"
    run_predict(PredictConfig(data=rest.parent, model=model, out=out, threads=1, progress=False, device="cpu",
                              edit_strength="0"))
    pd.testing.assert_frame_equal(pd.read_csv(out), before)


def test_a_catalog_of_few_shoots_falls_back_to_one_holdout_and_says_so(make_catalog, tmp_path):
    torch.set_num_threads(1)
    root = make_catalog(n_train=16, n_val=0, size=SIZE)  # 4 shoots: too few for 5 folds of 3
    rep = run_finetune(FinetuneConfig(data=root, encoder=None, image_size=SIZE, out=tmp_path / "m", epochs=1,
                                      ensemble=1, hidden=8, batch_size=8, rerender_aug=0, baselines=False,
                                      threads=1, workers=1, progress=False, device="cpu"))
    scheme = rep["validation"]["scheme"]
    assert scheme.startswith("one holdout: 4 shoots are too few for 5 folds")
    saved = json.loads((tmp_path / "m" / "finetune_report.json").read_text())
    assert saved["validation"]["scheme"] == scheme and len(saved["validation"]["splits"]) == 1


def test_strength_overrides_are_checked():
    assert parse_strength("auto", "--edit-strength") is None
    assert parse_strength("0.25", "--edit-strength") == 0.25
    for bad in ("1.5", "-0.1", "strong"):
        with pytest.raises(CatalogError, match="--blend-strength: expected 'auto' or a number from 0 to 1"):
            parse_strength(bad, "--blend-strength")


def test_cross_fitting_on_two_workers_gives_the_model_one_worker_gives(tmp_path):
    """The folds and the refit run as forked workers, one per core: the model and every out-of-fold figure
    are the same bytes whether one worker trains them all or two share them (each fit runs single-threaded)."""
    from core.parallel import can_fork

    if not can_fork():
        pytest.skip("forked workers are Linux-only; elsewhere the fits run one at a time")
    data = _shoots(tmp_path / "cat", [(0.0, 0.0)] * 15, per_shoot=5, seed=3)
    outs = {}
    for threads in (1, 2):
        out = tmp_path / f"m{threads}"
        run_finetune(FinetuneConfig(data=data, encoder=None, image_size=SIZE, out=out, epochs=4, ensemble=2,
                                    hidden=16, batch_size=32, rerender_aug=1, baselines=False, threads=threads,
                                    workers=1, progress=False, device="cpu"))
        outs[threads] = out
    report = json.loads((outs[2] / "finetune_report.json").read_text())
    assert report["validation"]["scheme"].startswith("5-fold")  # the parallel path ran: 5 folds + the refit
    for name in ("head.safetensors", "forest.npz", "validation_predictions.csv"):
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes(), name
