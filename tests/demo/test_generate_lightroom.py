"""demo/generate_lightroom.py: the demo Lightroom setup reads back as what it was built from."""
import numpy as np
import pandas as pd
import pytest

from demo.generate_lightroom import make_demo_lightroom
from lightroom.lrcat import AS_SHOT, REJECT, read_lightroom
from lightroom.raw import read_raw


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return make_demo_lightroom(tmp_path_factory.mktemp("lr"), n_train=24, n_val=6, size=64, progress=False)


def test_catalog_holds_every_demo_edit_with_copies_rejects_and_as_shot(setup):
    renders = pd.read_csv(setup["catalog"].parents[1] / "renders" / "Train" / "sliders.csv")
    cat = read_lightroom(setup["catalog"])
    summary = cat.summary()
    copies = [p for p in cat.photos if p.master is not None]
    assert len(copies) == 3 and summary[REJECT] == 1 and summary[AS_SHOT] == 1
    assert sum(summary.values()) == len(renders) + len(copies)  # one Adobe_images row per photo + the copies
    dng = next(p for p in cat.photos if p.path.suffix == ".dng" and p.master is None)
    row = renders[renders["id_global"].str[:8].str.upper() == dng.path.stem[4:]].iloc[0]
    assert (dng.settings["Temperature"], dng.settings["Tint"]) == (row.Temperature, row.Tint)
    assert dng.exif["aperture"] == pytest.approx(2 * np.log2(row.aperture))  # APEX, as Lightroom stores it
    photo = read_raw(dng.path, 32)
    assert photo.temperature == pytest.approx(row.currTemp, abs=1)
    assert photo.tint == pytest.approx(row.currTint, abs=0.1)


def test_new_shoot_and_answers(setup):
    answers = pd.read_csv(setup["answers"])
    files = sorted(p.stem for p in setup["new_shoot"].iterdir())
    assert sorted(answers["id_global"]) == files and len(files) == 6
    assert {p.suffix for p in setup["new_shoot"].iterdir()} == {".dng", ".jpg"}


def test_as_shot_agrees_with_the_values_lightroom_stored(setup):
    """The demo's As Shot photos store the as-shot the DNG was made with, as Lightroom stores its own:
    wbstyle's reading of the file agrees within the target (median 2 mired, 2 tint per camera)."""
    from lightroom.asshot_agreement import check_as_shot

    agreement = check_as_shot(setup["catalog"])
    assert sum(a.photos for a in agreement.values()) == 1  # every As Shot DNG of the demo is checked
    assert all(a.median_abs_mired <= 2 and a.median_abs_tint <= 2 for a in agreement.values())
