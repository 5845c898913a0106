"""lightroom/raw.py: as-shot Temperature/Tint from camera neutral + colour matrices, raw renders and their ΔE00.

The DNG here is written by the test itself with tifffile (tags by number), so it does not depend on
the demo's DNG writer; the reference white-point iteration is a plain re-implementation of the
DNG specification's loop."""
import numpy as np
import pytest
import tifffile
from PIL import Image

from core import wb
from core.errors import ImageReadError
from lightroom.raw import (CameraColour, as_shot_temp_tint, interpolate_matrix, neutral_to_xy, read_raw, read_render,
                         xy_to_neutral)

CM_A = np.array([[0.97, -0.29, -0.09], [-0.43, 1.21, 0.24], [-0.11, 0.21, 0.63]])  # under illuminant A
CM_D65 = np.array([[0.90, -0.29, -0.07], [-0.45, 1.24, 0.23], [-0.09, 0.19, 0.71]])  # under D65


def two(neutral=(1, 1, 1)):
    return CameraColour((CM_A, CM_D65), (2850.0, 6500.0), np.asarray(neutral, float))


def reference_xy(neutral, cm1, cm2, t1, t2):
    """DNG spec, chapter 6, written out: start at D50, interpolate in 1/T, invert, repeat."""
    x, y = 0.3457, 0.3585
    for _ in range(50):
        t, _ = wb.xy_to_temp_tint(x, y)
        g = min(max((1 / t - 1 / t2) / (1 / t1 - 1 / t2), 0.0), 1.0)
        xyz = np.linalg.inv(g * cm1 + (1 - g) * cm2) @ neutral
        x, y = xyz[0] / xyz.sum(), xyz[1] / xyz.sum()
    return x, y


def test_interpolation_is_linear_in_inverse_temperature_and_clipped():
    c = two()
    t = 4000.0
    g = (1 / t - 1 / 6500) / (1 / 2850 - 1 / 6500)
    assert np.allclose(interpolate_matrix(c, t), g * CM_A + (1 - g) * CM_D65)
    assert np.allclose(interpolate_matrix(c, 2000.0), CM_A)  # warmer than A: matrix A alone
    assert np.allclose(interpolate_matrix(c, 9000.0), CM_D65)


@pytest.mark.parametrize("temp,tint", [(2900, 0), (3400, 12), (5000, -8), (6500, 5), (9000, 30)])
def test_neutral_round_trips_through_the_cct_interpolation(temp, tint):
    x, y = wb.temp_tint_to_xy(temp, tint)
    n = xy_to_neutral(two(), x, y)
    assert n[1] == pytest.approx(1.0)
    got = as_shot_temp_tint(two(n))
    assert got[0] == pytest.approx(temp, abs=0.5) and got[1] == pytest.approx(tint, abs=0.05)
    assert neutral_to_xy(two(n)) == pytest.approx(reference_xy(n, CM_A, CM_D65, 2850.0, 6500.0), abs=1e-9)


def test_single_matrix_white_is_the_inverse_of_the_matrix():
    d65 = np.array([0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290])
    n = CM_D65 @ d65
    xy = neutral_to_xy(CameraColour((CM_D65,), None, n / n[1]))
    assert xy == pytest.approx((0.3127, 0.3290), abs=1e-9)


def _srat(vals, den=1_000_000):
    out = []
    for v in np.ravel(vals):
        out += [int(round(v * den)), den]
    return out


def write_test_dng(path, neutral, grey=0.4, size=32):
    """A flat grey scene as an RGGB CFA DNG: raw = grey * neutral (what the camera records)."""
    n = np.asarray(neutral, float) / max(neutral)
    cfa = np.empty((size, size), np.uint16)
    cfa[0::2, 0::2] = round(grey * n[0] * 4095)
    cfa[0::2, 1::2] = cfa[1::2, 0::2] = round(grey * n[1] * 4095)
    cfa[1::2, 1::2] = round(grey * n[2] * 4095)
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "Test Camera", True),
            (33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True),
            (50721, "2i", 9, _srat(CM_A), True), (50722, "2i", 9, _srat(CM_D65), True),
            (50778, "H", 1, 17, True), (50779, "H", 1, 21, True),
            (50728, "2I", 3, _srat(n), True), (50717, "H", 1, 4095, True), (272, "s", 0, "Test Camera", True)]
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags, subfiletype=0, metadata=None)
    return path


def test_dng_written_with_tifffile_gives_its_as_shot_white_balance_and_a_neutral_render(tmp_path):
    x, y = wb.temp_tint_to_xy(3800.0, 9.0)
    neutral = xy_to_neutral(two(), x, y)
    path = write_test_dng(tmp_path / "IMG_0001.dng", neutral)
    photo = read_raw(path, size=16)
    assert photo.temperature == pytest.approx(3800.0, abs=1.0) and photo.tint == pytest.approx(9.0, abs=0.1)
    assert photo.render.shape == (16, 16, 3) and photo.render.dtype == np.uint8
    mean = photo.render.reshape(-1, 3).mean(0)
    # At the as-shot white balance the grey scene renders grey (what "as shot" means).
    assert np.ptp(mean) <= 3 and 60 < mean[1] < 220


def test_demo_dng_writer_round_trips_temperature_and_pixels(tmp_path):
    from demo.generate_lightroom import write_dng

    rng = np.random.default_rng(0)
    blocks = (rng.random((5, 5, 3)) * 120 + 60).astype(np.uint8)
    img = np.repeat(np.repeat(blocks, 8, 0), 8, 1)  # flat 8 px patches: half-size demosaic keeps them
    path = write_dng(tmp_path / "a.dng", img, "NIKON D750", 4700.0, -6.0)
    photo = read_raw(path, size=20)
    assert photo.temperature == pytest.approx(4700.0, abs=1.0) and photo.tint == pytest.approx(-6.0, abs=0.1)
    assert np.abs(photo.render.reshape(-1, 3).mean(0) - img.reshape(-1, 3).mean(0)).max() < 4


def test_missing_and_corrupt_raws_name_the_file(tmp_path):
    with pytest.raises(ImageReadError, match="IMG_9.dng: raw file not found"):
        read_raw(tmp_path / "IMG_9.dng")
    bad = tmp_path / "broken.cr2"
    bad.write_bytes(b"not a raw file at all" * 10)
    with pytest.raises(ImageReadError, match="broken.cr2: cannot decode raw file"):
        read_raw(bad)


def test_rendered_files_are_read_as_they_are(tmp_path):
    img = np.zeros((30, 50, 3), np.uint8)
    img[..., 0] = 200
    Image.fromarray(img).save(tmp_path / "a.png")
    out = read_render(tmp_path / "a.png", 8)
    assert out.shape == (8, 8, 3) and (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()


def test_fluorescent_illuminants_take_the_middle_of_their_range_as_the_dng_sdk_does():
    from lightroom.raw import ILLUMINANT_KELVIN

    ranges = {12: (5700, 7100), 13: (4600, 5500), 14: (3800, 4500), 15: (3250, 3800), 16: (2600, 3250)}
    assert {k: ILLUMINANT_KELVIN[k] for k in ranges} == {k: (lo + hi) / 2 for k, (lo, hi) in ranges.items()}
    assert (ILLUMINANT_KELVIN[13], ILLUMINANT_KELVIN[15], ILLUMINANT_KELVIN[16]) == (5050, 3525, 2925)


@pytest.mark.parametrize("temp,tint", [(2850, 0), (3300, 6), (5500, 0), (7000, -4)])
def test_a_proprietary_raw_with_both_adobe_matrices_is_interpolated_like_a_dng(temp, tint):
    """LibRaw reports a 5D Mark II's D65 matrix; Adobe's StdA one is added and the two interpolated,
    so the as-shot comes back exactly where the single D65 matrix is tens of K off at tungsten."""
    from core import wb
    from lightroom.raw import DUAL_MATRICES, CameraColour, camera_colour_for

    std_a, d65 = (np.reshape(m, (3, 3)) / 10000.0 for m in DUAL_MATRICES["Canon EOS 5D Mark II"])
    truth = CameraColour((std_a, d65), (2850.0, 6500.0), np.ones(3))
    x, y = wb.temp_tint_to_xy(temp, tint)
    neutral = xy_to_neutral(truth, float(x), float(y))
    dual = camera_colour_for(d65, neutral)
    assert len(dual.matrices) == 2
    got = as_shot_temp_tint(dual)
    assert got[0] == pytest.approx(temp, abs=1) and got[1] == pytest.approx(tint, abs=0.1)
    single = as_shot_temp_tint(CameraColour((d65,), None, neutral))
    if temp < 4000:
        assert abs(single[0] - temp) > 20  # what the single matrix got wrong
    other = camera_colour_for(d65 + 0.01, neutral)  # an unknown camera keeps its one matrix
    assert len(other.matrices) == 1


def test_raw_files_are_compared_on_libraw_renders(tmp_path):
    from demo.generate_lightroom import write_dng
    from lightroom.raw import raw_delta_e, read_raw, render_raw_at

    rng = np.random.default_rng(0)
    img = np.repeat(np.repeat((rng.random((5, 5, 3)) * 120 + 60).astype(np.uint8), 8, 0), 8, 1)
    path = write_dng(tmp_path / "a.dng", img, "NIKON D750", 4700.0, -6.0)
    shot = read_raw(path, size=20)
    # at its own as-shot white balance the render is LibRaw's as-shot render itself
    np.testing.assert_array_equal(render_raw_at(path, [(shot.temperature, shot.tint)], 20)[0], shot.render)
    truth = (4700.0, -6.0)
    de = raw_delta_e(path, truth, [truth, (4300.0, -6.0), (3500.0, -6.0), (3500.0, 20.0)])
    assert de[0] == 0.0 and np.all(np.diff(de) > 0)
