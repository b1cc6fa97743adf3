"""ferapp.offline.engines: a real two-node Ray cluster gives the local results; dead workers
are retried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from ferapp.offline import batch, engines, inputs, jobs, worker
from tests.helpers import ROOT


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


def analyze(*args, timeout=600):
    return subprocess.run([sys.executable, "analyze.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def outputs(out: Path) -> dict[str, pd.DataFrame]:
    return {p.parent.name: pd.read_csv(p) for p in sorted((out / "recordings").glob("*/faces.csv"))}


@pytest.fixture(scope="module")
def clips(tmp_path_factory, grace_hopper):
    folder = tmp_path_factory.mktemp("recordings")
    make_clips(folder, grace_hopper)
    return folder


@pytest.fixture(scope="module")
def local_run(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    proc = analyze(clips, "--out", out, "--no-video", "--workers", "2")
    return out, proc


@pytest.mark.slow
def test_ray_cluster_of_two_nodes_gives_the_local_results(local_run, clips, tmp_path):
    """A real Ray cluster started here (2 nodes of 1 CPU: two machines in one), the same
    command with --engine ray --address: the local engine's results, 1 failure row, and a
    rerun that does nothing."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        out = tmp_path / "ray"
        proc = analyze(clips, "--out", out, "--no-video", "--engine", "ray",
                       "--address", cluster.address)
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "4 analysed, 0 already done, 1 failed" in proc.stdout
        local = outputs(local_run[0])
        ray_out = outputs(out)
        assert sorted(ray_out) == sorted(local)
        for name, df in local.items():
            pd.testing.assert_frame_equal(ray_out[name], df)
        assert len(pd.read_csv(out / "failures.csv")) == 1
        again = analyze(clips, "--out", out, "--no-video", "--engine", "ray",
                        "--address", cluster.address)
        assert "0 analysed, 4 already done" in again.stdout, again.stderr[-2000:]
    finally:
        cluster.shutdown()


def crash_once_then_analyze(job, out, opts):
    """A worker that dies (hard exit) the first time it meets clip1, then works."""
    marker = Path(out) / f".crashed-{job.rec_id}"
    if job.rec_id == "clip1.mp4" and not marker.exists():
        marker.write_text("x")
        os._exit(9)
    return worker.analyze_recording(job, out, opts)


@pytest.mark.slow
def test_a_dead_worker_is_retried(tmp_path, grace_hopper):
    src = tmp_path / "src"
    make_clips(src, grace_hopper, n=3, frames=5, corrupt=False)
    out = tmp_path / "out"
    batch.check_output(out)
    paths = inputs.collect_inputs([src])
    todo = [jobs.Job(i, str(p)) for i, p in zip(inputs.recording_ids(paths), paths, strict=True)]
    results = {}
    engines.run_local(todo, out, jobs.Options(write_video=False), 2,
                    lambda job, row: results.setdefault(job.rec_id, (row, job.attempts)),
                    task=crash_once_then_analyze)
    assert sorted(results) == ["clip0.mp4", "clip1.mp4", "nested__clip2.mp4"]
    assert all("error" not in row for row, _ in results.values()), results
    assert results["clip1.mp4"][1] == 2  # died once, done on the second attempt
    assert (out / ".crashed-clip1.mp4").exists()
