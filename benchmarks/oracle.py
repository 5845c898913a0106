"""What the synthetic benchmark's inputs allow: oracles that know how the generator works.

The benchmark's noise floor (MAE of the labels against the photographer's clean style) counts only
the label noise. It does not count what the inputs hide: each camera's auto white balance adds its
own per-shot error (5-7 mired, 2-2.5 tint sd), and the TIFF is rendered at that noisy as-shot. So a
model sees the noise only through the picture, and a picture of an unseen scene cannot tell a colour
cast from a colourful scene. This module measures how far that leaves even a model that has been
told the generator's secrets. These are diagnostics, not product systems; they read
../shared/bench/make_wb_bench.py and its photos:

* **camera inversion**: undo each camera's auto-WB model exactly (its grey-world / bright-pixel
  weights, its reliance on non-image cues, its warmth keeping and biases, all taken from the
  generator's table). Its inputs are the camera's own estimates, recomputed from the
  de-rendered TIFF. Then apply the photographer's true style. What is left is the per-shot AWB
  noise, amplified by 1 / reliance.
* **camera inversion + scene statistics, per-camera least squares**: the best linear mix, per camera,
  of that inversion, the camera's grey-world and bright-pixel estimates and the as-shot value. It is
  fitted on the Train labels, mapped back to the true light through the known style, so it uses the
  picture's colours as well as the camera model.

Both are scored like every system, by the benchmark's own score.py.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import tifffile

PREFIX = "oracle: "
ORACLE_INVERSION = PREFIX + "camera inversion (knows the generator's camera table and style; diagnostic)"
ORACLE_LSQ = PREFIX + "camera inversion + scene statistics, per-camera least squares (diagnostic)"


def is_oracle(system: str) -> bool:
    """A report row of this module (a diagnostic, never a product system to check targets on)."""
    return system.startswith(PREFIX)


def load_generator(script: Path) -> ModuleType:
    """The benchmark generator as a module (its functions and camera table)."""
    spec = importlib.util.spec_from_file_location("make_wb_bench", script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {script}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _camera_features(gen: ModuleType, root: Path, split: str, calib) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the split's CSV, per photo: the camera model's exact inversion and the camera's own estimates
    in mired and tint)."""
    csv = root / split / ("sliders.csv" if split == "Train" else "sliders_inputs.csv")
    table = pd.read_csv(csv, dtype={"id_global": str})
    cams = {c[0]: c for c in gen.CAMERAS}
    rows = []
    for r in table.itertuples(index=False):
        img = tifffile.imread(root / split / "images" / f"{r.id_global}.tif").astype(np.float64)
        img /= 65535.0 if img.max() > 255 else 255.0
        # de-render: the TIFF is the cast scene adapted from the as-shot white to D65; adapt it back
        cast = gen.srgb_to_linear(img) @ gen.von_kries_rgb(gen.D65, gen.temp_tint_to_xy(r.currTemp, r.currTint)).T
        gw, bp = gen.awb_estimates(cast)
        _, _, w_gw, cues, keep, m_bias, t_bias, _, _ = cams[r.camera_model]
        mix = w_gw * (gw - calib[0]) + (1 - w_gw) * (bp - calib[1])
        as_m = 1e6 / r.currTemp
        m = as_m - m_bias
        if m > gen.REF_MIRED:  # undo "keep part of the warmth" (monotone above the reference)
            m = (m - keep * gen.REF_MIRED) / (1 - keep)
        tint = (r.currTint - t_bias) / 0.75  # undo the partial tint correction
        rows.append({"id_global": r.id_global, "camera": r.camera_model,
                     "inv_m": (m - (1 - cues) * mix[0]) / cues, "inv_t": (tint - (1 - cues) * mix[1]) / cues,
                     "gw_m": gw[0] - calib[0][0], "gw_t": gw[1] - calib[0][1],
                     "bp_m": bp[0] - calib[1][0], "bp_t": bp[1] - calib[1][1],
                     "as_m": as_m, "as_t": float(r.currTint)})
    return table, pd.DataFrame(rows)


def _style(gen: ModuleType, mired: np.ndarray, tint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = np.array([gen.photographer_clean(1e6 / m, t) for m, t in zip(mired, tint)])
    return out[:, 0], out[:, 1]


def _unstyle(gen: ModuleType, temp: np.ndarray, tint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The true light behind a (noisy) label, through the inverse of the known style."""
    ref = gen.REF_MIRED
    m = 1e6 / temp + 3.0
    m = np.where(m > ref, ref + (m - ref) / 0.75, (m + 0.15 * ref) / 1.15)
    return m, (tint - 2.0) / 0.85


def camera_oracles(root: Path, generator: Path, photos: Path) -> dict[str, pd.DataFrame]:
    """Validation predictions (id_global, Temperature, Tint) of both oracles, keyed by row name."""
    gen = load_generator(generator)
    _, imgs = gen.load_photos(photos)
    calib = gen.calibrate_awb(imgs)
    train, tr = _camera_features(gen, root, "Train", calib)
    _, va = _camera_features(gen, root, "Validation", calib)
    out = {}
    t, ti = _style(gen, va["inv_m"].to_numpy(), va["inv_t"].to_numpy())
    out[ORACLE_INVERSION] = pd.DataFrame({"id_global": va["id_global"], "Temperature": t, "Tint": ti})
    labels = train.set_index("id_global").loc[tr["id_global"]]
    y = dict(zip(("m", "t"), _unstyle(gen, labels["Temperature"].to_numpy(float), labels["Tint"].to_numpy(float))))
    pred = {"m": np.zeros(len(va)), "t": np.zeros(len(va))}
    for cam in sorted(set(va["camera"])):
        a, b = (tr["camera"] == cam).to_numpy(), (va["camera"] == cam).to_numpy()
        if a.sum() < 10:  # too few Train photos of this camera to fit 5 coefficients: the inversion alone
            pred["m"][b], pred["t"][b] = va.loc[b, "inv_m"], va.loc[b, "inv_t"]
            continue
        for u in ("m", "t"):
            cols = [f"inv_{u}", f"gw_{u}", f"bp_{u}", f"as_{u}"]
            x_tr = np.c_[tr.loc[a, cols].to_numpy(), np.ones(a.sum())]
            coef = np.linalg.lstsq(x_tr, y[u][a], rcond=None)[0]
            pred[u][b] = np.c_[va.loc[b, cols].to_numpy(), np.ones(b.sum())] @ coef
    t, ti = _style(gen, pred["m"], pred["t"])
    out[ORACLE_LSQ] = pd.DataFrame({"id_global": va["id_global"], "Temperature": t, "Tint": ti})
    return out
