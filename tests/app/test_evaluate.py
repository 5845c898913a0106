"""app/evaluate/: CSV scoring against a hand computation, the consistency probes on predictors
whose answer is known, and a full run on a tiny model trained through the real stages."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import CatalogError
from catalog.reader import load_catalog
from core.wb import kelvin_to_mired
from app.evaluate.probes import consistency_metrics
from app.evaluate.run import run_evaluate
from app.options import EvaluateConfig


class AsShot:
    """Predicts the camera's as-shot white balance: it follows the bracket exactly, ignores pixels."""
    index = None

    def predict(self, catalog, blend=False, progress=False):
        t = catalog.table
        return pd.DataFrame({"id_global": t["id_global"], "Temperature": t["currTemp"], "Tint": t["currTint"]})


class Constant(AsShot):
    def predict(self, catalog, blend=False, progress=False):
        n = len(catalog.table)
        return pd.DataFrame({"id_global": catalog.table["id_global"], "Temperature": np.full(n, 5000.0),
                             "Tint": np.full(n, 10.0)})


class MeanColour(AsShot):
    """Reads the pixels (red/blue balance of the whole frame), so crops and pastes move it."""
    def predict(self, catalog, blend=False, progress=False):
        img = catalog.images.astype(np.float64)
        ratio = np.log((img[..., 0].mean((1, 2)) + 1) / (img[..., 2].mean((1, 2)) + 1))
        return pd.DataFrame({"id_global": catalog.table["id_global"], "Temperature": 5000.0 * np.exp(-ratio),
                             "Tint": 20 * ratio})


def test_consistency_probes_on_known_predictors(make_catalog):
    root = make_catalog(n_train=10, n_val=0, size=24)
    cat = load_catalog(root, "Train", image_size=24, progress=False)
    kw = dict(n_variants=3, n_brackets=4, max_photos=6, seed=1, progress=False)
    const = consistency_metrics(Constant(), cat, **kw)
    assert const["n_photos"] == 6 and set(const["variant"]) == {"head"}  # no index: no blending row
    for probe in ("variant", "bracket"):
        assert const[probe]["head"]["sd_mired"] == 0 and const[probe]["head"]["sd_tint"] == 0
    # bracket: 2500..12000 K evenly in mired; an as-shot follower has exactly the bracket's own spread
    asshot = consistency_metrics(AsShot(), cat, **kw)
    m = kelvin_to_mired(np.array(asshot["brackets_k"]))
    assert asshot["brackets_k"][0] == pytest.approx(2500) and asshot["brackets_k"][-1] == pytest.approx(12000)
    assert np.allclose(np.diff(m), np.diff(m)[0])
    assert asshot["bracket"]["head"]["sd_mired"] == pytest.approx(np.std(m))
    assert asshot["bracket_asshot"]["sd_mired"] == pytest.approx(np.std(m))
    assert asshot["bracket"]["head"]["sd_tint"] == 0 and asshot["variant"]["head"]["sd_mired"] == 0
    # a pixel reader sees the variants and the re-rendered brackets (warmer as-shot -> bluer photo)
    colour = consistency_metrics(MeanColour(), cat, **kw)
    assert colour["variant"]["head"]["sd_mired"] > 0 and colour["bracket"]["head"]["sd_mired"] > 1


def _write(path, ids, temp, tint, **extra):
    pd.DataFrame({"id_global": ids, "Temperature": temp, "Tint": tint, **extra}).to_csv(path, index=False)
    return path


def test_pred_and_answers_csv_match_hand_computation(tmp_path):
    ids = ["a", "b", "c", "d"]
    truth_t, truth_tint = np.array([3000.0, 4000, 5000, 8000]), np.array([0.0, 5, 10, -5])
    pred_t, pred_tint = np.array([3100.0, 3900, 5000, 10000]), np.array([2.0, 5, 7, -5])
    answers = _write(tmp_path / "answers.csv", ids, truth_t, truth_tint, burst_id=["x", "x", "y", "y"])
    pred = _write(tmp_path / "pred.csv", ids[::-1], pred_t[::-1], pred_tint[::-1])  # order must not matter
    res = run_evaluate(EvaluateConfig(answers=answers, pred=pred, out=tmp_path / "ev", progress=False))
    o = res["systems"]["predictions"]["overall"]
    assert o["mae_temp_k"] == pytest.approx((100 + 100 + 0 + 2000) / 4)
    assert o["mae_tint"] == pytest.approx((2 + 0 + 3 + 0) / 4)
    assert o["mae_mired"] == pytest.approx(np.mean(np.abs(1e6 / pred_t - 1e6 / truth_t)))
    assert o["score_temp"] == pytest.approx(1 / (1 + 550))
    bands = res["systems"]["predictions"]["per_band"]
    assert bands["<3500 K"]["n"] == 1 and bands["<3500 K"]["mae_temp_k"] == pytest.approx(100)
    assert bands[">5500 K"]["mae_temp_k"] == pytest.approx(2000)
    # bursts stand in for shoots when there are no dates: pred tint sd 1.5 (burst x) and 6 (y)
    s = res["systems"]["predictions"]["shoot_spread"]
    assert s["n_shoots"] == 2 and s["pred_sd_tint"] == pytest.approx((1.5 + 6) / 2)
    assert s["label_sd_tint"] == pytest.approx((2.5 + 7.5) / 2)
    saved = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert saved["systems"]["predictions"]["overall"]["n"] == 4
    assert (tmp_path / "ev" / "pred_vs_edit.png").stat().st_size > 1000

    _write(tmp_path / "short.csv", ids[:3], pred_t[:3], pred_tint[:3])
    with pytest.raises(CatalogError, match="no prediction for 1 labelled ids, e.g. 'd'"):
        run_evaluate(EvaluateConfig(answers=answers, pred=tmp_path / "short.csv", out=tmp_path / "e2", progress=False))
    _write(tmp_path / "bad.csv", ids, ["3000", "x", "1", "2"], pred_tint)
    with pytest.raises(CatalogError, match=r"bad.csv: row 2 \(line 3\), column 'Temperature': 'x' is not a number"):
        run_evaluate(EvaluateConfig(answers=answers, pred=tmp_path / "bad.csv", out=tmp_path / "e3", progress=False))


def test_run_evaluate_on_tiny_trained_model(make_catalog, tmp_path):
    from finetune.train import FinetuneConfig, run_finetune
    from pretrain.train import PretrainConfig, run_pretrain

    torch.set_num_threads(1)
    root = make_catalog(n_train=24, n_val=8, size=24, with_labels=True)
    model = tmp_path / "model"
    run_pretrain(PretrainConfig(data=root, out=model, epochs=1, batch_size=16, image_size=16, load_size=24, width=4,
                                eval_every=0, progress=False))
    run_finetune(FinetuneConfig(data=str(root), encoder=str(model), out=str(model), epochs=2, ensemble=1, hidden=8,
                                rerender_aug=1, batch_size=16, baselines=False, threads=1, workers=1, progress=False))
    res = run_evaluate(EvaluateConfig(data=root, model=model, n_variants=2, n_brackets=3, max_photos=5,
                                      progress=False))
    assert res["split"] == "Validation"  # Validation carries labels here, so it is the split evaluated
    out = model / "eval"
    saved = json.loads((out / "evaluation.json").read_text())
    assert {"as-shot", "head", "head + neighbours"} <= set(saved["systems"])  # finetune wrote a neighbour index
    for r in saved["systems"].values():
        o = r["overall"]
        assert o["n"] == 8 and all(math.isfinite(o[k]) for k in ("mae_temp_k", "mae_tint", "mae_mired"))
    for r in saved["systems"].values():  # ΔE00 for every system, flash slices covering every photo once
        assert r["delta_e"]["overall"]["n"] == 8 and math.isfinite(r["delta_e"]["overall"]["de00_p75"])
        assert sum(s["n"] for s in r["delta_e"]["per_flash"].values()) == 8
    c = saved["consistency"]
    assert c["n_photos"] == 5 and set(c["variant"]) == {"head", "blend"}
    assert math.isfinite(c["variant"]["head"]["sd_mired"])
    assert math.isfinite(c["bracket"]["head"]["sd_tint"])
    for png in ("pred_vs_edit.png", "error_by_asshot.png"):
        assert (out / png).stat().st_size > 1000
    # spread within scenes, as predict groups the photos: every system's and the photographer's own
    sc = saved["scene_spread"]
    assert {"as-shot", "head", "labels"} <= set(sc)
    assert sc["labels"]["n_scenes"] == sc["head"]["n_scenes"] and sc["labels"]["n_photos"] <= 8




def test_scene_spreads_against_a_hand_computation():
    """Two scenes of two photos: each system's spread within scenes, and the labels', by hand."""
    from types import SimpleNamespace

    from app.evaluate.probes import scene_spreads
    from retrieval.scenes import SceneParams

    ids = ["a", "b", "c", "d"]
    model = SimpleNamespace(index=None, scene_params=SceneParams(strength=0.0),
                            predict_full=lambda catalog, settings: SimpleNamespace(scenes=np.array([0, 0, 1, 1])))
    catalog = SimpleNamespace(table=pd.DataFrame({"id_global": ids}))
    truth = pd.DataFrame({"id_global": ids[::-1], "Temperature": [5000.0, 5000.0, 4000.0, 5000.0],
                          "Tint": [0.0, 0.0, 10.0, 0.0]})  # rows in another order than the catalog's
    joined = {"sys": truth.assign(pred_Temperature=[2000.0, 2500.0, 5000.0, 5000.0], pred_Tint=[1.0, 3.0, 5.0, 5.0])}
    out = scene_spreads(model, catalog, joined)
    # scene of d, c = 1; of b, a = 0 (truth lists d, c, b, a)
    labels, sys_ = out["labels"], out["sys"]
    assert labels["n_scenes"] == 2 and labels["n_photos"] == 4
    np.testing.assert_allclose(labels["sd_mired_max"], np.std([1e6 / 4000, 1e6 / 5000]))
    np.testing.assert_allclose(sys_["sd_mired_max"], np.std([1e6 / 2000, 1e6 / 2500]))
    np.testing.assert_allclose(sys_["sd_tint_median"], np.median([1.0, 0.0]))
    assert out["strength"] == 0.0


def test_delta_e_for_every_system_with_slices_and_raw_sources(make_catalog, tmp_path):
    """--data + --pred (no model): the photos are loaded for ΔE00; a prediction equal to the edit scores 0,
    the as-shot more; flash slices cover every photo once; a row imported from a raw file still on
    disk is compared on LibRaw renders of that file."""
    from core.canonical import to_reference
    from catalog.delta_e import render_delta_e
    from lightroom.raw import raw_delta_e
    from demo.generate_lightroom import write_dng

    root = make_catalog(n_train=4, n_val=8, size=24, with_labels=True)
    csv = root / "Validation" / "sliders_inputs.csv"
    table = pd.read_csv(csv)
    table["flashFired"] = table["flashFired"].astype(float)
    table.loc[:2, "flashFired"] = [1, 0, np.nan]
    dng = write_dng(tmp_path / "IMG_1.dng", np.full((40, 40, 3), 120, np.uint8), "NIKON D750",
                    float(table.at[3, "currTemp"]), float(table.at[3, "currTint"]))
    table["source_file"] = [None] * 3 + [str(dng), str(tmp_path / "gone.dng")] + [None] * 3
    table.to_csv(csv, index=False)
    pred = table[["id_global", "Temperature", "Tint"]].copy()
    pred.loc[4:, "Temperature"] += 800  # rows 0-3 exact
    pred.to_csv(tmp_path / "pred.csv", index=False)

    res = run_evaluate(EvaluateConfig(data=root, pred=tmp_path / "pred.csv", out=tmp_path / "ev", progress=False))
    assert res["delta_e_renders"] == {"canonical": 7, "raw": 1}
    per_photo = pd.read_csv(tmp_path / "ev" / "delta_e.csv")
    exact, asshot = per_photo["de00 | predictions"].to_numpy(), per_photo["de00 | as-shot"].to_numpy()
    assert np.all(exact[:4] == 0) and np.all(exact[4:] > 0)
    cat = load_catalog(root, "Validation", image_size=96, progress=False)
    t = cat.table
    by_hand = render_delta_e(to_reference(cat.images, t["currTemp"], t["currTint"]), t["currTemp"], t["currTint"],
                             t["Temperature"], t["Tint"])
    raw = raw_delta_e(dng, (t.at[3, "Temperature"], t.at[3, "Tint"]), [(t.at[3, "currTemp"], t.at[3, "currTint"])])
    np.testing.assert_allclose(asshot, np.r_[by_hand[:3], raw, by_hand[4:]], rtol=1e-6)
    de = res["systems"]["as-shot"]["delta_e"]
    assert de["overall"]["n"] == 8 and de["overall"]["de00_mean"] == pytest.approx(asshot.mean())
    assert {k: v["n"] for k, v in de["per_flash"].items()}["unknown"] == 1
    assert sum(v["n"] for v in de["per_flash"].values()) == 8
    assert sum(v["n"] for v in de["per_shoot"].values()) == 8 and sum(v["n"] for v in de["per_camera"].values()) == 8
    p75 = [v["de00_p75"] for v in de["per_shoot"].values()]
    assert p75 == sorted(p75, reverse=True)  # worst shoot first
    assert sum(v["n"] for v in res["systems"]["as-shot"]["per_flash"].values()) == 8
