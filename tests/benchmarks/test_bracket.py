"""benchmarks/bracket.py: the as-shot bracket benchmark, end to end on tiny catalogs, and its figures."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.bracket import bracket_grid, bracket_version, main, spread
from core.wb import kelvin_to_mired


def test_grid_spans_the_issue_range_even_in_mired():
    temps, tints = bracket_grid()
    assert temps.min() == pytest.approx(2500) and temps.max() == pytest.approx(12000)
    assert set(tints) == {-30.0, 0.0, 30.0} and len(temps) == 18
    steps = np.diff(np.unique(kelvin_to_mired(temps)))
    np.testing.assert_allclose(steps, steps[0])


def test_spread_tells_a_copying_system_from_an_invariant_one():
    asshot = kelvin_to_mired(bracket_grid()[0])
    rng = np.random.default_rng(0)
    truth = rng.normal(200, 30, (50, 1))
    copies = np.stack([truth + (asshot - asshot.mean()), np.full((50, len(asshot)), 5.0)], -1)   # follows the camera
    invariant = np.stack([truth + rng.normal(0, 0.5, (50, len(asshot))), np.full((50, len(asshot)), 5.0)], -1)
    c, i = spread(copies, asshot), spread(invariant, asshot)
    assert c["slope"] == pytest.approx(1.0) and c["corr_within"] == pytest.approx(1.0) and c["corr"] > 0.8
    assert c["sd_mired"] == pytest.approx(np.std(asshot))
    assert abs(i["slope"]) < 0.02 and abs(i["corr"]) < 0.1 and i["sd_mired"] < 0.6 and i["sd_tint"] == 0


def test_bracket_version_rerenders_from_each_photos_own_as_shot(make_catalog):
    from catalog.reader import load_catalog

    import dataclasses

    cat = load_catalog(make_catalog(n_train=4, n_val=0, size=16), "Train", image_size=16, progress=False)
    cat = dataclasses.replace(cat, table=cat.table.assign(currTemp=6000.0, currTint=0.0))
    warm = bracket_version(cat, 2500.0, -30.0)
    assert (warm.table["currTemp"] == 2500.0).all() and (warm.table["currTint"] == -30.0).all()
    assert warm.images.dtype == np.uint8 and warm.images.shape == cat.images.shape
    # an as-shot of 2,500 K assumes tungsten light: the render turns blue
    assert warm.images[..., 2].mean() > cat.images[..., 2].mean() + 20
    assert warm.images[..., 0].mean() < cat.images[..., 0].mean() - 20
    same = bracket_version(cat, 6000.0, 0.0).images                   # same as-shot: untouched ...
    clipped = cat.images.max(-1) == 255
    np.testing.assert_array_equal(same[~clipped], cat.images[~clipped])
    assert (same[clipped] == 255).all()                                # ... but blown pixels are white


def test_one_command_writes_the_section_and_figures(tmp_path):
    """Both data sets on tiny catalogs with tiny budgets: a markdown section holding its own command, a
    table per data set with every system, and the JSON figures behind it."""
    from tests.conftest import write_catalog

    real = write_catalog(tmp_path, n_train=16, n_val=0, layout="B", size=32)
    bench = write_catalog(tmp_path, n_train=12, n_val=6, layout="A", size=32, seed=1)
    v = pd.read_csv(bench / "Validation" / "sliders_inputs.csv")
    v[["id_global", "Temperature", "Tint"]].to_csv(bench / "answers.csv", index=False)
    out = tmp_path / "bracket.md"
    argv = ["--real", str(real), "--bench", str(bench), "--out", str(out), "--work", str(tmp_path / "work"),
            "--folds", "2", "--quick", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    md = out.read_text()
    assert "python benchmarks/bracket.py --real" in md and "### Real release" in md and "### Synthetic benchmark" in md
    assert md.count("| head |") == 2 and md.count("| as-shot |") == 2 and "Targets (head)" in md
    fig = json.loads(out.with_suffix(".json").read_text())
    real_fig, bench_fig = fig["real"], fig["bench"]
    assert real_fig["fold_ids"] == [0, 1] and sum(f["n"] for f in real_fig["per_fold"]) == 16
    assert bench_fig["n_photos"] == 6
    for r in (real_fig["systems"], bench_fig["systems"]):
        assert r["as-shot"]["slope"] == pytest.approx(1.0)                      # the camera copies itself
        assert abs(r["head"]["slope"]) < 0.2                                    # the model does not
        assert r["head"]["sd_mired"] < r["as-shot"]["sd_mired"] / 5
        for m in r.values():  # ΔE00 as shot and across the bracket, for every system
            assert all(np.isfinite(m[k]) and m[k] >= 0 for k in ("de00_mean", "de00_p75", "de00_p90", "bracket_de00_p75"))
    assert md.count("ΔE00 as shot (mean / P75 / P90)") == 2


def test_bracket_delta_e_judges_every_step_on_the_photos_own_render(make_catalog):
    from benchmarks.bracket import bracket_delta_e
    from catalog.reader import load_catalog

    cat = load_catalog(make_catalog(n_train=4, n_val=0, size=16), "Train", image_size=16, progress=False)
    truth = cat.table[["Temperature", "Tint"]].to_numpy(np.float64)
    exact = np.c_[kelvin_to_mired(truth[:, 0]), truth[:, 1]]
    preds = {"x": {"as_shot": exact, "bracket": np.stack([exact, exact + [20.0, 0.0], exact + [40.0, 0.0]], 1)}}
    d = bracket_delta_e(cat, preds, truth)["x"]
    assert d["de_bracket"].shape == (4, 3) and np.all(d["de_as_shot"] == 0) and np.all(d["de_bracket"][:, 0] == 0)
    assert np.all(d["de_bracket"][:, 2] > d["de_bracket"][:, 1]) and np.all(d["de_bracket"][:, 1] > 0)


def test_the_report_says_what_as_shot_trust_each_model_chose():
    from benchmarks.bracket import trust_md
    from finetune.trust import TrustParams

    on = TrustParams([0.9, 0.0], [np.inf, 0.0], 0.1, [{"gain": 0.47, "z": 2.9, "fold_gains": [0.5, 0.4, 0.3]},
                                                     {"gain": 0.12, "z": 0.6, "fold_gains": [0.2, -0.1, -0.05]}]).to_dict()
    text = trust_md(on)
    assert "Temperature trusted (pull 0.9, unbounded; cross-fitted gain +47.0 %, in 3 of 3 folds)" in text
    assert "Tint not trusted (cross-fitted gain +12.0 %, in 1 of 3 folds)" in text
    one = TrustParams([0.0], [0.0], 0.1, [{"gain": 0.12, "z": 0.6, "fold_gains": [0.12]}]).to_dict()  # one holdout
    assert trust_md(one, ("Tint",)) == "Tint not trusted (cross-fitted gain +12.0 %, z 0.6)"
    assert trust_md(TrustParams.off(2).to_dict()) == ("Temperature not trusted (too few validation photos), "
                                                      "Tint not trusted (too few validation photos)")


def test_the_report_quotes_the_trust_bar_the_models_were_fitted_with():
    from benchmarks.bracket import bar_md
    from finetune.trust import TrustParams

    folds = [{"trust": TrustParams.off(2).to_dict()}, {"trust": {**TrustParams.off(2).to_dict(), "min_gain": 0.25}}]
    assert bar_md(folds) == "10 % / 25 %"
    assert bar_md(folds[1:]) == "25 %"
    assert bar_md([{"trust": None}, {}]) == "(not recorded)"
