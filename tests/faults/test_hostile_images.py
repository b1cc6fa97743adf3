"""Hostile images: decompression bombs refused before decoding, tiny images refused."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from ferapp.vision import intake
from ferapp.vision.detect import HaarDetector


def png_bomb(width, height):
    """A valid PNG of width x height black pixels: tiny on disk, huge once decoded."""
    raw = zlib.compress(b"\x00" * (1 + width) * 64)  # only a few rows: enough to start
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [7_000, 50_000])
def test_decompression_bomb_refused_before_decoding(monkeypatch, side):
    from PIL import Image

    bomb = png_bomb(side, side)
    assert len(bomb) < 100_000

    def no_decode(*args, **kwargs):
        raise AssertionError("no pixel may be decoded from a bomb")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    with pytest.raises(intake.InvalidImage, match="too large") as err:
        intake.decode_image(bomb)
    assert err.value.status == 413


def test_tiny_images_are_refused_and_detector_is_safe():
    tiny = cv2.imencode(".png", np.zeros((1, 640, 3), np.uint8))[1].tobytes()
    with pytest.raises(intake.InvalidImage, match="too small"):
        intake.decode_image(tiny)
    assert HaarDetector().detect(np.zeros((1, 640), np.uint8)) == []
    assert HaarDetector().detect(np.zeros((30, 2000), np.uint8)) == []
