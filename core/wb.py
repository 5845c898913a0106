"""White-balance units: the one place for Temperature/Tint maths.

Lightroom (and every Adobe raw converter) expresses white balance as the Adobe DNG SDK's
(Temperature K, Tint) pair. That pair is a coordinate system on the CIE 1960 uv chromaticity
plane built from Robertson's isotemperature lines: Temperature picks a point on the Planckian
locus (interpolated linearly in *mired*, where equal steps are roughly equal perceived steps),
Tint moves along the isotemperature line through that point, scaled by -3000 (+Tint = greener
assumed light = a more magenta render, -Tint the reverse). We reproduce that convention exactly so numbers round-trip with
catalog CSVs.

Everything is vectorised over numpy arrays in float64 (scalars are accepted and returned as
0-d arrays / floats via numpy broadcasting). Image helpers also work on torch tensors.
"""
from __future__ import annotations

import sys

import numpy as np

TEMP_MIN, TEMP_MAX = 2000.0, 50000.0
TINT_MIN, TINT_MAX = -150.0, 150.0

# Adobe DNG SDK: tint is -3000 x the signed distance from the locus along the isotemperature
# line in CIE 1960 uv. Like the slider it names the *correction*: positive tint = a greener white
# point (above the locus, e.g. fluorescent light) = the rendered image is pushed to magenta.
TINT_SCALE = -3000.0

# Robertson (1968) isotemperature lines as tabulated by Wyszecki & Stiles (Color Science, 2nd ed.,
# table 1(3.11)): reciprocal temperature (mired), u, v of the Planckian point, and the slope
# "t" = slope dv/du of the isotemperature line through that point. The 325-mired u is the
# corrected 0.24792 (W&S misprint 0.24702), as in the DNG SDK.
_ROBERTSON = np.array([
    [0.0, 0.18006, 0.26352, -0.24341],
    [10.0, 0.18066, 0.26589, -0.25479],
    [20.0, 0.18133, 0.26846, -0.26876],
    [30.0, 0.18208, 0.27119, -0.28539],
    [40.0, 0.18293, 0.27407, -0.30470],
    [50.0, 0.18388, 0.27709, -0.32675],
    [60.0, 0.18494, 0.28021, -0.35156],
    [70.0, 0.18611, 0.28342, -0.37915],
    [80.0, 0.18740, 0.28668, -0.40955],
    [90.0, 0.18880, 0.28997, -0.44278],
    [100.0, 0.19032, 0.29326, -0.47888],
    [125.0, 0.19462, 0.30141, -0.58204],
    [150.0, 0.19962, 0.30921, -0.70471],
    [175.0, 0.20525, 0.31647, -0.84901],
    [200.0, 0.21142, 0.32312, -1.0182],
    [225.0, 0.21807, 0.32909, -1.2168],
    [250.0, 0.22511, 0.33439, -1.4512],
    [275.0, 0.23247, 0.33904, -1.7298],
    [300.0, 0.24010, 0.34308, -2.0637],
    [325.0, 0.24792, 0.34655, -2.4681],
    [350.0, 0.25591, 0.34951, -2.9641],
    [375.0, 0.26400, 0.35200, -3.5814],
    [400.0, 0.27218, 0.35407, -4.3633],
    [425.0, 0.28039, 0.35577, -5.3762],
    [450.0, 0.28863, 0.35714, -6.7262],
    [475.0, 0.29685, 0.35823, -8.5955],
    [500.0, 0.30505, 0.35907, -11.324],
    [525.0, 0.31320, 0.35968, -15.628],
    [550.0, 0.32129, 0.36011, -23.325],
    [575.0, 0.32931, 0.36038, -40.770],
    [600.0, 0.33724, 0.36051, -116.45],
])
_R, _U, _V, _T = (_ROBERTSON[:, i] for i in range(4))
# Unit vectors along each isotemperature line, (du, dv) = (1, t)/|(1, t)|; the DNG SDK measures
# tint along these (interpolated) directions.
_LEN = np.sqrt(1.0 + _T * _T)
_DU, _DV = 1.0 / _LEN, _T / _LEN

# sRGB (IEC 61966-2-1) linear RGB <-> CIE XYZ, D65 white, Y of white = 1.
SRGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)

# Bradford cone-response matrix (Lam 1985): XYZ -> sharpened "LMS". Von Kries scaling in this
# space is the standard chromatic adaptation used by ICC / Adobe (better than scaling XYZ or RGB).
BRADFORD = np.array([
    [0.8951, 0.2664, -0.1614],
    [-0.7502, 1.7135, 0.0367],
    [0.0389, -0.0685, 1.0296],
])
BRADFORD_INV = np.linalg.inv(BRADFORD)


# ----------------------------------------------------------------------------------------------
# Kelvin <-> mired. Mired (micro reciprocal degrees) is the perceptually even temperature unit:
# a 500 K step is big at 3000 K and invisible at 20000 K, a 10-mired step is similar everywhere.
# ----------------------------------------------------------------------------------------------
def kelvin_to_mired(k):
    return 1e6 / np.asarray(k, dtype=np.float64)


def mired_to_kelvin(m):
    return 1e6 / np.asarray(m, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Temperature/Tint <-> CIE xy (DNG SDK dng_temperature::Get_xy_coord / Set_xy_coord).
# ----------------------------------------------------------------------------------------------
def temp_tint_to_xy(temp, tint):
    """(Temperature K, Tint) -> CIE 1931 (x, y) of the white point."""
    temp, tint = np.broadcast_arrays(np.asarray(temp, np.float64), np.asarray(tint, np.float64))
    r = 1e6 / temp
    # Line pair (i, i+1) bracketing r; beyond the table ends we extrapolate from the last pair,
    # like the SDK's "index == 29" fallback.
    i = np.clip(np.searchsorted(_R[1:], r, side="right"), 0, len(_R) - 2)
    f = (_R[i + 1] - r) / (_R[i + 1] - _R[i])  # weight of line i
    u = _U[i] * f + _U[i + 1] * (1.0 - f)
    v = _V[i] * f + _V[i + 1] * (1.0 - f)
    # Interpolate the isotemperature-line direction and renormalise; tint moves along it.
    du = _DU[i] * f + _DU[i + 1] * (1.0 - f)
    dv = _DV[i] * f + _DV[i + 1] * (1.0 - f)
    n = np.sqrt(du * du + dv * dv)
    offset = tint / TINT_SCALE
    u = u + du / n * offset
    v = v + dv / n * offset
    # CIE 1960 uv -> xy.
    d = u - 4.0 * v + 2.0
    return (1.5 * u / d)[()], (v / d)[()]  # [()] turns 0-d arrays back into numpy scalars


def _xy_to_temp_tint_sdk(x, y):
    """The DNG SDK's inverse: find the two isotemperature lines the point lies between (signed
    perpendicular distance changes sign), interpolate by the ratio of distances."""
    d = 1.5 - x + 6.0 * y
    u, v = 2.0 * x / d, 3.0 * y / d
    # Signed distance of the point from every line j = 1..30 (negative = past the line).
    uu = u[..., None] - _U[1:]
    vv = v[..., None] - _V[1:]
    dt = -uu * _DV[1:] + vv * _DU[1:]
    below = dt <= 0.0
    # First line we are below; if none, the last (extrapolation at the warm end).
    j = np.where(below.any(-1), below.argmax(-1), len(_R) - 2) + 1
    # Distance past line j (0 when extrapolating beyond the last line) and before line j-1.
    dt_j = -np.minimum(np.take_along_axis(dt, (j - 1)[..., None], -1)[..., 0], 0.0)
    last = np.where(j > 1, np.take_along_axis(dt, np.maximum(j - 2, 0)[..., None], -1)[..., 0], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(j == 1, 0.0, dt_j / (last + dt_j))  # weight of line j-1
    f = np.nan_to_num(f)
    r = _R[j - 1] * f + _R[j] * (1.0 - f)
    uu = u - (_U[j - 1] * f + _U[j] * (1.0 - f))
    vv = v - (_V[j - 1] * f + _V[j] * (1.0 - f))
    du = _DU[j] * (1.0 - f) + np.where(j > 1, _DU[j - 1], 0.0) * f
    dv = _DV[j] * (1.0 - f) + np.where(j > 1, _DV[j - 1], 0.0) * f
    n = np.sqrt(du * du + dv * dv)
    tint = (uu * du / n + vv * dv / n) * TINT_SCALE
    return 1e6 / r, tint


def xy_to_temp_tint(x, y):
    """CIE 1931 (x, y) -> (Temperature K, Tint).

    Starts from the DNG SDK's closed-form inverse (which is only approximately the inverse of the
    forward map: it interpolates by perpendicular distances, the forward map by mired), then
    polishes with Newton steps on the forward map in (mired, tint) so that
    temp_tint_to_xy -> xy_to_temp_tint round-trips to ~1e-9. The polish moves values by < ~1 K,
    far below what Lightroom displays, and makes the two directions exactly consistent."""
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    temp, tint = _xy_to_temp_tint_sdk(x, y)
    m = 1e6 / temp
    for _ in range(4):
        # Numerical Jacobian of (mired, tint) -> xy; the map is smooth within a line pair.
        fx, fy = temp_tint_to_xy(1e6 / m, tint)
        h_m, h_t = 1e-4, 1e-3
        ax, ay = temp_tint_to_xy(1e6 / (m + h_m), tint)
        bx, by = temp_tint_to_xy(1e6 / m, tint + h_t)
        j11, j21 = (ax - fx) / h_m, (ay - fy) / h_m
        j12, j22 = (bx - fx) / h_t, (by - fy) / h_t
        det = j11 * j22 - j12 * j21
        ex, ey = x - fx, y - fy
        with np.errstate(divide="ignore", invalid="ignore"):
            dm = (j22 * ex - j12 * ey) / det
            dtint = (-j21 * ex + j11 * ey) / det
        ok = np.isfinite(dm) & np.isfinite(dtint)
        m = np.where(ok, m + np.where(ok, dm, 0.0), m)
        tint = np.where(ok, tint + np.where(ok, dtint, 0.0), tint)
    return (1e6 / m)[()], np.asarray(tint)[()]


def _is_tensor(a) -> bool:
    """A torch tensor? Without importing torch: the predict path runs without it, and nothing can
    hand us a tensor unless torch is already loaded."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(a, torch.Tensor)


# ----------------------------------------------------------------------------------------------
# sRGB transfer function. Photos are stored gamma-encoded; white balance is a multiplicative
# (linear-light) operation, so we must linearise first. Both numpy and torch, same type out.
# Negative values are handled sign-symmetrically so float round trips stay exact out of gamut.
# ----------------------------------------------------------------------------------------------
def srgb_to_linear(a):
    if _is_tensor(a):
        import torch

        x = a.abs()
        return torch.copysign(torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4), a)
    a = np.asarray(a)
    if a.dtype.kind in "ui":
        a = a.astype(np.float64) / 255.0  # integer input is taken to be 8-bit sRGB codes
    neg = a < 0
    x = np.abs(a) if neg.any() else a  # float32 stays float32 (images), float64 stays float64
    y = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return np.where(neg, -y, y) if neg.any() else y


def linear_to_srgb(a):
    if _is_tensor(a):
        import torch

        x = a.abs()
        y = torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(1e-12) ** (1 / 2.4) - 0.055)
        return torch.copysign(y, a)
    a = np.asarray(a)
    neg = a < 0
    x = np.abs(a) if neg.any() else a
    y = np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.where(neg, -y, y) if neg.any() else y


# Exact linear value of every 8-bit code: uint8 images are linearised by table lookup (fast).
_SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.uint8)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Re-rendering an image at another white balance.
# ----------------------------------------------------------------------------------------------
def _white_xyz(temp, tint):
    x, y = temp_tint_to_xy(temp, tint)
    return np.stack([x / y, np.ones_like(x), (1.0 - x - y) / y], axis=-1)  # Y = 1


def rerender_matrix(from_temp, from_tint, to_temp, to_tint):
    """(..., 3, 3) float32 matrix on linear-sRGB column vectors: image rendered at WB `from` ->
    the same capture rendered at WB `to`.

    A render at WB w maps the scene colour of illuminant w to neutral. Changing w_from -> w_to is
    therefore a von Kries scaling by LMS(w_from)/LMS(w_to) (Bradford cone space): what was neutral
    becomes the colour w_from seen under w_to. Choosing a lower `to` temperature (warmer assumed
    light) divides out more red, so the image turns bluer, exactly like Lightroom's slider."""
    lms_from = _white_xyz(from_temp, from_tint) @ BRADFORD.T
    lms_to = _white_xyz(to_temp, to_tint) @ BRADFORD.T
    gain = lms_from / lms_to  # (..., 3)
    m = XYZ_TO_SRGB @ BRADFORD_INV @ (gain[..., :, None] * (BRADFORD @ SRGB_TO_XYZ))
    return m.astype(np.float32)


def rerender(image, from_wb, to_wb):
    """Re-render an sRGB image (..., H, W, 3) from WB `from_wb` to `to_wb` ((temp, tint) tuples).
    uint8 in -> uint8 out (rounded, clipped; float32 maths is plenty for 8 bits); float in -> same
    float dtype out, not clipped, so A->B->A returns the original."""
    img = np.asarray(image)
    m = rerender_matrix(from_wb[0], from_wb[1], to_wb[0], to_wb[1])
    if img.dtype == np.uint8:
        lin = _SRGB8_TO_LINEAR[img]
        out = linear_to_srgb(np.clip(lin.reshape(-1, 3) @ m.T, 0.0, 1.0)).reshape(img.shape)
        return np.rint(out * 255.0).astype(np.uint8)
    dtype = img.dtype if img.dtype in (np.float32, np.float64) else np.float64
    lin = srgb_to_linear(img.astype(dtype, copy=False))
    out = linear_to_srgb(lin.reshape(-1, 3) @ m.astype(dtype).T)
    return out.reshape(img.shape)


def rerender_torch(images: torch.Tensor, matrices) -> torch.Tensor:
    """Batch re-render for augmentation: images (B, 3, H, W) sRGB in [0, 1], matrices (B, 3, 3)
    (numpy or torch) from rerender_matrix. Output clipped to [0, 1] as a real render would be."""
    import torch

    m = torch.as_tensor(np.asarray(matrices) if not isinstance(matrices, torch.Tensor) else matrices)
    m = m.to(device=images.device, dtype=images.dtype)
    with torch.no_grad():
        lin = srgb_to_linear(images.clamp(0.0, 1.0))
        out = torch.einsum("bij,bjhw->bihw", m, lin).clamp(0.0, 1.0)
        return linear_to_srgb(out)
