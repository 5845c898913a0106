"""catalog.reader: layouts A/B/folder read right; every bad input gives a specific CatalogError."""
import warnings

import numpy as np
import pandas as pd
import pytest

from catalog import CatalogError, ImageReadError, find_split, load_catalog, read_catalog
from catalog.images import read_image, square_resize
from catalog.reader import INPUT_COLUMNS, CatalogWarning, scan_catalog


def edit_csv(path, fn):
    """Rewrite a CSV as text (no type conversion), after fn(DataFrame) changed it."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = fn(df)
    df = df if out is None else out
    df.to_csv(path, index=False)
    return df


def train_csv(root):
    return root / "Train" / "sliders.csv"


def test_layout_a_train(make_catalog):
    root = make_catalog(n_train=6, n_val=3, layout="A")
    cat = read_catalog(root, "Train")
    t = cat.table
    assert cat.split == "Train" and cat.csv_path == train_csv(root) and len(cat) == 6
    assert cat.exif_units == "plain" and cat.missing_columns == [] and cat.extra_columns == []
    assert set(INPUT_COLUMNS) <= set(cat.present_columns) and cat.has_labels() and cat.skipped == []
    assert t["row"].tolist() == [1, 2, 3, 4, 5, 6]
    for c in ("currTemp", "currTint", "aperture", "shutterSpeed", "flashFired", "ev", "Temperature", "Tint"):
        assert t[c].dtype == np.float64, c
    assert all(isinstance(v, str) for v in t["id_global"])
    assert [p.stem for p in cat.image_paths] == t["id_global"].tolist()
    assert str(t["capture_time"].dtype).startswith("datetime64") and t["shoot"].iloc[0] == "2023-01-10"
    assert "6 rows in CSV, 6 used, 0 skipped" in cat.summary()


def test_layout_a_validation_and_labels(make_catalog):
    root = make_catalog(n_train=4, n_val=3, layout="A", with_labels=False)
    assert find_split(root, "Validation") == (root / "Validation" / "sliders_inputs.csv", root / "Validation" / "images")
    val = read_catalog(root, "Validation")
    assert val.split == "Validation" and len(val) == 3 and not val.has_labels()
    with pytest.raises(CatalogError, match="label column 'Temperature' is missing"):
        read_catalog(root, "Validation", labels="required")


def test_layout_b_real_release(make_catalog):
    root = make_catalog(n_train=5, n_val=3, layout="B", with_labels=False)
    cat = read_catalog(root, "Train")
    assert cat.exif_units == "apex"  # shutterSpeed APEX values ~7, not seconds
    assert cat.missing_columns == ["camera_model", "camera_group", "intensity", "ev"]
    assert cat.extra_columns == ["copyCreationTime", "touchTime"]
    assert cat.table["touchTime"].dtype == np.float64  # extra columns kept, numeric when numeric
    val = read_catalog(root, "Validation")
    assert val.csv_path.name == "sliders_input.csv" and "hasDevelopAdjustmentsEx" in val.extra_columns
    assert len(val) == 3 and not val.has_labels()


def test_folder_layout_and_train_dir_given_directly(make_catalog):
    folder = make_catalog(n_train=4, layout="folder")
    cat = read_catalog(folder, "folder")
    assert cat.split == "folder" and len(cat) == 4 and cat.image_dir == folder / "images"
    assert len(read_catalog(folder)) == 4  # a single folder also serves as Train
    root = make_catalog(n_train=4, n_val=2, layout="A")
    assert len(read_catalog(root / "Train")) == 4


def test_capture_time_and_shoot(make_catalog):
    root = make_catalog(n_train=4, n_val=0)

    def times(df):
        df["captureTime"] = ["2023-05-28T20:08:51.87", "2023-09-30T17:08:05", "", "2022-03-24T21:02:12+02:00"]
    edit_csv(train_csv(root), times)
    t = read_catalog(root).table
    assert t["capture_time"].iloc[0] == pd.Timestamp("2023-05-28 20:08:51.870")
    assert t["shoot"].tolist() == ["2023-05-28", "2023-09-30", None, "2022-03-24"]
    assert pd.isna(t["capture_time"].iloc[2])


def test_load_catalog_images_in_row_order(make_catalog):
    root = make_catalog(n_train=5, n_val=0, size=24)
    cat = load_catalog(root, "Train", image_size=16, progress=False)
    assert cat.images.shape == (5, 16, 16, 3) and cat.images.dtype == np.uint8
    for i, p in enumerate(cat.image_paths):
        assert np.array_equal(cat.images[i], square_resize(read_image(p), 16))
    assert "images 5 x 16px" in cat.summary()


def test_unlabelled_train_row_skipped_and_counted(make_catalog):
    root = make_catalog(n_train=5, n_val=0)
    df = edit_csv(train_csv(root), lambda d: d.assign(Temperature=["5000", "", "5100", "5200", "5300"]))
    with pytest.warns(CatalogWarning, match=r"skipped 1 of 5 rows without a label.*rows 2 \(line 3\)"):
        cat = read_catalog(root)
    assert len(cat) == 4 and cat.table["row"].tolist() == [1, 3, 4, 5]
    assert cat.skipped == [{"row": 2, "id_global": df["id_global"][1], "reason": "no label (Temperature missing)"}]
    assert "5 rows in CSV, 4 used, 1 skipped" in cat.summary()
    assert len(cat.image_paths) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_catalog(root, labels="ignore")) == 5  # nothing skipped, no warning


def test_validation_rows_without_labels_are_kept(make_catalog):
    root = make_catalog(n_train=3, n_val=3, with_labels=True)
    edit_csv(root / "Validation" / "sliders_inputs.csv", lambda d: d.assign(Tint=["", "3", ""]))
    val = read_catalog(root, "Validation")
    assert len(val) == 3 and val.skipped == [] and not val.has_labels()


def test_missing_id_value(make_catalog):
    root = make_catalog(n_train=4, n_val=0)
    edit_csv(train_csv(root), lambda d: d.assign(id_global=list(d["id_global"][:2]) + ["", d["id_global"][3]]))
    with pytest.raises(CatalogError, match=r"sliders.csv: row 3 \(line 4\): id_global is empty"):
        read_catalog(root)


def test_missing_image_file(make_catalog):
    root = make_catalog(n_train=4, n_val=0)
    cat = read_catalog(root)
    gone = cat.image_paths[1]
    gone.unlink()
    with pytest.raises(CatalogError, match=rf"row 2 \(line 3\), id_global '{gone.stem}': image file not found; "
                                           rf"expected .*{gone.name}"):
        read_catalog(root)


def test_corrupt_tiff(make_catalog):
    root = make_catalog(n_train=4, n_val=0)
    bad = read_catalog(root).image_paths[2]
    bad.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ImageReadError, match=bad.name):
        load_catalog(root, image_size=8, progress=False)
    with pytest.warns(CatalogWarning, match="1 of 4 images could not be read"):
        cat = load_catalog(root, image_size=8, progress=False, on_error="collect")
    assert list(cat.image_failures) == [2] and (cat.images[2] == 0).all() and cat.images[0].any()


def test_duplicate_id_names_both_rows(make_catalog):
    root = make_catalog(n_train=5, n_val=0)
    df = edit_csv(train_csv(root), lambda d: d.assign(id_global=[*d["id_global"][:3], d["id_global"][1], d["id_global"][4]]))
    with pytest.raises(CatalogError, match=rf"id_global '{df['id_global'][1]}' appears in rows 2 \(line 3\), 4 \(line 5\)"):
        read_catalog(root)


def test_non_numeric_value(make_catalog):
    root = make_catalog(n_train=4, n_val=0)
    edit_csv(train_csv(root), lambda d: d.assign(currTemp=["5000", "5100", "warm", "5300"]))
    with pytest.raises(CatalogError, match=r"row 3 \(line 4\), column 'currTemp': 'warm' is not a number"):
        read_catalog(root)


def test_several_problems_reported_together(make_catalog):
    root = make_catalog(n_train=4, n_val=0)
    edit_csv(train_csv(root), lambda d: d.assign(currTint=["1", "x", "3", "4"], currTemp=["5000", "5100", "5200", "-1"]))
    with pytest.raises(CatalogError) as e:
        read_catalog(root)
    assert "2 problems" in str(e.value) and "'x' is not a number" in str(e.value) and "expected Kelvin > 0" in str(e.value)
    cat, problems = scan_catalog(root)
    assert {p.kind for p in problems} == {"numeric", "value"} and len(cat) == 4
    edit_csv(train_csv(root), lambda d: d.assign(currTint=["1", "2", "3", "4"], currTemp=["5000"] * 4,
                                                 Temperature=["5000", "0", "5000", "5000"]))
    cat, problems = scan_catalog(root)  # a 0 K label is an error, not an unlabelled row to skip
    assert [(p.kind, p.row) for p in problems] == [("value", 2)] and cat.skipped == []


def test_plain_shutter_fraction_and_booleans(make_catalog):
    root = make_catalog(n_train=2, n_val=0)
    edit_csv(train_csv(root), lambda d: d.assign(shutterSpeed=["1/250", "0.5"], flashFired=["true", "No"]))
    t = read_catalog(root).table
    assert t["shutterSpeed"].tolist() == [0.004, 0.5] and t["flashFired"].tolist() == [1.0, 0.0]


def test_extra_column_kept(make_catalog):
    root = make_catalog(n_train=3, n_val=0)
    edit_csv(train_csv(root), lambda d: d.assign(note=["a", "b", ""]))
    cat = read_catalog(root)
    assert cat.extra_columns == ["note"] and cat.table["note"].tolist()[:2] == ["a", "b"]


def test_empty_catalog(make_catalog):
    root = make_catalog(n_train=3, n_val=0)
    edit_csv(train_csv(root), lambda d: d.iloc[:0])
    with pytest.raises(CatalogError, match="empty catalog: a header but no data rows"):
        read_catalog(root)
    train_csv(root).write_text("")
    with pytest.raises(CatalogError, match="empty catalog"):
        read_catalog(root)


def test_missing_required_column(make_catalog):
    root = make_catalog(n_train=3, n_val=0)
    edit_csv(train_csv(root), lambda d: d.rename(columns={"currTint": "currtint"}))
    with pytest.raises(CatalogError, match=r"required column 'currTint' is missing \(found 'currtint'"):
        read_catalog(root)


def test_csv_choice_errors(make_catalog, tmp_path):
    folder = make_catalog(n_train=2, layout="folder")
    (folder / "sliders.csv").rename(folder / "a.csv")
    assert read_catalog(folder, "folder").csv_path.name == "a.csv"  # one CSV, any name
    (folder / "b.csv").write_text("id_global\n")
    with pytest.raises(CatalogError, match=r"2 CSV files \(a.csv, b.csv\).*keep exactly one"):
        read_catalog(folder, "folder")
    (folder / "a.csv").unlink(), (folder / "b.csv").unlink()
    with pytest.raises(CatalogError, match="no CSV file"):
        read_catalog(folder, "folder")

    root = make_catalog(n_train=2, n_val=2, layout="B")
    (root / "Validation" / "sliders_inputs.csv").write_text("id_global\n")
    with pytest.raises(CatalogError, match="ambiguous catalog CSV"):
        find_split(root, "Validation")
    with pytest.raises(CatalogError, match="no Train/ folder"):
        read_catalog(tmp_path)
    with pytest.raises(CatalogError, match="catalog folder not found"):
        read_catalog(tmp_path / "nowhere")
