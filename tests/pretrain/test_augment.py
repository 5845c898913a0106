"""The views must move and mirror pixels but never change a colour (pretrain/augment.py)."""
import pytest
import torch
import torch.nn.functional as F

from pretrain.augment import WBViewAugment

torch.set_num_threads(1)


def constant_batch(colours, size=40):
    return torch.tensor(colours, dtype=torch.float32)[:, :, None, None].expand(-1, -1, size, size).contiguous()


COLOURS = [[0.2, 0.5, 0.7], [0.9, 0.1, 0.3], [0.0, 1.0, 0.5], [0.33, 0.33, 0.34]]


def smooth_image(seed, size=48, cast=(0.9, 0.7, 0.5)):
    """A natural-ish photo: smooth random shading of one colour cast, plus mild smooth chroma noise."""
    g = torch.Generator().manual_seed(seed)
    lum = F.interpolate(torch.rand(1, 1, 5, 5, generator=g), size=(size, size), mode="bicubic", align_corners=False)
    chroma = 1 + 0.04 * (F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(size, size), mode="bilinear",
                                       align_corners=False) - 0.5)
    return (0.2 + 0.6 * lum.clamp(0, 1)) * torch.tensor(cast)[None, :, None, None] * chroma


def chromaticity(x):
    s = x.sum(1, keepdim=True)
    return (x / s)[:, :2].mean((2, 3))


def test_constant_colour_survives_crops_zooms_flips():
    x = constant_batch(COLOURS)
    aug = WBViewAugment(24, p_zoom_out=0.5, zoom_out=(0.5, 1.0), p_flip=0.5, p_paste=0.0, seed=3)
    for _ in range(5):
        y = aug(x)
        assert y.shape == (4, 3, 24, 24)
        assert torch.allclose(y, x[:, :, :24, :24], atol=1e-5, rtol=0)


def test_paste_from_same_colour_donor_changes_nothing():
    x = constant_batch([COLOURS[0]] * 3)
    y = WBViewAugment(24, p_zoom_out=0.5, p_paste=1.0, seed=1)(x)
    assert torch.allclose(y, x[:, :, :24, :24], atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", range(6))
def test_paste_brings_only_donor_pixels_over_5_to_20_percent(seed):
    x = constant_batch(COLOURS[:2], size=80)
    y = WBViewAugment(64, p_paste=1.0, p_zoom_out=0.3, seed=seed)(x)
    for i in (0, 1):
        own = (y[i] - x[i, :, :64, :64]).abs().amax(0) < 1e-5
        donor = (y[i] - x[1 - i, :, :64, :64]).abs().amax(0) < 1e-5
        assert (own | donor).all(), "a pasted pixel must be a donor pixel, unchanged"
        frac = donor.float().mean().item()
        assert 0.05 - 0.01 <= frac <= 0.20 + 0.01, frac
        # the patch is one rectangle: its rows x columns cover exactly the changed pixels
        r, c = donor.any(1), donor.any(0)
        assert donor.sum() == r.sum() * c.sum()


def test_no_paste_when_disabled():
    x = constant_batch(COLOURS[:2], size=32)
    y = WBViewAugment(32, p_paste=0.0, p_zoom_out=0.0, seed=0)(x)
    assert torch.allclose(y, x, atol=1e-5, rtol=0)


def test_full_frame_box_is_identity_and_flip_is_a_mirror():
    x = smooth_image(0, size=32)
    keep = dict(crop_scale=(1.0, 1.0), aspect=(1.0, 1.0), p_zoom_out=0.0, p_paste=0.0)
    assert torch.allclose(WBViewAugment(32, p_flip=0.0, **keep)(x), x, atol=1e-5)
    assert torch.allclose(WBViewAugment(32, p_flip=1.0, **keep)(x), x.flip(-1), atol=1e-5)


def test_zoom_out_fills_with_reflection_not_a_constant_border():
    x = smooth_image(1, size=32)
    y = WBViewAugment(32, p_zoom_out=1.0, zoom_out=(0.5, 0.6), p_paste=0.0, seed=0)(x.expand(8, -1, -1, -1))
    lo, hi = x.amin((0, 2, 3)), x.amax((0, 2, 3))
    # every output value stays inside the photo's own per-channel range (a black/grey border would not)
    assert (y >= lo[None, :, None, None] - 1e-5).all() and (y <= hi[None, :, None, None] + 1e-5).all()
    # and it really zoomed out: the view is not just a crop of the photo
    assert not torch.allclose(y.mean((2, 3)), x.mean((2, 3)).expand(8, -1), atol=1e-4)


def test_mean_chromaticity_of_natural_image_is_preserved():
    x = torch.cat([smooth_image(s) for s in range(4)])
    ref = chromaticity(x)
    aug = WBViewAugment(32, p_zoom_out=0.3, p_paste=0.0, seed=5)
    for _ in range(3):
        assert (chromaticity(aug(x)) - ref).abs().max() < 0.01


def test_same_seed_same_views_different_seed_different_views():
    x = torch.cat([smooth_image(s) for s in range(4)])
    a = WBViewAugment(24, p_zoom_out=0.3, seed=7)(x)
    b = WBViewAugment(24, p_zoom_out=0.3, seed=7)(x)
    c = WBViewAugment(24, p_zoom_out=0.3, seed=8)(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # a generator passed per call takes precedence over the augmenter's own
    aug = WBViewAugment(24, seed=0)
    assert torch.equal(aug(x, torch.Generator().manual_seed(3)), aug(x, torch.Generator().manual_seed(3)))


def test_paste_reads_donors_before_writing():
    # every view both gives and receives a patch: a donor's patch must be its own pixels as resampled,
    # never a patch it received earlier in the batch (each view is one constant colour, so any pixel
    # tells which view it came from)
    b = 16
    colours = torch.linspace(0.05, 0.95, b)
    x = colours[:, None, None, None].expand(b, 3, 32, 32).contiguous()
    aug = WBViewAugment(32, crop_scale=(1.0, 1.0), aspect=(1.0, 1.0), p_zoom_out=0.0, p_flip=0.0, p_paste=1.0,
                        paste_area=(0.2, 0.3), seed=0)
    y = aug(x)
    for i in range(b):
        values = set(torch.unique(y[i, 0]).tolist())
        own = values & {float(colours[i])}
        assert own and len(values) == 2, f"view {i}: expected its own colour and one donor's, got {values}"
