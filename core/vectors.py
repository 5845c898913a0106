"""Embeddings as unit vectors for cosine similarity: the one standardisation of the project.

Raw pooled ReLU features share a large positive mean, so every pair of photos looks similar;
centring and scaling each dimension first makes the cosine measure what differs between photos,
and every dimension counts, not just the largest. The neighbour index (retrieval.index), the
near-duplicate clusters that group validation (core.splits) and pretraining's retrieval
measure (pretrain.train) all go through `standardise`.
"""
from __future__ import annotations

import numpy as np

BLOCK_ROWS = 4096  # rows per block in standardise (bounded memory; rows are independent)


def standardise(embeddings: np.ndarray, mean: np.ndarray, std: np.ndarray, basis: np.ndarray | None = None,
                dtype: type = np.float32) -> np.ndarray:
    """(x - mean) / std, projected on `basis` (K, D) rows when given, then L2-normalised rows
    (C-contiguous `dtype`: float32 as faiss wants, float64 where a threshold is compared exactly).

    A zero row (e.g. the only photo of a 1-photo catalog, which *is* the mean) stays zero, and so
    does a non-finite one: it has cosine 0 with everything rather than NaN.

    Rows are independent, so large inputs go through in blocks of BLOCK_ROWS: the float64 working
    copies then stay a few MB however many photos (20,000 photos at once took ~170 MB of them)."""
    emb = np.asarray(embeddings)
    k = emb.shape[1] if basis is None else len(basis)
    out = np.empty((len(emb), k), dtype)
    for a in range(0, len(emb), BLOCK_ROWS):
        x = (np.asarray(emb[a:a + BLOCK_ROWS], np.float64) - mean) / std
        x[~np.isfinite(x).all(1)] = 0.0  # a broken embedding must not become faiss' garbage neighbour
        if basis is not None:
            x = x @ np.asarray(basis, np.float64).T
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        out[a:a + BLOCK_ROWS] = x / np.maximum(norm, 1e-12)
    return out
