"""core.ids: the one file-name check every reader and writer by id goes through."""
import pytest

from core.errors import CatalogError
from core.ids import MAX_ID_BYTES, check_id, id_problem


@pytest.mark.parametrize("ok", ["21D7D982-F8BD-4045-B8E8-CD4EA93D7D0A", "IMG_0001.CR3", "é photo (1)", "a..b", ".hidden"])
def test_plain_names_pass_unchanged(ok):
    assert id_problem(ok) is None and check_id(ok) == ok


@pytest.mark.parametrize("bad, why", [("", "empty"), (None, "empty"), ("a/b", "path separator"),
                                      ("a\\b", "path separator"), ("../../etc/passwd", "path separator"),
                                      ("..", "names a folder"), (".", "names a folder"),
                                      ("a\x00b", "control character"), ("a\nb", "control character"),
                                      ("x" * (MAX_ID_BYTES + 1), "longer than")])
def test_unsafe_ids_are_refused_with_the_reason_and_the_place(bad, why):
    assert why in id_problem(bad)
    with pytest.raises(CatalogError, match=rf"^preds\.csv: row 3 \(line 4\): id_global .* is not a file name \(.*{why}"):
        check_id(bad, where="preds.csv: row 3 (line 4)")
