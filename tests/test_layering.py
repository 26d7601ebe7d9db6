"""The layers hold: kg/ is a pure library, server/ and budgetkg/ adapt it, and no module imports itself back.

Three checks, each of which a reviewer would otherwise do by hand (docs/architecture.md):

- kg/ imports no web framework, nor the packages that adapt it (an ``ast`` walk: fast, and exact
  about which file says it);
- ``lint-imports`` keeps the contracts of ``[tool.importlinter]`` in pyproject.toml (layers
  budgetkg → server → kg; the routers of server/ share server.runtime and never import one another);
- there is no import cycle anywhere among the modules of kg/, server/ and budgetkg/, counting imports
  inside functions (:mod:`tests.import_graph`, also a command).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.import_graph import PACKAGES, cycles, describe_cycles, module_graph

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"fastapi", "starlette", "jinja2", "uvicorn", "server", "budgetkg"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_kg_imports_no_web_framework_or_adapter() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & FORBIDDEN)
                 for p in (ROOT / "kg").rglob("*.py") if imported_modules(p) & FORBIDDEN}
    assert offenders == {}


def test_the_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import fastapi\n", encoding="utf-8")
    assert "fastapi" in imported_modules(bad)


def test_import_contracts_are_kept() -> None:
    """budgetkg → server → kg, kg without web framework, routers independent (pyproject's [tool.importlinter])."""
    done = subprocess.run([sys.executable, "-m", "importlinter.cli", "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


def test_no_import_cycles() -> None:
    """No module of kg/, server/ or budgetkg/ imports, through any chain, a module that imports it back."""
    found = cycles(module_graph(PACKAGES))
    assert not found, f"{len(found)} import cycles (imports inside functions count):\n{describe_cycles(found)}"


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("", encoding="utf-8")
    for module, text in modules.items():
        (root / name / f"{module}.py").write_text(text, encoding="utf-8")


def test_the_cycle_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cycle closed by an import inside a function is found, and named as a chain."""
    _package(tmp_path, "knotted", {
        "a": "from knotted import b\n",
        "b": "from knotted import c\n",
        "c": "def late():\n    from knotted import a\n    return a\n",
        "d": "from knotted import a\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    found = cycles(module_graph(["knotted"]))
    assert found == [["knotted.a", "knotted.b", "knotted.c", "knotted.a"]]
    assert describe_cycles(found) == "knotted.a → knotted.b → knotted.c → knotted.a"


def test_a_package_without_cycles_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _package(tmp_path, "straight", {"a": "from straight import b\n", "b": "import json\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert describe_cycles(cycles(module_graph(["straight"]))) == "no cycles"


def test_every_doctest_is_collected_once() -> None:
    """pytest collects the doctests of every package (testpaths, --doctest-modules), and no test runs them again."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert set(PACKAGES) <= set(config["testpaths"]), config["testpaths"]
    assert "--doctest-modules" in config["addopts"].split()
    runner = "doctest.testmod" + "("  # spelled in two pieces so this file does not find itself
    again = [p.name for p in (ROOT / "tests").glob("test_*.py") if runner in p.read_text(encoding="utf-8")]
    assert again == []
