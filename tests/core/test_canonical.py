import subprocess
import sys

import numpy as np
import pytest

from core.canonical import REF_TEMP, REF_TINT, from_reference, rerender_batch, to_reference
from core.errors import CatalogError
from core.wb import linear_to_srgb, rerender


def capture_renders(wbs, n=3, size=24, seed=0, peak=0.3):
    """uint8 renders of the same n linear captures at each as-shot (temp, tint) in `wbs` (one scene per
    photo, dim enough that no render clips)."""
    rng = np.random.default_rng(seed)
    # linear light at the reference WB: mostly neutral surfaces with mild colour (saturated colours leave
    # the sRGB gamut under a strong cast, and a real render clips them)
    lin = rng.uniform(0.03, peak, (n, size, size, 1)) * rng.uniform(0.75, 1.25, (n, size, size, 3))
    srgb_ref = linear_to_srgb(lin)
    out = []
    for temp, tint in wbs:
        r = rerender(srgb_ref, (REF_TEMP, REF_TINT), (temp, tint))     # float path: exact
        assert r.max() < 1.0 and r.min() > 0.0
        out.append(np.rint(r * 255).astype(np.uint8))
    return out


def test_same_capture_at_two_as_shots_gives_the_same_canonical_image():
    warm, cold = capture_renders([(3000.0, -20.0), (9000.0, 25.0)])
    assert np.abs(warm.astype(int) - cold.astype(int)).mean() > 20      # the renders differ a lot ...
    a = to_reference(warm, [3000.0] * 3, [-20.0] * 3)
    b = to_reference(cold, [9000.0] * 3, [25.0] * 3)
    d = np.abs(a.astype(int) - b.astype(int))
    assert d.mean() < 0.6 and d.max() <= 3                              # ... their canonical renders do not


def test_matches_the_per_image_rerender_within_one_code():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)  # no clipped pixel (those stay white)
    temp, tint = np.array([2600.0, 4000.0, 7000.0, 12000.0]), np.array([-30.0, 0.0, 12.0, 30.0])
    got = to_reference(x, temp, tint)
    want = np.stack([rerender(x[i], (temp[i], tint[i]), (REF_TEMP, REF_TINT)) for i in range(4)])
    d = np.abs(got.astype(int) - want.astype(int))
    assert d.max() <= 1 and (d > 0).mean() < 0.01
    assert got.dtype == np.uint8 and got.shape == x.shape


def test_a_photo_already_at_the_reference_is_unchanged_and_input_untouched():
    x = np.random.default_rng(2).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    keep = x.copy()
    np.testing.assert_array_equal(to_reference(x, [REF_TEMP] * 2, [REF_TINT] * 2), x)
    to_reference(x, [3000.0, 9000.0], [0.0, 0.0])
    np.testing.assert_array_equal(x, keep)


def test_from_reference_undoes_to_reference_for_unclipped_pixels():
    (warm,) = capture_renders([(3500.0, 5.0)], seed=3)
    canon = to_reference(warm, [3500.0] * 3, [5.0] * 3)
    back = from_reference(canon, [3500.0] * 3, [5.0] * 3)
    assert np.abs(back.astype(int) - warm.astype(int)).max() <= 2


def test_clipping_is_kept_as_a_real_render_would():
    x = np.full((1, 4, 4, 3), 250, np.uint8)
    out = rerender_batch(x, 3000.0, 0.0, 9000.0, 0.0)  # much warmer: red channel above white
    assert out[..., 0].max() == 255 and out.dtype == np.uint8


def test_a_blown_highlight_stays_white_whatever_the_as_shot():
    """A pixel clipped in the as-shot render has no known colour: it must not turn the colour of the
    camera's guess (which would tell every image input what the as-shot was)."""
    x = np.full((2, 4, 4, 3), 120, np.uint8)
    x[:, 0, 0] = 255                  # fully blown
    x[:, 0, 1] = (255, 240, 200)      # red clipped only
    out = to_reference(x, [3000.0, 9000.0], [0.0, 20.0])
    assert (out[:, 0, :2] == 255).all()
    assert (out[0, 1:] != out[1, 1:]).any()  # the rest is re-rendered as usual


@pytest.mark.parametrize("temp,tint", [(np.nan, 0.0), (0.0, 0.0), (-5.0, 0.0), (5000.0, np.inf)])
def test_unusable_as_shot_is_a_clear_error(temp, tint):
    x = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(CatalogError, match=r"photo 1 \(of 2\)"):
        to_reference(x, [5000.0, temp], [0.0, tint])


def test_wrong_images_or_counts_are_clear_errors():
    with pytest.raises(CatalogError, match="uint8"):
        to_reference(np.zeros((1, 4, 4, 3), np.float32), [5000.0], [0.0])
    with pytest.raises(CatalogError, match="3 images but 2"):
        to_reference(np.zeros((3, 4, 4, 3), np.uint8), [5000.0, 4000.0], [0.0, 0.0])


def test_needs_no_torch():
    code = "import sys, core.canonical; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
