"""ferapp.offline.engines: a real two-node Ray cluster gives the local results; dead workers
are retried."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from ferapp.offline import batch, engines, inputs, jobs, worker
from tests.offline.clips import analyze, make_clips, name_of, outputs


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
    if job.rec_id.startswith("clip1.mp4-") and not marker.exists():
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
    todo = [jobs.Job(inputs.recording_id(p), str(p)) for p in paths]
    results = {}
    engines.run_local(todo, out, jobs.Options(write_video=False), 2,
                    lambda job, row: results.setdefault(job.rec_id, (row, job.attempts)),
                    task=crash_once_then_analyze)
    by_name = {name_of(k): v for k, v in results.items()}
    assert sorted(by_name) == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert all("error" not in row for row, _ in results.values()), results
    assert by_name["clip1.mp4"][1] == 2  # died once, done on the second attempt
    assert list(out.glob(".crashed-clip1.mp4-*"))


def always_crash(job, out, opts):
    os._exit(9)


@pytest.mark.slow
def test_a_recording_whose_worker_always_dies_fails_after_three_attempts(tmp_path):
    out = tmp_path / "out"
    batch.check_output(out)
    results = {}
    engines.run_local([jobs.Job("a-0123456789", str(tmp_path / "a.mp4"))], out,
                      jobs.Options(write_video=False), 1,
                      lambda job, row: results.setdefault(job.rec_id, (row, job.attempts)),
                      task=always_crash)
    row, attempts = results["a-0123456789"]
    assert attempts == jobs.MAX_ATTEMPTS == 3
    assert row["error"] == "the worker process died (3 attempts)"
