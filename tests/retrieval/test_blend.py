"""Neighbour blending, its fitting, batch smoothing and label anomalies on constructed examples."""
import faiss
import numpy as np
import pytest

from retrieval.blend import (BlendParams, SmoothParams, apply_blend, find_anomalies, fit_blend, fit_smooth,
                             neighbour_mean, smooth_batch)
from retrieval.index import NeighborIndex

faiss.omp_set_num_threads(1)


def test_strength_zero_is_the_head_exactly():
    rng = np.random.default_rng(0)
    head = rng.normal(200, 30, (20, 2))
    sims = np.sort(rng.uniform(0.5, 1, (20, 4)))[:, ::-1]
    idx = rng.integers(0, 10, (20, 4))
    out = apply_blend(head, rng.normal(200, 30, (20, 2)), sims, idx, rng.normal(200, 30, (10, 2)),
                      rng.normal(200, 30, (10, 2)), BlendParams(strength=0.0))
    np.testing.assert_array_equal(out, head)


def test_far_neighbour_does_not_pull():
    head = np.array([[200.0, 5.0], [200.0, 5.0]])
    sims = np.array([[0.49, 0.3], [0.9, 0.3]])  # row 0: all below min_sim; row 1: one close
    idx = np.array([[0, 1], [0, 1]])
    edits = np.array([[150.0, -20.0], [100.0, 40.0]])
    p = BlendParams(mode="absolute", strength=1.0, tau=0.05, min_sim=0.5)
    out = apply_blend(head, head, sims, idx, edits, edits, p)
    np.testing.assert_array_equal(out[0], head[0])
    # row 1: only neighbour 0 counts (neighbour 1 is far), gate = (0.9-0.5)/(1-0.5) = 0.8
    np.testing.assert_allclose(out[1], head[1] + 0.8 * (edits[0] - head[1]))


def test_shift_mode_carries_the_neighbours_correction():
    head = np.array([[230.0, 0.0]])
    q_asshot = np.array([[200.0, 5.0]])
    edits, asshot = np.array([[190.0, 10.0]]), np.array([[180.0, 0.0]])  # photographer: +10 mired, +10 tint
    sims, idx = np.array([[1.0]]), np.array([[0]])
    shift = apply_blend(head, q_asshot, sims, idx, edits, asshot, BlendParams("shift", 1.0, 0.05, 0.5))
    np.testing.assert_allclose(shift, [[210.0, 15.0]])
    absolute = apply_blend(head, q_asshot, sims, idx, edits, asshot, BlendParams("absolute", 1.0, 0.05, 0.5))
    np.testing.assert_allclose(absolute, [[190.0, 10.0]])
    half = apply_blend(head, q_asshot, sims, idx, edits, asshot, BlendParams("shift", 0.5, 0.05, 0.5))
    np.testing.assert_allclose(half, [[220.0, 7.5]])


def test_weights_favour_the_closest_and_ignore_missing_slots():
    mean, gate = neighbour_mean(np.zeros((1, 2)), np.array([[1.0, 0.8, -1.0]]), np.array([[0, 1, -1]]),
                                np.array([[100.0, 0.0], [200.0, 0.0]]), np.zeros((2, 2)),
                                mode="absolute", tau=0.05, min_sim=0.5)
    w1 = np.exp((0.8 - 1) / 0.05)
    np.testing.assert_allclose(mean[0, 0], (100 + w1 * 200) / (1 + w1))
    assert gate[0] == 1.0


def _validation(n=300, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.c_[rng.uniform(150, 300, n), rng.uniform(-30, 30, n)]
    head = truth + rng.normal(0, [8.0, 4.0], (n, 2))
    q_asshot = truth + rng.normal(0, [25.0, 8.0], (n, 2))
    sims = np.c_[rng.uniform(0.9, 1.0, n), rng.uniform(0.6, 0.9, n)]
    idx = np.c_[np.arange(n), rng.integers(0, n, n)]
    return rng, truth, head, q_asshot, sims, idx


def test_fit_blend_zero_for_noise_positive_for_truth():
    rng, truth, head, q_asshot, sims, idx = _validation()
    noise_edits = np.c_[rng.uniform(150, 300, len(truth)), rng.uniform(-30, 30, len(truth))]
    p, rep = fit_blend(head, q_asshot, truth, sims, idx, noise_edits, rng.normal(200, 30, (len(truth), 2)))
    assert p.strength == 0.0
    assert set(rep["modes"]) == {"absolute", "shift"}
    out = apply_blend(head, q_asshot, sims, idx, noise_edits, noise_edits, p)
    np.testing.assert_array_equal(out, head)

    # neighbour 0 of query i *is* a training copy whose edit is the query's truth
    p, rep = fit_blend(head, q_asshot, truth, sims, idx, truth, q_asshot)
    assert p.strength > 0.5
    head_mm = rep["head"]["mae_mired"]
    assert rep["chosen"]["mae_mired"] < 0.5 * head_mm
    for mode in ("absolute", "shift"):
        assert {"mae_mired", "mae_tint", "strength", "tau", "min_sim"} <= set(rep["modes"][mode])
    blended = apply_blend(head, q_asshot, sims, idx, truth, q_asshot, p)
    assert np.abs(blended - truth)[:, 0].mean() == pytest.approx(rep["chosen"]["mae_mired"])


def test_fit_blend_with_a_head_exact_on_one_target():
    rng, truth, head, q_asshot, sims, idx = _validation(seed=2)
    head[:, 1] = truth[:, 1]                                  # tint learnt exactly (MAE 0)
    nb_edits = truth + rng.normal(0, [0.5, 0.2], truth.shape)  # neighbours: far better mired, tint within 0.2
    p, rep = fit_blend(head, q_asshot, truth, sims, idx, nb_edits, q_asshot)
    assert p.strength > 0.5 and rep["chosen"]["mae_mired"] < 0.3 * rep["head"]["mae_mired"]
    assert rep["chosen"]["mae_tint"] < 0.5


def test_fit_blend_prefers_shift_when_the_correction_carries_over():
    rng, truth, head, q_asshot, sims, idx = _validation(seed=1)
    # neighbours are the same scenes shot with another as-shot; the photographer applies the same shift
    shift = truth - q_asshot
    nb_asshot = q_asshot + rng.normal(0, [30.0, 10.0], q_asshot.shape)
    p, rep = fit_blend(head, q_asshot, truth, sims, idx, nb_asshot + shift, nb_asshot)
    assert p.mode == "shift" and p.strength > 0.5
    assert rep["modes"]["shift"]["score"] < rep["modes"]["absolute"]["score"]


def test_smooth_batch_pulls_duplicates_only():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(7, 16)).astype(np.float32)
    emb = np.r_[base[:3], base[:3], base[3:]]          # rows i and i+3 (i<3) are exact duplicates
    pred = rng.normal(200, 20, (10, 2))
    out = smooth_batch(pred, emb, SmoothParams(threshold=0.95, strength=1.0))
    np.testing.assert_allclose(out[:3], out[3:6])
    np.testing.assert_allclose(out[:3], (pred[:3] + pred[3:6]) / 2)
    np.testing.assert_array_equal(out[6:], pred[6:])
    half = smooth_batch(pred, emb, SmoothParams(threshold=0.95, strength=0.5))
    np.testing.assert_allclose(half[0], pred[0] + 0.25 * (pred[3] - pred[0]))
    np.testing.assert_array_equal(smooth_batch(pred, emb, SmoothParams(strength=0.0)), pred)


def test_fit_smooth_on_noisy_duplicates_and_on_strangers():
    rng = np.random.default_rng(1)
    scenes = rng.normal(size=(40, 16)).astype(np.float32)
    emb = np.repeat(scenes, 3, 0) + rng.normal(0, 0.01, (120, 16)).astype(np.float32)
    truth = np.repeat(np.c_[rng.uniform(150, 300, 40), rng.uniform(-30, 30, 40)], 3, 0)
    pred = truth + rng.normal(0, [8.0, 4.0], truth.shape)
    p, rep = fit_smooth(pred, emb, truth)
    assert p.strength > 0.5 and rep["chosen"]["mae_mired"] < rep["before"]["mae_mired"]
    strangers = rng.normal(size=(120, 16)).astype(np.float32)
    p, _ = fit_smooth(pred, strangers, truth)
    assert p.strength == 0.0


def test_find_anomalies_flags_the_planted_outlier():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    emb = np.repeat(centres, 6, 0) + rng.normal(0, 0.02, (24, 16))
    emb = np.r_[emb, rng.normal(size=(6, 16))].astype(np.float32)   # + 6 unrelated singletons
    n = len(emb)
    scene_edit = np.repeat(np.c_[rng.uniform(150, 300, 4), rng.uniform(-20, 20, 4)], 6, 0)
    edits = np.r_[scene_edit + rng.normal(0, [2.0, 1.0], scene_edit.shape),
                  np.c_[rng.uniform(150, 300, 6), rng.uniform(-20, 20, 6)]]
    edits[8] += [60.0, 0.0]                                           # planted: 60 mired off its burst
    ids = [f"id{i}" for i in range(n)]
    asshot = np.r_[np.repeat(rng.uniform(150, 300, (4, 2)), 6, 0), rng.uniform(150, 300, (6, 2))]  # one per burst
    index = NeighborIndex.build(emb, ids, edits, asshot, [f"2024-02-0{1 + i // 6}" for i in range(n)])
    df = find_anomalies(index, emb, k=8, min_sim=0.8, z=3.0)
    assert df["id_global"].tolist() == ["id8"]
    row = df.iloc[0]
    assert row["z_mired"] > 3 and abs(row["neighbour_mired"] - scene_edit[8, 0]) < 8
    assert row["n_neighbors"] == 5 and row["shoot"] == "2024-02-02"
    for col in ("id_global", "mired", "tint", "neighbour_mired", "neighbour_tint", "z_mired", "z_tint",
                "n_neighbors", "shoot"):
        assert col in df.columns
    assert row["Temperature"] == pytest.approx(1e6 / row["mired"])
    # the stored vectors give the same answer; nothing is flagged when the burst agrees
    assert find_anomalies(index, None, k=8, min_sim=0.8)["id_global"].tolist() == ["id8"]
    assert find_anomalies(index, None, k=8, min_sim=0.8, mode="absolute")["id_global"].tolist() == ["id8"]
    edits[8] -= [60.0, 0.0]
    clean = NeighborIndex.build(emb, ids, edits, asshot, [None] * n)
    assert len(find_anomalies(clean, emb, k=8, min_sim=0.8)) == 0
    # photo 8 re-shot under other light: as-shot and edit both 60 mired higher, the same correction.
    # In "shift" mode that is consistent; comparing absolute values calls it an anomaly.
    asshot[8] += [60.0, 0.0]
    edits[8] += [60.0, 0.0]
    reshot = NeighborIndex.build(emb, ids, edits, asshot, [None] * n)
    assert len(find_anomalies(reshot, emb, k=8, min_sim=0.8, mode="shift")) == 0
    assert find_anomalies(reshot, emb, k=8, min_sim=0.8, mode="absolute")["id_global"].tolist() == ["id8"]


def test_fit_blend_rejects_a_gain_carried_by_one_lucky_photo():
    """A big average gain that comes from a single photo is luck, not a pattern: not significant."""
    m = 40
    rng = np.random.default_rng(5)
    truth = np.c_[rng.uniform(150, 300, m), rng.uniform(-10, 10, m)]
    head = truth + np.where(np.arange(m) % 2 == 0, 1, -1)[:, None] * np.array([5.0, 1.0])
    head[0] = truth[0] + [100.0, 20.0]                     # one photo the head gets very wrong ...
    edits = head.copy()
    edits[0] = truth[0]                                     # ... and only its neighbour knows better
    sims, idx = np.full((m, 1), 0.99, np.float32), np.arange(m)[:, None]
    params, report = fit_blend(head, truth, truth, sims, idx, edits, truth)
    assert report["modes"]["absolute"]["score"] < 0.9 * report["head"]["score"]  # the average did improve
    assert report["gain_z"] < 2 and params.strength == 0 and "z =" in report["chosen"]["why"]
