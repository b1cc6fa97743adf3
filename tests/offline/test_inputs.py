"""ferapp.offline.inputs: recordings named by folders, globs and lists, their ids, bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ferapp.offline import inputs


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


@pytest.fixture(scope="module")
def clips(tmp_path_factory, grace_hopper):
    folder = tmp_path_factory.mktemp("recordings")
    make_clips(folder, grace_hopper)
    return folder


def test_inputs_and_ids(tmp_path, clips):
    found = inputs.collect_inputs([clips])
    assert [p.name for p in found] == ["broken.mp4", "clip0.mp4", "clip1.mp4", "clip2.mp4",
                                       "clip3.mp4"]
    assert inputs.recording_ids(found)[-1] == "nested__clip3.mp4"
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two of them\n{clips / 'clip0.mp4'}\n{clips / 'clip1.mp4'}\n\n")
    assert len(inputs.collect_inputs([listing, str(clips / "clip*.mp4")])) == 3  # deduplicated
    assert inputs.recording_ids([Path("a/x.mp4"), Path("b/x.mp4")]) == ["a__x.mp4", "b__x.mp4"]
