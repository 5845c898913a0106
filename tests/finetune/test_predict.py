"""finetune/predict.py end to end: a tiny model trained through run_finetune, then run_predict."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import CatalogError
from catalog.reader import load_catalog, read_catalog
from core.wb import kelvin_to_mired
from app.predict import PredictConfig, run_predict
from finetune.predict import PredictSettings, WBModel
from finetune.train import FinetuneConfig, run_finetune
from pretrain.encoder import Encoder, save_encoder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(catalog root, model dir): encoder saved fresh (width 8, 32 px), one tiny finetune run."""
    from tests.conftest import write_catalog

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("predict")
    root = write_catalog(base, n_train=16, n_val=6, size=32, with_labels=False)
    enc_dir = base / "enc"
    torch.manual_seed(0)
    save_encoder(enc_dir / "encoder.safetensors", Encoder(width=8, image_size=32))
    model = base / "model"
    run_finetune(FinetuneConfig(data=str(root), encoder=str(enc_dir), out=str(model), epochs=2, ensemble=2, hidden=16,
                                batch_size=16, rerender_aug=1, baselines=False, threads=1, workers=1, progress=False,
                                device="cpu"))
    return root, model


def _check_csv(path: Path, ids: list[str]) -> pd.DataFrame:
    df = pd.read_csv(path)
    assert list(df.columns) == ["id_global", "Temperature", "Tint"]
    assert df["id_global"].tolist() == ids  # every id once, in input order
    assert np.isfinite(df[["Temperature", "Tint"]].to_numpy(float)).all()
    assert df["Temperature"].between(2000, 50000).all() and df["Tint"].between(-150, 150).all()
    assert (df["Temperature"] == df["Temperature"].round()).all()
    return df


def test_model_folder_and_predict_csv(trained, tmp_path):
    root, model = trained
    assert {"encoder.safetensors", "head.safetensors", "manifest.json", "finetune_report.json", "neighbors.faiss", "neighbors.json"} <= \
        {p.name for p in model.iterdir()}
    ids = read_catalog(root, "Validation", labels="ignore").table["id_global"].tolist()
    out = run_predict(PredictConfig(data=str(root), model=str(model), out=str(tmp_path / "p.csv"), workers=1,
                                    threads=1, progress=False, device="cpu"))
    _check_csv(out, ids)  # split "auto" picked Validation
    train_ids = read_catalog(root, "Train").table["id_global"].tolist()
    out2 = run_predict(PredictConfig(data=str(root), model=str(model), split="Train", out=str(tmp_path / "t.csv"),
                                     blend_neighbors=False, smooth=False, workers=1, threads=1, progress=False))
    _check_csv(out2, train_ids)


def test_corrupt_image_raises_or_falls_back_to_metadata(trained, tmp_path):
    import shutil

    root, model = trained
    copy = tmp_path / "cat"
    shutil.copytree(root, copy)
    cat = read_catalog(copy, "Validation", labels="ignore")
    ids = cat.table["id_global"].tolist()
    cat.image_paths[2].write_bytes(b"not a tiff at all")
    kw = dict(data=str(copy), model=str(model), workers=1, threads=1, progress=False, device="cpu")
    with pytest.raises(CatalogError, match=ids[2]):
        run_predict(PredictConfig(out=str(tmp_path / "x.csv"), **kw))
    with pytest.warns(UserWarning, match=ids[2]):
        out = run_predict(PredictConfig(out=str(tmp_path / "m.csv"), on_error="metadata-only", **kw))
    _check_csv(out, ids)
    # WBModel directly: the failed row is flagged, the others still use their images
    m = WBModel.load(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_catalog(copy, "Validation", image_size=m.image_size, labels="ignore", progress=False,
                              on_error="collect", workers=1)
        full = m.predict_full(loaded, PredictSettings(on_error="metadata-only", progress=False))
    assert full.table["image_ok"].tolist() == [i != 2 for i in range(len(ids))]
    assert full.failed_ids == [ids[2]] and np.isnan(full.embeddings[2]).all()


def test_blended_path_pulls_duplicates_to_their_edits(trained):
    from retrieval.blend import BlendParams

    root, model = trained
    m = WBModel.load(model)
    assert m.index is not None and len(m.index) == 16
    cat = load_catalog(root, "Train", image_size=m.image_size, progress=False, workers=1)
    head_full = m.predict_full(cat, PredictSettings(blend=False, progress=False))
    head = head_full.table
    assert {"id_global", "Temperature", "Tint", "head_mired", "head_tint", "mired", "tint"} <= set(head.columns)
    assert head_full.neighbors is None
    # A training photo is its own nearest neighbour (cosine 1): a full-strength absolute blend with a
    # sharp softmax must return (almost) its own edit.
    m.blend_params = BlendParams(mode="absolute", strength=1.0, tau=0.001, min_sim=0.0)
    full = m.predict_full(cat, PredictSettings(blend=True, k=4, progress=False))
    p = full.table
    sims, idx = full.neighbors
    assert sims.shape == (16, 4) and (idx[:, 0] == np.arange(16)).all()
    truth = kelvin_to_mired(cat.table["Temperature"].to_numpy(float))
    assert np.abs(p["mired"] - truth).mean() < 0.5 < np.abs(head["mired"] - truth).mean()
    np.testing.assert_allclose(p["head_mired"], head["head_mired"])  # the head part is unchanged




def test_predict_without_embeddings_keeps_index_vectors_only(trained):
    """keep_embeddings=False (what `cli.py predict` runs, so memory does not grow by one embedding
    per photo): only each photo's index-space vector is kept, and every blending, smoothing and scene
    step gives exactly what it gives on the full embeddings."""
    from retrieval.blend import BlendParams, SmoothParams
    from retrieval.scenes import SceneParams

    root, model = trained
    m = WBModel.load(model)
    # every batch-wide step switched on, so that each reads the vectors
    m.blend_params = BlendParams(mode="absolute", strength=0.5, tau=0.05, min_sim=0.0)
    m.smooth_params = SmoothParams(threshold=0.0, strength=0.5)
    m.scene_params = SceneParams(max_gap_s=1e9, min_sim=-1.0, strength=0.5)
    cat = read_catalog(root, "Train")
    opts = dict(blend=True, k=4, smooth=True, consistency="scene", progress=False)
    full = m.predict_full(cat, PredictSettings(**opts))
    lean = m.predict_full(cat, PredictSettings(keep_embeddings=False, **opts))
    assert full.embeddings.shape == (16, m.encoder.dim) and lean.embeddings is None
    pd.testing.assert_frame_equal(full.table, lean.table)
    np.testing.assert_array_equal(full.scenes, lean.scenes)
    np.testing.assert_array_equal(full.neighbors[1], lean.neighbors[1])
    assert (full.table["mired"] != full.table["head_mired"]).any()  # the steps did move predictions


def _chunked(monkeypatch, size: int) -> None:
    original = WBModel._features
    monkeypatch.setattr(WBModel, "_features", lambda self, *a, **k: original(self, *a, **{**k, "chunk": size}))


@pytest.mark.parametrize("parallel", ["threads", "processes"])
def test_predictions_do_not_depend_on_chunking_or_workers(trained, monkeypatch, parallel):
    """Chunks of photos go to symmetric workers (core.parallel): threads, or forked processes that
    write their rows into shared memory. One worker with one chunk, and two workers with chunks of 3
    (each worker taking whichever chunk is next), give the same table and embeddings."""
    from core import parallel as parallel_module

    root, model_dir = trained
    cat = read_catalog(root, "Train")  # paths only: predict decodes in its chunks
    whole = WBModel.load(model_dir, threads=1).predict_full(cat, PredictSettings(progress=False, keep_embeddings=True))
    model = WBModel.load(model_dir, threads=2, parallel=parallel)
    _chunked(monkeypatch, 3)
    forks = []
    real_fork = parallel_module._run_processes
    monkeypatch.setattr(parallel_module, "_run_processes", lambda *a: forks.append(1) or real_fork(*a))
    split = model.predict_full(cat, PredictSettings(progress=False, keep_embeddings=True))
    assert len(forks) == (parallel == "processes" and parallel_module.can_fork())  # the kind of helper asked for
    pd.testing.assert_frame_equal(whole.table, split.table)
    np.testing.assert_array_equal(whole.embeddings, split.embeddings)
    assert split.embeddings.flags.owndata  # an ordinary array, not a view of the workers' shared memory


@pytest.mark.parametrize("parallel", ["threads", "processes"])
def test_two_workers_report_the_earliest_unreadable_row(trained, tmp_path, monkeypatch, parallel):
    """Two unreadable photos in different chunks: whichever worker meets its bad chunk first, the
    error names the earlier row (chunks before a failing one still run), and metadata-only mode
    predicts both from their metadata, every row kept, in either kind of helper."""
    import shutil

    root, model_dir = trained
    copy = tmp_path / "cat"
    shutil.copytree(root, copy)
    cat = read_catalog(copy, "Train", labels="ignore")
    ids = cat.table["id_global"].tolist()
    for i in (5, 13):
        cat.image_paths[i].write_bytes(b"broken")
    model = WBModel.load(model_dir, threads=2, parallel=parallel)
    _chunked(monkeypatch, 2)
    with pytest.raises(CatalogError, match=ids[5]) as err:
        model.predict_full(cat, PredictSettings(progress=False))
    assert ids[13] not in str(err.value)
    with pytest.warns(UserWarning, match=ids[13]):
        full = model.predict_full(cat, PredictSettings(on_error="metadata-only", progress=False))
    assert full.table["id_global"].tolist() == ids
    assert full.failed_ids == [ids[5], ids[13]]
    assert full.table["image_ok"].sum() == len(ids) - 2 and np.isfinite(full.table["mired"]).all()


@pytest.mark.parametrize("parallel", ["threads", "auto"])
def test_predict_command_passes_parallel_to_the_workers(trained, tmp_path, monkeypatch, parallel):
    """predict's --parallel decides what its --threads workers are: 'threads' never forks, 'auto' forks
    where fork is safe; the CSV is the same either way, and an unknown kind is a clear error."""
    from core import parallel as parallel_module

    root, model = trained
    forks = []
    real_fork = parallel_module._run_processes
    monkeypatch.setattr(parallel_module, "_run_processes", lambda *a: forks.append(1) or real_fork(*a))
    _chunked(monkeypatch, 2)
    kw = dict(data=str(root), model=str(model), split="Train", threads=2, progress=False, device="cpu")
    out = run_predict(PredictConfig(out=str(tmp_path / "p.csv"), parallel=parallel, **kw))
    assert len(forks) == (parallel == "auto" and parallel_module.can_fork())
    one = run_predict(PredictConfig(out=str(tmp_path / "one.csv"), **{**kw, "threads": 1}))
    assert out.read_bytes() == one.read_bytes()
    with pytest.raises(CatalogError, match="--parallel"):
        run_predict(PredictConfig(out=str(tmp_path / "x.csv"), parallel="gpu", **kw))


def test_a_worker_that_dies_is_an_error_not_missing_rows(trained, monkeypatch):
    """A forked worker killed mid-run (out of memory, a crash in a native library) cannot send its
    rows back: predict raises, naming what happened, instead of returning NaN predictions."""
    import os
    import signal

    from core import parallel as parallel_module

    if not parallel_module.can_fork():
        pytest.skip("helpers are threads on this platform")
    root, model_dir = trained
    model = WBModel.load(model_dir, threads=2, parallel="processes")
    _chunked(monkeypatch, 2)
    parent = os.getpid()
    real_embed = model.encoder.embed

    def embed_or_die(images, batch_size=128):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_embed(images, batch_size)

    monkeypatch.setattr(model.encoder, "embed", embed_or_die)
    with pytest.raises(RuntimeError, match="exit code -9"):
        model.predict_full(read_catalog(root, "Train"), PredictSettings(progress=False))


def test_predict_settings_refuse_unknown_choices_before_any_work(trained, tmp_path):
    """A misspelt on_error or consistency is a clear error naming the choices, from the settings
    themselves (so also from `predict` and its CLI, before the model is loaded), and settings once
    built cannot change under a running prediction."""
    import dataclasses

    root, model = trained
    with pytest.raises(CatalogError, match="metadata-only"):
        PredictSettings(on_error="skip")
    with pytest.raises(CatalogError, match="scene"):
        WBModel.load(model).predict(read_catalog(root, "Train"), consistency="scenes", progress=False)
    with pytest.raises(CatalogError, match="consistency"):
        run_predict(PredictConfig(data=str(root), model=str(tmp_path / "no model"), out=str(tmp_path / "x.csv"),
                                  consistency="on", progress=False))
    with pytest.raises(dataclasses.FrozenInstanceError):
        PredictSettings().blend = True
