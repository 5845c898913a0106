"""NeighborIndex: cosine retrieval on standardised embeddings, flat vs HNSW, save/load."""
import json

import faiss
import numpy as np
import pytest

from core.errors import CatalogError
from retrieval.index import NeighborIndex

faiss.omp_set_num_threads(1)


def _index(n=200, d=16, seed=0, hnsw_threshold=20000):
    rng = np.random.default_rng(seed)
    # features on very different scales (like pooled stages): standardisation must equalise them
    emb = (rng.normal(size=(n, d)) * np.logspace(-2, 2, d)).astype(np.float32)
    ids = [f"p{i:03d}" for i in range(n)]
    edits = np.c_[rng.uniform(150, 300, n), rng.uniform(-20, 20, n)]
    asshot = np.c_[rng.uniform(150, 300, n), rng.uniform(-20, 20, n)]
    shoots = [None if i % 5 == 0 else f"2024-01-{1 + i % 28:02d}" for i in range(n)]
    return NeighborIndex.build(emb, ids, edits, asshot, shoots, hnsw_threshold=hnsw_threshold), emb


def test_duplicate_retrieves_itself_first():
    ix, emb = _index()
    assert ix.kind == "flat" and len(ix) == 200
    sims, idx = ix.search(emb[[3, 77, 150]], k=5)
    assert sims.dtype == np.float32 and idx.dtype == np.int64 and sims.shape == (3, 5)
    np.testing.assert_array_equal(idx[:, 0], [3, 77, 150])
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=2e-3)  # vectors are stored in float16
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # best first
    assert (sims[:, 1] < 0.99).all()               # random others are not duplicates


def test_standardisation_makes_small_features_count():
    ix, emb = _index()
    q = emb[10].copy()
    q[0] += 50 * ix.std[0]  # a huge move in a *small-scale* feature must lower the similarity
    sims, _ = ix.search(q[None], 1)
    assert sims[0, 0] < 0.9


def test_pca_keeps_neighbours_and_shrinks_storage(tmp_path):
    """Wide embeddings driven by a few latent factors (like pooled CNN features): the PCA-reduced,
    float16 index finds the same nearest neighbours as exact search on all dimensions, in a fraction
    of the bytes."""
    rng = np.random.default_rng(3)
    n, d = 400, 256
    latent = rng.normal(size=(n, 12))
    emb = (latent @ rng.normal(size=(12, d)) + 0.05 * rng.normal(size=(n, d))).astype(np.float32)
    ix = NeighborIndex.build(emb, [str(i) for i in range(n)], np.zeros((n, 2)), np.zeros((n, 2)), [None] * n,
                             pca_dims=32)
    assert ix.basis.shape == (32, d) and ix.vectors().shape == (n, 32)
    q = emb + 0.05 * rng.normal(size=emb.shape).astype(np.float32)
    exact = (q - ix.mean) / ix.std
    exact /= np.linalg.norm(exact, axis=1, keepdims=True)
    base = (emb - ix.mean) / ix.std
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    true_nn = (exact @ base.T).argmax(1)
    _, idx = ix.search(q, 1)
    assert (idx[:, 0] == true_nn).mean() >= 0.95
    ix.save(tmp_path)
    assert (tmp_path / "neighbors.faiss").stat().st_size < n * d * 4 / 6  # vs. a float32 flat index


def test_k_larger_than_n_is_clipped():
    ix, emb = _index(n=7)
    sims, idx = ix.search(emb[:2], k=50)
    assert sims.shape == idx.shape == (2, 7)
    assert sorted(idx[0].tolist()) == list(range(7))


def test_hnsw_agrees_with_flat():
    flat, emb = _index(n=600, d=24, seed=1)
    hnsw, _ = _index(n=600, d=24, seed=1, hnsw_threshold=100)
    assert hnsw.kind == "hnsw"
    q = emb + np.random.default_rng(2).normal(size=emb.shape).astype(np.float32) * 0.1 * emb.std(0)
    _, i_flat = flat.search(q, 5)
    s_h, i_h = hnsw.search(q, 5)
    assert (i_flat[:, 0] == i_h[:, 0]).mean() >= 0.95
    assert i_h.dtype == np.int64 and s_h.dtype == np.float32


def test_a_wide_hnsw_search_widens_its_beam_for_that_search_only():
    """k above the default beam: the search asks for a beam of 2k (so it can fill k slots), without
    leaving that beam set on the index for every later search."""
    flat, emb = _index(n=600, d=24, seed=1)
    hnsw, _ = _index(n=600, d=24, seed=1, hnsw_threshold=100)
    beam = hnsw.index.hnsw.efSearch
    k = 2 * beam
    _, i_h = hnsw.search(emb[:20], k)
    _, i_flat = flat.search(emb[:20], k)
    assert hnsw.index.hnsw.efSearch == beam
    assert (i_h >= 0).all()  # every slot filled: a beam of `beam` < k could not
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(i_h, i_flat)])
    assert recall >= 0.9


@pytest.mark.parametrize("threshold", [20000, 10])
def test_save_load_identical(tmp_path, threshold):
    ix, emb = _index(n=60, hnsw_threshold=threshold)
    ix.save(tmp_path)
    assert all((tmp_path / f).is_file() for f in ("neighbors.faiss", "neighbors.json", "neighbors.npz"))
    back = NeighborIndex.load(tmp_path)
    assert back.kind == ix.kind and back.ids == ix.ids and back.shoots == ix.shoots
    np.testing.assert_allclose(back.edits, ix.edits, rtol=1e-6)  # stored as float32
    np.testing.assert_allclose(back.asshot, ix.asshot, rtol=1e-6)
    q = emb[::3] * 1.01
    for a, b in zip(ix.search(q, 4), back.search(q, 4)):
        np.testing.assert_array_equal(a, b)


def test_load_missing_and_bad_inputs(tmp_path):
    with pytest.raises(CatalogError, match="neighbors.faiss"):
        NeighborIndex.load(tmp_path)
    ix, emb = _index(n=10)
    ix.save(tmp_path)
    meta = json.loads((tmp_path / "neighbors.json").read_text())
    (tmp_path / "neighbors.json").write_text(json.dumps({**meta, "ids": meta["ids"][:-1], "shoots": meta["shoots"][:-1]}))
    with pytest.raises(CatalogError, match="holds 10 vectors but .* lists 9 ids"):
        NeighborIndex.load(tmp_path)
    (tmp_path / "neighbors.json").write_text(json.dumps({**meta, "format": 1}))
    with pytest.raises(CatalogError, match="format 1.*re-run finetune"):
        NeighborIndex.load(tmp_path)
    with pytest.raises(ValueError, match="expected \\(M, 16\\)"):
        ix.search(emb[:, :8], 2)
    with pytest.raises(ValueError, match="edits has 3 entries"):
        NeighborIndex.build(emb, [str(i) for i in range(10)], np.zeros((3, 2)), np.zeros((10, 2)), [None] * 10)


def test_non_finite_query_matches_nothing():
    ix, emb = _index(n=20)
    q = emb[:2].copy()
    q[0, 3] = np.nan
    sims, idx = ix.search(q, 3)
    assert np.abs(sims[0]).max() < 1e-6 and sims[1, 0] == pytest.approx(1.0, abs=2e-3)


def test_add_appends_in_the_training_space_and_leaves_the_original_alone(tmp_path):
    ix, emb = _index()
    rng = np.random.default_rng(5)
    new = (rng.normal(size=(3, 16)) * np.logspace(-2, 2, 16)).astype(np.float32)
    grown = ix.add(new, ["n0", "n1", "n2"], np.c_[[200.0, 210, 220], [1.0, 2, 3]], np.zeros((3, 2)),
                   ["2025-01-01"] * 3, head=np.c_[[190.0, 200, 210], [0.0, 0, 0]], times=[1.0, 2.0, np.nan])
    assert len(ix) == 200 and ix.index.ntotal == 200 and ix.n_added == 0           # untouched
    assert len(grown) == 203 and grown.n_train == 200 and list(grown.added()) == [200, 201, 202]
    np.testing.assert_array_equal(grown.vectors()[:200], ix.vectors())              # old entries unchanged
    np.testing.assert_array_equal(grown.edits[:200], ix.edits)
    assert (grown.mean == ix.mean).all() and (grown.basis == ix.basis).all()        # same space
    sims, idx = grown.search(new[1:2], 1)
    assert idx[0, 0] == 201 and sims[0, 0] > 0.99
    # training-only search never returns an added entry, and still returns k training ones
    s2, i2 = grown.search_training(np.concatenate([new, emb[:2]]), 4)
    assert i2.shape == (5, 4) and (i2 < 200).all() and (i2 >= 0).all() and i2[3, 0] == 0
    grown.save(tmp_path)
    back = NeighborIndex.load(tmp_path)
    assert back.n_train == 200 and back.ids[-1] == "n2" and np.allclose(back.head[201], [200, 0])
    assert back.times[200] == 1.0 and np.isnan(back.times[202]) and np.isnan(back.times[:200]).all()


def _sealed_model(folder, ix):
    from core.artifacts import ModelWriter, write_json
    with ModelWriter(folder) as w:
        write_json(w.dir / "head.json", {"weights": [1, 2, 3]})
        ix.save(w.dir)
        w.commit({"config": {"seed": 7}})


def test_save_into_model_reseals_the_folder_and_a_failed_write_keeps_the_old_index(tmp_path, monkeypatch):
    from core.artifacts import open_model
    ix, emb = _index()
    _sealed_model(tmp_path, ix)
    grown = ix.add(emb[:2] + 1.0, ["n0", "n1"], [[200.0, 1], [210, 2]], np.zeros((2, 2)), [None, None])
    manifest = grown.save_into_model(tmp_path)
    assert open_model(tmp_path) == manifest and manifest["config"] == {"seed": 7}   # verified, provenance kept
    assert json.loads((tmp_path / "head.json").read_text()) == {"weights": [1, 2, 3]}  # other files unchanged
    assert len(NeighborIndex.load(tmp_path)) == 202
    more = grown.add(emb[2:3] + 1.0, ["n2"], [[220.0, 3]], np.zeros((1, 2)), [None])

    def killed(self, folder):
        (folder / "neighbors.faiss").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(NeighborIndex, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        more.save_into_model(tmp_path)
    monkeypatch.undo()
    open_model(tmp_path)                                        # still a complete, verified model
    assert NeighborIndex.load(tmp_path).ids[-1] == "n1"        # the previous index


def test_add_refuses_a_known_id_a_repeated_id_and_a_broken_embedding():
    ix, emb = _index()
    one = emb[:1] + 1.0
    with pytest.raises(ValueError, match="'p003'.*already in the index"):
        ix.add(one, ["p003"], [[200.0, 0]], [[200.0, 0]], [None])
    with pytest.raises(ValueError, match="'x'.*already in the index"):
        ix.add(np.concatenate([one, one]), ["x", "x"], [[200.0, 0]] * 2, [[200.0, 0]] * 2, [None] * 2)
    with pytest.raises(ValueError, match="not finite"):
        ix.add(one * np.nan, ["y"], [[200.0, 0]], [[200.0, 0]], [None])
    with pytest.raises(ValueError, match="edits has 2 entries"):
        ix.add(one, ["y"], [[200.0, 0]] * 2, [[200.0, 0]], [None])
    assert len(ix) == 200


def test_index_written_before_add_edits_loads_with_nothing_added(tmp_path):
    ix, _ = _index()
    ix.save(tmp_path)
    meta = json.loads((tmp_path / "neighbors.json").read_text())
    del meta["n_train"]
    (tmp_path / "neighbors.json").write_text(json.dumps(meta))
    with np.load(tmp_path / "neighbors.npz") as z:
        arrays = {k: z[k] for k in z.files if k not in ("head", "times")}
    np.savez(tmp_path / "neighbors.npz", **arrays)
    back = NeighborIndex.load(tmp_path)
    assert back.n_train == 200 and back.n_added == 0 and np.isnan(back.head).all()
