"""core/metadata.py: missing columns and values, unseen cameras, APEX vs plain EXIF, persistence."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.metadata import MetadataEncoder


def _table(n: int = 6) -> pd.DataFrame:
    f = np.array([1.8, 2.8, 4.0, 5.6, 8.0, 2.0])[:n]
    t = np.array([1 / 60, 1 / 125, 1 / 250, 1 / 500, 1 / 30, 1 / 1000])[:n]
    return pd.DataFrame({
        "currTemp": np.array([3000, 4000, 5000, 5500, 6500, 7500.0])[:n],
        "currTint": np.array([-5, 0, 5, 10, 15, 20.0])[:n],
        "aperture": f, "shutterSpeed": t,
        "isoSpeedRating": np.array([100, 200, 400, 800, 1600, 3200.0])[:n],
        "focalLength": np.array([24, 35, 50, 85, 135, 200.0])[:n],
        "flashFired": np.array([0, 1, 0, 0, 1, 0.0])[:n],
        "camera_model": ["A", "A", "B", "B", "C", "C"][:n],
        "camera_group": ["g1", "g1", "g1", "g1", "g2", "g2"][:n],
    })


def _feature(enc: MetadataEncoder, x: np.ndarray, name: str) -> np.ndarray:
    """Undo the standardisation of one feature column."""
    j = enc.feature_names.index(name)
    return x[:, j] * enc.std[j] + enc.mean[j]


def test_features_are_standardised_and_in_apex_units():
    t = _table()
    enc = MetadataEncoder().fit(t, "plain")
    x, cam = enc.transform(t, "plain")
    assert x.dtype == np.float32 and x.shape == (6, enc.dim) and cam.dtype == np.int64
    varying = x.std(0) > 0
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(0)[varying], 1, atol=1e-4)
    np.testing.assert_allclose(_feature(enc, x, "asshot_mired"), 1e6 / t["currTemp"], rtol=1e-5)
    np.testing.assert_allclose(_feature(enc, x, "av"), 2 * np.log2(t["aperture"]), rtol=1e-5)   # f/2.8 -> ~2.97
    np.testing.assert_allclose(_feature(enc, x, "tv"), -np.log2(t["shutterSpeed"]), rtol=1e-5)  # 1/250 s -> ~7.97
    np.testing.assert_allclose(_feature(enc, x, "sv"), np.log2(t["isoSpeedRating"] / 3.125), rtol=1e-5)  # ISO 100 -> 5
    ev = _feature(enc, x, "av") + _feature(enc, x, "tv") - _feature(enc, x, "sv")
    np.testing.assert_allclose(_feature(enc, x, "ev_exif"), ev, rtol=1e-4, atol=1e-4)


def test_apex_and_plain_units_give_the_same_features():
    plain = _table()
    apex = plain.copy()
    apex["aperture"] = 2 * np.log2(plain["aperture"])
    apex["shutterSpeed"] = -np.log2(plain["shutterSpeed"])
    enc = MetadataEncoder().fit(plain, "plain")
    np.testing.assert_allclose(enc.transform(apex, "apex")[0], enc.transform(plain, "plain")[0], atol=1e-5)
    # and an encoder fitted on the APEX catalog is the same encoder
    enc2 = MetadataEncoder().fit(apex, "apex")
    np.testing.assert_allclose(enc2.transform(apex, "apex")[0], enc.transform(plain, "plain")[0], atol=1e-5)


def test_missing_columns_and_nan_become_median_plus_indicator():
    t = _table()
    enc = MetadataEncoder().fit(t, "plain")
    q = t.drop(columns=["focalLength", "flashFired", "camera_model", "camera_group"]).copy()
    q.loc[1, "aperture"] = np.nan
    x, cam = enc.transform(q, "plain")
    assert np.isfinite(x).all()
    np.testing.assert_allclose(_feature(enc, x, "log_focal"), np.median(np.log(t["focalLength"])), rtol=1e-5)
    np.testing.assert_allclose(_feature(enc, x, "log_focal_missing"), 1.0)
    assert _feature(enc, x, "av_missing")[1] == pytest.approx(1.0) and _feature(enc, x, "av_missing")[0] == pytest.approx(0.0)
    assert _feature(enc, x, "av")[1] == pytest.approx(np.median(2 * np.log2(t["aperture"])), rel=1e-5)
    assert (cam == 0).all()  # no camera columns: the unknown bucket
    # a training table with NaNs: the median ignores them, the indicator is a real feature
    t2 = t.copy()
    t2.loc[[0, 1], "isoSpeedRating"] = np.nan
    enc2 = MetadataEncoder().fit(t2, "plain")
    x2, _ = enc2.transform(t2, "plain")
    assert np.isfinite(x2).all() and x2[:, enc2.feature_names.index("sv_missing")].std() > 0


def test_optional_columns_only_when_trained_with_them():
    t = _table()
    t["intensity"] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    enc = MetadataEncoder().fit(t, "plain")
    assert "intensity" in enc.feature_names and "ev" not in enc.feature_names
    x, _ = enc.transform(t.drop(columns=["intensity"]), "plain")   # absent at prediction time: imputed
    assert np.isfinite(x).all() and x.shape[1] == enc.dim


def test_unseen_camera_falls_back_to_group_then_unknown():
    t = _table()
    enc = MetadataEncoder().fit(t, "plain")
    assert enc.n_cameras == 1 + 3 + 2  # unknown + models A,B,C + groups g1,g2
    q = pd.DataFrame({"currTemp": [5000.0] * 4, "currTint": [0.0] * 4,
                      "camera_model": ["A", "Z", "Z", None], "camera_group": ["g1", "g2", "g9", None]})
    _, cam = enc.transform(q, "plain")
    idx = {c: i + 1 for i, c in enumerate(enc.cameras)}
    assert cam.tolist() == [idx["model:A"], idx["group:g2"], 0, 0]
    # the trainer's camera dropout maps a model to its group
    assert enc.fallback[idx["model:C"]] == idx["group:g2"] and enc.fallback[idx["group:g1"]] == 0


def test_state_dict_round_trip_is_json_and_identical():
    t = _table()
    enc = MetadataEncoder().fit(t, "plain")
    blob = json.loads(json.dumps(enc.state_dict()))
    enc2 = MetadataEncoder.from_state_dict(blob)
    for a, b in zip(enc.transform(t, "plain"), enc2.transform(t, "plain")):
        np.testing.assert_array_equal(a, b)
    assert enc2.feature_names == enc.feature_names


def test_transform_before_fit_and_bad_units_raise():
    from core.errors import CatalogError

    with pytest.raises(RuntimeError, match="before fit"):
        MetadataEncoder().transform(_table(), "plain")
    with pytest.raises(CatalogError, match="exif_units"):
        MetadataEncoder().fit(_table(), "seconds")
