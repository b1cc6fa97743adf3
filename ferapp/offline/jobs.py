"""The vocabulary of a batch run: a recording to analyse, the run's options and its report."""

from __future__ import annotations

from dataclasses import dataclass, field

from ferapp.vision.detect import DEFAULT_DETECTOR
from ferapp.vision.motion import DEFAULT_DETECT_EVERY
from ferapp.vision.tracking import DEFAULT_SMOOTH_S

MAX_ATTEMPTS = 3  # a recording whose worker died is tried this many times in all


class BatchError(Exception):
    """A problem with the inputs, the output folder or the cluster, found before any work."""


@dataclass
class Job:
    """One recording to analyse."""

    rec_id: str
    path: str
    attempts: int = 0


@dataclass
class Options:
    every: int = 1
    write_video: bool = True
    smooth: float = DEFAULT_SMOOTH_S
    detector: str = DEFAULT_DETECTOR
    model_dir: tuple[str, ...] | None = None  # export folder(s); None: $FER_MODEL_DIR or shipped
    detect_every: int = DEFAULT_DETECT_EVERY  # detector passes; motion carries faces between
    staged: bool = False  # a recording on two threads (batch.run: where cores are spare)
    max_pixels: int | None = None  # frames above it refuse a recording (None: frame_limit())


@dataclass
class Report:
    done: list = field(default_factory=list)  # per-recording summary rows of this run
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # {recording, path, error, attempts}
    failed_before: list = field(default_factory=list)  # earlier failures, file unchanged
    notes: list = field(default_factory=list)  # inputs skipped (link loops, broken links)


def failure_row(job: Job, error: str) -> dict:
    """The row of a recording that could not be analysed."""
    return {"recording": job.rec_id, "path": job.path, "error": error}


def error_text(exc: BaseException) -> str:
    """An exception as one line: its class and the first line of its message."""
    text = f"{exc.__class__.__name__}: {exc}".splitlines()
    return text[0] if text else exc.__class__.__name__
