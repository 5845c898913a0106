"""The neighbour index: for any photo, the training photos that look most alike, with their edits.

Why cosine on *standardised* embeddings: the encoder's pooled ReLU features are all positive and
their scales differ by orders of magnitude between stages, so raw cosine is dominated by a few large
dimensions and every pair looks similar. Centring and scaling with the training mean/std first makes
each feature count, and the L2 normalisation afterwards turns the inner product into a cosine in
[-1, 1] (1 = same picture), which is what the blending weights and thresholds are written in.

Why two index kinds behind one function: an exact `IndexFlatIP` is the right answer for catalogs up
to a few ten thousand photos (a brute-force scan of 20k x 360 floats is milliseconds); above that an
HNSW graph keeps queries logarithmic at a small, measured recall loss. Callers never choose: `build`
does, from the number of photos.

Stored in the model folder as `neighbors.faiss` (faiss.write_index) + `neighbors.json` (ids, edits and
as-shot in (mired, tint), shoots, the standardisation, the index kind).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import faiss
import numpy as np

from catalog.errors import CatalogError

INDEX_FILE = "neighbors.faiss"
META_FILE = "neighbors.json"
FORMAT_VERSION = 1

HNSW_M = 32                # graph degree: faiss' recommended default for ~100-1000-d vectors
HNSW_EF_CONSTRUCTION = 80  # build-time beam; 2x faiss' default buys recall for a one-off cost
HNSW_EF_SEARCH = 128       # query-time beam (raised to 2k for large k); >= 0.99 recall at our sizes


def standardise(embeddings: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std, then L2-normalised rows (float32, C-contiguous, as faiss wants).

    A zero row (e.g. the only photo of a 1-photo catalog, which *is* the mean) stays zero, and so
    does a non-finite one: it has cosine 0 with everything rather than NaN.
    """
    x = (np.asarray(embeddings, np.float64) - mean) / std
    x[~np.isfinite(x).all(1)] = 0.0  # a broken embedding must not become faiss' garbage neighbour
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.maximum(norm, 1e-12)
    return np.ascontiguousarray(x, dtype=np.float32)


def build_faiss(vectors: np.ndarray, hnsw_threshold: int = 20000) -> tuple[faiss.Index, str]:
    """The single place that picks the index kind: exact below `hnsw_threshold` photos, HNSW at/above.

    `vectors` must already be L2-normalised (inner product = cosine). Returns (index, kind).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    d = vectors.shape[1]
    if len(vectors) < hnsw_threshold:
        index, kind = faiss.IndexFlatIP(d), "flat"
    else:
        index, kind = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT), "hnsw"
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(vectors)
    return index, kind


def search_faiss(index: faiss.Index, vectors: np.ndarray, k: int,
                 ef_search: int = HNSW_EF_SEARCH) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by inner product on normalised `vectors`; k is clipped to the index size.

    Returns sims float32 (M, k') and idx int64 (M, k'), best first. Slots the HNSW graph could not
    fill (rare; only when k is close to N) come back as idx -1 with sim -1 (the lowest cosine), so a
    caller that masks on idx >= 0 or on a similarity threshold ignores them.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    k = int(min(max(k, 0), index.ntotal))
    if k == 0 or len(vectors) == 0:
        return np.zeros((len(vectors), k), np.float32), np.zeros((len(vectors), k), np.int64)
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = max(ef_search, 2 * k)  # the beam must be wider than the answer
    sims, idx = index.search(vectors, k)
    sims = sims.astype(np.float32, copy=False)
    idx = idx.astype(np.int64, copy=False)
    missing = idx < 0
    if missing.any():
        sims[missing] = -1.0
    return sims, idx


def _finite_or_none(a: np.ndarray) -> list:
    """JSON has no NaN: store missing values as null."""
    return [[None if not math.isfinite(v) else float(v) for v in row] for row in np.asarray(a, np.float64)]


def _from_json_array(rows: list, n: int, name: str, path: Path) -> np.ndarray:
    a = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64).reshape(-1, 2)
    if len(a) != n:
        raise CatalogError(f"{path}: '{name}' has {len(a)} rows, expected {n} (one per indexed photo)")
    return a


class NeighborIndex:
    """Training photos' embeddings (searchable) + their ids, edits, as-shot values and shoots.

    Attributes: `ids` (list[str]), `edits` (N,2) and `asshot` (N,2) float64 in (mired, tint),
    `shoots` (list[str|None]), `mean`/`std` (D,) float32 standardisation, `kind` ("flat"|"hnsw"),
    `index` (the faiss index over the standardised, normalised vectors).
    """

    def __init__(self, index: faiss.Index, ids: Sequence[str], edits: np.ndarray, asshot: np.ndarray,
                 shoots: Sequence[str | None], mean: np.ndarray, std: np.ndarray, kind: str):
        self.index = index
        self.ids = [str(i) for i in ids]
        self.edits = np.asarray(edits, np.float64).reshape(-1, 2)
        self.asshot = np.asarray(asshot, np.float64).reshape(-1, 2)
        self.shoots = [None if s is None or (isinstance(s, float) and math.isnan(s)) else str(s) for s in shoots]
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.kind = kind

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, embeddings: np.ndarray, ids: Sequence[str], edits: np.ndarray, asshot: np.ndarray,
              shoots: Sequence[str | None], hnsw_threshold: int = 20000) -> "NeighborIndex":
        """Index training embeddings (N, D) with their edits/as-shot (N, 2) in (mired, tint)."""
        emb = np.asarray(embeddings, np.float32)
        n = len(emb)
        if emb.ndim != 2 or n == 0:
            raise ValueError(f"NeighborIndex.build: embeddings must be a non-empty (N, D) array, got shape {emb.shape}")
        if not np.isfinite(emb).all():
            bad = int(np.flatnonzero(~np.isfinite(emb).all(1))[0])
            raise ValueError(f"NeighborIndex.build: embedding of photo {ids[bad]!r} (position {bad}) is not finite")
        for name, arr in (("ids", ids), ("edits", edits), ("asshot", asshot), ("shoots", shoots)):
            if len(arr) != n:
                raise ValueError(f"NeighborIndex.build: {name} has {len(arr)} entries, expected {n} "
                                 f"(one per embedding)")
        mean = emb.mean(0, dtype=np.float64).astype(np.float32)
        std = emb.std(0, dtype=np.float64).astype(np.float32)
        # Constant features carry no information; dividing them by ~0 would only amplify float noise.
        std = np.where(std > 1e-6 * max(float(std.max()), 1e-12), std, 1.0).astype(np.float32)
        index, kind = build_faiss(standardise(emb, mean, std), hnsw_threshold)
        return cls(index, ids, edits, asshot, shoots, mean, std, kind)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    # ------------------------------------------------------------------ queries
    def normalize(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings -> the searchable space (standardised with the training stats, unit length)."""
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise ValueError(f"NeighborIndex: query embeddings have shape {emb.shape}, expected (M, {self.dim}) "
                             f"(the encoder that built this index)")
        return standardise(emb, self.mean, self.std)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine top-k among the training photos: sims float32 (M, k'), idx int64 (M, k'), k' = min(k, N)."""
        return search_faiss(self.index, self.normalize(queries), k)

    def search_normalized(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As `search`, for vectors already in the index space (e.g. `self.vectors()`)."""
        return search_faiss(self.index, vectors, k)

    def vectors(self) -> np.ndarray:
        """The indexed (standardised, normalised) training vectors, (N, D) float32, in id order."""
        return self.index.reconstruct_n(0, self.index.ntotal)

    # ------------------------------------------------------------------ persistence
    def save(self, model_dir: str | Path) -> Path:
        """Write `neighbors.faiss` + `neighbors.json` into `model_dir`; returns the json path."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(model_dir / INDEX_FILE))
        meta: dict[str, Any] = {
            "format": FORMAT_VERSION, "kind": self.kind, "n": len(self), "dim": self.dim,
            "units": "edits and asshot are (mired, tint) pairs",
            "hnsw": {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH},
            "ids": self.ids, "edits": _finite_or_none(self.edits), "asshot": _finite_or_none(self.asshot),
            "shoots": self.shoots,
            # float32 -> python float is exact, so load() restores bit-identical statistics
            "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
        }
        path = model_dir / META_FILE
        path.write_text(json.dumps(meta))
        return path

    @classmethod
    def exists(cls, model_dir: str | Path) -> bool:
        return (Path(model_dir) / INDEX_FILE).is_file() and (Path(model_dir) / META_FILE).is_file()

    @classmethod
    def load(cls, model_dir: str | Path) -> "NeighborIndex":
        model_dir = Path(model_dir)
        ipath, mpath = model_dir / INDEX_FILE, model_dir / META_FILE
        for p in (ipath, mpath):
            if not p.is_file():
                raise CatalogError(f"{p}: neighbour index file missing (run `finetune` to build the model folder)")
        try:
            meta = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise CatalogError(f"{mpath}: unreadable neighbour index metadata ({e})") from e
        try:
            index = faiss.read_index(str(ipath))
        except RuntimeError as e:
            raise CatalogError(f"{ipath}: unreadable faiss index ({str(e).splitlines()[0] if str(e) else e})") from e
        for key in ("ids", "edits", "asshot", "shoots", "mean", "std", "kind"):
            if key not in meta:
                raise CatalogError(f"{mpath}: key '{key}' missing")
        n = len(meta["ids"])
        if index.ntotal != n:
            raise CatalogError(f"{ipath}: holds {index.ntotal} vectors but {mpath} lists {n} ids")
        if index.d != len(meta["mean"]):
            raise CatalogError(f"{ipath}: vectors have {index.d} dimensions but {mpath} has {len(meta['mean'])}")
        if len(meta["shoots"]) != n:
            raise CatalogError(f"{mpath}: 'shoots' has {len(meta['shoots'])} entries, expected {n}")
        return cls(index, meta["ids"], _from_json_array(meta["edits"], n, "edits", mpath),
                   _from_json_array(meta["asshot"], n, "asshot", mpath), meta["shoots"],
                   np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32), meta["kind"])

    def __repr__(self) -> str:
        return f"NeighborIndex(n={len(self)}, dim={self.dim}, kind={self.kind!r})"
