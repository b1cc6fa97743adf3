"""What an analysis reports: the share of time per emotion, per-face summaries, one
timeline plot per face, and the CSV files, safe to open in a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferapp.labels import EMOTIONS, rgb_color
from ferapp.system import atomic_path

# a text cell a spreadsheet would run as a formula (OWASP's CSV injection rule): written
# with a leading apostrophe, which spreadsheets show as text
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell that starts like a formula prefixed with ``'``
    (numbers, negative ones included, stay numbers)."""
    safe = df.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return safe


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as CSV atomically (a killed run leaves the old file or none), its text
    cells spreadsheet-safe; lines end in CRLF (RFC 4180), so that a cell holding a bare CR
    is quoted rather than split."""
    with atomic_path(path) as tmp:
        spreadsheet_safe(df).to_csv(tmp, index=False, lineterminator="\r\n")


def emotion_shares(emotions: pd.Series) -> dict[str, float]:
    """The share of rows (analysed frames: time) of each emotion, in EMOTIONS order."""
    counts = emotions.value_counts()
    total = max(1, int(counts.sum()))
    return {e: round(float(counts.get(e, 0)) / total, 4) for e in EMOTIONS}


def summarize(df: pd.DataFrame) -> dict:
    """Per face: analysed frames, time span, share of frames per emotion, dominant emotion."""
    faces = {}
    for face_id, g in df.groupby("face_id"):
        share = emotion_shares(g["emotion"])
        faces[str(face_id)] = {
            "frames": int(len(g)),
            "first_s": None if g["time_s"].isna().all() else float(g["time_s"].min()),
            "last_s": None if g["time_s"].isna().all() else float(g["time_s"].max()),
            "share": share,
            "dominant": str(g["emotion"].value_counts().idxmax()),
        }
    return {"rows": int(len(df)), "faces": faces}


def plot_timelines(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One PNG per face: the probability of each emotion over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for face_id, g in df.groupby("face_id"):
        fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
        timed = not g["time_s"].isna().all()
        t = g["time_s"] if timed else g["frame"]
        for e in EMOTIONS:
            ax.plot(t, g[e], label=e, color=rgb_color(e), lw=1.5)
        ax.set_ylim(0, 1)
        ax.set_xlabel("time (s)" if timed else "image")
        ax.set_ylabel("probability")
        ax.set_title(f"face {face_id}: emotion probabilities over time")
        ax.legend(ncol=7, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"timeline_face{face_id}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
