"""wbstyle's as-shot against Lightroom's own, per camera model, from the catalog itself.

A photo left at *As Shot* stores the Temperature/Tint Lightroom computed for it (its camera
profile's matrices, its own conversion). wbstyle computes the as-shot from the raw file
(lightroom.raw); where the two disagree for a camera, every edited photo of that camera is learned
from a shifted starting point. The catalog therefore holds the truth to check against:

* for up to SAMPLE As Shot raws per camera model, read the file's as-shot (lightroom.raw.read_as_shot,
  no demosaic) and take Δmired = mired(wbstyle) - mired(Lightroom), Δtint = wbstyle - Lightroom;
* report per camera the photos checked and the median |Δmired|, |Δtint|;
* with at least EVIDENCE photos of a camera, its edited photos' as-shot is corrected by the median
  signed difference (a camera-wide offset: the matrices, not the photo, cause it); with fewer, it
  is reported and left as computed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import wb
from core.errors import ImageReadError
from lightroom.lrcat import AS_SHOT, iter_lightroom
from lightroom.raw import read_as_shot

SAMPLE = 50  # As Shot photos read per camera: the medians settle long before, and the check stays cheap
EVIDENCE = 10  # photos of a camera before its as-shot is corrected


@dataclass(frozen=True)
class CameraAgreement:
    camera: str
    photos: int  # As Shot raws checked
    median_abs_mired: float
    median_abs_tint: float
    shift_mired: float  # median signed Δmired (wbstyle - Lightroom)
    shift_tint: float

    @property
    def corrected(self) -> bool:
        return self.photos >= EVIDENCE

    def correct(self, temp: float, tint: float) -> tuple[float, float]:
        """wbstyle's as-shot of this camera's photo moved onto Lightroom's (when the evidence is enough)."""
        if not self.corrected:
            return temp, tint
        return float(wb.mired_to_kelvin(wb.kelvin_to_mired(temp) - self.shift_mired)), tint - self.shift_tint


def check_as_shot(catalog: str | Path, relocate: tuple[str, str] | None = None) -> dict[str, CameraAgreement]:
    """camera model -> agreement of wbstyle's as-shot with the As Shot values the catalog stores
    (raws only: a rendered file has no as-shot Kelvin). One pass over the catalog's rows."""
    diffs: dict[str, list[tuple[float, float]]] = {}
    for photo, reason, _ in iter_lightroom(catalog, relocate=relocate):
        if reason != AS_SHOT or photo.as_shot is None or not photo.absolute:
            continue
        camera = str(photo.exif.get("camera_model") or "unknown camera")
        if len(diffs.setdefault(camera, [])) >= SAMPLE or not photo.path.is_file():
            continue
        try:
            temp, tint = read_as_shot(photo.path)
        except ImageReadError:
            continue  # counted by the import when it matters (edited photos); here it is no evidence
        lr_temp, lr_tint = photo.as_shot
        diffs[camera].append((float(wb.kelvin_to_mired(temp) - wb.kelvin_to_mired(lr_temp)), tint - lr_tint))
    out = {}
    for camera, d in sorted(diffs.items()):
        if not d:
            continue
        a = np.asarray(d)
        out[camera] = CameraAgreement(camera, len(d), float(np.median(np.abs(a[:, 0]))),
                                      float(np.median(np.abs(a[:, 1]))), float(np.median(a[:, 0])),
                                      float(np.median(a[:, 1])))
    return out
