"""Gradient boosting on metadata + image statistics: the baselines and the head's GBM member.

Trained with scikit-learn's HistGradientBoostingRegressor, then immediately converted to `Forest`:
the trees as a handful of flat numpy arrays and a vectorised numpy traversal. Why not keep sklearn's
objects: unpickling them imports scikit-learn (~1.3 s, an eighth of predict's whole budget for 2.5k
photos), their node records carry training statistics (gain, count) that prediction never reads, and
the model folder has a 4 MB budget. The conversion is exact: `Forest.predict` walks the same nodes
with the same comparisons in float64 and adds the trees in sklearn's order, so it returns sklearn's
predictions bit for bit (tested), and validation figures describe the saved model.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.runtime import one_openmp_thread


def gbm_inputs(meta: np.ndarray, cam: np.ndarray, feats: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(x, categorical mask) for the gradient-boosting models: encoded metadata, the camera index (a
    category) and raw image statistics (trees need no standardisation)."""
    parts = [np.asarray(meta, np.float32), np.asarray(cam)[:, None].astype(np.float32)]
    if feats is not None:
        parts.append(np.asarray(feats, np.float32))
    x = np.concatenate(parts, 1)
    cat = np.zeros(x.shape[1], bool)
    cat[meta.shape[1]] = True
    return x, cat


PREDICT_ROWS = 2048  # photos per block in Forest.predict (memory ~12 KB per photo in a block)


@dataclass
class Forest:
    """Every tree of every target, nodes concatenated; node indices are global (tree offsets added).

    feature/threshold/left/right/missing_left/categorical/bitset describe splits, value the leaves.
    roots (T, n_trees) holds each target's tree roots; baseline (T,) the starting value."""
    feature: np.ndarray        # int32
    threshold: np.ndarray      # float64 (numeric splits: go left when x <= threshold)
    left: np.ndarray           # int32
    right: np.ndarray          # int32
    value: np.ndarray          # float64 (leaves)
    leaf: np.ndarray           # bool
    missing_left: np.ndarray   # bool: NaN (and unknown categories) go left
    categorical: np.ndarray    # bool
    bitset: np.ndarray         # int32: row of left_cats for categorical splits
    left_cats: np.ndarray      # uint32 (n_cat_splits, 8): 256-bit sets of categories that go left
    known_cats: np.ndarray     # uint32 (T, n_features, 8): categories seen in training, per target and feature
    roots: np.ndarray          # int64 (T, n_trees)
    baseline: np.ndarray       # float64 (T,)
    depth: int                 # deepest leaf: traversal steps needed
    # sklearn's input step: categorical columns first (then the others, in order), each category
    # replaced by its index among the sorted categories seen in training (unseen -> NaN = missing)
    order: np.ndarray          # int64 (F,) input column of each tree column
    categories: list           # per target, per categorical column: sorted float64 known values

    @classmethod
    def from_sklearn(cls, models: list) -> "Forest":
        """One fitted HistGradientBoostingRegressor per target -> one Forest."""
        nodes, roots, cats, categories = [], [], [], []
        offset, cat_offset = 0, 0
        is_cat = np.asarray(models[0].is_categorical_ if models[0].is_categorical_ is not None
                            else np.zeros(models[0].n_features_in_, bool), bool)
        order = np.r_[np.flatnonzero(is_cat), np.flatnonzero(~is_cat)].astype(np.int64)
        known_cats = np.zeros((len(models), models[0].n_features_in_, 8), np.uint32)
        for t, m in enumerate(models):
            bitsets, f_map = m._bin_mapper.make_known_categories_bitsets()
            for f in np.flatnonzero(m._bin_mapper.is_categorical_):
                known_cats[t, f] = bitsets[f_map[f]]
            categories.append([np.asarray(c, np.float64) for c in
                               (m._preprocessor.named_transformers_["encoder"].categories_ if is_cat.any() else [])])
            r = []
            for trees in m._predictors:
                (tree,) = trees  # regression: one tree per iteration
                nd = tree.nodes.copy()
                split = nd["is_leaf"] == 0
                nd["left"][split] += offset
                nd["right"][split] += offset
                nd["bitset_idx"][nd["is_categorical"] == 1] += cat_offset
                nodes.append(nd)
                cats.append(np.asarray(tree.raw_left_cat_bitsets, np.uint32).reshape(-1, 8))
                r.append(offset)
                offset += len(nd)
                cat_offset += len(cats[-1])
            roots.append(r)
        nd = np.concatenate(nodes)
        leaf = nd["is_leaf"].astype(bool)
        # Only leaves' values are ever read (a split node's value is sklearn's training statistic), and only
        # splits' thresholds: zeros elsewhere cost nothing in the compressed file (a quarter of its size).
        return cls(feature=nd["feature_idx"].astype(np.int32),
                   threshold=np.where(leaf, 0.0, nd["num_threshold"]).astype(np.float64),
                   left=nd["left"].astype(np.int32), right=nd["right"].astype(np.int32),
                   value=np.where(leaf, nd["value"], 0.0).astype(np.float64), leaf=leaf,
                   missing_left=nd["missing_go_to_left"].astype(bool), categorical=nd["is_categorical"].astype(bool),
                   bitset=nd["bitset_idx"].astype(np.int32),
                   left_cats=np.concatenate(cats) if cats else np.zeros((0, 8), np.uint32),
                   known_cats=known_cats, roots=np.asarray(roots, np.int64),
                   baseline=np.array([float(np.ravel(m._baseline_prediction)[0]) for m in models]),
                   depth=int(max(int(tree.nodes["depth"].max()) for m in models for (tree,) in m._predictors)),
                   order=order, categories=categories)

    @property
    def n_targets(self) -> int:
        return len(self.baseline)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, F) -> (N, T), sklearn's HistGradientBoostingRegressor.predict for each target.

        Rows go through in blocks of PREDICT_ROWS: the walk keeps ~12 KB per (photo, all trees), so
        20,000 photos at once peaked at 244 MB; in blocks the memory no longer grows with the photos
        (rows are independent, so the result is bit-identical)."""
        x_in = np.asarray(x, np.float64)
        if len(x_in) > PREDICT_ROWS:
            return np.concatenate([self.predict(x_in[i:i + PREDICT_ROWS]) for i in range(0, len(x_in), PREDICT_ROWS)])
        n = len(x_in)
        out = np.zeros((n, self.n_targets))
        if not n:
            return out
        for t in range(self.n_targets):
            leaves = self._leaf_values(self._encode(x_in, t), t)       # (N, trees)
            # sklearn's order of summation: the baseline, then every tree in turn (bit-identical sums)
            acc = np.full(n, self.baseline[t])
            for j in range(leaves.shape[1]):
                acc += leaves[:, j]
            out[:, t] = acc
        return out

    def _leaf_values(self, x: np.ndarray, t: int) -> np.ndarray:
        """Walk every (photo, tree) pair of target t down to its leaf; only pairs still at a split
        node are touched at each level, so the work is the mean depth, not the deepest leaf."""
        n, f = x.shape
        roots = self.roots[t]
        node = np.tile(roots, n)                                       # photo-major (N * trees,)
        row0 = np.repeat(np.arange(n, dtype=np.int64) * f, len(roots))  # offset of each pair's row in x
        flat = x.ravel()
        live = np.flatnonzero(~self.leaf[node])
        while live.size:
            nd = node[live]
            v = flat[row0[live] + self.feature[nd]]
            go_left = v <= self.threshold[nd]
            missing = np.isnan(v)
            cat = np.flatnonzero(self.categorical[nd] & ~missing)
            if cat.size:  # category splits: left set, else right if seen in training, else missing
                c = v[cat]
                bad = c < 0  # outside the category range: treated as missing
                code = np.clip(c, 0, 255).astype(np.int64)  # sklearn's categories are 0..255
                word, bit = code >> 5, (code & 31).astype(np.uint32)
                in_left = ((self.left_cats[self.bitset[nd[cat]], word] >> bit) & 1) == 1
                known = ((self.known_cats[t, self.feature[nd[cat]], word] >> bit) & 1) == 1
                go_left[cat] = in_left & ~bad
                missing[cat] = bad | (~in_left & ~known)
            go_left = np.where(missing, self.missing_left[nd], go_left)
            nxt = np.where(go_left, self.left[nd], self.right[nd])
            node[live] = nxt
            live = live[~self.leaf[nxt]]
        return self.value[node].reshape(n, len(roots))

    def _encode(self, x: np.ndarray, t: int) -> np.ndarray:
        """Raw inputs -> the columns target t's trees split on (see `order`, `categories`)."""
        z = x[:, self.order]
        for k, known in enumerate(self.categories[t]):
            if not len(known):
                z[:, k] = np.nan
                continue
            i = np.minimum(np.searchsorted(known, z[:, k]), len(known) - 1)
            z[:, k] = np.where(known[i] == z[:, k], i, np.nan)
        return z

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a plain numpy array (the ragged `categories` as one array per target and
        column, `categories.t.k`), for a data-only .npz (core.artifacts)."""
        out = {k: np.asarray(v) for k, v in self.__dict__.items() if k != "categories"}
        out["n_categories"] = np.array([len(c) for c in self.categories], np.int64)
        for t, cats in enumerate(self.categories):
            for k, known in enumerate(cats):
                out[f"categories.{t}.{k}"] = np.asarray(known, np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Forest":
        """Inverse of to_arrays."""
        fields = {k: v for k, v in arrays.items() if not k.startswith("categories.") and k != "n_categories"}
        fields["depth"] = int(fields["depth"])
        fields["categories"] = [[arrays[f"categories.{t}.{k}"] for k in range(int(n))]
                                for t, n in enumerate(arrays["n_categories"])]
        return cls(**fields)

    def pack(self) -> bytes:
        """Compact bytes for the model file: a compressed .npz, loaded without pickle (`unpack`)."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.to_arrays())
        return buf.getvalue()

    @classmethod
    def unpack(cls, blob: bytes) -> "Forest":
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return cls.from_arrays({k: z[k] for k in z.files})


def fit_gbm(x: np.ndarray, cat: np.ndarray, shifts: np.ndarray, seed: int = 0,
            sample_weight: np.ndarray | None = None, **hgb: Any) -> Forest:
    """One sklearn HistGradientBoostingRegressor per target on the shifts (absolute-error loss: the
    metric is an MAE, whose optimum is the median), returned as one Forest. Rows with a NaN target
    are left out of that target's fit. sample_weight (N,): per-row weights (None: equal)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    # lr 0.05 x 300 rounds beat sklearn's 0.1 x 100 on the real release (5-fold: 319 vs 328 K with all
    # image statistics, 351 vs 352 K with colour_features alone); used for the baselines too.
    params = {"loss": "absolute_error", "learning_rate": 0.05, "max_iter": 300, "random_state": seed, **hgb}
    models = []
    with one_openmp_thread():  # sklearn's OpenMP workers spin on 2 shared cores (core.runtime)
        for j in range(shifts.shape[1]):
            ok = np.isfinite(shifts[:, j])
            w = None if sample_weight is None else np.asarray(sample_weight, np.float64)[ok]
            models.append(HistGradientBoostingRegressor(categorical_features=cat, **params).fit(
                x[ok], shifts[ok, j], sample_weight=w))
    return Forest.from_sklearn(models)


def predict_gbm(forest: Forest, x: np.ndarray) -> np.ndarray:
    """(N, T) predictions of a fitted Forest."""
    return forest.predict(x)
