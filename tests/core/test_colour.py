"""core/colour.py: the colour-constancy features move the right way under a cast."""
from __future__ import annotations

import numpy as np
import pytest

from core.colour import COLOUR_FEATURE_NAMES, colour_features
from core.wb import rerender


def _scene(seed: int = 0, size: int = 24) -> np.ndarray:
    """A neutral-ish textured scene with a few bright patches, rendered at 5000 K / 0."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.15, 0.7, (size, size, 1)) * np.ones(3) + rng.normal(0, 0.03, (size, size, 3))
    img[:4, :4] = 0.95  # a bright, near-white patch for the bright-pixel estimator
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def test_shape_dtype_and_finite_on_extreme_images():
    imgs = np.stack([_scene(), np.zeros((24, 24, 3), np.uint8), np.full((24, 24, 3), 255, np.uint8)])
    f = colour_features(imgs)
    assert f.shape == (3, len(COLOUR_FEATURE_NAMES)) and f.dtype == np.float32 and np.isfinite(f).all()
    names = list(COLOUR_FEATURE_NAMES)
    assert f[2, names.index("clipped_fraction")] == 1.0 and f[1, names.index("dark_fraction")] == 1.0
    assert f[0, names.index("clipped_fraction")] == 0.0
    with pytest.raises(ValueError, match="uint8"):
        colour_features(imgs.astype(np.float32))


@pytest.mark.parametrize("est", ["gw", "sog", "bright", "edge", "geo"])
def test_warm_render_is_redder_and_cool_render_bluer(est):
    img = _scene()
    warm = rerender(img, (5000, 0), (7000, 0))   # higher WB temperature -> warmer (redder) picture
    cool = rerender(img, (5000, 0), (3500, 0))   # lower -> bluer
    f = colour_features(np.stack([cool, img, warm]))
    names = list(COLOUR_FEATURE_NAMES)
    rg, bg = f[:, names.index(f"{est}_log_rg")], f[:, names.index(f"{est}_log_bg")]
    assert rg[0] < rg[1] < rg[2]   # log(R/G) rises with warmth
    assert bg[0] > bg[1] > bg[2]   # log(B/G) falls


def test_brightness_and_spread_respond():
    img = _scene()
    f = colour_features(np.stack([img, (img * 0.5).astype(np.uint8)]))
    names = list(COLOUR_FEATURE_NAMES)
    assert f[0, names.index("log_brightness")] > f[1, names.index("log_brightness")]
    colourful = img.copy()
    colourful[:, :12, 0] = 200
    colourful[:, 12:, 2] = 200
    g = colour_features(np.stack([img, colourful]))
    assert g[1, names.index("spread_log_rg")] > g[0, names.index("spread_log_rg")]


def test_chroma_features_quantiles_histogram_and_cast():
    from core.colour import CHROMA_FEATURE_NAMES, IMAGE_FEATURE_NAMES, chroma_features, image_features

    img = _scene(size=24)
    warm = rerender(img, (5000, 0), (7000, 0))
    f = chroma_features(np.stack([img, warm]))
    names = list(CHROMA_FEATURE_NAMES)
    assert f.shape == (2, len(names)) and np.isfinite(f).all()
    q = [f[:, names.index(f"q{p:02d}_log_rg")] for p in (5, 25, 50, 75, 95)]
    assert all((a <= b + 1e-6).all() for a, b in zip(q, q[1:]))        # quantiles are ordered
    assert (q[2][1] > q[2][0]) and f[1, names.index("top01_log_rg")] > f[0, names.index("top01_log_rg")]
    hist = f[:, [i for i, n in enumerate(names) if n.startswith("hist_")]] ** 2
    np.testing.assert_allclose(hist.sum(1), 1.0, atol=1e-5)               # sqrt of shares
    # a uniform grey image: every quantile at log-chroma 0, within a histogram bin
    grey = np.full((1, 16, 16, 3), 120, np.uint8)
    g = chroma_features(grey)
    assert abs(g[0, names.index("q50_log_bg")]) < 0.03
    both = image_features(np.stack([img, warm]))
    assert both.shape == (2, len(IMAGE_FEATURE_NAMES))


def test_chroma_histogram_is_soft_a_one_code_change_moves_it_a_little():
    """Bins are bilinear: a neutral grey (log-chroma 0, the middle bin edge) is shared between the
    middle bins, and moving red by one 8-bit code shifts a little weight, not a whole bin."""
    from core.colour import CHROMA_FEATURE_NAMES, chroma_features

    grey = np.full((1, 16, 16, 3), 128, np.uint8)
    redder = grey.copy()
    redder[..., 0] = 129
    cols = [i for i, k in enumerate(CHROMA_FEATURE_NAMES) if k.startswith("hist_")]
    a, b = chroma_features(grey)[0, cols], chroma_features(redder)[0, cols]
    assert np.isclose((a ** 2).sum(), 1.0) and np.isclose((b ** 2).sum(), 1.0)   # sqrt of shares
    assert (a > 0.4).sum() == 4                                                   # four middle bins share it
    assert np.abs(a ** 2 - b ** 2).max() < 0.05                                   # shares move by < 5 %


def test_quantile_features_are_the_leading_chroma_features_exactly():
    from core.colour import CHROMA_FEATURE_NAMES, N_QUANTILE_FEATURES, chroma_features, quantile_features

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    images[:5, :10] = 255  # some clipped pixels
    q = quantile_features(images)
    assert q.shape == (40, N_QUANTILE_FEATURES)
    assert all(k.startswith(("q", "top")) for k in CHROMA_FEATURE_NAMES[:N_QUANTILE_FEATURES])
    assert not CHROMA_FEATURE_NAMES[N_QUANTILE_FEATURES].startswith(("q", "top"))
    np.testing.assert_array_equal(q, chroma_features(images)[:, :N_QUANTILE_FEATURES])
