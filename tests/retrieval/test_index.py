"""NeighborIndex: cosine retrieval on standardised embeddings, flat vs HNSW, save/load."""
import faiss
import numpy as np
import pytest

from catalog.errors import CatalogError
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
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # best first
    assert (sims[:, 1] < 0.99).all()               # random others are not duplicates


def test_standardisation_makes_small_features_count():
    ix, emb = _index()
    q = emb[10].copy()
    q[0] += 50 * ix.std[0]  # a huge move in a *small-scale* feature must lower the similarity
    sims, _ = ix.search(q[None], 1)
    assert sims[0, 0] < 0.9


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


@pytest.mark.parametrize("threshold", [20000, 10])
def test_save_load_identical(tmp_path, threshold):
    ix, emb = _index(n=60, hnsw_threshold=threshold)
    ix.save(tmp_path)
    assert (tmp_path / "neighbors.faiss").is_file() and (tmp_path / "neighbors.json").is_file()
    back = NeighborIndex.load(tmp_path)
    assert back.kind == ix.kind and back.ids == ix.ids and back.shoots == ix.shoots
    np.testing.assert_array_equal(back.edits, ix.edits)
    np.testing.assert_array_equal(back.asshot, ix.asshot)
    q = emb[::3] * 1.01
    for a, b in zip(ix.search(q, 4), back.search(q, 4)):
        np.testing.assert_array_equal(a, b)


def test_load_missing_and_bad_inputs(tmp_path):
    with pytest.raises(CatalogError, match="neighbors.faiss"):
        NeighborIndex.load(tmp_path)
    ix, emb = _index(n=10)
    with pytest.raises(ValueError, match="expected \\(M, 16\\)"):
        ix.search(emb[:, :8], 2)
    with pytest.raises(ValueError, match="edits has 3 entries"):
        NeighborIndex.build(emb, [str(i) for i in range(10)], np.zeros((3, 2)), np.zeros((10, 2)), [None] * 10)


def test_non_finite_query_matches_nothing():
    ix, emb = _index(n=20)
    q = emb[:2].copy()
    q[0, 3] = np.nan
    sims, idx = ix.search(q, 3)
    assert np.abs(sims[0]).max() < 1e-6 and sims[1, 0] == pytest.approx(1.0, abs=1e-5)
