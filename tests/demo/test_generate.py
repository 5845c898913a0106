import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy.stats import pearsonr, spearmanr

from core import wb
from demo.generate import INPUT_CSV_COLUMNS, make_demo_catalog


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_demo_catalog(tmp_path_factory.mktemp("demo"), n_train=12, n_val=4, size=64, seed=0, progress=False)


def _grey_world_cast(path):
    """log(R/B) of the mean linear colour: > 0 warm/orange, < 0 cool/blue."""
    rgb = wb.srgb_to_linear(tifffile.imread(path)).reshape(-1, 3).mean(0)
    return float(np.log(rgb[0] / rgb[2]))


def test_layout_columns_and_images(small):
    train = pd.read_csv(small / "Train" / "sliders.csv", dtype={"id_global": str})
    val = pd.read_csv(small / "Validation" / "sliders_inputs.csv", dtype={"id_global": str})
    ans = pd.read_csv(small / "answers.csv", dtype={"id_global": str})
    assert list(train.columns) == INPUT_CSV_COLUMNS + ["Temperature", "Tint"]
    assert list(val.columns) == INPUT_CSV_COLUMNS  # inputs only: no labels leak into Validation
    assert list(ans.columns) == ["id_global", "Temperature", "Tint", "scene_id", "shoot"]
    assert len(train) == 12 and len(val) == 4 and list(ans.id_global) == list(val.id_global)
    ids = list(train.id_global) + list(val.id_global)
    assert len(set(ids)) == len(ids)
    compressions = set()
    for split, table in (("Train", train), ("Validation", val)):
        for i in table.id_global:
            with tifffile.TiffFile(small / split / "images" / f"{i}.tif") as tf:
                page = tf.pages[0]
                assert page.shape == (64, 64, 3) and page.dtype == np.uint8
                compressions.add(int(page.compression))
    assert {1, 5} <= compressions and compressions & {8, 32946}  # none, LZW and deflate all present
    for col in ("Temperature", "Tint", "currTemp", "currTint", "isoSpeedRating", "flashFired"):
        assert pd.api.types.is_integer_dtype(train[col]), col
    assert train.camera_group.isin(["Canon", "Nikon"]).all()
    assert (train.shutterSpeed < 2).all() and (train.aperture >= 1.4).all()  # plain units, not APEX


def test_one_date_per_shoot_and_split_by_shoot(small):
    train = pd.read_csv(small / "Train" / "sliders.csv")
    ans = pd.read_csv(small / "answers.csv")
    pd.to_datetime(train.captureTime, format="ISO8601")  # parseable ISO timestamps
    assert set(train.captureTime.str[:10]).isdisjoint(set(ans.shoot))  # no shoot on both sides


def test_labels_in_slider_ranges_and_differ_from_as_shot(tmp_path):
    root = make_demo_catalog(tmp_path, n_train=60, n_val=4, size=16, seed=3, progress=False)
    t = pd.read_csv(root / "Train" / "sliders.csv")
    for col in ("Temperature", "currTemp"):
        assert t[col].between(wb.TEMP_MIN, wb.TEMP_MAX).all()
    for col in ("Tint", "currTint"):
        assert t[col].between(wb.TINT_MIN, wb.TINT_MAX).all()
    d_mired = wb.kelvin_to_mired(t.Temperature) - wb.kelvin_to_mired(t.currTemp)
    assert np.abs(d_mired).mean() > 5  # the photographer does edit: as-shot is not the answer
    assert t.Temperature.std() > 300  # several kinds of light, not one


def test_deterministic(tmp_path):
    a = make_demo_catalog(tmp_path / "a", n_train=8, n_val=3, size=16, seed=7, progress=False)
    b = make_demo_catalog(tmp_path / "b", n_train=8, n_val=3, size=16, seed=7, progress=False)
    c = make_demo_catalog(tmp_path / "c", n_train=8, n_val=3, size=16, seed=8, progress=False)
    for rel in ("Train/sliders.csv", "Validation/sliders_inputs.csv", "answers.csv"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert (a / "answers.csv").read_bytes() != (c / "answers.csv").read_bytes()
    i = pd.read_csv(a / "Train" / "sliders.csv", dtype={"id_global": str}).id_global[0]
    np.testing.assert_array_equal(tifffile.imread(a / "Train/images" / f"{i}.tif"),
                                  tifffile.imread(b / "Train/images" / f"{i}.tif"))


def test_images_carry_the_white_balance_signal(tmp_path):
    # The TIFF is rendered at as-shot while the photographer's answer sits near the true light, so
    # an image that looks too warm (high R/B) needs a lower Temperature than as-shot, i.e. a higher
    # label mired than as-shot mired. Across rows the photos' own colours blur this; within a burst
    # (same scene, same light, auto-WB varying per shot) it must show clearly.
    root = make_demo_catalog(tmp_path, n_train=120, n_val=48, size=24, seed=0, progress=False)
    t = pd.read_csv(root / "Train" / "sliders.csv", dtype={"id_global": str})
    cast = [_grey_world_cast(root / "Train" / "images" / f"{i}.tif") for i in t.id_global]
    d_mired = wb.kelvin_to_mired(t.Temperature) - wb.kelvin_to_mired(t.currTemp)
    assert spearmanr(cast, d_mired)[0] > 0.05

    v = pd.read_csv(root / "Validation" / "sliders_inputs.csv", dtype={"id_global": str}).merge(
        pd.read_csv(root / "answers.csv", dtype={"id_global": str}), on="id_global")
    v["cast"] = [_grey_world_cast(root / "Validation" / "images" / f"{i}.tif") for i in v.id_global]
    v["d_mired"] = wb.kelvin_to_mired(v.Temperature) - wb.kelvin_to_mired(v.currTemp)
    v = v[v.groupby("scene_id").cast.transform("size") > 1]
    centred = v[["cast", "d_mired"]] - v.groupby("scene_id")[["cast", "d_mired"]].transform("mean")
    assert len(v) >= 20
    assert pearsonr(centred.cast, centred.d_mired)[0] > 0.3
