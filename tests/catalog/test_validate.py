"""catalog.validate: 0 and a full report on a good catalog; non-zero and every problem named on a bad one."""
import io

import pandas as pd
from rich.console import Console

from catalog.reader import read_catalog
from catalog.validate import ValidateConfig, run_validate


def validate(root, **kw):
    console = Console(record=True, width=200, file=io.StringIO())
    code = run_validate(ValidateConfig(data=root, **kw), console=console)
    return code, console.export_text()


def test_good_catalog_layout_a(make_catalog):
    root = make_catalog(n_train=8, n_val=4, layout="A")
    code, out = validate(root)
    assert code == 0, out
    for text in ("Train: rows", "Validation: rows", "CAM-0", "exif units: plain", "shoots (capture dates): 2",
                 "Temperature K", "OK"):
        assert text in out, text


def test_layout_b_reports_apex_and_missing_columns(make_catalog):
    root = make_catalog(n_train=6, n_val=2, layout="B", with_labels=False)
    code, out = validate(root, split="Train")
    assert code == 0 and "exif units: apex" in out and "camera_model, camera_group, intensity, ev" in out
    assert "Validation" not in out and "no camera_model column" in out


def test_unlabelled_row_is_counted_not_fatal(make_catalog):
    root = make_catalog(n_train=5, n_val=0)
    csv = root / "Train" / "sliders.csv"
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df.loc[3, "Tint"] = ""
    df.to_csv(csv, index=False)
    code, out = validate(root)
    assert code == 0
    assert "no label (Tint missing): 1" in out and "skipped 1 of 5 rows" in out


def test_broken_catalog_reports_every_problem(make_catalog):
    root = make_catalog(n_train=6, n_val=0)
    cat = read_catalog(root)
    cat.image_paths[0].write_bytes(b"garbage")  # unreadable
    cat.image_paths[1].unlink()  # missing
    csv = root / "Train" / "sliders.csv"
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df.loc[4, "id_global"] = df.loc[2, "id_global"]  # duplicate
    df.loc[5, "currTemp"] = "n/a?"  # non-numeric
    df.to_csv(csv, index=False)
    code, out = validate(root)
    assert code != 0
    for text in ("unreadable images (1)", cat.image_paths[0].name, "missing images (1)", "image file not found",
                 "duplicate ids (1)", "rows 3 (line 4), 5 (line 6)", "non-numeric values (1)", "'n/a?' is not a number"):
        assert text in out, text
    # without decoding, the corrupt file goes unnoticed but the rest is still reported
    code, out = validate(root, image_check=False)
    assert code != 0 and "unreadable images" not in out and "not checked" in out


def test_missing_required_column_and_no_catalog(make_catalog, tmp_path):
    root = make_catalog(n_train=3, n_val=0)
    csv = root / "Train" / "sliders.csv"
    pd.read_csv(csv, dtype=str).drop(columns=["currTemp"]).to_csv(csv, index=False)
    code, out = validate(root)
    assert code != 0 and "required column 'currTemp' is missing" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = validate(empty)
    assert code != 0 and "no catalog found" in out
    code, out = validate(tmp_path / "nowhere")
    assert code != 0 and "not found" in out
    code, out = validate(root, split="Validation")  # asked for a split that is not there
    assert code != 0 and "no Validation/ folder" in out
    code, out = validate(root, split="test")
    assert code != 0 and "split must be" in out


def test_folder_layout(make_catalog):
    folder = make_catalog(n_train=4, layout="folder")
    code, out = validate(folder)
    assert code == 0 and "folder: rows" in out
