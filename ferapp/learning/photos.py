"""Score a folder of labelled real photos (``<class>/<source>_<name>.<ext>``) through the
app's own still-image path: decode with EXIF orientation, find faces as uploads are
searched (CenterFace, tiles), crop and align as served, classify (int8 + flip TTA), and
take the largest face of each photo.

A photo where no face is found counts as wrong (and is listed); a file that cannot be
decoded is reported in one line and left out; an empty class folder is reported with no
recall. When file names carry a ``<source>_`` prefix the figures are also given per source.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ferapp.labels import EMOTIONS
from ferapp.vision.intake import InvalidImage, decode_image
from ferapp.vision.pipeline import ExpressionPipeline
from ferapp.vision.sources import IMAGE_EXTENSIONS


class PhotoFolderError(Exception):
    """A photo folder that is missing, empty or holds a folder that is not an emotion."""


@dataclass
class PhotoResult:
    path: Path
    label: str
    predicted: str | None  # None: no face found
    faces: int

    @property
    def source(self) -> str | None:
        stem = self.path.stem
        return stem.split("_", 1)[0] if "_" in stem else None

    @property
    def correct(self) -> bool:
        return self.predicted == self.label


@dataclass
class PhotoReport:
    results: list[PhotoResult] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)
    empty_classes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(r.correct for r in self.results) / max(1, len(self.results))

    def recall(self) -> dict[str, tuple[float | None, int]]:
        """Per class: (recall or None without photos, photos)."""
        n = Counter(r.label for r in self.results)
        hit = Counter(r.label for r in self.results if r.correct)
        return {e: (hit[e] / n[e] if n[e] else None, n[e]) for e in EMOTIONS}

    def by_source(self) -> dict[str, tuple[float, int]]:
        """Per file-name prefix: (accuracy, photos); empty when the names carry none."""
        groups = defaultdict(list)
        for r in self.results:
            if r.source is not None:
                groups[r.source].append(r.correct)
        return {s: (sum(c) / len(c), len(c)) for s, c in sorted(groups.items())}

    @property
    def no_face(self) -> list[PhotoResult]:
        return [r for r in self.results if r.predicted is None]


def labelled_photos(folder: str | Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """(photo, class) for every image under ``folder/<class>/``, and the empty classes;
    PhotoFolderError for a missing or empty folder or a folder that is not an emotion."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PhotoFolderError(f"photo folder {folder} does not exist")
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    unknown = [p.name for p in classes if p.name not in EMOTIONS]
    if unknown:
        raise PhotoFolderError(f"{folder} holds folder(s) that are not an emotion: "
                               f"{', '.join(unknown)} (use {', '.join(EMOTIONS)})")
    photos, empty = [], []
    for c in classes:
        files = sorted(f for f in c.iterdir()
                       if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
        photos += [(f, c.name) for f in files]
        if not files:
            empty.append(c.name)
    if not photos:
        raise PhotoFolderError(f"{folder} holds no photos in <emotion>/ folders "
                               f"({', '.join(EMOTIONS)})")
    return photos, empty


def score_photos(folder: str | Path, pipeline: ExpressionPipeline, on_unreadable=None,
                 progress=None) -> PhotoReport:
    """Classify the largest face of every labelled photo under ``folder``. ``pipeline``
    searches stills (``still=True``); ``on_unreadable(path, why)`` hears of each file that
    cannot be decoded; ``progress`` wraps the photo list (e.g. a tqdm bar)."""
    photos, empty = labelled_photos(folder)
    report = PhotoReport(empty_classes=empty)
    for path, label in (progress(photos) if progress else photos):
        try:
            image = decode_image(path.read_bytes()).image
        except (InvalidImage, OSError) as exc:
            report.unreadable.append((path, str(exc)))
            if on_unreadable:
                on_unreadable(path, str(exc))
            continue
        faces = pipeline.analyze(image)
        largest = max(faces, key=lambda r: r.box[2] * r.box[3], default=None)
        report.results.append(PhotoResult(path, label, largest and largest.emotion, len(faces)))
    return report


def format_photo_report(report: PhotoReport, name: str) -> str:
    """The README's tables: accuracy and per-class recall, then per source."""
    rec = report.recall()
    lines = [f"{name}: {len(report.results)} photos scored, accuracy {report.accuracy:.3f}"
             f" (no face found in {len(report.no_face)}, counted wrong; "
             f"{len(report.unreadable)} unreadable, left out)", "",
             "| class | " + " | ".join(EMOTIONS) + " |", "|---|" + "---|" * len(EMOTIONS),
             "| recall | " + " | ".join("–" if r is None else f"{r:.2f}"
                                       for r, _ in rec.values()) + " |",
             "| photos | " + " | ".join(str(n) for _, n in rec.values()) + " |"]
    sources = report.by_source()
    if sources:
        lines += ["", "| source | photos | accuracy |", "|---|---|---|"]
        lines += [f"| {s} | {n} | {acc:.3f} |" for s, (acc, n) in sources.items()]
    if report.empty_classes:
        lines += ["", f"empty class folder(s): {', '.join(report.empty_classes)}"]
    if report.no_face:
        lines += ["", "no face found: " + ", ".join(r.path.name for r in report.no_face)]
    return "\n".join(lines)
