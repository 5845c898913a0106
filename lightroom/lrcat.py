"""Reading a Lightroom Classic catalog (.lrcat): each photo's file, EXIF and white-balance edit.

A .lrcat is a SQLite database. We open it read-only (SQLite URI `file:...?mode=ro`: no write, no
journal, no lock upgrade; a catalog is a photographer's life's work) and read:

    Adobe_images                 one row per photo; rootFile -> its file, masterImage set on a
                                 virtual copy, pick = -1 on a reject, captureTime
    AgLibraryFile -> AgLibraryFolder -> AgLibraryRootFolder
                                 the path: absolutePath + pathFromRoot + baseName.extension
    AgHarvestedExifMetadata      aperture and shutterSpeed as APEX values (Av = 2 log2 N,
                                 Tv = -log2 t, as in the real release's columns), ISO, focal
                                 length, flash; cameraModelRef -> AgInternedExifCameraModel.value
    Adobe_imageDevelopSettings   `text`: a Lua table `s = { WhiteBalance = "Custom", Temperature =
                                 5200, Tint = 8, ... }`, plain or (Lightroom Classic 13+)
                                 compressed: 4-byte length, then zlib. Parsed with slpp.
    Adobe_AdditionalMetadata     isRawFile: whether Lightroom treats the file as raw (absolute white
                                 balance) or rendered (relative sliders); without the table,
                                 Adobe_images.fileFormat (RAW, DNG / JPG, TIFF, PNG, HEIC, ...)

Streaming (iter_lightroom): the rows come one at a time from the SQLite cursor, so memory does not
grow with the catalog. Rejects are classified from `pick` and "As Shot" photos from the
whiteBalance column or a text search, before any develop text is parsed; a compressed text is
inflated no further than its length prefix says (zlib.decompressobj with max_length), so a crafted
row costs no more memory than it claims and is counted as undecodable.

Each photo ends in exactly one class, counted by `summary()`: labelled (an edit to learn from), or
a skip with its reason: reject, "As Shot" (the photographer did not set a white balance: not a
label), no develop settings, develop settings without a white balance, undecodable develop text,
file missing on disk. (Files that exist but cannot be decoded are counted by the import, which
decodes them.) Virtual copies are kept: each is its own edit of the same pixels, and `master`
names the photo it copies so validation keeps the two on one side.
"""
from __future__ import annotations

import re
import sqlite3
import struct
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

from core.errors import CatalogError
from lightroom.raw import is_raw

REQUIRED_TABLES = ("Adobe_images", "AgLibraryFile", "AgLibraryFolder", "AgLibraryRootFolder",
                   "Adobe_imageDevelopSettings", "AgHarvestedExifMetadata", "AgInternedExifCameraModel")

# Skip reasons (the summary lists each with its count).
REJECT = "rejected (pick = -1)"
AS_SHOT = "white balance As Shot (not an edit)"
NO_SETTINGS = "no develop settings"
NO_WB = "develop settings without Temperature/Tint"
BAD_TEXT = "develop settings cannot be decoded"
MISSING = "file missing on disk"

MAX_SETTINGS_BYTES = 64 << 20  # no develop text comes near this (masks included): a prefix above it is refused
RENDERED_FORMATS = ("JPG", "JPEG", "TIFF", "PNG", "HEIC", "HEIF", "PSD", "WEBP", "AVIF", "JXL")
RAW_FORMATS = ("RAW", "DNG")

_QUERY = """
SELECT i.id_local, i.captureTime, i.pick, i.masterImage, i.copyName,
       f.baseName, f.extension, fo.pathFromRoot, r.absolutePath,
       e.aperture, e.shutterSpeed, e.isoSpeedRating, e.focalLength, e.flashFired, cm.value,
       {white_balance}, d.text, {file_format}, {is_raw}
FROM Adobe_images i
LEFT JOIN AgLibraryFile f ON f.id_local = i.rootFile
LEFT JOIN AgLibraryFolder fo ON fo.id_local = f.folder
LEFT JOIN AgLibraryRootFolder r ON r.id_local = fo.rootFolder
LEFT JOIN (SELECT image, max(id_local) AS last FROM AgHarvestedExifMetadata GROUP BY image) le
    ON le.image = i.id_local
LEFT JOIN AgHarvestedExifMetadata e ON e.id_local = le.last
LEFT JOIN AgInternedExifCameraModel cm ON cm.id_local = e.cameraModelRef
LEFT JOIN (SELECT image, max(id_local) AS last FROM Adobe_imageDevelopSettings GROUP BY image) ld
    ON ld.image = i.id_local
LEFT JOIN Adobe_imageDevelopSettings d ON d.id_local = ld.last
{additional}
{where}
ORDER BY i.id_local
"""
WB_KEYS = ("WhiteBalance", "Temperature", "Tint", "IncrementalTemperature", "IncrementalTint")
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_BRACES = re.compile(_STRING + r"|--[^\n]*|[{}]")
_WB_VALUE = re.compile(_STRING + r"|\b(" + "|".join(WB_KEYS) + r")\s*=\s*(" + _STRING + r"|[^,;\s}]+)")
_INT = re.compile(r"^-?[0-9]+$")


@dataclass
class LightroomPhoto:
    """One Adobe_images row. exif: APEX aperture/shutter, ISO, focal length, flash, camera model.
    settings: the parsed develop settings (None when absent or undecodable)."""
    image: int  # Adobe_images.id_local
    path: Path
    capture_time: str | None
    master: int | None  # id_local of the master photo for a virtual copy
    copy_name: str | None
    exif: dict
    settings: dict | None
    raw: bool | None = None  # the catalog's word on raw (absolute WB) or rendered; None: not recorded
    as_shot: tuple[float, float] | None = None  # an As Shot photo: Lightroom's own as-shot Temperature/Tint

    @property
    def absolute(self) -> bool:
        """Raw (absolute white balance) or rendered (relative sliders): the catalog's word, else the extension."""
        return is_raw(self.path) if self.raw is None else self.raw


@dataclass
class LightroomCatalog:
    path: Path
    photos: list[LightroomPhoto] = field(default_factory=list)  # labelled: Temperature/Tint or increments
    skipped: list[dict] = field(default_factory=list)  # {image, path, reason, detail}

    def skip(self, photo: LightroomPhoto, reason: str, detail: str = "") -> None:
        self.skipped.append({"image": photo.image, "path": str(photo.path), "reason": reason, "detail": detail})

    def summary(self) -> dict[str, int]:
        """reason -> count, "labelled" first; the counts add up to every Adobe_images row."""
        out = {"labelled": len(self.photos)}
        for s in self.skipped:
            out[s["reason"]] = out.get(s["reason"], 0) + 1
        return out


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open a SQLite file read-only through the URI form (mode=ro): SQLite itself refuses writes."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: Lightroom catalog not found")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise CatalogError(f"{path}: not a readable SQLite database ({e}); expected a Lightroom Classic .lrcat "
                           f"(if Lightroom has it open, quit Lightroom first)") from e
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        db.close()
        raise CatalogError(f"{path}: not a Lightroom Classic catalog: table(s) {', '.join(missing)} missing")
    return db


def _is_zlib(data: bytes) -> bool:
    return len(data) > 6 and data[4] & 0x0F == 8 and ((data[4] << 8) | data[5]) % 31 == 0


def inflate_settings(data: bytes, where: str) -> bytes:
    """Lightroom Classic 13's compressed develop text (4-byte length, big- or little-endian, then
    zlib) -> the text's bytes. Inflates at most the length the prefix gives (the smaller reading of
    its two byte orders: the other is a huge number), so a stream that would inflate further costs
    no more memory than its prefix allows: CatalogError, like a corrupt stream or a short one."""
    be, le = struct.unpack(">I", data[:4])[0], struct.unpack("<I", data[:4])[0]
    expected = min(be, le)
    if expected > MAX_SETTINGS_BYTES:
        raise CatalogError(f"{where}: compressed develop settings claim {expected:,} bytes (more than "
                           f"{MAX_SETTINGS_BYTES:,}); not inflated")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data[4:], expected + 1)  # one byte more tells "longer than its prefix"
    except zlib.error as e:
        raise CatalogError(f"{where}: compressed develop settings are corrupt ({e})") from e
    if len(text) > expected:
        raise CatalogError(f"{where}: compressed develop settings inflate beyond the {expected:,} bytes their "
                           f"length prefix says; stopped there")
    if not inflater.eof and len(text) < expected:
        raise CatalogError(f"{where}: compressed develop settings are corrupt (the stream ends after "
                           f"{len(text):,} of {expected:,} bytes)")
    if len(text) != expected:
        raise CatalogError(f"{where}: compressed develop settings hold {len(text):,} bytes, the length prefix "
                           f"says {expected:,}")
    return text


def develop_bytes(value: bytes | str | None, where: str) -> bytes | None:
    """Adobe_imageDevelopSettings.text -> the Lua text's bytes (inflated when compressed)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    data = bytes(value)
    return inflate_settings(data, where) if _is_zlib(data) else data


def decode_develop_text(value: bytes | str | None, where: str) -> str | None:
    """Adobe_imageDevelopSettings.text -> Lua text. Plain text is returned as is; the compressed form
    is inflated (inflate_settings) and its length checked."""
    if isinstance(value, str):
        return value
    data = develop_bytes(value, where)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CatalogError(f"{where}: develop settings are neither text nor length+zlib data ({e})") from e


def parse_develop_settings(text: str, where: str) -> dict:
    """`s = { Key = value, ... }` -> dict, with slpp (a Lua table parser)."""
    from slpp import slpp as lua

    body = text.strip()
    if body.startswith("s") and "=" in body[:8]:  # the assignment `s = ` in front of the table
        body = body.split("=", 1)[1].strip()
    if not body.startswith("{"):
        raise CatalogError(f"{where}: develop settings are not a Lua table (start: {text[:40]!r})")
    try:
        value = lua.decode(body)
    except Exception as e:  # slpp raises bare Exceptions / ParseErrors on malformed input
        raise CatalogError(f"{where}: develop settings cannot be parsed as a Lua table ({e})") from e
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: develop settings cannot be parsed as a Lua table (start: {text[:40]!r})")
    return value


def _lua_scalar(token: str) -> object:
    """One Lua scalar as Python: a quoted string, true/false, an integer or a float; anything else
    is kept as its text (a caller's number check then names it)."""
    if token[:1] in ("'", '"'):
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"
    try:
        return int(token) if _INT.match(token) else float(token)
    except ValueError:
        return token


def white_balance_of(text: str, where: str) -> dict:
    """The white-balance keys (WB_KEYS) at the top level of a develop-settings table, without
    parsing the rest: the import needs nothing else, and a full parse (slpp, pure Python) costs
    about 7 ms per 3 KB text, minutes for a large catalog. A scan finds the table's top level
    (braces outside strings and comments) and reads the keys there, so a Temperature inside a
    nested table (a preset, a local correction) is not taken. CatalogError when the text is not one
    balanced table (a truncated text)."""
    body = text.strip()
    if body.startswith("s") and "=" in body[:8]:
        body = body.split("=", 1)[1].strip()
    if not body.startswith("{"):
        raise CatalogError(f"{where}: develop settings are not a Lua table (start: {text[:40]!r})")
    depth, start, top, end = 0, 0, [], None
    for m in _BRACES.finditer(body):
        tok = m.group()
        if tok not in ("{", "}"):
            continue
        if tok == "{":
            if depth == 1:
                top.append(body[start:m.start()])
            depth += 1
            start = m.end() if depth == 1 else start
        else:
            depth -= 1
            if depth == 1:
                start = m.end()
            elif depth == 0:
                top.append(body[start:m.start()])
                end = m.end()
                break
    if end is None or body[end:].strip():
        raise CatalogError(f"{where}: develop settings cannot be parsed as a Lua table (its braces do not close: "
                           f"truncated?)")
    found = {}
    for m in _WB_VALUE.finditer("\n".join(top)):
        if m.group(1):
            found[m.group(1)] = _lua_scalar(m.group(2))
    return found


def relocate_root(root: str, relocate: tuple[str, str] | None) -> str:
    """A root folder's absolutePath with its start OLD replaced by NEW (photos moved to another drive
    or machine). Lightroom writes "/" in paths on every system, so a Windows catalog's
    "D:/Photos/" is relocated by ("D:/Photos/", "/mnt/photos/")."""
    if relocate and root.startswith(relocate[0]):
        return relocate[1] + root[len(relocate[0]):]
    return root


def _raw_flag(file_format: object, is_raw: object) -> bool | None:
    """Raw or rendered as the catalog records it: Adobe_AdditionalMetadata.isRawFile, else the
    image's fileFormat; None when neither says."""
    if is_raw in (0, 1):
        return bool(is_raw)
    fmt = str(file_format or "").upper()
    return True if fmt in RAW_FORMATS else False if fmt in RENDERED_FORMATS else None


def _photo(row: tuple, relocate: tuple[str, str] | None) -> LightroomPhoto:
    """One query row -> the photo, its develop settings not yet read."""
    (image, capture, _pick, master, copy_name, base, ext, folder, root,
     av, tv, iso, focal, flash, model, _wb, _text, file_format, is_raw) = row
    root = relocate_root(str(root or ""), relocate)
    path = Path(root) / str(folder or "") / (f"{base}.{ext}" if ext else str(base or ""))
    exif = {"aperture": av, "shutterSpeed": tv, "isoSpeedRating": iso, "focalLength": focal,
            "flashFired": flash, "camera_model": model}
    return LightroomPhoto(int(image), path, capture, int(master) if master else None, copy_name, exif, None,
                          _raw_flag(file_format, is_raw))


def _stored_as_shot(wb: dict) -> tuple[float, float] | None:
    """Temperature/Tint an As Shot photo's settings hold: Lightroom's own as-shot values."""
    t, tint = wb.get("Temperature"), wb.get("Tint")
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (t, tint))
    return (float(t), float(tint)) if ok else None


def _classify(photo: LightroomPhoto, row: tuple, catalog: Path,
              include_rejects: bool) -> tuple[LightroomPhoto, tuple[str, str] | None]:
    """(the photo with its white-balance settings or stored as-shot, (skip reason, detail) or None
    for a labelled one). A reject never has its text read; an As Shot photo (the whiteBalance
    column, else the text) and every other is only scanned for its white balance (white_balance_of)."""
    pick, white_balance, text = row[2], row[15], row[16]
    if pick is not None and float(pick) < 0 and not include_rejects:
        return photo, (REJECT, "")
    if text is None:
        return photo, (NO_SETTINGS, "")
    where = f"{catalog}: Adobe_imageDevelopSettings row of image {photo.image} ({photo.path.name}), column 'text'"
    try:
        wb = white_balance_of(decode_develop_text(develop_bytes(text, where), where), where)
        if white_balance == "As Shot" or wb.get("WhiteBalance") == "As Shot":
            return replace(photo, as_shot=_stored_as_shot(wb)), (AS_SHOT, "")
        photo = replace(photo, settings=wb)
    except CatalogError as e:
        return photo, (BAD_TEXT, str(e))
    return photo, _wb_problem(photo)


def _wb_problem(photo: LightroomPhoto) -> tuple[str, str] | None:
    s = photo.settings
    if str(s.get("WhiteBalance", "")).lower() == "as shot":
        return AS_SHOT, ""
    if not (("Temperature" in s and "Tint" in s) or ("IncrementalTemperature" in s and "IncrementalTint" in s)):
        return NO_WB, f"WhiteBalance={s.get('WhiteBalance')!r}"
    keys = ("Temperature", "Tint") if "Temperature" in s else ("IncrementalTemperature", "IncrementalTint")
    bad = [k for k in keys if isinstance(s[k], bool) or not isinstance(s[k], (int, float))]
    if bad:
        return BAD_TEXT, f"image {photo.image} ({photo.path.name}): {bad[0]} = {s[bad[0]]!r} is not a number"
    return None


def _query(db: sqlite3.Connection, masters_only: bool) -> str:
    """_QUERY for this catalog: Adobe_AdditionalMetadata and the whiteBalance column are used when there."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    dev_cols = {r[1] for r in db.execute("PRAGMA table_info(Adobe_imageDevelopSettings)")}
    img_cols = {r[1] for r in db.execute("PRAGMA table_info(Adobe_images)")}
    extra = "Adobe_AdditionalMetadata" in tables and "isRawFile" in {
        r[1] for r in db.execute("PRAGMA table_info(Adobe_AdditionalMetadata)")}
    return _QUERY.format(
        white_balance="d.whiteBalance" if "whiteBalance" in dev_cols else "NULL",
        file_format="i.fileFormat" if "fileFormat" in img_cols else "NULL",
        is_raw="am.isRawFile" if extra else "NULL",
        additional=("LEFT JOIN (SELECT image, max(id_local) AS last FROM Adobe_AdditionalMetadata GROUP BY image) la "
                    "ON la.image = i.id_local LEFT JOIN Adobe_AdditionalMetadata am ON am.id_local = la.last")
        if extra else "",
        where="WHERE i.masterImage IS NULL" if masters_only else "")


def _rows(path: Path, masters_only: bool = False):
    """The query's rows, one at a time from the cursor (the connection closes when they run out).
    The latest EXIF/settings row per image comes from grouped subqueries joined on image, not from a
    subquery per row: without an index on `image` (a read-only catalog cannot be given one) the
    per-row form is quadratic, 38 s for 10k photos."""
    db = connect_readonly(path)
    try:
        cursor = db.execute(_query(db, masters_only))
        while True:
            rows = cursor.fetchmany(256)
            if not rows:
                return
            yield from rows
    except sqlite3.DatabaseError as e:
        raise CatalogError(f"{path}: cannot read the catalog's tables ({e})") from e
    finally:
        db.close()


def iter_lightroom(path: str | Path, include_rejects: bool = False, relocate: tuple[str, str] | None = None):
    """Every Adobe_images row in id_local order as (photo, skip reason or None, detail), one at a
    time: memory stays flat however large the catalog. relocate: see relocate_root."""
    path = Path(path)
    for row in _rows(path):
        photo, why = _classify(_photo(row, relocate), row, path, include_rejects)
        if why is None and not photo.path.is_file():
            why = (MISSING, str(photo.path))
        yield (photo, None, "") if why is None else (photo, *why)


def read_lightroom(path: str | Path, include_rejects: bool = False,
                   relocate: tuple[str, str] | None = None) -> LightroomCatalog:
    """Every Adobe_images row of the catalog, sorted into labelled photos and counted skips (a list:
    for small catalogs and tests; the import streams iter_lightroom)."""
    cat = LightroomCatalog(Path(path))
    for photo, reason, detail in iter_lightroom(path, include_rejects, relocate):
        if reason is None:
            cat.photos.append(photo)
        else:
            cat.skip(photo, reason, detail)
    return cat


@dataclass
class CatalogSettings:
    """One photo's develop settings as apply needs them. settings: None when the catalog has none
    for it or they cannot be decoded (error says why)."""
    image: int
    settings: dict | None
    raw: bool | None
    error: str = ""


def develop_settings_of(path: str | Path, files: list[Path],
                        relocate: tuple[str, str] | None = None) -> dict[Path, CatalogSettings]:
    """file -> its master photo's develop settings, for the given files only (matched by resolved
    path; virtual copies are left out: the file's XMP belongs to the master)."""
    path = Path(path)
    wanted = {Path(f).resolve(): Path(f) for f in files}
    out: dict[Path, CatalogSettings] = {}
    for row in _rows(path, masters_only=True):
        photo = _photo(row, relocate)
        key = photo.path.resolve()
        if key not in wanted:
            continue
        where = f"{path}: Adobe_imageDevelopSettings row of image {photo.image} ({photo.path.name}), column 'text'"
        try:
            text = decode_develop_text(row[16], where)
            settings = parse_develop_settings(text, where) if text is not None else None
            out[wanted[key]] = CatalogSettings(photo.image, settings, photo.raw, "" if settings else NO_SETTINGS)
        except CatalogError as e:
            out[wanted[key]] = CatalogSettings(photo.image, None, photo.raw, str(e))
    return out


def image_names(path: str | Path):
    """(id_local, masterImage, file base name, captureTime of a photo that has virtual copies) for
    every Adobe_images row, one at a time: the small first pass that names photos before the import
    streams them (a copy needs its master's name and capture time)."""
    db = connect_readonly(path)
    try:
        yield from db.execute(
            "SELECT i.id_local, i.masterImage, f.baseName, CASE WHEN c.m IS NOT NULL THEN i.captureTime END "
            "FROM Adobe_images i LEFT JOIN AgLibraryFile f ON f.id_local = i.rootFile "
            "LEFT JOIN (SELECT DISTINCT masterImage AS m FROM Adobe_images WHERE masterImage IS NOT NULL) c "
            "ON c.m = i.id_local ORDER BY i.id_local")
    except sqlite3.DatabaseError as e:
        raise CatalogError(f"{path}: cannot read the catalog's tables ({e})") from e
    finally:
        db.close()
