"""kg/ is a pure library: it must not import web frameworks; server/ and budgetkg/ adapt it."""

from __future__ import annotations

import ast
from pathlib import Path

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
