#!/usr/bin/env bash
# One entry point for newcomers and CI.
#   ./run.sh [app options]   set up .venv on first use, then start the app (http://127.0.0.1:5000)
#   ./run.sh test [pytest options]   set up (incl. headless Chromium) and run the test suite
#   ./run.sh lint                    set up and run ruff over the whole repository
set -euo pipefail
cd "$(dirname "$0")"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

setup_python() {  # $1: app or dev; reinstalls only when a requirements file changed
  local stamp=".venv/.installed-$1"
  if [ -f "$stamp" ] && [ "$stamp" -nt requirements.txt ] && [ "$stamp" -nt requirements-dev.txt ] \
     && [ "$stamp" -nt requirements-nodeps.txt ] && [ "$stamp" -nt requirements-ray.txt ] \
     && [ "$stamp" -nt pyproject.toml ]; then
    return
  fi
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
  if [ "$1" = dev ]; then
    .venv/bin/python -m pip install -q -r requirements-dev.txt -r requirements-ray.txt
    .venv/bin/python -m pip install -q --no-deps tf2onnx==1.17.0
  fi
  touch "$stamp"
}

setup_page_runtime() {  # the page's in-browser runtime (package-lock.json); without npm the
  # page still works, analysing the visitor's camera on the server, and says why
  local stamp="node_modules/.installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then return; fi
  if ! command -v npm >/dev/null; then
    echo "run.sh: npm not found: the page will analyse cameras on the server only" \
         "(install Node.js and npm, then run ./run.sh again)" >&2
    return
  fi
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
  touch "$stamp"
}

setup_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "run.sh: the browser tests need Debian's chromium and chromium-driver:" \
         "sudo apt-get install chromium chromium-driver" >&2
    exit 1
  fi
}

if [ "${1:-}" = lint ]; then
  setup_python dev
  exec .venv/bin/ruff check .
fi
if [ "${1:-}" = test ]; then
  shift
  setup_python dev
  setup_page_runtime
  setup_browser
  exec .venv/bin/python -m pytest "$@"
fi
setup_python app
setup_page_runtime
exec .venv/bin/python main.py "$@"
