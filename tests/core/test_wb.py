import numpy as np
import pytest
import torch

from core import wb


# --- Temperature/Tint <-> xy: known illuminants (values Lightroom / the DNG SDK report) -------
@pytest.mark.parametrize(
    "xy, temp, tint, temp_tol, tint_tol",
    [
        ((0.3324, 0.3474), 5500.0, 10.0, 30.0, 2.0),  # D55
        ((0.44757, 0.40745), 2856.0, 0.0, 10.0, 1.0),  # CIE illuminant A (a Planckian radiator)
        ((0.3127, 0.3290), 6500.0, 10.0, 30.0, 2.0),  # D65 (daylight sits ~+10 magenta of Planck)
    ],
)
def test_known_illuminants(xy, temp, tint, temp_tol, tint_tol):
    t, n = wb.xy_to_temp_tint(*xy)
    assert abs(float(t) - temp) < temp_tol
    assert abs(float(n) - tint) < tint_tol


def test_tint_sign_convention():
    # Like Lightroom's slider, Tint describes the *correction*: +Tint renders the image more
    # magenta, which means the assumed light is greener (white point above the locus, larger y).
    x0, y0 = wb.temp_tint_to_xy(5000.0, 0.0)
    x1, y1 = wb.temp_tint_to_xy(5000.0, 50.0)
    assert y1 > y0
    # Higher temperature = bluer white = smaller x.
    assert wb.temp_tint_to_xy(8000.0, 0.0)[0] < wb.temp_tint_to_xy(3000.0, 0.0)[0]


def test_temp_tint_round_trip_grid():
    temp, tint = np.meshgrid(np.geomspace(wb.TEMP_MIN, wb.TEMP_MAX, 60), np.linspace(wb.TINT_MIN, wb.TINT_MAX, 31))
    x, y = wb.temp_tint_to_xy(temp, tint)
    assert x.shape == temp.shape
    t2, n2 = wb.xy_to_temp_tint(x, y)
    np.testing.assert_allclose(t2, temp, rtol=1e-8)
    np.testing.assert_allclose(n2, tint, atol=1e-6)


def test_scalars_in_scalars_out():
    x, y = wb.temp_tint_to_xy(5000, 0)
    t, n = wb.xy_to_temp_tint(x, y)
    assert np.ndim(x) == 0 and np.ndim(t) == 0 and np.ndim(n) == 0
    assert abs(float(t) - 5000.0) < 1e-6


def test_kelvin_mired_round_trip():
    k = np.array([2000.0, 3200.0, 5500.0, 50000.0])
    np.testing.assert_allclose(wb.kelvin_to_mired(k), 1e6 / k)
    np.testing.assert_allclose(wb.mired_to_kelvin(wb.kelvin_to_mired(k)), k)
    assert wb.kelvin_to_mired(5000) == pytest.approx(200.0)


# --- sRGB transfer ------------------------------------------------------------------------------
def test_srgb_round_trip_numpy_and_torch():
    a = np.linspace(0, 1, 101)
    lin = wb.srgb_to_linear(a)
    assert isinstance(lin, np.ndarray)
    np.testing.assert_allclose(wb.linear_to_srgb(lin), a, atol=1e-12)
    assert wb.srgb_to_linear(np.array(0.5)) == pytest.approx(0.21404, abs=1e-4)  # textbook value
    t = torch.linspace(0, 1, 101, dtype=torch.float32)
    lt = wb.srgb_to_linear(t)
    assert isinstance(lt, torch.Tensor) and lt.dtype == torch.float32
    torch.testing.assert_close(wb.linear_to_srgb(lt), t, atol=1e-5, rtol=0)
    np.testing.assert_allclose(lt.numpy(), lin, atol=1e-6)


# --- rerendering --------------------------------------------------------------------------------
def _grey(v=128, size=4):
    return np.full((size, size, 3), v, np.uint8)


def test_rerender_identity():
    np.testing.assert_allclose(wb.rerender_matrix(4500, 7, 4500, 7), np.eye(3), atol=1e-6)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    out = wb.rerender(img, (4500, 7), (4500, 7))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, img)


def test_rerender_direction_like_lightroom():
    grey = _grey()
    cooler = wb.rerender(grey, (5500, 0), (3500, 0)).astype(float)[0, 0]
    warmer = wb.rerender(grey, (5500, 0), (8000, 0)).astype(float)[0, 0]
    assert cooler[2] / cooler[0] > 1.2  # lower Temperature slider -> bluer
    assert warmer[2] / warmer[0] < 0.9  # higher -> warmer/yellower
    magenta = wb.rerender(grey, (5500, 0), (5500, 40)).astype(float)[0, 0]
    assert magenta[1] < magenta[0] - 5 and magenta[1] < magenta[2] - 5  # raising Tint -> magenta image


def test_rerender_float_round_trip():
    rng = np.random.default_rng(1)
    img = rng.random((7, 5, 3))
    a, b = (3000.0, -20.0), (7500.0, 35.0)
    mid = wb.rerender(img, a, b)
    assert mid.dtype == img.dtype and not np.allclose(mid, img)
    np.testing.assert_allclose(wb.rerender(mid, b, a), img, atol=1e-5)


def test_rerender_matrix_adapts_whites_and_composes():
    # Physical meaning: in XYZ, the matrix is von Kries scaling mapping the `to` white onto the
    # `from` white, i.e. a surface that looks like the `to` illuminant in the `from` render shows
    # the colour of the `from` illuminant in the `to` render (the assumed light changed, not the scene).
    f, t = (3200.0, 5.0), (6000.0, -12.0)
    m = wb.rerender_matrix(*f, *t).astype(np.float64)
    w_from, w_to = wb._white_xyz(*f), wb._white_xyz(*t)
    rgb_to = wb.XYZ_TO_SRGB @ w_to
    np.testing.assert_allclose(wb.SRGB_TO_XYZ @ (m @ rgb_to), w_from, rtol=1e-5)
    # Path independence: A->B then B->C equals A->C; inverse is the swapped matrix.
    c = (4200.0, 20.0)
    m_ac = wb.rerender_matrix(*f, *c)
    m_bc = wb.rerender_matrix(*t, *c)
    np.testing.assert_allclose(m_bc @ m, m_ac, atol=1e-5)
    np.testing.assert_allclose(wb.rerender_matrix(*t, *f) @ m, np.eye(3), atol=1e-5)


def test_rerender_matrix_batched_shape():
    ft = np.array([[3000.0, 5500.0], [4000.0, 6000.0]])
    m = wb.rerender_matrix(ft, 0.0, 5000.0, np.zeros((2, 2)))
    assert m.shape == (2, 2, 3, 3) and m.dtype == np.float32
    np.testing.assert_allclose(m[1, 0], wb.rerender_matrix(4000.0, 0.0, 5000.0, 0.0), atol=1e-6)
    assert wb.rerender_matrix(5000, 0, 6000, 0).shape == (3, 3)


def test_rerender_torch_matches_numpy():
    rng = np.random.default_rng(2)
    imgs = rng.random((2, 6, 6, 3)).astype(np.float32)
    wbs = [((5000.0, 0.0), (3500.0, 10.0)), ((4000.0, -5.0), (7000.0, 0.0))]
    mats = np.stack([wb.rerender_matrix(*a, *b) for a, b in wbs])
    out = wb.rerender_torch(torch.from_numpy(imgs).permute(0, 3, 1, 2), torch.from_numpy(mats))
    assert out.shape == (2, 3, 6, 6) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    for i, (a, b) in enumerate(wbs):
        ref = np.clip(wb.rerender(imgs[i].astype(np.float64), a, b), 0, 1)
        np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy(), ref, atol=1e-4)
    # numpy matrices accepted too
    out2 = wb.rerender_torch(torch.from_numpy(imgs).permute(0, 3, 1, 2), mats)
    torch.testing.assert_close(out, out2)
