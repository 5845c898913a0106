"""Shared test helpers. `make_catalog` writes a tiny synthetic catalog that any stage can read.

    def test_something(make_catalog, tmp_path):
        root = make_catalog(tmp_path, n_train=12, n_val=4, layout="A", size=24)
        cat = load_catalog(root, "Train", image_size=16, progress=False)

Layouts (see catalog/reader.py): "A" ROOT/Train/{images,sliders.csv} + ROOT/Validation/{images,
sliders_inputs.csv} with every known column (plain units, 2 cameras); "B" like the real release
(validation CSV `sliders_input.csv`, APEX aperture/shutterSpeed, no camera_model/camera_group/
intensity/ev, extra copyCreationTime/touchTime/hasDevelopAdjustmentsEx); "folder" one DIR/{images,
sliders.csv} holding the n_train photos, columns as "A" (returned path is DIR).

The photos are tiny RGB uint8 TIFFs: a random smooth texture lit by a random illuminant (warm light
-> reddish photo), so the colour cast carries information about the label. Labels follow a fixed
"style": Temperature = as-shot-ish truth K + 300, Tint = currTint + 5. Photos come in shoots of
up to 4 (same capture date, similar light).
"""
from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile


def _image(rng: np.random.Generator, size: int, kelvin: float) -> np.ndarray:
    """A smooth random texture under an illuminant of `kelvin` (crude gains; warm -> red)."""
    coarse = rng.uniform(0.2, 0.9, (4, 4, 3))
    idx = np.linspace(0, 3, size).astype(int)
    tex = coarse[idx][:, idx] + rng.normal(0, 0.03, (size, size, 3))
    t = np.log(kelvin / 5500.0)
    gains = np.array([np.exp(-0.5 * t), 1.0, np.exp(0.5 * t)])
    return (np.clip(tex * gains, 0, 1) * 255).round().astype(np.uint8)


def write_catalog(base: Path, n_train: int = 8, n_val: int = 4, layout: str = "A", size: int = 24,
                  with_labels: bool = True, seed: int = 0) -> Path:
    """Write a catalog into a new folder under `base` and return its root (see module doc).

    with_labels: Temperature/Tint in the Validation (and folder) CSV too; the Train CSV always has
    them. False mimics the real release, whose validation file has no labels.
    """
    if layout not in ("A", "B", "folder"):
        raise ValueError(f"layout must be 'A', 'B' or 'folder', got {layout!r}")
    base = Path(base)
    root = base / f"catalog_{layout}_{seed}"
    k = 1
    while root.exists():
        root, k = base / f"catalog_{layout}_{seed}_{k}", k + 1
    rng = np.random.default_rng(seed)

    def rows(n: int, split_dir: Path, labelled: bool) -> pd.DataFrame:
        (split_dir / "images").mkdir(parents=True)
        out = []
        for i in range(n):
            shoot = i // 4
            kelvin = float(np.clip(rng.normal(3000 + 900 * (shoot % 5), 300), 2500, 9000))
            ident = str(uuid.UUID(bytes=rng.bytes(16), version=4)).upper()
            tifffile.imwrite(split_dir / "images" / f"{ident}.tif", _image(rng, size, kelvin), photometric="rgb")
            f_number = float(rng.choice([1.8, 2.8, 4.0, 5.6]))
            seconds = float(rng.choice([1 / 60, 1 / 125, 1 / 250, 1 / 500]))
            r = {"id_global": ident,
                 "currTemp": round(kelvin * float(rng.uniform(0.9, 1.1))),
                 "currTint": int(rng.integers(-10, 20)),
                 "aperture": f_number, "shutterSpeed": seconds,
                 "isoSpeedRating": int(rng.choice([100, 400, 1600])),
                 "focalLength": int(rng.choice([24, 50, 85])),
                 "flashFired": int(rng.random() < 0.2),
                 "captureTime": f"2023-0{1 + shoot % 9}-{10 + shoot // 9:02d}T1{i % 10}:0{i % 6}:{i % 60:02d}.5",
                 "grayscale": 0}
            if layout != "B":
                r.update(camera_model=f"CAM-{i % 2}", camera_group=f"G{i % 2}", intensity=round(rng.uniform(0, 1), 3),
                         ev=round(rng.uniform(6, 14), 2))
            else:  # the real release: APEX units and its extra bookkeeping columns
                r.update(aperture=round(2 * np.log2(f_number), 6), shutterSpeed=round(float(np.log2(1 / seconds)), 6),
                         copyCreationTime=-63113817600, touchTime=741426607.0 + i / 10)
            if labelled:
                r.update(Temperature=round(kelvin + 300), Tint=r["currTint"] + 5)
            out.append(r)
        return pd.DataFrame(out)

    if layout == "folder":
        rows(n_train, root, with_labels).to_csv(root / "sliders.csv", index=False)
        return root
    rows(n_train, root / "Train", True).to_csv(root / "Train" / "sliders.csv", index=False)
    if n_val:
        val = rows(n_val, root / "Validation", with_labels)
        if layout == "B":
            val["hasDevelopAdjustmentsEx"] = 1
        val.to_csv(root / "Validation" / ("sliders_inputs.csv" if layout == "A" else "sliders_input.csv"), index=False)
    return root


@pytest.fixture
def make_catalog(tmp_path):
    """Factory: make_catalog(base=tmp_path, n_train=8, n_val=4, layout="A", size=24, with_labels=True, seed=0) -> root."""
    def make(base: Path | None = None, **kwargs) -> Path:
        return write_catalog(tmp_path if base is None else base, **kwargs)
    return make
