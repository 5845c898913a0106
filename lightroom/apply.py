"""`cli.py apply`: predictions -> XMP that Lightroom reads.

    python cli.py apply wedding.csv --photos "Photos/2024-06-01 wedding" --catalog C.lrcat --dry-run

Each prediction's photo is found as ingest found it (lightroom.photos); lightroom.xmp merges the white
balance (with --catalog, the photo's whole develop settings) into its sidecar or embedded XMP (every
check runs before the first write).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from catalog.answers import read_wb_csv
from core.errors import CatalogError
from core.locks import writes_folder
from lightroom.lrcat import develop_settings_of
from lightroom.options import ApplyConfig
from lightroom.photos import find_photos, relocation
from lightroom.xmp import current_packets, plan_change, sidecar_path, uses_sidecar, write_changes


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
    known = develop_settings_of(cfg.catalog, files, relocation(cfg.relocate)) if cfg.catalog else {}
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
