"""The bad-input suite: one table of broken or odd inputs, each with the outcome it must have.

Every case ends one of three ways, never in a traceback, a hang or a lost row:
  error  a named error (CatalogError / ImageReadError) whose message names the file, the CSV row
         (and line) and the column or id - all checked by regex;
  skip   the row is left out and counted (Catalog.skipped, one warning), every other row kept;
  ok     the input is read, and read right (the values are checked).

Decisions this table pins down (see catalog/reader.py and catalog/images.py):
  - a UTF-8 byte-order mark is accepted;
  - a CSV separated by ";" is read when its header has an `id_global` column under ";" and not
    under ","; its numbers may use a decimal comma ("5,6"), which is unambiguous there;
  - TIFFs: 16-bit, float, alpha, palette, grey, 1x1 and multi-page (first page) are read; CMYK is
    refused (no colour-managed conversion: a guessed one would shift the white balance);
    a header declaring more than catalog.images.MAX_PIXELS is refused before any pixel is read.
The model cases (a second table, MODEL_CASES) run on one tiny trained model: every file of the
folder missing or truncated (named in the error), a camera never seen in training and a one-photo
catalog (predicted, one finite row per input row), one photo to train on (a clear error).
"""
from __future__ import annotations

import re
import resource
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import tifffile

from catalog import CatalogError, ImageReadError, load_catalog
from catalog.reader import CatalogWarning

N_ROWS = 4  # photos in each case's catalog; row 2 is the one made bad


@dataclass
class Case:
    """One bad input. `make(root, csv, image)` breaks the catalog at `root`; `image` is row 2's file.

    expect: "error" (message must match every regex in `match`, raised as `error`), "skip" (`skipped`
    rows counted) or "ok" (`check(catalog)` holds). The catalog is read with images unless csv_only."""
    name: str
    make: Callable[[Path, Path, Path], None]
    expect: str
    match: tuple[str, ...] = ()
    error: type = CatalogError
    skipped: int = 0
    check: Callable | None = None


# --------------------------------------------------------------------------- TIFF makers
def _tif(data, **kw) -> Callable:
    def make(root, csv, image):
        tifffile.imwrite(image, data, **kw)
    return make


def _raw(content: bytes) -> Callable:
    def make(root, csv, image):
        image.write_bytes(content)
    return make


def _truncated(root, csv, image):
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 3])


def _huge(root, csv, image):
    """A valid 16x16 TIFF whose header then claims 40,000 x 40,000 (4.8 GB decoded)."""
    tifffile.imwrite(image, np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    with tifffile.TiffFile(image, mode="r+") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(40000)
        tif.pages[0].tags["ImageLength"].overwrite(40000)


def _multipage(root, csv, image):
    with tifffile.TiffWriter(image) as w:
        w.write(np.full((8, 8, 3), (200, 100, 50), np.uint8), photometric="rgb")
        w.write(np.zeros((4, 4, 3), np.uint8), photometric="rgb")


_PALETTE = np.zeros((3, 256), np.uint16)
_PALETTE[:, 7] = (65535, 0, 32896)  # index 7 -> (255, 0, 128)


def _pixel(rgb) -> Callable:
    """ok-check: row 2's image reads as the flat colour rgb (within 1 level)."""
    def check(cat):
        assert np.abs(cat.images[1].astype(int) - np.array(rgb)).max() <= 1, cat.images[1][0, 0]
    return check


IMAGE_ERROR = (r"sliders\.csv: row 2 \(line 3\), id_global '[0-9A-F-]+'",)  # + the image file name, added below

TIFF_CASES = [
    Case("tiff-truncated", _truncated, "error", IMAGE_ERROR, ImageReadError),
    Case("tiff-zero-byte", _raw(b""), "error", IMAGE_ERROR, ImageReadError),
    Case("tiff-not-a-tiff", _raw(b"GIF89a not a tiff at all"), "error", IMAGE_ERROR, ImageReadError),
    Case("tiff-cmyk", _tif(np.zeros((8, 8, 4), np.uint8), photometric="separated"), "error",
         IMAGE_ERROR + ("CMYK TIFFs are not supported",), ImageReadError),
    Case("tiff-huge-declared", _huge, "error", IMAGE_ERROR + ("declares 40,000 x 40,000 pixels",), ImageReadError),
    Case("tiff-1x1", _tif(np.array([[[10, 20, 30]]], np.uint8), photometric="rgb"), "ok", check=_pixel((10, 20, 30))),
    Case("tiff-16bit", _tif(np.full((8, 8, 3), (65535, 257 * 100, 0), np.uint16), photometric="rgb"), "ok",
         check=_pixel((255, 100, 0))),
    Case("tiff-float", _tif(np.full((8, 8, 3), (1.5, 0.5, -1.0), np.float32), photometric="rgb"), "ok",
         check=_pixel((255, 128, 0))),
    Case("tiff-alpha", _tif(np.full((8, 8, 4), (40, 80, 120, 0), np.uint8), photometric="rgb", extrasamples=[2]),
         "ok", check=_pixel((40, 80, 120))),
    Case("tiff-palette", _tif(np.full((8, 8), 7, np.uint8), photometric="palette", colormap=_PALETTE), "ok",
         check=_pixel((255, 0, 128))),
    Case("tiff-grey", _tif(np.full((8, 8), 90, np.uint8), photometric="minisblack"), "ok", check=_pixel((90, 90, 90))),
    Case("tiff-multipage", _multipage, "ok", check=_pixel((200, 100, 50))),
]


# --------------------------------------------------------------------------- CSV makers
def _text(fn: Callable[[str], str]) -> Callable:
    def make(root, csv, image):
        csv.write_text(fn(csv.read_text(encoding="utf-8")), encoding="utf-8")
    return make


def _cell(col: str, value: str, row: int = 2) -> Callable:
    """Set one cell (row is the 1-based data row) of the CSV, as text."""
    def make(root, csv, image):
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
        df.loc[row - 1, col] = value
        df.to_csv(csv, index=False)
    return make


def _bom(root, csv, image):
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())


def _semicolons(root, csv, image):
    """What a spreadsheet in a decimal-comma locale writes: ';' between cells, ',' in numbers."""
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df = df.apply(lambda col: col.str.replace(".", ",", regex=False) if col.name != "captureTime" else col)
    df.to_csv(csv, index=False, sep=";")


def _quoted(root, csv, image):
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df.loc[1, "currTemp"] = " 5123 "
    df.to_csv(csv, index=False, quoting=1)  # csv.QUOTE_ALL: every number in quotes


def _duplicate_id(root, csv, image):
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df.loc[2, "id_global"] = df.loc[1, "id_global"]
    df.to_csv(csv, index=False)


def _read_right(cat):
    """ok-check for whole-file changes: every column still parsed to the values write_catalog uses."""
    t = cat.table
    assert t.columns[0] == "id_global" and t["id_global"].str.fullmatch(r"[0-9A-F-]{36}").all()
    assert set(t["aperture"]) <= {1.8, 2.8, 4.0, 5.6}
    assert np.isin(np.round(1 / t["shutterSpeed"]), [60, 125, 250, 500]).all()
    assert t["Tint"].tolist() == (t["currTint"] + 5).tolist() and t["shoot"].notna().all()


def _where(col: str | None = None, row: int = 2) -> tuple[str, ...]:
    return (rf"sliders\.csv: row {row} \(line {row + 1}\)" + (rf", column '{col}'" if col else ""),)


CSV_CASES = [
    Case("csv-bom", _bom, "ok", check=_read_right),
    Case("csv-semicolons-decimal-comma", _semicolons, "ok", check=_read_right),
    Case("csv-semicolons-and-commas-mixed", _text(lambda t: t.replace(",", ";", 3)), "error",
         (r"sliders\.csv: line 1: the header mixes ';' and ','",)),
    Case("csv-quoted-numbers", _quoted, "ok", check=lambda cat: cat.table["currTemp"][1] == 5123.0),
    Case("csv-duplicated-id", _duplicate_id, "error", (r"sliders\.csv: id_global '[0-9A-F-]+' appears in rows "
                                                       r"2 \(line 3\), 3 \(line 4\)",)),
    Case("csv-id-slash", _cell("id_global", "sub/x"), "error", _where() + (r"'sub/x' is not a file name",)),
    Case("csv-id-backslash", _cell("id_global", r"sub\x"), "error", _where() + (r"is not a file name",)),
    Case("csv-id-dotdot", _cell("id_global", ".."), "error", _where() + (r"'\.\.' is not a file name",)),
    Case("csv-id-traversal", _cell("id_global", "../../etc/passwd"), "error", _where() + ("is not a file name",)),
    Case("csv-id-empty", _cell("id_global", ""), "error", _where() + ("id_global is empty",)),
    Case("csv-nan-label", _cell("Temperature", "NaN"), "skip", skipped=1),
    Case("csv-nan-as-shot", _cell("currTemp", "nan"), "error", _where("currTemp") + ("empty; every row needs",)),
    Case("csv-inf", _cell("currTint", "inf"), "error", _where("currTint") + ("'inf' is not a number",)),
    Case("csv-minus-inf-label", _cell("Tint", "-inf"), "error", _where("Tint") + ("'-inf' is not a number",)),
    Case("csv-temperature-low", _cell("Temperature", "1999"), "error", _where("Temperature") + ("outside 2000 to 50000",)),
    Case("csv-temperature-high", _cell("Temperature", "50001"), "error", _where("Temperature") + ("outside",)),
    Case("csv-temperature-zero", _cell("currTemp", "0"), "error", _where("currTemp") + ("expected Kelvin > 0",)),
    Case("csv-tint-high", _cell("Tint", "151"), "error", _where("Tint") + (r"outside -150 to 150",)),
    Case("csv-tint-low", _cell("currTint", "-150.5"), "error", _where("currTint") + ("outside -150 to 150",)),
    Case("csv-not-a-number", _cell("aperture", "f/2.8"), "error", _where("aperture") + ("'f/2.8' is not a number",)),
    Case("csv-empty-file", _text(lambda t: ""), "error", (r"sliders\.csv: empty catalog: the file has no header",)),
    Case("csv-header-only", _text(lambda t: t.splitlines()[0] + "\n"), "error",
         (r"sliders\.csv: empty catalog: a header but no data rows",)),
    Case("csv-short-row", _text(lambda t: t.replace("\n", "\nshort\n", 1)), "error",
         _where("currTemp", row=1) + (r"row 1 \(line 2\), id_global 'short': image file not found",)),
    Case("csv-not-utf8", lambda root, csv, image: csv.write_bytes(csv.read_bytes() + b"\xff\xfe,1\n"), "error",
         (r"sliders\.csv: cannot (read|parse)",)),
]

CASES = TIFF_CASES + CSV_CASES


def _run(case: Case, tmp_path: Path):
    from tests.conftest import write_catalog

    root = write_catalog(tmp_path, n_train=N_ROWS, n_val=0, layout="A", size=8)
    csv = root / "Train" / "sliders.csv"
    image = root / "Train" / "images" / (pd.read_csv(csv)["id_global"][1] + ".tif")
    case.make(root, csv, image)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case.expect == "error":
            with pytest.raises(case.error) as err:
                load_catalog(root, "Train", image_size=8, progress=False, workers=1)
            return err.value, caught, image
        return load_catalog(root, "Train", image_size=8, progress=False, workers=1), caught, image


def _mapped_bytes() -> int:
    """This process's virtual memory size (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path):
    # No case may allocate the huge image: cap the address space at what is mapped now + 2 GB (the
    # image would need 4.8 GB), so an attempt fails the test instead of swapping.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped_bytes() + (2 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        result, caught, image = _run(case, tmp_path)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    if case.expect == "error":
        msg = str(result)
        for pattern in case.match + ((image.name,) if case.error is ImageReadError else ()):
            assert re.search(pattern, msg), f"{pattern!r} not in:\n{msg}"
        assert "Traceback" not in msg
    elif case.expect == "skip":
        assert len(result.skipped) == case.skipped and result.csv_rows == N_ROWS
        assert len(result) + len(result.skipped) == N_ROWS  # no row lost: every row used or counted
        assert any(issubclass(w.category, CatalogWarning) and "skipped" in str(w.message) for w in caught)
    else:
        assert len(result) == N_ROWS and not result.skipped and result.images.shape[0] == N_ROWS
        case.check(result)


def test_table_covers_every_issue_case():
    """The issue's list, by name: a case removed from the table fails here, not silently."""
    names = {c.name for c in CASES}
    for needed in ("tiff-truncated", "tiff-zero-byte", "tiff-1x1", "tiff-16bit", "tiff-float", "tiff-cmyk",
                   "tiff-alpha", "tiff-palette", "tiff-grey", "tiff-multipage", "tiff-huge-declared", "csv-bom",
                   "csv-semicolons-decimal-comma", "csv-quoted-numbers", "csv-duplicated-id", "csv-id-slash",
                   "csv-id-dotdot", "csv-nan-label", "csv-inf", "csv-temperature-low", "csv-temperature-high",
                   "csv-tint-high", "csv-empty-file"):
        assert needed in names, needed


# --------------------------------------------------------------------------- model cases
MODEL_FILES = ("encoder.onnx", "encoder.safetensors", "encoder.json", "head.safetensors", "head.json", "forest.npz",
               "neighbors.faiss", "neighbors.npz", "neighbors.json", "manifest.json")


@dataclass
class ModelCase:
    """`make(model, root, tmp_path)` damages a copy of the model (or makes a catalog) and returns what
    to run: ("load", model) loads and predicts root's Validation split; ("finetune", root) trains."""
    name: str
    make: Callable
    expect: str  # "error" | "ok"
    match: tuple[str, ...] = ()


def _missing(name):
    return lambda model, root, tmp: ((model / name).unlink(), ("load", model))[1]


def _cut(name):
    def make(model, root, tmp):
        data = (model / name).read_bytes()
        (model / name).write_bytes(data[: len(data) // 2])
        return "load", model
    return make


def _unseen_camera(model, root, tmp):
    csv = root / "Validation" / "sliders_inputs.csv"
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df["camera_model"], df["camera_group"] = "NEVER-SEEN-CAMERA", "NEVER-SEEN-GROUP"
    df.to_csv(csv, index=False)
    return "load", model


def _single_photo(model, root, tmp):
    csv = root / "Validation" / "sliders_inputs.csv"
    pd.read_csv(csv, dtype=str, keep_default_na=False).head(1).to_csv(csv, index=False)
    return "load", model


def _train_on_one(model, root, tmp):
    from tests.conftest import write_catalog

    return "finetune", write_catalog(tmp, n_train=1, n_val=0, size=16)


MODEL_CASES = ([ModelCase(f"model-missing-{n}", _missing(n), "error",
                          (re.escape(n) + r"(: missing| missing|.*re-run `finetune`)",)) for n in MODEL_FILES]
               + [ModelCase(f"model-truncated-{n}", _cut(n), "error", (re.escape(n),)) for n in MODEL_FILES]
               + [ModelCase("model-unseen-camera", _unseen_camera, "ok"),
                  ModelCase("model-single-photo-catalog", _single_photo, "ok"),
                  ModelCase("model-train-on-one-photo", _train_on_one, "error",
                            (r"sliders\.csv: only 1 labelled photo\(s\); fine-tuning needs at least",))])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tests.test_loaders_safe import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("bad_model"))


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c.name for c in MODEL_CASES])
def test_bad_model_input(case: ModelCase, tiny_model, tmp_path):
    import shutil

    from catalog import read_catalog
    from finetune.predict import WBModel
    from finetune.train import FinetuneConfig, run_finetune

    root, model = tiny_model
    root = Path(shutil.copytree(root, tmp_path / "catalog"))
    model = Path(shutil.copytree(model, tmp_path / "model"))
    what, target = case.make(model, root, tmp_path)

    def run():
        if what == "finetune":
            return run_finetune(FinetuneConfig(data=str(target), encoder="", image_size=16, out=str(tmp_path / "m"),
                                               epochs=1, ensemble=1, hidden=8, batch_size=8, rerender_aug=0,
                                               baselines=False, threads=1, workers=1, progress=False, device="cpu"))
        cat = read_catalog(root, "Validation", labels="ignore")
        return cat, WBModel.load(target).predict(cat, progress=False)

    if case.expect == "error":
        with pytest.raises(CatalogError) as err:
            run()
        for pattern in case.match:
            assert re.search(pattern, str(err.value)), f"{pattern!r} not in:\n{err.value}"
        return
    cat, df = run()
    assert df["id_global"].tolist() == cat.table["id_global"].tolist()  # one prediction per row, in order
    assert np.isfinite(df[["Temperature", "Tint"]].to_numpy(float)).all()
