import numpy as np
import pandas as pd
import pytest

from retrieval.scenes import (SceneParams, fit_scene, group_scenes, pull_to_scenes, scene_centres,
                              scene_consistency, scene_spread, scenes_path, write_scenes)


def two_scenes(n_per: int = 5, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Scene A: 5 shots a minute apart at 10:00 looking alike; scene B: 5 shots an hour later looking
    alike (another direction in embedding space); rows interleaved so order cannot give it away."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-06-01T10:00:00")
    times = [t0 + pd.Timedelta(minutes=i) for i in range(n_per)] + \
            [t0 + pd.Timedelta(hours=1, minutes=i) for i in range(n_per)]
    base = rng.normal(size=(2, 16))
    vec = np.concatenate([base[0] + 0.05 * rng.normal(size=(n_per, 16)),
                          base[1] + 0.05 * rng.normal(size=(n_per, 16))])
    order = np.stack([np.arange(n_per), n_per + np.arange(n_per)], 1).ravel()  # a, b, a, b, ...
    table = pd.DataFrame({"id_global": [f"p{i}" for i in range(2 * n_per)],
                          "captureTime": [times[i].isoformat() for i in order]})
    return table, vec[order]


def test_two_scenes_are_found():
    table, vec = two_scenes()
    scenes = group_scenes(table, vec, max_gap_s=300, min_sim=0.5)
    truth = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    assert len(np.unique(scenes)) == 2
    assert (scenes == truth).all()  # numbered by first appearance


def test_time_alone_does_not_join_distinct_looks_and_camera_splits():
    table, vec = two_scenes()
    table["captureTime"] = "2024-06-01T10:00:00"       # all at once ...
    scenes = group_scenes(table, vec, max_gap_s=300, min_sim=0.5)
    assert len(np.unique(scenes)) == 2                 # ... but two looks: still two scenes
    table["camera_model"] = ["a", "b"] * 5            # another camera is another scene
    assert len(np.unique(group_scenes(table, vec, max_gap_s=300, min_sim=-1.0))) == 2
    assert len(np.unique(group_scenes(table.drop(columns="camera_model"), vec, 300, -1.0))) == 1


def test_gap_splits_a_session_and_untimed_photos_join_only_near_duplicates():
    table, vec = two_scenes()
    vec = np.tile(vec[:1], (10, 1))                    # everything looks the same
    assert len(np.unique(group_scenes(table, vec, max_gap_s=300, min_sim=0.5))) == 2   # 1 h apart
    assert len(np.unique(group_scenes(table, vec, max_gap_s=7200, min_sim=0.5))) == 1
    table.loc[0, "captureTime"] = None
    s = group_scenes(table, vec, max_gap_s=300, min_sim=0.5)
    assert s[0] in s[1:]                               # an exact duplicate joins
    vec[0] = -vec[0]
    s = group_scenes(table, vec, max_gap_s=300, min_sim=0.5)
    assert s[0] not in s[1:]                           # an unlike untimed photo is alone


def test_pull_moves_to_the_scene_median_and_leaves_singletons():
    scenes = np.array([0, 0, 0, 1])
    pred = np.array([[100.0, 0.0], [110.0, 2.0], [400.0, 4.0], [250.0, 7.0]])
    centre = scene_centres(pred, scenes)
    assert np.allclose(centre[:3], [110.0, 2.0])      # the median shrugs off the 400
    out = pull_to_scenes(pred, scenes, 0.5)
    assert np.allclose(out[0], [105.0, 1.0]) and np.allclose(out[3], pred[3])
    assert np.array_equal(pull_to_scenes(pred, scenes, 0.0), pred)


def test_fit_scene_chooses_a_pull_when_scenes_share_an_edit_and_none_otherwise():
    rng = np.random.default_rng(1)
    tables, vecs, truths = [], [], []
    for k in range(12):  # 12 scenes of 6 photos, each scene one edit
        table, vec = two_scenes(3, seed=k)
        table["captureTime"] = [(pd.Timestamp("2024-01-01") + pd.Timedelta(days=k, minutes=i)).isoformat()
                                for i in range(6)]
        tables.append(table)
        vecs.append(vec)
        truths.append(np.repeat(rng.normal([200, 5], [30, 5], size=(1, 2)), 6, 0))
    table, vec, truth = pd.concat(tables, ignore_index=True), np.concatenate(vecs), np.concatenate(truths)
    pred = truth + rng.normal(0, [15, 3], size=truth.shape)
    params, report = fit_scene(pred, truth, vec, table)
    assert params.strength >= 0.5 and report["chosen"]["mae_mired"] < report["before"]["mae_mired"]
    # edits that differ photo by photo: pulling together cannot help -> strength 0, said why
    truth2 = truth + rng.normal(0, [40, 8], size=truth.shape)
    params2, report2 = fit_scene(truth2 + rng.normal(0, [2, 0.5], size=truth.shape), truth2, vec, table)
    assert params2.strength == 0 and "why" in report2["chosen"]


def test_scene_consistency_spread_and_side_file(tmp_path):
    table, vec = two_scenes()
    pred = np.column_stack([np.linspace(150, 250, 10), np.linspace(0, 10, 10)])
    out, scenes = scene_consistency(pred, vec, table, SceneParams(300, 0.5, 1.0))
    df = lambda p: pd.DataFrame({"Temperature": 1e6 / p[:, 0], "Tint": p[:, 1]})  # noqa: E731
    before, after = scene_spread(df(pred), scenes), scene_spread(df(out), scenes)
    assert before["n_scenes"] == 2 and before["n_photos"] == 10 and before["sd_mired_median"] > 20
    assert after["sd_mired_max"] < 1e-6 and after["sd_tint_max"] < 1e-9
    path = write_scenes(tmp_path / "predictions.csv", table["id_global"], scenes)
    assert path == scenes_path(tmp_path / "predictions.csv") == tmp_path / "predictions.scenes.csv"
    side = pd.read_csv(path)
    assert list(side.columns) == ["id_global", "scene", "scene_size"]
    assert side["scene"].nunique() == 2 and (side["scene_size"] == 5).all()
    with pytest.raises(ValueError, match="scene labels"):
        scene_spread(df(pred), scenes[:3])


def test_untimed_scenes_in_blocks_equal_the_one_shot_grouping(monkeypatch):
    """Untimed photos are compared in row blocks and their edges reduced to a spanning forest (memory
    O(block x N) and O(N) instead of O(N^2)); the scenes are exactly those of the one-shot product."""
    import retrieval.scenes as sc

    rng = np.random.default_rng(0)
    n = 1500
    v = rng.normal(size=(30, 16))[rng.integers(0, 30, n)] + rng.normal(0, 0.25, (n, 16))
    t = pd.DataFrame({"camera_model": rng.choice(["a", "b"], n),
                      "captureTime": [None if rng.random() < 0.7 else f"2023-01-01T10:{i % 60:02d}:00" for i in range(n)]})
    monkeypatch.setattr(sc, "UNTIMED_BLOCK", 10**9)
    monkeypatch.setattr(sc, "EDGES_PER_PHOTO", 10**9)
    one_shot = sc.group_scenes(t, v)
    monkeypatch.setattr(sc, "UNTIMED_BLOCK", 64)
    monkeypatch.setattr(sc, "EDGES_PER_PHOTO", 1)
    blocked = sc.group_scenes(t, v)
    assert 1 < len(np.unique(one_shot)) < n and np.array_equal(one_shot, blocked)


def test_components_match_scipy_on_random_graphs():
    """The numpy connected components (predict runs without scipy) agree with scipy's."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from retrieval.scenes import components

    rng = np.random.default_rng(0)
    for n, m in ((1, 0), (10, 0), (50, 30), (400, 350), (400, 2000)):
        r, c = rng.integers(0, n, m), rng.integers(0, n, m)
        ours = components(n, r, c)
        theirs = connected_components(coo_matrix((np.ones(m), (r, c)), shape=(n, n)), directed=False)[1]
        # same partition: a bijection between the two labellings
        pairs = set(zip(ours.tolist(), theirs.tolist()))
        assert len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))
        assert (ours <= np.arange(n)).all()  # each label is the smallest node of its component
