"""Official preprocessing: BGR, minus the ImageNet mean, bilinear resize or
bottom/right padding with the mean colour; checked on hand-computed pixels."""
from __future__ import annotations

import re
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from convertkit.errors import InputFileError, UsageError
from convertkit.runtime.preprocess import (MEAN_BGR, SAMPLE_DIR, preprocess, preprocess_batch,
                                   read_image, sample_images)

pytest.importorskip("cv2", reason="opencv-python-headless (convertkit[opencv]) is not installed")

B, G, R = MEAN_BGR


def write_rgb_png(path: Path, rgb: np.ndarray) -> Path:
    """A PNG written by hand (zlib + struct, no OpenCV), so that the channel order the
    test expects does not come from the library under test."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit truecolour RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def test_hand_checked_pixel_is_bgr_minus_the_mean(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[1, 2] = (200, 100, 50)  # R, G, B of the bottom-right pixel
    path = write_rgb_png(tmp_path / "px.png", rgb)
    x = preprocess(path, (2, 3))
    assert x.shape == (1, 3, 2, 3) and x.dtype == np.float32
    # Channel 0 is blue: 50 - 103.939; channel 1 green: 100 - 116.779; 2 red: 200 - 123.68.
    np.testing.assert_allclose(x[0, :, 1, 2], [50 - 103.939, 100 - 116.779, 200 - 123.68],
                               rtol=0, atol=1e-4)
    np.testing.assert_allclose(x[0, :, 0, 0], [-B, -G, -R], rtol=0, atol=1e-4)


def test_bilinear_resize_hand_checked(tmp_path):
    # One row, blue 0 then 100. Upsampled to 4 columns with half-pixel centres, the
    # column centres map to -0.25, 0.25, 0.75, 1.25 -> 0, 25, 75, 100 (edges clamped).
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1, 2] = 100
    x = preprocess(write_rgb_png(tmp_path / "ramp.png", rgb), (1, 4), mode="resize")
    np.testing.assert_allclose(x[0, 0, 0] + B, [0, 25, 75, 100], atol=1e-3)
    np.testing.assert_allclose(x[0, 2, 0], [-R] * 4, atol=1e-4)


def test_pad_mode_pads_bottom_right_with_the_mean_colour():
    img = np.full((2, 3, 3), (10, 20, 30), np.uint8)  # BGR array
    x = preprocess(img, (4, 5), mode="pad")
    assert x.shape == (1, 3, 4, 5)
    np.testing.assert_allclose(x[0, :, :2, :3], np.broadcast_to(
        np.array([10 - B, 20 - G, 30 - R], np.float32)[:, None, None], (3, 2, 3)), atol=1e-4)
    assert not x[0, :, 2:, :].any() and not x[0, :, :, 3:].any()  # exactly 0
    # Larger than the crop: the top-left window.
    big = np.arange(6 * 6 * 3, dtype=np.uint8).reshape(6, 6, 3)
    np.testing.assert_allclose(preprocess(big, 4, mode="pad")[0, 0], big[:4, :4, 0] - np.float32(B))


def test_fit_mode_keeps_the_aspect_and_pads():
    img = np.full((100, 50, 3), 200, np.uint8)
    x = preprocess(img, (20, 20), mode="fit")
    assert np.allclose(x[0, 0, :, :10], 200 - B) and not x[0, :, :, 10:].any()


def test_grey_nets_get_the_grey_image_minus_the_mean_grey(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[1, 2] = (200, 100, 50)
    path = write_rgb_png(tmp_path / "px.png", rgb)
    x = preprocess(path, (2, 3), channels=1)
    assert x.shape == (1, 1, 2, 3) and x.dtype == np.float32
    mean = 0.114 * B + 0.587 * G + 0.299 * R  # 117.378: BT.601 luma of the mean colour
    # 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2, stored as an 8-bit 124.
    np.testing.assert_allclose(x[0, 0, 1, 2], 124 - mean, atol=1e-4)
    np.testing.assert_allclose(x[0, 0, 0, 0], -mean, atol=1e-4)
    padded = preprocess(np.full((2, 2, 3), 90, np.uint8), (3, 4), mode="pad", channels=1)
    np.testing.assert_allclose(padded[0, 0, :2, :2], 90 - mean, atol=1e-4)
    assert not padded[0, 0, 2:].any() and not padded[0, 0, :, 2:].any()
    with pytest.raises(UsageError, match="1- or 3-channel"):
        preprocess(path, 2, channels=2)


def test_batch_helper_stacks_images(tmp_path):
    paths = sample_images()
    x = preprocess_batch(paths, (33, 65))
    assert x.shape == (len(paths), 3, 33, 65) and x.dtype == np.float32
    np.testing.assert_array_equal(x[1:2], preprocess(paths[1], (33, 65)))
    with pytest.raises(UsageError):
        preprocess_batch([], 10)


def test_unreadable_images_raise_one_line_input_file_errors(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(InputFileError) as err:
        read_image(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputFileError, match="not found"):
        preprocess(tmp_path / "missing.jpg", 10)
    with pytest.raises(InputFileError, match="directory"):
        read_image(tmp_path)


def test_bad_arguments_are_usage_errors():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(UsageError, match="unknown preprocessing mode"):
        preprocess(img, 4, mode="stretch")
    with pytest.raises(UsageError, match="positive"):
        preprocess(img, (0, 4))
    with pytest.raises(UsageError, match="H x W x 3"):
        preprocess(np.zeros((4, 4, 5)), 4)


def test_missing_opencv_says_how_to_install_it(monkeypatch, tmp_path):
    path = write_rgb_png(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    with pytest.raises(UsageError, match=r"convertkit\[opencv\]"):
        read_image(path)


def test_sample_images_are_small_real_photographs_with_licences():
    paths = sample_images()
    assert len(paths) >= 3 and paths[0].parent == SAMPLE_DIR
    licences = (SAMPLE_DIR / "LICENSES.md").read_text()
    for p in paths:
        img = read_image(p)
        assert max(img.shape[:2]) <= 512 and img.std() > 20  # a photograph, not a flat field
        assert p.stat().st_size < 200_000
        row = next(line for line in licences.splitlines() if f"`{p.name}`" in line)
        assert re.search(r"Public domain|CC0", row), p.name
