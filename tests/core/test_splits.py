"""finetune/splits.py: shoots never straddle train/validation; clusters when there is no date."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.splits import grouped_holdout, grouped_kfold, near_duplicate_clusters, shoot_groups


def _table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(1, 12, n)  # uneven shoot sizes
    return pd.DataFrame({"id_global": [f"p{i}" for i in range(n)],
                         "captureTime": [f"2023-03-{d:02d}T1{i % 10}:00:0{i % 6}" + (".5" if i % 3 else "")
                                         for i, d in enumerate(days)]})


def test_groups_by_capture_date_and_reader_shoot_column():
    t = _table()
    g = shoot_groups(t)
    days = t["captureTime"].str[:10]
    assert len(set(g)) == days.nunique()  # mixed fractional / whole seconds still parse
    for d in days.unique():
        assert len(set(g[days == d])) == 1
    t2 = pd.DataFrame({"shoot": ["2023-01-01", None, "2023-01-01", None]})
    g2 = shoot_groups(t2)
    assert g2[0] == g2[2] and g2[1] != g2[3]  # undated, no embeddings: singletons


@pytest.mark.parametrize("seed", [0, 1])
def test_holdout_and_kfold_never_leak_a_group(seed):
    g = shoot_groups(_table(seed=seed))
    tr, va = grouped_holdout(g, 0.25, seed)
    assert len(set(g[tr]) & set(g[va])) == 0 and len(tr) + len(va) == len(g)
    assert 0.1 * len(g) <= len(va) <= 0.45 * len(g)
    folds = grouped_kfold(g, 4, seed)
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen.tolist()) == list(range(len(g)))  # every row validated exactly once
    for tr, va in folds:
        assert len(set(g[tr]) & set(g[va])) == 0 and len(tr) + len(va) == len(g)
    sizes = [len(va) for _, va in folds]
    biggest_group = max(np.unique(g, return_counts=True)[1])
    assert max(sizes) - min(sizes) <= biggest_group  # greedy balancing


def test_kfold_is_seeded_and_needs_enough_groups():
    g = shoot_groups(_table())
    a = grouped_kfold(g, 3, seed=5)
    b = grouped_kfold(g, 3, seed=5)
    assert all((x[1] == y[1]).all() for x, y in zip(a, b))
    with pytest.raises(ValueError, match="groups"):
        grouped_kfold(np.array(["a", "a", "b"]), 3)


def test_without_dates_near_duplicates_cluster_by_embedding():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (3, 16))
    emb = np.concatenate([c + rng.normal(0, 0.02, (4, 16)) for c in centres])   # 3 bursts of 4
    labels = near_duplicate_clusters(emb, threshold=0.9)
    assert len(set(labels)) == 3 and all(len(set(labels[i * 4:(i + 1) * 4])) == 1 for i in range(3))
    t = pd.DataFrame({"id_global": [str(i) for i in range(12)]})            # no captureTime at all
    g = shoot_groups(t, embeddings=emb)
    assert len(set(g)) == 3 and all(s.startswith("cluster:") for s in g)
    for tr, va in grouped_kfold(g, 3, 0):
        assert len(set(g[tr]) & set(g[va])) == 0
    assert len(set(shoot_groups(t))) == 12                                   # no embeddings: one per photo


def test_holdout_leaves_a_shoot_larger_than_the_share_in_training():
    """One shoot far larger than the held-out share stays in training whatever the seeded order (it
    used to go to validation whenever it came first); pretraining's measuring split is the same holdout."""
    from pretrain.train import holdout_split

    groups = np.array(["big"] * 90 + [f"s{i}" for i in range(10)], object)
    for seed in range(8):
        train, val = grouped_holdout(groups, 0.1, seed)
        assert not np.isin(np.arange(90), val).any() and 5 <= len(val) <= 10
        mask = holdout_split(list(groups), 0.1, seed)
        assert np.array_equal(np.flatnonzero(mask), val)
    # only groups larger than twice the share: the smallest one still makes a validation side
    train, val = grouped_holdout(np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20), 0.05, 0)
    assert len(val) == 20 and len(train) == 80


def test_recent_holdout_tests_exactly_the_most_recent_shoot_dates():
    from core.splits import recent_holdout

    rng = np.random.default_rng(0)
    dates = [f"2024-{m:02d}-{d:02d}" for m, d in [(1, 5), (1, 20), (2, 3), (3, 9), (3, 30), (5, 1), (6, 6),
                                                   (8, 8), (9, 1), (9, 2)]]
    shoot = [dates[i] for i in rng.integers(0, 10, 80)] + [None] * 5
    order = rng.permutation(len(shoot))
    table = pd.DataFrame({"shoot": [shoot[i] for i in order]})
    tr, te = recent_holdout(table, 0.2)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(len(table)))
    got = set(table["shoot"].iloc[te])
    assert got == {"2024-09-01", "2024-09-02"}  # 20 % of 10 dates: the 2 latest, every photo of them
    assert table["shoot"].iloc[tr].isna().sum() == 5  # undated rows train
    assert (table["shoot"].iloc[tr].dropna() < "2024-09-01").all()
    _, one = recent_holdout(table, 0.01)  # at least one date
    assert set(table["shoot"].iloc[one]) == {"2024-09-02"}
    with pytest.raises(ValueError, match="2 shoot dates"):
        recent_holdout(pd.DataFrame({"shoot": ["2024-01-01", None]}))


def test_recency_weights_halve_every_half_life():
    from core.splits import recency_weights

    table = pd.DataFrame({"shoot": ["2024-03-31", "2024-01-01", "2024-02-15", None]})
    w = recency_weights(table, 45.5)  # 2024-01-01 is 90 days before 2024-03-31 (leap year): two half-lives
    np.testing.assert_allclose(w[:3], [1.0, 0.5 ** (90 / 45.5), 0.5 ** (45 / 45.5)])
    assert w[3] == pytest.approx(w[:3].mean())
    assert np.all(recency_weights(table, 0) == 1.0)
