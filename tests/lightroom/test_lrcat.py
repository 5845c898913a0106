"""lightroom/lrcat.py on a small .lrcat built here with Lightroom Classic's table and column names."""
import hashlib
import sqlite3
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from demo.generate_lightroom import LrcatWriter, develop_text
from core.errors import CatalogError
from lightroom.lrcat import (AS_SHOT, BAD_TEXT, MISSING, NO_SETTINGS, NO_WB, REJECT, connect_readonly,
                               decode_develop_text, parse_develop_settings, read_lightroom,
                               white_balance_of)

CUSTOM = {"WhiteBalance": "Custom", "Temperature": 5150, "Tint": 8, "Exposure2012": 0.25,
          "ToneCurvePV2012": [0, 0, 255, 255], "Look": {"Name": "Adobe Color"}}


def build_catalog(tmp_path):
    """Photos on disk + a catalog: plain and compressed edits, a virtual copy, a reject, a missing
    file, an As Shot photo, one without develop settings, one with undecodable text, one with a
    white balance preset but no numbers. Returns (catalog path, {name: Adobe_images.id_local})."""
    folder = tmp_path / "Photos" / "2024-05-01"
    folder.mkdir(parents=True)
    for name in ("A.jpg", "B.jpg", "C.jpg", "D.jpg", "E.jpg", "F.jpg", "G.jpg"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / name)
    cat = LrcatWriter(tmp_path / "Cat" / "Test.lrcat")
    root = cat.add_root(tmp_path / "Photos")
    fol = cat.add_folder(root, "2024-05-01/")
    ids = {}

    def photo(name, settings=None, **kw):
        ids[name] = cat.add_image(cat.add_file(fol, name), "2024-05-01T10:00:00.00", **kw)
        cat.add_exif(ids[name], "Canon EOS R6", aperture_apex=4.0, shutter_apex=7.97, iso=400, focal=50, flash=False)
        if settings is not None:
            cat.add_develop(ids[name], settings)

    photo("A.jpg", {**CUSTOM, "IncrementalTemperature": 10, "IncrementalTint": -4})
    # Compressed (Lightroom Classic 13): 4-byte big-endian length, then zlib; inserted as raw bytes.
    text = develop_text({"WhiteBalance": "Custom", "IncrementalTemperature": -20, "IncrementalTint": 3}).encode()
    photo("B.jpg", struct.pack(">I", len(text)) + zlib.compress(text))
    photo("C.jpg", {"WhiteBalance": "As Shot", "Exposure2012": 0.1})
    photo("D.jpg", None)
    photo("E.jpg", "s = { WhiteBalance = \"Custom\", Temperature = ")  # truncated text
    photo("F.jpg", {"WhiteBalance": "Custom", "IncrementalTemperature": 5, "IncrementalTint": 0}, pick=-1)
    photo("G.jpg", {"WhiteBalance": "Daylight"})
    photo("Gone.jpg", {"WhiteBalance": "Custom", "IncrementalTemperature": 5, "IncrementalTint": 0})
    copy = cat.add_virtual_copy(ids["A.jpg"], "Warm")
    cat.add_develop(copy, {"WhiteBalance": "Custom", "IncrementalTemperature": 25, "IncrementalTint": -4},
                    compressed=True)
    ids["A copy"] = copy
    cat.close()
    return cat.path, ids


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_photo_is_labelled_or_a_counted_skip(tmp_path):
    path, ids = build_catalog(tmp_path)
    cat = read_lightroom(path)
    by_image = {p.image: p for p in cat.photos}
    assert set(by_image) == {ids["A.jpg"], ids["B.jpg"], ids["A copy"]}
    assert cat.summary() == {"labelled": 3, AS_SHOT: 1, NO_SETTINGS: 1, BAD_TEXT: 1, REJECT: 1, NO_WB: 1, MISSING: 1}
    assert sum(cat.summary().values()) == 9  # every Adobe_images row is accounted for
    reasons = {s["image"]: s["reason"] for s in cat.skipped}
    assert reasons[ids["F.jpg"]] == REJECT and reasons[ids["Gone.jpg"]] == MISSING and reasons[ids["E.jpg"]] == BAD_TEXT


def test_settings_paths_exif_and_virtual_copies(tmp_path):
    path, ids = build_catalog(tmp_path)
    photos = {p.image: p for p in read_lightroom(path).photos}
    a, b, copy = photos[ids["A.jpg"]], photos[ids["B.jpg"]], photos[ids["A copy"]]
    assert a.path == tmp_path / "Photos" / "2024-05-01" / "A.jpg"
    assert a.settings == {"WhiteBalance": "Custom", "Temperature": 5150, "Tint": 8, "IncrementalTemperature": 10,
                          "IncrementalTint": -4}  # the import reads the white balance only
    # the compressed row:
    assert b.settings == {"WhiteBalance": "Custom", "IncrementalTemperature": -20, "IncrementalTint": 3}
    assert copy.master == ids["A.jpg"] and copy.path == a.path and copy.settings["IncrementalTemperature"] == 25
    assert a.exif == {"aperture": 4.0, "shutterSpeed": 7.97, "isoSpeedRating": 400, "focalLength": 50,
                      "flashFired": 0, "camera_model": "Canon EOS R6"}


def test_rejects_can_be_included(tmp_path):
    path, ids = build_catalog(tmp_path)
    cat = read_lightroom(path, include_rejects=True)
    assert ids["F.jpg"] in {p.image for p in cat.photos} and REJECT not in cat.summary()


def test_catalog_is_opened_read_only_and_unchanged(tmp_path):
    path, _ = build_catalog(tmp_path)
    before = sha256(path)
    read_lightroom(path)
    db = connect_readonly(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("DELETE FROM Adobe_images")
    db.close()
    assert sha256(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["Test.lrcat"]  # no journal or lock left behind


def test_compressed_text_both_byte_orders_and_corruption():
    text = 's = { Temperature = 4000, Tint = 2, WhiteBalance = "Custom" }'
    data = text.encode()
    big = struct.pack(">I", len(data)) + zlib.compress(data)
    little = struct.pack("<I", len(data)) + zlib.compress(data)
    assert decode_develop_text(big, "w") == text == decode_develop_text(little, "w")
    assert decode_develop_text(text.encode(), "w") == text  # plain text stored as a blob
    with pytest.raises(CatalogError, match="where: compressed develop settings hold"):
        decode_develop_text(struct.pack(">I", 999) + zlib.compress(data), "where")
    with pytest.raises(CatalogError, match="where: compressed develop settings are corrupt"):
        decode_develop_text(big[:-6], "where")


@pytest.mark.parametrize("bad", ['s = { Temperature = ', "return 5", "{ ??? }"])
def test_unparsable_develop_text_is_a_clear_error(bad):
    with pytest.raises(CatalogError, match="where: develop settings"):
        parse_develop_settings(bad, "where")


def test_not_a_catalog(tmp_path):
    with pytest.raises(CatalogError, match="Lightroom catalog not found"):
        read_lightroom(tmp_path / "none.lrcat")
    (tmp_path / "text.lrcat").write_text("hello" * 100)
    with pytest.raises(CatalogError, match="text.lrcat: not a readable SQLite database"):
        read_lightroom(tmp_path / "text.lrcat")
    sqlite3.connect(tmp_path / "other.lrcat").execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(CatalogError, match="other.lrcat: not a Lightroom Classic catalog: table.*Adobe_images"):
        read_lightroom(tmp_path / "other.lrcat")


def test_a_white_balance_that_is_not_a_number_is_a_counted_skip(tmp_path):
    (tmp_path / "P").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "P" / "X.jpg")
    cat = LrcatWriter(tmp_path / "c.lrcat")
    image = cat.add_image(cat.add_file(cat.add_folder(cat.add_root(tmp_path / "P"), ""), "X.jpg"), None)
    cat.add_develop(image, 's = { WhiteBalance = "Custom", IncrementalTemperature = "warm", IncrementalTint = 0 }')
    cat.close()
    got = read_lightroom(cat.path)
    assert got.summary() == {"labelled": 0, BAD_TEXT: 1}
    assert "IncrementalTemperature = 'warm' is not a number" in got.skipped[0]["detail"]


def test_a_crafted_compressed_row_costs_no_more_than_its_prefix_and_is_counted(tmp_path):
    """A zlib stream whose length prefix says 4.8 KB but which inflates to 256 MB: inflated no
    further than 4.8 KB (+1 byte), refused, and counted as undecodable text."""
    import tracemalloc

    packer = zlib.compressobj(9)
    bomb = b"".join(packer.compress(b"s = { WhiteBalance = \"Custom\" " + b" " * (1 << 20)) if i == 0
                    else packer.compress(b" " * (1 << 20)) for i in range(256)) + packer.flush()
    crafted = struct.pack(">I", 4800) + bomb
    tracemalloc.start()
    with pytest.raises(CatalogError, match="inflate beyond the 4,800 bytes their length prefix says"):
        decode_develop_text(crafted, "w")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20  # not the 256 MB the stream holds
    cat = LrcatWriter(tmp_path / "c.lrcat")
    folder = cat.add_folder(cat.add_root(tmp_path), "")
    cat.add_develop(cat.add_image(cat.add_file(folder, "A.dng"), None), crafted)
    cat.close()
    assert read_lightroom(cat.path).summary() == {"labelled": 0, BAD_TEXT: 1}


def test_rejects_and_as_shot_rows_are_never_parsed(tmp_path, monkeypatch):
    import lightroom.lrcat as lr

    cat = LrcatWriter(tmp_path / "c.lrcat")
    folder = cat.add_folder(cat.add_root(tmp_path), "")
    cat.add_develop(cat.add_image(cat.add_file(folder, "R.dng"), None, pick=-1), "s = { not lua at all")
    cat.add_develop(cat.add_image(cat.add_file(folder, "S.dng"), None),
                    's = { WhiteBalance = "As Shot", Temperature = 5150, Tint = 4, Look = { Name = "x" } }')  # by text
    cat.add_develop(cat.add_image(cat.add_file(folder, "T.dng"), None),
                    {"WhiteBalance": "As Shot", "Temperature": 4950, "Tint": -2}, compressed=True)  # by column
    cat.close()
    parsed = []
    monkeypatch.setattr(lr, "parse_develop_settings", lambda text, where: parsed.append(where) or {})
    got = list(lr.iter_lightroom(cat.path))
    assert [r for _, r, _ in got] == [REJECT, AS_SHOT, AS_SHOT] and not parsed
    assert [p.as_shot for p, _, _ in got[1:]] == [(5150.0, 4.0), (4950.0, -2.0)]  # Lightroom's own as-shot


def test_the_white_balance_scan_reads_the_top_level_only_and_agrees_with_a_full_parse():
    settings = {"Exposure2012": 0.35, "Look": {"Name": "Preset { with braces }", "Parameters": {"Temperature": 9999}},
                "WhiteBalance": "Custom", "Temperature": 5150, "Tint": -8, "Label": 'say "Tint = 3"',
                "GradientBasedCorrections": [{"LocalTemperature": 12, "Temperature": 1}], "ToneCurvePV2012": [0, 0]}
    text = develop_text(settings)
    full = parse_develop_settings(text, "w")
    assert white_balance_of(text, "w") == {k: full[k] for k in ("WhiteBalance", "Temperature", "Tint")}
    with pytest.raises(CatalogError, match="braces do not close"):
        white_balance_of(text[: len(text) // 2], "w")


def test_the_catalog_query_has_no_per_row_subquery(tmp_path):
    """Catalogs are read without an index wbstyle could add (read-only): a subquery run once per
    photo would make a 100k-photo import quadratic (38 s per 10k rows measured)."""
    from lightroom.lrcat import _query

    path, _ = build_catalog(tmp_path)
    db = connect_readonly(path)
    plan = [str(r) for masters in (False, True) for r in db.execute("EXPLAIN QUERY PLAN " + _query(db, masters))]
    db.close()
    assert plan and not any("CORRELATED" in p for p in plan)
