"""Demo catalog: a small, physically grounded, fully offline stand-in for a photographer's catalog.

Why: every stage (validate, pretrain, finetune, predict, audit) needs a catalog to run on, and
tests/tutorials cannot ship real photos or reach the network. We build one from photos bundled in
installed packages (scikit-image's data folder, matplotlib's sample data) and simulate the things
that make the real problem what it is:

* a *scene* is a sub-crop of a source photo; the photo as shipped is taken to be the neutral
  (correctly white-balanced) rendering of that scene;
* a *shoot* is one date under one kind of light (tungsten, fluorescent/LED, golden hour, daylight,
  shade) -- the true illuminant (Temperature, Tint);
* 4 simulated cameras (2 brands) whose auto-WB estimates the illuminant imperfectly, each with its
  own bias, shrinkage toward daylight and noise -> the as-shot currTemp/currTint;
* the TIFF is what the camera's as-shot rendering looks like: the neutral scene re-rendered from
  the true illuminant to the as-shot white balance (core.wb.rerender), plus sensor-ish noise;
* the label (Temperature, Tint) is a consistent photographer style applied to the true illuminant
  (keep some warmth of warm light, warm up shade, a slight magenta preference) + small noise;
* bursts of near-duplicate shots per scene (crop/zoom/flip jitter, the other eye of a stereo pair,
  sometimes a pasted patch of another photo) -- the consistency cases the product must handle.

Train and Validation are split by shoot, and their crops come from disjoint bands of each source
photo, so retrieval cannot cheat by finding the same pixels on both sides.

Layout A: OUT/Train/images/<id>.tif, OUT/Train/sliders.csv, OUT/Validation/images/<id>.tif,
OUT/Validation/sliders_inputs.csv (inputs only) and OUT/answers.csv (Validation labels).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from core import wb
from core.errors import CatalogError
from core.progress import progress_bar

INPUT_CSV_COLUMNS = ["id_global", "captureTime", "camera_model", "camera_group", "aperture", "shutterSpeed",
                     "isoSpeedRating", "focalLength", "flashFired", "intensity", "ev", "currTemp", "currTint"]
LABEL_COLUMNS = ["Temperature", "Tint"]

# Source photos: (package, file). motorcycle_right is not a scene of its own: it is the other eye of
# the motorcycle_left stereo pair, used as a near-duplicate view inside motorcycle bursts (as its
# own source it would leak near-identical content across the Train/Validation split).
SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
STEREO_PARTNER = {"motorcycle_left.png": "motorcycle_right.png"}
MPL_PHOTOS = ["grace_hopper.jpg"]

# Fraction of each photo's longer axis used by Train crops; Validation crops use the rest.
TRAIN_BAND = 0.6


@dataclass(frozen=True)
class Camera:
    model: str
    group: str
    # Auto-WB in mired: as_shot = REF + shrink * (true - REF) + bias + noise. shrink < 1 is the
    # well-known under-correction of AWB under warm/cool light (cameras keep some of the cast).
    shrink: float
    bias_mired: float
    noise_mired: float
    tint_shrink: float
    bias_tint: float
    noise_tint: float


CAMERAS = [
    Camera("Canon EOS R6", "Canon", 0.60, -8.0, 9.0, 0.55, 3.0, 4.0),
    Camera("Canon EOS 5D Mark IV", "Canon", 0.45, -14.0, 12.0, 0.45, 5.0, 5.0),
    Camera("NIKON Z 6", "Nikon", 0.70, 6.0, 8.0, 0.65, -3.0, 3.5),
    Camera("NIKON D750", "Nikon", 0.52, 12.0, 11.0, 0.40, -6.0, 5.0),
]
AWB_REF_MIRED = 1e6 / 5200.0  # AWB pulls its estimate toward ~daylight

# Kinds of light: (name, weight, Temperature range K, tint mean, tint sd, scene EV100 range, start hours
# [h0, h1): a shoot lasts < ~80 min, so it never runs past midnight into a second date).
ILLUMINANTS = [
    ("tungsten", 0.22, (2700.0, 3300.0), 0.0, 3.0, (5.0, 8.0), (18, 22)),
    ("fluorescent", 0.14, (3600.0, 5000.0), 22.0, 6.0, (6.0, 9.0), (9, 18)),
    ("golden_hour", 0.16, (3500.0, 4500.0), 6.0, 4.0, (10.0, 12.0), (17, 20)),
    ("daylight", 0.28, (5000.0, 6500.0), 8.0, 3.0, (13.0, 15.0), (10, 16)),
    ("shade", 0.20, (7000.0, 9000.0), 10.0, 4.0, (10.0, 12.5), (9, 17)),
]

# The photographer's style, in mired (the even unit) -- what the model has to learn.
STYLE_NEUTRAL_MIRED = 200.0    # 5000 K: warmer light than this keeps part of its warmth ...
STYLE_KEEP_WARMTH = 0.25       # ... 25 % of the excess mired (candle-light mood, not orange soup)
STYLE_SHADE_MIRED = 1e6 / 6500  # cooler light than 6500 K gets warmed ...
STYLE_WARM_SHADE = 0.35        # ... by 35 % of the deficit (shade looks friendlier)
STYLE_MAGENTA = 4.0            # constant +Tint preference (skin looks healthier)
BURST_NOISE = (3.0, 1.5)       # (mired, tint) sd shared by a burst: one decision per burst
SHOT_NOISE = (1.5, 1.0)        # (mired, tint) sd per shot: slider jitter

APERTURES = np.array([1.8, 2.8, 4.0, 5.6, 8.0, 11.0])
ISOS = np.array([100, 200, 400, 800, 1600, 3200, 6400])


def _load_sources() -> dict[str, np.ndarray]:
    """Bundled photos as uint8 RGB arrays, keyed by file name. Read with Pillow from the installed
    packages' folders: no network, nothing downloaded."""
    import matplotlib
    import skimage.data

    sk_dir = Path(skimage.data.__file__).parent
    mpl_dir = Path(matplotlib.get_data_path()) / "sample_data"
    paths = {n: sk_dir / n for n in SKIMAGE_PHOTOS + list(STEREO_PARTNER.values())}
    paths.update({n: mpl_dir / n for n in MPL_PHOTOS})
    out = {}
    for name, p in paths.items():
        if p.exists():
            with Image.open(p) as im:
                out[name] = np.asarray(im.convert("RGB"))
    scenes = [n for n in SKIMAGE_PHOTOS + MPL_PHOTOS if n in out]
    if len(scenes) < 2:
        raise CatalogError(f"demo catalog needs the photos bundled with scikit-image ({sk_dir}) and matplotlib "
                           f"({mpl_dir}); found only {scenes}. Reinstall scikit-image/matplotlib with their data.")
    return out


def _band(shape, split: str) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the part of a photo a split may crop from: Train the first TRAIN_BAND of
    the longer axis, Validation the rest -- disjoint pixels."""
    h, w = shape[:2]
    if w >= h:
        cut = int(round(w * TRAIN_BAND))
        return (0, h, 0, cut) if split == "Train" else (0, h, cut, w)
    cut = int(round(h * TRAIN_BAND))
    return (0, cut, 0, w) if split == "Train" else (cut, h, 0, w)


def _scene_box(rng, band) -> np.ndarray:
    """A square crop (cx, cy, side) inside the band: a different region/zoom of the photo."""
    y0, y1, x0, x1 = band
    short = min(y1 - y0, x1 - x0)
    side = short * rng.uniform(0.5, 0.95)
    cx = rng.uniform(x0 + side / 2, x1 - side / 2)
    cy = rng.uniform(y0 + side / 2, y1 - side / 2)
    return np.array([cx, cy, side])


def _shot_box(rng, scene_box, band) -> tuple[float, float, float, float]:
    """Burst jitter: the photographer re-frames a little (shift, zoom), staying inside the band."""
    y0, y1, x0, x1 = band
    cx, cy, side = scene_box
    side = min(side * rng.uniform(0.85, 1.12), y1 - y0, x1 - x0)
    cx = np.clip(cx + rng.normal(0, 0.06) * side, x0 + side / 2, x1 - side / 2)
    cy = np.clip(cy + rng.normal(0, 0.06) * side, y0 + side / 2, y1 - side / 2)
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def _render_crop(photo: Image.Image, box, size: int) -> np.ndarray:
    # Pillow resamples the box region directly (antialiased), much faster than crop-then-resize.
    return np.asarray(photo.resize((size, size), Image.Resampling.BICUBIC, box=tuple(float(b) for b in box)))


def _draw_illuminant(rng) -> tuple[str, float, float, tuple, tuple]:
    w = np.array([k[1] for k in ILLUMINANTS])
    name, _, (t0, t1), tint_mu, tint_sd, ev_range, hours = ILLUMINANTS[rng.choice(len(ILLUMINANTS), p=w / w.sum())]
    # Uniform in mired, the perceptually even unit.
    mired = rng.uniform(1e6 / t1, 1e6 / t0)
    return name, mired, rng.normal(tint_mu, tint_sd), ev_range, hours


def _style(mired, tint):
    """The photographer's consistent look, applied to the true illuminant (mired, tint)."""
    m = mired - STYLE_KEEP_WARMTH * np.maximum(0.0, mired - STYLE_NEUTRAL_MIRED)  # lower mired = warmer render
    m = m - STYLE_WARM_SHADE * np.maximum(0.0, STYLE_SHADE_MIRED - mired)
    return m, tint + STYLE_MAGENTA


def _clip_wb(mired, tint):
    temp = np.clip(wb.mired_to_kelvin(mired), wb.TEMP_MIN, wb.TEMP_MAX)
    return float(temp), float(np.clip(tint, wb.TINT_MIN, wb.TINT_MAX))


def _plan_split(rng, split: str, n_images: int, sources: dict) -> list[dict]:
    """Shoots -> scenes -> bursts -> shots for one split, until exactly n_images shots."""
    scene_names = [n for n in SKIMAGE_PHOTOS + MPL_PHOTOS if n in sources]
    shots, shoot_no = [], 0
    while len(shots) < n_images:
        kind, mired0, tint0, ev_range, hours = _draw_illuminant(rng)
        primary = int(rng.integers(len(CAMERAS)))
        shoot = {"split": split, "shoot_no": shoot_no, "kind": kind, "hours": hours}
        shoot_no += 1
        for scene_no in range(int(rng.integers(2, 6))):
            src = scene_names[int(rng.integers(len(scene_names)))]
            band = _band(sources[src].shape, split)
            scene_box = _scene_box(rng, band)
            # Light varies a little between spots of the same shoot.
            mired = mired0 + rng.normal(0, 5.0)
            tint = tint0 + rng.normal(0, 2.0)
            flash = rng.random() < (0.25 if kind == "tungsten" else 0.04)
            if flash:  # flash mixes ~5500 K light in: the effective illuminant moves toward daylight
                mired, tint = 0.5 * mired + 0.5 * (1e6 / 5500.0), 0.5 * tint + 0.5 * 5.0
            camera = primary if rng.random() < 0.8 else int(rng.integers(len(CAMERAS)))
            style_m, style_t = _style(mired, tint)
            burst_m, burst_t = style_m + rng.normal(0, BURST_NOISE[0]), style_t + rng.normal(0, BURST_NOISE[1])
            scene_ev = rng.uniform(*ev_range)
            aperture = float(rng.choice(APERTURES))
            focal = float(rng.choice([24, 35, 50, 70, 85, 105]))
            for _ in range(int(rng.integers(1, 5))):
                if len(shots) == n_images:
                    break
                cam = CAMERAS[camera]
                # Auto-WB runs per shot (content changes the estimate a bit).
                as_m = (AWB_REF_MIRED + cam.shrink * (mired - AWB_REF_MIRED) + cam.bias_mired
                        + rng.normal(0, cam.noise_mired))
                as_t = cam.tint_shrink * tint + cam.bias_tint + rng.normal(0, cam.noise_tint)
                view = src
                if src in STEREO_PARTNER and STEREO_PARTNER[src] in sources and rng.random() < 0.4:
                    view = STEREO_PARTNER[src]
                paste = None
                if rng.random() < 0.15:  # a pasted object from another photo (same split's band)
                    other = scene_names[int(rng.integers(len(scene_names)))]
                    ob = _band(sources[other].shape, split)
                    pside = rng.uniform(0.2, 0.35)
                    paste = (other, _shot_box(rng, _scene_box(rng, ob), ob), pside, rng.uniform(0, 1 - pside, 2))
                iso = float(rng.choice(ISOS))
                shots.append({
                    **shoot, "scene": (split, shoot["shoot_no"], scene_no), "src": view,
                    "box": _shot_box(rng, scene_box, band), "flip": rng.random() < 0.3, "paste": paste,
                    "illum": _clip_wb(mired, tint), "as_shot": _clip_wb(as_m, as_t),
                    "label": _clip_wb(burst_m + rng.normal(0, SHOT_NOISE[0]), burst_t + rng.normal(0, SHOT_NOISE[1])),
                    "camera": cam, "flash": flash, "aperture": aperture, "iso": iso, "focal": focal,
                    # Exposure: shutter from the scene brightness (EV100), aperture and ISO.
                    "ev": scene_ev + rng.normal(0, 0.15),
                    "noise_sd": rng.uniform(0.8, 2.0) * np.sqrt(iso / 400.0),
                })
    return shots


def _shoot_dates(rng: np.random.Generator, shots: list[dict]) -> dict:
    """(split, shoot_no) -> date. Shoots of both splits interleaved in time (gaps of 1-9 days), so
    Validation is not simply "the future"."""
    shoot_keys = list(dict.fromkeys((s["split"], s["shoot_no"]) for s in shots))
    day, dates = dt.date(2021, 3, 1), {}
    for i in rng.permutation(len(shoot_keys)):
        day = day + dt.timedelta(days=int(rng.integers(1, 10)))
        dates[shoot_keys[i]] = day
    return dates


def _new_id(rng: np.random.Generator, ids: set[str]) -> str:
    """A random hex id like a real catalog's, unique across splits; never all digits (a CSV reader
    would make it a number)."""
    while True:
        id_global = f"{int(rng.integers(0, 2**48)):012x}"
        if id_global not in ids and not id_global.isdigit():
            ids.add(id_global)
            return id_global


def render_shot(photos: dict[str, Image.Image], s: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8: the shot's neutral (correctly balanced) scene — crop, pasted object,
    flip — rendered at the camera's as-shot white balance, with sensor noise."""
    img = _render_crop(photos[s["src"]], s["box"], size)
    if s["paste"] is not None:
        other, pbox, pside, (py, px) = s["paste"]
        ps = max(2, int(round(pside * size)))
        y, x = min(int(py * size), size - ps), min(int(px * size), size - ps)
        img = img.copy()
        img[y:y + ps, x:x + ps] = _render_crop(photos[other], pbox, ps)
    if s["flip"]:
        img = img[:, ::-1]
    shot = wb.rerender(img, s["illum"], s["as_shot"]).astype(np.float32)
    shot = shot + np.float32(s["noise_sd"]) * rng.standard_normal(shot.shape, dtype=np.float32)
    return np.clip(np.rint(shot), 0, 255).astype(np.uint8)


def _csv_row(s: dict, id_global: str, when: dt.datetime, shoot_date: dt.date, shot: np.ndarray) -> dict:
    """The catalog row of one shot: inputs (EXIF, as-shot WB), the label and the hidden scene/shoot."""
    ev = float(s["ev"])
    shutter = s["aperture"] ** 2 / (2.0 ** ev * s["iso"] / 100.0)  # EV100 = log2(N^2/t) + log2(100/ISO)
    return {
        "id_global": id_global, "captureTime": when.isoformat(),
        "camera_model": s["camera"].model, "camera_group": s["camera"].group,
        "aperture": s["aperture"], "shutterSpeed": float(f"{shutter:.6g}"),
        "isoSpeedRating": int(s["iso"]), "focalLength": s["focal"], "flashFired": int(s["flash"]),
        "intensity": round(float(shot.mean()) / 255.0, 4), "ev": round(ev, 2),
        "currTemp": int(round(s["as_shot"][0])), "currTint": int(round(s["as_shot"][1])),
        "Temperature": int(round(s["label"][0])), "Tint": int(round(s["label"][1])),
        "scene_id": "s{}{:03d}{:02d}".format(s["split"][0], s["scene"][1], s["scene"][2]),
        "shoot": shoot_date.isoformat(),
    }


def _write_csvs(out: Path, rows: dict[str, list[dict]]) -> None:
    train = pd.DataFrame(rows["Train"])
    train[INPUT_CSV_COLUMNS + LABEL_COLUMNS].to_csv(out / "Train" / "sliders.csv", index=False)
    val = pd.DataFrame(rows["Validation"], columns=list(train.columns))
    val[INPUT_CSV_COLUMNS].to_csv(out / "Validation" / "sliders_inputs.csv", index=False)
    val[["id_global", "Temperature", "Tint", "scene_id", "shoot"]].to_csv(out / "answers.csv", index=False)


def make_demo_catalog(out_dir, n_train: int = 240, n_val: int = 60, size: int = 256, seed: int = 0,
                      progress: bool = True) -> Path:
    """Write a demo catalog (layout A + answers.csv) to out_dir and return its path. Deterministic
    for a given seed (identical CSVs and pixels)."""
    if n_train < 1 or n_val < 0 or size < 8:
        raise CatalogError(f"make_demo_catalog: need n_train >= 1, n_val >= 0, size >= 8; got {n_train}, {n_val}, {size}")
    from core.runtime import one_blas_thread

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    sources = _load_sources()
    photos = {n: Image.fromarray(a) for n, a in sources.items()}
    shots = _plan_split(rng, "Train", n_train, sources) + _plan_split(rng, "Validation", n_val, sources)
    dates = _shoot_dates(rng, shots)
    clock: dict = {}  # shots within a shoot are minutes apart, bursts seconds
    ids: set[str] = set()
    rows: dict[str, list[dict]] = {"Train": [], "Validation": []}
    for split in rows:
        (out / split / "images").mkdir(parents=True, exist_ok=True)
    # per-image matrices are tiny: BLAS threads only spin and contend on a busy 2-core box
    with one_blas_thread(), progress_bar(progress) as bar:
        task = bar.add_task("demo catalog: rendering", total=len(shots))
        for i, s in enumerate(shots):
            key = (s["split"], s["shoot_no"])
            if key not in clock:
                h0, h1 = s["hours"]
                clock[key] = dt.datetime.combine(dates[key], dt.time(0)) + dt.timedelta(
                    hours=int(rng.integers(h0, h1)), minutes=int(rng.integers(0, 60)))
            prev_scene = shots[i - 1]["scene"] if i else None
            clock[key] += dt.timedelta(seconds=int(rng.integers(1, 4)) if prev_scene == s["scene"]
                                       else int(rng.integers(60, 900)))
            id_global = _new_id(rng, ids)
            shot = render_shot(photos, s, size, rng)
            # Exercise the codecs a reader must handle: uncompressed, deflate and LZW TIFFs.
            tifffile.imwrite(out / s["split"] / "images" / f"{id_global}.tif", shot, photometric="rgb",
                             compression=(None, "zlib", "lzw")[i % 3])
            row = _csv_row(s, id_global, clock[key], dates[key], shot)
            rows[s["split"]].append(row)
            bar.advance(task)
    _write_csvs(out, rows)
    return out
