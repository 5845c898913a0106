"""`cli.py ingest`: a folder of new photos -> a Validation/ split that `predict` reads.

    python cli.py ingest "Photos/2024-06-01 wedding" --out data/wedding

The same decoding as import-lightroom (lightroom.photos), EXIF read by exiftool, into
Validation/images + sliders_inputs.csv; id_global is the file's stem (a RAW+JPEG pair is its raw; one
name in two folders: the relative path).
"""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console

from core.errors import CatalogError
from core.journal import SplitWriter
from core.progress import progress_bar
from lightroom.options import IngestConfig
from lightroom.photos import (camera_group, chunks, COMPANION, decode_many, find_photos, INPUT_COLUMNS, print_counts,
                              Report, UNDECODABLE)
from lightroom.raw import PHOTO_SUFFIXES, is_raw


# ----------------------------------------------------------------------------------------------
# ingest
# ----------------------------------------------------------------------------------------------
def read_exif(paths: list[Path]) -> dict[Path, dict]:
    """The sliders columns from each file's EXIF (exiftool, numeric values), aperture and shutter as
    APEX like the catalog's."""
    import exiftool

    if not paths:
        return {}
    tags = ["ExposureTime", "FNumber", "ISO", "FocalLength", "Flash", "Model", "DateTimeOriginal"]
    with exiftool.ExifToolHelper(common_args=["-n"]) as et:
        meta = et.get_tags([str(p) for p in paths], tags=tags)
    out = {}
    for p, m in zip(paths, meta):
        g = {k.split(":")[-1]: v for k, v in m.items()}
        t, n = g.get("ExposureTime"), g.get("FNumber")
        when = g.get("DateTimeOriginal")
        try:
            capture = dt.datetime.strptime(str(when)[:19], "%Y:%m:%d %H:%M:%S").isoformat() if when else None
        except ValueError:
            capture = None
        model = str(g["Model"]) if g.get("Model") not in (None, "") else None
        out[p] = {"captureTime": capture, "camera_model": model, "camera_group": camera_group(model),
                  "aperture": 2 * np.log2(float(n)) if _positive(n) else None,
                  "shutterSpeed": -np.log2(float(t)) if _positive(t) else None,
                  "isoSpeedRating": g.get("ISO"), "focalLength": g.get("FocalLength"),
                  "flashFired": int(g["Flash"]) & 1 if isinstance(g.get("Flash"), (int, float)) else None}
    return out


def _positive(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


INGEST_COLUMNS = INPUT_COLUMNS + ["wb_kind", "source_file"]


def run_ingest(cfg: IngestConfig, console: Console | None = None) -> Path:
    """Photo folder -> OUT/Validation (sliders_inputs.csv + images); returns the CSV path. Files
    that cannot be decoded are counted and listed in OUT/ingest_report.csv, never silently dropped.
    Streams like import-lightroom: CHUNK photos at a time, each written as made, and a killed run
    continues where it stopped."""
    console = console or Console(quiet=not cfg.progress)
    photos = find_photos(Path(cfg.photos))
    if not photos:
        raise CatalogError(f"{cfg.photos}: no photos (expected files ending in {', '.join(PHOTO_SUFFIXES)})")
    state = {"photos": str(Path(cfg.photos).resolve())}
    split = SplitWriter(Path(cfg.out), "Validation", "sliders_inputs.csv", INGEST_COLUMNS, "id_global", state,
                        cfg.size, fresh=cfg.fresh)
    report = Report(Path(cfg.out) / "ingest_report.csv", ["id_global", "status", "reason", "detail", "file"])
    counts: dict[str, int] = {}
    first_error = ""
    with progress_bar(cfg.progress) as bar, ThreadPoolExecutor(max(1, cfg.workers)) as pool:
        task = bar.add_task(f"ingesting {len(photos):,} photos", total=len(photos))
        for chunk in chunks(photos.items()):
            todo = [ph.path for id_, ph in chunk if id_ not in split.done]
            decoded = decode_many(pool, [(p, None) for p in todo], cfg.size)
            exif = read_exif([p for p in todo if not isinstance(decoded[p], str)])
            for id_, ph in chunk:
                for c in ph.companions:
                    report.add({"id_global": id_, "status": "companion", "reason": COMPANION, "detail": str(ph.path),
                                "file": str(c)})
                    counts[COMPANION] = counts.get(COMPANION, 0) + 1
                dec = decoded.get(ph.path)
                if isinstance(dec, str):
                    report.add({"id_global": id_, "status": "skipped", "reason": UNDECODABLE, "detail": dec,
                                "file": str(ph.path)})
                    counts[UNDECODABLE] = counts.get(UNDECODABLE, 0) + 1
                    first_error = first_error or dec
                    continue
                if dec is not None:
                    split.add({"id_global": id_, **exif[ph.path], "currTemp": round(dec.curr_temp, 1),
                               "currTint": round(dec.curr_tint, 2),
                               "wb_kind": "absolute" if is_raw(ph.path) else "relative",
                               "source_file": str(ph.path)}, dec.render)
                report.add({"id_global": id_, "status": "ingested", "reason": "", "detail": "", "file": str(ph.path)})
                counts["ingested"] = counts.get("ingested", 0) + 1
            bar.advance(task, len(chunk))
    report.finish()
    if not counts.get("ingested"):
        split.close()
        raise CatalogError(f"{cfg.photos}: none of the {len(photos)} photos could be decoded, e.g. {first_error}")
    csv_path = split.finish()
    print_counts(f"ingest {cfg.photos}", counts, console)
    return csv_path
