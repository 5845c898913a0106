"""Raw files: the camera's as-shot render and the as-shot Temperature/Tint, the way Lightroom shows them.

Every stage reads 256x256 sRGB renders at the camera's as-shot white balance plus that white
balance as (currTemp, currTint). A raw file holds neither directly; it holds

* the as-shot *neutral*: the camera-RGB response to the light the camera took as white (DNG
  AsShotNeutral; other raws store multipliers, LibRaw's `camera_whitebalance` = 1/neutral);
* a colour matrix CM that maps CIE XYZ to camera RGB (DNG ColorMatrix1/2, each measured under a
  calibration illuminant; LibRaw's `rgb_xyz_matrix` for other raws, Adobe's D65 matrix).

The as-shot white point is then, as the DNG specification (chapter 6, "Mapping Camera Color Space
to CIE XYZ Space") does it:

    1. xy = D50 to start;
    2. CM = the two ColorMatrix interpolated linearly in 1/CCT(xy) between the calibration
       illuminants' temperatures (weight clipped to [0, 1]);
    3. XYZ = CM^-1 @ neutral, xy = (X, Y) / (X + Y + Z);
    4. repeat 2-3 until xy stops moving (a few iterations);
    5. (Temperature, Tint) = core.wb.xy_to_temp_tint(xy), the DNG SDK's conversion.

With a single matrix (non-DNG raws, or a DNG with one ColorMatrix) step 2 is that matrix. We ignore
CameraCalibration/AnalogBalance (identity in almost every file; Adobe's own defaults).

Renders: LibRaw demosaics at half size (each 2x2 Bayer cell -> one pixel: no interpolation, 4x fewer
pixels, plenty for 256 px), applies the camera's as-shot multipliers, converts to sRGB with the sRGB
tone curve and no auto-brightening (auto-brightening would change exposure between photos of one
scene), then catalog.images.square_resize makes the 256 px square like every other image.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import wb
from core.errors import ImageReadError
from catalog.delta_e import RENDER_SIZE, mean_delta_e
from catalog.images import IMAGE_SUFFIXES, read_image, square_resize

RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
                ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".raw", ".rwl")
PHOTO_SUFFIXES = RAW_SUFFIXES + IMAGE_SUFFIXES

# DNG SDK dng_camera_profile::IlluminantToTemperature: EXIF LightSource code -> Kelvin. Fluorescent
# classes take the middle of the range the EXIF/DNG specifications give them: 12 daylight (D,
# 5700-7100 K) 6400, 13 day white (N, 4600-5500 K) 5050, 14 cool white (W, 3800-4500 K) and 2
# fluorescent 4150, 15 white (WW, 3250-3800 K) 3525, 16 warm white (L, 2600-3250 K) 2925.
ILLUMINANT_KELVIN = {
    1: 5500.0, 2: 4150.0, 3: 2850.0, 4: 5500.0, 9: 5500.0, 10: 6500.0, 11: 7500.0,
    12: 6400.0, 13: 5050.0, 14: 4150.0, 15: 3525.0, 16: 2925.0, 17: 2850.0, 18: 5500.0, 19: 6500.0,
    20: 5500.0, 21: 6500.0, 22: 7500.0, 23: 5000.0, 24: 3200.0,
}

# Proprietary raws: LibRaw knows one XYZ->camera matrix per camera, Adobe's D65 one (its
# rgb_xyz_matrix). Adobe's profiles carry a second, under standard illuminant A (2850 K), and
# Lightroom interpolates the two by temperature as for a DNG; a single D65 matrix puts a 5D Mark
# II's tungsten as-shot some 58 K / 6 tint off. Where both of Adobe's matrices are known (from its
# camera profiles, calibration signature com.adobe), they are recognised by the D65 matrix LibRaw
# reports, and interpolated. (StdA matrix, D65 matrix), rows of XYZ->camera, x 10000.
DUAL_MATRICES = {
    "Canon EOS 5D Mark II": ((5309, -229, -336, -6241, 13265, 3337, -817, 1215, 6664),
                             (4716, 603, -830, -7798, 15474, 2480, -1496, 1937, 6651)),
    "Canon EOS 5D": ((7284, -1569, -425, -6726, 14015, 2993, -926, 1258, 7774),
                     (6347, -479, -972, -8297, 15954, 2480, -1968, 2131, 7649)),
}
D50_XY = (0.3457, 0.3585)

# DNG tags (TIFF tag numbers).
TAG_COLOR_MATRIX = (50721, 50722)
TAG_CALIBRATION_ILLUMINANT = (50778, 50779)
TAG_AS_SHOT_NEUTRAL = 50728


def is_raw(path: str | Path) -> bool:
    return Path(path).suffix.lower() in RAW_SUFFIXES


@dataclass(frozen=True)
class CameraColour:
    """What a raw file says about colour. matrices: 1 or 2 XYZ->camera (3, 3) matrices; kelvins:
    the calibration illuminant of each (None for a single matrix); neutral (3,): as-shot camera
    RGB of white, green = 1."""
    matrices: tuple[np.ndarray, ...]
    kelvins: tuple[float, ...] | None
    neutral: np.ndarray


# ----------------------------------------------------------------------------------------------
# Camera neutral <-> xy (DNG specification, chapter 6).
# ----------------------------------------------------------------------------------------------
def interpolate_matrix(colour: CameraColour, temp: float) -> np.ndarray:
    """The XYZ->camera matrix for a white of temperature `temp` K: linear in 1/T between the two
    calibration illuminants, the nearer matrix alone outside them."""
    if len(colour.matrices) == 1 or colour.kelvins is None:
        return colour.matrices[0]
    (m1, m2), (t1, t2) = colour.matrices, colour.kelvins
    if t1 == t2:
        return m1
    g = (1.0 / temp - 1.0 / t2) / (1.0 / t1 - 1.0 / t2)  # weight of matrix 1
    g = float(np.clip(g, 0.0, 1.0))
    return g * m1 + (1.0 - g) * m2


def _xy_of_xyz(xyz: np.ndarray) -> tuple[float, float]:
    s = float(xyz.sum())
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"white point XYZ {xyz} is not a colour")
    return float(xyz[0] / s), float(xyz[1] / s)


def neutral_to_xy(colour: CameraColour, iterations: int = 30, tol: float = 1e-10) -> tuple[float, float]:
    """As-shot camera neutral -> CIE xy of the white it stands for (the spec's fixed-point iteration)."""
    xy = D50_XY
    for _ in range(iterations):
        temp, _ = wb.xy_to_temp_tint(*xy)
        cm = interpolate_matrix(colour, float(temp))
        new = _xy_of_xyz(np.linalg.solve(cm, colour.neutral))
        done = abs(new[0] - xy[0]) + abs(new[1] - xy[1]) < tol
        xy = new
        if done:
            break
    return xy


def xy_to_neutral(colour: CameraColour, x: float, y: float) -> np.ndarray:
    """The inverse: the camera neutral (green = 1) a camera records for a white at xy. Used to write
    demo and test DNGs whose as-shot white balance is known."""
    temp, _ = wb.xy_to_temp_tint(x, y)
    xyz = np.array([x / y, 1.0, (1.0 - x - y) / y])
    n = interpolate_matrix(colour, float(temp)) @ xyz
    return n / n[1]


def as_shot_temp_tint(colour: CameraColour) -> tuple[float, float]:
    """(Temperature K, Tint) of the as-shot neutral, as Lightroom shows it for "As Shot"."""
    temp, tint = wb.xy_to_temp_tint(*neutral_to_xy(colour))
    return float(temp), float(tint)


# ----------------------------------------------------------------------------------------------
# Reading raw files.
# ----------------------------------------------------------------------------------------------
def _dng_colour(path: Path, neutral: np.ndarray) -> CameraColour | None:
    """ColorMatrix1/2 + CalibrationIlluminant1/2 (+ AsShotNeutral) from a DNG's first IFD."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        mats, kelvins = [], []
        for tag_cm, tag_ill in zip(TAG_COLOR_MATRIX, TAG_CALIBRATION_ILLUMINANT):
            if tag_cm not in tags:
                continue
            vals = np.asarray(tags[tag_cm].value, np.float64)
            if vals.size == 18:  # (numerator, denominator) pairs
                vals = vals[0::2] / vals[1::2]
            if vals.size != 9:  # 4-colour cameras are not handled: LibRaw's matrix is used instead
                return None
            mats.append(vals.reshape(3, 3))
            code = int(tags[tag_ill].value) if tag_ill in tags else 21
            kelvins.append(ILLUMINANT_KELVIN.get(code, 6500.0))
        if TAG_AS_SHOT_NEUTRAL in tags:
            vals = np.asarray(tags[TAG_AS_SHOT_NEUTRAL].value, np.float64)
            neutral = vals[0::2] / vals[1::2] if vals.size == 6 else vals
    if not mats:
        return None
    return CameraColour(tuple(mats), tuple(kelvins) if len(mats) == 2 else None, neutral / neutral[1])


def _libraw_colour(raw, path: Path) -> CameraColour:
    """As-shot neutral from LibRaw's multipliers (neutral = 1/multiplier) and its camera matrix."""
    mul = np.asarray(raw.camera_whitebalance, np.float64)[:3]
    if not np.all(np.isfinite(mul)) or np.any(mul <= 0):
        raise ImageReadError(f"{path}: the raw file records no as-shot white balance (multipliers {mul.tolist()})")
    neutral = 1.0 / mul
    neutral = neutral / neutral[1]
    cm = np.asarray(raw.rgb_xyz_matrix, np.float64)[:3]
    if path.suffix.lower() == ".dng":
        dng = _dng_colour(path, neutral)
        if dng is not None:
            return dng
    if not np.any(cm):
        raise ImageReadError(f"{path}: no camera colour matrix (LibRaw does not know this camera, and the file "
                             f"has no DNG ColorMatrix); the as-shot temperature cannot be computed")
    return camera_colour_for(cm, neutral)


def camera_colour_for(d65: np.ndarray, neutral: np.ndarray) -> CameraColour:
    """A proprietary raw's colour: both of Adobe's matrices when its D65 matrix is one of
    DUAL_MATRICES' (interpolated like a DNG's), else that matrix alone."""
    for std_a, known in DUAL_MATRICES.values():
        if np.allclose(d65, np.reshape(known, (3, 3)) / 10000.0, atol=2e-4):
            return CameraColour((np.reshape(std_a, (3, 3)) / 10000.0, np.asarray(d65, np.float64)),
                                (ILLUMINANT_KELVIN[17], ILLUMINANT_KELVIN[21]), neutral)
    return CameraColour((np.asarray(d65, np.float64),), None, neutral)


@dataclass(frozen=True)
class RawPhoto:
    render: np.ndarray  # (size, size, 3) uint8 sRGB at the as-shot white balance
    temperature: float  # as-shot Temperature (K)
    tint: float  # as-shot Tint


def read_raw(path: str | Path, size: int = 256) -> RawPhoto:
    """Decode a raw file: its as-shot render (square, `size` px) and as-shot Temperature/Tint.
    ImageReadError naming the file when LibRaw cannot read it."""
    import rawpy

    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: raw file not found")
    try:
        with rawpy.imread(str(path)) as raw:
            colour = _libraw_colour(raw, path)
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, no_auto_bright=True, output_bps=8,
                                  gamma=(2.4, 12.92), output_color=rawpy.ColorSpace.sRGB)
    except ImageReadError:
        raise
    except Exception as e:  # LibRawFileUnsupportedError, truncated data ...: the user needs the file name
        raise ImageReadError(f"{path}: cannot decode raw file ({type(e).__name__}: {e})") from e
    try:
        temp, tint = as_shot_temp_tint(colour)
    except (ValueError, np.linalg.LinAlgError) as e:
        raise ImageReadError(f"{path}: as-shot white balance cannot be computed ({e})") from e
    return RawPhoto(square_resize(rgb, size), temp, tint)


def render_raw_at(path: str | Path, wbs: list[tuple[float, float]], size: int = 256) -> list[np.ndarray]:
    """The raw file rendered by LibRaw at each (Temperature K, Tint) of `wbs`: (size, size, 3) uint8 each,
    the pipeline of read_raw's as-shot render (half-size demosaic, sRGB, no auto-brightening) with the
    camera multipliers of that white balance instead of the as-shot ones: the white's xy
    (core.wb.temp_tint_to_xy) through the camera's colour matrix to the neutral it records
    (xy_to_neutral), multipliers 1/neutral (green = 1, as the camera's own). One decode, one render per
    white balance. ImageReadError naming the file when LibRaw cannot read it."""
    import rawpy

    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: raw file not found")
    out = []
    try:
        with rawpy.imread(str(path)) as raw:
            colour = _libraw_colour(raw, path)
            for temp, tint in wbs:
                x, y = wb.temp_tint_to_xy(float(temp), float(tint))
                mul = 1.0 / xy_to_neutral(colour, float(x), float(y))
                rgb = raw.postprocess(half_size=True, user_wb=[mul[0], mul[1], mul[2], mul[1]], no_auto_bright=True,
                                      output_bps=8, gamma=(2.4, 12.92), output_color=rawpy.ColorSpace.sRGB)
                out.append(square_resize(rgb, size))
    except ImageReadError:
        raise
    except Exception as e:  # LibRawFileUnsupportedError, truncated data ...: the user needs the file name
        raise ImageReadError(f"{path}: cannot decode raw file ({type(e).__name__}: {e})") from e
    return out


def read_as_shot(path: str | Path) -> tuple[float, float]:
    """A raw's as-shot (Temperature K, Tint) alone: its metadata, no demosaic (for checking many
    photos against the values Lightroom stored). ImageReadError naming the file on failure."""
    import rawpy

    path = Path(path)
    try:
        with rawpy.imread(str(path)) as raw:
            colour = _libraw_colour(raw, path)
        return as_shot_temp_tint(colour)
    except ImageReadError:
        raise
    except Exception as e:  # LibRaw errors, a matrix that cannot be inverted ...
        raise ImageReadError(f"{path}: as-shot white balance cannot be read ({type(e).__name__}: {e})") from e


def read_render(path: str | Path, size: int = 256) -> np.ndarray:
    """Any photo -> (size, size, 3) uint8: raws rendered at their as-shot white balance, JPEG/TIFF/PNG
    read as they are (catalog.images)."""
    if is_raw(path):
        return read_raw(path, size).render
    return square_resize(read_image(path), size)


def raw_delta_e(path, truth: tuple[float, float], preds: list[tuple[float, float]],
                size: int = RENDER_SIZE) -> np.ndarray:
    """(len(preds),) ΔE00 of a raw file's LibRaw renders (render_raw_at) at each predicted
    white balance against its render at the true one; rendered at LibRaw's half size, compared at `size` px."""
    renders = np.stack(render_raw_at(path, [truth, *preds], size))
    return mean_delta_e(np.repeat(renders[:1], len(preds), axis=0), renders[1:])
