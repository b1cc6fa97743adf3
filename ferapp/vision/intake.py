"""Image intake for uploads and stills: Pillow reads the header, refuses bombs, honours EXIF.

* The size and format come from the header, before any pixel is decoded; images over
  ``max_pixels`` (decompression bombs) are refused there.
* PNG, JPEG (and MPO, the JPEG variant of some phones), GIF (first frame), BMP, WebP and
  TIFF are read; HEIC/HEIF when ``pillow-heif`` is installed (else a 415 naming the format).
* EXIF orientation is applied: the image, its size and every box are those of the upright
  picture a person sees, not of the stored pixels.
* Large JPEGs are decoded at a reduced scale (libjpeg's DCT scaling: 1/2, 1/4, 1/8) so that
  the long side stays at least ``work_side``; ``Decoded.scale`` maps boxes back to the
  upright full-size image. Memory per 6000x6000 JPEG: 27 MB instead of 108 MB.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF photos from phones; optional
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - depends on the install
    HEIF = False

MAX_PIXELS = 40_000_000  # ~ 8000 x 5000; larger declared images are refused before decoding
MIN_SIDE = 24  # the face detector's window
WORK_SIDE = 2048  # stills are decoded with a long side of at least this (or their own size)
READ_FORMATS = {"PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF", "HEIF"}
FORMAT_LIST = "PNG, JPEG, GIF, BMP, WebP, TIFF or HEIC"


class InvalidImage(ValueError):
    """Bytes that are not an acceptable image; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decoded:
    """An upright BGR image, possibly reduced: ``scale`` full-size pixels per image pixel."""

    image: np.ndarray
    width: int  # of the upright full-size picture
    height: int
    scale: float
    format: str

    def to_full(self, box) -> tuple[int, int, int, int]:
        """Map an (x, y, w, h) box from ``image`` to the upright full-size picture."""
        return tuple(int(round(v * self.scale)) for v in box)


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the header only."""
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block: treat as upright
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def open_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open (header only) and check format and size; raise InvalidImage with a status."""
    if not data:
        raise InvalidImage("the file is empty", 400)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidImage(f"not an image we can read: send {FORMAT_LIST}", 415) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(f"the image is too large (at most {max_pixels} pixels)", 413) from None
    except Exception:
        raise InvalidImage("the image is corrupt (its header cannot be read)") from None
    fmt = (img.format or "").upper()
    if fmt not in READ_FORMATS:
        hint = (" (HEIC needs the pillow-heif package)" if fmt in ("HEIC", "AVIF") else "")
        raise InvalidImage(f"{fmt or 'this'} images are not supported{hint}: send {FORMAT_LIST}",
                           415)
    w, h = img.size
    if w <= 0 or h <= 0:
        raise InvalidImage("the image declares no pixels")
    if w * h > max_pixels:
        raise InvalidImage(f"the image is too large ({w}x{h}; at most {max_pixels} pixels)", 413)
    if min(w, h) < MIN_SIDE:
        raise InvalidImage(f"the image is too small ({w}x{h}; at least {MIN_SIDE} pixels a side)")
    return img


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS,
                 work_side: int | None = WORK_SIDE) -> Decoded:
    """Decode upload bytes to an upright BGR image (see the module doc for the rules).

    ``work_side=None`` decodes at full size.
    """
    img = open_image(data, max_pixels)
    fmt = img.format.upper()
    full_w, full_h = _oriented_size(img)
    stored_w, stored_h = img.size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if work_side and fmt in ("JPEG", "MPO") and max(stored_w, stored_h) > 2 * work_side:
                ratio = work_side / max(stored_w, stored_h)
                img.draft("RGB", (max(1, int(stored_w * ratio)), max(1, int(stored_h * ratio))))
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode != "RGB":
                if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                    img = img.convert("RGBA")
                    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                    img = Image.alpha_composite(white, img)
                img = img.convert("RGB")
            rgb = np.asarray(img)
    except InvalidImage:
        raise
    except Exception:  # truncated data, a lying header, a broken stream
        raise InvalidImage("the image is corrupt or truncated") from None
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 1:
        raise InvalidImage("the image is corrupt or truncated")
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    return Decoded(bgr, full_w, full_h, full_w / bgr.shape[1], fmt)
