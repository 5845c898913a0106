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

Fully vectorised numpy over a batch, processed in chunks of 32 images (cache-sized), on at most
48 x 48 pixels per image.
"""
from __future__ import annotations

import numpy as np

from core.wb import _SRGB8_TO_LINEAR

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
_LUT = _SRGB8_TO_LINEAR  # (256,) float32: 8-bit sRGB code -> linear (core.wb's one table)


_LOG_LUT = np.log(np.maximum(_LUT, _EPS)).astype(np.float32)


def _log_chroma(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) positive -> (n, 2) log(R/G), log(B/G)."""
    rgb = np.log(np.maximum(rgb, _EPS))
    return np.stack([rgb[:, 0] - rgb[:, 1], rgb[:, 2] - rgb[:, 1]], -1)


def _chunk_features(images: np.ndarray) -> np.ndarray:
    n, h, w_, _ = images.shape
    # Channel-first planes (n, 3, P): every reduction below runs over a contiguous last axis.
    planes = np.ascontiguousarray(images.reshape(n, h * w_, 3).transpose(0, 2, 1))
    codes = planes.astype(np.intp)  # table index: numpy converts any other index type element by element
    lin = _LUT[codes]                                            # (n, 3, P) linear
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
    lg = _LOG_LUT[codes]
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


def _chunked(fn, images: np.ndarray, n_out: int, chunk: int, max_side: int, what: str) -> np.ndarray:
    """Run a per-chunk feature function over uint8 (N,S,S,3) images subsampled (every k-th pixel) to
    at most `max_side`: statistics of a colour distribution do not need every pixel, and 48 x 48
    pixels cost a sixth of 96 x 96 (predict's throughput target). Chunks of 32 images keep the dozens
    of per-pixel temporaries in the core's cache: 128 photos took 30 ms in chunks of 32, 62 ms in one
    chunk here (every statistic is per image, so the chunking does not change a value)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what} expects uint8 (N,H,W,3), got {images.dtype} {images.shape}")
    step = max(1, images.shape[1] // max_side)
    out = np.zeros((len(images), n_out), np.float32)
    for i in range(0, len(images), chunk):
        out[i:i + chunk] = fn(np.ascontiguousarray(images[i:i + chunk, ::step, ::step]))
    return out


def colour_features(images: np.ndarray, chunk: int = 32, max_side: int = 48) -> np.ndarray:
    """uint8 (N,S,S,3) sRGB images -> float32 (N, len(COLOUR_FEATURE_NAMES)), on <= max_side pixels."""
    return _chunked(_chunk_features, images, len(COLOUR_FEATURE_NAMES), chunk, max_side, "colour_features")


# ------------------------------------------------------------------------------------------------
# Richer chroma statistics (the head's extra image description; also offered to the GBM as a
# comparison): the distribution of per-pixel log-chroma rather than one mean per estimator.
# ------------------------------------------------------------------------------------------------
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_BRIGHT_TOPS = (0.01, 0.02, 0.10, 0.25)
_GRID = 3
_HIST_BINS, _HIST_LIM = 8, 1.2      # 2-D log-chroma histogram: 8 x 8 bins over [-1.2, 1.2]^2
_Q_BINS, _Q_LIM = 256, 2.5          # fine 1-D histograms for the quantiles: 0.02 log units per bin
CHROMA_FEATURE_NAMES = (
    tuple(f"q{int(q * 100):02d}_log_{c}" for c in ("rg", "bg") for q in _QUANTILES)
    + tuple(f"top{int(t * 100):02d}_log_{c}" for t in _BRIGHT_TOPS for c in ("rg", "bg"))
    + tuple(f"grid{i}{j}_log_{c}" for c in ("rg", "bg") for i in range(_GRID) for j in range(_GRID))
    + tuple(f"hist_{i}_{j}" for i in range(_HIST_BINS) for j in range(_HIST_BINS))
)
N_QUANTILE_FEATURES = 2 * len(_QUANTILES) + 2 * len(_BRIGHT_TOPS)  # the leading quantile + bright-depth names


# Everything below is a function of uint8 code pairs, so the per-pixel maths is a table lookup:
# bin of log(R/G) (or log(B/G)) for the quantile histogram and for the 2-D histogram.
def _pair_table(nbins: int, lim: float) -> np.ndarray:
    lc = _LOG_LUT[:, None] - _LOG_LUT[None, :]                      # [a, g] -> log(a/g)
    return np.clip(((lc + lim) / (2 * lim) * nbins).astype(np.int64), 0, nbins - 1).astype(np.intp).ravel()


def _soft_pair_tables(nbins: int, lim: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower bin intp, weight of the bin above float32) per code pair, bins centred on their cells:
    a value moving across a bin edge moves its weight gradually. With hard bins a neutral pixel sits
    on the middle edge (log-chroma 0) and one 8-bit code flips it between two bins; the canonical
    render puts every neutral surface under the reference light right there (issue #12)."""
    lc = _LOG_LUT[:, None] - _LOG_LUT[None, :]
    pos = (lc + lim) / (2 * lim) * nbins - 0.5
    lo = np.clip(np.floor(pos), 0, nbins - 2)
    return lo.astype(np.intp).ravel(), np.clip(pos - lo, 0.0, 1.0).astype(np.float32).ravel()


_Q_TABLE = _pair_table(_Q_BINS, _Q_LIM)
_H_LO, _H_UP = _soft_pair_tables(_HIST_BINS, _HIST_LIM)


def _quantiles_from_bins(b: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Per-row quantiles (n, len(_QUANTILES)) of the values whose fine-histogram bins are b (n, P),
    over pixels flagged `good`; linear interpolation inside a bin. Vectorised, no per-image sort."""
    n = b.shape[0]
    nb = _Q_BINS + 1                                                  # last bin: ignored pixels
    idx = np.where(good, b, _Q_BINS) + (np.arange(n, dtype=np.intp) * nb)[:, None]
    h = np.bincount(idx.ravel(), minlength=n * nb).reshape(n, nb)[:, :_Q_BINS].astype(np.float64)
    cdf = np.cumsum(h, 1)
    total = np.maximum(cdf[:, -1:], 1e-9)
    width = 2 * _Q_LIM / _Q_BINS
    out = np.zeros((n, len(_QUANTILES)))
    for k, q in enumerate(_QUANTILES):
        target = q * total
        j = np.minimum((cdf < target).sum(1), _Q_BINS - 1)          # first bin reaching q
        below = np.where(j > 0, np.take_along_axis(cdf, np.maximum(j - 1, 0)[:, None], 1)[:, 0], 0.0)
        inbin = np.maximum(np.take_along_axis(h, j[:, None], 1)[:, 0], 1e-9)
        frac = np.clip((target[:, 0] - below) / inbin, 0, 1)
        out[:, k] = -_Q_LIM + (j + frac) * width
    return np.where(cdf[:, -1:] > 0, out, 0.0)


def _chunk_chroma(images: np.ndarray, full: bool = True) -> np.ndarray:
    """CHROMA_FEATURE_NAMES of a chunk; full=False: only the quantiles and bright-pixel depths (the first
    N_QUANTILE_FEATURES), without the grid and the histogram."""
    n, h, w_, _ = images.shape
    planes = np.ascontiguousarray(images.reshape(n, h * w_, 3).transpose(0, 2, 1))
    codes = planes.astype(np.intp)  # table index: numpy converts any other index type element by element
    lin = _LUT[codes]
    pair_rg = codes[:, 0] * 256 + codes[:, 1]                         # (n, P) code pairs
    pair_bg = codes[:, 2] * 256 + codes[:, 1]
    unclipped = planes.max(1) < _CLIP_U8
    lum = np.einsum("c,ncp->np", _LUM, lin)
    good = unclipped & (lum > 0.01)
    feats = [_quantiles_from_bins(_Q_TABLE[pair_rg], good), _quantiles_from_bins(_Q_TABLE[pair_bg], good)]
    # Bright pixels at several depths: the very top is speculars / white cloth, deeper is skin, walls.
    # Depth thresholds from a 1024-level luminance histogram per image (no per-image sort).
    levels = 1024
    lq = np.where(unclipped, np.minimum((lum * levels).astype(np.int32), levels - 1), levels)  # clipped: own bin
    cnt_l = np.bincount((lq + (np.arange(n, dtype=np.int32) * (levels + 1))[:, None]).ravel(),
                        minlength=n * (levels + 1)).reshape(n, levels + 1)[:, :levels]
    above = np.cumsum(cnt_l[:, ::-1], 1)[:, ::-1]                    # unclipped pixels at or above a level
    n_ok = above[:, :1]
    for top in _BRIGHT_TOPS:
        thr = np.maximum((above >= np.maximum(top * n_ok, 1)).sum(1) - 1, 0)   # highest level keeping >= top
        m = (lq >= thr[:, None]) & unclipped
        cnt = m.sum(1)[:, None]
        mean = np.einsum("np,ncp->nc", m.astype(np.float32), lin) / np.maximum(cnt, 1)
        feats.append(_log_chroma(np.where(cnt > 0, mean, lin.mean(2))))
    if not full:
        return np.concatenate(feats, 1).astype(np.float32)
    # Grey-world per cell of a 3 x 3 grid (sky at the top, floor at the bottom ...).
    gh, gw_ = (h // _GRID) * _GRID, (w_ // _GRID) * _GRID
    if gh and gw_:
        cells = lin.reshape(n, 3, h, w_)[:, :, :gh, :gw_].reshape(n, 3, _GRID, gh // _GRID, _GRID, gw_ // _GRID)
        lc = np.log(np.maximum(cells.mean((3, 5)), _EPS))            # (n, 3, G, G)
        feats += [(lc[:, 0] - lc[:, 1]).reshape(n, -1), (lc[:, 2] - lc[:, 1]).reshape(n, -1)]
    else:
        feats.append(np.zeros((n, 2 * _GRID * _GRID)))
    # Luminance-weighted 2-D log-chroma histogram, bilinear (soft) bins (sqrt: variance-stabilised shares).
    bins = _HIST_BINS
    lo_rg, up_rg, lo_bg, up_bg = _H_LO[pair_rg], _H_UP[pair_rg], _H_LO[pair_bg], _H_UP[pair_bg]
    base = lo_rg * bins + lo_bg + (np.arange(n, dtype=np.intp) * bins * bins)[:, None]
    w = np.where(good, lum, 0).astype(np.float32)
    # the four corners' bins and weights, made in the types bincount reads (intp, float64): no copies
    idx = np.empty((4,) + base.shape, np.intp)
    idx[0] = base
    np.add(base, 1, out=idx[1])
    np.add(base, bins, out=idx[2])
    np.add(base, bins + 1, out=idx[3])
    wts = np.empty((4,) + base.shape, np.float64)
    w_lo, w_up = w * (1 - up_rg), w * up_rg
    wts[0], wts[1], wts[2], wts[3] = w_lo * (1 - up_bg), w_lo * up_bg, w_up * (1 - up_bg), w_up * up_bg
    hist = np.bincount(idx.ravel(), weights=wts.ravel(), minlength=n * bins * bins).reshape(n, -1)
    feats.append(np.sqrt(hist / np.maximum(hist.sum(1, keepdims=True), 1e-12)))
    return np.concatenate(feats, 1).astype(np.float32)


def quantile_features(images: np.ndarray, chunk: int = 32, max_side: int = 48) -> np.ndarray:
    """The first N_QUANTILE_FEATURES of chroma_features (log-chroma quantiles, bright-pixel depths), same
    values, at about half the cost: for a second look at a photo (finetune.trust's as-shot render)."""
    return _chunked(lambda c: _chunk_chroma(c, full=False), images, N_QUANTILE_FEATURES, chunk, max_side,
                    "quantile_features")


def chroma_features(images: np.ndarray, chunk: int = 32, max_side: int = 48) -> np.ndarray:
    """uint8 (N,S,S,3) sRGB -> float32 (N, len(CHROMA_FEATURE_NAMES)): per-pixel log-chroma quantiles
    (well-exposed pixels), bright-pixel means at several depths, a 3 x 3 grid of grey-world
    estimates and a luminance-weighted 8 x 8 log-chroma histogram, on <= max_side pixels."""
    return _chunked(_chunk_chroma, images, len(CHROMA_FEATURE_NAMES), chunk, max_side, "chroma_features")


def image_features(images: np.ndarray) -> np.ndarray:
    """colour_features + chroma_features: everything the head reads from the pixels besides the
    embedding (float32 (N, len(IMAGE_FEATURE_NAMES)))."""
    return np.concatenate([colour_features(images), chroma_features(images)], 1)


IMAGE_FEATURE_NAMES = COLOUR_FEATURE_NAMES + CHROMA_FEATURE_NAMES
