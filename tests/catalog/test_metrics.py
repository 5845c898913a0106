"""catalog/metrics.py against a hand computation."""
from __future__ import annotations

import numpy as np
import pytest

from catalog.metrics import target_mae, wb_metrics


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
    from catalog.metrics import gain_z

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
