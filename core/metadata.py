"""Metadata encoding: the one place that turns a catalog's CSV columns into model inputs.

Every stage (GBM baselines, the fine-tuning head, the metadata-only fallback) uses this encoder,
so a photo gets the same numbers everywhere. Design:

* The as-shot white balance is the anchor the photographer edits from, so it comes first, in the
  units the edits are linear in: mired (1e6/K) for temperature, raw tint.
* Exposure EXIF is put on the APEX (log2) scale, where it is additive: Av = 2 log2(N),
  Tv = -log2(t), Sv = log2(ISO / 3.125), and the scene brightness EV = Av + Tv - Sv says
  "daylight / indoor / night" far better than any of the three alone. Catalogs store aperture and
  shutter either as APEX values or as plain f-number / seconds (`Catalog.exif_units`); both give
  the same features for the same photo.
* A missing column or value becomes "training median + a 0/1 missing indicator", so the model can
  tell "unknown" from "typical" and a catalog without, say, focal length still runs.
* Everything is standardised with training statistics (mean/std after imputation).
* Cameras get learned-embedding indices: 0 = unknown bucket, then one index per training
  camera_model, then one per training camera_group. An unseen model falls back to its group's
  index when the group was seen, else to 0. `fallback` maps each model index to its group index
  so a trainer can randomly drop models to groups (and groups to unknown) and train those rows.

The state is plain JSON (lists, floats, strings), stored inside head.pt.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.errors import CatalogError
from core.wb import kelvin_to_mired

# (feature name, needs column(s)) — the always-present core; optional columns follow below.
CORE_FEATURES = ("asshot_mired", "asshot_tint", "av", "tv", "sv", "ev_exif", "log_focal", "flash")
# Optional numeric columns passed through (standardised) when the training table has them.
OPTIONAL_COLUMNS = ("intensity", "ev")
CAMERA_COLUMNS = ("camera_model", "camera_group")
# Features that may be missing (and so get an indicator). The as-shot pair is required by the
# reader, but a NaN there must not crash prediction either.
_LOG2_ISO_REF = np.log2(3.125)  # APEX Sv = log2(ISO * 0.32) = log2(ISO / 3.125)


def _col(table: pd.DataFrame, name: str) -> np.ndarray:
    """Column as float64, NaN where absent or non-numeric."""
    if name not in table.columns:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _positive_log2(a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.log2(np.where(a > 0, a, 1.0)), np.nan)


def flash_fired(table: pd.DataFrame) -> np.ndarray:
    """(N,) float64: 1 where the flash fired, 0 where it did not, NaN where unknown (no flashFired column,
    or an empty or non-numeric cell)."""
    flash = _col(table, "flashFired")
    # EXIF Flash is sometimes stored as the full tag (bit 0 = fired, e.g. 16 = "off, did not fire").
    return np.where(np.isnan(flash), np.nan, np.where(flash > 1, np.mod(np.floor(flash), 2), flash > 0)).astype(np.float64)


def raw_features(table: pd.DataFrame, exif_units: str, optional: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Unstandardised features (NaN = missing), in APEX/log units whatever the catalog's EXIF units."""
    if exif_units not in ("apex", "plain"):
        raise CatalogError(f"exif_units must be 'apex' or 'plain', got {exif_units!r}")
    temp = _col(table, "currTemp")
    mired = np.where(temp > 0, kelvin_to_mired(np.where(temp > 0, temp, 1.0)), np.nan)
    aperture, shutter = _col(table, "aperture"), _col(table, "shutterSpeed")
    if exif_units == "apex":
        av, tv = aperture, shutter
    else:  # plain: f-number and exposure time in seconds
        av = 2.0 * _positive_log2(aperture)
        tv = -_positive_log2(shutter)
    sv = _positive_log2(_col(table, "isoSpeedRating")) - _LOG2_ISO_REF
    flash = flash_fired(table)
    out = {
        "asshot_mired": mired,
        "asshot_tint": _col(table, "currTint"),
        "av": av,
        "tv": tv,
        "sv": sv,
        "ev_exif": av + tv - sv,
        "log_focal": np.log(np.where(_col(table, "focalLength") > 0, _col(table, "focalLength"), np.nan)),
        "flash": flash.astype(np.float64),
    }
    for name in optional:
        out[name] = _col(table, name)
    return {k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()}


def _camera_keys(table: pd.DataFrame, column: str) -> list[str | None]:
    if column not in table.columns:
        return [None] * len(table)
    vals = table[column].tolist()
    return [None if (v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "")
            else str(v).strip() for v in vals]


class MetadataEncoder:
    """fit(table, exif_units) on training rows; transform -> (x float32 (N,F), camera int64 (N,))."""

    def __init__(self) -> None:
        self.base_names: list[str] = []       # raw features, in order
        self.feature_names: list[str] = []    # base names + "<name>_missing" indicators
        self.median: dict[str, float] = {}
        self.mean: list[float] = []
        self.std: list[float] = []
        self.cameras: list[str] = []          # index i+1 <-> cameras[i]; entries "model:X" / "group:Y"
        self.fallback: list[int] = [0]        # camera index -> index to use when it is dropped
        self.fitted = False

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, table: pd.DataFrame, exif_units: str) -> "MetadataEncoder":
        if len(table) == 0:
            raise CatalogError("MetadataEncoder.fit: empty training table")
        optional = tuple(c for c in OPTIONAL_COLUMNS if c in table.columns and _col(table, c).size
                         and np.isfinite(_col(table, c)).any())
        raw = raw_features(table, exif_units, optional)
        self.base_names = list(raw)
        # A feature never seen in training is imputed with a neutral 0 (it carries no information).
        self.median = {k: float(np.nanmedian(v)) if np.isfinite(v).any() else 0.0 for k, v in raw.items()}
        self.feature_names = self.base_names + [f"{k}_missing" for k in self.base_names]
        self._fit_cameras(table)
        x = self._assemble(raw)
        self.mean = x.mean(0).tolist()
        std = x.std(0)
        self.std = np.where(std > 1e-8, std, 1.0).tolist()  # constant column -> 0 after centring
        self.fitted = True
        return self

    def _fit_cameras(self, table: pd.DataFrame) -> None:
        models, groups = _camera_keys(table, "camera_model"), _camera_keys(table, "camera_group")
        group_of: dict[str, str] = {}
        for m, g in zip(models, groups):
            if m is not None and g is not None:
                group_of.setdefault(m, g)
        mset = sorted({m for m in models if m is not None})
        gset = sorted({g for g in groups if g is not None})
        self.cameras = [f"model:{m}" for m in mset] + [f"group:{g}" for g in gset]
        index = {c: i + 1 for i, c in enumerate(self.cameras)}
        self.fallback = [0] + [index.get(f"group:{group_of[m]}", 0) if m in group_of else 0 for m in mset] \
            + [0] * len(gset)

    @property
    def n_cameras(self) -> int:
        """Embedding table size (unknown bucket included)."""
        return len(self.cameras) + 1

    # -- transforming ----------------------------------------------------------------------------
    def _assemble(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        cols, inds = [], []
        for k in self.base_names:
            v = raw[k]
            miss = np.isnan(v)
            cols.append(np.where(miss, self.median[k], v))
            inds.append(miss.astype(np.float64))
        return np.stack(cols + inds, 1)

    def transform(self, table: pd.DataFrame, exif_units: str) -> tuple[np.ndarray, np.ndarray]:
        if not self.fitted:
            raise RuntimeError("MetadataEncoder.transform called before fit")
        optional = tuple(k for k in self.base_names if k in OPTIONAL_COLUMNS)
        raw = raw_features(table, exif_units, optional)
        x = (self._assemble(raw) - np.asarray(self.mean)) / np.asarray(self.std)
        return x.astype(np.float32), self.camera_index(table)

    def camera_index(self, table: pd.DataFrame) -> np.ndarray:
        index = {c: i + 1 for i, c in enumerate(self.cameras)}
        models, groups = _camera_keys(table, "camera_model"), _camera_keys(table, "camera_group")
        out = np.zeros(len(table), np.int64)
        for i, (m, g) in enumerate(zip(models, groups)):
            out[i] = index.get(f"model:{m}", 0) if m is not None else 0
            if out[i] == 0 and g is not None:  # unseen / absent model: the group still says something
                out[i] = index.get(f"group:{g}", 0)
        return out

    # -- persistence -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"base_names": list(self.base_names), "feature_names": list(self.feature_names),
                "median": {k: float(v) for k, v in self.median.items()},
                "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
                "cameras": list(self.cameras), "fallback": [int(v) for v in self.fallback],
                "fitted": bool(self.fitted)}

    @classmethod
    def from_state_dict(cls, d: dict[str, Any]) -> "MetadataEncoder":
        enc = cls()
        enc.base_names = list(d["base_names"])
        enc.feature_names = list(d["feature_names"])
        enc.median = {k: float(v) for k, v in d["median"].items()}
        enc.mean, enc.std = list(d["mean"]), list(d["std"])
        enc.cameras, enc.fallback = list(d["cameras"]), [int(v) for v in d["fallback"]]
        enc.fitted = bool(d.get("fitted", True))
        return enc

    @property
    def dim(self) -> int:
        return len(self.feature_names)
