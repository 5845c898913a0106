"""SimCLR stage (pretrain/train.py): it learns, saves a usable encoder, resumes exactly, measures."""
import json
from dataclasses import replace

import numpy as np

import pytest
import torch

from pretrain.augment import WBViewAugment
import pretrain.train as train_module
from pretrain.encoder import ENCODER_FILE, Encoder, embed, load_checkpoint, load_encoder, save_checkpoint
from pretrain.train import PretrainConfig, evaluate_embeddings, holdout_split, run_pretrain

torch.set_num_threads(1)


def tiny_config(root, out, **kw):
    base = dict(data=root, out=out, epochs=2, batch_size=8, image_size=32, load_size=32, width=8, proj_dim=16,
                lr=3e-3, warmup_epochs=0.5, eval_every=0, seed=0, progress=False, workers=1)
    return PretrainConfig(**{**base, **kw})


def test_pretrain_learns_saves_and_resumes_exactly(make_catalog, tmp_path, monkeypatch):
    root = make_catalog(n_train=24, n_val=8, size=32)
    path = run_pretrain(tiny_config(root, tmp_path / "full"))

    enc, blob = load_encoder(path)
    hist = blob["history"]
    assert [h["epoch"] for h in hist] == [1, 2] and blob["epoch"] == 2
    assert hist[1]["loss"] < 0.95 * hist[0]["loss"], hist
    # every photo of both splits is used; one shoot (4 photos) is held out for measuring
    assert blob["n_images"]["total"] == 32 and blob["n_images"]["validation_split"] == 8
    assert blob["n_images"]["train"] + blob["n_images"]["holdout"] == 32 and blob["n_images"]["holdout"] >= 2
    assert blob["config"]["batch_size"] == 8 and "torch" in blob["versions"]
    assert {"view_top1", "view_top1_mean_colour", "nn_dmired", "random_dmired"} <= set(blob["final_eval"])
    # the checkpoint is a working encoder
    imgs = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    assert enc.image_size == 32 and embed(enc, imgs).shape == (5, enc.dim)
    report = json.loads((tmp_path / "full" / "pretrain_report.json").read_text())
    assert report["epochs_trained"] == 2 and report["images_per_s"] > 0
    assert (tmp_path / "full" / "pretrain_curve.png").stat().st_size > 1000

    # interrupted after epoch 1 (the per-epoch checkpoint is written, then the run dies), then --resume:
    # the same result as the uninterrupted run (same batches, views, optimizer and schedule state)
    cfg = tiny_config(root, tmp_path / "split")

    def save_then_die(path, blob):
        save_checkpoint(path, blob)  # both files of epoch 1 are written (the encoder first)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_pretrain(cfg)
    monkeypatch.undo()
    assert load_encoder(tmp_path / "split" / ENCODER_FILE)[1]["epoch"] == 1
    # encoder.safetensors is the encoder alone; the resume state is a file of its own (torch, weights_only)
    assert "optimizer" not in load_encoder(tmp_path / "split" / ENCODER_FILE)[1]
    assert "optimizer" in load_checkpoint(tmp_path / "split" / train_module.STATE_FILE)
    enc2, blob2 = load_encoder(run_pretrain(replace(cfg, resume=True)))
    assert blob2["epoch"] == 2 and [h["epoch"] for h in blob2["history"]] == [1, 2]
    assert blob2["history"][1]["loss"] == pytest.approx(hist[1]["loss"], rel=1e-4)
    for k, v in enc.state_dict().items():
        assert torch.allclose(v.float(), enc2.state_dict()[k].float(), atol=1e-5), k


def test_resume_without_checkpoint_is_an_error(make_catalog, tmp_path):
    root = make_catalog(n_train=8, n_val=0, size=24)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run_pretrain(tiny_config(root, tmp_path / "none", resume=True))


def test_single_folder_catalog_is_accepted(make_catalog, tmp_path):
    root = make_catalog(n_train=10, layout="folder", size=24)
    _, blob = load_encoder(run_pretrain(tiny_config(root, tmp_path / "m", epochs=1, image_size=16, load_size=24)))
    assert blob["n_images"]["total"] == 10 and blob["n_images"]["validation_split"] == 0


def test_holdout_takes_whole_shoots():
    shoots = ["a"] * 4 + ["b"] * 3 + ["c"] * 5 + [None] * 8
    for seed in range(5):
        mask = holdout_split(shoots, 0.25, seed)
        assert mask.sum() >= 5
        for s in ("a", "b", "c"):
            part = mask[[i for i, x in enumerate(shoots) if x == s]]
            assert part.all() or not part.any()
    assert not holdout_split(shoots, 0.0, 0).any()
    # a shoot far larger than the held-out share stays in training
    big = ["big"] * 90 + [f"s{i}" for i in range(10)]
    for seed in range(5):
        mask = holdout_split(big, 0.1, seed)
        assert not mask[:90].any() and 2 <= mask.sum() <= 16


def test_evaluate_embeddings_figures_mean_what_they_say():
    # distinct constant colours, no pastes: mean colour finds each photo's own view every time, and
    # labels that follow the colour make colour neighbours share labels far more than random pairs
    rng = np.random.default_rng(0)
    colours = rng.uniform(0.1, 0.9, (12, 3))
    imgs = np.broadcast_to((colours * 255).astype(np.uint8)[:, None, None, :], (12, 24, 24, 3)).copy()
    labels = np.stack([colours[:, 0] * 300, colours[:, 2] * 50], 1)
    enc = Encoder(width=8, image_size=16)
    out = evaluate_embeddings(enc, imgs, labels, seed=0, augment=WBViewAugment(16, p_paste=0.0))
    assert out["n"] == 12 and out["chance_top1"] == pytest.approx(1 / 12)
    assert out["view_top1_mean_colour"] == 1.0
    assert 0.0 <= out["view_top1"] <= 1.0
    assert out["nn_dmired_mean_colour"] < 0.5 * out["random_dmired"]
    assert out["n_labelled"] == 12
    # unlabelled rows are skipped for the label figures, not counted as zeros
    labels[:4] = np.nan
    assert evaluate_embeddings(enc, imgs, labels, seed=0)["n_labelled"] == 8
