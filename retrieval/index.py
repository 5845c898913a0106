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

Why compact: the index travels with the model (budget: 4 MB for everything). After standardising, a
PCA keeps the `PCA_DIMS` strongest directions of the training embeddings (the pooled features are
strongly correlated; on the real release 64 of 360 directions keep the top-8 neighbours of most
photos) and the vectors are stored as float16 (`IndexScalarQuantizer` QT_fp16): 128 bytes per photo
instead of 1,440.

Stored in the model folder as `neighbors.faiss` (faiss.write_index), `neighbors.npz` (standardisation,
PCA basis, edits and as-shot in (mired, tint)) and `neighbors.json` (ids, shoots, the index kind).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import faiss
import numpy as np

from core.artifacts import save_arrays
from core.errors import CatalogError
from core.vectors import standardise

INDEX_FILE = "neighbors.faiss"
META_FILE = "neighbors.json"
ARRAYS_FILE = "neighbors.npz"
FORMAT_VERSION = 2
PCA_DIMS = 64

HNSW_M = 32                # graph degree: faiss' recommended default for ~100-1000-d vectors
HNSW_EF_CONSTRUCTION = 80  # build-time beam; 2x faiss' default buys recall for a one-off cost
HNSW_EF_SEARCH = 128       # query-time beam (raised to 2k for large k); >= 0.99 recall at our sizes


def build_faiss(vectors: np.ndarray, hnsw_threshold: int = 20000, compact: bool = True) -> tuple[faiss.Index, str]:
    """The single place that picks the index kind: exact below `hnsw_threshold` photos, HNSW at/above.

    `vectors` must already be L2-normalised (inner product = cosine). Returns (index, kind).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    d = vectors.shape[1]
    # compact: float16 storage (half the bytes) for an index that is saved; exact float32 for one that
    # lives only in memory (within-batch smoothing, where duplicates must score exactly 1)
    fp16, ip = faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    if len(vectors) < hnsw_threshold:
        index, kind = (faiss.IndexScalarQuantizer(d, fp16, ip) if compact else faiss.IndexFlatIP(d)), "flat"
    else:
        index = faiss.IndexHNSWSQ(d, fp16, HNSW_M, ip) if compact else faiss.IndexHNSWFlat(d, HNSW_M, ip)
        kind = "hnsw"
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.train(vectors)  # a no-op for float16, required by the API
    index.add(vectors)
    return index, kind


def pca_basis(x: np.ndarray, k: int) -> np.ndarray:
    """The top-k principal directions (k', D) float32 of the centred rows of `x` (k' = min(k, D, N)).
    With k' = D the basis is a rotation and cosines are unchanged. Signs are fixed (largest entry
    positive) so that the same data always gives the same basis."""
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x).all(1)]
    d = x.shape[1]
    k = int(max(1, min(k, d, len(x))))
    if k >= d:
        return np.eye(d, dtype=np.float32)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    basis = vt[:k]
    basis *= np.sign(basis[np.arange(k), np.abs(basis).argmax(1)])[:, None]
    return basis.astype(np.float32)


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
    # the beam must be wider than the answer; set for this search only (the index is the caller's)
    params = faiss.SearchParametersHNSW(efSearch=max(ef_search, 2 * k)) if hasattr(index, "hnsw") else None
    sims, idx = index.search(vectors, k, params=params)
    sims = sims.astype(np.float32, copy=False)
    idx = idx.astype(np.int64, copy=False)
    missing = idx < 0
    if missing.any():
        sims[missing] = -1.0
    return sims, idx


class NeighborIndex:
    """Training photos' embeddings (searchable) + their ids, edits, as-shot values and shoots.

    Attributes: `ids` (list[str]), `edits` (N,2) and `asshot` (N,2) float64 in (mired, tint),
    `shoots` (list[str|None]), `mean`/`std` (D,) float32 standardisation, `basis` (K, D) float32 PCA
    rows, `kind` ("flat"|"hnsw"), `index` (the faiss index over the standardised, projected,
    normalised vectors).
    """

    def __init__(self, index: faiss.Index, ids: Sequence[str], edits: np.ndarray, asshot: np.ndarray,
                 shoots: Sequence[str | None], mean: np.ndarray, std: np.ndarray, kind: str,
                 basis: np.ndarray | None = None, n_train: int | None = None, head: np.ndarray | None = None,
                 times: np.ndarray | None = None):
        self.index = index
        self.ids = [str(i) for i in ids]
        self.edits = np.asarray(edits, np.float64).reshape(-1, 2)
        self.asshot = np.asarray(asshot, np.float64).reshape(-1, 2)
        self.shoots = [None if s is None or (isinstance(s, float) and math.isnan(s)) else str(s) for s in shoots]
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.basis = np.eye(len(self.mean), dtype=np.float32) if basis is None else np.asarray(basis, np.float32)
        self.kind = kind
        # Entries [0, n_train) are the training photos; entries after them were added later by
        # `add-edits` (a few edits of a new shoot), blended with their own parameters. `head` is the
        # model's own prediction (mired, tint) for each added photo at the time it was added (NaN for
        # training entries): what the photographer corrected, for the "residual" blend. `times`: capture
        # time in seconds of each added photo (NaN when unknown, and for training entries): a photo
        # shot a minute before the query is the best witness of its light (retrieval.edits).
        n = len(self.ids)
        self.n_train = n if n_train is None else int(n_train)
        self.head = np.full((n, 2), np.nan) if head is None else np.asarray(head, np.float64).reshape(-1, 2)
        self.times = np.full(n, np.nan) if times is None else np.asarray(times, np.float64).reshape(-1)

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, embeddings: np.ndarray, ids: Sequence[str], edits: np.ndarray, asshot: np.ndarray,
              shoots: Sequence[str | None], hnsw_threshold: int = 20000,
              pca_dims: int = PCA_DIMS) -> "NeighborIndex":
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
        basis = pca_basis((emb - mean) / std, pca_dims)
        index, kind = build_faiss(standardise(emb, mean, std, basis), hnsw_threshold)
        return cls(index, ids, edits, asshot, shoots, mean, std, kind, basis)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    # ------------------------------------------------------------------ queries
    def normalize(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings -> the searchable space (standardised with the training stats, PCA, unit length)."""
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise ValueError(f"NeighborIndex: query embeddings have shape {emb.shape}, expected (M, {self.dim}) "
                             f"(the encoder that built this index)")
        return standardise(emb, self.mean, self.std, self.basis)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine top-k among the training photos: sims float32 (M, k'), idx int64 (M, k'), k' = min(k, N)."""
        return search_faiss(self.index, self.normalize(queries), k)

    def search_normalized(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As `search`, for vectors already in the index space (e.g. `self.vectors()`)."""
        return search_faiss(self.index, vectors, k)

    @property
    def space_dim(self) -> int:
        """Dimensions of the searchable space (`normalize`'s output)."""
        return int(self.basis.shape[0])

    def search_training(self, queries: np.ndarray, k: int, normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """As `search`, among the training entries only (those added by `add-edits` blend by their own
        rule, retrieval.edits): asks for k more than needed per added entry, up to k, then drops them.
        normalized: the queries are already in the index space (`normalize`'s output)."""
        kk = k + min(self.n_added, k) if self.n_added else k
        sims, idx = self.search_normalized(queries, kk) if normalized else self.search(queries, kk)
        if not self.n_added:
            return sims, idx
        k = min(k, self.n_train)
        out_s, out_i = np.full((len(idx), k), -1.0, np.float32), np.full((len(idx), k), -1, np.int64)
        for r in range(len(idx)):
            keep = (idx[r] >= 0) & (idx[r] < self.n_train)
            n = min(k, int(keep.sum()))
            out_s[r, :n], out_i[r, :n] = sims[r][keep][:n], idx[r][keep][:n]
        return out_s, out_i

    def vectors(self) -> np.ndarray:
        """The indexed (standardised, projected, normalised) training vectors, (N, K) float32, in id order."""
        return self.index.reconstruct_n(0, self.index.ntotal)

    @property
    def n_added(self) -> int:
        """Entries added after training (by `add-edits`)."""
        return len(self) - self.n_train

    def added(self) -> np.ndarray:
        """Positions of the entries added after training, (n_added,) int64."""
        return np.arange(self.n_train, len(self), dtype=np.int64)

    # ------------------------------------------------------------------ growing
    def add(self, embeddings: np.ndarray, ids: Sequence[str], edits: np.ndarray, asshot: np.ndarray,
            shoots: Sequence[str | None], head: np.ndarray | None = None,
            times: np.ndarray | None = None) -> "NeighborIndex":
        """A NEW index: every entry of this one unchanged (same position, vector, edit), then the new
        photos, put in the same space (training mean/std and PCA basis: the space every threshold
        was fitted in; a photo of a camera never seen in training is just another vector there).

        `head` (M, 2): the model's own prediction for each new photo, `times` (M,) their capture
        times in seconds (NaN: unknown; see __init__). Raises
        ValueError naming the photo for an id already in the index (or twice among the new ones), a
        non-finite embedding, or arrays of the wrong length; this index is never modified.
        """
        emb = np.asarray(embeddings, np.float32)
        m = len(emb)
        head = np.full((m, 2), np.nan) if head is None else np.asarray(head, np.float64).reshape(-1, 2)
        times = np.full(m, np.nan) if times is None else np.asarray(times, np.float64).reshape(-1)
        for name, arr in (("ids", ids), ("edits", edits), ("asshot", asshot), ("shoots", shoots), ("head", head),
                          ("times", times)):
            if len(arr) != m:
                raise ValueError(f"NeighborIndex.add: {name} has {len(arr)} entries, expected {m} (one per embedding)")
        ids = [str(i) for i in ids]
        seen = set(self.ids)
        for pos, i in enumerate(ids):
            if i in seen:
                raise ValueError(f"NeighborIndex.add: photo {i!r} (new photo {pos + 1}) is already in the index")
            seen.add(i)
        if m and not np.isfinite(emb).all():
            bad = int(np.flatnonzero(~np.isfinite(emb).all(1))[0])
            raise ValueError(f"NeighborIndex.add: embedding of photo {ids[bad]!r} (new photo {bad + 1}) is not finite")
        index = faiss.clone_index(self.index)  # the caller's index stays exactly as it was
        if m:
            index.add(self.normalize(emb))
        return NeighborIndex(index, self.ids + ids, np.concatenate([self.edits, np.asarray(edits, np.float64).reshape(-1, 2)]),
                             np.concatenate([self.asshot, np.asarray(asshot, np.float64).reshape(-1, 2)]),
                             self.shoots + list(shoots), self.mean, self.std, self.kind, self.basis,
                             n_train=self.n_train, head=np.concatenate([self.head, head]),
                             times=np.concatenate([self.times, times]))

    # ------------------------------------------------------------------ persistence
    def save_into_model(self, model_dir: str | Path) -> dict[str, Any]:
        """Replace the neighbour index of a sealed model folder (core.artifacts) and re-seal it;
        returns the new manifest. The folder is first verified; its other files are staged unchanged
        (hard links, else copies) next to the new index files, and the one atomic commit of
        core.artifacts swaps the whole model: a run killed at any moment leaves the previous
        model, index included, loadable."""
        import os
        import shutil

        from core.artifacts import ModelWriter, open_model

        model_dir = Path(model_dir)
        if not model_dir.is_dir():  # before the writer creates it
            raise CatalogError(f"{model_dir}: model folder not found")
        with ModelWriter(model_dir) as w:  # holds the folder's write lock: the files linked are the ones replaced
            manifest = open_model(model_dir)
            provenance = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files", "written")}
            for name in manifest["files"]:
                if name in (INDEX_FILE, ARRAYS_FILE, META_FILE):
                    continue
                try:
                    os.link(model_dir / name, w.dir / name)
                except OSError:  # a file system without hard links
                    shutil.copy2(model_dir / name, w.dir / name)
            self.save(w.dir)
            return w.commit(provenance)

    def save(self, model_dir: str | Path) -> Path:
        """Write `neighbors.faiss`, `neighbors.npz` and `neighbors.json` into `model_dir`; returns the json path."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(model_dir / INDEX_FILE))
        # float32 arrays restore bit-identical statistics; edits/as-shot keep NaN for a missing label
        save_arrays(model_dir / ARRAYS_FILE, dict(mean=self.mean, std=self.std, basis=self.basis,
                                                  edits=self.edits.astype(np.float32),
                                                  asshot=self.asshot.astype(np.float32),
                                                  head=self.head.astype(np.float32), times=self.times))
        meta: dict[str, Any] = {
            "format": FORMAT_VERSION, "kind": self.kind, "n": len(self), "dim": self.dim,
            "pca_dims": int(self.basis.shape[0]), "storage": "float16",
            "units": "edits and asshot (in neighbors.npz) are (mired, tint) pairs",
            "hnsw": {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH},
            "ids": self.ids, "shoots": self.shoots, "n_train": self.n_train,
        }
        path = model_dir / META_FILE
        path.write_text(json.dumps(meta))
        return path

    @classmethod
    def exists(cls, model_dir: str | Path) -> bool:
        return all((Path(model_dir) / f).is_file() for f in (INDEX_FILE, META_FILE, ARRAYS_FILE))

    @classmethod
    def load(cls, model_dir: str | Path) -> "NeighborIndex":
        model_dir = Path(model_dir)
        ipath, mpath, apath = model_dir / INDEX_FILE, model_dir / META_FILE, model_dir / ARRAYS_FILE
        for p in (ipath, mpath, apath):
            if not p.is_file():
                raise CatalogError(f"{p}: neighbour index file missing (run `finetune` to build the model folder)")
        try:
            meta = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise CatalogError(f"{mpath}: unreadable neighbour index metadata ({e})") from e
        if meta.get("format") != FORMAT_VERSION:
            raise CatalogError(f"{mpath}: neighbour index format {meta.get('format')}, this version reads "
                               f"{FORMAT_VERSION}; re-run finetune")
        for key in ("ids", "shoots", "kind"):
            if key not in meta:
                raise CatalogError(f"{mpath}: key '{key}' missing")
        try:
            with np.load(apath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("mean", "std", "basis", "edits", "asshot")}
                for k in ("head", "times"):  # absent: written before add-edits existed, nothing was added
                    arrays[k] = z[k] if k in z.files else None
        except (OSError, ValueError, KeyError) as e:
            raise CatalogError(f"{apath}: unreadable neighbour arrays ({e})") from e
        try:
            index = faiss.read_index(str(ipath))
        except RuntimeError as e:
            raise CatalogError(f"{ipath}: unreadable faiss index ({str(e).splitlines()[0] if str(e) else e})") from e
        n = len(meta["ids"])
        if index.ntotal != n:
            raise CatalogError(f"{ipath}: holds {index.ntotal} vectors but {mpath} lists {n} ids")
        if index.d != arrays["basis"].shape[0] or arrays["basis"].shape[1] != len(arrays["mean"]):
            raise CatalogError(f"{ipath}: vectors have {index.d} dimensions but the PCA basis in {apath} is "
                               f"{arrays['basis'].shape}")
        for key in ("edits", "asshot"):
            if arrays[key].shape != (n, 2):
                raise CatalogError(f"{apath}: '{key}' has shape {arrays[key].shape}, expected ({n}, 2) "
                                   f"(one (mired, tint) pair per indexed photo)")
        if len(meta["shoots"]) != n:
            raise CatalogError(f"{mpath}: 'shoots' has {len(meta['shoots'])} entries, expected {n}")
        n_train = int(meta.get("n_train", n))
        if not 0 <= n_train <= n or (arrays["head"] is not None and arrays["head"].shape != (n, 2)) \
                or (arrays["times"] is not None and arrays["times"].shape != (n,)):
            raise CatalogError(f"{mpath}: n_train {n_train} / added-edit predictions do not fit {n} indexed photos")
        return cls(index, meta["ids"], arrays["edits"], arrays["asshot"], meta["shoots"], arrays["mean"],
                   arrays["std"], meta["kind"], arrays["basis"], n_train=n_train, head=arrays["head"],
                   times=arrays["times"])

    def __repr__(self) -> str:
        return f"NeighborIndex(n={len(self)}, dim={self.dim}, kind={self.kind!r})"
