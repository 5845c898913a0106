"""Workflow benchmark: how fast `import-lightroom` and `ingest` turn photos into the layout every
stage reads (photos/s), for DNG (LibRaw half-size demosaic + as-shot white balance) and JPEG.

No model is involved: the cost is file decoding (LibRaw, libjpeg through Pillow), resizing
(Pillow), TIFF writing and, for ingest, one exiftool process reading the EXIF of every photo.
These are plain C libraries, so the numbers do not depend on torch or on the CPU's vector ISA the
way the model benchmarks do; they scale with the photos' pixel count and the decoding threads.

Photos are generated here (smooth random scenes + noise at camera-like sizes, written as CFA DNGs
with tifffile and as quality-92 JPEGs), so the measurement needs no data:

    from benchmarks.workflow import measure_workflow, markdown
    print(markdown(measure_workflow(Path("/tmp/wf"), n=16)))
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lightroom.import_catalog import run_import_lightroom
from lightroom.ingest import run_ingest
from lightroom.options import ImportConfig, IngestConfig
from demo.generate_lightroom import LrcatWriter, write_dng, write_jpeg
from benchmarks.harness import cpu_model

EXIF = {"shutter": 1 / 200, "aperture": 4.0, "iso": 400, "focal": 50, "flash": False}


def _scene(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: a smooth random scene (bicubic up-sampled 9x6 colours) + sensor noise."""
    coarse = Image.fromarray((rng.random((6, 9, 3)) * 180 + 40).astype(np.uint8))
    img = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.float32)
    img = img + rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_photos(folder: Path, kind: str, n: int, width: int, height: int, seed: int = 0) -> list[Path]:
    """n generated photos of one kind ("dng" or "jpeg") in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = _scene(rng, width, height)
        if kind == "dng":
            out.append(write_dng(folder / f"IMG_{i:04d}.dng", img, "NIKON Z 6", float(rng.uniform(3000, 7500)),
                                 float(rng.uniform(-10, 20)), EXIF))
        else:
            out.append(write_jpeg(folder / f"IMG_{i:04d}.jpg", img, "NIKON Z 6", EXIF))
    return out


def make_catalog(path: Path, photos: list[Path]) -> Path:
    """A .lrcat holding a Custom white-balance edit for each photo."""
    cat = LrcatWriter(path)
    folder = cat.add_folder(cat.add_root(photos[0].parent.parent), photos[0].parent.name + "/")
    for k, p in enumerate(photos):
        image = cat.add_image(cat.add_file(folder, p.name), f"2024-06-01T10:{k // 60:02d}:{k % 60:02d}")
        cat.add_exif(image, "NIKON Z 6", aperture_apex=4.0, shutter_apex=7.64, iso=400, focal=50, flash=False)
        edit = ({"Temperature": 5200, "Tint": 5} if p.suffix == ".dng"
                else {"IncrementalTemperature": 5, "IncrementalTint": 2})
        cat.add_develop(image, {"WhiteBalance": "Custom", **edit}, compressed=k % 2 == 0)
    cat.close()
    return cat.path


def measure_workflow(work: Path, n: int = 16, width: int = 3000, height: int = 2000, workers: int = 2,
                     size: int = 256) -> dict[str, Any]:
    """Import and ingest rates (photos/s) for n generated DNGs and n JPEGs of width x height."""
    work = Path(work)
    if work.exists():
        shutil.rmtree(work)
    rates: dict[str, Any] = {"n": n, "width": width, "height": height, "workers": workers, "size": size,
                             "cpu_model": cpu_model()}
    for kind in ("dng", "jpeg"):
        photos = make_photos(work / kind / "photos", kind, n, width, height)
        lrcat = make_catalog(work / kind / "Catalog.lrcat", photos)
        t0 = time.perf_counter()
        run_import_lightroom(ImportConfig(catalog=lrcat, out=work / kind / "imported", size=size, workers=workers,
                                          progress=False))
        t1 = time.perf_counter()
        run_ingest(IngestConfig(photos=work / kind / "photos", out=work / kind / "ingested", size=size,
                                workers=workers, progress=False))
        t2 = time.perf_counter()
        rates[kind] = {"import_s": t1 - t0, "ingest_s": t2 - t1, "import_per_s": n / (t1 - t0),
                       "ingest_per_s": n / (t2 - t1), "file_mb": sum(p.stat().st_size for p in photos) / n / 1e6}
    return rates


def markdown(r: dict[str, Any]) -> str:
    mp = r["width"] * r["height"] / 1e6
    lines = [f"Photos/s turning generated photos ({r['width']}x{r['height']}, {mp:.1f} MP) into the {r['size']} px "
             f"layout the stages read; {r['n']} photos per kind, {r['workers']} decoding threads, {r['cpu_model']}. "
             "No model runs here (LibRaw, Pillow, tifffile, exiftool), so torch and the CPU's vector ISA do not "
             "change these numbers; pixel count and threads do.", "",
             "| photos | file size | import-lightroom (photos/s) | ingest (photos/s) |", "|---|---:|---:|---:|"]
    for kind, name in (("dng", "DNG (half-size demosaic, as-shot WB)"), ("jpeg", "JPEG (quality 92)")):
        k = r[kind]
        lines.append(f"| {name} | {k['file_mb']:.1f} MB | {k['import_per_s']:.2f} | {k['ingest_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


def section(ctx) -> dict[str, Any]:
    """benchmarks/run.py's hook: {"markdown": ..., "rates": ..., "scale": ...}; --quick uses fewer,
    smaller photos and small catalogs. The catalog-scale part is benchmarks/lrcat_scale.py."""
    from benchmarks.lrcat_scale import markdown as scale_markdown, measure_scale

    n, width, height = (4, 1200, 800) if ctx.quick else (16, 3000, 2000)
    rates = measure_workflow(Path(ctx.work) / "workflow", n=n, width=width, height=height)
    scale = measure_scale(Path(ctx.work) / "lrcat_scale", sizes=(300, 1_000) if ctx.quick else (10_000, 100_000))
    return {"markdown": markdown(rates) + "\n" + scale_markdown(scale), "rates": rates, "scale": scale}
