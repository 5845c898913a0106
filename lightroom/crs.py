"""A Lightroom catalog's develop settings as Camera Raw (crs:) XMP properties.

Lightroom keeps a photo's edits in the catalog (Adobe_imageDevelopSettings.text, a Lua table) and
writes them to XMP only when the photographer saves metadata to files. *Read Metadata from Files*
then replaces every develop setting of the photo with the file's: a packet holding only a white
balance would reset exposure, crop, profile and lens corrections to their defaults. So when `apply`
has the catalog it writes the photo's whole develop settings, translated here, and only the white
balance changed.

Translation (the names are the same in both places: `Exposure2012 = 0.35` is crs:Exposure2012):
* a number -> its decimal text (no exponent), a boolean -> "True"/"False", a string as it is;
* a tone curve (ToneCurve, ToneCurvePV2012 and its Red/Green/Blue; the Lua table is a flat list
  x1, y1, x2, y2, ...) -> an rdf:Seq of "x, y" points, as Lightroom writes them;
* any other list -> an rdf:Seq (of texts, or of structures for a list of tables such as the
  local corrections);
* a table with named keys -> a structure (rdf:parseType="Resource") whose fields are crs: too.
Keys that are not XML names (none in Lightroom's own tables) are left out and reported.

crs:Version and crs:ProcessVersion: Lightroom writes both in every packet. A new packet takes the
process version from the catalog's settings when it holds one, else CURRENT_PROCESS_VERSION
("15.4", process version 6, the current one since Camera Raw 15.4 / Lightroom Classic 12.4), and
crs:Version = CURRENT_CRS_VERSION ("16.0", Camera Raw 16 / Lightroom Classic 13), unless the
settings carry a Version.
"""
from __future__ import annotations

import re

import numpy as np
from lxml import etree

NS_CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

CURRENT_CRS_VERSION = "16.0"
CURRENT_PROCESS_VERSION = "15.4"

# The white balance: written by wbstyle itself, never copied from the catalog.
WB_KEYS = ("WhiteBalance", "Temperature", "Tint", "IncrementalTemperature", "IncrementalTint")
_TONE_CURVE = re.compile(r"^ToneCurve(PV2012)?(Red|Green|Blue)?$")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def format_value(value: object) -> str:
    """A scalar as crs text: True/False, integers without a point, floats without an exponent."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return np.format_float_positional(value, trim="-")
    return str(value)


def is_scalar(value: object) -> bool:
    return not isinstance(value, (dict, list, tuple))


def _as_list(value: object) -> list | None:
    """A Lua array as a list (slpp gives a list, or a dict keyed 1..n for a sparse one); None for a table."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
        return [value[k] for k in sorted(value)]
    return None


def translatable(settings: dict) -> tuple[dict, list[str]]:
    """(the settings to carry, the keys left out): the white balance and non-XML names are left out."""
    keep, left_out = {}, []
    for k, v in settings.items():
        if k in WB_KEYS:
            continue
        if not isinstance(k, str) or not _XML_NAME.match(k):
            left_out.append(str(k))
            continue
        keep[k] = v
    return keep, left_out


def _seq(parent: etree._Element, items: list) -> None:
    seq = etree.SubElement(parent, f"{{{NS_RDF}}}Seq")
    for item in items:
        li = etree.SubElement(seq, f"{{{NS_RDF}}}li")
        if isinstance(item, dict) and _as_list(item) is None:
            li.set(f"{{{NS_RDF}}}parseType", "Resource")
            _fields(li, item)
        elif is_scalar(item):
            li.text = format_value(item)
        else:
            _seq(li, _as_list(item) or [])


def _fields(parent: etree._Element, table: dict) -> None:
    for k, v in table.items():
        if isinstance(k, str) and _XML_NAME.match(k):
            add_property(parent, k, v)


def add_property(parent: etree._Element, name: str, value: object) -> None:
    """crs:name as a child element of `parent` (an rdf:Description or a structure)."""
    el = etree.SubElement(parent, f"{{{NS_CRS}}}{name}")
    items = _as_list(value)
    if is_scalar(value):
        el.text = format_value(value)
    elif items is not None and _TONE_CURVE.match(name) and len(items) % 2 == 0 and all(map(is_scalar, items)):
        _seq(el, [f"{format_value(x)}, {format_value(y)}" for x, y in zip(items[0::2], items[1::2])])
    elif items is not None:
        _seq(el, items)
    else:
        el.set(f"{{{NS_RDF}}}parseType", "Resource")
        _fields(el, value)


def new_packet_versions(settings: dict | None) -> dict[str, str]:
    """crs:Version and crs:ProcessVersion for a packet wbstyle creates (see the module doc)."""
    s = settings or {}
    return {"Version": str(s.get("Version") or CURRENT_CRS_VERSION),
            "ProcessVersion": str(s.get("ProcessVersion") or CURRENT_PROCESS_VERSION)}
