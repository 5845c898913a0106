import numpy as np
import pandas as pd

from retrieval.edits import (EditBlendParams, apply_edit_blend, blend_added, edit_weights, fit_edit_blend,
                             reveal_sets)
from retrieval.index import NeighborIndex


def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


P = EditBlendParams(strength=1.0, beta=0.0, tau=0.1, time_scale_s=300.0, prior=0.1)


def test_a_same_moment_duplicate_pulls_hard_a_stranger_or_another_day_not_at_all():
    a_vec, a_time = unit([[1.0, 0, 0]]), np.array([1000.0])
    q_vec = unit([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 0]])
    q_time = np.array([1000.0, 1000.0, 1000.0 + 86400])
    pred = np.full((3, 2), 200.0)
    out = apply_edit_blend(pred, pred, q_vec, q_time, a_vec, a_time, np.array([[250.0, 10.0]]),
                           np.array([[200.0, 0.0]]), P)
    assert np.allclose(out[0], pred[0] + (1 / 1.1) * (np.array([250.0, 10.0]) - pred[0]))  # g = W/(W+prior)
    assert np.allclose(out[1:], pred[1:], atol=0.1)                                         # stranger, next day
    assert np.array_equal(apply_edit_blend(pred, pred, q_vec, q_time, a_vec, a_time, [[250.0, 10]], [[200.0, 0]],
                                           EditBlendParams(strength=0.0)), pred)


def test_beta_carries_the_correction_of_the_model_and_k_keeps_the_heaviest():
    a_vec, q_vec = unit([[1.0, 0]]), unit([[1.0, 0]])
    head_q, head_a = np.array([[180.0, 0.0]]), np.array([[200.0, 0.0]])
    p = EditBlendParams(strength=1.0, beta=1.0, tau=0.1, prior=1e-9)
    out = apply_edit_blend(head_q, head_q, q_vec, [0.0], a_vec, [0.0], [[230.0, 4.0]], head_a, p)
    assert np.allclose(out, [[210.0, 4.0]])   # the model said 20 lower than the neighbour: keep that
    w = edit_weights(unit([[1.0, 0]]), [0.0], unit([[1.0, 0], [1.0, 0.1], [0, 1.0]]), [0.0, 0.0, 0.0],
                     EditBlendParams(k=2))
    assert (w[0, :2] > 0).all() and w[0, 2] == 0


def shoots_fixture(n_shoots=10, per=8, seed=0):
    """Each shoot: two light sets (scenes) 20 minutes apart, each with its own edit; the model is off
    by a per-photo error. Revealed photos of the same scene should fix their scene-mates."""
    rng = np.random.default_rng(seed)
    vec, times, truth, shoots = [], [], [], []
    for s in range(n_shoots):
        for half in range(2):
            centre = rng.normal(size=8)
            edit = rng.normal([200, 5], [40, 6])
            for i in range(per // 2):
                vec.append(centre + 0.1 * rng.normal(size=8))
                times.append(s * 86400 + half * 1200 + 10 * i)
                truth.append(edit + rng.normal(0, [2, 0.5]))
                shoots.append(f"2024-01-{s + 1:02d}")
    truth = np.array(truth)
    head = truth + rng.normal(0, [15, 3], size=truth.shape) + rng.normal(0, [10, 2], size=(1, 2))
    return head, truth, unit(np.array(vec)), np.array(times, np.float64), np.array(shoots)


SMALL_GRID = {"beta": (0.0, 0.5), "tau": (0.1, 0.5), "time_scale_s": (300.0,), "prior": (0.1, 1.0),
              "strength": (0.5, 1.0)}


def test_fit_edit_blend_learns_from_same_scene_reveals_and_says_no_when_they_do_not_help():
    head, truth, vec, times, shoots = shoots_fixture()
    params, report = fit_edit_blend(head, truth, vec, times, shoots, grid=SMALL_GRID)
    assert params.strength > 0 and report["gain_mired_by_k"][3] > 0.2
    assert report["gain_mired_by_k"][5] >= report["gain_mired_by_k"][1]
    rng = np.random.default_rng(1)
    noisy = truth + rng.normal(0, [40, 8], size=truth.shape)   # edits unrelated to scenes: nothing to learn
    params2, report2 = fit_edit_blend(noisy + rng.normal(0, [1, 0.2], size=truth.shape), noisy, vec, times, shoots,
                                       grid=SMALL_GRID)
    assert params2.strength == 0 and "why" in report2["chosen"]


def test_reveal_sets_cover_big_shoots_only():
    shoots = np.array(["a"] * 6 + ["b"] * 5 + ["None"] * 9)
    sets = reveal_sets(shoots, ks=(1, 3), repeats=2)
    assert {s for s, *_ in sets} == {"a"} and len(sets) == 4
    for _, k, rev, rest in sets:
        assert len(rev) == k and len(rest) == 6 - k and not set(rev) & set(rest)


def test_blend_added_uses_only_entries_added_after_training():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 8)).astype(np.float32)
    ix = NeighborIndex.build(emb, [f"t{i}" for i in range(50)], np.full((50, 2), 100.0), np.zeros((50, 2)), [None] * 50)
    table = pd.DataFrame({"captureTime": ["2024-05-01T10:00:00"] * 3})
    pred = np.full((3, 2), 200.0)
    assert np.array_equal(blend_added(ix, pred, pred, emb[:3], table, P), pred)   # nothing added: unchanged
    grown = ix.add(emb[:1] * 1.01 + 0.01, ["new"], [[260.0, 8.0]], [[0.0, 0.0]], ["2024-05-01"],
                   head=[[200.0, 0.0]], times=[pd.Timestamp("2024-05-01T10:01:00").timestamp()])
    out = blend_added(grown, pred, pred, emb[:3], table, P)
    assert out[0, 0] > 250 and abs(out[1, 0] - 200) < 5    # its twin follows the edit, others barely move


def test_head_scale_discounts_an_added_photo_the_model_sees_in_other_light():
    vec, t = unit([[1.0, 0]]), [0.0]
    p = EditBlendParams(strength=1.0, beta=0.0, tau=0.5, head_scale=20.0)
    near = edit_weights(vec, t, vec, t, p, np.array([[200.0, 0]]), np.array([[205.0, 0]]))
    far = edit_weights(vec, t, vec, t, p, np.array([[200.0, 0]]), np.array([[260.0, 0]]))
    assert np.isclose(near[0, 0] / far[0, 0], np.exp(55 / 20))
    off = edit_weights(vec, t, vec, t, EditBlendParams(head_scale=0.0), np.array([[200.0, 0]]), np.array([[260.0, 0]]))
    assert off[0, 0] == 1.0
