"""core/metrics.py against a hand computation."""
from __future__ import annotations

import numpy as np
import pytest

from core.metrics import target_mae, wb_metrics


def test_wb_metrics_hand_example():
    m = wb_metrics([5000, 2500], [10, -4], [4000, 2500], [12, 0])
    # |4000-5000| = 1000, 0 -> 500 K; tint |2|, |4| -> 3; mired |250-200| = 50, 0 -> 25
    assert m["mae_temp_k"] == pytest.approx(500.0)
    assert m["mae_tint"] == pytest.approx(3.0)
    assert m["mae_mired"] == pytest.approx(25.0)
    assert m["score_temp"] == pytest.approx(1 / 501) and m["score_tint"] == pytest.approx(1 / 4)
    assert m["n"] == 2


def test_wb_metrics_perfect_empty_and_mismatch():
    p = wb_metrics([5000], [0], [5000], [0])
    assert p["mae_temp_k"] == 0 and p["score_temp"] == 1.0 and p["score_tint"] == 1.0
    assert np.isnan(wb_metrics([], [], [], [])["mae_temp_k"])
    with pytest.raises(ValueError, match="shape"):
        wb_metrics([1, 2], [1, 2], [1], [1])
    assert target_mae([0.5, -0.5], [0.0, 0.0]) == pytest.approx(0.5)


def test_gain_z_over_groups_tests_the_groups_mean_gains():
    from core.metrics import gain_z

    rng = np.random.default_rng(0)
    truth = np.zeros((60, 1))
    before = rng.normal(0, 5, (60, 1))
    after = before * 0.5
    groups = np.repeat(["a", "b", "c", "d", "e", "f"], 10)
    d = np.abs(before[:, 0]) - np.abs(after[:, 0])
    means = np.array([d[groups == g].mean() for g in "abcdef"])
    want = means.mean() / (means.std(ddof=1) / np.sqrt(6))
    assert gain_z(before, after, truth, [1.0], groups) == pytest.approx(want)
    assert gain_z(before, after, truth, [1.0]) == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(60)))


def test_select_against_a_hand_computation():
    """3 candidates x 6 photos in 3 folds. Pooled means: 2.0 (default), 1.5, 1.8 -> best 1, gain 25 %.
    Per fold (photos 0-1, 2-3, 4-5) the default errs 2, 2, 2 and candidate 1 errs 1, 1.5, 2: gains 50 %,
    25 %, 0 % -> only one fold fails to gain, so the rule adopts it."""
    from core.metrics import select

    errors = np.array([[2, 2, 2, 2, 2, 2],
                       [1, 1, 1, 2, 2, 2],
                       [1.8] * 6], np.float64)
    folds = np.array([0, 0, 1, 1, 2, 2])
    c = select(errors, default=0, folds=folds)
    assert (c.best, c.index, c.adopted) == (1, 1, True)
    assert c.gain == pytest.approx(0.25)
    assert c.fold_gains == pytest.approx((0.5, 0.25, 0.0))
    # the same pooled gain carried by one fold alone (two folds gain nothing) is noise: the default stays
    lucky = np.array([[2, 2, 2, 2, 2, 2], [0.5, 0.5, 2, 2, 2, 2]], np.float64)
    c = select(lucky, default=0, folds=folds)
    assert (c.best, c.index, c.adopted) == (1, 0, False) and c.gain == pytest.approx(0.25)
    assert "1 of 3 folds" in c.why
    # weights: photo 0 counts 4 times -> pooled (4*1 + 1 + 1 + 2 + 2 + 2) / 9 = 12/9 against 2
    w = np.array([4, 1, 1, 1, 1, 1], np.float64)
    assert select(errors, 0, folds, weights=w).gain == pytest.approx(1 - (12 / 9) / 2)


def test_select_keeps_the_default_below_the_bar_or_when_nothing_beats_it():
    from core.metrics import select

    folds = np.repeat(np.arange(5), 20)
    base = np.full(100, 1.0)
    small = select(np.stack([base, base * 0.995]), 0, folds)           # 0.5 % everywhere: under MIN_GAIN
    assert not small.adopted and small.index == 0 and "bar" in small.why
    assert select(np.stack([base * 0.995, base]), 1, folds).index == 1  # a non-zero default is returned as is
    worse = select(np.stack([base, base * 1.2]), 0, folds)             # a knob that only hurts stays off
    assert not worse.adopted and worse.index == 0 and worse.gain == 0
    assert select(np.stack([base, base * 0.5]), 0, folds, min_gain=0.6).adopted is False  # a higher bar (as-shot trust)


def test_select_on_one_holdout_tests_the_gain_over_shoots():
    """With a single holdout there are no folds to agree: the z-test over the shoots' mean gains decides."""
    from core.metrics import SIGNIFICANCE, select

    rng = np.random.default_rng(0)
    shoots = np.repeat(np.arange(30), 5)
    base = np.full(150, 1.0)
    shoot_gain = rng.normal(0.0, 0.3, 30)                  # noisy: some shoots gain, some lose, mean ~0
    noisy = base - np.repeat(shoot_gain - shoot_gain.mean() + 0.05, 5)
    c = select(np.stack([base, noisy]), 0, groups=shoots)
    assert c.gain > 0.01 and c.z < SIGNIFICANCE and not c.adopted
    steady = base - 0.05                                   # every shoot gains 5 %
    assert select(np.stack([base, steady]), 0, groups=shoots).adopted
    # guard=False: the pooled gain alone decides
    assert select(np.stack([base, noisy]), 0, groups=shoots, guard=False).adopted
