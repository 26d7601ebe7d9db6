"""SPARQL syntax errors read the same, and readably, in the CLI and the server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from budgetkg.cli import app
from kg.settings import Settings
from kg.store import GraphStore
from kg.syntax import explain
from server.app import create_app

CASES = [
    ("SELEC ?x WHERE { ?x ?p ?o }", "line 1, column 1: unknown keyword 'SELEC' (did you mean SELECT?)"),
    ("SELECT ?x WHERE { ?x foo:bar ?o }", "line 1, column 22: unknown prefix 'foo:'"),
    ("SELECT ?x WHERE {\n  ?x ?p ?o .\n  FILTR(?o > 1) }",
     "line 3, column 3: unknown keyword 'FILTR' (did you mean FILTER?)"),
    ("SELECT ?x WHERE { ?x ?p ?o ", "line 1, column 28: the query ends with 1 bracket still open"),
]


@pytest.fixture(scope="module")
def disk_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("syntax") / "store"
    assert CliRunner().invoke(app, ["build", "--store", str(path), "-q", "--no-audit"]).exit_code == 0
    return path


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cli_and_server_say_the_same(text: str, expected: str, disk_store: Path, settings: Settings,
                                     seed_store: GraphStore) -> None:
    r = CliRunner().invoke(app, ["query", text, "--store", str(disk_store)])
    assert r.exit_code == 2
    cli = " ".join(r.stderr.split())
    assert expected in cli
    with TestClient(create_app(settings, store=seed_store)) as client:
        answer = client.get("/sparql", params={"query": text})
    assert answer.status_code == 400
    assert expected in " ".join(answer.text.split())
    assert "\\u{" not in answer.text and "\\u{" not in cli  # no dump of the grammar's character classes


def test_a_message_without_a_position_is_kept() -> None:
    assert explain("x", "something else") == "something else"


def test_the_caret_points_at_the_column() -> None:
    text = "SELECT ?x WHERE { ?x zz:y ?o }"
    lines = explain(text, "error at 1:25: expected one of …", {"bk": "http://b/"}).split("\n")
    column = int(re.search(r"column (\d+)", lines[0]).group(1))
    assert lines[2].index("^") - 2 == column - 1 and text[column - 1:].startswith("zz:")
