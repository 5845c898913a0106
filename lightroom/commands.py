"""The Lightroom workflow: `import-lightroom`, `ingest` and `apply`.

    python cli.py import-lightroom "Lightroom Catalog.lrcat" --out data/mine      # Train/ from the edits
    python cli.py pretrain --data data/mine --out artifacts/mine
    python cli.py finetune --data data/mine --encoder artifacts/mine --out artifacts/mine
    python cli.py ingest "Photos/2024-06-01 wedding" --out data/wedding            # Validation/ to predict
    python cli.py predict --data data/wedding --model artifacts/mine --out wedding.csv
    python cli.py apply wedding.csv --photos "Photos/2024-06-01 wedding" --catalog C.lrcat --dry-run
    python cli.py apply wedding.csv --photos "Photos/2024-06-01 wedding" --catalog C.lrcat

1. import: lightroom.lrcat streams the catalog read-only and sorts every photo into labelled or a
   counted skip; each labelled photo's file is decoded (raws through lightroom.raw at the as-shot
   white balance, rendered files as they are; raw or rendered as the catalog records it) into
   Train/images/<id>.tif and one sliders.csv row, written as made (core.journal: a killed run
   continues). Before, lightroom.asshot_agreement checks wbstyle's as-shot against the As Shot values
   the catalog stores, per camera.
2. ingest: the same decoding for a folder of new photos (EXIF read by exiftool) into
   Validation/images + sliders_inputs.csv; id_global is the file's stem (a RAW+JPEG pair is its raw;
   one name in two folders: the relative path).
3. apply: each prediction's photo is found the same way; lightroom.xmp merges the white balance (with
   --catalog, the photo's whole develop settings) into its sidecar or embedded XMP (every check
   runs before the first write).
"""
from __future__ import annotations

import csv
import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from catalog.answers import read_wb_csv
from core import wb
from lightroom.options import ApplyConfig, ImportConfig, IngestConfig
from core.errors import CatalogError, ImageReadError
from core.ids import check_id
from catalog.images import read_image, square_resize
from lightroom.asshot_agreement import EVIDENCE, CameraAgreement, check_as_shot
from core.journal import SplitWriter
from lightroom.lrcat import LightroomPhoto, develop_settings_of, image_names, iter_lightroom
from core.locks import writes_folder
from core.progress import progress_bar
from lightroom.raw import PHOTO_SUFFIXES, is_raw, read_raw
from lightroom.xmp import (RELATIVE_TEMP, RELATIVE_TINT, current_packets, incremental_to_temp_tint, plan_change,
                         sidecar_path, uses_sidecar, write_changes)

UNDECODABLE = "file cannot be decoded"
COMPANION = "RAW+JPEG pair: the raw is the photo"
INPUT_COLUMNS = ["id_global", "captureTime", "camera_model", "camera_group", "aperture", "shutterSpeed",
                 "isoSpeedRating", "focalLength", "flashFired", "currTemp", "currTint"]








# ----------------------------------------------------------------------------------------------
# Shared helpers.
# ----------------------------------------------------------------------------------------------
@dataclass
class Decoded:
    render: np.ndarray  # (S, S, 3) uint8
    curr_temp: float
    curr_tint: float


def decode_photo(path: Path, size: int, raw: bool | None = None) -> Decoded:
    """A raw at its as-shot WB with its as-shot Temperature/Tint; a rendered file as it is, at the
    reference white (lightroom.xmp: rendered files are relative). raw: the catalog's word (a DNG made
    from a JPEG is rendered); None = by the extension."""
    if is_raw(path):
        r = read_raw(path, size)
        if raw is False:
            return Decoded(r.render, RELATIVE_TEMP, RELATIVE_TINT)
        return Decoded(r.render, float(np.clip(r.temperature, wb.TEMP_MIN, wb.TEMP_MAX)),
                       float(np.clip(r.tint, wb.TINT_MIN, wb.TINT_MAX)))
    return Decoded(square_resize(read_image(path), size), RELATIVE_TEMP, RELATIVE_TINT)



CHUNK = 64  # photos decoded at once: memory holds one chunk's renders, never the catalog's


def decode_many(pool: ThreadPoolExecutor, items: list[tuple[Path, bool | None]],
                size: int) -> dict[Path, Decoded | str]:
    """(path, catalog's raw-or-rendered) -> Decoded, or the error message of a file that cannot be
    decoded (a counted skip); each path decoded once (a virtual copy shares its master's file)."""
    unique = list(dict.fromkeys(items))

    def one(item: tuple[Path, bool | None]) -> Decoded | str:
        try:
            return decode_photo(item[0], size, item[1])
        except ImageReadError as e:
            return str(e)

    return {path: res for (path, _), res in zip(unique, pool.map(one, unique))}


def chunks(items, n: int = CHUNK):
    """An iterator in lists of n (the last one shorter)."""
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


@dataclass(frozen=True)
class PhotoFiles:
    """One photo in a folder: its file (the raw of a RAW+JPEG pair) and its companions (the pair's
    JPEG: Lightroom shows the two as one photo, the raw being the one edited)."""
    path: Path
    companions: tuple[Path, ...] = ()


ID_SEPARATOR = "__"  # joins the folders of a relative path in an id: ids are file names, without "/"


def _pairs(folder: Path, files: list[Path]) -> list[PhotoFiles]:
    """Files grouped into photos: one name in one folder is one photo (the raw, its rendered files
    companions); two raws, or two rendered files without a raw, of one name stop with an error."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for p in files:
        groups.setdefault((p.parent, p.stem), []).append(p)
    photos = []
    for (_, stem), group in groups.items():
        raws = [p for p in group if is_raw(p)]
        if len(raws) > 1 or (not raws and len(group) > 1):
            raise CatalogError(f"{folder}: {', '.join(str(p) for p in group)} share the name {stem!r} in one folder "
                               f"and are not a RAW+JPEG pair; rename one (ids are file names without extension)")
        main = raws[0] if raws else group[0]
        photos.append(PhotoFiles(main, tuple(p for p in group if p != main)))
    return photos


def find_photos(folder: Path) -> dict[str, PhotoFiles]:
    """id_global -> photo under `folder` (recursive; hidden files and backups left out). The id is the
    file name without extension; a RAW+JPEG pair is one photo (the raw); photos of one name in
    different folders are told apart by their path relative to `folder`, folders joined by "__"
    (`day1__IMG_0001`), so `apply` must be given the folder `ingest` was."""
    if not folder.is_dir():
        raise CatalogError(f"{folder}: photo folder not found")
    files = [p for p in sorted(folder.rglob("*"))
             if not p.name.startswith(".") and p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES]
    photos = _pairs(folder, files)
    stems: dict[str, int] = {}
    for ph in photos:
        stems[ph.path.stem] = stems.get(ph.path.stem, 0) + 1
    found: dict[str, PhotoFiles] = {}
    for ph in photos:
        rel = ph.path.relative_to(folder).with_suffix("")
        name = ph.path.stem if stems[ph.path.stem] == 1 else ID_SEPARATOR.join(rel.parts)
        id_ = check_id(name, where=str(ph.path))
        if id_ in found:
            raise CatalogError(f"{folder}: {found[id_].path} and {ph.path} both get the id {id_!r}; rename one")
        found[id_] = ph
    return found


def _print_counts(title: str, counts: dict[str, int], console: Console) -> None:
    table = Table(title=title)
    table.add_column("photos")
    table.add_column("count", justify="right")
    for k, v in counts.items():
        table.add_row(k, f"{v:,}")
    table.add_row("[bold]total[/]", f"[bold]{sum(counts.values()):,}[/]")
    console.print(table)


def _camera_group(model: object) -> str | None:
    """The brand: the first word of the model (Lightroom's model names start with it)."""
    return str(model).split()[0].capitalize() if isinstance(model, str) and model.strip() else None


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
            "camera_model": e["camera_model"], "camera_group": _camera_group(e["camera_model"]),
            "aperture": e["aperture"], "shutterSpeed": e["shutterSpeed"], "isoSpeedRating": e["isoSpeedRating"],
            "focalLength": e["focalLength"], "flashFired": e["flashFired"],
            "currTemp": round(float(np.clip(curr[0], wb.TEMP_MIN, wb.TEMP_MAX)), 1),
            "currTint": round(float(np.clip(curr[1], wb.TINT_MIN, wb.TINT_MAX)), 2),
            "Temperature": round(label[0], 1), "Tint": round(label[1], 2),
            "wb_kind": "absolute" if photo.absolute else "relative",
            "master_id": ids.get(photo.master) if photo.master else None,
            "lr_image": photo.image, "source_file": str(photo.path)}


def _relocation(text: str) -> tuple[str, str] | None:
    if not text:
        return None
    if "=" not in text:
        raise CatalogError(f"--relocate {text!r}: expected OLD=NEW, e.g. 'D:/Photos/=/mnt/photos/'")
    old, new = text.split("=", 1)
    return old, new


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


class _Report:
    """A CSV written row by row to a temporary file, renamed into place when complete."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = path, columns
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.file = open(self.tmp, "w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.file, columns, extrasaction="ignore")
        self.writer.writeheader()

    def add(self, row: dict) -> None:
        self.writer.writerow(row)

    def finish(self) -> Path:
        self.file.close()
        os.replace(self.tmp, self.path)
        return self.path


def run_import_lightroom(cfg: ImportConfig, console: Console | None = None) -> Path:
    """Catalog -> OUT/Train (sliders.csv + images); returns the CSV path. Every catalog photo is in
    sliders.csv or, with its reason, in OUT/lightroom_import.csv and the printed summary.

    Streams: the catalog's rows come one at a time (lightroom.lrcat.iter_lightroom), CHUNK photos
    are decoded at once, and each render and CSV row is written as it is made (core.journal), so
    memory does not grow with the catalog and a killed run continues where it stopped (photos
    already written are verified, not decoded again)."""
    console = console or Console(quiet=not cfg.progress)
    relocate = _relocation(cfg.relocate)
    ids, capture = catalog_ids(Path(cfg.catalog))
    agreement = check_as_shot(cfg.catalog, relocate)
    split = SplitWriter(cfg.out, "Train", "sliders.csv", IMPORT_COLUMNS, "lr_image", _import_state(cfg, agreement),
                        cfg.size, fresh=cfg.fresh)
    report = _Report(Path(cfg.out) / "lightroom_import.csv", REPORT_COLUMNS)
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
    _print_counts(f"import {Path(cfg.catalog).name}", counts, console)
    _report_agreement(agreement, Path(cfg.out), console)
    if resumed:
        console.print(f"{resumed:,} photo(s) were imported by an earlier, interrupted run: verified, not redone")
    console.print(f"[bold]train split[/] {csv_path}; every photo and its status: {report.path}")
    return csv_path


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
        out[p] = {"captureTime": capture, "camera_model": model, "camera_group": _camera_group(model),
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
    report = _Report(Path(cfg.out) / "ingest_report.csv", ["id_global", "status", "reason", "detail", "file"])
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
    _print_counts(f"ingest {cfg.photos}", counts, console)
    return csv_path


# ----------------------------------------------------------------------------------------------
# apply
# ----------------------------------------------------------------------------------------------
@dataclass
class ApplyResult:
    changes: list  # lightroom.xmp.Change, one per prediction
    written: bool
    skipped: list = field(default_factory=list)  # photos left alone (hand-set, --skip-hand-set)


def _print_changes(changes: list, skipped: set, console: Console, dry_run: bool) -> None:
    table = Table(title="white balance " + ("(dry run: nothing written)" if dry_run else "written"))
    for col in ("photo", "writes to", "old", "new", "note"):
        table.add_column(col)
    for c in changes:
        old = ", ".join(f"{k}={v}" for k, v in c.old.items()) or "-"
        new = ", ".join(f"{k}={v}" for k, v in c.new.items() if k != "WhiteBalance")
        notes = (["[yellow]skipped: hand-set[/]" if c.photo in skipped else "[red]hand-set[/]"] if c.hand_set else [])
        notes += ["[red]white balance only[/]"] if c.from_nothing else []
        notes += ["all catalog settings"] if c.settings is not None else []
        table.add_row(c.photo.name, c.target.name if not c.embedded else "embedded XMP", old, new, ", ".join(notes))
    console.print(table)


SAVE_FIRST = ("In Lightroom, select the photos and run Metadata > Save Metadata to File first (apply then merges "
              "into what Lightroom saved), or pass --catalog CATALOG.lrcat (apply then writes every develop "
              "setting the catalog holds), or --wb-only to write the white balance alone")


def _plan(cfg: ApplyConfig, pred: pd.DataFrame, files: list[Path]) -> list:
    """One lightroom.xmp.Change per prediction: the photo's XMP now, and its catalog settings when
    --catalog is given (they decide raw or rendered, and which white balance Lightroom holds)."""
    known = develop_settings_of(cfg.catalog, files, _relocation(cfg.relocate)) if cfg.catalog else {}
    packets = current_packets(files)
    changes = []
    for p, t, tint in zip(files, pred["Temperature"], pred["Tint"]):
        entry = known.get(p)
        changes.append(plan_change(p, t, tint, packets[p], sidecar_path(p) if uses_sidecar(p) else p,
                                   raw=entry.raw if entry else None, settings=entry.settings if entry else None))
    return changes


# two runs on one folder never interleave a sidecar's read-merge-write; a dry run writes nothing, not even a lock
@writes_folder("photos", "apply", create=False, when=lambda cfg: not cfg.dry_run)
def run_apply(cfg: ApplyConfig, console: Console | None = None) -> ApplyResult:
    """Write each prediction into its photo's XMP. All checks come first (a missing photo, an XMP
    that would carry the white balance alone, a hand-set white balance without --force or
    --skip-hand-set): any of them stops before anything is written. --dry-run always prints its table."""
    if console is None:  # a pipe (a script, a plugin) defaults to 80 columns: keep the table's rows whole
        console = Console(quiet=not (cfg.progress or cfg.dry_run))
        console.width = max(console.width, 150)
    pred = read_wb_csv(cfg.predictions, "predictions")
    photos = find_photos(Path(cfg.photos))
    missing = [i for i in pred["id_global"] if i not in photos]
    if missing:
        raise CatalogError(f"{cfg.predictions}: {len(missing)} of {len(pred)} predictions have no photo in "
                           f"{cfg.photos} (e.g. {missing[0]!r}; photos are found by their id, the file name without "
                           f"extension, as ingest gave it); nothing written")
    changes = _plan(cfg, pred, [photos[i].path for i in pred["id_global"]])
    hand = [c for c in changes if c.hand_set]
    skipped = {c.photo for c in hand} if cfg.skip_hand_set and not cfg.force else set()
    _print_changes(changes, skipped, console, cfg.dry_run)
    if cfg.dry_run:
        return ApplyResult(changes, False, sorted(skipped))
    alone = [c for c in changes if c.from_nothing and c.photo not in skipped]
    if alone and not cfg.wb_only:
        where = "are not in the catalog and have" if cfg.catalog else "have"
        raise CatalogError(f"{len(alone)} photo(s) {where} no saved develop settings, e.g. {alone[0].photo}: an XMP "
                           f"with only the white balance would make Lightroom's Read Metadata from Files reset "
                           f"their other edits; nothing written. {SAVE_FIRST}.")
    if hand and not cfg.force and not cfg.skip_hand_set:
        raise CatalogError(f"{len(hand)} photo(s) hold a white balance set by hand, e.g. {hand[0].target} "
                           f"({', '.join(f'{k}={v}' for k, v in hand[0].old.items())}); nothing written. "
                           f"Pass --skip-hand-set to leave them as they are, or --force to overwrite them.")
    write_changes([c for c in changes if c.photo not in skipped], force=cfg.force)
    if skipped:
        console.print(f"[yellow]{len(skipped)} photo(s) with a hand-set white balance left as they were:[/] "
                      + ", ".join(sorted(p.name for p in skipped)))
    return ApplyResult(changes, True, sorted(skipped))
