"""`validate`: what a catalog holds and what is wrong with it, before any training time is spent.

Reads each split with `scan_catalog` (which collects every problem rather than stopping at the
first), optionally decodes every image, and prints rich tables: rows, images, columns, label and
as-shot ranges, EXIF units, cameras, shoots, then the problems. Exit code 1 when anything would
make a later stage fail or learn from wrong data (no catalog, missing required column, empty or
repeated ids, missing/unreadable images, non-numeric values), else 0.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from catalog.options import ValidateConfig
from catalog.images import IMAGE_SUFFIXES, load_images
from catalog.reader import SPLITS, TARGETS, Catalog, Problem, image_where, list_splits, scan_catalog
from core.wb import TEMP_MAX, TEMP_MIN, TINT_MAX, TINT_MIN

PROBLEM_TITLES = {"csv": "catalog files", "empty": "empty catalog", "column": "columns", "id": "missing ids",
                  "duplicate": "duplicate ids", "numeric": "non-numeric values", "value": "impossible values",
                  "image": "missing images", "unreadable": "unreadable images"}




def _stats_row(name: str, values, fmt: str = "{:,.0f}") -> list[str]:
    v = np.asarray(values, dtype=float)
    ok = v[np.isfinite(v)]
    if not len(ok):
        return [name, "-", "-", "-", f"{len(v):,}"]
    return [name, fmt.format(ok.min()), fmt.format(np.median(ok)), fmt.format(ok.max()), f"{len(v) - len(ok):,}"]


def _rows_and_images(cat: Catalog, problems: list[Problem], cfg: ValidateConfig,
                     console: Console) -> list[Problem]:
    """Rows (in the CSV, used, skipped, with errors) and images (found, missing, unreadable, orphans);
    returns the unreadable images as problems (decoding each one is the only way to find them)."""
    t = cat.table
    n_csv = cat.csv_rows if cat.csv_rows is not None else len(t) + len(cat.skipped)
    console.print(f"CSV: {cat.csv_path}\nimages: {cat.image_dir}", highlight=False, soft_wrap=True)
    rows = Table(title=f"{cat.split}: rows")
    rows.add_column("rows"), rows.add_column("count", justify="right"), rows.add_column("why")
    rows.add_row("in CSV", f"{n_csv:,}", "")
    rows.add_row("used", f"{len(t):,}", "" if not problems else "rows whose id or image file is wrong are left out")
    reasons: dict[str, int] = {}
    for s in cat.skipped:
        reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
    rows.add_row("skipped", f"{len(cat.skipped):,}", "; ".join(f"{k}: {v}" for k, v in reasons.items()))

    extra: list[Problem] = []
    unreadable: dict[int, str] = {}
    if cfg.image_check and cat.image_paths:
        _, unreadable = load_images(cat.image_paths, 8, workers=cfg.workers, progress=console.is_terminal,
                                    on_error="collect", where=image_where(cat))
        rownum = t["row"].to_numpy()
        extra = [Problem("unreadable", msg, int(rownum[i])) for i, msg in unreadable.items()]
    ids = set(t["id_global"]) if "id_global" in t.columns else set()
    orphans = [p for p in cat.image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
               and p.stem not in ids and p.name not in ids] if cat.image_dir.is_dir() else []
    orphans = [p for p in orphans if not any(s["id_global"] in (p.stem, p.name) for s in cat.skipped)]
    images = Table(title=f"{cat.split}: images")
    images.add_column("images"), images.add_column("count", justify="right")
    images.add_row("found", f"{len(cat.image_paths):,}")
    images.add_row("missing", f"{sum(p.kind == 'image' for p in problems):,}")
    images.add_row("unreadable", f"{len(unreadable):,}" if cfg.image_check else "not checked (--no-image-check)")
    images.add_row("without a CSV row (ignored)", f"{len(orphans):,}")
    bad_rows = {p.row for p in problems + extra if p.row is not None}
    rows.add_row("with errors", f"{len(bad_rows):,}", "see problems below" if bad_rows else "")
    console.print(rows)
    console.print(images)
    return extra


def _columns(cat: Catalog, console: Console) -> None:
    """What the stages can use, what they will do without, what is carried along unused."""
    t = cat.table
    cols = Table(title=f"{cat.split}: columns")
    cols.add_column("columns"), cols.add_column("names")
    cols.add_row("present", ", ".join(cat.present_columns) or "-")
    cols.add_row("missing", ", ".join(cat.missing_columns) or "-")
    cols.add_row("extra (kept, unused)", ", ".join(cat.extra_columns) or "-")
    empties = [f"{c} {int(t[c].isna().sum()):,}" for c in cat.present_columns
               if c in t.columns and c not in TARGETS and t[c].isna().any()]
    cols.add_row("empty cells", ", ".join(empties) or "-")
    console.print(cols)


def _ranges_table(title: str, rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for h in ("column", "min", "median", "max", "empty"):
        table.add_column(h, justify="right" if h != "column" else "left")
    for r in rows:
        table.add_row(*r)
    return table


def _labels(cat: Catalog, console: Console) -> list[str]:
    """Labels and the as-shot anchor (medians show the photographer's usual shift from as-shot);
    returns notes (labels pushed to a slider limit are worth a look before training)."""
    t = cat.table
    named = (("Temperature", "Temperature K"), ("Tint", "Tint"), ("currTemp", "as-shot K (currTemp)"),
             ("currTint", "as-shot tint (currTint)"))
    console.print(_ranges_table(f"{cat.split}: labels and as-shot white balance",
                                [_stats_row(name, t[c]) if c in t.columns else [name, "-", "-", "-", "no column"]
                                 for c, name in named]))
    notes = []
    if "Temperature" in t.columns:
        lim = t["Temperature"].le(TEMP_MIN) | t["Temperature"].ge(TEMP_MAX)
        if "Tint" in t.columns:
            lim |= t["Tint"].le(TINT_MIN) | t["Tint"].ge(TINT_MAX)
        if lim.any():
            notes.append(f"{int(lim.sum())} labels sit at a slider limit ({TEMP_MIN:.0f}/{TEMP_MAX:.0f} K, "
                         f"tint {TINT_MIN:.0f}/{TINT_MAX:.0f}): rows {', '.join(map(str, t.loc[lim, 'row'].head(8)))}")
    if not cat.has_labels():
        console.print(f"labels: {'absent' if not any(x in t.columns for x in TARGETS) else 'partial'} "
                      f"({'to be predicted' if cat.split != 'Train' else 'needed for training'})")
    return notes


def _exif(cat: Catalog, console: Console) -> None:
    """EXIF units: APEX and plain values mean different things to the metadata encoder."""
    t = cat.table
    console.print(_ranges_table(f"{cat.split}: exposure metadata",
                                [_stats_row(c, t[c], "{:,.3g}") for c in ("aperture", "shutterSpeed",
                                                                         "isoSpeedRating", "focalLength")
                                 if c in t.columns]))
    console.print(f"exif units: [bold]{cat.exif_units}[/bold] "
                  f"({'APEX: shutterSpeed = log2(1/seconds), aperture = 2 log2(f-number)' if cat.exif_units == 'apex' else 'seconds and f-numbers'})")


def _cameras_and_shoots(cat: Catalog, console: Console) -> None:
    """Cameras (each has its own auto-WB bias) and shoots (near-duplicates of one date; validation
    must hold out whole shoots)."""
    t = cat.table
    if "camera_model" in t.columns:
        cams = Table(title=f"{cat.split}: cameras")
        cams.add_column("camera_model"), cams.add_column("photos", justify="right")
        counts = t["camera_model"].fillna("(empty)").value_counts()
        for name, k in counts.head(12).items():
            cams.add_row(str(name), f"{k:,}")
        if len(counts) > 12:
            cams.add_row(f"... {len(counts) - 12} more", f"{int(counts.iloc[12:].sum()):,}")
        console.print(cams)
    else:
        console.print("cameras: no camera_model column (one shared camera assumed)")
    shoots = t["shoot"].dropna().value_counts()
    if len(shoots):
        console.print(f"shoots (capture dates): [bold]{len(shoots):,}[/bold]; photos per shoot "
                      f"min {shoots.min():,} / median {np.median(shoots.to_numpy()):,.0f} / max {shoots.max():,}; "
                      f"photos without a capture date: {int(t['shoot'].isna().sum()):,}")
    else:
        console.print("shoots: no capture dates (captureTime missing or unparseable); validation cannot group by shoot")


def _report_split(cat: Catalog, problems: list[Problem], notes: list[str], cfg: ValidateConfig,
                  console: Console) -> list[Problem]:
    """Print the tables of one split; returns extra problems found here (unreadable images)."""
    extra = _rows_and_images(cat, problems, cfg, console)
    _columns(cat, console)
    notes = notes + _labels(cat, console)
    _exif(cat, console)
    _cameras_and_shoots(cat, console)
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    return extra


def run_validate(cfg: ValidateConfig, console: Console | None = None) -> int:
    """Print the report for cfg.data; returns 0 when the catalog is usable, 1 on fatal problems."""
    console = console or Console()
    root = Path(cfg.data)
    if not root.is_dir():
        console.print(f"[red]error:[/red] {root}: catalog folder not found")
        return 1
    names = {s.lower(): s for s in SPLITS}
    if cfg.split.lower() != "all" and cfg.split.lower() not in names:
        console.print(f"[red]error:[/red] split must be all, {', '.join(SPLITS)}; got {cfg.split!r}")
        return 1
    splits = list_splits(root) if cfg.split.lower() == "all" else [names[cfg.split.lower()]]
    if not splits:
        console.print(f"[red]error:[/red] {root}: no catalog found; expected {root}/Train/ and/or {root}/Validation/ "
                      f"(each with images/ and a sliders CSV), or images/ and one CSV directly in {root}")
        return 1

    all_problems: list[tuple[str, Problem]] = []
    for split in splits:
        console.rule(f"[bold]{split}[/bold]")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cat, problems = scan_catalog(root, split)
        notes = [str(w.message) for w in caught]
        if cat is not None:
            problems = problems + _report_split(cat, problems, notes, cfg, console)
        all_problems += [(split, p) for p in problems]

    if not all_problems:
        console.print(f"[green]OK[/green]: {', '.join(splits)} usable; no problems found")
        return 0
    console.rule("[bold red]problems[/bold red]")
    for kind, title in PROBLEM_TITLES.items():
        found = [(s, p) for s, p in all_problems if p.kind == kind]
        if not found:
            continue
        console.print(f"[bold red]{title}[/bold red] ({len(found):,})")
        for s, p in found[:10]:
            console.print(f"  {s}: {p.message}", soft_wrap=True, highlight=False)
        if len(found) > 10:
            console.print(f"  ... and {len(found) - 10:,} more")
    console.print(f"[red]{len(all_problems):,} problem(s)[/red]: fix them before training (exit code 1)")
    return 1
