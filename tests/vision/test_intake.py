"""ferapp.vision.intake: EXIF orientation, WebP/TIFF/HEIC, big JPEGs decoded reduced, alpha."""

import io

import numpy as np
import pytest
from PIL import Image

from ferapp.vision import intake
from ferapp.vision.detect import iou
from tests.helpers import encode, post


def test_phone_portrait_exif_orientation(app, grace_hopper_path):
    """A portrait photo stored sideways with EXIF Orientation 6, as phones write it."""
    upright = Image.open(grace_hopper_path).convert("RGB")
    client = app.test_client()
    truth = post(client, encode(upright, "JPEG", quality=95)).get_json()
    assert len(truth["faces"]) == 1
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # pixels lie on their side
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).size == (upright.height, upright.width)
    resp = post(client, data)
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert (got["width"], got["height"]) == upright.size  # the upright picture's size
    assert len(got["faces"]) == 1
    assert iou(got["faces"][0]["box"], truth["faces"][0]["box"]) > 0.7


@pytest.mark.parametrize("fmt, name", [("WEBP", "p.webp"), ("TIFF", "p.tiff"),
                                       ("GIF", "p.gif"), ("BMP", "p.bmp"), ("PNG", "p.png")])
def test_formats_the_file_picker_offers(app, grace_hopper_path, fmt, name):
    img = Image.open(grace_hopper_path).convert("RGB")
    resp = post(app.test_client(), encode(img, fmt), name)
    assert resp.status_code == 200, resp.get_json()
    assert len(resp.get_json()["faces"]) == 1


def test_heic_works_or_is_a_clear_415(app, grace_hopper_path):
    img = Image.open(grace_hopper_path).convert("RGB")
    if intake.HEIF:
        resp = post(app.test_client(), encode(img, "HEIF"), "p.heic")
        assert resp.status_code == 200 and len(resp.get_json()["faces"]) == 1
    # a format Pillow knows but we do not read is named in the refusal
    ico = encode(img.resize((64, 64)), "ICO")
    resp = post(app.test_client(), ico, "p.ico")
    assert resp.status_code == 415 and "ICO images are not supported" in resp.get_json()["error"]


def test_big_jpeg_is_decoded_reduced_and_boxes_map_back(app, grace_hopper_path):
    img = Image.open(grace_hopper_path).convert("RGB")
    big = img.resize((img.width * 6, img.height * 6))  # 3072 x 3600
    decoded = intake.decode_image(encode(big, "JPEG", quality=90))
    assert decoded.scale == 1.0  # under 2x the working side: full size
    huge = img.resize((img.width * 10, img.height * 10))  # 5120 x 6000
    decoded = intake.decode_image(encode(huge, "JPEG", quality=85))
    assert decoded.scale == 2.0 and decoded.image.shape[:2] == (3000, 2560)
    assert (decoded.width, decoded.height) == huge.size
    resp = post(app.test_client(), encode(huge, "JPEG", quality=85))
    small = post(app.test_client(), encode(img, "JPEG", quality=95)).get_json()
    faces = resp.get_json()["faces"]
    assert len(faces) == 1
    expected = [v * 10 for v in small["faces"][0]["box"]]
    assert iou(faces[0]["box"], expected) > 0.6


def test_transparent_and_grey_images_decode(grace_hopper_path):
    img = Image.open(grace_hopper_path)
    for mode in ("L", "RGBA", "P", "I;16", "1", "CMYK"):
        fmt = "TIFF" if mode in ("I;16", "CMYK") else "PNG"
        decoded = intake.decode_image(encode(img.convert(mode), fmt))
        assert decoded.image.shape == (img.height, img.width, 3)
        assert decoded.image.dtype == np.uint8
