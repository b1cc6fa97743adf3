"""FER+ votes (Barsoum et al. 2016, MIT): 10 annotators per FER-2013 image.

``ferplus_votes.csv`` has one row per image: ``split,file`` and ten vote columns
(neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF)
that sum to 10. This module reads and checks the file and turns votes into

* the FER+ majority label used for evaluation (the rule of the data README): the emotion
  with the most votes among the 7 FER-2013 emotions; left out (-1) when that top count is
  tied, or when contempt, unknown or NF has more votes than any of the 7;
* a soft training target: the vote distribution over the 7 emotions, in EMOTIONS order.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS

CSV_NAME = "ferplus_votes.csv"
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                "contempt", "unknown", "NF")
# EMOTIONS name -> FER+ column
_FERPLUS_NAME = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                 "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}
# column index in VOTE_COLUMNS of each emotion, in EMOTIONS order
EMOTION_COLUMNS = np.array([VOTE_COLUMNS.index(_FERPLUS_NAME[e]) for e in EMOTIONS])
OTHER_COLUMNS = np.array([VOTE_COLUMNS.index(c) for c in ("contempt", "unknown", "NF")])
VOTERS = 10
NO_LABEL = -1


class FerPlusError(Exception):
    """The FER+ votes file is missing or malformed."""


def default_votes_path(data_dir: str | Path) -> Path:
    """``ferplus_votes.csv`` inside the FER-2013 folder."""
    return Path(data_dir) / CSV_NAME


def read_votes(path: str | Path, data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read the votes file into {file relative to the data folder: (10,) int votes}.

    Raises FerPlusError with a one-line message for a missing file, missing columns, a
    vote that is not a non-negative integer, votes that sum to 0 or more than 10 (the
    published file has one image with 9 votes: a missing annotator), a file named
    twice, or (when ``data_dir`` is given) files that are not in the data folder.
    """
    path = Path(path)
    if not path.is_file():
        raise FerPlusError(f"FER+ votes file {path} not found (see README, 'Data')")
    votes: dict[str, np.ndarray] = {}
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in ("file", *VOTE_COLUMNS) if c not in header]
            if missing:
                raise FerPlusError(f"{path} lacks the column(s) {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                try:
                    v = np.array([int(row[c]) for c in VOTE_COLUMNS], dtype=np.int64)
                except (TypeError, ValueError):
                    raise FerPlusError(f"{path}, line {line}: votes must be integers") from None
                if (v < 0).any() or not 0 < v.sum() <= VOTERS:
                    raise FerPlusError(f"{path}, line {line}: votes must be >= 0 and sum to "
                                       f"{VOTERS} (one annotator may be missing), "
                                       f"got {v.sum()}")
                name = row["file"]
                if name in votes:
                    raise FerPlusError(f"{path}, line {line}: {name} is listed twice")
                votes[name] = v
    except UnicodeDecodeError:
        raise FerPlusError(f"{path} is not a text CSV file") from None
    except csv.Error as exc:
        raise FerPlusError(f"{path} is not a valid CSV file ({exc})") from None
    if not votes:
        raise FerPlusError(f"{path} holds no vote rows")
    if data_dir is not None:
        absent = [n for n in votes if not (Path(data_dir) / n).is_file()]
        if absent:
            raise FerPlusError(f"{len(absent)} file(s) named in {path} are not in {data_dir} "
                               f"(first: {absent[0]})")
    return votes


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """FER+ majority label (EMOTIONS index) per row of (N, 10) votes; NO_LABEL when left out.

    Rows of all -1 (images FER+ does not label) are left out too.
    """
    votes = np.atleast_2d(np.asarray(votes))
    emo = votes[:, EMOTION_COLUMNS]
    top = emo.max(1)
    label = emo.argmax(1)
    tied = (emo == top[:, None]).sum(1) > 1
    other = votes[:, OTHER_COLUMNS].max(1) > top
    unlabelled = (votes < 0).any(1) | (top <= 0)
    return np.where(tied | other | unlabelled, NO_LABEL, label)


def vote_distribution(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 7) share of each emotion among the 7-emotion votes, and a mask of usable rows.

    A row is usable when it has at least one vote for one of the 7 emotions.
    """
    votes = np.atleast_2d(np.asarray(votes))
    emo = np.clip(votes[:, EMOTION_COLUMNS], 0, None).astype("float32")
    total = emo.sum(1)
    ok = ((votes >= 0).all(1)) & (total > 0)
    dist = np.divide(emo, total[:, None], out=np.zeros_like(emo), where=ok[:, None])
    return dist, ok


def votes_for(paths, data_dir: str | Path, votes: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 10) votes for image paths inside ``data_dir``; rows of -1 where FER+ has none."""
    data_dir = Path(data_dir)
    out = np.full((len(paths), len(VOTE_COLUMNS)), -1, dtype=np.int64)
    for i, p in enumerate(paths):
        try:
            key = Path(p).relative_to(data_dir).as_posix()
        except ValueError:
            key = Path(p).as_posix()
        v = votes.get(key)
        if v is not None:
            out[i] = v
    return out
