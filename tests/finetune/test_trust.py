"""finetune/trust.py: the as-shot-aware member pulls a prediction only where validation shows a large gain,
never further than its bound, and the saved model carries exactly that choice."""

import json

import numpy as np
import pytest
import torch

from core.metadata import MetadataEncoder
from finetune.ensemble import HeadEnsemble
from finetune.trust import MIN_PHOTOS, TrustParams, apply_trust, choose_trust, fit_aware
from tests.finetune.test_ensemble import _ensemble


def _validation(n=300, aware_sd=2.0, image_sd=10.0, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.c_[rng.uniform(100, 300, n), rng.uniform(-10, 30, n)]
    image = truth + rng.normal(0, image_sd, truth.shape)
    aware = truth + rng.normal(0, aware_sd, truth.shape)
    return image, aware, truth


def test_a_much_better_aware_member_is_trusted_and_its_pull_is_bounded():
    image, aware, truth = _validation()
    p = choose_trust(image, aware, truth)
    assert p.active and all(w > 0 for w in p.weight)
    out = apply_trust(image, aware, p)
    assert np.abs(out - truth).mean() < 0.8 * np.abs(image - truth).mean()
    # however far the member strays, the prediction moves at most w * d
    wild = aware + 1000.0
    moved = np.abs(apply_trust(image, wild, p) - image)
    assert (moved <= np.asarray(p.weight) * np.asarray(p.bound) + 1e-9).all()
    assert all(r["adopted"] and r["gain"] >= 0.10 for r in p.report)


@pytest.mark.parametrize("case", ["small gain", "too few photos", "never"])
def test_the_as_shot_stays_untrusted_without_a_large_significant_gain(case):
    if case == "small gain":  # aware barely better than the image head: consistency wins
        rng = np.random.default_rng(1)
        truth = rng.uniform(100, 300, (400, 2))
        image = truth + rng.normal(0, 10, truth.shape)
        aware = image + rng.normal(0, 10, truth.shape) * 0.3 - 0.05 * (image - truth)
        p = choose_trust(image, aware, truth)
        assert all(0 < r["gain"] < 0.10 for r in p.report)  # it does help a little: still not trusted
    elif case == "too few photos":
        image, aware, truth = _validation(n=MIN_PHOTOS - 1)
        p = choose_trust(image, aware, truth)
    else:
        image, aware, truth = _validation()
        p = choose_trust(image, aware, truth, min_gain=1.0)
    assert not p.active and p.weight == [0.0, 0.0]
    np.testing.assert_array_equal(apply_trust(image, aware, p), image)


def test_trust_params_round_trip_through_json():
    p = TrustParams([0.7, 0.0], [np.inf, 0.0], 0.1, [{"gain": 0.4}])
    back = TrustParams.from_dict(json.loads(json.dumps(p.to_dict())), 2)
    assert back.weight == p.weight and back.bound == p.bound and back.report == p.report
    assert TrustParams.from_dict(None, 2).active is False


def _with_aware(trust):
    ens, emb, colour, table = _ensemble()
    rng = np.random.default_rng(5)
    shot = rng.normal(size=colour.shape).astype(np.float32)
    meta, cam = ens.meta_encoder.transform(table, "plain")
    y = np.c_[10 * shot[:, 0], 4 * shot[:, 1]]  # the shift from the as-shot the member learns
    ens.aware = fit_aware(meta, cam, colour, shot, y, seed=0)
    ens.trust = trust
    return ens, emb, colour, table, shot


def test_a_trusted_member_is_saved_and_predicts_identically_after_loading():
    ens, emb, colour, table, shot = _with_aware(TrustParams([0.5, 1.0], [5.0, np.inf]))
    parts = ens.predict_parts(emb, colour, table, "plain", shot)
    np.testing.assert_allclose(parts.mix, apply_trust(parts.image, parts.aware, ens.trust))
    assert np.abs(parts.mix - parts.image).max() > 0.1
    assert (np.abs(parts.mix - parts.image)[:, 0] <= 2.5 + 1e-9).all()
    back = HeadEnsemble.from_state_dict(ens.state_dict())
    assert back.reads_asshot
    np.testing.assert_array_equal(back.predict_parts(emb, colour, table, "plain", shot).mix, parts.mix)
    with pytest.raises(ValueError, match="shot"):
        back.predict_parts(emb, colour, table, "plain")


def test_an_untrusted_member_is_neither_consulted_nor_saved():
    ens, emb, colour, table, shot = _with_aware(TrustParams([0.0, 0.0], [0.0, 0.0], 0.1,
                                                            [{"gain": 0.05, "z": 0.4}, {"gain": 0.08, "z": 1.2}]))
    parts = ens.predict_parts(emb, colour, table, "plain", shot)
    np.testing.assert_array_equal(parts.mix, parts.image)
    sd = ens.state_dict()
    assert sd["aware"] is None
    back = HeadEnsemble.from_state_dict(sd)
    assert back.aware is None and not back.reads_asshot
    assert back.trust.report == ens.trust.report  # what validation measured travels with the model either way
    np.testing.assert_array_equal(back.predict_parts(emb, colour, table, "plain").mix, parts.image)


def test_finetune_trusts_an_as_shot_that_knows_the_edit_and_predict_follows_it(make_catalog, tmp_path, monkeypatch):
    """The fixture photographer's Tint is the camera's as-shot tint + 5, which no pixel shows: finetune
    trusts the as-shot for Tint, and the prediction then moves with the camera's tint, within the bound;
    with the bar at 1 nothing reads the as-shot."""
    import dataclasses

    from finetune.options import FinetuneConfig
    from catalog.reader import load_catalog
    from finetune.predict import WBModel
    from finetune.train import run_finetune

    torch.set_num_threads(1)
    root = make_catalog(n_train=160, n_val=0, size=16)
    base = dict(data=str(root), encoder="", image_size=16, epochs=3, ensemble=1, hidden=8, batch_size=64,
                rerender_aug=1, baselines=False, refit=False, val_fraction=0.5, threads=1, workers=1,
                progress=False, device="cpu")
    report = run_finetune(FinetuneConfig(out=str(tmp_path / "m"), **base))
    trust = report["asshot_trust"]
    assert trust["weight"][1] > 0, trust["report"]
    model = WBModel.load(tmp_path / "m")
    assert model.ensemble.reads_asshot
    cat = load_catalog(root, "Train", image_size=16, progress=False)
    rows = np.arange(60)
    sub = dataclasses.replace(cat, table=cat.table.iloc[rows].reset_index(drop=True), images=cat.images[rows],
                              image_paths=[cat.image_paths[i] for i in rows], image_failures={})
    pred = model.predict(sub, progress=False)
    assert np.abs(pred["Tint"] - sub.table["Tint"]).mean() < 3.0
    # the same photos, the camera's tint 8 higher: only the as-shot-aware member reads it
    from core.colour import image_features
    from finetune.trust import asshot_stats

    canon = model.ensemble.canonical(sub.images, sub.table)
    emb, col, shot = model.encoder.embed(canon), image_features(canon), asshot_stats(sub.images)
    a = model.ensemble.predict_parts(emb, col, sub.table, cat.exif_units, shot)
    b = model.ensemble.predict_parts(emb, col, sub.table.assign(currTint=sub.table["currTint"] + 8), cat.exif_units,
                                     shot)
    np.testing.assert_array_equal(a.image, b.image)
    delta = b.mix[:, 1] - a.mix[:, 1]
    w, d = trust["weight"][1], trust["bound"][1]
    assert delta.mean() > 1.0  # the trusted as-shot moves the tint ...
    assert (np.abs(delta) <= 2 * w * (d if d is not None else np.inf) + 1e-6).all()  # ... within its bound
    # Temperature's own choice: untouched when untrusted, else within its bound
    wt, dt = trust["weight"][0], trust["bound"][0]
    moved_t = np.abs(b.mix[:, 0] - a.mix[:, 0])
    assert (moved_t <= 2 * wt * (dt if dt is not None else np.inf) + 1e-6).all()

    # with the bar at 1 no validation could trust the as-shot: its renders' statistics are not even computed
    import finetune.train

    monkeypatch.setattr(finetune.train, "asshot_stats", lambda images: pytest.fail("as-shot statistics computed"))
    off = run_finetune(FinetuneConfig(out=str(tmp_path / "off"), asshot_trust_gain=1.0, **base))
    assert off["asshot_trust"]["weight"] == [0.0, 0.0]
    assert not WBModel.load(tmp_path / "off").ensemble.reads_asshot


def test_the_gradient_boosting_and_the_as_shot_aware_members_keep_their_own_files(tmp_path):
    """Both members are packed forests: each must come back as itself from the model folder."""
    from finetune.store import load_head, save_head

    ens, emb, colour, table, shot = _with_aware(TrustParams([1.0, 1.0], [np.inf, np.inf]))
    save_head(tmp_path, ens.state_dict())
    assert (tmp_path / "forest.npz").exists() and (tmp_path / "aware.npz").exists()
    back = HeadEnsemble.from_state_dict(load_head(tmp_path))
    before, after = ens.predict_parts(emb, colour, table, "plain", shot), back.predict_parts(emb, colour, table, "plain", shot)
    for part in ("gbm", "aware", "mix"):
        np.testing.assert_array_equal(getattr(before, part), getattr(after, part))


def test_a_gain_carried_by_a_few_shoots_is_not_trusted():
    """300 photos in 30 shoots: the as-shot-aware member is far better on 3 shoots and no better on the
    rest. Over photos that looks significant; over shoots it is not, so the as-shot stays untrusted."""
    rng = np.random.default_rng(2)
    shoots = np.repeat(np.arange(30), 10)
    truth = rng.uniform(100, 300, (300, 2))
    image = truth + rng.normal(0, 6, truth.shape)
    aware = image + rng.normal(0, 6, truth.shape)      # useless here ...
    lucky = shoots < 3
    image[lucky] += 40.0                               # ... except on 3 shoots the image head got badly wrong
    aware[lucky] = truth[lucky] + rng.normal(0, 1, (lucky.sum(), 2))
    by_photo = choose_trust(image, aware, truth)
    assert by_photo.active  # a gain over photos
    by_shoot = choose_trust(image, aware, truth, shoots=shoots)
    assert not by_shoot.active
    assert all(r["gain"] >= 0.10 and r["z"] < 2.0 and r["shoots"] == 30 for r in by_shoot.report)
    too_few = choose_trust(*_validation(), shoots=np.repeat(np.arange(5), 60))
    assert not too_few.active


def test_a_bar_of_zero_keeps_any_pull_that_helps_without_the_significance_test():
    """--asshot-trust-gain 0 (accuracy over consistency; benchmarks/asshot_tradeoff.py): the gain carried by
    3 of 30 shoots, refused at the default bar, is kept; a member that helps nowhere still is not."""
    rng = np.random.default_rng(2)
    shoots = np.repeat(np.arange(30), 10)
    truth = rng.uniform(100, 300, (300, 2))
    image = truth + rng.normal(0, 6, truth.shape)
    aware = image + rng.normal(0, 6, truth.shape)
    lucky = shoots < 3
    image[lucky] += 40.0
    aware[lucky] = truth[lucky] + rng.normal(0, 1, (lucky.sum(), 2))
    assert not choose_trust(image, aware, truth, shoots=shoots).active
    p = choose_trust(image, aware, truth, min_gain=0.0, shoots=shoots)
    assert p.active and all(r["adopted"] and r["z"] < 2.0 for r in p.report)
    assert np.abs(apply_trust(image, aware, p) - truth).mean() < np.abs(image - truth).mean()
    worse = choose_trust(image, image + 25.0, truth, min_gain=0.0, shoots=shoots)  # never closer to the truth
    assert not worse.active and worse.weight == [0.0, 0.0]
    assert not choose_trust(*_validation(n=MIN_PHOTOS - 1), min_gain=0.0).active  # minimums still hold
