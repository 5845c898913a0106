"""catalog.delta_e: CIEDE2000 against the published test pairs, and the rendered per-photo ΔE00."""
from __future__ import annotations

import numpy as np
import pytest

from core.canonical import REF_TEMP, REF_TINT
from catalog.delta_e import ciede2000, grouped_summary, mean_delta_e, render_delta_e, shrink, summary
from core.wb import SRGB_TO_XYZ, rerender, srgb_to_linear

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1 L2 a2 b2 ΔE00.
# Pairs chosen for the traps the paper lists: hue angles around 0/360, mean hue across 180°, a* = 0.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_the_published_pairs():
    pairs = np.array(SHARMA)
    lab1, lab2, expected = pairs[:, :3], pairs[:, 3:6], pairs[:, 6]
    np.testing.assert_allclose(ciede2000(lab1, lab2), expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(ciede2000(lab2, lab1), expected, atol=1e-4, rtol=0)  # symmetric


def _photos(n: int = 6, size: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 230, (n, 4, 4, 3))
    idx = np.arange(size) * 4 // size
    return coarse[:, idx][:, :, idx].astype(np.uint8)


def test_a_prediction_equal_to_the_truth_has_no_difference():
    canonical = _photos()
    temp, tint = np.array([2800.0, 4000, 5500, 6500, 9000, 15000]), np.array([-20.0, 0, 10, 5, 30, -40])
    np.testing.assert_array_equal(render_delta_e(canonical, temp, tint, temp, tint), 0.0)


def test_difference_grows_with_the_error_in_mired_and_in_tint():
    canonical = _photos(4)
    true_t, true_tint = np.full(4, 5000.0), np.full(4, 5.0)
    by_mired = [render_delta_e(canonical, 1e6 / (200.0 + dm), true_tint, true_t, true_tint) for dm in (5, 15, 40, 80)]
    by_tint = [render_delta_e(canonical, true_t, true_tint + dt, true_t, true_tint) for dt in (3, 10, 25, 50)]
    for series in (by_mired, by_tint):
        assert np.all(series[0] > 0)
        assert np.all(np.diff(np.stack(series), axis=0) > 0)  # every photo, every step


def _hand_lab(rgb8: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB colours (..., 3), written out from the CIE formulas."""
    xyz = srgb_to_linear(rgb8) @ SRGB_TO_XYZ.T
    white = SRGB_TO_XYZ.sum(1)  # linear (1, 1, 1)
    t = xyz / white
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def test_matches_a_hand_made_render_pair_and_clipped_pixels_count_as_equal():
    """A photo of two flat patches, one an ordinary colour, one blown out (255): each white balance's
    render made by hand (core.wb.rerender from the reference), Lab from the CIE formulas. The frame
    mean is half the patch's ΔE00: the clipped half stays white in both renders."""
    colour = np.array([150, 110, 80], np.uint8)
    canonical = np.empty((1, 16, 16, 3), np.uint8)
    canonical[:, :, :8] = colour
    canonical[:, :, 8:] = 255
    pred, truth = (3600.0, -12.0), (5200.0, 14.0)
    by_hand = [rerender(colour[None, None], (REF_TEMP, REF_TINT), wb)[0, 0] for wb in (pred, truth)]
    patch = float(ciede2000(_hand_lab(by_hand[0]), _hand_lab(by_hand[1])))
    assert patch > 3  # a visible difference, so the comparison below means something
    got = render_delta_e(canonical, pred[0], pred[1], truth[0], truth[1])
    np.testing.assert_allclose(got, [patch / 2], rtol=1e-4)


def test_larger_photos_are_compared_small_and_mean_delta_e_checks_shapes():
    big = np.repeat(np.repeat(_photos(2, 24), 4, axis=1), 4, axis=2)  # 96 px
    assert shrink(big, 48).shape == (2, 48, 48, 3)
    de = render_delta_e(big, 3000.0, 0.0, 6000.0, 10.0)
    assert de.shape == (2,) and np.all(de > 0)
    with pytest.raises(ValueError, match="one shape"):
        mean_delta_e(big, big[:1])


def test_summaries():
    de = np.arange(1.0, 11.0)
    s = summary(de)
    assert s == {"n": 10, "de00_mean": 5.5, "de00_p75": float(np.percentile(de, 75)),
                 "de00_p90": float(np.percentile(de, 90))}
    g = grouped_summary(de, np.array(["a"] * 5 + ["b"] * 5))
    assert list(g) == ["b", "a"]  # worst P75 first
    assert g["a"]["n"] + g["b"]["n"] == 10 and g["a"]["de00_mean"] == 3.0
