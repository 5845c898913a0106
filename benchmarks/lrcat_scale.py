"""Import at catalog scale: peak memory and rate of `import-lightroom` on generated 10k/100k-photo catalogs.

A working photographer's catalog holds tens of thousands of photos. This script builds one with
the real tables (demo.generate_lightroom.LrcatWriter: Adobe_images, AgLibraryFile/Folder/RootFolder,
Adobe_imageDevelopSettings, AgHarvestedExifMetadata, Adobe_AdditionalMetadata), whose rows point
at a few hundred real files (small DNGs LibRaw decodes and JPEGs, reused across rows) and whose
develop texts are of realistic size (about 3 KB of Lua: basic sliders, HSL, colour grading, detail,
lens corrections, four tone curves; half of them compressed as Lightroom Classic 13 stores them).
The mix is that of a real catalog: 55 % white-balance edits, 22 % left As Shot, 8 % rejects, 8 %
never developed, 7 % virtual copies of an edited photo.

Each import runs in its own process (`python -m benchmarks.lrcat_scale --one ...`), which reports
its own peak RSS (getrusage) and wall time, so one measurement never inherits another's memory.
Targets: at most 5 KB more peak RSS per extra photo, at most 1 GB at 100k photos.

    python -m benchmarks.lrcat_scale --work /tmp/lrscale --sizes 1000,10000      # markdown on stdout
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import cpu_model
from benchmarks.workflow import EXIF, _scene
from demo.generate_lightroom import LrcatWriter, write_dng, write_jpeg
from lightroom.raw import read_as_shot

MODELS = ("NIKON Z 6", "Canon EOS R6", "NIKON D750")
HSL = ("Red", "Orange", "Yellow", "Green", "Aqua", "Blue", "Purple", "Magenta")


def realistic_settings(rng: np.random.Generator, wb: dict) -> dict:
    """A develop-settings table of the size and shape Lightroom Classic stores (about 3 KB)."""
    r = lambda lo, hi: int(rng.integers(lo, hi))  # noqa: E731 (a short local helper)
    s = {"ProcessVersion": "15.4", **wb, "Exposure2012": round(float(rng.normal(0, 0.6)), 2),
         "Contrast2012": r(-30, 40), "Highlights2012": r(-100, 0), "Shadows2012": r(0, 80), "Whites2012": r(-30, 30),
         "Blacks2012": r(-40, 10), "Texture": r(-10, 30), "Clarity2012": r(-10, 30), "Dehaze": r(0, 20),
         "Vibrance": r(0, 30), "Saturation": r(-10, 10), "ParametricShadows": 0, "ParametricDarks": 0,
         "ParametricLights": 0, "ParametricHighlights": 0, "ParametricShadowSplit": 25,
         "ParametricMidtoneSplit": 50, "ParametricHighlightSplit": 75, "Sharpness": 40, "SharpenRadius": 1.0,
         "SharpenDetail": 25, "SharpenEdgeMasking": 0, "LuminanceSmoothing": r(0, 30), "ColorNoiseReduction": 25,
         "ColorNoiseReductionDetail": 50, "ColorNoiseReductionSmoothness": 50, "LensProfileEnable": 1,
         "LensManualDistortionAmount": 0, "AutoLateralCA": 1, "PerspectiveUpright": 0, "VignetteAmount": 0,
         "PostCropVignetteAmount": r(-30, 0), "GrainAmount": 0, "ShadowTint": 0, "RedHue": 0, "RedSaturation": 0,
         "GreenHue": 0, "GreenSaturation": 0, "BlueHue": 0, "BlueSaturation": 0, "ConvertToGrayscale": False,
         "CameraProfile": "Adobe Standard", "ToneCurveName2012": "Linear", "HasCrop": bool(rng.random() < 0.4),
         "CropTop": 0, "CropLeft": 0, "CropBottom": 1, "CropRight": 1, "CropAngle": 0, "CropConstrainToWarp": 0,
         "ColorGradeMidtoneHue": r(0, 360), "ColorGradeMidtoneSat": r(0, 20), "ColorGradeShadowLum": 0,
         "ColorGradeMidtoneLum": 0, "ColorGradeHighlightLum": 0, "ColorGradeBlending": 50, "ColorGradeGlobalHue": 0,
         "ColorGradeGlobalSat": 0, "ColorGradeGlobalLum": 0, "SplitToningShadowHue": 0,
         "SplitToningShadowSaturation": 0, "SplitToningHighlightHue": 0, "SplitToningHighlightSaturation": 0,
         "SplitToningBalance": 0, "LensProfileSetup": "LensDefaults",
         "LensProfileName": "Adobe (Nikon NIKKOR Z 24-70mm f/4 S)",
         "LensProfileDistortionScale": 100, "LensProfileVignettingScale": 100, "DefringePurpleAmount": 0,
         "DefringeGreenAmount": 0, "OverrideLookVignette": False, "Look": {"Name": "Adobe Color", "Amount": 1}}
    for colour in HSL:
        s.update({f"HueAdjustment{colour}": r(-10, 10), f"SaturationAdjustment{colour}": r(-20, 20),
                  f"LuminanceAdjustment{colour}": r(-20, 20)})
    curve = [0, 0, 64, int(58 + rng.integers(0, 10)), 128, 128, 192, int(196 + rng.integers(0, 8)), 255, 255]
    for name in ("ToneCurvePV2012", "ToneCurvePV2012Red", "ToneCurvePV2012Green", "ToneCurvePV2012Blue"):
        s[name] = list(curve)
    return s


def make_files(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n real photos (two in three small DNGs, one in three JPEGs) for the catalog rows to point at."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = _scene(rng, 360, 240)
        if i % 3 == 2:
            out.append(write_jpeg(folder / f"F_{i:04d}.jpg", img, MODELS[i % 3], EXIF))
        else:
            out.append(write_dng(folder / f"F_{i:04d}.dng", img, MODELS[i % 3], float(rng.uniform(3000, 7500)),
                                 float(rng.uniform(-10, 20)), EXIF))
    return out


def make_scale_catalog(path: Path, n: int, files: list[Path], seed: int = 0) -> Path:
    """A .lrcat of n photos (see the module doc for the mix) over `files`."""
    rng = np.random.default_rng(seed)
    as_shot = {f: read_as_shot(f) for f in files if f.suffix == ".dng"}  # what Lightroom stores with As Shot
    cat = LrcatWriter(path)
    root = cat.add_root(files[0].parent.parent)
    folder = cat.add_folder(root, files[0].parent.name + "/")
    last_edit = None
    k = 0
    while k < n:
        f = files[k % len(files)]
        raw = f.suffix == ".dng"
        u = rng.random()
        if u < 0.07 and last_edit is not None:  # a virtual copy of an edited photo
            copy = cat.add_virtual_copy(last_edit, "Copy 1")
            cat.add_develop(copy, realistic_settings(rng, _wb(rng, raw)), compressed=True)
            k += 1
            continue
        image = cat.add_image(cat.add_file(folder, f.name), f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}T10:00:00",
                              pick=-1 if u < 0.15 else 0)
        cat.add_exif(image, MODELS[k % 3], aperture_apex=4.0, shutter_apex=7.6, iso=400, focal=50, flash=False)
        cat.add_additional(image, is_raw=raw)
        if u >= 0.23:  # the rest: As Shot or an edit; 0.15..0.23 never developed
            wb = _as_shot(as_shot.get(f)) if u < 0.45 else _wb(rng, raw)
            cat.add_develop(image, realistic_settings(rng, wb), compressed=k % 2 == 0)
            if u >= 0.45:
                last_edit = image
        k += 1
    cat.close()
    return cat.path


def _as_shot(values: tuple[float, float] | None) -> dict:
    if values is None:  # a rendered file: no as-shot Kelvin
        return {"WhiteBalance": "As Shot", "IncrementalTemperature": 0, "IncrementalTint": 0}
    return {"WhiteBalance": "As Shot", "Temperature": int(round(values[0])), "Tint": int(round(values[1]))}


def _wb(rng: np.random.Generator, raw: bool) -> dict:
    if raw:
        return {"WhiteBalance": "Custom", "Temperature": int(rng.integers(3000, 8000)),
                "Tint": int(rng.integers(-10, 25))}
    return {"WhiteBalance": "Custom", "IncrementalTemperature": int(rng.integers(-30, 30)),
            "IncrementalTint": int(rng.integers(-10, 10))}


def _one(catalog: Path, out: Path, size: int, workers: int) -> dict:
    """Run one import in this process; its peak RSS (MB) and wall time."""
    from lightroom.import_catalog import run_import_lightroom
    from lightroom.options import ImportConfig

    t0 = time.perf_counter()
    run_import_lightroom(ImportConfig(catalog=catalog, out=out, size=size, workers=workers, progress=False,
                                      fresh=True))
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (exec'd). Linux: VmHWM of /proc/self/status,
    the high-water mark of this program's own memory; getrusage's ru_maxrss would also carry the peak of
    the process it was forked from (Linux keeps the pre-exec peak there: a 1.2 GB benchmark parent made
    every import read 1.2 GB). Elsewhere ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def measure_scale(work: Path, sizes=(1_000, 10_000), n_files: int = 300, size: int = 64, workers: int = 2) -> dict:
    """Build the files once and a catalog per size; import each in a fresh process."""
    work = Path(work)
    files = make_files(work / "Photos" / "all", n_files)
    result = {"n_files": n_files, "size": size, "workers": workers, "cpu_model": cpu_model(), "runs": []}
    for n in sizes:
        lrcat = work / f"scale_{n}.lrcat"
        if lrcat.exists():
            lrcat.unlink()
        make_scale_catalog(lrcat, n, files)
        out = work / f"imported_{n}"
        proc = subprocess.run([sys.executable, "-m", "benchmarks.lrcat_scale", "--one", str(lrcat), "--out", str(out),
                               "--size", str(size), "--workers", str(workers)], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1], check=True)
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        labelled = sum(1 for _ in open(out / "Train" / "sliders.csv")) - 1
        run.update(photos=n, labelled=labelled, per_s=n / run["seconds"], catalog_mb=lrcat.stat().st_size / 1e6)
        result["runs"].append(run)
        shutil.rmtree(out / "Train" / "images", ignore_errors=True)  # renders: disk, not what is measured
    runs = result["runs"]
    if len(runs) > 1:
        a, b = runs[0], runs[-1]
        result["kb_per_photo"] = (b["peak_rss_mb"] - a["peak_rss_mb"]) * 1024 / (b["photos"] - a["photos"])
    return result


def markdown(r: dict) -> str:
    lines = [f"`import-lightroom` on generated catalogs with the real tables (rows over {r['n_files']} real small "
             f"DNG/JPEG files, ~3 KB develop texts, half compressed; 55 % edits, 22 % As Shot, 8 % rejects, "
             f"8 % undeveloped, 7 % virtual copies), {r['size']} px renders, {r['workers']} decoding threads, "
             f"{r['cpu_model']}; each import in its own process.", "",
             "| catalog photos | catalog size | labelled | wall time | photos/s | peak RSS |",
             "|---:|---:|---:|---:|---:|---:|"]
    for run in r["runs"]:
        lines.append(f"| {run['photos']:,} | {run['catalog_mb']:.0f} MB | {run['labelled']:,} | {run['seconds']:.0f} s "
                     f"| {run['per_s']:.0f} | {run['peak_rss_mb']:.0f} MB |")
    if "kb_per_photo" in r:
        lines += ["", f"Peak RSS grows {r['kb_per_photo']:.2f} KB per extra catalog photo (target: at most 5 KB; "
                      f"at most 1 GB at 100k)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/lrcat_scale"))
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(_one(a.one, a.out, a.size, a.workers)))
        return
    r = measure_scale(a.work, tuple(int(x) for x in a.sizes.split(",")), a.files, a.size, a.workers)
    print(json.dumps(r))
    print(markdown(r))


if __name__ == "__main__":
    main()
