"""finetune/ensemble.py: the saved HeadEnsemble predicts exactly what the trained one did, in a compact file."""

import numpy as np
import pandas as pd
import torch

from core.metadata import MetadataEncoder
from finetune.gbm import fit_gbm, gbm_inputs
from finetune.ensemble import (HeadEnsemble, anchor_units, asshot_units, fit_scaling, image_meta_columns, make_specs,
                               scale_targets, unscale_targets)
from finetune.model import WBHead, head_arrays
from pretrain.encoder import round_to_half


def _table(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id_global": [f"p{i}" for i in range(n)], "currTemp": rng.uniform(3000, 8000, n),
                         "currTint": rng.uniform(-10, 20, n), "aperture": rng.uniform(1.4, 11, n),
                         "shutterSpeed": rng.uniform(1e-3, 0.1, n), "isoSpeedRating": rng.choice([100, 400, 1600], n),
                         "focalLength": rng.uniform(24, 200, n), "flashFired": rng.integers(0, 2, n),
                         "camera_model": rng.choice(["A", "B"], n)})


def _ensemble(n=120, seed=0, gbm=True):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    table = _table(n, seed)
    menc = MetadataEncoder().fit(table, "plain")
    meta, cam = menc.transform(table, "plain")
    meta = meta[:, image_meta_columns(menc.feature_names)]  # the image members never see the as-shot
    emb, colour = rng.normal(size=(n, 12)).astype(np.float32), rng.normal(size=(n, 5)).astype(np.float32)
    heads = []
    for _ in range(2):
        h = WBHead(12, 5, meta.shape[1], menc.n_cameras, 2, hidden=16)
        for p in h.parameters():  # non-zero weights everywhere (the output layers start at zero)
            torch.nn.init.normal_(p, std=0.3)
        heads.append(head_arrays(round_to_half(h.eval())))
    models = None
    if gbm:
        x, cat = gbm_inputs(meta, cam, colour)
        y = np.c_[3 * colour[:, 0] + meta[:, 0], colour[:, 1] - colour[:, 2]]
        models = fit_gbm(x, cat, y, max_iter=20)
    specs = make_specs(["Temperature", "Tint"], table.columns)
    ens = HeadEnsemble(heads, specs, menc, *HeadEnsemble.input_stats(emb, colour), gbm=models, gbm_weight=0.5)
    return ens, emb, colour, table


def test_saved_ensemble_predicts_identically_and_compactly():
    ens, emb, colour, table = _ensemble()
    before = ens.predict_parts(emb, colour, table, "plain")
    back = HeadEnsemble.from_state_dict(ens.state_dict())
    after = back.predict_parts(emb, colour, table, "plain")
    for part in ("mlp", "gbm", "mix"):
        np.testing.assert_array_equal(getattr(before, part), getattr(after, part))
    assert np.abs(before.mlp).max() > 1e-3  # the comparison is not between two zero outputs
    sd = ens.state_dict()
    assert all(v.dtype == np.float16 for h in sd["heads"] for v in h.values() if v.dtype.kind == "f")
    assert isinstance(sd["gbm"], bytes)


def test_ensemble_without_gbm_round_trips():
    ens, emb, colour, table = _ensemble(gbm=False)
    sd = ens.state_dict()
    assert sd["gbm"] is None
    back = HeadEnsemble.from_state_dict(sd)
    np.testing.assert_array_equal(back.predict_shift(emb, colour, table, "plain"),
                                  ens.predict_shift(emb, colour, table, "plain"))


def test_members_a_model_lacks_are_none_in_every_block(monkeypatch):
    """Without a gradient-boosting or as-shot-aware member, predict_parts names them None (also when it
    runs in row blocks), and the image mix and the prediction are the MLP heads' own."""
    import finetune.ensemble as fe

    ens, emb, colour, table = _ensemble(gbm=False)
    monkeypatch.setattr(fe, "PREDICT_ROWS", max(1, len(emb) // 3))
    parts = ens.predict_parts(emb, colour, table, "plain")
    assert parts.gbm is None and parts.aware is None
    assert parts.mlp.shape == (len(emb), 2) and np.abs(parts.mlp).max() > 1e-3
    np.testing.assert_array_equal(parts.image, parts.mlp)
    np.testing.assert_array_equal(parts.mix, parts.mlp)


def test_gbm_weight_is_per_target_and_saved():
    """Each target mixes the families with its own weight; the weights survive the model folder."""
    ens, emb, colour, table = _ensemble()
    ens.gbm_weight = np.array([0.0, 1.0])
    parts = ens.predict_parts(emb, colour, table, "plain")
    np.testing.assert_array_equal(parts.mix[:, 0], parts.mlp[:, 0])
    np.testing.assert_array_equal(parts.mix[:, 1], parts.gbm[:, 1])
    back = HeadEnsemble.from_state_dict(ens.state_dict())
    assert list(back.gbm_weight) == [0.0, 1.0]
    old = dict(ens.state_dict(), gbm_weight=0.5)  # format-2 folders written before: one float for all targets
    assert list(HeadEnsemble.from_state_dict(old).gbm_weight) == [0.5, 0.5]


def test_image_members_ignore_the_as_shot_and_the_fallback_reads_it():
    """Same image inputs, a wildly different as-shot: the head and GBM give the same prediction (the
    as-shot is not among their inputs); the metadata-only fallback, which has no image, may use it."""
    ens, emb, colour, table = _ensemble()
    fallback = WBHead(0, 0, ens.meta_encoder.dim, ens.meta_encoder.n_cameras, 2, hidden=8)
    for p in fallback.parameters():
        torch.nn.init.normal_(p, std=0.3)
    ens.fallback = head_arrays(fallback)
    moved = table.assign(currTemp=np.where(table["currTemp"] > 5000, 3000.0, 12000.0), currTint=-30.0)
    a, b = ens.predict_parts(emb, colour, table, "plain"), ens.predict_parts(emb, colour, moved, "plain")
    for part in ("mlp", "gbm", "mix"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.allclose(ens.predict_fallback_shift(table, "plain"), ens.predict_fallback_shift(moved, "plain"))
    names = [ens.meta_encoder.feature_names[i] for i in image_meta_columns(ens.meta_encoder.feature_names)]
    assert not any(k.startswith("asshot") for k in names) and "ev_exif" in names


def test_wb_targets_are_absolute_and_the_as_shot_is_kept_for_baselines():
    table = _table(4)
    specs = make_specs(["Temperature", "Tint", "Exposure"], list(table.columns) + ["currExposure"])
    table["currExposure"] = [0.1, 0.2, 0.3, 0.4]
    assert [(s.kind, s.anchor) for s in specs] == [("mired", None), ("direct", None), ("shift", "currExposure")]
    anchors = anchor_units(table, specs)
    np.testing.assert_array_equal(anchors[:, :2], 0.0)  # nothing is added to the Temperature/Tint outputs
    np.testing.assert_allclose(anchors[:, 2], table["currExposure"])
    np.testing.assert_allclose(asshot_units(table, specs)[:, :2],
                               np.c_[1e6 / table["currTemp"], table["currTint"]])


def test_reference_white_balance_is_saved_and_used_for_the_canonical_render():
    ens, emb, colour, table = _ensemble(gbm=False)
    ens.reference = (6500.0, 0.0)
    back = HeadEnsemble.from_state_dict(ens.state_dict())
    assert back.reference == (6500.0, 0.0)
    imgs = np.full((2, 4, 4, 3), 120, np.uint8)
    t = pd.DataFrame({"currTemp": [6500.0, 3000.0], "currTint": [0.0, 0.0]})
    out = back.canonical(imgs, t)
    np.testing.assert_array_equal(out[0], imgs[0])  # already at the reference
    assert out[1, 0, 0, 2] < out[1, 0, 0, 0]         # as-shot assumed tungsten: at 6,500 K it turns warm


def test_predict_in_row_blocks_is_identical(monkeypatch):
    """predict_parts runs in row blocks (memory bounded for 20,000 photos); the same result as at once,
    to float32 rounding (BLAS may pick another kernel for a small block; 4,096-row blocks of 20,000
    photos measured bit-identical here)."""
    import finetune.ensemble as fe

    ens, emb, colour, table = _ensemble(n=200)
    at_once = ens.predict_parts(emb, colour, table, "plain")
    monkeypatch.setattr(fe, "PREDICT_ROWS", 32)
    blocked = ens.predict_parts(emb, colour, table, "plain")
    np.testing.assert_array_equal(blocked.gbm, at_once.gbm)  # trees: exact
    for part in ("mlp", "mix"):
        np.testing.assert_allclose(getattr(blocked, part), getattr(at_once, part), rtol=1e-5, atol=1e-5)
    assert blocked.mix.shape == (200, 2) and np.abs(at_once.mlp).max() > 1e-3


def test_fit_scaling_returns_new_specs_and_leaves_its_input_alone():
    """Each target is centred on its median and scaled by its robust spread; the specs passed in (shared
    by every fold) keep their centre and scale, so one fold's fit cannot leak into the next."""
    rng = np.random.default_rng(3)
    shifts = np.c_[rng.normal(180.0, 12.0, 400), rng.normal(-4.0, 3.0, 400)]
    shifts[0] = np.nan  # a missing label is ignored, not a NaN centre
    specs = make_specs(["Temperature", "Tint"], [])
    before = [s.to_dict() for s in specs]
    fitted = fit_scaling(shifts, specs)
    assert [s.to_dict() for s in specs] == before
    assert [s.name for s in fitted] == ["Temperature", "Tint"] and fitted[0] is not specs[0]
    np.testing.assert_allclose([s.centre for s in fitted], np.nanmedian(shifts, 0))
    z = scale_targets(shifts[1:], fitted)
    np.testing.assert_allclose(np.median(z, 0), 0.0, atol=1e-6)
    assert (np.abs(np.std(z, 0) - 1.0) < 0.2).all()  # 1.4826 MAD of a normal is about its std
    np.testing.assert_allclose(unscale_targets(z, fitted), shifts[1:], atol=1e-4)  # float32 round trip
