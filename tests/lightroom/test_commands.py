"""lightroom (import_catalog, ingest, apply): import-lightroom -> ingest -> apply on tiny real files (DNGs LibRaw decodes,
JPEGs, a .lrcat with Lightroom's tables), read back by the catalog reader and by exiftool."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from lightroom.apply import run_apply
from lightroom.import_catalog import run_import_lightroom
from lightroom.ingest import run_ingest
from lightroom.options import ApplyConfig, ImportConfig, IngestConfig
from lightroom.photos import find_photos
from demo.generate_lightroom import LrcatWriter, write_dng, write_jpeg
from core.errors import CatalogError
from lightroom.lrcat import MISSING, REJECT
from catalog.reader import read_catalog
from core.splits import shoot_groups

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None,
                                reason="exiftool (Debian: libimage-exiftool-perl) not installed")
ROOT = Path(__file__).resolve().parents[2]
EXIF = {"shutter": 1 / 125, "aperture": 5.6, "iso": 200, "focal": 35, "flash": False}


def render(value):
    img = np.zeros((48, 48, 3), np.uint8)
    img[:] = value
    return img


def build(tmp_path):
    """Photos/ with 2 DNGs, 2 JPEGs and a corrupt DNG + Test.lrcat: edits for all of them, a virtual
    copy of the first DNG, a reject and a photo whose file is gone."""
    photos = tmp_path / "Photos" / "2024-06-01"
    photos.mkdir(parents=True)
    write_dng(photos / "IMG_0001.dng", render((120, 110, 90)), "NIKON D750", 4200.0, 5.0, EXIF)
    write_dng(photos / "IMG_0002.dng", render((100, 110, 130)), "Canon EOS R6", 6800.0, -3.0, EXIF)
    write_jpeg(photos / "IMG_0003.jpg", render((128, 120, 110)), "Canon EOS R6", EXIF)
    write_jpeg(photos / "IMG 0004 (edit).jpg", render((90, 100, 100)), "Canon EOS R6", EXIF)
    (photos / "IMG_0005.dng").write_bytes(b"II*\x00 truncated")
    cat = LrcatWriter(tmp_path / "Test.lrcat")
    folder = cat.add_folder(cat.add_root(tmp_path / "Photos"), "2024-06-01/")
    ids = {}
    edits = {"IMG_0001.dng": {"Temperature": 4600, "Tint": 9}, "IMG_0002.dng": {"Temperature": 6000, "Tint": 2},
             "IMG_0003.jpg": {"IncrementalTemperature": 12, "IncrementalTint": 4},
             "IMG 0004 (edit).jpg": {"IncrementalTemperature": -8, "IncrementalTint": 0},
             "IMG_0005.dng": {"Temperature": 5000, "Tint": 0}, "IMG_0006.dng": {"Temperature": 5000, "Tint": 0},
             "IMG_0007.jpg": {"IncrementalTemperature": 1, "IncrementalTint": 1}}
    for k, (name, edit) in enumerate(edits.items()):
        ids[name] = cat.add_image(cat.add_file(folder, name), f"2024-06-01T10:0{k}:00",
                                  pick=-1 if name == "IMG_0007.jpg" else 0)
        cat.add_exif(ids[name], "Canon EOS R6", aperture_apex=5.0, shutter_apex=7.0, iso=200, focal=35, flash=False)
        cat.add_develop(ids[name], {"WhiteBalance": "Custom", **edit, "Exposure2012": 0.2}, compressed=k % 2 == 0)
    ids["copy"] = cat.add_virtual_copy(ids["IMG_0001.dng"], "Cool")
    cat.db.execute("UPDATE Adobe_images SET captureTime = NULL WHERE id_local = ?", (ids["copy"],))  # import fills it
    cat.add_develop(ids["copy"], {"WhiteBalance": "Custom", "Temperature": 5200, "Tint": 9})
    cat.close()
    return cat.path, photos, ids


def test_import_writes_the_train_layout_and_accounts_for_every_photo(tmp_path):
    lrcat, photos, ids = build(tmp_path)
    digest = hashlib.sha256(lrcat.read_bytes()).hexdigest()
    csv = run_import_lightroom(ImportConfig(catalog=lrcat, out=tmp_path / "data", size=32, progress=False))
    assert hashlib.sha256(lrcat.read_bytes()).hexdigest() == digest  # read-only
    assert csv == tmp_path / "data" / "Train" / "sliders.csv" and csv.is_file()  # what the command reports
    cat = read_catalog(tmp_path / "data", "Train")
    t = cat.table.set_index("id_global")
    assert set(t.index) == {"IMG_0001", "IMG_0002", "IMG_0003", "IMG_0004__edit_", f"IMG_0001-{ids['copy']}"}
    one = t.loc["IMG_0001"]
    assert one.currTemp == pytest.approx(4200, abs=1) and one.currTint == pytest.approx(5, abs=0.1)
    assert (one.Temperature, one.Tint) == (4600, 9) and one.camera_model == "Canon EOS R6" and one.aperture == 5.0
    jpg = t.loc["IMG_0003"]  # relative edit on the reference scale: 12 mired warmer than 5500 K
    assert jpg.currTemp == 5500 and jpg.Temperature == pytest.approx(1e6 / (1e6 / 5500 - 12), abs=0.1) and jpg.Tint == 4
    copy = t.loc[f"IMG_0001-{ids['copy']}"]
    assert copy.master_id == "IMG_0001" and copy.Temperature == 5200 and copy.captureTime == one.captureTime
    groups = dict(zip(cat.table["id_global"], shoot_groups(cat.table)))
    assert groups["IMG_0001"] == groups[f"IMG_0001-{ids['copy']}"]  # the copy validates with its master
    assert cat.images is None and len(cat.image_paths) == 5 and all(p.exists() for p in cat.image_paths)
    report = pd.read_csv(tmp_path / "data" / "lightroom_import.csv")
    assert len(report) == 8  # every Adobe_images row: 5 labelled + 3 counted skips
    reasons = dict(zip(report["lr_image"], report["reason"].fillna("")))
    assert reasons[ids["IMG_0007.jpg"]] == REJECT and reasons[ids["IMG_0006.dng"]] == MISSING
    assert reasons[ids["IMG_0005.dng"]] == "file cannot be decoded"


def test_relocated_photos_are_found(tmp_path):
    lrcat, photos, _ = build(tmp_path)
    moved = tmp_path / "Moved drive"
    shutil.move(tmp_path / "Photos", moved)
    old = str((tmp_path / "Photos").resolve()) + "/"
    cfg = ImportConfig(catalog=lrcat, out=tmp_path / "d", size=32, progress=False)
    with pytest.raises(CatalogError, match="no photo has a white-balance edit"):  # every file missing
        run_import_lightroom(cfg)
    cfg.relocate = f"{old}={moved}/"
    assert len(pd.read_csv(run_import_lightroom(cfg))) == 5
    cfg.relocate = "no equals sign"
    with pytest.raises(CatalogError, match="expected OLD=NEW"):
        run_import_lightroom(cfg)


def test_settings_that_do_not_fit_the_file_type_are_counted(tmp_path):
    photos = tmp_path / "P"
    photos.mkdir()
    write_dng(photos / "R.dng", render((100, 100, 100)), "NIKON D750", 5000.0, 0.0)
    write_jpeg(photos / "J.jpg", render((100, 100, 100)), "NIKON D750")
    cat = LrcatWriter(tmp_path / "c.lrcat")
    folder = cat.add_folder(cat.add_root(photos), "")
    for name, edit in (("R.dng", {"IncrementalTemperature": 5, "IncrementalTint": 0}),
                       ("J.jpg", {"IncrementalTemperature": 5, "IncrementalTint": 1})):
        cat.add_develop(cat.add_image(cat.add_file(folder, name), None), {"WhiteBalance": "Custom", **edit})
    cat.close()
    run_import_lightroom(ImportConfig(catalog=cat.path, out=tmp_path / "d", size=32, progress=False))
    report = pd.read_csv(tmp_path / "d" / "lightroom_import.csv").set_index("source_file")
    assert report.loc[str(photos / "R.dng"), "reason"] == "develop settings do not fit the file type"
    assert report.loc[str(photos / "J.jpg"), "status"] == "labelled"


def test_ingest_makes_a_validation_layout_with_stems_as_ids(tmp_path):
    _, photos, _ = build(tmp_path)
    (photos / "IMG_0005.dng").unlink()
    csv = run_ingest(IngestConfig(photos=photos.parent, out=tmp_path / "new", size=32, progress=False))
    cat = read_catalog(tmp_path / "new", "Validation")
    t = cat.table.set_index("id_global")
    assert set(t.index) == {"IMG_0001", "IMG_0002", "IMG_0003", "IMG 0004 (edit)"}
    assert t.loc["IMG_0002"].currTemp == pytest.approx(6800, abs=1) and t.loc["IMG_0003"].currTemp == 5500
    assert t.loc["IMG_0001"].aperture == pytest.approx(2 * np.log2(5.6), abs=0.01)  # APEX, like the catalog
    assert t.loc["IMG_0001"].shutterSpeed == pytest.approx(np.log2(125), abs=0.01)
    assert t.loc["IMG_0003"].isoSpeedRating == 200 and t.loc["IMG_0003"].camera_model == "Canon EOS R6"
    assert csv.name == "sliders_inputs.csv"


def test_ingest_counts_undecodable_files_and_refuses_ambiguous_names(tmp_path):
    _, photos, _ = build(tmp_path)
    run_ingest(IngestConfig(photos=photos, out=tmp_path / "new", size=32, progress=False))
    report = pd.read_csv(tmp_path / "new" / "ingest_report.csv")
    assert len(report) == 5 and report.set_index("id_global").loc["IMG_0005", "status"] == "skipped"
    write_dng(photos / "IMG_0003.dng", render((90, 90, 90)), "NIKON D750", 5000.0, 0.0, EXIF)  # a pair: fine
    assert find_photos(photos)["IMG_0003"].path == photos / "IMG_0003.dng"
    shutil.copy(photos / "IMG_0001.dng", photos / "IMG_0001.NEF")  # two raws of one name: which is it?
    with pytest.raises(CatalogError, match=r"share the name .IMG_0001. in one folder and are not a RAW\+JPEG pair"):
        find_photos(photos)


def test_raw_jpeg_pairs_are_one_photo_and_same_names_in_other_folders_stay_apart(tmp_path):
    shoot = tmp_path / "Shoot"
    for day, value in (("day1", 100), ("day2", 140)):
        (shoot / day).mkdir(parents=True)
        write_dng(shoot / day / "IMG_0001.dng", render((value, value, value)), "NIKON D750", 4000.0 + value, 0.0, EXIF)
        write_jpeg(shoot / day / "IMG_0001.JPG", render((value, value, value)), "NIKON D750", EXIF)
    write_jpeg(shoot / "day2" / "IMG_0002.jpg", render((80, 90, 100)), "NIKON D750", EXIF)
    csv = run_ingest(IngestConfig(photos=shoot, out=tmp_path / "new", size=32, progress=False))
    t = pd.read_csv(csv).set_index("id_global")
    assert set(t.index) == {"day1__IMG_0001", "day2__IMG_0001", "IMG_0002"}  # the raws, told apart by folder
    assert t.loc["day1__IMG_0001", "wb_kind"] == "absolute" and t.loc["day2__IMG_0001", "currTemp"] == pytest.approx(
        4140, abs=1)
    report = pd.read_csv(tmp_path / "new" / "ingest_report.csv")
    companions = report[report["status"] == "companion"].set_index("id_global")
    assert companions.loc["day1__IMG_0001", "file"] == str(shoot / "day1" / "IMG_0001.JPG")
    jpeg_before = (shoot / "day2" / "IMG_0001.JPG").read_bytes()
    pred = _predictions(tmp_path, [("day2__IMG_0001", 5100, 2), ("day1__IMG_0001", 4700, -1)])
    run_apply(ApplyConfig(predictions=pred, photos=shoot, wb_only=True, progress=False))
    assert exiftool_crs(shoot / "day2" / "IMG_0001.dng")["ColorTemperature"] == 5100  # the raw is the photo
    assert exiftool_crs(shoot / "day1" / "IMG_0001.dng")["ColorTemperature"] == 4700
    assert (shoot / "day2" / "IMG_0001.JPG").read_bytes() == jpeg_before  # its JPEG untouched


def _predictions(tmp_path, rows):
    path = tmp_path / "pred.csv"
    pd.DataFrame(rows, columns=["id_global", "Temperature", "Tint"]).to_csv(path, index=False)
    return path


def exiftool_crs(path):
    out = subprocess.run(["exiftool", "-j", "-XMP-crs:all", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def test_apply_writes_sidecars_and_embedded_xmp_lightroom_reads(tmp_path):
    _, photos, _ = build(tmp_path)
    (photos / "IMG_0008.CR3").write_bytes(b"raw")  # a proprietary raw: sidecar, with earlier settings
    (photos / "IMG_0008.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
        'crs:Exposure2012="+0.70" crs:WhiteBalance="As Shot"/></rdf:RDF></x:xmpmeta>')
    pred = _predictions(tmp_path, [("IMG_0008", 5333, 7), ("IMG_0001", 4444, -2), ("IMG_0003", 6000, 3)])
    dry = run_apply(ApplyConfig(predictions=pred, photos=photos, dry_run=True, progress=False))
    assert not dry.written and not (photos / "IMG_0001.dng_original").exists()
    assert "ColorTemperature" not in exiftool_crs(photos / "IMG_0008.xmp")  # the dry run wrote nothing
    run_apply(ApplyConfig(predictions=pred, photos=photos, wb_only=True, progress=False))
    side = exiftool_crs(photos / "IMG_0008.xmp")
    assert side["ColorTemperature"] == 5333 and int(side["Tint"]) == 7 and side["Exposure2012"] == "+0.70"
    dng = exiftool_crs(photos / "IMG_0001.dng")
    assert dng["ColorTemperature"] == 4444 and int(dng["Tint"]) == -2 and dng["WhiteBalance"] == "Custom"
    jpg = exiftool_crs(photos / "IMG_0003.jpg")
    assert int(jpg["IncrementalTemperature"]) == round(1e6 / 5500 - 1e6 / 6000) and int(jpg["IncrementalTint"]) == 3
    assert (photos / "IMG_0001.dng_original").exists() and (photos / "IMG_0003.jpg_original").exists()


def test_apply_refuses_hand_set_white_balance_and_writes_nothing(tmp_path):
    _, photos, _ = build(tmp_path)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-crs:WhiteBalance=Custom",
                    "-XMP-crs:ColorTemperature=3900", "-XMP-crs:Tint=+1", str(photos / "IMG_0002.dng")], check=True)
    before = (photos / "IMG_0001.dng").read_bytes()
    pred = _predictions(tmp_path, [("IMG_0001", 4444, -2), ("IMG_0002", 6100, 0)])
    with pytest.raises(CatalogError, match="set by hand.*IMG_0002.dng.*nothing written.*--force"):
        run_apply(ApplyConfig(predictions=pred, photos=photos, wb_only=True, progress=False))
    assert (photos / "IMG_0001.dng").read_bytes() == before  # all-or-nothing
    run_apply(ApplyConfig(predictions=pred, photos=photos, wb_only=True, force=True, progress=False))
    assert exiftool_crs(photos / "IMG_0002.dng")["ColorTemperature"] == 6100


@pytest.mark.parametrize("rows,match", [
    ([("IMG_9999", 5000, 0)], "1 of 1 predictions have no photo.*'IMG_9999'.*nothing written"),
    ([("IMG_0001", "warm", 0)], "row 1 \\(line 2\\), column 'Temperature': 'warm' is not a number"),
    ([("IMG_0001", 5000, 0), ("IMG_0001", 5100, 0)], "'IMG_0001' appears more than once"),
    ([("../IMG_0001", 5000, 0)], "row 1 \\(line 2\\): id_global '../IMG_0001' is not a file name"),
])
def test_apply_bad_predictions_are_clear_errors(tmp_path, rows, match):
    _, photos, _ = build(tmp_path)
    with pytest.raises(CatalogError, match=match):
        run_apply(ApplyConfig(predictions=_predictions(tmp_path, rows), photos=photos, progress=False))
    assert not list(photos.glob("*_original")) and not list(photos.glob("*.xmp"))


def test_cli_import_ingest_apply(tmp_path):
    lrcat, photos, _ = build(tmp_path)
    def run(*args):
        return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True,
                              text=True, cwd=ROOT)

    r = run("import-lightroom", lrcat, "--out", tmp_path / "data", "--size", 32, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path / "data" / "Train" / "sliders.csv")) == 5
    r = run("ingest", photos, "--out", tmp_path / "new", "--size", 32, "--no-progress")
    assert r.returncode == 0, r.stderr
    pred = _predictions(tmp_path, [("IMG_0002", 6100, 0)])
    r = run("apply", pred, "--photos", photos, "--dry-run")
    assert r.returncode == 0 and "IMG_0002.dng" in r.stdout and "6100" in r.stdout
    r = run("apply", _predictions(tmp_path, [("IMG_7777", 6100, 0)]), "--photos", photos)
    assert r.returncode == 2 and "error:" in r.stderr and "IMG_7777" in r.stderr


# A photographer's develop settings as Lightroom keeps them in the catalog (Lua table), beyond the
# white balance: sliders, a profile, lens corrections, a tone curve, a look and a local correction.
FULL_SETTINGS = {
    "ProcessVersion": "15.4", "WhiteBalance": "Custom", "Temperature": 4600, "Tint": 9,
    "Exposure2012": 0.35, "Contrast2012": -12, "Highlights2012": -42, "Vibrance": 8, "Texture": 5,
    "CameraProfile": "Adobe Standard", "LensProfileEnable": 1, "AutoLateralCA": 1, "HasCrop": True,
    "CropTop": 0.0312, "CropLeft": 0.05, "CropBottom": 0.97, "CropRight": 0.95, "CropAngle": -1.25,
    "ToneCurveName2012": "Custom", "ToneCurvePV2012": [0, 0, 64, 58, 192, 200, 255, 255],
    "Look": {"Name": "Adobe Vivid", "Amount": 0.8},
    "GradientBasedCorrections": [{"What": "Correction", "CorrectionAmount": 1, "LocalExposure2012": -0.4}],
}


def exiftool_struct(path):
    """exiftool's reading of every crs property, numbers as numbers, structures as structures."""
    out = subprocess.run(["exiftool", "-j", "-n", "-struct", "-XMP-crs:all", "-XMP-dc:all", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def _same(read, want):
    """exiftool's value against the catalog's (numbers compared as numbers, curves as 'x, y' points)."""
    if isinstance(want, bool):
        return str(read) == str(want)
    if isinstance(want, (int, float)):
        return float(read) == pytest.approx(float(want))
    if isinstance(want, dict):
        return all(_same(read[k], v) for k, v in want.items())
    if isinstance(want, list) and want and isinstance(want[0], dict):
        return len(read) == len(want) and all(_same(r, w) for r, w in zip(read, want))
    if isinstance(want, list):
        return [str(p).replace(" ", "") for p in read] == [f"{x},{y}" for x, y in zip(want[0::2], want[1::2])]
    return str(read) == str(want)


def test_apply_with_the_catalog_carries_every_develop_setting(tmp_path):
    """Read Metadata from Files replaces every setting with the file's: with --catalog the XMP holds
    all of the catalog's, unchanged, and only the white balance is new (read back by exiftool)."""
    photos = tmp_path / "Photos"
    photos.mkdir()
    write_dng(photos / "IMG_0001.dng", render((120, 110, 90)), "NIKON D750", 4200.0, 5.0, EXIF)
    (photos / "IMG_0002.NEF").write_bytes(b"raw")  # proprietary raw: a sidecar, a stale one already there
    (photos / "IMG_0002.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" crs:Exposure2012="+2.00" crs:WhiteBalance="As Shot">'
        '<dc:subject><rdf:Bag><rdf:li>wedding</rdf:li></rdf:Bag></dc:subject></rdf:Description>'
        '</rdf:RDF></x:xmpmeta>')
    cat = LrcatWriter(tmp_path / "Cat.lrcat")
    folder = cat.add_folder(cat.add_root(photos), "")
    settings = {"IMG_0001.dng": FULL_SETTINGS, "IMG_0002.NEF": {**FULL_SETTINGS, "WhiteBalance": "As Shot",
                                                                "Exposure2012": -0.5}}
    for k, (name, s) in enumerate(settings.items()):
        cat.add_develop(cat.add_image(cat.add_file(folder, name), None), s, compressed=k == 1)
    cat.close()
    digest = hashlib.sha256(cat.path.read_bytes()).hexdigest()
    pred = _predictions(tmp_path, [("IMG_0001", 4600, 9), ("IMG_0002", 5321, -4)])
    run_apply(ApplyConfig(predictions=pred, photos=photos, catalog=cat.path, progress=False))
    assert hashlib.sha256(cat.path.read_bytes()).hexdigest() == digest  # the catalog is only read
    for target, name, (temp, tint) in ((photos / "IMG_0001.dng", "IMG_0001.dng", (4600, 9)),
                                       (photos / "IMG_0002.xmp", "IMG_0002.NEF", (5321, -4))):
        got = exiftool_struct(target)
        for key, want in settings[name].items():
            if key in ("WhiteBalance", "Temperature", "Tint"):
                continue
            assert key in got, f"{target.name}: {key} missing"
            assert _same(got[key], want), f"{target.name}: {key} = {got[key]!r}, catalog {want!r}"
        assert (got["WhiteBalance"], got["ColorTemperature"], int(got["Tint"])) == ("Custom", temp, tint)
    side = exiftool_struct(photos / "IMG_0002.xmp")
    assert side["Exposure2012"] == -0.5 and side["Subject"] == ["wedding"]  # stale copy replaced, the rest kept


def test_apply_without_the_catalog_refuses_an_xmp_from_nothing(tmp_path):
    photos = tmp_path / "Photos"
    photos.mkdir()
    write_dng(photos / "IMG_0001.dng", render((120, 110, 90)), "NIKON D750", 4200.0, 5.0, EXIF)
    (photos / "IMG_0002.CR3").write_bytes(b"raw")
    (photos / "IMG_0003.CR3").write_bytes(b"raw")
    saved = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
             '<rdf:Description rdf:about="" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
             'crs:Version="16.0" crs:ProcessVersion="11.0" crs:Exposure2012="+0.70" crs:WhiteBalance="As Shot" '
             'crs:HasSettings="True"/></rdf:RDF></x:xmpmeta>')
    (photos / "IMG_0003.xmp").write_text(saved)  # Save Metadata to File was run for this one
    before = (photos / "IMG_0001.dng").read_bytes()
    pred = _predictions(tmp_path, [("IMG_0001", 4444, -2), ("IMG_0002", 5000, 3), ("IMG_0003", 6100, 1)])
    with pytest.raises(CatalogError, match="2 photo\\(s\\) have no saved develop settings.*Save Metadata to File"):
        run_apply(ApplyConfig(predictions=pred, photos=photos, progress=False))
    assert (photos / "IMG_0001.dng").read_bytes() == before and not (photos / "IMG_0002.xmp").exists()
    assert (photos / "IMG_0003.xmp").read_text() == saved  # nothing written, not even the safe one
    (tmp_path / "one").mkdir()
    only = _predictions(tmp_path / "one", [("IMG_0003", 6100, 1)])  # a saved sidecar is merged: everything is kept
    run_apply(ApplyConfig(predictions=only, photos=photos, progress=False))
    got = exiftool_struct(photos / "IMG_0003.xmp")
    assert (got["ColorTemperature"], float(got["Exposure2012"]), str(got["ProcessVersion"])) == (6100, 0.7, "11.0")
    run_apply(ApplyConfig(predictions=pred, photos=photos, wb_only=True, progress=False))  # confirmed
    new = exiftool_struct(photos / "IMG_0002.xmp")
    assert new["ColorTemperature"] == 5000 and str(new["Version"]) == "16.0" and str(new["ProcessVersion"]) == "15.4"


def test_skip_hand_set_writes_the_others_and_lists_the_skipped(tmp_path):
    _, photos, _ = build(tmp_path)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-crs:WhiteBalance=Daylight",
                    "-XMP-crs:Exposure2012=+0.3", str(photos / "IMG_0002.dng")], check=True)
    before = (photos / "IMG_0002.dng").read_bytes()
    pred = _predictions(tmp_path, [("IMG_0001", 4444, -2), ("IMG_0002", 6100, 0)])
    with pytest.raises(CatalogError, match="1 photo\\(s\\) hold a white balance set by hand.*--skip-hand-set"):
        run_apply(ApplyConfig(predictions=pred, photos=photos, wb_only=True, progress=False))
    result = run_apply(ApplyConfig(predictions=pred, photos=photos, wb_only=True, skip_hand_set=True, progress=False))
    assert result.skipped == [photos / "IMG_0002.dng"] and (photos / "IMG_0002.dng").read_bytes() == before
    assert exiftool_crs(photos / "IMG_0001.dng")["ColorTemperature"] == 4444
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "apply", str(pred), "--photos", str(photos),
                        "--wb-only", "--skip-hand-set"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "skipped" in r.stdout and "left as they were: IMG_0002.dng" in r.stdout


def test_raw_or_rendered_comes_from_the_catalog(tmp_path):
    """A DNG made from a JPEG is a rendered file to Lightroom (Adobe_AdditionalMetadata.isRawFile = 0):
    it is learned and written with the relative sliders, whatever its extension says."""
    photos = tmp_path / "P"
    photos.mkdir()
    for name, temp in (("RAW.dng", 4200.0), ("FROMJPEG.dng", 5000.0)):
        write_dng(photos / name, render((110, 110, 110)), "NIKON D750", temp, 0.0, EXIF)
    cat = LrcatWriter(tmp_path / "c.lrcat")
    folder = cat.add_folder(cat.add_root(photos), "")
    for name, raw, edit in (("RAW.dng", True, {"Temperature": 4800, "Tint": 3}),
                            ("FROMJPEG.dng", False, {"IncrementalTemperature": 10, "IncrementalTint": 2})):
        image = cat.add_image(cat.add_file(folder, name), None)
        cat.add_additional(image, is_raw=raw)
        cat.add_develop(image, {"WhiteBalance": "Custom", "Exposure2012": 0.1, **edit})
    cat.close()
    t = pd.read_csv(run_import_lightroom(ImportConfig(catalog=cat.path, out=tmp_path / "d", size=32,
                                                      progress=False))).set_index("id_global")
    assert t.loc["FROMJPEG", "wb_kind"] == "relative" and t.loc["FROMJPEG", "currTemp"] == 5500
    assert t.loc["RAW", "wb_kind"] == "absolute" and t.loc["RAW", "currTemp"] == pytest.approx(4200, abs=1)
    pred = _predictions(tmp_path, [("RAW", 5000, 1), ("FROMJPEG", 6000, 4)])
    run_apply(ApplyConfig(predictions=pred, photos=photos, catalog=cat.path, force=True, progress=False))  # edited
    assert int(exiftool_crs(photos / "FROMJPEG.dng")["IncrementalTemperature"]) == round(1e6 / 5500 - 1e6 / 6000)
    assert "ColorTemperature" not in exiftool_crs(photos / "FROMJPEG.dng")
    assert exiftool_crs(photos / "RAW.dng")["ColorTemperature"] == 5000


def test_a_killed_import_resumes_without_redoing_finished_photos(tmp_path):
    """SIGKILL a real `import-lightroom` part-way; the rerun keeps every photo it had finished (the
    same render files, not rewritten), does the rest, and the CSV holds each photo once."""
    import os
    import signal
    import time

    photos = tmp_path / "Photos"
    photos.mkdir()
    first = write_jpeg(photos / "IMG_0000.jpg", np.random.default_rng(0).integers(0, 255, (400, 600, 3), np.uint8),
                       "NIKON D750", EXIF)
    cat = LrcatWriter(tmp_path / "Big.lrcat")
    folder = cat.add_folder(cat.add_root(photos), "")
    n = 160
    for k in range(n):
        if k:
            shutil.copy(first, photos / f"IMG_{k:04d}.jpg")
        when = f"2024-06-01T10:{k // 60 % 60:02d}:{k % 60:02d}"
        image = cat.add_image(cat.add_file(folder, f"IMG_{k:04d}.jpg"), when)
        cat.add_develop(image, {"WhiteBalance": "Custom", "IncrementalTemperature": k % 30 - 15, "IncrementalTint": 1,
                                "Exposure2012": 0.1}, compressed=k % 2 == 0)
    cat.close()
    out = tmp_path / "data"
    args = [sys.executable, str(ROOT / "cli.py"), "import-lightroom", str(cat.path), "--out", str(out), "--size", "32",
            "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out / "Train" / "sliders.csv.partial"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if partial.exists() and partial.read_bytes().count(b"\n") > 40:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "Train" / "sliders.csv").exists(), "the import finished before it could be killed"
    done = pd.read_csv(partial)["id_global"].tolist()
    assert 40 <= len(done) < n
    stamps = {i: (out / "Train" / "images" / f"{i}.tif").stat().st_mtime_ns for i in done}
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out / "Train" / "sliders.csv")
    assert len(table) == n and table["id_global"].is_unique and not partial.exists()
    assert all((out / "Train" / "images" / f"{i}.tif").stat().st_mtime_ns == t for i, t in stamps.items())
    assert len(pd.read_csv(out / "lightroom_import.csv")) == n


def test_ingest_continues_and_a_broken_render_is_redone(tmp_path):
    _, photos, _ = build(tmp_path)
    cfg = IngestConfig(photos=photos, out=tmp_path / "new", size=32, progress=False)
    run_ingest(cfg)
    images = tmp_path / "new" / "Validation" / "images"
    stamps = {p.name: p.stat().st_mtime_ns for p in images.iterdir()}
    (images / "IMG_0002.tif").write_bytes(b"II*\x00 torn")  # a render that is no longer whole
    run_ingest(cfg)
    assert {p.name: p.stat().st_mtime_ns for p in images.iterdir() if p.name != "IMG_0002.tif"} == {
        k: v for k, v in stamps.items() if k != "IMG_0002.tif"}  # verified, not redone
    assert tifffile.imread(images / "IMG_0002.tif").shape == (32, 32, 3)  # the torn one redone
    assert len(pd.read_csv(tmp_path / "new" / "Validation" / "sliders_inputs.csv")) == 4
    run_ingest(IngestConfig(photos=photos, out=tmp_path / "new", size=32, fresh=True, progress=False))
    assert all(p.stat().st_mtime_ns != stamps[p.name] for p in images.iterdir())


def test_import_reports_as_shot_agreement_per_camera_and_corrects_with_enough_evidence(tmp_path):
    """Photos left at As Shot store Lightroom's own as-shot. For a camera whose stored values sit
    10 mired / 3 tint off wbstyle's (12 photos: enough), its edited photo's as-shot is moved onto
    Lightroom's; a camera with 3 such photos is reported and left as computed."""
    from core import wb

    photos = tmp_path / "P"
    photos.mkdir()
    cat = LrcatWriter(tmp_path / "c.lrcat")
    folder = cat.add_folder(cat.add_root(photos), "")
    rng = np.random.default_rng(1)
    for model, n in (("NIKON D750", 12), ("Canon EOS R6", 3)):
        for k in range(n):
            temp, tint = float(rng.uniform(3000, 7000)), float(rng.uniform(-5, 15))
            name = f"{model.split()[0]}_{k:02d}.dng"
            write_dng(photos / name, render((100, 100, 100)), model, temp, tint, EXIF)
            shift = 10.0 if model == "NIKON D750" else 0.0  # Lightroom's as-shot: 10 mired cooler, 3 tint less
            stored = float(wb.mired_to_kelvin(wb.kelvin_to_mired(temp) + shift)), tint - (3.0 if shift else 0.0)
            image = cat.add_image(cat.add_file(folder, name), None)
            cat.add_exif(image, model, aperture_apex=4.0, shutter_apex=7.0, iso=200, focal=35, flash=False)
            cat.add_develop(image, {"WhiteBalance": "As Shot", "Temperature": round(stored[0]),
                                    "Tint": round(stored[1])})
        edited = f"{model.split()[0]}_edit.dng"
        write_dng(photos / edited, render((100, 100, 100)), model, 4200.0, 5.0, EXIF)
        image = cat.add_image(cat.add_file(folder, edited), None)
        cat.add_exif(image, model, aperture_apex=4.0, shutter_apex=7.0, iso=200, focal=35, flash=False)
        cat.add_develop(image, {"WhiteBalance": "Custom", "Temperature": 4800, "Tint": 9})
    cat.close()
    out = tmp_path / "d"
    t = pd.read_csv(run_import_lightroom(ImportConfig(catalog=cat.path, out=out, size=32,
                                                      progress=False))).set_index("id_global")
    agree = pd.read_csv(out / "asshot_agreement.csv").set_index("camera_model")
    nikon, canon = agree.loc["NIKON D750"], agree.loc["Canon EOS R6"]
    assert nikon.as_shot_photos == 12 and nikon.corrected and nikon.median_abs_dmired == pytest.approx(10, abs=0.6)
    assert nikon.median_abs_dtint == pytest.approx(3, abs=0.6)
    assert canon.as_shot_photos == 3 and not canon.corrected
    assert canon.median_abs_dmired <= 2 and canon.median_abs_dtint <= 2  # wbstyle agrees with Lightroom here
    fixed = t.loc["NIKON_edit"]  # wbstyle computes 4200 K / +5; Lightroom's would be 10 mired cooler, 3 tint less
    assert wb.kelvin_to_mired(fixed.currTemp) == pytest.approx(wb.kelvin_to_mired(4200) + 10, abs=0.6)
    assert fixed.currTint == pytest.approx(2, abs=0.6)
    assert t.loc["Canon_edit"].currTemp == pytest.approx(4200, abs=1)  # too little evidence: as computed
