"""Embeddings as unit vectors for cosine similarity: the one standardisation of the project.

Raw pooled ReLU features share a large positive mean, so every pair of photos looks similar;
centring and scaling each dimension first makes the cosine measure what differs between photos,
and every dimension counts, not just the largest. The neighbour index (retrieval.index), the
near-duplicate clusters that group validation (finetune.splits) and pretraining's retrieval
measure (pretrain.train) all go through `standardise`.
"""
from __future__ import annotations

import numpy as np


def standardise(embeddings: np.ndarray, mean: np.ndarray, std: np.ndarray, basis: np.ndarray | None = None,
                dtype: type = np.float32) -> np.ndarray:
    """(x - mean) / std, projected on `basis` (K, D) rows when given, then L2-normalised rows
    (C-contiguous `dtype`: float32 as faiss wants, float64 where a threshold is compared exactly).

    A zero row (e.g. the only photo of a 1-photo catalog, which *is* the mean) stays zero, and so
    does a non-finite one: it has cosine 0 with everything rather than NaN.
    """
    x = (np.asarray(embeddings, np.float64) - mean) / std
    x[~np.isfinite(x).all(1)] = 0.0  # a broken embedding must not become faiss' garbage neighbour
    if basis is not None:
        x = x @ np.asarray(basis, np.float64).T
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.maximum(norm, 1e-12)
    return np.ascontiguousarray(x, dtype=dtype)
