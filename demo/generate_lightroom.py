"""Demo Lightroom setup: the demo photos as a photographer's folders of DNGs and JPEGs plus a .lrcat.

`cli.py demo --lightroom` needs what a Lightroom user has, built offline from the demo generator
(demo.generate: simulated shoots, cameras and a consistent photographer style):

    OUT/Photos/<shoot date>/<stem>.dng|.jpg   the edited photos (Train split of the demo)
    OUT/Catalog/Demo.lrcat                    Lightroom Classic catalog holding their edits
    OUT/New shoot/<stem>.dng|.jpg             unedited photos to predict (Validation split)
    OUT/answers.csv                           the hidden edits of the new shoot

How the files are made:
* DNG: the demo's as-shot render is taken back to linear camera RGB through the camera's colour
  matrix and the as-shot neutral, then mosaiced (RGGB, 12 bit) and written with tifffile as a
  CFA DNG (ColorMatrix1/2 under illuminants A and D65, AsShotNeutral). The neutral is computed
  from the demo's as-shot (currTemp, currTint) through lightroom.raw, so decoding the DNG gives back
  that white balance, and LibRaw's as-shot render gives back (about) the demo render.
* JPEG: the demo render, with EXIF (Pillow). Its edit is stored as Lightroom stores edits of
  rendered files, IncrementalTemperature/IncrementalTint (see lightroom.xmp for the mapping).
* The catalog: the real tables and columns (Adobe_images, AgLibraryFile/Folder/RootFolder,
  Adobe_imageDevelopSettings with Lua-table text, half of it compressed as Lightroom Classic 13
  does, AgHarvestedExifMetadata with APEX aperture/shutter, AgInternedExifCameraModel), plus what a
  real catalog has: a few virtual copies with their own edit, rejects, "As Shot" photos.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from core import wb
from demo.generate import make_demo_catalog
from lightroom.raw import CameraColour, xy_to_neutral
from lightroom.xmp import RELATIVE_TEMP, RELATIVE_TINT, temp_tint_to_incremental

# Adobe_imageDevelopSettings etc.: the columns of a Lightroom Classic 13 catalog that wbstyle reads,
# with their real names (a real catalog has more columns and tables; the reader ignores them).
LRCAT_SCHEMA = """
CREATE TABLE AgLibraryRootFolder (id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
    absolutePath UNIQUE NOT NULL DEFAULT '', name NOT NULL DEFAULT '', relativePathFromCatalog);
CREATE TABLE AgLibraryFolder (id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL, parentId INTEGER,
    pathFromRoot NOT NULL DEFAULT '', rootFolder INTEGER NOT NULL DEFAULT 0, visibility INTEGER);
CREATE TABLE AgLibraryFile (id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
    baseName NOT NULL DEFAULT '', errorMessage, errorTime, extension NOT NULL DEFAULT '', externalModTime,
    folder INTEGER NOT NULL DEFAULT 0, idx_filename NOT NULL DEFAULT '', importHash,
    lc_idx_filename NOT NULL DEFAULT '', lc_idx_filenameExtension NOT NULL DEFAULT '', md5, modTime,
    originalFilename NOT NULL DEFAULT '', sidecarExtensions);
CREATE TABLE Adobe_images (id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
    aspectRatioCache NOT NULL DEFAULT -1, bitDepth NOT NULL DEFAULT 0, captureTime,
    colorChannels NOT NULL DEFAULT 0, colorLabels NOT NULL DEFAULT '', colorMode NOT NULL DEFAULT -1,
    copyCreationTime NOT NULL DEFAULT -63113817600, copyName, copyReason, developSettingsIDCache,
    editLock INTEGER NOT NULL DEFAULT 0, fileFormat NOT NULL DEFAULT 'unset', fileHeight, fileWidth,
    hasMissingSidecars INTEGER, masterImage INTEGER, orientation, originalCaptureTime,
    originalRootEntity INTEGER, panningDistanceH, panningDistanceV, pick NOT NULL DEFAULT 0,
    positionInFolder NOT NULL DEFAULT 'z', propertiesCache, pyramidIDCache, rating,
    rootFile INTEGER NOT NULL DEFAULT 0, sidecarStatus, touchCount NOT NULL DEFAULT 0,
    touchTime NOT NULL DEFAULT 0);
CREATE TABLE Adobe_imageDevelopSettings (id_local INTEGER PRIMARY KEY, allowFastRender INTEGER,
    beforeSettingsIDCache, croppedHeight, croppedWidth, digest, fileHeight, fileWidth, filterHeight,
    filterWidth, grayscale INTEGER, hasAIMasks INTEGER NOT NULL DEFAULT 0, hasBigData INTEGER NOT NULL DEFAULT 0,
    hasDevelopAdjustments INTEGER, hasDevelopAdjustmentsEx, hasLensBlur INTEGER NOT NULL DEFAULT 0,
    hasMasks INTEGER NOT NULL DEFAULT 0, hasPointColor INTEGER NOT NULL DEFAULT 0, hasRetouch, hasSettings1,
    hasSettings2, historySettingsID, image INTEGER, isHdrEditMode INTEGER NOT NULL DEFAULT 0, processVersion,
    profileCorrections, removeChromaticAberration, settingsID, snapshotID, text, validatedForVersion,
    whiteBalance);
CREATE TABLE AgHarvestedExifMetadata (id_local INTEGER PRIMARY KEY, image INTEGER, aperture,
    cameraModelRef INTEGER, cameraSNRef INTEGER, dateDay, dateMonth, dateYear, flashFired INTEGER,
    focalLength, gpsLatitude, gpsLongitude, gpsSequence NOT NULL DEFAULT 0, hasGPS INTEGER,
    isoSpeedRating, lensRef INTEGER, shutterSpeed);
CREATE TABLE AgInternedExifCameraModel (id_local INTEGER PRIMARY KEY, searchIndex, value);
CREATE TABLE Adobe_AdditionalMetadata (id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
    additionalInfoSet INTEGER NOT NULL DEFAULT 0, embeddedXmp INTEGER NOT NULL DEFAULT 0,
    externalXmpIsDirty INTEGER NOT NULL DEFAULT 0, image INTEGER,
    incrementalWhiteBalance INTEGER NOT NULL DEFAULT 0, internalXmpDigest, isRawFile INTEGER NOT NULL DEFAULT 0,
    lastSynchronizedHash, lastSynchronizedTimestamp NOT NULL DEFAULT -63113817600, metadataPresetID,
    metadataVersion, monochrome INTEGER NOT NULL DEFAULT 0, xmp NOT NULL DEFAULT '');
"""

# Demo cameras (demo.generate.CAMERAS): XYZ->camera matrices under D65 (dcraw/LibRaw adobe_coeff
# values for these models, /10000) and a tungsten (illuminant A) matrix made from it with a fixed
# tilt, so the CCT interpolation of lightroom.raw has two different matrices to work on.
CAMERA_D65 = {
    "Canon EOS R6": (8293, -1611, -1132, -4759, 12711, 2275, -1013, 2415, 5509),
    "Canon EOS 5D Mark IV": (6446, -366, -864, -4436, 12204, 2513, -952, 2496, 6348),
    "NIKON Z 6": (8210, -2534, -683, -5355, 13338, 2212, -1143, 1929, 6464),
    "NIKON D750": (9020, -2890, -715, -4535, 12436, 2348, -934, 1919, 7086),
}
_TILT_A = np.array([[1.08, 0.02, -0.03], [0.01, 0.97, 0.02], [-0.02, 0.03, 0.88]])
DNG_WHITE = 4095


def camera_colour(model: str, neutral=(1.0, 1.0, 1.0)) -> CameraColour:
    """The demo camera's two matrices (illuminant A = 2850 K, D65 = 6500 K) and a neutral."""
    d65 = np.array(CAMERA_D65.get(model, CAMERA_D65["Canon EOS R6"]), np.float64).reshape(3, 3) / 10000.0
    return CameraColour((_TILT_A @ d65, d65), (2850.0, 6500.0), np.asarray(neutral, np.float64))


def _srational(values, den: int = 1_000_000) -> list[int]:
    out: list[int] = []
    for v in np.ravel(values):
        out += [int(round(float(v) * den)), den]
    return out


def write_dng(path: str | Path, render: np.ndarray, model: str, temp: float, tint: float,
              exif: dict | None = None) -> Path:
    """Write `render` ((H, W, 3) uint8 sRGB as shot) as a CFA DNG of camera `model` whose as-shot
    white balance is (temp, tint). LibRaw's as-shot render of it is about `render` again.

    Raw = neutral * (camera RGB of the linear sRGB pixel, rows normalised so sRGB white -> camera
    white): LibRaw divides by the neutral and applies the inverse, which undoes both."""
    x, y = wb.temp_tint_to_xy(temp, tint)
    colour = camera_colour(model)
    neutral = xy_to_neutral(colour, float(x), float(y))
    neutral = neutral / neutral.max()  # the brightest channel's multiplier is 1: no highlight clipping
    cam_rgb = colour.matrices[1] @ wb.SRGB_TO_XYZ
    cam_rgb = cam_rgb / cam_rgb.sum(1, keepdims=True)
    lin = wb.srgb_to_linear(np.asarray(render, np.uint8)).astype(np.float64)  # (H, W, 3)
    cam = np.clip(lin @ cam_rgb.T, 0.0, 1.0) * neutral
    h, w = (cam.shape[0] // 2) * 2, (cam.shape[1] // 2) * 2
    cfa = np.empty((h, w), np.uint16)  # RGGB
    cfa[0::2, 0::2] = np.rint(cam[0:h:2, 0:w:2, 0] * DNG_WHITE)
    cfa[0::2, 1::2] = np.rint(cam[0:h:2, 1:w:2, 1] * DNG_WHITE)
    cfa[1::2, 0::2] = np.rint(cam[1:h:2, 0:w:2, 1] * DNG_WHITE)
    cfa[1::2, 1::2] = np.rint(cam[1:h:2, 1:w:2, 2] * DNG_WHITE)
    make = model.split()[0]
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (50707, "B", 4, (1, 1, 0, 0), True),
            (50708, "s", 0, f"{make} {model}", True), (33421, "H", 2, (2, 2), True),
            (33422, "B", 4, (0, 1, 1, 2), True),
            (50721, "2i", 9, _srational(colour.matrices[0]), True),
            (50722, "2i", 9, _srational(colour.matrices[1]), True),
            (50778, "H", 1, 17, True), (50779, "H", 1, 21, True),
            (50728, "2I", 3, _srational(neutral), True), (50714, "H", 1, 0, True), (50717, "H", 1, DNG_WHITE, True),
            (271, "s", 0, make, True), (272, "s", 0, model, True)]
    tags += _exif_tags(exif or {})
    path = Path(path)
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags, subfiletype=0, metadata=None)
    return path


def _exif_tags(exif: dict) -> list[tuple]:
    """EXIF fields as IFD0 TIFF tags (exiftool and LibRaw read them there too)."""
    tags = []
    if "shutter" in exif:
        tags.append((33434, "2I", 1, _srational([exif["shutter"]]), True))  # ExposureTime (s)
    if "aperture" in exif:
        tags.append((33437, "2I", 1, _srational([exif["aperture"]], 100), True))  # FNumber
    if "iso" in exif:
        tags.append((34855, "H", 1, int(exif["iso"]), True))
    if "focal" in exif:
        tags.append((37386, "2I", 1, _srational([exif["focal"]], 100), True))
    if "flash" in exif:
        tags.append((37385, "H", 1, 1 if exif["flash"] else 16, True))  # fired / did not fire
    if "time" in exif:
        tags.append((36867, "s", 0, exif["time"].strftime("%Y:%m:%d %H:%M:%S"), True))
    return tags


def write_jpeg(path: str | Path, render: np.ndarray, model: str, exif: dict | None = None) -> Path:
    """The render as a JPEG (quality 92) with the EXIF a camera writes."""
    im = Image.fromarray(np.asarray(render, np.uint8), "RGB")
    ex = Image.Exif()
    ex[271], ex[272] = model.split()[0], model
    sub = ex.get_ifd(0x8769)
    e = exif or {}
    if "shutter" in e:
        sub[33434] = float(e["shutter"])
    if "aperture" in e:
        sub[33437] = float(e["aperture"])
    if "iso" in e:
        sub[34855] = int(e["iso"])
    if "focal" in e:
        sub[37386] = float(e["focal"])
    if "flash" in e:
        sub[37385] = 1 if e["flash"] else 16
    if "time" in e:
        sub[36867] = e["time"].strftime("%Y:%m:%d %H:%M:%S")
    path = Path(path)
    im.save(path, quality=92, exif=ex)
    return path


# ----------------------------------------------------------------------------------------------
# The catalog.
# ----------------------------------------------------------------------------------------------
def develop_text(settings: dict) -> str:
    """A develop-settings Lua table as Lightroom writes it: `s = { Key = value, ... }` (values,
    nested tables included, encoded by slpp)."""
    from slpp import slpp as lua

    body = "".join(f"\t{k} = {lua.encode(v)},\n" for k, v in settings.items())
    return "s = {\n" + body + "}\n"


def compress_text(text: str) -> bytes:
    """Lightroom Classic 13's compressed form: 4-byte big-endian length of the text, then zlib."""
    data = text.encode("utf-8")
    return struct.pack(">I", len(data)) + zlib.compress(data)


class LrcatWriter:
    """Builds a .lrcat with the real tables; each add_* returns the new row's id_local."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(LRCAT_SCHEMA)
        self._next = 100
        self._models: dict[str, int] = {}

    def _id(self) -> int:  # Lightroom numbers id_local across all tables
        self._next += 1
        return self._next

    def add_root(self, folder: Path) -> int:
        i = self._id()
        absolute = str(Path(folder).resolve()).rstrip("/") + "/"
        self.db.execute("INSERT INTO AgLibraryRootFolder (id_local, id_global, absolutePath, name) VALUES (?,?,?,?)",
                        (i, f"R{i}", absolute, Path(folder).name))
        return i

    def add_folder(self, root: int, path_from_root: str) -> int:
        i = self._id()
        self.db.execute("INSERT INTO AgLibraryFolder (id_local, id_global, pathFromRoot, rootFolder) VALUES (?,?,?,?)",
                        (i, f"F{i}", path_from_root, root))
        return i

    def add_file(self, folder: int, name: str) -> int:
        i = self._id()
        base, _, ext = name.rpartition(".")
        self.db.execute("INSERT INTO AgLibraryFile (id_local, id_global, baseName, extension, folder, idx_filename, "
                        "lc_idx_filename, originalFilename) VALUES (?,?,?,?,?,?,?,?)",
                        (i, f"L{i}", base, ext, folder, name, name.lower(), name))
        return i

    def add_image(self, file: int, capture: str | None, *, pick: int = 0, master: int | None = None,
                  copy_name: str | None = None, file_format: str | None = None) -> int:
        """file_format: Adobe_images.fileFormat; None = what Lightroom records for the file's extension."""
        i = self._id()
        if file_format is None:
            ext = (self.db.execute("SELECT extension FROM AgLibraryFile WHERE id_local=?", (file,)).fetchone()
                   or ("",))[0].upper()
            file_format = {"DNG": "DNG", "JPG": "JPG", "JPEG": "JPG", "TIF": "TIFF", "TIFF": "TIFF", "PNG": "PNG",
                           "HEIC": "HEIC", "PSD": "PSD"}.get(ext, "RAW")
        self.db.execute("INSERT INTO Adobe_images (id_local, id_global, captureTime, pick, masterImage, copyName, "
                        "fileFormat, rootFile) VALUES (?,?,?,?,?,?,?,?)",
                        (i, f"I{i}", capture, pick, master, copy_name, file_format, file))
        return i

    def add_virtual_copy(self, master: int, copy_name: str) -> int:
        """A virtual copy: a new Adobe_images row on the master's file, masterImage = master."""
        file, capture, fmt = self.db.execute("SELECT rootFile, captureTime, fileFormat FROM Adobe_images "
                                             "WHERE id_local=?", (master,)).fetchone()
        return self.add_image(file, capture, master=master, copy_name=copy_name, file_format=fmt)

    def add_develop(self, image: int, settings: dict | str | bytes, compressed: bool = False) -> int:
        i = self._id()
        text = develop_text(settings) if isinstance(settings, dict) else settings
        value = compress_text(text) if compressed and isinstance(text, str) else text
        white_balance = settings.get("WhiteBalance") if isinstance(settings, dict) else None  # as Lightroom fills it
        self.db.execute("INSERT INTO Adobe_imageDevelopSettings (id_local, image, text, processVersion, whiteBalance) "
                        "VALUES (?,?,?,?,?)", (i, image, value, "15.4", white_balance))
        return i

    def add_additional(self, image: int, is_raw: bool) -> int:
        """Adobe_AdditionalMetadata: whether Lightroom treats the photo as raw (absolute white balance)."""
        i = self._id()
        self.db.execute("INSERT INTO Adobe_AdditionalMetadata (id_local, id_global, image, isRawFile, "
                        "incrementalWhiteBalance) VALUES (?,?,?,?,?)",
                        (i, f"A{i}", image, int(is_raw), int(not is_raw)))
        return i

    def add_exif(self, image: int, model: str, *, aperture_apex: float, shutter_apex: float, iso: float,
                 focal: float, flash: bool) -> int:
        if model not in self._models:
            self._models[model] = self._id()
            self.db.execute("INSERT INTO AgInternedExifCameraModel (id_local, searchIndex, value) VALUES (?,?,?)",
                            (self._models[model], model.lower(), model))
        i = self._id()
        self.db.execute("INSERT INTO AgHarvestedExifMetadata (id_local, image, aperture, cameraModelRef, flashFired, "
                        "focalLength, isoSpeedRating, shutterSpeed) VALUES (?,?,?,?,?,?,?,?)",
                        (i, image, aperture_apex, self._models[model], int(flash), focal, iso, shutter_apex))
        return i

    def close(self) -> None:
        self.db.commit()
        self.db.close()


def _exif_of(row) -> dict:
    return {"shutter": float(row.shutterSpeed), "aperture": float(row.aperture), "iso": float(row.isoSpeedRating),
            "focal": float(row.focalLength), "flash": bool(row.flashFired),
            "time": dt.datetime.fromisoformat(str(row.captureTime))}


def _write_photo(folder: Path, row, render: np.ndarray, as_dng: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"IMG_{row.id_global[:8].upper()}"
    if as_dng:
        return write_dng(folder / f"{stem}.dng", render, row.camera_model, row.currTemp, row.currTint, _exif_of(row))
    return write_jpeg(folder / f"{stem}.jpg", render, row.camera_model, _exif_of(row))


def relative_edit(curr_temp: float, curr_tint: float, temp: float, tint: float) -> tuple[float, float]:
    """A rendered file's edit on the reference scale of lightroom.xmp (as shot = 5500 K, tint 0):
    the same shift from as-shot, in mired and tint, as the demo's absolute edit."""
    shift = wb.kelvin_to_mired(curr_temp) - wb.kelvin_to_mired(temp)
    return float(wb.mired_to_kelvin(wb.kelvin_to_mired(RELATIVE_TEMP) - shift)), float(tint - curr_tint + RELATIVE_TINT)


def _edit_settings(row, is_jpeg: bool, as_shot: bool) -> dict:
    """Develop settings of one demo edit (plus unrelated sliders, as a real catalog has)."""
    s = {"ProcessVersion": "15.4", "Exposure2012": 0.35, "Contrast2012": 12, "Vibrance": 8}
    if as_shot and is_jpeg:
        s["WhiteBalance"] = "As Shot"
    elif as_shot:  # Lightroom stores the as-shot it computed with an As Shot photo's settings
        s.update(WhiteBalance="As Shot", Temperature=int(round(row.currTemp)), Tint=int(round(row.currTint)))
    elif is_jpeg:
        rel = relative_edit(row.currTemp, row.currTint, row.Temperature, row.Tint)
        inc_t, inc_tint = temp_tint_to_incremental(*rel)
        s.update(WhiteBalance="Custom", IncrementalTemperature=int(inc_t), IncrementalTint=int(inc_tint))
    else:
        s.update(WhiteBalance="Custom", Temperature=int(row.Temperature), Tint=int(row.Tint))
    return s


def _add_to_catalog(cat: LrcatWriter, folders: dict, root: int, path: Path, row, k: int) -> None:
    """One photo: file, image, EXIF (APEX), develop settings; every 9th also gets a virtual copy
    (a second crop: the same white balance within a few mired, more exposure), every 23rd is a
    reject, every 17th was left "As Shot"."""
    day = str(row.captureTime)[:10]
    if day not in folders:
        folders[day] = cat.add_folder(root, f"Photos/{day}/")
    is_jpeg = path.suffix.lower() == ".jpg"
    image = cat.add_image(cat.add_file(folders[day], path.name), str(row.captureTime),
                          pick=-1 if k % 23 == 22 else 0, file_format="JPG" if is_jpeg else "DNG")
    apex = dict(aperture_apex=2 * np.log2(float(row.aperture)), shutter_apex=-np.log2(float(row.shutterSpeed)),
                iso=float(row.isoSpeedRating), focal=float(row.focalLength), flash=bool(row.flashFired))
    cat.add_exif(image, row.camera_model, **apex)
    cat.add_additional(image, is_raw=not is_jpeg)
    cat.add_develop(image, _edit_settings(row, is_jpeg, as_shot=k % 17 == 16), compressed=k % 2 == 1)
    if k % 9 == 4:
        copy = cat.add_virtual_copy(image, "Crop")
        cat.add_exif(copy, row.camera_model, **apex)
        again = row._replace(Temperature=float(wb.mired_to_kelvin(wb.kelvin_to_mired(row.Temperature) - 3)))
        cat.add_develop(copy, {**_edit_settings(again, is_jpeg, as_shot=False), "Exposure2012": 0.6}, compressed=True)


def make_demo_lightroom(out_dir: str | Path, n_train: int = 240, n_val: int = 60, size: int = 256, seed: int = 0,
                        jpeg_every: int = 4, progress: bool = True) -> dict[str, Path]:
    """Build the demo Lightroom setup (see the module docstring); returns its paths. Every
    `jpeg_every`-th photo is a JPEG, the others DNGs (photographers who keep a catalog mostly shoot
    raw). Deterministic for a seed."""
    from core.progress import progress_bar
    from catalog.reader import read_catalog

    out = Path(out_dir)
    renders = make_demo_catalog(out / "renders", n_train=n_train, n_val=n_val, size=size, seed=seed, progress=progress)
    paths = {"catalog": out / "Catalog" / "Demo.lrcat", "photos": out / "Photos", "new_shoot": out / "New shoot",
             "answers": out / "answers.csv"}
    cat = LrcatWriter(paths["catalog"])
    root, folders = cat.add_root(out), {}
    train = read_catalog(renders, "Train")
    val = read_catalog(renders, "Validation", labels="ignore")
    answers = pd.read_csv(renders / "answers.csv", dtype={"id_global": str, "Temperature": float, "Tint": float})
    stems = {}
    with progress_bar(progress) as bar:
        task = bar.add_task("demo photos (DNG + JPEG)", total=len(train) + len(val))
        for k, (row, src) in enumerate(zip(train.table.itertuples(index=False), train.image_paths)):
            path = _write_photo(paths["photos"] / str(row.captureTime)[:10], row, np.asarray(Image.open(src)),
                                as_dng=k % jpeg_every != jpeg_every - 1)
            _add_to_catalog(cat, folders, root, path, row, k)
            bar.advance(task)
        for k, (row, src) in enumerate(zip(val.table.itertuples(index=False), val.image_paths)):
            path = _write_photo(paths["new_shoot"], row, np.asarray(Image.open(src)),
                                as_dng=k % jpeg_every != jpeg_every - 1)
            stems[row.id_global] = (path.stem, path.suffix.lower() == ".jpg", row)
            bar.advance(task)
    cat.close()
    for i, id_ in enumerate(answers["id_global"]):  # JPEG answers on the reference scale they are predicted on
        stem, is_jpeg, row = stems[id_]
        answers.loc[i, "id_global"] = stem
        if is_jpeg:
            answers.loc[i, ["Temperature", "Tint"]] = relative_edit(
                row.currTemp, row.currTint, answers.loc[i, "Temperature"], answers.loc[i, "Tint"])
    answers.to_csv(paths["answers"], index=False)
    return paths
