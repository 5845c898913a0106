"""XMP white balance: read, merge and write the settings Lightroom reads with *Read Metadata from Files*.

Where Lightroom looks (Camera Raw settings, namespace crs = http://ns.adobe.com/camera-raw-settings/1.0/):
* proprietary raws (CR2, CR3, NEF, ARW, ...): a sidecar named after the raw, IMG_0001.CR3 ->
  IMG_0001.xmp, with crs:WhiteBalance="Custom", crs:Temperature (K) and crs:Tint;
* DNG: the same absolute values, embedded in the file's own XMP;
* JPEG / TIFF (rendered files): embedded XMP with *relative* values, crs:IncrementalTemperature
  and crs:IncrementalTint (the -100..+100 sliders Lightroom shows for rendered files).

Relative values (our mapping; Adobe publishes none). A rendered file has no as-shot Kelvin: it was
already white-balanced by its camera. wbstyle treats it as shot at the reference white
(RELATIVE_TEMP = 5500 K, RELATIVE_TINT = 0): `ingest` and `import-lightroom` give such files
currTemp = 5500, currTint = 0, and a predicted (Temperature, Tint) becomes

    IncrementalTemperature = round(mired(5500 K) - mired(Temperature)) / MIRED_PER_STEP, clipped to +-100
    IncrementalTint        = round(Tint - 0), clipped to +-100

with MIRED_PER_STEP = 1: one slider step is one mired (a warmer prediction = a higher Kelvin =
a positive step, as on the raw slider). `import-lightroom` reads a JPEG's incremental edit back
through the exact inverse, so the model learns and predicts rendered files on one scale.

Merge, never clobber: an existing sidecar is parsed (lxml, entity resolution and network off: XMP
can come from anywhere), only the crs white-balance properties are changed (attribute or element
form, wherever they already are) and every other attribute and element is kept. crs:HasSettings="True"
is added when absent (Camera Raw ignores crs settings without it). Sidecars are written to a temp
file in the same folder and moved over the old one (os.replace: atomic); the first version is kept
as NAME.xmp.orig. Embedded XMP goes through the same lxml merge: exiftool reads the packet out of the
file and writes the merged packet back (it writes a temp file and renames it); the original file is
kept as NAME.EXT_original (exiftool's convention) the first time.

Hand-set white balance: if the photo already has crs:WhiteBalance="Custom" with other values than
we are about to write, someone set it by hand: HandSetWhiteBalance, unless force=True. Values
wbstyle wrote itself are recognised (wbstyle:Temperature/Tint in our own namespace record them) and
may be replaced, as long as nobody changed them since.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lxml import etree

from catalog import wb
from catalog.artifacts import write_bytes
from catalog.errors import CatalogError

NS_CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_X = "adobe:ns:meta/"
NS_WBSTYLE = "https://github.com/wbstyle/ns/1.0/"

RELATIVE_TEMP, RELATIVE_TINT = 5500.0, 0.0
MIRED_PER_STEP = 1.0
INCREMENTAL_LIMIT = 100

ABSOLUTE = ("Temperature", "Tint")
RELATIVE = ("IncrementalTemperature", "IncrementalTint")
WB_PROPERTIES = ("WhiteBalance",) + ABSOLUTE + RELATIVE
EMBEDDED_SUFFIXES = (".dng", ".jpg", ".jpeg", ".tif", ".tiff")
RELATIVE_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff")


class HandSetWhiteBalance(CatalogError):
    """A photo's XMP holds a Custom white balance someone set by hand."""


# ----------------------------------------------------------------------------------------------
# Relative (rendered-file) mapping.
# ----------------------------------------------------------------------------------------------
def temp_tint_to_incremental(temp, tint) -> tuple[np.ndarray, np.ndarray]:
    """Absolute (Temperature K, Tint) -> Lightroom's relative sliders for JPEG/TIFF (see module doc)."""
    steps = (wb.kelvin_to_mired(RELATIVE_TEMP) - wb.kelvin_to_mired(temp)) / MIRED_PER_STEP
    inc_t = np.clip(np.rint(steps), -INCREMENTAL_LIMIT, INCREMENTAL_LIMIT)
    inc_tint = np.clip(np.rint(np.asarray(tint, np.float64) - RELATIVE_TINT), -INCREMENTAL_LIMIT, INCREMENTAL_LIMIT)
    return inc_t[()], inc_tint[()]


def incremental_to_temp_tint(inc_temp, inc_tint) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of temp_tint_to_incremental (exact for unclipped values)."""
    mired = wb.kelvin_to_mired(RELATIVE_TEMP) - np.asarray(inc_temp, np.float64) * MIRED_PER_STEP
    return wb.mired_to_kelvin(mired)[()], (np.asarray(inc_tint, np.float64) + RELATIVE_TINT)[()]


def target_values(path: Path, temp: float, tint: float) -> dict[str, str]:
    """The crs properties to write for a photo at `path` (absolute for raws/DNG, relative for JPEG/TIFF),
    formatted as Lightroom writes them (integers, tint and increments with a sign)."""
    if path.suffix.lower() in RELATIVE_SUFFIXES:
        inc_t, inc_tint = temp_tint_to_incremental(temp, tint)
        return {"WhiteBalance": "Custom", "IncrementalTemperature": f"{int(inc_t):+d}",
                "IncrementalTint": f"{int(inc_tint):+d}"}
    return {"WhiteBalance": "Custom", "Temperature": str(int(round(temp))), "Tint": f"{int(round(tint)):+d}"}


# ----------------------------------------------------------------------------------------------
# Parsing and merging XMP packets (lxml).
# ----------------------------------------------------------------------------------------------
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_blank_text=False)

EMPTY_PACKET = (f'<x:xmpmeta xmlns:x="{NS_X}" x:xmptk="wbstyle">'
                f'<rdf:RDF xmlns:rdf="{NS_RDF}"></rdf:RDF></x:xmpmeta>').encode()


def parse_xmp(data: bytes, where: str) -> etree._Element:
    """XMP bytes -> root element; CatalogError naming `where` when it is not XML with an rdf:RDF."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as e:
        raise CatalogError(f"{where}: not valid XMP/XML ({e}); fix or move the file, wbstyle will not "
                           f"overwrite it") from e
    if root.tag != f"{{{NS_RDF}}}RDF" and root.find(f".//{{{NS_RDF}}}RDF") is None:
        raise CatalogError(f"{where}: XML without an rdf:RDF element; not an XMP sidecar")
    return root


def _rdf(root: etree._Element) -> etree._Element:
    return root if root.tag == f"{{{NS_RDF}}}RDF" else root.find(f".//{{{NS_RDF}}}RDF")


def read_properties(root: etree._Element, names=WB_PROPERTIES, ns: str = NS_CRS) -> dict[str, str]:
    """crs properties found in any rdf:Description, as attributes or as simple child elements."""
    out: dict[str, str] = {}
    for desc in _rdf(root).iter(f"{{{NS_RDF}}}Description"):
        for name in names:
            key = f"{{{ns}}}{name}"
            if key in desc.attrib:
                out[name] = desc.attrib[key]
            else:
                el = desc.find(key)
                if el is not None and el.text is not None:
                    out[name] = el.text.strip()
    return out


def _set_property(rdf: etree._Element, name: str, value: str, ns: str, prefix: str) -> None:
    """Set one property where it already is (attribute or element); else as an attribute of a
    Description that declares the namespace (a new Description when none does)."""
    key = f"{{{ns}}}{name}"
    for desc in rdf.iter(f"{{{NS_RDF}}}Description"):
        if key in desc.attrib:
            desc.set(key, value)
            return
        el = desc.find(key)
        if el is not None:
            el.text = value
            return
    for desc in rdf.iter(f"{{{NS_RDF}}}Description"):
        if desc.nsmap.get(prefix) == ns:
            desc.set(key, value)
            return
    desc = etree.SubElement(rdf, f"{{{NS_RDF}}}Description", nsmap={prefix: ns})
    desc.set(f"{{{NS_RDF}}}about", "")
    desc.set(key, value)


def _differs(old: dict[str, str], new: dict[str, str]) -> bool:
    for k, v in new.items():
        if k == "WhiteBalance":
            continue
        try:
            if k not in old or abs(float(old[k]) - float(v)) > 0.5:
                return True
        except ValueError:
            return True
    return False


def is_hand_set(old: dict[str, str], ours: dict[str, str], new: dict[str, str]) -> bool:
    """A Custom white balance that differs from `new` and is not the one wbstyle wrote last."""
    if old.get("WhiteBalance") != "Custom" or not _differs(old, new):
        return False
    written = {k: v for k, v in ours.items() if k in new}
    return not written or _differs(old, written)


def merge_wb(data: bytes | None, values: dict[str, str], where: str, force: bool = False) -> bytes:
    """Merge white-balance `values` (crs property -> text) into an XMP packet (None: a new one);
    returns the new packet. HandSetWhiteBalance when a different hand-set Custom WB is there."""
    root = parse_xmp(data, where) if data else etree.fromstring(EMPTY_PACKET, _PARSER)
    old = read_properties(root)
    ours = read_properties(root, values.keys(), NS_WBSTYLE)
    if not force and is_hand_set(old, ours, values):
        raise HandSetWhiteBalance(f"{where}: holds a white balance set by hand (WhiteBalance=Custom, "
                                  f"{_fmt(old)}), not {_fmt(values)}; pass --force to overwrite it")
    rdf = _rdf(root)
    for name, value in values.items():
        _set_property(rdf, name, value, NS_CRS, "crs")
        if name != "WhiteBalance":
            _set_property(rdf, name, value, NS_WBSTYLE, "wbstyle")
    if "HasSettings" not in read_properties(root, ("HasSettings",)):
        _set_property(rdf, "HasSettings", "True", NS_CRS, "crs")
    return etree.tostring(root.getroottree(), xml_declaration=False, encoding="utf-8")


def _fmt(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if k != "WhiteBalance") or "no values"


# ----------------------------------------------------------------------------------------------
# Files.
# ----------------------------------------------------------------------------------------------
def sidecar_path(photo: Path) -> Path:
    """IMG_0001.CR3 -> IMG_0001.xmp (Lightroom's naming; the extension's case is kept lower)."""
    return photo.with_suffix(".xmp")


def _atomic_write(path: Path, data: bytes) -> None:
    """The sidecar as an XMP packet, written atomically (catalog.artifacts: temp file, fsync, rename)."""
    write_bytes(path, b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + data
                + b'\n<?xpacket end="w"?>\n')


@dataclass
class Change:
    """One photo's white balance, before and after (crs property -> text). packet: the XMP it has
    now (None: none yet); target: the sidecar, or the photo itself for embedded XMP."""
    photo: Path
    target: Path
    old: dict[str, str]
    new: dict[str, str]
    hand_set: bool
    packet: bytes | None

    @property
    def embedded(self) -> bool:
        return self.target == self.photo


def plan_change(photo: Path, temp: float, tint: float, packet: bytes | None, target: Path) -> Change:
    """What writing (temp, tint) to `photo` would change, given its current XMP packet."""
    values = target_values(photo, temp, tint)
    old, ours = {}, {}
    if packet:
        root = parse_xmp(packet, str(target))
        old, ours = read_properties(root), read_properties(root, values.keys(), NS_WBSTYLE)
    return Change(photo, target, old, values, is_hand_set(old, ours, values), packet)


def uses_sidecar(photo: Path) -> bool:
    """Proprietary raws get a sidecar; DNG/JPEG/TIFF carry their XMP inside."""
    return photo.suffix.lower() not in EMBEDDED_SUFFIXES


def current_packets(photos: list[Path]) -> dict[Path, bytes | None]:
    """Each photo's XMP as it is now: its sidecar's bytes, or the packet embedded in the file (exiftool)."""
    out: dict[Path, bytes | None] = {}
    embedded = []
    for p in photos:
        if uses_sidecar(p):
            side = sidecar_path(p)
            out[p] = side.read_bytes() if side.exists() else None
        else:
            embedded.append(p)
    if embedded:
        with _exiftool() as et:
            for p in embedded:
                text = et.execute("-xmp", "-b", str(p))
                out[p] = text.encode("utf-8") if text.strip() else None
    return out


def _backup(path: Path, suffix: str) -> None:
    backup = path.with_name(path.name + suffix)
    if not backup.exists():  # the first backup is the original, before wbstyle ever wrote
        shutil.copy2(path, backup)


def write_changes(changes: list[Change], force: bool = False) -> None:
    """Merge each change into its XMP: sidecars atomically (temp + os.replace, NAME.xmp.orig kept),
    embedded packets through exiftool (NAME.EXT_original kept). All hand-set checks run before the
    first write, so a refusal leaves every file as it was."""
    for c in changes:
        if c.hand_set and not force:
            raise HandSetWhiteBalance(f"{c.target}: holds a white balance set by hand (WhiteBalance=Custom, "
                                      f"{_fmt(c.old)}), not {_fmt(c.new)}; pass --force to overwrite it")
    merged = [merge_wb(c.packet, c.new, str(c.target), force=True) for c in changes]
    embedded = [(c, m) for c, m in zip(changes, merged) if c.embedded]
    for c, m in zip(changes, merged):
        if not c.embedded:
            if c.target.exists():
                _backup(c.target, ".orig")
            _atomic_write(c.target, m)
    if embedded:
        _write_embedded(embedded)


def _write_embedded(items: list[tuple[Change, bytes]]) -> None:
    with tempfile.TemporaryDirectory(prefix="wbstyle-xmp-") as tmp, _exiftool() as et:
        for i, (c, packet) in enumerate(items):
            _backup(c.photo, "_original")
            xmp = Path(tmp) / f"{i}.xmp"
            xmp.write_bytes(packet)
            et.execute("-overwrite_original", f"-xmp<={xmp}", str(c.photo))
            if et.last_status != 0:
                raise CatalogError(f"{c.photo}: exiftool could not write its XMP ({et.last_stderr.strip()})")


def _exiftool():
    import exiftool

    return exiftool.ExifToolHelper()
