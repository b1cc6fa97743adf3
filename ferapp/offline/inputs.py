"""What to analyse: one video, one image or a folder of photos (the single mode), or many
recordings named by folders, globs and list files (a batch), each with a stable id."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from ferapp.offline.jobs import BatchError
from ferapp.vision.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

LIST_SUFFIXES = (".txt", ".lst")


class InputError(Exception):
    """An input that does not exist or cannot be decoded."""


def single_input(path: Path):
    """('video', path) | ('images', [paths]) for a video, an image or a folder of images."""
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise InputError(f"folder {path} holds no images or videos")
        return "images", images
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return "images", [path]
    return "video", path


def is_batch(inputs: list[str], engine: str | None) -> bool:
    """Many recordings: several inputs, a glob, a list file, a folder holding videos, or an
    explicit --engine. One video, one image or a folder of images: the single mode."""
    if engine or len(inputs) > 1:
        return True
    spec = inputs[0]
    if any(ch in spec for ch in "*?["):
        return True
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        return True
    return path.is_dir() and any(f.suffix.lower() in VIDEO_EXTENSIONS
                                 for f in path.rglob("*") if f.is_file())


def collect_inputs(specs) -> list[Path]:
    """Recordings named by folders (searched recursively for videos), globs, files, or
    text files listing one path per line (``.txt``/``.lst``); errors name the culprit."""
    found: list[Path] = []
    for spec in specs:
        spec = str(spec)
        p = Path(spec).expanduser()
        if any(ch in spec for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))]
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise BatchError(f"the pattern {spec!r} matches no file")
            found += matches
        elif p.is_dir():
            videos = sorted(f for f in p.rglob("*") if f.is_file()
                            and f.suffix.lower() in VIDEO_EXTENSIONS)
            if not videos:
                raise BatchError(f"the folder {p} holds no video "
                                 f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
            found += videos
        elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            lines = [ln.strip() for ln in p.read_text().splitlines()]
            listed = [Path(ln).expanduser() if Path(ln).is_absolute() else p.parent / ln
                      for ln in lines if ln and not ln.startswith("#")]
            if not listed:
                raise BatchError(f"the list {p} names no recording")
            found += listed  # a listed file that is missing becomes a failure row
        elif p.is_file():
            found.append(p)
        else:
            raise BatchError(f"{spec} does not exist")
    unique = list(dict.fromkeys(f.resolve() for f in found))
    if not unique:
        raise BatchError("no recording to analyse")
    return unique


def recording_ids(paths: list[Path]) -> list[str]:
    """A stable, unique, filesystem- and partition-safe id per recording: its path
    relative to the inputs' common folder, '/' -> '__'."""
    if len(paths) == 1:
        rel = [paths[0].name]
    else:
        root = Path(os.path.commonpath([str(p.parent) for p in paths]))
        rel = [str(p.relative_to(root)) for p in paths]
    ids = [re.sub(r"[^A-Za-z0-9._-]", "_", r.replace(os.sep, "__")) for r in rel]
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0)
        seen[i] = n + 1
        out.append(i if n == 0 else f"{i}~{n}")
    return out
