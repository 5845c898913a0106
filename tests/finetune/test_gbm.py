"""finetune/gbm.py: the compact Forest predicts exactly what scikit-learn's models predict."""
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from finetune.gbm import Forest, fit_gbm, gbm_inputs


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    meta = rng.normal(size=(n, 4)).astype(np.float32)
    meta[rng.random(n) < 0.1, 1] = np.nan                      # missing values take the learned side
    cam = rng.integers(0, 6, n)
    feats = rng.normal(size=(n, 3)).astype(np.float32)
    x, cat = gbm_inputs(meta, cam, feats)
    y = np.c_[2 * feats[:, 0] + np.where(cam % 2 == 0, 1.5, -1.0) + np.nan_to_num(meta[:, 1]),
              feats[:, 1] - feats[:, 2] + 0.3 * cam]
    y[:5, 1] = np.nan                                          # a missing label: left out of that target
    return x, cat, y


def _sklearn(x, cat, y, seed=0, **kw):
    ok = [np.isfinite(y[:, j]) for j in range(y.shape[1])]
    return [HistGradientBoostingRegressor(loss="absolute_error", learning_rate=0.05, max_iter=kw.get("max_iter", 300),
                                          random_state=seed, categorical_features=cat).fit(x[o], y[o, j])
            for j, o in enumerate(ok)]


def test_forest_matches_sklearn_bit_for_bit():
    x, cat, y = _data()
    forest = fit_gbm(x, cat, y, seed=0, max_iter=60)
    reference = _sklearn(x, cat, y, max_iter=60)
    q, _, _ = _data(n=300, seed=1)
    q[:7, 4] = [0, 5, 6, 9, 200, -1, np.nan]                   # camera: known, unseen, out of range, missing
    q[7:12] = np.nan                                           # everything missing
    expected = np.stack([m.predict(q) for m in reference], 1)
    np.testing.assert_array_equal(forest.predict(q), expected)
    assert np.abs(expected).max() > 0.5                        # the trees say something


def test_forest_survives_packing_and_is_small():
    x, cat, y = _data()
    forest = fit_gbm(x, cat, y, max_iter=40)
    back = Forest.unpack(forest.pack())
    np.testing.assert_array_equal(back.predict(x), forest.predict(x))
    import lzma
    import pickle
    assert len(forest.pack()) < len(lzma.compress(pickle.dumps(_sklearn(x, cat, y, max_iter=40))))


def test_forest_keeps_only_what_prediction_reads():
    """A split node's value and a leaf's threshold are never read: stored as zeros (they compress to
    nothing), while the predictions stay sklearn's bit for bit (test above)."""
    x, cat, y = _data()
    forest = fit_gbm(x, cat, y, max_iter=40)
    assert (forest.value[~forest.leaf] == 0).all() and (forest.threshold[forest.leaf] == 0).all()
    assert (forest.value[forest.leaf] != 0).any() and (forest.threshold[~forest.leaf] != 0).any()
    np.testing.assert_array_equal(forest.predict(x), np.stack([m.predict(x) for m in _sklearn(x, cat, y, max_iter=40)], 1))


def test_empty_input_and_learning():
    x, cat, y = _data()
    forest = fit_gbm(x, cat, y, max_iter=100)
    assert forest.predict(x[:0]).shape == (0, 2)
    pred = forest.predict(x)
    ok = np.isfinite(y[:, 1])
    assert np.abs(pred[ok] - y[ok]).mean() < 0.5 * np.abs(y[ok] - np.median(y[ok], 0)).mean()


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values_follow_the_thresholds(bad):
    x, cat, y = _data()
    forest = fit_gbm(x, cat, y, max_iter=30)
    ref = _sklearn(x, cat, y, max_iter=30)
    q = x[:20].copy()
    q[:, 0] = bad
    np.testing.assert_array_equal(forest.predict(q), np.stack([m.predict(q) for m in ref], 1))


def test_predict_in_row_blocks_is_identical(monkeypatch):
    """Forest.predict walks rows in blocks (memory bounded for 20,000 photos); same result as at once."""
    import finetune.gbm as gbm

    x, cat, y = _data()
    forest = fit_gbm(x, cat, y, seed=0, max_iter=20)
    q, _, _ = _data(n=1000, seed=2)
    at_once = forest.predict(q)
    monkeypatch.setattr(gbm, "PREDICT_ROWS", 64)
    np.testing.assert_array_equal(forest.predict(q), at_once)
    assert at_once.shape == (1000, 2) and np.isfinite(at_once).all()
