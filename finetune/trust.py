"""Trusting the camera's as-shot, only where it has earned it: the as-shot-aware member and its bounded pull.

Every image member reads the canonical render and never the as-shot (finetune.ensemble), so the
camera's guess cannot move a prediction (issue #12). That is right for cameras whose guess is noise:
on the real release one 12-minute session under one light swung from 2,629 K to 48,296 K. But some
cameras know something the pixels cannot tell: a metering or flicker sensor, scene recognition. On
the synthetic benchmark (shared/bench) the cameras lean on such cues, and there an image-only model
cannot get near what inverting the camera reaches (BENCHMARKS.md, section 2: 19.5 mired against the
oracle's 8.8; a pixel cannot say whether a grey wall is grey under warm light or warm under grey).

So one member reads the as-shot on purpose, and validation decides per catalog whether it may speak:

  1. the as-shot-aware member: gradient boosting on every metadata feature (the as-shot included),
     the camera, the colour statistics of the canonical render and those of the photo as the camera
     rendered it, with its log-chroma quantiles (how far from neutral the camera's own render still is:
     the camera's residual error, which is what inverting the camera needs). It predicts the photographer's shift from the as-shot
     and trains on the original photos only: the re-rendered copies teach the opposite (that the
     as-shot is noise);
  2. the pull: head = image head + w * clip(aware - image head, -d, d), per target. The bound d caps
     how far the as-shot can ever move a prediction away from what the pixels say;
  3. the choice, on the out-of-fold predictions: the (w, d) with the lowest pooled MAE, adopted only
     when it beats the image head alone by at least `min_gain` of its MAE (default 10 %) and that gain
     holds in every cross-fitted fold but one (core.metrics.select; over the shoots with a single
     holdout), on at least MIN_PHOTOS photos and MIN_SHOOTS shoots; otherwise w = 0 and the model stays
     exactly as-shot-invariant (the aware member is then not even saved).

The bar is high on purpose: trusting the as-shot trades away the product's central promise (one
scene, one edit, whatever the camera guessed), so it has to buy a large, dependable accuracy gain.
Measured on the validation shoots of the real release's folds 1-3 (the bracket benchmark's models):
the best pull gained 1-8 % in mired and 6-12 % in tint over 300 photos each, but over shoots none was
significant (z 0.1-0.8), and trusting it anyway (bar 0) gave 337 K and a bracket spread of 17.6 mired
on those folds, against 304 K and 3.3 mired with the as-shot untrusted. On the synthetic benchmark, whose cameras read the light with extra
cues, the Temperature pull gained 48 % (z 2.9 over 27 shoots) and is trusted; its Tint pull (15 %,
z 1.5) is not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.colour import CHROMA_FEATURE_NAMES, COLOUR_FEATURE_NAMES, N_QUANTILE_FEATURES, colour_features, quantile_features
from core.metrics import select
from finetune.gbm import Forest, fit_gbm, gbm_inputs

MIN_GAIN = 0.10                                   # share of the image head's validation MAE the pull must win
MIN_PHOTOS = 50                                   # validation photos below which the as-shot is never trusted
MIN_SHOOTS = 10                                   # ... and shoots, when the photos' shoots are known
WEIGHTS = np.round(np.linspace(0.1, 1.0, 10), 1)  # w > 0 candidates (w = 0 is the default)
BOUNDS = (0.5, 1.0, 2.0, 4.0, np.inf)             # d candidates, in multiples of the image head's validation MAE
# What the member reads of the photo as the camera rendered it: the colour statistics and the log-chroma
# quantiles and brightest-pixel chroma (not the grid or the histogram). On the synthetic benchmark's Train
# (5 grouped folds) the quantiles took the member from 8.17 to 8.07 mired.
ASSHOT_FEATURE_NAMES = COLOUR_FEATURE_NAMES + CHROMA_FEATURE_NAMES[:N_QUANTILE_FEATURES]


def asshot_stats(images: np.ndarray) -> np.ndarray:
    """uint8 (N,S,S,3) photos as the camera rendered them (not canonical) -> float32 (N, ASSHOT_FEATURE_NAMES)."""
    return np.concatenate([colour_features(images), quantile_features(images)], 1)


def could_trust(n_photos: int, n_shoots: int | None, min_gain: float) -> bool:
    """Whether validation on this many photos (and shoots, when known) may trust the member at all: the
    bar is below 1 and the minimums are met. choose_trust's precondition, and training's cue to skip
    fitting a member no validation could adopt."""
    return bool(np.isfinite(min_gain) and min_gain < 1 and n_photos >= MIN_PHOTOS
                and (n_shoots is None or n_shoots >= MIN_SHOOTS))


def aware_inputs(meta: np.ndarray, cam: np.ndarray, canonical_colour: np.ndarray,
                 shot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, categorical mask) of the as-shot-aware member: every metadata feature (as-shot included), the
    camera, core.colour.colour_features of the canonical render, and `shot` = asshot_stats of the
    as-shot render."""
    feats = np.concatenate([np.asarray(canonical_colour, np.float32)[:, :len(COLOUR_FEATURE_NAMES)],
                            np.asarray(shot, np.float32)], 1)
    return gbm_inputs(meta, cam, feats)


def fit_aware(meta: np.ndarray, cam: np.ndarray, canonical_colour: np.ndarray, shot: np.ndarray,
              shifts: np.ndarray, seed: int = 0) -> Forest:
    """The as-shot-aware member on original photos: `shifts` (N, T) = label - as-shot, in head units."""
    x, cat = aware_inputs(meta, cam, canonical_colour, shot)
    return fit_gbm(x, cat, shifts, seed)


@dataclass
class TrustParams:
    """Per target: weight w (0 = the as-shot is not trusted) and bound d (head units) of the pull
    w * clip(aware - image, -d, d); with the validation figures behind the choice."""
    weight: list[float]
    bound: list[float]
    min_gain: float = MIN_GAIN
    report: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return any(w > 0 for w in self.weight)

    def to_dict(self) -> dict[str, Any]:
        # JSON has no infinity: an unbounded pull is stored as null
        return {"weight": [float(w) for w in self.weight],
                "bound": [None if not np.isfinite(d) else float(d) for d in self.bound],
                "min_gain": float(self.min_gain), "report": self.report}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, n_targets: int) -> "TrustParams":
        if not d:
            return cls.off(n_targets)
        bound = [np.inf if v is None else float(v) for v in d["bound"]]
        return cls([float(w) for w in d["weight"]], bound, float(d.get("min_gain", MIN_GAIN)), d.get("report", []))

    @classmethod
    def off(cls, n_targets: int) -> "TrustParams":
        return cls([0.0] * n_targets, [0.0] * n_targets)


def apply_trust(image: np.ndarray, aware: np.ndarray | None, params: TrustParams) -> np.ndarray:
    """(N, T) image-head predictions pulled towards the as-shot-aware member's, per target."""
    if aware is None or not params.active:
        return image
    w = np.asarray(params.weight, np.float64)
    d = np.asarray(params.bound, np.float64)
    return image + w * np.clip(aware - image, -d, d)


def choose_trust(image: np.ndarray, aware: np.ndarray, truth: np.ndarray, min_gain: float = MIN_GAIN,
                 shoots: np.ndarray | None = None, folds: np.ndarray | None = None) -> TrustParams:
    """Per target, the (w, d) of the pull with the lowest pooled out-of-fold MAE, adopted over w = 0 by
    core.metrics.select with the bar `min_gain` (a share of the image head's MAE; high, because
    trusting the as-shot gives up consistency across the camera's guesses) over the photos' `folds` and
    `shoots`, on at least MIN_PHOTOS photos (and MIN_SHOOTS shoots). min_gain <= 0: the best pull is
    kept whenever it lowers the MAE at all, without the noise guard (a user's choice of accuracy over
    consistency, and how benchmarks/asshot_tradeoff.py gets the member into the model folder to measure
    what that costs). (N, T) arrays in head units (Temperature in mired); NaN truth rows are left out."""
    t = truth.shape[1]
    weight, bound, report = [0.0] * t, [0.0] * t, []
    for j in range(t):
        ok = np.isfinite(truth[:, j]) & np.isfinite(image[:, j]) & np.isfinite(aware[:, j])
        y, base, other = truth[ok, j], image[ok, j], aware[ok, j]
        base_mae = float(np.mean(np.abs(base - y))) if ok.any() else 0.0
        entry: dict[str, Any] = {"image_mae": base_mae, "aware_mae": float(np.mean(np.abs(other - y))) if ok.any() else 0.0,
                                 "n": int(ok.sum())}
        groups = None if shoots is None else np.asarray(shoots).astype(str)[ok]
        entry["shoots"] = None if groups is None else int(len(set(groups)))
        if base_mae <= 0 or not could_trust(int(ok.sum()), entry["shoots"], min_gain):
            report.append({**entry, "adopted": False})
            continue
        # candidate 0 = no pull; then every bound at every weight
        cands = [(0.0, 0.0)] + [(float(w), float(d_rel * base_mae)) for d_rel in BOUNDS for w in WEIGHTS]
        pulled = np.stack([base + w * np.clip(other - base, -d, d) for w, d in cands])          # (C, N)
        choice = select(np.abs(pulled - y) / base_mae, 0, None if folds is None else np.asarray(folds)[ok],
                        groups, min_gain=max(float(min_gain), 0.0), guard=min_gain > 0)
        w, d = cands[choice.best]
        mae = float(np.mean(np.abs(pulled[choice.best] - y)))
        report.append({**entry, "best_mae": mae, "best_weight": w, "best_bound": None if not np.isfinite(d) else d,
                       **choice.to_dict()})
        if choice.adopted:
            weight[j], bound[j] = w, d
    return TrustParams(weight, bound, float(min_gain), report)
