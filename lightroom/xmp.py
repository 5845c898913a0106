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

Rendered files of every kind (JPEG, TIFF, PNG, WebP, HEIC, ...) get the relative sliders; raws and
DNGs the absolute ones. Whether a photo is raw comes from the catalog when apply has it (the file
format Lightroom recorded), else from the file's extension (lightroom.raw.is_raw).

Hand-set white balance: any white balance other than "As Shot" (Custom, Daylight, Cloudy, Shade,
Tungsten, Fluorescent, Flash, Auto) with other values than we are about to write was chosen by
someone: HandSetWhiteBalance, unless force=True. Values wbstyle wrote itself are recognised
(wbstyle:Temperature/Tint in our own namespace record them) and may be replaced, as long as nobody
changed them since.

The photographer's other settings (lightroom.crs): given the photo's develop settings from the
catalog, the merge writes every one of them (replacing stale copies in the packet), so that *Read
Metadata from Files* changes the white balance and nothing else. A packet wbstyle creates carries
crs:Version and crs:ProcessVersion, as Lightroom's own do.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lxml import etree

from core import wb
from core.artifacts import write_bytes
from lightroom.crs import NS_CRS, NS_RDF, add_property, format_value, is_scalar, new_packet_versions, translatable
from core.errors import CatalogError
from lightroom.raw import is_raw

NS_X = "adobe:ns:meta/"
NS_WBSTYLE = "https://github.com/wbstyle/ns/1.0/"

RELATIVE_TEMP, RELATIVE_TINT = 5500.0, 0.0
MIRED_PER_STEP = 1.0
INCREMENTAL_LIMIT = 100

ABSOLUTE = ("Temperature", "Tint")
RELATIVE = ("IncrementalTemperature", "IncrementalTint")
WB_PROPERTIES = ("WhiteBalance",) + ABSOLUTE + RELATIVE
EMBEDDED_SUFFIXES = (".dng", ".jpg", ".jpeg", ".tif", ".tiff")
AS_SHOT = "As Shot"


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


def target_values(path: Path, temp: float, tint: float, raw: bool | None = None) -> dict[str, str]:
    """The crs properties to write for a photo at `path` (absolute for raws/DNG, relative for rendered
    files), formatted as Lightroom writes them (integers, tint and increments with a sign). raw: what
    the catalog says the file is; None = decide by the extension."""
    if not (is_raw(path) if raw is None else raw):
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
    """A white balance other than As Shot that differs from `new` and is not the one wbstyle wrote last."""
    if old.get("WhiteBalance") in (None, AS_SHOT) or not _differs(old, new):
        return False
    written = {k: v for k, v in ours.items() if k in new}
    return not written or _differs(old, written)


def _remove_property(rdf: etree._Element, name: str) -> None:
    """Drop crs:name wherever it is (attribute or element), so the catalog's value replaces it."""
    key = f"{{{NS_CRS}}}{name}"
    for desc in rdf.iter(f"{{{NS_RDF}}}Description"):
        desc.attrib.pop(key, None)
        for el in desc.findall(key):
            desc.remove(el)


def _crs_description(rdf: etree._Element) -> etree._Element:
    """The top-level Description that declares crs (a new one when none does)."""
    for desc in rdf.findall(f"{{{NS_RDF}}}Description"):
        if desc.nsmap.get("crs") == NS_CRS:
            return desc
    desc = etree.SubElement(rdf, f"{{{NS_RDF}}}Description", nsmap={"crs": NS_CRS})
    desc.set(f"{{{NS_RDF}}}about", "")
    return desc


def _carry_settings(rdf: etree._Element, settings: dict) -> None:
    """Every develop setting of the catalog (lightroom.crs) into the packet, replacing older copies:
    scalars as attributes, lists and structures as elements, as Lightroom writes them."""
    carry, _ = translatable(settings)
    desc = _crs_description(rdf)
    for name, value in carry.items():
        _remove_property(rdf, name)
        if is_scalar(value):
            desc.set(f"{{{NS_CRS}}}{name}", format_value(value))
        else:
            add_property(desc, name, value)


def holds_develop_settings(packet: bytes | None, where: str = "XMP") -> bool:
    """Whether a packet holds any crs setting besides a white balance wbstyle could write: merging
    into it keeps what Lightroom saved; a packet without one would reset the photo's other edits."""
    if not packet:
        return False
    root = parse_xmp(packet, where)
    ours = set(WB_PROPERTIES) | {"HasSettings", "Version", "ProcessVersion"}
    for desc in _rdf(root).iter(f"{{{NS_RDF}}}Description"):
        names = [etree.QName(k) for k in desc.attrib] + [etree.QName(el) for el in desc if isinstance(el.tag, str)]
        if any(q.namespace == NS_CRS and q.localname not in ours for q in names):
            return True
    return False


def merge_wb(data: bytes | None, values: dict[str, str], where: str, force: bool = False,
             settings: dict | None = None) -> bytes:
    """Merge white-balance `values` (crs property -> text) into an XMP packet (None: a new one);
    returns the new packet. settings: the photo's develop settings from the catalog, all carried
    over (the white balance is `values`'). HandSetWhiteBalance when a different hand-set WB is there."""
    root = parse_xmp(data, where) if data else etree.fromstring(EMPTY_PACKET, _PARSER)
    old = read_properties(root)
    ours = read_properties(root, values.keys(), NS_WBSTYLE)
    if not force and is_hand_set(old, ours, values):
        raise HandSetWhiteBalance(f"{where}: holds a white balance set by hand (WhiteBalance={old['WhiteBalance']}, "
                                  f"{_fmt(old)}), not {_fmt(values)}; pass --force to overwrite it")
    rdf = _rdf(root)
    if settings:
        _carry_settings(rdf, settings)
    present = read_properties(root, ("Version", "ProcessVersion", "HasSettings"))
    for name, value in new_packet_versions(settings).items():
        if name not in present:  # an existing packet's versions are Lightroom's own: kept
            _set_property(rdf, name, value, NS_CRS, "crs")
    for name in WB_PROPERTIES:  # absolute and relative sliders never both: the other kind goes
        if name not in values:
            _remove_property(rdf, name)
    for name, value in values.items():
        _set_property(rdf, name, value, NS_CRS, "crs")
        if name != "WhiteBalance":
            _set_property(rdf, name, value, NS_WBSTYLE, "wbstyle")
    if "HasSettings" not in present:
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
    """The sidecar as an XMP packet, written atomically (core.artifacts: temp file, fsync, rename)."""
    write_bytes(path, b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + data
                + b'\n<?xpacket end="w"?>\n')


@dataclass
class Change:
    """One photo's white balance, before and after (crs property -> text). packet: the XMP it has
    now (None: none yet); target: the sidecar, or the photo itself for embedded XMP; settings: the
    photo's develop settings from the catalog (None: apply was not given the catalog, or the photo
    is not in it), all written with the white balance."""
    photo: Path
    target: Path
    old: dict[str, str]
    new: dict[str, str]
    hand_set: bool
    packet: bytes | None
    settings: dict | None = None

    @property
    def embedded(self) -> bool:
        return self.target == self.photo

    @property
    def from_nothing(self) -> bool:
        """Writing it would give Lightroom a white balance and no other setting of the photo."""
        return self.settings is None and not holds_develop_settings(self.packet, str(self.target))


def plan_change(photo: Path, temp: float, tint: float, packet: bytes | None, target: Path,
                raw: bool | None = None, settings: dict | None = None) -> Change:
    """What writing (temp, tint) to `photo` would change, given its current XMP packet and, when
    known, its develop settings in the catalog (whose white balance is then the one Lightroom holds)."""
    values = target_values(photo, temp, tint, raw)
    old, ours = {}, {}
    if packet:
        root = parse_xmp(packet, str(target))
        old, ours = read_properties(root), read_properties(root, values.keys(), NS_WBSTYLE)
    if settings is not None:
        old = {k: format_value(settings[k]) for k in WB_PROPERTIES if k in settings and is_scalar(settings[k])}
    return Change(photo, target, old, values, is_hand_set(old, ours, values), packet, settings)


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
                out[p] = _embedded_packet(et, p)
    return out


def _backup(path: Path, suffix: str) -> None:
    backup = path.with_name(path.name + suffix)
    if not backup.exists():  # the first backup is the original, before wbstyle ever wrote
        shutil.copy2(path, backup)


def write_changes(changes: list[Change], force: bool = False) -> None:
    """Merge each change into its XMP (write_change). All hand-set checks run before the first
    write, so a refusal leaves every file as it was."""
    for c in changes:
        if c.hand_set and not force:
            raise HandSetWhiteBalance(f"{c.target}: holds a white balance set by hand (WhiteBalance="
                                      f"{c.old.get('WhiteBalance')}, {_fmt(c.old)}), not {_fmt(c.new)}; "
                                      f"pass --force to overwrite it")
    with tempfile.TemporaryDirectory(prefix="wbstyle-xmp-") as tmp, _exiftool() as et:
        for c in changes:
            write_change(c, et, Path(tmp))


def write_change(change: Change, et, tmp: Path) -> None:
    """Read, merge and write one photo's XMP: the one place a sidecar or packet is read, changed and
    written back. The XMP is read again here, not taken from the plan, so that nothing written to it
    since is lost. Sidecars: temp file + atomic rename, the first version kept as NAME.xmp.orig;
    embedded packets: exiftool (it writes a temp file and renames it), the original file kept as
    NAME.EXT_original. et: a running exiftool (ExifToolHelper); tmp: a scratch folder."""
    where = str(change.target)
    if not change.embedded:
        packet = change.target.read_bytes() if change.target.exists() else None
        merged = merge_wb(packet, change.new, where, force=True, settings=change.settings)
        if change.target.exists():
            _backup(change.target, ".orig")
        _atomic_write(change.target, merged)
        return
    merged = merge_wb(_embedded_packet(et, change.photo), change.new, where, force=True, settings=change.settings)
    _backup(change.photo, "_original")
    xmp = tmp / "packet.xmp"
    xmp.write_bytes(merged)
    et.execute("-overwrite_original", f"-xmp<={xmp}", str(change.photo))
    if et.last_status != 0:
        raise CatalogError(f"{change.photo}: exiftool could not write its XMP ({et.last_stderr.strip()})")


def _embedded_packet(et, photo: Path) -> bytes | None:
    text = et.execute("-xmp", "-b", str(photo))
    return text.encode("utf-8") if text.strip() else None


def _exiftool():
    import exiftool

    return exiftool.ExifToolHelper()
