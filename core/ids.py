"""Photo ids as file names: the one check every reader and writer by `id_global` goes through.

An id comes from a CSV (untrusted: a catalog, or a style model, may come from someone else) and
becomes a file name: the image `images/<id>.tif`, audit pictures, sidecars, apply/add-edits
outputs. An id that holds a path separator or is `..` would read or write outside its folder
(`../../.bashrc`), so every command that touches a file by id calls `check_id` (or `id_problem`
to collect problems instead of raising) first.

    from core.ids import check_id
    path = out_dir / f"{check_id(row.id_global, where=f'{csv}: row 3 (line 4)')}.png"

Accepted: any non-empty text without a path separator (/ \\), NUL or other control characters,
that is not `.` or `..`, and at most MAX_ID_BYTES bytes in UTF-8 (file systems refuse longer names).
Everything else (spaces, dots, unicode) is left alone: real catalogs use UUIDs and camera names.
"""
from __future__ import annotations

from core.errors import CatalogError

MAX_ID_BYTES = 200  # 255 is the usual file-name limit; leave room for a suffix such as ".audit.png"


def id_problem(value: object) -> str | None:
    """Why `value` cannot be used as a file name, or None when it can."""
    if not isinstance(value, str) or not value:
        return "it is empty"
    if "/" in value or "\\" in value:
        return "it holds a path separator"
    if value in (".", ".."):
        return "it names a folder"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "it holds a control character"
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"it is longer than {MAX_ID_BYTES} bytes"
    return None


def check_id(value: object, where: str = "") -> str:
    """`value` if it is a safe file name, else CatalogError '{where}: id_global ... is not a file name'."""
    why = id_problem(value)
    if why is not None:
        prefix = f"{where}: " if where else ""
        raise CatalogError(f"{prefix}id_global {value!r} is not a file name ({why}); ids name the image "
                           f"file and every file written for the photo")
    return value  # type: ignore[return-value]
