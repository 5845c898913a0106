"""Reading a catalog: one sliders CSV + one image per row -> a checked table (and images).

Layouts (a "split" is one CSV + its images/ folder):
  A  ROOT/Train/{images/<id_global>.tif, sliders.csv}, ROOT/Validation/{images/, sliders_inputs.csv}
  B  the real release: as A, but the validation CSV is `sliders_input.csv`; no camera_model,
     camera_group, intensity, ev; extra copyCreationTime, touchTime, hasDevelopAdjustmentsEx ...;
     aperture and shutterSpeed in APEX units.
  C  a single folder DIR/{images/, exactly one CSV} (split="folder", or ROOT/Train given directly).

Rules (why): a photographer's catalog is messy, and a silently dropped or misread row turns into a
wrong model without anyone noticing. So every problem is a CatalogError naming the file, the row
(1-based data row; line in file = row + 1), the column and what was expected; the only rows ever
left out are Train rows without a label (nothing to learn from), and those are counted in one
warning and listed in `Catalog.skipped`.

`scan_catalog` collects every problem it can find (for `validate`); `read_catalog` raises them.
"""
from __future__ import annotations

import csv
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from core.errors import CatalogError
from core.ids import id_problem
from catalog.images import IMAGE_SUFFIXES, load_images
from core.wb import TEMP_MAX, TEMP_MIN, TINT_MAX, TINT_MIN

INPUT_COLUMNS = ("currTemp", "currTint", "aperture", "shutterSpeed", "isoSpeedRating", "focalLength",
                 "flashFired", "camera_model", "camera_group", "intensity", "ev", "captureTime", "grayscale")
REQUIRED_COLUMNS = ("id_global", "currTemp", "currTint")
TARGETS = ("Temperature", "Tint")
TEXT_COLUMNS = ("camera_model", "camera_group", "captureTime")
NUMERIC_COLUMNS = tuple(c for c in INPUT_COLUMNS if c not in TEXT_COLUMNS)  # + the targets, unless labels="ignore"
BOOL_COLUMNS = ("flashFired", "grayscale")  # also accept true/false, yes/no
POSITIVE_COLUMNS = ("currTemp", "Temperature")  # Kelvin: 0 or less cannot be turned into mired
DERIVED_COLUMNS = ("row", "capture_time", "shoot")  # added by the reader
KNOWN_COLUMNS = ("id_global",) + INPUT_COLUMNS + TARGETS
MISSING_MARKERS = frozenset({"", "na", "nan", "n/a", "null", "none"})
SPLIT_CSV_NAMES = {"Train": ("sliders.csv",), "Validation": ("sliders_inputs.csv", "sliders_input.csv")}
SPLITS = ("Train", "Validation", "folder")


class CatalogWarning(UserWarning):
    """Something was left out or could not be interpreted, but the catalog is still usable."""


@dataclass
class Problem:
    """One fatal problem found while scanning (kind: csv, column, empty, id, duplicate, numeric, value, image)."""
    kind: str
    message: str
    row: int | None = None


@dataclass
class Catalog:
    """One split of a catalog. `table` has one row per *used* CSV row, in CSV order (see module doc)."""
    root: Path
    split: str  # "Train" | "Validation" | "folder"
    csv_path: Path
    image_dir: Path
    table: pd.DataFrame
    image_paths: list[Path]
    exif_units: str = "plain"  # "apex" | "plain"
    present_columns: list[str] = field(default_factory=list)  # known columns found in the CSV
    missing_columns: list[str] = field(default_factory=list)  # INPUT_COLUMNS absent from the CSV
    extra_columns: list[str] = field(default_factory=list)  # unknown columns, kept in `table`
    skipped: list[dict] = field(default_factory=list)  # {row, id_global, reason}
    images: np.ndarray | None = None  # (N, S, S, 3) uint8 after load_catalog
    image_failures: dict[int, str] = field(default_factory=dict)
    csv_rows: int | None = None  # data rows in the CSV (used + skipped + rows with errors)

    def __len__(self) -> int:
        return len(self.table)

    def has_labels(self, targets: Sequence[str] = TARGETS) -> bool:
        """True when every target column is present and filled on every used row."""
        return len(self.table) > 0 and all(t in self.table.columns and self.table[t].notna().all() for t in targets)

    def summary(self) -> str:
        n_csv = self.csv_rows if self.csv_rows is not None else len(self.table) + len(self.skipped)
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
        why = "; ".join(f"{k}: {v}" for k, v in reasons.items())
        parts = [f"{self.split} catalog {self.csv_path}: {n_csv:,} rows in CSV, {len(self.table):,} used, "
                 f"{len(self.skipped):,} skipped" + (f" ({why})" if why else ""),
                 f"exif units {self.exif_units}",
                 "labels " + ("present" if self.has_labels() else "absent or partial")]
        if self.missing_columns:
            parts.append("missing columns: " + ", ".join(self.missing_columns))
        if self.extra_columns:
            parts.append("extra columns: " + ", ".join(self.extra_columns))
        if self.images is not None:
            parts.append(f"images {self.images.shape[0]:,} x {self.images.shape[1]}px"
                         f" ({len(self.image_failures)} unreadable)")
        return "; ".join(parts)


# --------------------------------------------------------------------------- locating a split
def _split_name(split: str) -> str:
    for s in SPLITS:
        if split.lower() == s.lower():
            return s
    raise CatalogError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")


def _child_dir(root: Path, name: str) -> Path | None:
    """root/name, matching the folder name case-insensitively (train/ vs Train/)."""
    if (root / name).is_dir():
        return root / name
    for p in root.iterdir():
        if p.is_dir() and p.name.lower() == name.lower():
            return p
    return None


def list_splits(root: str | Path) -> list[str]:
    """Splits present under root: "Train"/"Validation" (layouts A/B), else ["folder"] (layout C), else []."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [s for s in ("Train", "Validation") if _child_dir(root, s) is not None]
    if not found and (root / "images").is_dir():
        found = ["folder"]
    return found


def _pick_csv(folder: Path, split: str) -> Path:
    csvs = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    known = SPLIT_CSV_NAMES.get(split, SPLIT_CSV_NAMES["Train"] + SPLIT_CSV_NAMES["Validation"])
    named = [p for p in csvs if p.name.lower() in known]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise CatalogError(f"{folder}: ambiguous catalog CSV: both {' and '.join(p.name for p in named)} "
                           f"exist; keep exactly one")
    if len(csvs) == 1:
        return csvs[0]
    if not csvs:
        raise CatalogError(f"{folder}: no CSV file; expected {' or '.join(known)} (one row per image)")
    raise CatalogError(f"{folder}: {len(csvs)} CSV files ({', '.join(p.name for p in csvs)}) and none named "
                       f"{' or '.join(known)}; cannot tell which is the catalog - keep exactly one")


def find_split(root: str | Path, split: str = "Train") -> tuple[Path, Path]:
    """(csv_path, image_dir) of one split. split: "Train", "Validation" or "folder" (layout C).

    "Train" also accepts a single folder (ROOT/Train given directly, or any DIR with images/ + a CSV),
    and a split named like root itself (ROOT/Validation given directly) is root.
    """
    root = Path(root)
    split = _split_name(split)
    if not root.is_dir():
        raise CatalogError(f"{root}: catalog folder not found")
    if split == "folder":
        folder = root
    else:
        folder = _child_dir(root, split)
        if folder is None:
            if root.name.lower() == split.lower() or (split == "Train" and (root / "images").is_dir()):
                folder = root
            else:
                raise CatalogError(f"{root}: no {split}/ folder; expected {root / split}/ with images/ and "
                                   f"{' or '.join(SPLIT_CSV_NAMES[split])}, or a single folder with images/ and one CSV")
    csv_path = _pick_csv(folder, split)
    image_dir = _child_dir(folder, "images")
    if image_dir is None:
        raise CatalogError(f"{folder}: no images/ folder; expected {folder / 'images'}/<id_global>.tif "
                           f"for each row of {csv_path.name}")
    return csv_path, image_dir


# --------------------------------------------------------------------------- parsing cells
_FRACTION = re.compile(r"^(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)$")
_TZ_SUFFIX = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")  # "5,6": a decimal comma (semicolon CSVs only)
DELIMITERS = (",", ";")  # ";" is what spreadsheets write where the comma is the decimal mark
# Lightroom's slider ranges: a value outside them is a typo or a unit mix-up, never a real edit.
RANGES = {"currTemp": (TEMP_MIN, TEMP_MAX), "Temperature": (TEMP_MIN, TEMP_MAX),
          "currTint": (TINT_MIN, TINT_MAX), "Tint": (TINT_MIN, TINT_MAX)}


def _to_number(s: pd.Series, col: str, decimal_comma: bool = False) -> tuple[pd.Series, pd.Series]:
    """str cells (NaN = missing) -> (float64 values, mask of cells that are present but not a number)."""
    s = s.astype(object)
    if col in BOOL_COLUMNS:
        s = s.map(lambda v: {"true": "1", "false": "0", "yes": "1", "no": "0"}.get(v.lower(), v)
                  if isinstance(v, str) else v)
    if decimal_comma:
        s = s.map(lambda v: v.replace(",", ".") if isinstance(v, str) and _DECIMAL_COMMA.match(v) else v)
    if col == "shutterSpeed":  # plain exposure times are often written "1/250"
        def frac(v):
            m = _FRACTION.match(v) if isinstance(v, str) else None
            return str(float(m.group(1)) / float(m.group(2))) if m and float(m.group(2)) != 0 else v
        s = s.map(frac)
    vals = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = s.notna() & ~np.isfinite(vals.to_numpy())  # "abc", "inf" ... (missing cells are not bad)
    return vals.where(~bad), bad


def _parse_capture_time(s: pd.Series) -> pd.Series:
    """ISO strings -> naive datetime64 at the photo's own wall-clock time (the shoot's local date);
    a zone suffix is dropped rather than converted, so a shoot never straddles two UTC dates."""
    text = s.astype(object).map(lambda v: _TZ_SUFFIX.sub("", v.strip()) if isinstance(v, str) else None)
    return pd.to_datetime(text, format="ISO8601", errors="coerce").astype("datetime64[ns]")


def _row_text(r: int) -> str:
    """The one way a row is named: 1-based data row, and its line in the file (the header is line 1)."""
    return f"{r} (line {r + 1})"


def _where(csv_path: Path, r: int, column: str | None = None) -> str:
    """'FILE: row R (line L), column 'C'' - the location every row problem starts with."""
    return f"{csv_path}: row {_row_text(r)}" + (f", column '{column}'" if column else "")


def _rows_text(rows: Sequence[int], limit: int = 8) -> str:
    rows = list(rows)
    txt = ", ".join(_row_text(r) for r in rows[:limit])
    return txt + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _image_lookup(image_dir: Path) -> dict[str, str]:
    """File name (lower case) -> actual name, listed once (a stat per row is slow on network drives)."""
    with os.scandir(image_dir) as it:
        return {e.name.lower(): e.name for e in it if e.is_file()}


# --------------------------------------------------------------------------- checkers (one per concern)
def _read_header(csv_path: Path) -> tuple[list[str] | None, str, list[Problem]]:
    """(header, delimiter, problems); header None when the file cannot be read as a catalog.

    The delimiter is the one whose header holds an `id_global` column: "," normally, ";" for the CSVs
    spreadsheets write where the comma is the decimal mark. Both or neither finding it: "," (the
    missing-column problem then names what was found). Read with the csv module, not pandas, which
    would silently rename a repeated column to "x.1". A UTF-8 byte-order mark is accepted."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            line = f.readline()
    except (OSError, UnicodeDecodeError) as e:
        return None, ",", [Problem("csv", f"{csv_path}: cannot read as a UTF-8 text CSV ({e})")]
    headers = {}
    for d in DELIMITERS:
        try:
            headers[d] = [h.strip() for h in next(csv.reader([line], delimiter=d), [])]
        except csv.Error as e:
            return None, ",", [Problem("csv", f"{csv_path}: cannot read as a UTF-8 text CSV ({e})")]
    found = [d for d in DELIMITERS if "id_global" in headers[d]]
    delimiter = found[0] if len(found) == 1 else ","
    header = headers[delimiter]
    other = [d for d in DELIMITERS if d != delimiter and any(d in h for h in header)]
    if found and other:
        return None, delimiter, [Problem("csv", f"{csv_path}: line 1: the header mixes '{delimiter}' and "
                                                f"'{other[0]}' between column names; save the CSV with one "
                                                f"separator (',' or ';')")]
    if not any(header):
        return None, delimiter, [Problem("empty", f"{csv_path}: empty catalog: the file has no header line "
                                                  f"(expected columns {', '.join(REQUIRED_COLUMNS)}, ...)")]
    problems = [Problem("column", f"{csv_path}: column '{name}' appears {header.count(name)} times "
                                  f"in the header; column names must be unique")
                for name in sorted({h for h in header if header.count(h) > 1})]
    return header, delimiter, problems


def _read_cells(csv_path: Path, delimiter: str) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Every cell as stripped text, missing markers as None; the reader's own column names freed.

    Everything is text first: the checkers decide what is missing or not a number, and say where."""
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=delimiter)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        return None, [Problem("csv", f"{csv_path}: cannot parse CSV ({str(e).strip()})")]
    df.columns = [str(c).strip() for c in df.columns]
    for c in df.columns:
        s = df[c].astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
        df[c] = s.where(~s.map(lambda v: not isinstance(v, str) or v.lower() in MISSING_MARKERS), None)
    for c in DERIVED_COLUMNS:  # the reader's own columns win; the user's data stays, renamed
        if c in df.columns:
            df = df.rename(columns={c: f"{c}_csv"})
            warnings.warn(f"{csv_path}: column '{c}' is reserved by the reader; kept as '{c}_csv'",
                          CatalogWarning, stacklevel=3)
    return df, []


def _check_columns(csv_path: Path, columns: list[str], split: str, targets: tuple[str, ...],
                   need_labels: bool) -> list[Problem]:
    """Required columns (with a hint when only the case differs) and, where needed, the labels."""
    problems = []
    for c in REQUIRED_COLUMNS:
        if c not in columns:
            hint = [x for x in columns if x.lower() == c.lower()]
            problems.append(Problem("column", f"{csv_path}: required column '{c}' is missing"
                                    + (f" (found '{hint[0]}'; names are case-sensitive)" if hint else "")
                                    + f"; columns found: {', '.join(columns)}"))
    if need_labels:
        problems += [Problem("column", f"{csv_path}: label column '{t}' is missing; {split} rows "
                                       f"need labels ({', '.join(targets)})") for t in targets if t not in columns]
    return problems


def _check_numbers(csv_path: Path, df: pd.DataFrame, numeric: Sequence[str], rows: np.ndarray,
                   decimal_comma: bool) -> tuple[dict[str, pd.Series], list[Problem]]:
    """Numeric columns -> ({column: float64 values, bad cells as NaN}, problems). Every bad cell is
    reported with its row, line, column and value: not a number, not a temperature, outside the
    slider range, or (as-shot columns) empty - the as-shot white balance anchors every prediction."""
    values, problems = {}, []
    for c in numeric:
        vals, bad = _to_number(df[c], c, decimal_comma)
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(Problem("numeric", f"{_where(csv_path, rows[i], c)}: {df[c].iloc[i]!r} is not a number",
                                    int(rows[i])))
        wrong = np.zeros(len(df), bool)
        if c in POSITIVE_COLUMNS:
            wrong = (vals <= 0).to_numpy()
            for i in np.flatnonzero(wrong):
                problems.append(Problem("value", f"{_where(csv_path, rows[i], c)}: {df[c].iloc[i]!r} is not a "
                                                 f"temperature; expected Kelvin > 0", int(rows[i])))
        if c in RANGES:
            lo, hi = RANGES[c]
            out = ((vals < lo) | (vals > hi)).to_numpy() & ~wrong
            for i in np.flatnonzero(out):
                problems.append(Problem("value", f"{_where(csv_path, rows[i], c)}: {df[c].iloc[i]!r} is outside "
                                                 f"{lo:g} to {hi:g}, the range of the {c} slider", int(rows[i])))
            wrong = wrong | out
        if c in REQUIRED_COLUMNS:
            for i in np.flatnonzero(df[c].isna().to_numpy()):
                problems.append(Problem("value", f"{_where(csv_path, rows[i], c)}: empty; every row needs the "
                                                 f"as-shot white balance (currTemp, currTint)", int(rows[i])))
        values[c] = vals.where(~wrong)
    return values, problems


def _numeric_extras(df: pd.DataFrame, columns: Sequence[str], decimal_comma: bool) -> dict[str, pd.Series]:
    """Unknown columns (and ignored labels) stay; numeric when every present cell is a number."""
    out = {}
    for c in columns:
        vals, bad = _to_number(df[c], c, decimal_comma)
        if not bad.any() and vals.notna().any():
            out[c] = vals
    return out


def _unlabelled(csv_path: Path, df: pd.DataFrame, targets: tuple[str, ...], rows: np.ndarray, ids: pd.Series,
                bad_rows: set[int]) -> tuple[np.ndarray, list[dict]]:
    """Train rows without a label: nothing to learn from; (mask, skipped records), counted in one
    warning, never a crash. A label that is present but wrong is an error (bad_rows), not a skip."""
    unl = np.zeros(len(df), dtype=bool)
    for t in targets:
        unl |= df[t].isna().to_numpy()
    unl &= ~np.isin(rows, list(bad_rows))
    skipped = [{"row": int(rows[i]), "id_global": ids.iloc[i],
                "reason": f"no label ({', '.join(t for t in targets if pd.isna(df[t].iloc[i]))} missing)"}
               for i in np.flatnonzero(unl)]
    if unl.any():
        warnings.warn(f"{csv_path}: skipped {int(unl.sum())} of {len(df)} rows without a label "
                      f"({'/'.join(targets)}): rows {_rows_text(rows[unl])}", CatalogWarning, stacklevel=3)
    return unl, skipped


def _check_ids(csv_path: Path, ids: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, list[Problem]]:
    """Ids present, a plain file name (core.ids: the image file and every output are named by
    it), unique. Returns (mask of rows to drop, problems); the first of repeated ids is kept."""
    drop = np.zeros(len(ids), dtype=bool)
    problems = []
    for i, v in enumerate(ids):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            problems.append(Problem("id", f"{_where(csv_path, rows[i])}: id_global is empty; "
                                          f"every row needs the id of its image", int(rows[i])))
            drop[i] = True
        elif id_problem(v) is not None:
            problems.append(Problem("id", f"{_where(csv_path, rows[i])}: id_global {v!r} is not a file name "
                                          f"({id_problem(v)})", int(rows[i])))
            drop[i] = True
    dup = ids.notna() & ids.duplicated(keep=False)
    for v, grp in pd.Series(rows[dup.to_numpy()]).groupby(ids[dup].to_numpy(), sort=False):
        r = list(grp)
        problems.append(Problem("duplicate", f"{csv_path}: id_global {v!r} appears in rows {_rows_text(r)}; "
                                             f"ids must be unique (one row per image)", int(r[1])))
        drop |= np.isin(rows, r[1:])
    return drop, problems


def _match_images(csv_path: Path, image_dir: Path, ids: pd.Series, rows: np.ndarray,
                  keep: np.ndarray) -> tuple[list[Path], np.ndarray, list[Problem]]:
    """One file per kept row, <id_global>.tif (or another supported suffix, any case).
    Returns (paths of the kept rows that have one, mask of rows to drop, problems)."""
    files = _image_lookup(image_dir)
    paths, problems = [], []
    drop = np.zeros(len(ids), dtype=bool)
    id_list = ids.tolist()  # one conversion: ids.iloc[i] per row took 50 ms for 4,000 rows
    for i in np.flatnonzero(keep):
        v = id_list[i]
        candidates = [v] if v.lower().endswith(IMAGE_SUFFIXES) else []
        name = next((files[c.lower()] for c in candidates + [v + s for s in IMAGE_SUFFIXES]
                     if c.lower() in files), None)
        if name is None:
            problems.append(Problem("image", f"{_where(csv_path, rows[i])}, id_global {v!r}: image file not found; "
                                             f"expected {image_dir / (v + '.tif')}", int(rows[i])))
            drop[i] = True
        else:
            paths.append(image_dir / name)
    return paths, drop, problems


def _capture_times(csv_path: Path, df: pd.DataFrame, rows: np.ndarray, keep: np.ndarray) -> pd.Series:
    """captureTime -> datetime64 (NaT where absent); unparseable dates are counted in one warning.
    The shoot (capture date) groups near-duplicates for splits and neighbour searches."""
    if "captureTime" not in df.columns:
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    capture = _parse_capture_time(df["captureTime"])
    unparsed = df["captureTime"].notna().to_numpy() & capture.isna().to_numpy() & keep
    if unparsed.any():
        warnings.warn(f"{csv_path}: {int(unparsed.sum())} captureTime values are not ISO dates "
                      f"(e.g. 2023-05-28T20:08:51); those photos have no shoot: rows {_rows_text(rows[unparsed])}",
                      CatalogWarning, stacklevel=3)
    return capture


def _used_rows(df: pd.DataFrame, rows: np.ndarray, capture: pd.Series, keep: np.ndarray) -> pd.DataFrame:
    """The kept rows with the reader's own columns: row (1-based data row), capture_time, shoot."""
    df = df.assign(row=rows, capture_time=capture.to_numpy(),
                   shoot=pd.Series([d.strftime("%Y-%m-%d") if not pd.isna(d) else None for d in capture],
                                   dtype=object, index=df.index))
    table = df.loc[keep].reset_index(drop=True)
    if "id_global" in table.columns:
        table["id_global"] = table["id_global"].astype(str)
    return table


def _exif_units(table: pd.DataFrame) -> str:
    """APEX Tv = log2(1/seconds): 1/250 s -> 7.97; plain speeds are seconds, almost always < 1."""
    shutter = table["shutterSpeed"].dropna() if "shutterSpeed" in table.columns else pd.Series(dtype=float)
    return "apex" if len(shutter) and float(shutter.median()) > 1 else "plain"


# --------------------------------------------------------------------------- reading
def scan_catalog(root: str | Path, split: str = "Train", targets: Sequence[str] = TARGETS,
                 labels: str = "auto") -> tuple[Catalog | None, list[Problem]]:
    """Read one split and collect *every* problem instead of stopping at the first.

    Returns (catalog, problems). With problems, the catalog is a best-effort view for reporting
    (rows without an id or image, and repeated ids, left out; bad numbers as NaN) - never train on
    it; `read_catalog` raises instead. catalog is None when no CSV could be read at all.
    labels: "auto" (Train rows need labels, others not), "required" (every split), "ignore".
    """
    if labels not in ("auto", "required", "ignore"):
        raise ValueError(f"labels must be 'auto', 'required' or 'ignore', got {labels!r}")
    root, split, targets = Path(root), _split_name(split), tuple(targets)
    try:
        csv_path, image_dir = find_split(root, split)
    except CatalogError as e:
        return None, [Problem("csv", str(e))]
    header, delimiter, problems = _read_header(csv_path)
    if header is None:
        return None, problems
    df, more = _read_cells(csv_path, delimiter)
    if df is None:
        return None, problems + more
    columns = list(df.columns)
    need_labels = labels == "required" or (labels == "auto" and split == "Train")
    problems += _check_columns(csv_path, columns, split, targets, need_labels)
    n = len(df)
    rows = np.arange(1, n + 1)
    if n == 0:
        problems.append(Problem("empty", f"{csv_path}: empty catalog: a header but no data rows"))

    numeric = [c for c in dict.fromkeys(NUMERIC_COLUMNS + (targets if labels != "ignore" else ())) if c in columns]
    values, more = _check_numbers(csv_path, df, numeric, rows, delimiter == ";")
    problems += more
    rest = [c for c in columns if c not in numeric and c not in TEXT_COLUMNS + ("id_global",)]
    df = df.assign(**values, **_numeric_extras(df, rest, delimiter == ";"))

    keep = np.ones(n, dtype=bool)
    skipped: list[dict] = []
    ids = df["id_global"] if "id_global" in columns else pd.Series([None] * n, dtype=object)
    if need_labels and all(t in columns for t in targets) and n:
        bad_rows = {p.row for p in problems if p.kind in ("numeric", "value")}
        unl, skipped = _unlabelled(csv_path, df, targets, rows, ids, bad_rows)
        keep &= ~unl
    image_paths: list[Path] = []
    if "id_global" in columns:
        drop, more = _check_ids(csv_path, ids, rows)
        keep &= ~drop
        image_paths, drop, found = _match_images(csv_path, image_dir, ids, rows, keep)
        keep &= ~drop
        problems += more + found

    table = _used_rows(df, rows, _capture_times(csv_path, df, rows, keep), keep)
    if n and not keep.any() and not any(p.kind == "empty" for p in problems) and skipped:
        problems.append(Problem("empty", f"{csv_path}: empty catalog: all {n} rows were skipped "
                                         f"({skipped[0]['reason']}, ...)"))
    return _catalog(root, split, csv_path, image_dir, table, image_paths, columns, targets, skipped, n), problems


def _catalog(root: Path, split: str, csv_path: Path, image_dir: Path, table: pd.DataFrame, image_paths: list[Path],
             columns: list[str], targets: tuple[str, ...], skipped: list[dict], csv_rows: int) -> Catalog:
    """The Catalog of the rows kept, with which of the CSV's columns are known, missing or extra."""
    known = set(KNOWN_COLUMNS) | set(targets)
    return Catalog(root=root, split=split, csv_path=csv_path, image_dir=image_dir, table=table,
                   image_paths=image_paths, exif_units=_exif_units(table),
                   present_columns=[c for c in columns if c in known],
                   missing_columns=[c for c in INPUT_COLUMNS if c not in columns],
                   extra_columns=[c for c in columns if c not in known], skipped=skipped, csv_rows=csv_rows)


def problems_message(problems: Sequence[Problem], limit: int = 12) -> str:
    """All problems as one error message (one per line, the first `limit` in full)."""
    if len(problems) == 1:
        return problems[0].message
    lines = [f"{len(problems)} problems:"] + [f"  - {p.message}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more (run `validate` for the full report)")
    return "\n".join(lines)


def read_catalog(root: str | Path, split: str = "Train", targets: Sequence[str] = TARGETS,
                 labels: str = "auto") -> Catalog:
    """Read and check one split (table only, no pixels); CatalogError listing every problem found."""
    cat, problems = scan_catalog(root, split, targets, labels)
    if problems or cat is None:
        raise CatalogError(problems_message(problems))
    return cat


def image_where(cat: Catalog) -> list[str]:
    """The CSV location of each row's image ("FILE: row R (line L), id_global 'X'"), for image errors."""
    return [f"{_where(cat.csv_path, r)}, id_global {v!r}" for r, v in zip(cat.table["row"], cat.table["id_global"])]


def load_catalog(root: str | Path, split: str = "Train", image_size: int = 128, targets: Sequence[str] = TARGETS,
                 labels: str = "auto", workers: int = 2, progress: bool = True, on_error: str = "raise") -> Catalog:
    """read_catalog + every image square-resized to image_size into `catalog.images` (N,S,S,3 uint8).

    on_error="collect": unreadable images leave zero slots listed in `catalog.image_failures`
    (with one warning) instead of raising ImageReadError.
    """
    cat = read_catalog(root, split, targets, labels)
    cat.images, cat.image_failures = load_images(cat.image_paths, image_size, workers=workers,
                                                 progress=progress, on_error=on_error, where=image_where(cat))
    if cat.image_failures:
        first = next(iter(cat.image_failures.values()))
        warnings.warn(f"{len(cat.image_failures)} of {len(cat)} images could not be read (zeros in their "
                      f"place), e.g. {first}", CatalogWarning, stacklevel=2)
    return cat


def resolve_split(root: str | Path, split: str = "auto", labelled: bool = False) -> str:
    """The split a command works on: `split` itself unless it is "auto". Auto picks a single folder
    (images/ + one CSV) as "folder"; else Validation when it exists — and, with `labelled=True`
    (evaluate, audit without an answers file), only when its CSV carries the labels — else Train."""
    if split.lower() != "auto":
        return split
    found = list_splits(root)
    if not found:
        raise CatalogError(f"{root}: no catalog found (expected Train/ or Validation/ folders, "
                           f"or images/ + one CSV)")
    if found == ["folder"]:
        return "folder"
    if "Validation" in found and (not labelled or "Train" not in found or _has_labels(root, "Validation")):
        return "Validation"
    return "Train"


def _has_labels(root: str | Path, split: str) -> bool:
    """Whether the split's CSV has every target (an unreadable split counts as unlabelled)."""
    try:
        return read_catalog(root, split).has_labels(TARGETS)
    except CatalogError:
        return False
