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

Each photo ends in exactly one class, counted by `summary()`: labelled (an edit to learn from), or
a skip with its reason: reject, "As Shot" (the photographer did not set a white balance: not a
label), no develop settings, develop settings without a white balance, undecodable develop text,
file missing on disk. (Files that exist but cannot be decoded are counted by the import, which
decodes them.) Virtual copies are kept: each is its own edit of the same pixels, and `master`
names the photo it copies so validation keeps the two on one side.
"""
from __future__ import annotations

import sqlite3
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from catalog.errors import CatalogError

REQUIRED_TABLES = ("Adobe_images", "AgLibraryFile", "AgLibraryFolder", "AgLibraryRootFolder",
                   "Adobe_imageDevelopSettings", "AgHarvestedExifMetadata", "AgInternedExifCameraModel")

# Skip reasons (the summary lists each with its count).
REJECT = "rejected (pick = -1)"
AS_SHOT = "white balance As Shot (not an edit)"
NO_SETTINGS = "no develop settings"
NO_WB = "develop settings without Temperature/Tint"
BAD_TEXT = "develop settings cannot be decoded"
MISSING = "file missing on disk"

_QUERY = """
SELECT i.id_local, i.captureTime, i.pick, i.masterImage, i.copyName,
       f.baseName, f.extension, fo.pathFromRoot, r.absolutePath,
       e.aperture, e.shutterSpeed, e.isoSpeedRating, e.focalLength, e.flashFired, cm.value,
       d.text
FROM Adobe_images i
LEFT JOIN AgLibraryFile f ON f.id_local = i.rootFile
LEFT JOIN AgLibraryFolder fo ON fo.id_local = f.folder
LEFT JOIN AgLibraryRootFolder r ON r.id_local = fo.rootFolder
LEFT JOIN AgHarvestedExifMetadata e ON e.id_local =
    (SELECT max(id_local) FROM AgHarvestedExifMetadata WHERE image = i.id_local)
LEFT JOIN AgInternedExifCameraModel cm ON cm.id_local = e.cameraModelRef
LEFT JOIN Adobe_imageDevelopSettings d ON d.id_local =
    (SELECT max(id_local) FROM Adobe_imageDevelopSettings WHERE image = i.id_local)
ORDER BY i.id_local
"""


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


def decode_develop_text(value: bytes | str | None, where: str) -> str | None:
    """Adobe_imageDevelopSettings.text -> Lua text. Plain text is returned as is; the compressed form
    (4-byte length, big- or little-endian, then a zlib stream) is inflated and its length checked."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    data = bytes(value)
    if len(data) > 6 and data[4] & 0x0F == 8 and ((data[4] << 8) | data[5]) % 31 == 0:  # zlib header
        try:
            text = zlib.decompress(data[4:])
        except zlib.error as e:
            raise CatalogError(f"{where}: compressed develop settings are corrupt ({e})") from e
        if len(text) not in (struct.unpack(">I", data[:4])[0], struct.unpack("<I", data[:4])[0]):
            raise CatalogError(f"{where}: compressed develop settings hold {len(text)} bytes, the length prefix "
                               f"says {struct.unpack('>I', data[:4])[0]}")
        data = text
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


def relocate_root(root: str, relocate: tuple[str, str] | None) -> str:
    """A root folder's absolutePath with its start OLD replaced by NEW (photos moved to another drive
    or machine). Lightroom writes "/" in paths on every system, so a Windows catalog's
    "D:/Photos/" is relocated by ("D:/Photos/", "/mnt/photos/")."""
    if relocate and root.startswith(relocate[0]):
        return relocate[1] + root[len(relocate[0]):]
    return root


def _photo(row: tuple, catalog: Path, relocate: tuple[str, str] | None) -> tuple[LightroomPhoto, str | None]:
    """One query row -> (photo, develop text or the decode error message)."""
    (image, capture, _pick, master, copy_name, base, ext, folder, root,
     av, tv, iso, focal, flash, model, text) = row
    root = relocate_root(str(root or ""), relocate)
    path = Path(root) / str(folder or "") / (f"{base}.{ext}" if ext else str(base or ""))
    exif = {"aperture": av, "shutterSpeed": tv, "isoSpeedRating": iso, "focalLength": focal,
            "flashFired": flash, "camera_model": model}
    photo = LightroomPhoto(int(image), path, capture, int(master) if master else None, copy_name, exif, None)
    where = f"{catalog}: Adobe_imageDevelopSettings row of image {image} ({path.name}), column 'text'"
    try:
        lua_text = decode_develop_text(text, where)
        photo.settings = parse_develop_settings(lua_text, where) if lua_text is not None else None
        return photo, None
    except CatalogError as e:
        return photo, str(e)


def _label_class(photo: LightroomPhoto, error: str | None) -> tuple[str, str] | None:
    """(skip reason, detail) for a photo that is not a label, None for a labelled one."""
    if error is not None:
        return BAD_TEXT, error
    s = photo.settings
    if s is None:
        return NO_SETTINGS, ""
    if str(s.get("WhiteBalance", "")).lower() == "as shot":
        return AS_SHOT, ""
    if not (("Temperature" in s and "Tint" in s) or ("IncrementalTemperature" in s and "IncrementalTint" in s)):
        return NO_WB, f"WhiteBalance={s.get('WhiteBalance')!r}"
    keys = ("Temperature", "Tint") if "Temperature" in s else ("IncrementalTemperature", "IncrementalTint")
    bad = [k for k in keys if isinstance(s[k], bool) or not isinstance(s[k], (int, float))]
    if bad:
        return BAD_TEXT, f"image {photo.image} ({photo.path.name}): {bad[0]} = {s[bad[0]]!r} is not a number"
    return None


def read_lightroom(path: str | Path, include_rejects: bool = False,
                   relocate: tuple[str, str] | None = None) -> LightroomCatalog:
    """Every Adobe_images row of the catalog, sorted into labelled photos and counted skips.
    relocate: (OLD, NEW) start of the root folders' paths (see relocate_root)."""
    path = Path(path)
    db = connect_readonly(path)
    try:
        rows = db.execute(_QUERY).fetchall()
    except sqlite3.DatabaseError as e:
        raise CatalogError(f"{path}: cannot read the catalog's tables ({e})") from e
    finally:
        db.close()
    cat = LightroomCatalog(path)
    for row in rows:
        photo, error = _photo(row, path, relocate)
        if row[2] is not None and float(row[2]) < 0 and not include_rejects:
            cat.skip(photo, REJECT)
            continue
        why = _label_class(photo, error)
        if why is not None:
            cat.skip(photo, *why)
        elif not photo.path.is_file():
            cat.skip(photo, MISSING, str(photo.path))
        else:
            cat.photos.append(photo)
    return cat
