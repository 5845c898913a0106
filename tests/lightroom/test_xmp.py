"""lightroom/xmp.py: merge-never-clobber XMP writes, checked by an independent reader (exiftool)."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import CatalogError
from lightroom.xmp import (HandSetWhiteBalance, current_packets, incremental_to_temp_tint, merge_wb, plan_change,
                         sidecar_path, target_values, temp_tint_to_incremental, write_changes)

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None,
                                reason="exiftool (Debian: libimage-exiftool-perl) not installed")

EXISTING = """<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    crs:Version="15.4" crs:WhiteBalance="{wb}" crs:Temperature="{temp}" crs:Tint="{tint}"
    crs:Exposure2012="+0.50" crs:Contrast2012="+12" crs:HasSettings="True">
   <crs:ToneCurvePV2012>
    <rdf:Seq><rdf:li>0, 0</rdf:li><rdf:li>255, 255</rdf:li></rdf:Seq>
   </crs:ToneCurvePV2012>
   <dc:subject><rdf:Bag><rdf:li>wedding</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def exiftool_crs(path: Path) -> dict:
    """What another program sees: exiftool's reading of the XMP-crs group."""
    out = subprocess.run(["exiftool", "-j", "-XMP-crs:all", "-XMP-dc:all", str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)[0]


def apply(photo: Path, temp: float, tint: float, force: bool = False):
    target = photo if photo.suffix.lower() in (".dng", ".jpg", ".tif") else sidecar_path(photo)
    change = plan_change(photo, temp, tint, current_packets([photo])[photo], target)
    write_changes([change], force=force)
    return change


def raw_with_sidecar(tmp_path, wb="As Shot", temp=5100, tint="+3") -> Path:
    photo = tmp_path / "IMG_0001.CR3"
    photo.write_bytes(b"raw bytes")  # apply never decodes the raw; it only names the sidecar
    (tmp_path / "IMG_0001.xmp").write_text(EXISTING.format(wb=wb, temp=temp, tint=tint))
    return photo


def test_incremental_mapping_round_trips_and_warmer_is_positive():
    inc_t, inc_tint = temp_tint_to_incremental(6000.0, 7.0)
    assert inc_t == round(1e6 / 5500 - 1e6 / 6000) and inc_t > 0 and inc_tint == 7
    t, tint = incremental_to_temp_tint(inc_t, inc_tint)
    assert t == pytest.approx(1e6 / (1e6 / 5500 - inc_t)) and tint == 7
    assert temp_tint_to_incremental(50000.0, -400.0) == (100, -100)  # clipped to the slider's range


def test_sidecar_is_named_after_the_raw_and_read_by_exiftool(tmp_path):
    photo = tmp_path / "IMG_0002.NEF"
    photo.write_bytes(b"raw")
    apply(photo, 4321.4, -7.2)
    assert sidecar_path(photo) == tmp_path / "IMG_0002.xmp"
    seen = exiftool_crs(tmp_path / "IMG_0002.xmp")
    assert seen["WhiteBalance"] == "Custom" and seen["ColorTemperature"] == 4321 and int(seen["Tint"]) == -7
    assert seen["HasSettings"] is True


def test_merge_keeps_every_other_setting_and_keeps_a_backup(tmp_path):
    photo = raw_with_sidecar(tmp_path)
    original = (tmp_path / "IMG_0001.xmp").read_bytes()
    apply(photo, 4800, 6)
    seen = exiftool_crs(tmp_path / "IMG_0001.xmp")
    assert seen["ColorTemperature"] == 4800 and int(seen["Tint"]) == 6 and seen["WhiteBalance"] == "Custom"
    assert seen["Exposure2012"] == "+0.50" and seen["Contrast2012"] == "+12" and seen["Version"] == 15.4
    assert seen["ToneCurvePV2012"] == ["0, 0", "255, 255"] and seen["Subject"] == "wedding"
    assert (tmp_path / "IMG_0001.xmp.orig").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.CR3", "IMG_0001.xmp", "IMG_0001.xmp.orig"]


def test_element_form_properties_are_updated_in_place():
    packet = EXISTING.replace('crs:Temperature="{temp}" ', "").replace(
        "<crs:ToneCurvePV2012>", "<crs:Temperature>3000</crs:Temperature><crs:ToneCurvePV2012>")
    out = merge_wb(packet.format(wb="As Shot", tint="+1").encode(), {"WhiteBalance": "Custom", "Temperature": "4000",
                                                                   "Tint": "+2"}, "x.xmp")
    text = out.decode()
    assert "<crs:Temperature>4000</crs:Temperature>" in text
    assert 'crs:Temperature="' not in text  # updated where it was, not added a second time as an attribute


def test_hand_set_white_balance_is_refused_unless_forced(tmp_path):
    photo = raw_with_sidecar(tmp_path, wb="Custom", temp=3900, tint="+10")
    before = (tmp_path / "IMG_0001.xmp").read_bytes()
    with pytest.raises(HandSetWhiteBalance, match="IMG_0001.xmp: holds a white balance set by hand.*--force"):
        apply(photo, 5200, 0)
    assert (tmp_path / "IMG_0001.xmp").read_bytes() == before
    apply(photo, 3900, 10)  # the same values: nothing to protect
    apply(photo, 5200, 0, force=True)
    assert exiftool_crs(tmp_path / "IMG_0001.xmp")["ColorTemperature"] == 5200


def test_our_own_earlier_write_may_be_replaced_but_not_once_edited_by_hand(tmp_path):
    photo = raw_with_sidecar(tmp_path)
    apply(photo, 4800, 6)
    apply(photo, 5000, 4)  # a newer model's prediction replaces ours
    assert exiftool_crs(tmp_path / "IMG_0001.xmp")["ColorTemperature"] == 5000
    side = tmp_path / "IMG_0001.xmp"
    side.write_text(side.read_text().replace('crs:Temperature="5000"', 'crs:Temperature="6100"'))  # the photographer
    with pytest.raises(HandSetWhiteBalance):
        apply(photo, 5300, 4)


def test_malformed_sidecar_is_an_error_and_left_alone(tmp_path):
    photo = tmp_path / "IMG_0003.ARW"
    photo.write_bytes(b"raw")
    (tmp_path / "IMG_0003.xmp").write_text("<x:xmpmeta><rdf:RDF>")
    with pytest.raises(CatalogError, match="IMG_0003.xmp: not valid XMP"):
        apply(photo, 5000, 0)
    assert (tmp_path / "IMG_0003.xmp").read_text() == "<x:xmpmeta><rdf:RDF>"


def test_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    evil = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&e;</dc:title>'
            '</rdf:Description></rdf:RDF></x:xmpmeta>')
    out = merge_wb(evil.encode(), {"WhiteBalance": "Custom", "Temperature": "5000", "Tint": "+0"}, "evil.xmp")
    assert b"TOP-SECRET" not in out


def test_jpeg_gets_relative_values_embedded_with_a_backup(tmp_path):
    photo = tmp_path / "IMG_0004.jpg"
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(photo)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-crs:Exposure2012=+1.00", "-XMP-dc:Title=keep me",
                    str(photo)], check=True)
    original = photo.read_bytes()
    apply(photo, 6000, 7)
    seen = exiftool_crs(photo)
    assert int(seen["IncrementalTemperature"]) == round(1e6 / 5500 - 1e6 / 6000) and int(seen["IncrementalTint"]) == 7
    assert seen["Exposure2012"] == "+1.00" and seen["Title"] == "keep me" and "ColorTemperature" not in seen
    assert (tmp_path / "IMG_0004.jpg_original").read_bytes() == original
    assert Image.open(photo).size == (16, 16)


def test_dng_gets_absolute_values_embedded_and_still_decodes(tmp_path):
    import rawpy

    from demo.generate_lightroom import write_dng

    photo = write_dng(tmp_path / "IMG_0005.dng", np.full((32, 32, 3), 120, np.uint8), "Canon EOS R6", 5000.0, 0.0)
    apply(photo, 4400, 12)
    seen = exiftool_crs(photo)
    assert seen["ColorTemperature"] == 4400 and int(seen["Tint"]) == 12 and "IncrementalTemperature" not in seen
    with rawpy.imread(str(photo)) as raw:
        assert raw.raw_image.shape == (32, 32)


def test_tiff_gets_relative_values_embedded(tmp_path):
    import tifffile

    photo = tmp_path / "IMG_0006.tif"
    tifffile.imwrite(photo, np.full((16, 16, 3), 90, np.uint8), photometric="rgb")
    apply(photo, 4000, -5)
    seen = exiftool_crs(photo)
    assert int(seen["IncrementalTemperature"]) == round(1e6 / 5500 - 1e6 / 4000) and int(seen["IncrementalTint"]) == -5
    assert tifffile.imread(photo).shape == (16, 16, 3)  # still a readable image


@pytest.mark.parametrize("wb", ["Daylight", "Cloudy", "Shade", "Tungsten", "Fluorescent", "Flash", "Auto", "Custom"])
def test_every_white_balance_but_as_shot_is_hand_set(tmp_path, wb):
    photo = raw_with_sidecar(tmp_path, wb=wb, temp=5100, tint="+3")
    before = sidecar_path(photo).read_bytes()
    with pytest.raises(HandSetWhiteBalance, match=f"WhiteBalance={wb}"):
        apply(photo, 6200, 4)
    assert sidecar_path(photo).read_bytes() == before
    (tmp_path / "as_shot").mkdir()
    as_shot = raw_with_sidecar(tmp_path / "as_shot", wb="As Shot")
    assert apply(as_shot, 6200, 4).hand_set is False  # As Shot is the camera's, not a choice


@pytest.mark.parametrize("suffix", [".png", ".webp", ".heic", ".jpg", ".tif"])
def test_rendered_files_of_every_kind_get_the_relative_sliders(suffix):
    values = target_values(Path("IMG_0001" + suffix), 6000.0, 3.0)
    assert set(values) == {"WhiteBalance", "IncrementalTemperature", "IncrementalTint"}
    assert int(values["IncrementalTemperature"]) == round(1e6 / 5500 - 1e6 / 6000)
    assert set(target_values(Path("IMG_0001.png"), 6000.0, 3.0, raw=True)) == {"WhiteBalance", "Temperature", "Tint"}
    assert "Temperature" not in target_values(Path("IMG_0001.dng"), 6000.0, 3.0, raw=False)  # a DNG made from a JPEG


def test_png_sidecar_holds_increments_and_the_versions_lightroom_writes(tmp_path):
    photo = tmp_path / "IMG_0009.png"
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(photo)
    apply(photo, 6000, 3)
    got = exiftool_crs(sidecar_path(photo))
    assert int(got["IncrementalTemperature"]) == round(1e6 / 5500 - 1e6 / 6000) and int(got["IncrementalTint"]) == 3
    assert "ColorTemperature" not in got and str(got["ProcessVersion"]) == "15.4" and str(got["Version"]) == "16.0"
