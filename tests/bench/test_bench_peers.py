"""bench/bench_peers.py: the README's comparison with the `fer` package is what it prints."""

import re

import pytest

from tests.helpers import ROOT


def run_bench_peers(*args):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "bench/bench_peers.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.slow
def test_peer_bench_prints_what_readme_says(data_dir):
    """The README's comparison with the `fer` package is what bench_peers.py prints now."""
    proc = run_bench_peers("--data", str(data_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("public", "private"))]
    assert len(rows) == 6 and any("fer 25.10.3" in r for r in rows)
    readme = (ROOT / "README.md").read_text().splitlines()
    number = re.compile(r"\d\.\d{3,4}")
    for row in rows:
        label = row[:46].rstrip()  # split and model name
        shown = [line for line in readme if line.startswith(label + " ")]
        assert len(shown) == 1, f"README shows no bench_peers row for {label!r}"
        assert [float(v) for v in number.findall(shown[0])] == pytest.approx(
            [float(v) for v in number.findall(row)], abs=0.005)
    fer_private = next(r for r in rows if r.startswith("private") and "fer" in r)
    ours_private = next(r for r in rows if r.startswith("private") and "served" in r)
    assert float(number.findall(ours_private)[0]) > float(number.findall(fer_private)[0])


def test_peer_bench_without_fer_weights_is_one_line_error(tmp_path):
    proc = run_bench_peers("--fer-model", str(tmp_path / "none.hdf5"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"bench_peers.py: error: no fer weights file at {tmp_path / 'none.hdf5'}")
