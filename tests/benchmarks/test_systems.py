"""benchmarks/systems.py: command lines through cli.argv_for (the inverse of cli.options_from), and
catalogs written for folds and for the replicated predict list."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest

import cli
from demo.run import DemoConfig
from app.predict import PredictConfig
from benchmarks.systems import predict_cmd, write_fold
from catalog.reader import load_catalog, read_catalog
from finetune.train import FinetuneConfig
from pretrain.train import PretrainConfig


def _parsed(cfg_cls: type, argv: list[str]):
    """What cli.py's options make of `argv` for `cfg_cls` (the same decorator the commands use)."""
    got = []

    @click.command()
    @cli.options_from(cfg_cls)
    def command(cfg):
        got.append(cfg)

    command.main(argv, standalone_mode=False)
    return got[0]


@pytest.mark.parametrize("cfg_cls, overrides", [
    (PretrainConfig, {"data": Path("/d"), "out": Path("/o"), "epochs": 3, "resume": True, "progress": False,
                      "lr": 0.5}),
    (FinetuneConfig, {"data": Path("/d"), "encoder": Path("/e"), "train_encoder": "all", "baselines": True,
                      "epochs": 2}),
    (PredictConfig, {"data": Path("/d"), "blend_neighbors": False, "smooth": True, "k": 4, "split": "Train"}),
    (DemoConfig, {"out": Path("/tmp/x"), "n_train": 24, "progress": False}),
])
def test_argv_for_is_the_inverse_of_options_from(cfg_cls, overrides):
    cfg = _parsed(cfg_cls, cli.argv_for(cfg_cls, overrides))
    for name, value in overrides.items():
        assert getattr(cfg, name) == value, name
    # and every field not named keeps its default
    defaults = {f.name: f.default for f in dataclasses.fields(cfg_cls) if f.default is not dataclasses.MISSING}
    assert {k: getattr(cfg, k) for k in defaults if k not in overrides} == {k: v for k, v in defaults.items()
                                                                           if k not in overrides}


def test_an_empty_optional_path_means_none():
    """`finetune --encoder ""` (no pretraining), as scripts write it: None, not Path('.')."""
    cfg = _parsed(FinetuneConfig, ["--data", "/d", "--encoder", ""])
    assert cfg.encoder is None and cfg.data == Path("/d")


def test_argv_for_refuses_an_unknown_option():
    with pytest.raises(ValueError, match=r"PredictConfig has no option \['blend'\]"):
        cli.argv_for(PredictConfig, {"blend": True})


def test_predict_cmd_runs_the_product_default_through_cli(tmp_path):
    cmd = predict_cmd(tmp_path / "d", tmp_path / "m", tmp_path / "p.csv", "Train", True, {"threads": 1})
    assert cmd[1].endswith("cli.py") and cmd[2] == "predict"
    assert "--blend-neighbors" in cmd and "--smooth" in cmd and cmd[cmd.index("--threads") + 1] == "1"
    assert "--no-smooth" in predict_cmd(tmp_path, tmp_path, tmp_path / "p.csv", "Train", False, {})


def test_write_fold_replicates_rows_under_new_ids(make_catalog, tmp_path):
    root = make_catalog(tmp_path / "src", n_train=5, n_val=2)
    cat = read_catalog(root, "Train")
    rows = np.resize(np.arange(len(cat)), 12)  # every photo listed 2-3 times
    out = write_fold(cat, rows, tmp_path / "many")
    many = load_catalog(out, "Train", image_size=16, progress=False)
    ids = many.table["id_global"].tolist()
    assert len(ids) == 12 and len(set(ids)) == 12
    first = cat.table["id_global"].iloc[0]
    assert ids[0] == first and ids[5] == f"{first}~2" and ids[10] == f"{first}~3"
    original = load_catalog(root, "Train", image_size=16, progress=False)
    assert np.array_equal(many.images[5], original.images[0])  # the copy is the same photo
    src = pd.read_csv(cat.csv_path)
    assert many.table["currTemp"].iloc[7] == src["currTemp"].iloc[2]  # inputs of the copied row unchanged


def test_a_fold_model_is_reused_only_where_it_is_exactly_the_model_to_train(make_catalog, tmp_path):
    """The real-release sections share product fold models: another section's model stands in only for
    the same training rows and options; anything else is trained anew."""
    import torch

    from benchmarks.systems import finetune_fold, trained_before

    torch.set_num_threads(1)
    cat = read_catalog(make_catalog(n_train=12, n_val=0, size=16), "Train", labels="auto")
    a, b = write_fold(cat, np.arange(10), tmp_path / "a"), write_fold(cat, np.arange(10), tmp_path / "b")
    kw = dict(encoder=None, image_size=16, epochs=1, ensemble=1, hidden=8, batch_size=8, rerender_aug=0,
              baselines=False, threads=1, workers=1, device="cpu")
    first = finetune_fold(FinetuneConfig(data=a, out=tmp_path / "m1", progress=False, **kw), None)
    assert first == tmp_path / "m1" and (first / "manifest.json").is_file()
    same = FinetuneConfig(data=b, out=tmp_path / "m2", progress=True, **kw)  # other folders, same rows and options
    assert trained_before(same, first) and finetune_fold(same, first) == first and not (tmp_path / "m2").exists()
    assert not trained_before(FinetuneConfig(data=b, out=tmp_path / "m3", **{**kw, "epochs": 2}), first)
    other_rows = write_fold(cat, np.arange(1, 11), tmp_path / "c")
    assert not trained_before(FinetuneConfig(data=other_rows, out=tmp_path / "m4", **kw), first)
    assert not trained_before(same, None) and not trained_before(same, tmp_path / "missing")


def test_a_fold_model_of_another_encoder_is_not_reused(make_catalog, tmp_path):
    import torch

    from benchmarks.systems import finetune_fold, trained_before
    from pretrain.encoder import ENCODER_FILE, Encoder, save_encoder

    torch.set_num_threads(1)
    cat = read_catalog(make_catalog(n_train=12, n_val=0, size=16), "Train", labels="auto")
    data = write_fold(cat, np.arange(10), tmp_path / "a")
    enc = tmp_path / "enc"
    torch.manual_seed(0)
    save_encoder(enc / ENCODER_FILE, Encoder(width=4, image_size=16))
    kw = dict(data=data, encoder=enc, epochs=1, ensemble=1, hidden=8, batch_size=8, rerender_aug=0, baselines=False,
              threads=1, workers=1, device="cpu", progress=False)
    first = finetune_fold(FinetuneConfig(out=tmp_path / "m1", **kw), None)
    assert trained_before(FinetuneConfig(out=tmp_path / "m2", **kw), first)
    torch.manual_seed(1)
    save_encoder(enc / ENCODER_FILE, Encoder(width=4, image_size=16))  # pretrained again: same path, other weights
    assert not trained_before(FinetuneConfig(out=tmp_path / "m2", **kw), first)
