"""The photos of the Lightroom loop: found in a folder (a RAW+JPEG pair is its raw; one name in two folders:
the relative path makes the id), decoded chunk by chunk (raws through lightroom.raw at the as-shot white
balance, rendered files as they are), and what import-lightroom, ingest and apply share (columns, the
per-photo report, --relocate).
"""
from __future__ import annotations

import csv
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from catalog.images import read_image, square_resize
from core import wb
from core.errors import CatalogError, ImageReadError
from core.ids import check_id
from lightroom.raw import PHOTO_SUFFIXES, is_raw, read_raw
from lightroom.xmp import RELATIVE_TEMP, RELATIVE_TINT


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


def print_counts(title: str, counts: dict[str, int], console: Console) -> None:
    table = Table(title=title)
    table.add_column("photos")
    table.add_column("count", justify="right")
    for k, v in counts.items():
        table.add_row(k, f"{v:,}")
    table.add_row("[bold]total[/]", f"[bold]{sum(counts.values()):,}[/]")
    console.print(table)


def camera_group(model: object) -> str | None:
    """The brand: the first word of the model (Lightroom's model names start with it)."""
    return str(model).split()[0].capitalize() if isinstance(model, str) and model.strip() else None


def relocation(text: str) -> tuple[str, str] | None:
    if not text:
        return None
    if "=" not in text:
        raise CatalogError(f"--relocate {text!r}: expected OLD=NEW, e.g. 'D:/Photos/=/mnt/photos/'")
    old, new = text.split("=", 1)
    return old, new


class Report:
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
