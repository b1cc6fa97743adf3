"""What an image file's header says, read without decoding a pixel: the ``Header`` intake
plans a decode from, the EXIF orientation, and WebP's RIFF chunks."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

ORIENTATION = 0x0112  # the EXIF tag
MAX_WEBP_CHUNK_READ = 2**20  # of a WebP chunk, the header reader reads at most this


class HeaderError(ValueError):
    """A header that cannot be read."""


@dataclass
class Header:
    """What the header says, and how the pixels will be decoded (see ``probe``)."""

    format: str  # Pillow's name: JPEG, PNG, WEBP, HEIF, ...
    stored: tuple[int, int]  # (width, height) of the stored pixels
    orientation: int  # EXIF 1-8: how to turn the stored pixels upright
    factor: int  # the decode keeps one pixel of every factor x factor
    cost: int  # bytes the decode holds at its peak (the compressed bytes not included)
    alpha: bool = False
    loaded: tuple[int, int] | None = None  # what the decoder makes before reducing (JPEG
    # DCT scaling), when not ``stored``
    opened: Image.Image | None = field(default=None, repr=False)  # Pillow's, not yet loaded
    stream: object = field(default=None, repr=False)  # the file's bytes (WebP, HEIF)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upright picture."""
        w, h = self.stored
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)

    @property
    def decoded(self) -> tuple[int, int]:
        """(width, height) of the decoded upright picture, reduced by ``factor``."""
        w, h = (-(-side // self.factor) for side in self.loaded or self.stored)
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)


def exif_orientation(exif: Image.Exif | None) -> int:
    try:
        value = int(exif.get(ORIENTATION, 1)) if exif is not None else 1
    except Exception:  # a broken EXIF block: treat as upright
        return 1
    return value if 1 <= value <= 8 else 1


def header_orientation(img: Image.Image) -> int:
    """EXIF orientation without decoding: Pillow's PNG getexif() loads the whole image to
    look for an eXIf chunk after the pixels; one before them is read with the header."""
    try:
        if img.format == "PNG":
            raw = img.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw.removeprefix(b"Exif\x00\x00"))
            return exif_orientation(exif)
        return exif_orientation(img.getexif())
    except Exception:  # a broken EXIF block: treat as upright
        return 1


def webp_header(stream) -> dict | None:
    """Size, alpha, animation, lossless and EXIF of a WebP file from its RIFF chunks, without
    decoding (Pillow's WebP reader allocates two full RGBA canvases just to open a file)."""
    start = stream.read(12)
    if len(start) < 12 or start[:4] != b"RIFF" or start[8:12] != b"WEBP":
        return None
    info = {"alpha": False, "animated": False, "lossless": False, "exif": None, "size": None}
    while len(chunk := stream.read(8)) == 8:
        kind, length = chunk[:4], int.from_bytes(chunk[4:], "little")
        body = stream.read(min(length, MAX_WEBP_CHUNK_READ))
        if kind == b"VP8X" and len(body) >= 10:
            flags = body[0]
            info.update(alpha=bool(flags & 0x10), animated=bool(flags & 0x02))
            info["size"] = (1 + int.from_bytes(body[4:7], "little"),
                            1 + int.from_bytes(body[7:10], "little"))
        elif kind == b"VP8 " and len(body) >= 10 and info["size"] is None:
            if body[3:6] != b"\x9d\x01\x2a":
                raise HeaderError("the image is corrupt (its header cannot be read)")
            info["size"] = (int.from_bytes(body[6:8], "little") & 0x3FFF,
                            int.from_bytes(body[8:10], "little") & 0x3FFF)
        elif kind == b"VP8L" and len(body) >= 5:
            if body[0] != 0x2F:
                raise HeaderError("the image is corrupt (its header cannot be read)")
            bits = int.from_bytes(body[1:5], "little")
            info["lossless"] = True
            if info["size"] is None:
                info["size"] = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
                info["alpha"] = info["alpha"] or bool((bits >> 28) & 1)
        elif kind == b"ALPH":
            info["alpha"] = True
        elif kind == b"ANMF":
            info["animated"] = True
            info["lossless"] = info["lossless"] or b"VP8L" in body[16:40]
        elif kind == b"EXIF" and length <= MAX_WEBP_CHUNK_READ:
            info["exif"] = body
        stream.seek(length + (length & 1) - len(body), io.SEEK_CUR)
    if info["size"] is None:
        raise HeaderError("the image is corrupt (its header cannot be read)")
    return info


