"""The house: the package never imports an entry point, its imports run one way down the
layers (ferapp/__init__.py), no module imports one that stands above it, no circles; no
module over 300 lines and no function over 60."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "ferapp"
# lower layers first: a module may import its own layer and the ones before it
LAYERS = [("ferapp.system", "ferapp.labels"), ("ferapp.vision",),
          ("ferapp.learning", "ferapp.offline", "ferapp.web"),
          ("ferapp.quantize",)]  # the former command's name, over ferapp.learning.quantize
ENTRY_POINTS = {p.stem for p in ROOT.glob("*.py")}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (at any depth of the code, lazily or not)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            # "from ferapp.learning import data" imports the module ferapp.learning.data
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def package_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name}
            for name, path in modules.items()}


def layer(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return -1  # the package's own __init__: imports nothing


def test_the_package_never_imports_an_entry_point_or_a_root_module():
    for path in PACKAGE.rglob("*.py"):
        roots = {m.split(".")[0] for m in imports_of(path)} & ENTRY_POINTS
        assert not roots, f"{path.relative_to(ROOT)} imports the root module(s) {roots}"


def test_imports_run_down_the_layers_only():
    for module, imported in package_graph().items():
        for other in imported:
            if other == "ferapp":
                continue
            assert layer(other) <= layer(module), (
                f"{module} (layer {layer(module)}) imports {other} (layer {layer(other)}), "
                "which stands above it")


def test_siblings_of_the_top_layer_do_not_import_each_other():
    top = LAYERS[-1]
    for module, imported in package_graph().items():
        own = next((p for p in top if module.startswith(p + ".")), None)
        if own is None:
            continue
        for other in imported:
            sibling = next((p for p in top if other.startswith(p + ".")), None)
            assert sibling in (None, own), f"{module} imports its sibling layer's {other}"


def test_no_import_circles():
    graph = package_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_a_circle_or_a_climb_would_be_caught(tmp_path):
    """The checks above see lazy imports and 'from package import module' too."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from ferapp.web import api\n    import main\n")
    assert {"ferapp.web", "ferapp.web.api", "main"} <= imports_of(f)


def test_modules_and_functions_stay_small():
    sources = [*PACKAGE.rglob("*.py"), *ROOT.glob("*.py")]
    for path in sources:
        text = path.read_text()
        assert text.count("\n") <= 300, f"{path.relative_to(ROOT)} has over 300 lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 60, (f"{path.relative_to(ROOT)}:{node.lineno} {node.name} "
                                      f"has {length} lines")


def test_the_server_does_not_import_tensorflow():
    """The app serves with ONNX Runtime: importing it loads neither TensorFlow nor Keras."""
    import subprocess
    import sys

    code = ("import sys, main; bad = [m for m in ('tensorflow', 'keras') if m in sys.modules];"
            " print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_readme_stays_short_and_its_links_lead_somewhere():
    """The README is for users: at most 300 lines; every relative link names a file that
    exists, and an anchor one of that file's headings."""
    import re

    text = (ROOT / "README.md").read_text()
    assert text.count("\n") <= 300, f"README.md has {text.count(chr(10))} lines"
    for target in re.findall(r"\]\(([^)#\s]+\.md)(#[^)]*)?\)", text):
        path, anchor = ROOT / target[0], target[1]
        assert path.is_file(), target
        if anchor:
            slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-")
                     for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)}
            assert anchor[1:] in slugs, (target, sorted(slugs))


# time.sleep calls of half a second or more a test may keep, with the reason (none today:
# waits are on events or conditions, tests/e2e/pages.py's wait_for)
LONG_SLEEPS_ALLOWED: dict[str, str] = {}
CLOCKS = {"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns"}


def _clock_call(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCKS)


def test_no_test_asserts_on_wall_time_or_sleeps_in_place_of_an_event():
    """Speed belongs to bench/: no assert compares a clock difference with a number; and
    no test sleeps half a second or more (outside LONG_SLEEPS_ALLOWED) to let something
    happen: it waits for the condition instead."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert) and any(
                    isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Sub)
                    and (_clock_call(sub.left) or _clock_call(sub.right))
                    for sub in ast.walk(node.test)):
                found.append(f"{rel}:{node.lineno} asserts on a clock difference")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "sleep" and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, (int, float))
                    and node.args[0].value >= 0.5
                    and f"{rel}:{node.lineno}" not in LONG_SLEEPS_ALLOWED):
                found.append(f"{rel}:{node.lineno} sleeps {node.args[0].value} s")
    assert not found, found


def test_the_wall_time_check_would_catch_a_stopwatch(tmp_path):
    bad = "import time\nt = time.monotonic()\nassert time.monotonic() - t < 4\ntime.sleep(2)\n"
    tree = ast.parse(bad)
    asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    assert any(isinstance(s, ast.BinOp) and _clock_call(s.left) for s in ast.walk(asserts[0]))
    sleeps = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.func.attr == "sleep"]
    assert sleeps and sleeps[0].args[0].value == 2
