"""benchmarks/asshot_tradeoff.py: the accuracy / as-shot dependence curve, its figures and its one command."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.asshot_tradeoff import curve, main, meets, members, pulled
from benchmarks.bracket import bracket_grid
from core.wb import kelvin_to_mired, mired_to_kelvin


def _members(n=60, seed=0):
    """An invariant image member (off by noise) and an as-shot-aware member that is exact on the photos as
    shot but copies the camera's guess across the bracket: (as_shot (2,P,2), bracket (2,P,V,2), truth)."""
    rng = np.random.default_rng(seed)
    temps = bracket_grid()[0]
    asshot = kelvin_to_mired(temps)
    truth_m, truth_t = rng.uniform(150, 250, n), rng.uniform(-5, 20, n)
    image = np.c_[truth_m + rng.normal(0, 8, n), truth_t + rng.normal(0, 3, n)]
    aware = np.c_[truth_m, truth_t]
    as_shot = np.stack([image, aware])
    b_image = np.repeat(image[:, None], len(temps), 1)
    b_aware = np.repeat(aware[:, None], len(temps), 1).copy()
    b_aware[..., 0] += asshot - asshot.mean()  # follows the camera
    truth = np.c_[mired_to_kelvin(truth_m), truth_t]
    return as_shot, np.stack([b_image, b_aware]), truth, temps


def test_the_curve_runs_from_the_invariant_product_to_the_camera_copying_member():
    as_shot, bracket, truth, temps = _members()
    rows = curve(as_shot, bracket, truth, temps, (0.0, 0.5, 1.0))
    assert [r["pull"] for r in rows] == [0.0, 0.5, 1.0]
    assert rows[0]["slope"] == pytest.approx(0.0, abs=1e-9) and rows[0]["sd_mired"] == pytest.approx(0.0, abs=1e-9)
    assert rows[1]["slope"] == pytest.approx(0.5) and rows[2]["slope"] == pytest.approx(1.0)
    assert rows[0]["mae_mired"] > rows[1]["mae_mired"] > rows[2]["mae_mired"] == pytest.approx(0.0, abs=1e-6)
    assert meets(rows[0])["bracket"] and not meets(rows[2])["bracket"] and meets(rows[2])["accuracy"]
    np.testing.assert_allclose(pulled(as_shot, 0.25), as_shot[0] + 0.25 * (as_shot[1] - as_shot[0]))


def test_a_model_without_the_as_shot_aware_member_is_a_clear_error():
    model = SimpleNamespace(ensemble=SimpleNamespace(aware=None))
    with pytest.raises(RuntimeError, match="no as-shot-aware member"):
        members(model, SimpleNamespace(table=None, images=None))


def test_one_command_writes_the_table_plot_and_figures(tmp_path, monkeypatch):
    """Two folds of a tiny catalog with tiny budgets. Tiny validation splits never pass trust's minimums
    (50 photos, 10 shoots), so the fold models are made to keep their member: what is measured here is the
    script, the rule for a bar of 0 is tested in tests/finetune/test_trust.py."""
    import finetune.train as train
    from finetune.trust import TrustParams
    from tests.conftest import write_catalog

    real = write_catalog(tmp_path, n_train=16, n_val=0, layout="B", size=32)
    monkeypatch.setattr(train, "could_trust", lambda *a, **k: True)
    monkeypatch.setattr(train, "choose_trust", lambda image, *a, **k: TrustParams([1.0] * image.shape[1],
                                                                                  [np.inf] * image.shape[1]))
    out = tmp_path / "tradeoff.md"
    argv = ["--real", str(real), "--out", str(out), "--work", str(tmp_path / "work"), "--folds", "2",
            "--pulls", "0,0.5,1", "--quick", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    md = out.read_text()
    assert "python benchmarks/asshot_tradeoff.py --real" in md and "| pull w |" in md
    assert all(f"\n| {w} |" in md for w in ("0", "0.5", "1")) and "tradeoff.png" in md
    assert out.with_suffix(".png").stat().st_size > 1000
    fig = json.loads(out.with_suffix(".json").read_text())["real"]
    assert fig["fold_ids"] == [0, 1] and sum(f["n"] for f in fig["per_fold"]) == 16
    rows = {r["pull"]: r for r in fig["curve"]}
    # the as-shot-aware member reads the as-shot: pulling towards it moves predictions with the camera
    assert rows[1.0]["slope"] > rows[0.0]["slope"] + 0.05
    assert abs(rows[0.0]["slope"]) < 0.2
    # the members are read as `predict` reads the photos: with the member trusted at pull 1, unbounded
    # (what the test made the fold models choose), predict's head is the as-shot-aware member's prediction
    from catalog.reader import load_catalog
    from finetune.predict import WBModel

    model = WBModel.load(tmp_path / "work" / "fold0" / "model")
    cat = load_catalog(real, "Train", image_size=model.image_size, labels="auto", progress=False)
    head = model.predict(cat, progress=False)[["head_mired", "head_tint"]].to_numpy()
    np.testing.assert_allclose(members(model, cat)[1], head, rtol=1e-5, atol=1e-4)
