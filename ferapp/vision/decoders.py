"""Pixels of a probed image (``intake.Header``), per format, at the header's reduction.

* Pillow (JPEG, PNG, TIFF, BMP, GIF): the image is loaded (one plane at the DCT-scaled or
  full size), then converted and reduced band by band: besides the loaded plane only the
  reduced BGR result and one band of BAND_PIXELS are held, whatever the mode.
* WebP: libwebp through OpenCV, reduced on the way out where the file allows (1/2, 1/4,
  1/8); HEIC: libheif's own buffer, reduced at once.
* The result is always 8-bit BGR: transparent pixels on white, 16-bit and float images
  scaled to 8 bits; ``upright`` turns it as EXIF says.

Errors are raised as they come (ValueError, OSError, ...): intake reports them as a corrupt
or truncated image.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
from PIL import Image

from ferapp.vision.headers import Header

try:  # HEIC/HEIF photos from phones; optional
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - depends on the install
    HEIF = False

BAND_PIXELS = 2**20  # Pillow decodes are converted and reduced this many pixels at a time
ALPHA_MODES = {"RGBA", "LA", "PA", "La", "RGBa"}
WEBP_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def first_mode(mode: str, alpha: bool) -> str | None:
    """The mode a loaded image is converted to at full size, before it is reduced (palette,
    bilevel and 16-bit images have no meaningful reduce; a transparent colour needs alpha),
    or None."""
    if mode in ("P", "PA") or (alpha and mode not in ALPHA_MODES):
        return "RGBA" if alpha else "RGB"
    if mode == "1":
        return "L"
    if mode.startswith("I;16"):
        return "I"
    return None


def webp_step(alpha: bool, factor: int) -> int:
    """OpenCV's reduced WebP decode (1/2, 1/4, 1/8) within ``factor``; 1 with alpha (its
    reduced modes drop the alpha plane)."""
    if alpha:
        return 1
    return max(s for s in WEBP_REDUCED if s <= factor)


# EXIF orientation -> how to turn the stored pixels upright (Pillow's ImageOps.exif_transpose)
def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as EXIF ``orientation`` says (1-8), as a contiguous array."""
    if orientation == 2:
        image = image[:, ::-1]
    elif orientation == 3:
        image = image[::-1, ::-1]
    elif orientation == 4:
        image = image[::-1]
    elif orientation == 5:
        image = image.swapaxes(0, 1)
    elif orientation == 6:
        image = np.rot90(image, -1)
    elif orientation == 7:
        image = image.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        image = np.rot90(image, 1)
    return np.ascontiguousarray(image)


def _on_white(bgra: np.ndarray, band: int = 256) -> np.ndarray:
    """A BGR image of a BGRA one, transparent pixels shown on white (in bands of rows, so
    the 16-bit sums stay small whatever the size)."""
    out = np.empty(bgra.shape[:2] + (3,), np.uint8)
    for y in range(0, bgra.shape[0], band):
        rows = bgra[y:y + band]
        alpha = rows[..., 3:4].astype(np.uint16)
        out[y:y + band] = (rows[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255
    return out


def _value_range(img: Image.Image) -> tuple[float, float] | None:
    """(low, span) mapping an integer or float image to 8 bits; None for 8-bit modes."""
    if not (img.mode in ("I", "F") or img.mode.startswith("I;16")):
        return None
    low, high = img.getextrema()
    if img.mode == "F" and low >= 0 and high <= 1:  # the usual 0-1 range of float images
        return 0.0, 1.0
    if img.mode != "F" and low >= 0 and high <= 255:
        return 0.0, 255.0
    return float(low), float(high - low) or 1.0


def _band_to_bgr(band: Image.Image, value_range) -> np.ndarray:
    """One reduced band of rows as BGR (8-bit, transparent pixels on white)."""
    if value_range is not None:
        low, span = value_range
        band = band.point(lambda v: (v - low) * (255 / span)).convert("L")
    if band.mode in ALPHA_MODES:
        rgba = np.asarray(band.convert("RGBA"))
        return _on_white(rgba[..., [2, 1, 0, 3]])
    rgb = np.asarray(band if band.mode == "RGB" else band.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def decode_pillow(header: Header) -> np.ndarray:
    """Load, then convert and reduce band by band: besides Pillow's loaded plane, only the
    reduced BGR result and one band (BAND_PIXELS) are held, whatever the mode."""
    img, header.opened = header.opened, None  # dropped with this function
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img.load()
    factor, (w, h) = header.factor, img.size
    first = first_mode(img.mode, header.alpha)
    value_range = _value_range(img)
    out = np.empty((-(-h // factor), -(-w // factor), 3), np.uint8)
    step = max(factor, BAND_PIXELS // w // factor * factor)
    for y in range(0, h, step):
        band = img.crop((0, y, w, min(h, y + step)))
        if first:
            band = band.convert(first)
        if factor > 1:
            band = band.reduce(factor)
        out[y // factor:y // factor + band.height] = _band_to_bgr(band, value_range)
    return out


def _read(header: Header) -> bytes:
    header.stream.seek(0)
    return header.stream.read()


def decode_webp(header: Header) -> np.ndarray:
    flags = (cv2.IMREAD_UNCHANGED if header.alpha
             else WEBP_REDUCED[webp_step(header.alpha, header.factor)])
    image = cv2.imdecode(np.frombuffer(_read(header), np.uint8),
                         flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise ValueError("OpenCV could not decode the WebP")
    return _finish(image, header)


def decode_heif(header: Header) -> np.ndarray:
    heif = pillow_heif.open_heif(_read(header), convert_hdr_to_8bit=True, bgr_mode=True)
    image = np.asarray(heif)  # libheif's own buffer, no copy
    del heif
    return _finish(image, header)


def _finish(image: np.ndarray, header: Header) -> np.ndarray:
    """A decoded BGR(A) or grey array reduced by the header's factor, as BGR on white."""
    if image.dtype != np.uint8:  # 16-bit planes
        image = (image >> 8).astype(np.uint8)
    target = (-(-header.stored[0] // header.factor), -(-header.stored[1] // header.factor))
    if image.shape[1] > target[0]:
        image = cv2.resize(image, target, interpolation=cv2.INTER_AREA)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return _on_white(image) if image.shape[2] == 4 else image


