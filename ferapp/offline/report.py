"""What an analysis reports: the share of time per emotion, per-face summaries, and one
timeline plot per face."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferapp.labels import EMOTIONS, rgb_color


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
