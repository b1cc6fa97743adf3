"""Hostile images: decompression bombs refused before decoding, tiny images refused."""

import cv2
import numpy as np
import pytest

from ferapp.vision import intake
from ferapp.vision.detect import HaarDetector
from tests.helpers import png_bomb


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
