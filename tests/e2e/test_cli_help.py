"""Every entry point's --help exits 0 and lists the options the README and docs/ show, and
every full command line they show for main.py, train.py, analyze.py and evaluate.py parses."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.helpers import ROOT

SCRIPTS = ("main.py", "train.py", "evaluate.py", "analyze.py")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, list[str]]]:
    """(script, argv) of each command line in the docs' code blocks and spans."""
    found = []
    for path in DOCS:
        text = path.read_text().replace("\\\n", " ")  # join continued lines
        for line in text.splitlines():
            for script in SCRIPTS:
                for m in re.finditer(rf"(?:python {script}|(?<![\w/])\./run\.sh)(?!\s+test)"
                                     r"((?:\s+[^\s`#|)]+)*)", line):
                    if m.group(0).startswith("./run.sh") and script != "main.py":
                        continue
                    args = m.group(1).strip()
                    if any(t in args for t in ("<", "[", "...", "…")):
                        continue  # a template, not a command line
                    found.append((script, shlex.split(args)))
    return found


def documented_options(script: str) -> set[str]:
    """Every --option the docs name on a line that names the script (run.sh: main.py;
    the README's option table under "Run" lists main.py's)."""
    options = set()
    for path in DOCS:
        section = ""
        for line in path.read_text().splitlines():
            if line.startswith("## "):
                section = line
            names_script = script in line or (script == "main.py" and ("./run.sh" in line or (
                path.name == "README.md" and section == "## Run" and line.startswith("|"))))
            if names_script:
                options |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", line))
    return options


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_0_and_lists_every_documented_option(script):
    proc = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    documented = documented_options(script)
    assert documented, f"the docs name no option of {script}"
    missing = sorted(o for o in documented if o not in proc.stdout)
    assert not missing, f"{script} --help does not list {missing}"


@pytest.mark.parametrize("module", ["ferapp.learning.quantize", "ferapp.quantize"])
def test_the_quantize_command_helps(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--model-dir" in proc.stdout, proc.stderr[-2000:]


def test_every_documented_command_line_parses():
    import analyze
    import evaluate
    import main
    import train

    parsers = {"main.py": main.parse_args, "train.py": train.parse_args,
               "analyze.py": analyze.parse_args, "evaluate.py": evaluate.parse_args}
    commands = documented_commands()
    scripts = {s for s, _ in commands}
    assert {"main.py", "train.py", "analyze.py", "evaluate.py"} <= scripts, scripts
    for script, argv in commands:
        try:
            parsers[script](argv)
        except SystemExit as exc:
            raise AssertionError(f"{script} {shlex.join(argv)} does not parse") from exc
