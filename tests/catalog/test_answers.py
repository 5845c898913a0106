"""catalog/answers.py: the one reader of id_global,Temperature,Tint CSVs (evaluate's answers and
predictions, apply's predictions) reads good files as they are and names the cell of a bad one."""
from __future__ import annotations

import numpy as np
import pytest

from catalog.answers import read_wb_csv
from core.errors import CatalogError


def _csv(tmp_path, text: str):
    path = tmp_path / "p.csv"
    path.write_text(text)
    return path


def test_reads_ids_as_text_numbers_as_floats_and_keeps_other_columns(tmp_path):
    df = read_wb_csv(_csv(tmp_path, "id_global,Temperature,Tint,shoot\n007,5000,3,a\nNA,4200.5,-2,b\n"))
    assert df["id_global"].tolist() == ["007", "NA"]  # leading zeros and 'NA' stay ids
    np.testing.assert_array_equal(df["Temperature"].to_numpy(), [5000.0, 4200.5])
    assert df["Tint"].dtype == np.float64 and df["shoot"].tolist() == ["a", "b"]


@pytest.mark.parametrize("text,match", [
    ("id_global,Temperature\na,5000\n", "needs columns id_global,Temperature,Tint; missing Tint"),
    ("id_global,Temperature,Tint\na,5000,1\nb,warm,1\n", r"row 2 \(line 3\), column 'Temperature': 'warm' is not a number"),
    ("id_global,Temperature,Tint\na,5000,\n", r"row 1 \(line 2\), column 'Tint': an empty cell is not a number"),
    ("id_global,Temperature,Tint\na,5000,1\nb,0,1\n", r"row 2 \(line 3\), column 'Temperature': expected Kelvin > 0"),
    ("id_global,Temperature,Tint\n../x,5000,1\n", r"row 1 \(line 2\): id_global '../x' is not a file name"),
    ("id_global,Temperature,Tint\na,5000,1\nb,5000,1\na,4000,1\n", r"id_global 'a' appears more than once \(rows \[1, 3\]\)"),
])
def test_a_bad_cell_is_an_error_naming_it(tmp_path, text, match):
    with pytest.raises(CatalogError, match=match):
        read_wb_csv(_csv(tmp_path, text), "predictions")


def test_a_missing_file_says_which(tmp_path):
    with pytest.raises(CatalogError, match=r"nope.csv: answers file not found"):
        read_wb_csv(tmp_path / "nope.csv", "answers")
