"""catalog.images: every supported encoding decodes to the same uint8 RGB; failures name the file."""
import numpy as np
import pytest
import tifffile
from PIL import Image

from core.errors import ImageReadError
from catalog.images import load_images, read_image, square_resize

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(0, 256, (20, 28, 3), dtype=np.uint8)
SMOOTH8 = np.repeat(np.repeat(RNG.integers(40, 220, (5, 7, 3), dtype=np.uint8), 4, 0), 4, 1)  # JPEG-friendly


@pytest.mark.parametrize("name, data, kwargs, expected, tol", [
    ("uint8", RGB8, {"photometric": "rgb"}, RGB8, 0),
    ("uint16", RGB8.astype(np.uint16) * 257, {"photometric": "rgb"}, RGB8, 0),
    ("float32", RGB8.astype(np.float32) / 255, {"photometric": "rgb"}, RGB8, 0),
    ("grey", RGB8[:, :, 0], {"photometric": "minisblack"}, np.repeat(RGB8[:, :, :1], 3, 2), 0),
    ("rgba", np.dstack([RGB8, np.full(RGB8.shape[:2], 7, np.uint8)]), {"photometric": "rgb", "extrasamples": ["unassalpha"]}, RGB8, 0),
    ("lzw", RGB8, {"photometric": "rgb", "compression": "lzw"}, RGB8, 0),
    ("deflate", RGB8, {"photometric": "rgb", "compression": "zlib"}, RGB8, 0),
    ("planar", np.moveaxis(RGB8, -1, 0), {"photometric": "rgb", "planarconfig": "separate"}, RGB8, 0),
    ("jpeg", SMOOTH8, {"photometric": "rgb", "compression": "jpeg"}, SMOOTH8, 12),
])
def test_read_tiff_variants(tmp_path, name, data, kwargs, expected, tol):
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, data, **kwargs)
    img = read_image(path)
    assert img.dtype == np.uint8 and img.shape == expected.shape
    assert np.abs(img.astype(int) - expected).mean() <= tol


def test_float_is_clipped_and_multipage_takes_first(tmp_path):
    f = np.full((8, 8, 3), 2.0, np.float32)
    f[0, 0] = -1.0
    tifffile.imwrite(tmp_path / "f.tif", f, photometric="rgb")
    img = read_image(tmp_path / "f.tif")
    assert img[0, 0].tolist() == [0, 0, 0] and img[1, 1].tolist() == [255, 255, 255]
    tifffile.imwrite(tmp_path / "m.tif", np.stack([RGB8, 255 - RGB8]), photometric="rgb")
    assert np.array_equal(read_image(tmp_path / "m.tif"), RGB8)


def test_pillow_formats(tmp_path):
    Image.fromarray(RGB8).save(tmp_path / "a.png")
    Image.fromarray(RGB8[:, :, 0]).save(tmp_path / "g.png")
    assert np.array_equal(read_image(tmp_path / "a.png"), RGB8)
    assert np.array_equal(read_image(tmp_path / "g.png")[:, :, 2], RGB8[:, :, 0])


@pytest.mark.parametrize("content", [b"", b"not a tiff at all" * 10, b"II*\x00" + b"\x00" * 40])
def test_corrupt_tiff_names_file(tmp_path, content):
    path = tmp_path / "broken.tif"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match="broken.tif"):
        read_image(path)


def test_missing_and_odd_files(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nope.tif")
    tifffile.imwrite(tmp_path / "five.tif", np.zeros((6, 6, 5), np.uint8), photometric="minisblack",
                     planarconfig="contig")
    with pytest.raises(ImageReadError, match="five.tif.*5 channels"):
        read_image(tmp_path / "five.tif")
    (tmp_path / "x.bmpx").write_bytes(b"abc")
    with pytest.raises(ImageReadError, match="unsupported file type"):
        read_image(tmp_path / "x.bmpx")


def test_square_resize_centre_crop_and_antialias():
    img = np.zeros((16, 48, 3), np.uint8)
    img[:, :16] = (255, 0, 0)
    img[:, 16:32] = (0, 255, 0)
    img[:, 32:] = (0, 0, 255)
    out = square_resize(img, 16)  # the centre square is the green third
    assert out.shape == (16, 16, 3) and (out == (0, 255, 0)).all()
    tall = np.transpose(img, (1, 0, 2))
    assert (square_resize(tall, 8)[2:6, 2:6] == (0, 255, 0)).all()
    # a 1-pixel checkerboard shrunk 4x must average to grey, not alias to black or white
    checker = ((np.indices((32, 32)).sum(0) % 2) * 255).astype(np.uint8)
    small = square_resize(np.dstack([checker] * 3), 8)
    assert np.abs(small.astype(int) - 127).max() <= 12
    assert square_resize(RGB8, 40).shape == (40, 40, 3)  # upscaling works too


def test_square_resize_keeps_the_mean_colour():
    """White balance lives in the mean colour: shrinking a strongly textured, colour-cast photo must
    not move it (beyond uint8 rounding)."""
    rng = np.random.default_rng(4)
    img = (rng.uniform(0, 1, (256, 256, 3)) ** 3 * np.array([1.0, 0.8, 0.5]) * 255).round().astype(np.uint8)
    small = square_resize(img, 96)
    assert small.shape == (96, 96, 3)
    np.testing.assert_allclose(small.reshape(-1, 3).mean(0), img.reshape(-1, 3).mean(0), atol=0.5)


def test_load_images_order_and_collect(tmp_path):
    colours = [(10 * i, 255 - 20 * i, 5 * i) for i in range(7)]
    paths = []
    for i, c in enumerate(colours):
        p = tmp_path / f"{i}.tif"
        tifffile.imwrite(p, np.full((12, 20, 3), c, np.uint8), photometric="rgb")
        paths.append(p)
    for workers in (2, 1):  # a pool of threads, or one worker decoding in the calling thread
        arr, failures = load_images(paths, 6, workers=workers, progress=False)
        assert arr.shape == (7, 6, 6, 3) and arr.dtype == np.uint8 and failures == {}
        assert [tuple(a[3, 3]) for a in arr] == colours

    paths[2].write_bytes(b"garbage")
    paths[5] = tmp_path / "missing.tif"
    where = [f"sliders.csv: row {i + 1}" for i in range(7)]
    for workers in (2, 1):
        arr, failures = load_images(paths, 6, workers=workers, progress=False, on_error="collect", where=where)
        assert sorted(failures) == [2, 5] and "2.tif" in failures[2] and "missing.tif" in failures[5]
        assert failures[5].startswith("sliders.csv: row 6: ")
        assert (arr[2] == 0).all() and (arr[5] == 0).all() and tuple(arr[6, 0, 0]) == colours[6]
        with pytest.raises(ImageReadError, match="row 3: .*2.tif"):
            load_images(paths, 6, workers=workers, progress=False, where=where)
    with pytest.raises(ValueError):
        load_images(paths, 6, progress=False, on_error="ignore")


def test_raise_names_the_first_bad_row_whichever_thread_fails_first(tmp_path):
    """With a pool, a missing file late in the list fails at once while a corrupt one early on takes a
    decode attempt: the error still names the earliest bad row, every time."""
    paths = []
    for i in range(12):
        p = tmp_path / f"{i}.tif"
        tifffile.imwrite(p, np.full((64, 64, 3), 10 * i, np.uint8), photometric="rgb")
        paths.append(p)
    (tmp_path / "1.tif").write_bytes(b"II*\x00" + b"\x00" * 4000)  # a TIFF header, then nothing readable
    paths[9] = tmp_path / "missing.tif"
    where = [f"sliders.csv: row {i + 1}" for i in range(len(paths))]
    for _ in range(20):
        with pytest.raises(ImageReadError, match=r"^sliders.csv: row 2: .*1\.tif"):
            load_images(paths, 8, workers=4, progress=False, where=where)
