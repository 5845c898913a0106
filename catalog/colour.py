"""Image colour statistics: the classic colour-constancy cues, as features.

The images are rendered at the as-shot white balance, so their remaining colour cast is what the
photographer corrects. The statistical illuminant estimators from the colour-constancy literature
measure that cast directly and cheaply; the head and the GBM baselines both use them. All are
computed in *linear* sRGB (where illuminants act multiplicatively, so log(R/G), log(B/G) of an
estimate shift by a constant under a cast) and expressed as log-chroma pairs:

* grey-world (mean), shades-of-grey (Minkowski p=6 mean), bright pixels (mean of the top 5 %
  brightest unclipped pixels — specular highlights / white objects), grey-edge (mean absolute
  gradient), geometric mean of the per-pixel log-chroma over well-exposed pixels,
* their spread (std of per-pixel log-chroma: a colourful scene misleads grey-world),
* mean brightness (log linear luminance) and the clipped fraction (clipped pixels carry no
  colour information and say "bright sun / flash").

Fully vectorised numpy over a batch, processed in chunks to bound memory: 2k images of 96 px take
well under a second.
"""
from __future__ import annotations

import numpy as np

from catalog.wb import srgb_to_linear

COLOUR_FEATURE_NAMES = (
    "gw_log_rg", "gw_log_bg",          # grey-world
    "sog_log_rg", "sog_log_bg",        # shades-of-grey, p = 6
    "bright_log_rg", "bright_log_bg",  # top 5 % brightest unclipped pixels
    "edge_log_rg", "edge_log_bg",      # grey-edge (1st order)
    "geo_log_rg", "geo_log_bg",        # mean per-pixel log-chroma (well-exposed pixels)
    "spread_log_rg", "spread_log_bg",  # std of per-pixel log-chroma
    "log_brightness",                  # log mean linear luminance
    "clipped_fraction",                # any channel >= 250
    "dark_fraction",                   # luminance < 1 % (noise, no colour)
)
_EPS = 1e-4
_SOG_P = 6.0
_BRIGHT_TOP = 0.05
_CLIP_U8 = 250
_LUM = np.array([0.2126, 0.7152, 0.0722], np.float32)  # linear sRGB luminance weights
# uint8 sRGB -> linear, computed once with the project's one transfer function.
_LUT = np.asarray(srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0), dtype=np.float32)


_LOG_LUT = np.log(np.maximum(_LUT, _EPS)).astype(np.float32)


def _log_chroma(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) positive -> (n, 2) log(R/G), log(B/G)."""
    rgb = np.log(np.maximum(rgb, _EPS))
    return np.stack([rgb[:, 0] - rgb[:, 1], rgb[:, 2] - rgb[:, 1]], -1)


def _chunk_features(images: np.ndarray) -> np.ndarray:
    n, h, w_, _ = images.shape
    # Channel-first planes (n, 3, P): every reduction below runs over a contiguous last axis.
    planes = np.ascontiguousarray(images.reshape(n, h * w_, 3).transpose(0, 2, 1))
    lin = _LUT[planes]                                           # (n, 3, P) linear
    clipped = planes.max(1) >= _CLIP_U8                          # (n, P)
    ok = ~clipped
    lum = np.einsum("c,ncp->np", _LUM, lin)                      # (n, P)

    gw = lin.mean(2)
    sq = lin * lin
    sog = np.power((sq * sq * sq).mean(2), 1.0 / _SOG_P)

    # Bright pixels: threshold at each image's (1 - top) quantile of unclipped luminance.
    p = h * w_
    lum_ok = np.where(ok, lum, -1.0)
    kth = max(0, min(p - 1, int(round(p * (1.0 - _BRIGHT_TOP)))))
    thr = np.partition(lum_ok, kth, axis=1)[:, kth:kth + 1]
    bright = ((lum_ok >= thr) & ok).astype(np.float32)
    nb = bright.sum(1)[:, None]
    bright_mean = np.where(nb > 0, np.einsum("np,ncp->nc", bright, lin) / np.maximum(nb, 1), gw)

    img = lin.reshape(n, 3, h, w_)
    if h > 1 and w_ > 1:
        edge = (np.abs(np.diff(img, axis=2)).mean((2, 3)) + np.abs(np.diff(img, axis=3)).mean((2, 3))) / 2
    else:  # a 1-pixel-wide image has no gradients
        edge = gw

    # Per-pixel log-chroma (log LUT: no per-pixel log) over well-exposed, unclipped pixels.
    lg = _LOG_LUT[planes]
    lc = np.stack([lg[:, 0] - lg[:, 1], lg[:, 2] - lg[:, 1]], 1)  # (n, 2, P)
    good = (ok & (lum > 0.01)).astype(np.float32)
    ng = good.sum(1)[:, None]
    geo = np.einsum("np,ncp->nc", good, lc) / np.maximum(ng, 1)
    var = np.einsum("np,ncp->nc", good, lc * lc) / np.maximum(ng, 1) - geo ** 2
    geo = np.where(ng > 0, geo, _log_chroma(gw))

    feats = [_log_chroma(gw), _log_chroma(sog), _log_chroma(bright_mean), _log_chroma(edge + _EPS),
             geo, np.sqrt(np.maximum(var, 0.0)),
             np.log(lum.mean(1, keepdims=True) + _EPS),
             clipped.mean(1, keepdims=True), (lum < 0.01).mean(1, keepdims=True)]
    return np.concatenate(feats, 1).astype(np.float32)


def colour_features(images: np.ndarray, chunk: int = 256) -> np.ndarray:
    """uint8 (N,S,S,3) sRGB images -> float32 (N, len(COLOUR_FEATURE_NAMES))."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"colour_features expects uint8 (N,H,W,3), got {images.dtype} {images.shape}")
    out = np.zeros((len(images), len(COLOUR_FEATURE_NAMES)), np.float32)
    for i in range(0, len(images), chunk):
        out[i:i + chunk] = _chunk_features(images[i:i + chunk])
    return out
