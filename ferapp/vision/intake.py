"""Image intake for uploads and stills: the header first, then a decode at the working size.

* ``probe`` reads the header only: format, size, EXIF orientation, and ``cost``, the bytes
  the decode will hold at its peak. Images over ``max_pixels`` (decompression bombs) are
  refused there, before a pixel is decoded; a server admits the decode against a memory
  budget (web/budget.py) by that cost.
* PNG, JPEG (and MPO, the JPEG variant of some phones), GIF (first frame), BMP, WebP and
  TIFF are read; HEIC/HEIF when ``pillow-heif`` is installed (else a 415 naming the format).
* Stills are decoded reduced, to a long side of at least ``work_side`` (the detector
  searches no finer): JPEG by libjpeg's DCT scaling (1/2, 1/4, 1/8: a 36 MP photo costs
  ~40 MB), WebP by libwebp through OpenCV's reduced decode (the full picture passes once
  through one 3-byte plane), PNG/TIFF/BMP/GIF by Pillow (one 4-byte plane at full size,
  reduced by box averaging at once), HEIC by libheif into one buffer, reduced at once.
  Every later step works on the reduced picture. ``Decoded.scale`` maps boxes back to the
  upright full-size image.
* EXIF orientation is applied: the image, its size and every box are those of the upright
  picture a person sees, not of the stored pixels.
* Transparent pixels are shown on white; 16-bit and float images are scaled to 8 bits.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ferapp.vision.decoders import (
    ALPHA_MODES,
    BAND_PIXELS,
    HEIF,
    decode_heif,
    decode_pillow,
    decode_webp,
    upright,
    webp_step,
)
from ferapp.vision.headers import (
    Header,
    HeaderError,
    exif_orientation,
    header_orientation,
    webp_header,
)

MAX_PIXELS = 40_000_000  # ~ 8000 x 5000; larger declared images are refused before decoding
MIN_SIDE = 24  # the face detector's window
WORK_SIDE = 2048  # stills are decoded with a long side of at least this (or their own size)
READ_FORMATS = frozenset({"PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF", "HEIF"})
FORMAT_LIST = "PNG, JPEG, GIF, BMP, WebP, TIFF or HEIC"
FORMAT_NAMES = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF",
                "BMP": "BMP", "TIFF": "TIFF", "HEIF": "HEIC"}
__all__ = ["HEIF", "Decoded", "Header", "InvalidImage", "decode_image", "probe"]
COST_MARGIN = 1.1  # the allocator's own overhead over the arrays counted (measured peaks)


class InvalidImage(ValueError):
    """Bytes that are not an acceptable image; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decoded:
    """An upright BGR image, possibly reduced: ``scale`` full-size pixels per image pixel."""

    image: np.ndarray | None
    width: int  # of the upright full-size picture
    height: int
    scale: float
    format: str

    def to_full(self, box) -> tuple[int, int, int, int]:
        """Map an (x, y, w, h) box from ``image`` to the upright full-size picture."""
        return tuple(int(round(v * self.scale)) for v in box)


def _factor(side: int, work_side: int | None, steps=None) -> int:
    """The largest reduction (of ``steps`` if given) keeping ``side`` >= ``work_side``."""
    if not work_side or side <= 2 * work_side:
        return 1
    if steps:
        return max(s for s in steps if side // s >= work_side)
    return side // work_side


def _reduced(size: tuple[int, int], factor: int) -> int:
    """Pixels of ``size`` reduced by ``factor`` (rounded up, as the decoders do)."""
    return -(-size[0] // factor) * -(-size[1] // factor)


def _slack(pixels: int) -> int:
    """Decoder state, row buffers and one band of a Pillow decode, for ``pixels`` stored."""
    return 2**20 + 16 * min(pixels, BAND_PIXELS)


def _out_cost(pixels: int, header: Header, planes: bool = False) -> int:
    """Bytes the steps after the decode hold for an output of ``pixels``: the 3-byte BGR
    result, its copy turned upright (if it must turn), and with ``planes`` (a decoder's
    array reduced by OpenCV) the reduced BGR(A) plane before it."""
    per_pixel = 3 + (3 if header.orientation != 1 else 0) + (4 if planes else 0)
    return per_pixel * pixels


# Pillow's bytes per pixel of a loaded image (4 for all other modes)
PILLOW_BPP = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


def _open_pillow(stream) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(stream)
    except UnidentifiedImageError:
        raise InvalidImage(f"not an image we can read: send {FORMAT_LIST}", 415) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage("the image is too large", 413) from None
    except Exception:
        raise InvalidImage("the image is corrupt (its header cannot be read)") from None


def _probe_webp(info: dict, work_side: int | None) -> Header:
    size = info["size"]
    orientation = 1
    if info["exif"]:
        exif = Image.Exif()
        try:
            exif.load(info["exif"].removeprefix(b"Exif\x00\x00"))
        except Exception:
            exif = None
        orientation = exif_orientation(exif)
    alpha = info["alpha"] or info["animated"]
    header = Header("WEBP", size, orientation, _factor(max(size), work_side), 0, alpha=alpha)
    if info["animated"]:  # libwebp's animation decoder: two RGBA canvases, then a copy
        per_pixel = 12
    elif alpha:  # full-size BGRA, with OpenCV's copy of it
        per_pixel = 8
    else:  # one BGR plane at full size (and OpenCV's copy unless reduced on the way out)
        per_pixel = 3 if webp_step(header.alpha, header.factor) > 1 else 6
        per_pixel += 4 if info["lossless"] else 0  # lossless: its ARGB plane as well
    header.cost = (size[0] * size[1] * per_pixel
                   + _out_cost(_reduced(size, header.factor), header, planes=True)
                   + _slack(size[0] * size[1]))
    return header


def _as_stream(source):
    """A seekable binary stream of ``source`` (bytes, or a binary file, e.g. an upload
    spooled to disk: it is read from there, not copied into memory)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source)
    return source


def probe(source, max_pixels: int = MAX_PIXELS, work_side: int | None = WORK_SIDE,
          formats=READ_FORMATS) -> Header:
    """Read the header (no pixels) and check format and size; raise InvalidImage.

    ``source``: bytes or a seekable binary file. ``formats``: the Pillow format names
    accepted (others get 415 naming the format).
    """
    stream = _as_stream(source)
    stream.seek(0, io.SEEK_END)
    if stream.tell() == 0:
        raise InvalidImage("the file is empty", 400)
    stream.seek(0)
    try:
        webp = webp_header(stream)
    except HeaderError as exc:
        raise InvalidImage(str(exc)) from None
    stream.seek(0)
    if webp is not None:
        header = _probe_webp(webp, work_side)
        header.stream = stream
    else:
        img = _open_pillow(stream)
        fmt = (img.format or "").upper()
        if fmt not in READ_FORMATS:
            hint = " (HEIC needs the pillow-heif package)" if fmt in ("HEIC", "AVIF") else ""
            raise InvalidImage(f"{fmt or 'this'} images are not supported{hint}: send "
                               f"{FORMAT_LIST}", 415)
        # libheif turns HEIC upright itself, and Pillow a TIFF as it loads it (its size is
        # the upright one already)
        orientation = 1 if fmt in ("HEIF", "TIFF") else header_orientation(img)
        header = Header(fmt, img.size, orientation, 1, 0, opened=img, stream=stream,
                        alpha=img.mode in ALPHA_MODES or "transparency" in img.info)
    _check_size(header, max_pixels, formats)
    if header.opened is not None:
        _plan_pillow(header, work_side)
    header.cost = int(header.cost * COST_MARGIN)
    return header


def _check_size(header: Header, max_pixels: int, formats) -> None:
    fmt = header.format
    if fmt not in formats:
        allowed = ", ".join(sorted({FORMAT_NAMES[f] for f in formats}))
        raise InvalidImage(f"{FORMAT_NAMES.get(fmt, fmt)} images are not accepted here: send "
                           f"{allowed}", 415)
    w, h = header.stored
    if w <= 0 or h <= 0:
        raise InvalidImage("the image declares no pixels")
    if w * h > max_pixels:
        raise InvalidImage(f"the image is too large ({w}x{h}; at most {max_pixels} pixels)", 413)
    if min(w, h) < MIN_SIDE:
        raise InvalidImage(f"the image is too small ({w}x{h}; at least {MIN_SIDE} pixels a side)")


def _plan_pillow(header: Header, work_side: int | None) -> None:
    """Set the reduction and the cost of a Pillow (or pillow-heif) decode."""
    img, (w, h) = header.opened, header.stored
    if header.format == "HEIF":  # libheif's YCbCr planes and its interleaved result
        header.factor = _factor(max(w, h), work_side)
        per_pixel = 5 + (1 if header.alpha else 0)
        header.cost = (w * h * per_pixel
                       + _out_cost(_reduced((w, h), header.factor), header, planes=True)
                       + _slack(w * h))
        return
    loaded = (w, h)
    if header.format in ("JPEG", "MPO") and work_side and max(w, h) > 2 * work_side:
        ratio = work_side / max(w, h)
        try:
            img.draft("RGB", (max(1, int(w * ratio)), max(1, int(h * ratio))))
        except Exception:
            raise InvalidImage("the image is corrupt (its header cannot be read)") from None
        loaded = header.loaded = img.size  # the DCT-scaled size libjpeg will decode to
    header.factor = _factor(max(loaded), work_side)
    bpp = PILLOW_BPP.get(img.mode, 4)  # conversions and reduction go band by band
    if header.format == "TIFF":  # libtiff's strip or tile buffers; Pillow's turn upright
        bpp += 1 + (4 if header_orientation(img) != 1 else 0)
    header.cost = (loaded[0] * loaded[1] * bpp
                   + _out_cost(_reduced(loaded, header.factor), header)
                   + _slack(w * h))


def decode_image(source=None, max_pixels: int = MAX_PIXELS,
                 work_side: int | None = WORK_SIDE, header: Header | None = None,
                 formats=READ_FORMATS) -> Decoded:
    """Decode an image (bytes or a binary file) to an upright BGR image (see the module doc
    for the rules). ``work_side=None`` decodes at full size.

    ``header``: what ``probe`` returned for the same arguments, when the caller has read
    it already (to admit its cost); ``source`` is then not needed. A header decodes once.
    """
    header = header or probe(source, max_pixels, work_side, formats)
    try:
        if header.format == "WEBP":
            image = decode_webp(header)
        elif header.format == "HEIF":
            image = decode_heif(header)
        else:
            image = decode_pillow(header)
        image = upright(image, header.orientation)
    except InvalidImage:
        raise
    except Exception:  # truncated data, a lying header, a broken stream
        raise InvalidImage("the image is corrupt or truncated") from None
    finally:
        header.opened = header.stream = None
    if image.ndim != 3 or min(image.shape[:2]) < 1 or image.dtype != np.uint8:
        raise InvalidImage("the image is corrupt or truncated")
    width, height = header.size
    return Decoded(image, width, height, width / image.shape[1], header.format)
