"""Rendered colour difference: how far a predicted white balance *looks* from the photographer's edit.

MAE in Kelvin and tint weighs errors unequally to the eye (300 K is a visible cast at 3,000 K and
next to nothing at 8,000 K; one tint unit is not one mired). So each photo is rendered twice, at the
predicted and at the true (Temperature, Tint), and the two renders are compared pixel by pixel with
CIEDE2000 (scikit-image's `deltaE_ciede2000`, CIELAB from its `rgb2lab`); the photo's ΔE00 is the
mean over the whole frame. A profile is judged by the 75th percentile of the per-photo ΔE00 (P75):
a quarter of the photos look further off than that. About 2 is where a careful viewer starts to see
a difference side by side.

The renders: the photo's canonical render (core.canonical.to_reference, the one re-render every
stage uses) moved to each white balance by core.canonical.from_reference, 8-bit and clipped like a
camera's render; a pixel clipped in the canonical render stays white in both (its true colour is
unknown), so it counts as no difference. Renders of raw files through LibRaw are compared with the
same `mean_delta_e` (lightroom.raw.raw_delta_e).

Colour space: the images are 8-bit sRGB (IEC 61966-2-1 transfer curve, D65 white; core.wb
linearises with exactly that curve), which is what `rgb2lab` assumes (sRGB, D65, 2° observer).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from core.canonical import from_reference
from catalog.images import square_resize

# The size the renders are compared at. Both renders are made at the size the images come in (so
# a clipped pixel is clipped as the canonical render treats it), then shrunk by area averaging; only the
# comparison runs small, because rgb2lab + CIEDE2000 (per-pixel trigonometry) is nearly all the cost.
# Measured on 400 photos of the real release (the edits against the as-shot, one core): against the
# comparison at the full 256 px, renders made at 96 px (the models' input size) and compared at 48 px
# read P75 4.78 for 4.64 (+3 %; per photo 3.9 % apart on average) in 0.7 s for the 400, 64 px +2.7 % in
# 1.0 s, and the full 256 px took ~20 s. Shrinking *before* rendering was worse (+7 % at 48 px: blown highlights
# averaged with their neighbours are no longer clipped and take the white balance's colour).
RENDER_SIZE = 48
CHUNK = 256  # photos per batch: 256 x 48 x 48 x 3 float32 Lab images stay a few MB


def shrink(images: np.ndarray, size: int = RENDER_SIZE) -> np.ndarray:
    """uint8 (N, S, S, 3) -> (N, size, size, 3) with catalog.images.square_resize (an area average that
    keeps the mean colour); unchanged when already that size or smaller."""
    images = np.asarray(images)
    if images.shape[1] <= size and images.shape[2] <= size:
        return images
    return np.stack([square_resize(im, size) for im in images]) if len(images) else \
        np.zeros((0, size, size, 3), np.uint8)


def lab(images: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) -> CIELAB (D65, 2°) float32, scikit-image's conversion."""
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(images, np.float32) / np.float32(255.0), channel_axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 of two CIELAB arrays (..., 3), kL = kC = kH = 1 (scikit-image)."""
    from skimage.color import deltaE_ciede2000

    return deltaE_ciede2000(lab1, lab2, channel_axis=-1)


def mean_delta_e(renders_a: np.ndarray, renders_b: np.ndarray) -> np.ndarray:
    """(N,) float64: per photo, the mean over the frame of the CIEDE2000 between two uint8 sRGB renders
    (N, H, W, 3) of the same captures."""
    a, b = np.asarray(renders_a), np.asarray(renders_b)
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"mean_delta_e: expected two (N, H, W, 3) renders of one shape, got {a.shape} and {b.shape}")
    out = np.empty(len(a), np.float64)
    for i in range(0, len(a), CHUNK):
        d = ciede2000(lab(a[i:i + CHUNK]), lab(b[i:i + CHUNK]))
        out[i:i + CHUNK] = d.reshape(len(d), -1).mean(1, dtype=np.float64)
    return out


def _per_photo(v, n: int) -> np.ndarray:
    a = np.asarray(v, np.float64).reshape(-1)
    if a.size == 1:
        return np.full(n, a[0])
    if len(a) != n:
        raise ValueError(f"delta_e: {n} images but a white balance of length {len(a)}")
    return a


def render_delta_e_many(canonical: np.ndarray, true_temp, true_tint, preds: dict[str, tuple[Any, Any]],
                        size: int = RENDER_SIZE) -> dict[str, np.ndarray]:
    """{name: (N,) per-photo ΔE00} for several predictions of the same photos: `canonical` (uint8 (N, S, S, 3),
    core.canonical renders) moved to each predicted and to the true white balance ((N,) arrays or
    scalars, K and tint), rendered at S px, compared at `size` px. The truth's render is made once for all."""
    canonical = np.asarray(canonical)
    n = len(canonical)
    truth = (_per_photo(true_temp, n), _per_photo(true_tint, n))
    wbs = {name: (_per_photo(t, n), _per_photo(ti, n)) for name, (t, ti) in preds.items()}
    out = {name: np.empty(n, np.float64) for name in preds}
    for i in range(0, n, CHUNK):
        s = slice(i, min(i + CHUNK, n))
        lab_true = lab(shrink(from_reference(canonical[s], truth[0][s], truth[1][s]), size))
        for name, (t, ti) in wbs.items():
            d = ciede2000(lab(shrink(from_reference(canonical[s], t[s], ti[s]), size)), lab_true)
            out[name][s] = d.reshape(len(d), -1).mean(1, dtype=np.float64)
    return out


def render_delta_e(canonical: np.ndarray, pred_temp, pred_tint, true_temp, true_tint,
                   size: int = RENDER_SIZE) -> np.ndarray:
    """(N,) per-photo ΔE00 of one prediction (render_delta_e_many)."""
    return render_delta_e_many(canonical, true_temp, true_tint, {"": (pred_temp, pred_tint)}, size)[""]


# ---------------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------------
def summary(de: np.ndarray) -> dict[str, Any]:
    """{"n", "de00_mean", "de00_p75", "de00_p90"} of per-photo ΔE00 values (NaN figures when empty)."""
    de = np.asarray(de, np.float64)
    if not len(de):
        return {"n": 0, "de00_mean": float("nan"), "de00_p75": float("nan"), "de00_p90": float("nan")}
    return {"n": int(len(de)), "de00_mean": float(de.mean()), "de00_p75": float(np.percentile(de, 75)),
            "de00_p90": float(np.percentile(de, 90))}


def grouped_summary(de: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, Any]]:
    """label -> summary of its photos, worst P75 first (ties: by name)."""
    de, labels = np.asarray(de, np.float64), np.asarray(labels).astype(str)
    if len(de) != len(labels):
        raise ValueError(f"grouped_summary: {len(de)} values but {len(labels)} labels")
    out = {g: summary(de[labels == g]) for g in np.unique(labels)}
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["de00_p75"], kv[0])))
