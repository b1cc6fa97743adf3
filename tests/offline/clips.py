"""Short clips of a real face for the batch tests, and analyze.py run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from tests.helpers import ROOT, missing


def make_clips(folder: Path, photo: np.ndarray, n: int = 4, frames: int = 20,
               corrupt: bool = True) -> list[Path]:
    """n short clips of a real face moving differently, plus one corrupt 'video'."""
    folder.mkdir(parents=True, exist_ok=True)
    face = cv2.resize(photo, (160, 188), interpolation=cv2.INTER_AREA)
    paths = []
    for k in range(n):
        path = folder / ("nested" if k == n - 1 and n > 1 else "") / f"clip{k}.mp4"
        path.parent.mkdir(exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
        for i in range(frames):
            frame = np.full((240, 320, 3), 40 + 10 * k, np.uint8)
            x = 20 + (3 + k) * i % 120
            frame[26:214, x:x + 160] = face
            writer.write(frame)
        writer.release()
        paths.append(path)
    if corrupt:
        (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but no video at all")
    return paths


def analyze(*args, timeout=600, env_extra=None):
    return subprocess.run([sys.executable, "analyze.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})})


def analyze_as_user(*args, timeout=600):
    """analyze.py as a user without the right to read or write every file (root: its
    file-access capabilities dropped with util-linux' setpriv)."""
    import shutil

    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            missing("util-linux' setpriv (root keeps reading a mode-000 file without it)")
        prefix = ["setpriv", "--inh-caps=-all",
                  "--bounding-set=-dac_override,-dac_read_search", "--"]
    return subprocess.run([*prefix, sys.executable, "analyze.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def name_of(rec_id: str) -> str:
    """The file name part of a recording id (``inputs.recording_id``: name-<10 hex>)."""
    return re.sub(r"-[0-9a-f]{10}$", "", rec_id)


def outputs(out: Path) -> dict[str, pd.DataFrame]:
    return {p.parent.name: pd.read_csv(p) for p in sorted((out / "recordings").glob("*/faces.csv"))}
