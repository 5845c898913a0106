"""`cli.py import-lightroom`: a Lightroom Classic catalog and its photos -> Train/ (sliders.csv + images).

    python cli.py import-lightroom "Lightroom Catalog.lrcat" --out data/mine

lightroom.lrcat streams the catalog read-only and sorts every photo into labelled or a counted skip;
each labelled photo's file is decoded (lightroom.photos) into Train/images/<id>.tif and one sliders.csv
row, written as made (core.journal: a killed run continues). Before, lightroom.asshot_agreement checks
wbstyle's as-shot against the As Shot values the catalog stores, per camera.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from core import wb
from core.errors import CatalogError
from core.ids import check_id
from core.journal import SplitWriter
from core.progress import progress_bar
from lightroom.asshot_agreement import EVIDENCE, CameraAgreement, check_as_shot
from lightroom.lrcat import LightroomPhoto, image_names, iter_lightroom
from lightroom.options import ImportConfig
from lightroom.photos import (camera_group, chunks, decode_many, Decoded, INPUT_COLUMNS, print_counts, relocation,
                              Report, UNDECODABLE)
from lightroom.xmp import incremental_to_temp_tint


# ----------------------------------------------------------------------------------------------
# import-lightroom
# ----------------------------------------------------------------------------------------------
def _stem_id(base: object) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in str(base or "")).lstrip(".") or "photo"


def catalog_ids(catalog: Path) -> tuple[dict[int, str], dict[int, str | None]]:
    """(Adobe_images.id_local -> id_global, id_local -> capture time of photos with virtual copies).
    id_global is the file's stem (unsafe characters -> _); a second photo with that stem (a virtual
    copy, the same name in another folder) gets -<id_local>. Masters claim their stem first."""
    ids: dict[int, str] = {}
    used: set[str] = set()
    copies: list[tuple[int, str]] = []
    capture: dict[int, str | None] = {}
    for image, master, base, when in image_names(catalog):
        if when is not None:
            capture[image] = when
        if master is not None:
            copies.append((image, _stem_id(base)))
            continue
        stem = _stem_id(base)
        ids[image] = stem if stem not in used else f"{stem}-{image}"
        used.add(ids[image])
    for image, stem in copies:
        ids[image] = stem if stem not in used else f"{stem}-{image}"
        used.add(ids[image])
    return {k: check_id(v, where=f"{catalog}: Adobe_images {k}") for k, v in ids.items()}, capture


def _label(photo: LightroomPhoto) -> tuple[float, float] | str:
    """(Temperature, Tint) of the edit, or why a photo's settings do not fit its file type."""
    s = photo.settings or {}
    if photo.absolute:
        if "Temperature" not in s:
            return "raw file edited with relative (Incremental) white balance"
        return float(s["Temperature"]), float(s["Tint"])
    if "IncrementalTemperature" not in s:
        return "rendered file edited with absolute Temperature/Tint"
    t, tint = incremental_to_temp_tint(s["IncrementalTemperature"], s["IncrementalTint"])
    return float(t), float(tint)


def _import_row(photo: LightroomPhoto, ids: dict[int, str], capture: dict[int, str | None],
                dec: Decoded, label: tuple[float, float], agreement: dict[str, CameraAgreement]) -> dict:
    """One sliders.csv row; a raw's as-shot moved onto Lightroom's where its camera's As Shot photos
    gave enough evidence (lightroom.asshot_agreement)."""
    e = photo.exif
    curr = (dec.curr_temp, dec.curr_tint)
    if photo.absolute and str(e["camera_model"] or "unknown camera") in agreement:
        curr = agreement[str(e["camera_model"] or "unknown camera")].correct(*curr)
    # a copy is shot when its master was
    when = (capture.get(photo.master) if photo.master else None) or photo.capture_time
    return {"id_global": ids[photo.image], "captureTime": when,
            "camera_model": e["camera_model"], "camera_group": camera_group(e["camera_model"]),
            "aperture": e["aperture"], "shutterSpeed": e["shutterSpeed"], "isoSpeedRating": e["isoSpeedRating"],
            "focalLength": e["focalLength"], "flashFired": e["flashFired"],
            "currTemp": round(float(np.clip(curr[0], wb.TEMP_MIN, wb.TEMP_MAX)), 1),
            "currTint": round(float(np.clip(curr[1], wb.TINT_MIN, wb.TINT_MAX)), 2),
            "Temperature": round(label[0], 1), "Tint": round(label[1], 2),
            "wb_kind": "absolute" if photo.absolute else "relative",
            "master_id": ids.get(photo.master) if photo.master else None,
            "lr_image": photo.image, "source_file": str(photo.path)}


IMPORT_COLUMNS = INPUT_COLUMNS + ["Temperature", "Tint", "wb_kind", "master_id", "lr_image", "source_file"]
REPORT_COLUMNS = ["lr_image", "id_global", "status", "reason", "source_file", "detail"]
MISFIT = "develop settings do not fit the file type"


def _import_state(cfg: ImportConfig, agreement: dict[str, CameraAgreement]) -> dict:
    """What an import is made from: a rerun with the same continues it (core.journal)."""
    st = Path(cfg.catalog).stat()
    return {"catalog": str(Path(cfg.catalog).resolve()), "catalog_bytes": st.st_size,
            "catalog_mtime_ns": st.st_mtime_ns, "include_rejects": cfg.include_rejects, "relocate": cfg.relocate,
            "as_shot_corrections": {c: [a.shift_mired, a.shift_tint] for c, a in agreement.items() if a.corrected}}


def _report_agreement(agreement: dict[str, CameraAgreement], out: Path, console: Console) -> None:
    """The per-camera agreement table, printed and written to OUT/asshot_agreement.csv."""
    rows = [{"camera_model": a.camera, "as_shot_photos": a.photos, "median_abs_dmired": round(a.median_abs_mired, 2),
             "median_abs_dtint": round(a.median_abs_tint, 2), "shift_mired": round(a.shift_mired, 2),
             "shift_tint": round(a.shift_tint, 2), "corrected": a.corrected} for a in agreement.values()]
    pd.DataFrame(rows, columns=["camera_model", "as_shot_photos", "median_abs_dmired", "median_abs_dtint",
                                "shift_mired", "shift_tint", "corrected"]).to_csv(out / "asshot_agreement.csv",
                                                                                 index=False)
    if not rows:
        console.print("as-shot check: no raw left at As Shot in the catalog, nothing to compare with Lightroom's")
        return
    table = Table(title="as-shot: wbstyle vs Lightroom's stored As Shot values")
    for col in ("camera", "As Shot photos", "median |Δmired|", "median |Δtint|", "edited photos' as-shot"):
        table.add_column(col, justify="left" if col == "camera" else "right")
    for a in agreement.values():
        fix = (f"corrected by {-a.shift_mired:+.1f} mired, {-a.shift_tint:+.1f} tint" if a.corrected
               else f"as computed (fewer than {EVIDENCE} photos)")
        table.add_row(a.camera, f"{a.photos}", f"{a.median_abs_mired:.2f}", f"{a.median_abs_tint:.2f}", fix)
    console.print(table)


def run_import_lightroom(cfg: ImportConfig, console: Console | None = None) -> Path:
    """Catalog -> OUT/Train (sliders.csv + images); returns the CSV path. Every catalog photo is in
    sliders.csv or, with its reason, in OUT/lightroom_import.csv and the printed summary.

    Streams: the catalog's rows come one at a time (lightroom.lrcat.iter_lightroom), CHUNK photos
    are decoded at once, and each render and CSV row is written as it is made (core.journal), so
    memory does not grow with the catalog and a killed run continues where it stopped (photos
    already written are verified, not decoded again)."""
    console = console or Console(quiet=not cfg.progress)
    relocate = relocation(cfg.relocate)
    ids, capture = catalog_ids(Path(cfg.catalog))
    agreement = check_as_shot(cfg.catalog, relocate)
    split = SplitWriter(cfg.out, "Train", "sliders.csv", IMPORT_COLUMNS, "lr_image", _import_state(cfg, agreement),
                        cfg.size, fresh=cfg.fresh)
    report = Report(Path(cfg.out) / "lightroom_import.csv", REPORT_COLUMNS)
    counts: dict[str, int] = {"labelled": 0}
    resumed = 0
    photos = iter_lightroom(cfg.catalog, include_rejects=cfg.include_rejects, relocate=relocate)
    with progress_bar(cfg.progress) as bar, ThreadPoolExecutor(max(1, cfg.workers)) as pool:
        task = bar.add_task(f"importing {len(ids):,} catalog photos", total=len(ids))
        for chunk in chunks(photos):
            labels = {p.image: _label(p) for p, reason, _ in chunk if reason is None}
            todo = [(p.path, p.raw) for p, reason, _ in chunk
                    if reason is None and not isinstance(labels[p.image], str) and str(p.image) not in split.done]
            decoded = decode_many(pool, todo, cfg.size)
            for photo, reason, detail in chunk:
                label = labels.get(photo.image)
                if reason is None and isinstance(label, str):
                    reason, detail = MISFIT, label
                elif reason is None and str(photo.image) not in split.done and isinstance(decoded[photo.path], str):
                    reason, detail = UNDECODABLE, decoded[photo.path]
                if reason is not None:
                    counts[reason] = counts.get(reason, 0) + 1
                    report.add({"lr_image": photo.image, "status": "skipped", "reason": reason,
                                "source_file": str(photo.path), "detail": detail})
                    continue
                if str(photo.image) in split.done:
                    resumed += 1
                else:
                    dec = decoded[photo.path]
                    split.add(_import_row(photo, ids, capture, dec, label, agreement), dec.render)
                counts["labelled"] += 1
                report.add({"lr_image": photo.image, "id_global": ids[photo.image], "status": "labelled",
                            "reason": "", "source_file": str(photo.path)})
            bar.advance(task, len(chunk))
    if not counts["labelled"]:
        split.close()
        report.finish()
        raise CatalogError(f"{cfg.catalog}: no photo has a white-balance edit to learn from "
                           f"({', '.join(f'{k}: {v}' for k, v in counts.items())})")
    csv_path = split.finish()
    report.finish()
    print_counts(f"import {Path(cfg.catalog).name}", counts, console)
    _report_agreement(agreement, Path(cfg.out), console)
    if resumed:
        console.print(f"{resumed:,} photo(s) were imported by an earlier, interrupted run: verified, not redone")
    console.print(f"[bold]train split[/] {csv_path}; every photo and its status: {report.path}")
    return csv_path
