"""Defensive image decoding: awkward files become upright 8-bit RGB; broken ones raise DataError."""
from __future__ import annotations

import numpy as np
import pytest
from lamem_fixture import build_bad_images
from PIL import Image, ImageFile

from memscore.errors import DataError
from memscore.images import load_image, probe_image


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return build_bad_images(tmp_path_factory.mktemp("bad_images"))


@pytest.mark.parametrize("kind", ["grayscale", "cmyk", "rgba_png_as_jpg", "palette", "gray16"])
def test_awkward_images_decode_to_rgb(bad, kind):
    im = load_image(bad[kind])
    assert isinstance(im, Image.Image)
    assert im.mode == "RGB" and im.size == (32, 24)
    assert np.asarray(im).dtype == np.uint8
    assert probe_image(bad[kind]) is None


def test_grayscale_keeps_its_values(bad):
    a = np.asarray(load_image(bad["grayscale"]))
    ref = np.asarray(Image.open(bad["grayscale"]))
    assert (a[..., 0] == ref).all() and (a[..., 1] == ref).all() and (a[..., 2] == ref).all()


def test_alpha_is_composited_onto_white(bad):
    a = np.asarray(load_image(bad["rgba_png_as_jpg"])).astype(int)
    assert (a[:, :16] == 255).all()  # fully transparent half → white
    assert (a[:, 16:] == (200, 0, 0)).all()  # opaque half unchanged
    p = np.asarray(load_image(bad["palette"]))
    idx = np.asarray(Image.open(bad["palette"]))
    assert (p[idx == 3] == 255).all()  # the transparent palette index → white
    assert (p[idx == 0] == (255, 0, 0)).all()


def test_16bit_is_scaled_not_clipped(bad):
    a = np.asarray(load_image(bad["gray16"]))[..., 0].ravel()
    assert a[0] == 0 and a[-1] == 255
    assert len(np.unique(a)) > 200  # a ramp, not saturated at 255 after the first 1/256th
    assert np.all(np.diff(a.astype(int)) >= 0)


def test_exif_orientation_is_applied(bad):
    im = load_image(bad["exif_rotated"])
    assert im.size == (20, 40)  # stored 40x20, orientation 6 (rotate 90° clockwise)
    a = np.asarray(im).astype(int)
    top, bottom = a[:18].reshape(-1, 3).mean(0), a[22:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60  # stored left (red) is shown on top
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "empty", "not_an_image"])
def test_broken_images_raise_dataerror_naming_the_file(bad, kind):
    with pytest.raises(DataError) as e:
        load_image(bad[kind])
    msg = str(e.value)
    assert str(bad[kind]) in msg and "--skip-bad-images" in msg
    assert "\n" not in msg
    reason = probe_image(bad[kind])
    assert isinstance(reason, str) and reason


def test_truncation_is_an_error_even_if_pillow_pads_globally(bad, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(DataError, match="truncated"):
        load_image(bad["truncated"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the global is left as it was


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    assert probe_image(tmp_path / "nope.jpg") == "file not found"


def test_result_is_fully_loaded_and_detached(bad):
    im = load_image(bad["grayscale"])
    bad["grayscale"].rename(bad["grayscale"].with_suffix(".moved"))
    try:
        im.tobytes()  # no lazy read from the (now moved) file
    finally:
        bad["grayscale"].with_suffix(".moved").rename(bad["grayscale"])
