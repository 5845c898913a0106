"""app/add_edits.py: a tiny trained model learns a few edits of a new shoot without retraining."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from app.add_edits import AddEditsConfig, run_add_edits
from core.artifacts import open_model
from core.errors import CatalogError
from catalog.reader import load_catalog
from core.wb import kelvin_to_mired
from finetune.predict import WBModel
from finetune.train import FinetuneConfig, run_finetune
from pretrain.encoder import Encoder, save_encoder
from retrieval.edits import EditBlendParams
from retrieval.index import NeighborIndex


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(catalog root, model dir) of one tiny finetune run (fresh width-8 encoder, 32 px)."""
    from tests.conftest import write_catalog

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("add_edits")
    root = write_catalog(base, n_train=16, n_val=0, size=32)
    torch.manual_seed(0)
    save_encoder(base / "enc" / "encoder.safetensors", Encoder(width=8, image_size=32))
    model = base / "model"
    run_finetune(FinetuneConfig(data=str(root), encoder=str(base / "enc"), out=str(model), epochs=2, ensemble=1,
                                hidden=16, batch_size=16, rerender_aug=1, baselines=False, threads=1, workers=1,
                                progress=False, device="cpu"))
    return root, model


def new_shoot(base, seed=5, n=6, shift_k=1500.0):
    """A new shoot (one camera never seen in training) edited warmer than the model would guess."""
    from tests.conftest import write_catalog

    root = write_catalog(base, n_train=n, n_val=0, size=32, seed=seed)
    csv = root / "Train" / "sliders.csv"
    df = pd.read_csv(csv)
    df["camera_model"], df["camera_group"] = "NEW-CAM", "G9"
    df["Temperature"] = (df["Temperature"] + shift_k).round()
    df.to_csv(csv, index=False)
    return root


def copy_model(model, dest):
    import shutil
    shutil.copytree(model, dest)
    return dest


def test_round_trip_index_grows_old_entries_stay_predictions_follow(trained, tmp_path):
    _, model_src = trained
    model = copy_model(model_src, tmp_path / "model")
    shoot = new_shoot(tmp_path)
    before = NeighborIndex.load(model)
    cat = load_catalog(shoot, "Train", image_size=32, progress=False)
    m0 = WBModel.load(model)
    m0.edit_params = EditBlendParams(strength=1.0)  # on 16 photos finetune may rightly choose 0; the rule is tested here
    p0 = m0.predict(cat, blend=True, progress=False)

    summary = run_add_edits(AddEditsConfig(model=model, data=shoot, threads=1, progress=False))
    assert summary["added"] == 6 and summary["index_before"] == 16 and summary["index_after"] == 22
    open_model(model)                                               # the folder is still a sealed, verified model
    after = NeighborIndex.load(model)
    assert after.ids[:16] == before.ids and after.n_train == 16 and after.n_added == 6
    np.testing.assert_array_equal(after.vectors()[:16], before.vectors())
    np.testing.assert_array_equal(after.edits[:16], before.edits)
    assert after.ids[16:] == cat.table["id_global"].tolist()
    assert np.isfinite(after.head[16:]).all() and np.isfinite(after.times[16:]).all()

    m1 = WBModel.load(model)
    m1.edit_params = EditBlendParams(strength=1.0)
    p1 = m1.predict(cat, blend=True, progress=False)
    truth = kelvin_to_mired(cat.table["Temperature"].to_numpy(float))
    err0 = np.abs(p0["mired"].to_numpy() - truth)
    err1 = np.abs(p1["mired"].to_numpy() - truth)
    assert (err1 < err0).all() and err1.mean() < 0.5 * err0.mean()   # every photo moved towards the edits
    p_off = m1.predict(cat, blend=False, progress=False)
    np.testing.assert_allclose(p_off["mired"], p0["head_mired"])      # without blending: the model alone


def test_bad_input_is_a_clear_error_or_a_counted_skip(trained, tmp_path):
    _, model_src = trained
    model = copy_model(model_src, tmp_path / "model")
    shoot = new_shoot(tmp_path)
    csv = shoot / "Train" / "sliders.csv"
    df = pd.read_csv(csv)
    df.loc[1, "Temperature"] = np.nan                                   # a missing label
    df.to_csv(csv, index=False)
    (shoot / "Train" / "images" / f"{df.loc[2, 'id_global']}.tif").write_bytes(b"not a tiff")  # unreadable
    with pytest.raises(CatalogError, match=r"missing label.*row 2 .*--skip-bad"):
        run_add_edits(AddEditsConfig(model=model, data=shoot, threads=1, progress=False))
    df.loc[1, "Temperature"] = 5000
    df.to_csv(csv, index=False)
    with pytest.raises(CatalogError, match=rf"unreadable image.*{df.loc[2, 'id_global']}"):
        run_add_edits(AddEditsConfig(model=model, data=shoot, threads=1, progress=False))
    assert len(NeighborIndex.load(model)) == 16                         # nothing written by a failed run
    s = run_add_edits(AddEditsConfig(model=model, data=shoot, skip_bad=True, threads=1, progress=False))
    assert s["added"] == 5 and s["skipped"] == {"an unreadable image": 1}
    with pytest.raises(CatalogError, match=r"already in the model's index"):
        run_add_edits(AddEditsConfig(model=model, data=shoot, threads=1, progress=False))
    s = run_add_edits(AddEditsConfig(model=model, data=shoot, skip_bad=True, threads=1, progress=False))
    assert s["added"] == 0 and s["skipped"]["an id already in the model's index"] == 5
    assert len(NeighborIndex.load(model)) == 21


def test_predict_keeps_three_columns_and_writes_scenes_beside_them(trained, tmp_path):
    """(predict side of issue #12; could live in tests/app/test_predict.py) --consistency scene."""
    from app.predict import PredictConfig, run_predict

    root, model = trained
    out = run_predict(PredictConfig(data=root, model=model, split="Train", out=tmp_path / "p.csv", threads=1,
                                    progress=False, device="cpu"))
    assert list(pd.read_csv(out).columns) == ["id_global", "Temperature", "Tint"]
    side = pd.read_csv(tmp_path / "p.scenes.csv")
    ids = pd.read_csv(out)["id_global"].tolist()
    assert side["id_global"].tolist() == ids and side["scene"].str.startswith("scene-").all()
    assert (side.groupby("scene").size() == side.groupby("scene")["scene_size"].first()).all()
    run_predict(PredictConfig(data=root, model=model, split="Train", out=tmp_path / "q.csv", consistency="off",
                              threads=1, progress=False, device="cpu"))
    assert not (tmp_path / "q.scenes.csv").exists()
