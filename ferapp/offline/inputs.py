"""What to analyse: one video, one image or a folder of photos (the single mode), or many
recordings named by folders, globs and list files (a batch), each with a stable id."""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import re
import stat
from pathlib import Path

from ferapp.offline.jobs import BatchError
from ferapp.vision.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

LIST_SUFFIXES = (".txt", ".lst")


class InputError(Exception):
    """An input that does not exist or cannot be decoded."""


def single_input(path: Path, out: Path | None = None, notes: list[str] | None = None):
    """('video', path) | ('images', [paths]) for a video, an image or a folder of images.
    Nothing under the output folder ``out`` is an input; an image of the folder that is
    not a regular file (a named pipe, a device) is left out with a line in ``notes``."""
    notes = [] if notes is None else notes
    if out is not None and under(path, out):
        raise InputError(f"{path} is inside the output folder {out}: give another --out")
    if path.is_dir():
        images = []
        for p in sorted(path.iterdir()):
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            problem = why_unreadable(p)
            if problem:
                notes.append(f"skipped {p}: {problem}")
            elif out is None or not under(p, out):
                images.append(p)
        if not images:
            raise InputError(f"folder {path} holds no images or videos")
        return "images", images
    check_readable(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return "images", [path]
    return "video", path


def under(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or inside it (links resolved on both sides)."""
    path, folder = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return path == folder or folder in path.parents


def is_batch(inputs: list[str], engine: str | None, out: Path | None = None) -> bool:
    """Many recordings: several inputs, a glob, a list file, a folder holding videos (not
    counting those under the output folder ``out``), or an explicit --engine. One video,
    one image or a folder of images: the single mode."""
    if engine or len(inputs) > 1:
        return True
    spec = inputs[0]
    if any(ch in spec for ch in "*?["):
        return True
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        return True
    return path.is_dir() and any(f.suffix.lower() in VIDEO_EXTENSIONS and
                                 (out is None or not under(f, out))
                                 for f, _ in walk_files(path, []))


SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def why_unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (one phrase), or None when it can. Only a
    regular file can: a named pipe, a device or a socket is refused without reading from
    it (opened non-blocking, so that a pipe with no writer cannot hang the caller)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if stat.S_ISDIR(mode):
            return "it is a folder"
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in SPECIAL_FILES if test(mode)), "special")
            return f"not a regular file but {kind}"
        return None
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else "it does not exist"
    except PermissionError:
        return "permission denied"
    except IsADirectoryError:
        return "it is a folder"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        return exc.strerror or str(exc)


def check_readable(path: Path) -> None:
    """Raise InputError saying why ``path`` cannot be read as a file, if it cannot."""
    problem = why_unreadable(path)
    if problem:
        raise InputError(f"{path} does not exist" if problem == "it does not exist"
                         else f"{path}: {problem}")


def walk_files(root: Path, notes: list[str], depth: int | None = None):
    """Every file under ``root`` (to ``depth`` levels), following links to folders but
    each real folder once: a link back to a folder already searched (a loop, or a second
    path to the same folder) is skipped with a note, as are broken links, whatever the
    paths' lengths. Yields (path, parts relative to root)."""
    seen: set[tuple[int, int]] = set()
    stack = [(root, ())]
    while stack:
        folder, parts = stack.pop()
        try:
            st = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            notes.append(f"skipped {folder}: {why_unreadable(folder) or exc}")
            continue
        if (st.st_dev, st.st_ino) in seen:
            notes.append(f"skipped {folder}: it leads to a folder already searched (a "
                         f"symbolic link loop or a second path to it)")
            continue
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:
            path, sub = Path(entry.path), (*parts, entry.name)
            try:
                if entry.is_dir():
                    if depth is None or len(sub) < depth:
                        stack.append((path, sub))
                elif entry.is_symlink() and not os.path.exists(path):  # broken, a loop
                    notes.append(f"skipped {path}: {why_unreadable(path)}")
                else:  # regular files; pipes, devices and sockets are refused later
                    yield path, sub
            except OSError as exc:
                notes.append(f"skipped {path}: {why_unreadable(path) or exc.strerror}")


def _name_matches(pattern: str, name: str) -> bool:
    # as glob: a leading dot is matched only by a pattern that starts with one
    return (pattern.startswith(".") or not name.startswith(".")) and \
        fnmatch.fnmatchcase(name, pattern)


def _parts_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":  # any number of folders, hidden ones excepted
        return any(_parts_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1)
                   if not any(p.startswith(".") for p in parts[:i]))
    return bool(parts) and _name_matches(pattern[0], parts[0]) and \
        _parts_match(pattern[1:], parts[1:])


def glob_files(spec: str, notes: list[str]) -> list[Path]:
    """The files a glob pattern (``**`` for any folders) matches, found with walk_files:
    links to folders followed once, loops skipped with a note."""
    parts = Path(spec).expanduser().parts
    fixed = next((i for i, part in enumerate(parts) if any(ch in part for ch in "*?[")),
                 len(parts))
    base, pattern = Path(*parts[:fixed]) if fixed else Path("."), tuple(parts[fixed:])
    depth = None if "**" in pattern else len(pattern)
    if not base.is_dir():
        return []
    return sorted(path for path, sub in walk_files(base, notes, depth)
                  if _parts_match(pattern, sub))


def _videos_in(folder: Path, notes: list[str]) -> list[Path]:
    videos = sorted(p for p, _ in walk_files(folder, notes)
                    if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not videos:
        raise BatchError(f"the folder {folder} holds no video "
                         f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
    return videos


def _expand(spec: str, notes: list[str], listed_in: Path | None = None) -> list[Path]:
    """The recordings one input names (folders, globs and files alike, on the command line
    or in a list file; a listed file that cannot be read stays, as a failure row)."""
    if listed_in is not None and not Path(spec).expanduser().is_absolute():
        spec = str(listed_in.parent / spec)
    p = Path(spec).expanduser()
    if any(ch in spec for ch in "*?["):
        matches = glob_files(spec, notes)
        if not matches:
            raise BatchError(f"the pattern {spec!r} matches no file")
        return matches
    if p.is_dir():
        return _videos_in(p, notes)
    if listed_in is None and p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
        lines = [ln.strip() for ln in p.read_text().splitlines()]
        listed = [ln for ln in lines if ln and not ln.startswith("#")]
        if not listed:
            raise BatchError(f"the list {p} names no recording")
        return [f for ln in listed for f in _expand(ln, notes, listed_in=p)]
    if listed_in is not None or p.is_file() or (p.exists() and not p.is_dir()):
        return [p]  # one that cannot be read (a pipe, a device) is a failure row
    problem = why_unreadable(p)
    raise BatchError(f"{spec}: {problem}" if problem and problem != "it does not exist"
                     else f"{spec} does not exist")


def collect_inputs(specs, notes: list[str] | None = None, out: Path | None = None) -> list[Path]:
    """Recordings named by folders (searched recursively for videos), globs, files, or
    text files listing one of those per line (``.txt``/``.lst``); errors name the
    culprit. Links to folders are followed once in every mode; what was skipped (loops,
    broken links, files under the output folder ``out``) is added to ``notes``, one line
    each."""
    notes = [] if notes is None else notes
    found = [f for spec in specs for f in _expand(str(spec), notes)]
    # the real file once, whichever path led to it (realpath: no error on a loop)
    unique = list(dict.fromkeys(Path(os.path.realpath(f)) for f in found))
    if out is not None:  # an earlier run's annotated videos are not recordings
        inside = {f for f in unique if under(f, out)}
        if inside:
            notes.append(f"left out {len(inside)} file(s) under the output folder {out}")
            unique = [f for f in unique if f not in inside]
    if not unique:
        raise BatchError("no recording to analyse" + (f" ({notes[-1]})" if notes else ""))
    return unique


ID_NAME_CHARS = 60  # of the file name an id keeps


def recording_id(path: Path) -> str:
    """A recording's id, filesystem- and partition-safe: its file name (other characters
    than letters, digits and ``._-`` made ``_``; at most ID_NAME_CHARS) and 10 hex digits
    of the SHA-256 of its whole path. Unique per path, whatever names collide once
    sanitised, and the same in every run whatever else is analysed with it; a renamed
    file is a new recording."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).name)[:ID_NAME_CHARS].lstrip(".-")
    digest = hashlib.sha256(os.fsencode(str(path))).hexdigest()[:10]
    return f"{name or 'recording'}-{digest}"
