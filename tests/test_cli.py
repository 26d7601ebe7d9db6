"""The budgetkg command line, run as a user would (typer's runner, a store in a temp folder)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path

import pytest
import typer
from pyoxigraph import RdfFormat, parse
from typer.core import TyperGroup
from typer.testing import CliRunner

from budgetkg.cli import app
from tests.helpers import checkout_env

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("cli") / "store"
    result = runner.invoke(app, ["build", "--store", str(store), "--quiet"])
    assert result.exit_code == 0, result.output
    return store


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("build", "stats", "query", "export", "queries", "parse"):
        assert cmd in result.output


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's words, sub-commands of a group (``contracts import``) included."""
    ctx = typer.Context(group)
    found: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        found.append((*prefix, name))
        if isinstance(command, TyperGroup):
            found += _commands(command, (*prefix, name))
    return found


_main = typer.main.get_command(app)
assert isinstance(_main, TyperGroup)
COMMANDS = _commands(_main)


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_explains_itself(words: tuple[str, ...]) -> None:
    """``budgetkg <command> --help`` prints the command's usage and options, and exits 0."""
    result = runner.invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert f"budgetkg {' '.join(words)}" in " ".join(result.output.split())
    assert "--help" in result.output


#: Libraries that only some commands need, each loaded when such a command runs. ``budgetkg --help`` once loaded
#: numpy and scipy (the links), rdflib (the shapes) and httpx (a remote store) before reading its arguments, and
#: pyoxigraph (through the settings' namespaces) and sqlite3 (the search index).
HEAVY = ("numpy", "scipy", "rdflib", "httpx", "pyshacl", "networkx", "matplotlib", "jieba", "tantivy", "openpyxl",
         "fastapi", "starlette", "uvicorn", "jinja2", "pyoxigraph", "sqlite3")


def test_the_command_line_loads_no_heavy_library_before_a_command_runs(tmp_path: Path) -> None:
    """Importing the command line, ``budgetkg --help`` and every ``budgetkg <command> --help`` load none of
    :data:`HEAVY` (a separate process: this one has loaded them all)."""
    import subprocess
    import sys

    loaded = f"sorted(m for m in {HEAVY!r} if m in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", f"import budgetkg.cli, sys; print({loaded})"],
                              env=checkout_env(), capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
    report = tmp_path / "loaded.json"
    helps = [["--help"], *([*words, "--help"] for words in COMMANDS)]
    probe = (f"import json, sys\nfrom budgetkg.cli import main\ncodes = []\n"
             f"for args in {helps!r}:\n"
             f"    sys.argv = ['budgetkg', *args]\n"
             f"    try:\n        main()\n    except SystemExit as exc:\n        codes.append(exc.code)\n"
             f"open({str(report)!r}, 'w').write(json.dumps([codes, {loaded}]))")
    subprocess.run([sys.executable, "-c", probe], env=checkout_env(), capture_output=True, check=True)
    codes, heavy = json.loads(report.read_text())
    assert codes == [0] * len(helps)
    assert heavy == []


def test_search_limit_is_the_index_limit() -> None:
    """``budgetkg search --limit`` takes at most what the index answers (the command spells the number itself, so
    that ``--help`` does not load the index)."""
    from budgetkg.commands import search as command
    from kg import search

    assert command.MAX_HITS == search.MAX_HITS


def test_stats_json(built: Path) -> None:
    result = runner.invoke(app, ["stats", "--store", str(built), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["projects"], data["indicators"], data["agencies"], data["budget_wanyuan"]) == (138, 1184, 21,
                                                                                             "42674.61")
    assert {d["document"]: d["projects"] for d in data["documents"]}["004_5346273e88d8e34b.txt"] == 121


def test_stats_from_environment_variable(built: Path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGETKG_STORE", str(built))
    result = runner.invoke(app, ["stats", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "(all),138,1184,18,42674.61"


def test_query_formats(built: Path) -> None:
    q = "SELECT ?name WHERE { ?p a bk:Project ; rdfs:label ?name ; bk:budgetUnitCode '325220' } ORDER BY ?name"
    csv_out = runner.invoke(app, ["query", q, "--store", str(built), "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    assert csv_out.stdout.splitlines() == ["name", "市建设工程安全质量监督总站业务管理工作经费", "建设工程执法检查",
                                           "建设工程视频监控智能平台运行维护"]
    js = runner.invoke(app, ["query", q, "--store", str(built), "--format", "json"])
    assert len(json.loads(js.stdout)["results"]["bindings"]) == 3
    ask = runner.invoke(app, ["query", "ASK { ?p a bk:SpecialBondProject }", "--store", str(built)])
    assert ask.stdout.strip() == "true"


def test_named_query_with_param(built: Path) -> None:
    result = runner.invoke(app, ["query", "budget_by_agency", "-p", "department=325", "--store", str(built),
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # 325's three unit/funding rows, its two units' subtotals, its total, and the grand total (its own)
    assert [r["level"] for r in rows] == ["source", "source", "unit", "source", "unit", "department", "total"]
    assert all(r["department"] == "325" and r["dept"] in ("325", "合计") for r in rows)


def test_bad_query_is_a_usage_error(built: Path) -> None:
    result = runner.invoke(app, ["query", "SELECT WHERE {", "--store", str(built)])
    assert result.exit_code == 2
    assert "syntax error" in result.output
    unknown = runner.invoke(app, ["query", "no_such_query", "--store", str(built)])
    assert unknown.exit_code == 2 and "no named query" in unknown.output


def test_export_gzip_round_trips(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "dump.nq.gz"
    result = runner.invoke(app, ["export", "--store", str(built), "--output", str(out)])
    assert result.exit_code == 0, result.output
    quads = list(parse(gzip.decompress(out.read_bytes()), format=RdfFormat.N_QUADS))
    stats = json.loads(runner.invoke(app, ["stats", "--store", str(built), "--format", "json"]).stdout)
    assert len(quads) == stats["quads"]
    ttl = runner.invoke(app, ["export", "--store", str(built), "--format", "turtle",
                              "--graph", "https://budgetkg.example.org/id/graph/000_98710193955fe7ef"])
    assert ttl.exit_code == 0
    in_graph = [q for q in quads if q.graph_name.value.endswith("/graph/000_98710193955fe7ef")]
    assert len(list(parse(ttl.stdout_bytes, format=RdfFormat.TURTLE))) == len(in_graph) > 1000


def test_bad_file_exits_2_names_line_and_keeps_store(built: Path, tmp_path: Path) -> None:
    before = runner.invoke(app, ["export", "--store", str(built)]).stdout_bytes
    bad = tmp_path / "notes.txt"
    bad.write_text("会议纪要\n这不是绩效目标表。\n", encoding="utf-8")
    result = runner.invoke(app, ["build", str(bad), "--year", "2025", "--store", str(built)])
    assert result.exit_code == 2
    assert "notes.txt:1: expected a performance-target table" in result.output
    assert "the store was not changed" in result.output
    assert runner.invoke(app, ["export", "--store", str(built)]).stdout_bytes == before


def test_build_in_worker_processes_gives_the_same_store(built: Path, tmp_path: Path) -> None:
    store = tmp_path / "parallel"
    result = runner.invoke(app, ["build", "--store", str(store), "--workers", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    same = [runner.invoke(app, ["export", "--store", str(s)]).stdout_bytes for s in (built, store)]
    assert same[0] == same[1] and len(same[0]) > 1_000_000
    bad = runner.invoke(app, ["build", "--store", str(store), "--workers", "-1"])
    assert bad.exit_code == 2


def test_file_outside_manifest_needs_year(tmp_path: Path) -> None:
    src = Path(__file__).parent.parent / "seeds" / "002_46a6982900848d6f.txt"
    copy = tmp_path / "extra.txt"
    copy.write_bytes(src.read_bytes())
    store = tmp_path / "store"
    no_year = runner.invoke(app, ["build", str(copy), "--store", str(store)])
    assert no_year.exit_code == 2 and "--year" in no_year.output
    ok = runner.invoke(app, ["build", str(copy), "--year", "2025", "--store", str(store), "--format", "json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["documents"][0]["projects"] == 3


def test_locked_store_is_a_clear_error(tmp_path: Path) -> None:
    from kg.store import EmbeddedStore

    store = tmp_path / "locked"
    holder = EmbeddedStore(store)  # this process holds the write lock
    result = runner.invoke(app, ["build", "--store", str(store), "--quiet"])
    assert result.exit_code == 2
    assert "cannot open store" in result.output
    del holder


def test_parse_prints_records(tmp_path: Path) -> None:
    src = Path(__file__).parent.parent / "seeds" / "000_98710193955fe7ef.txt"
    result = runner.invoke(app, ["parse", str(src), "--year", "2025"])
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert [r["budget"] for r in records] == ["64.00", "350.00", "262.00"]


def test_a_command_runs_under_a_memory_limit(tmp_path: Path) -> None:
    """``BUDGETKG_CLI_MEMORY_MB`` caps a command's address space, so one read cannot take the machine."""
    import subprocess
    import sys

    probe = ("import resource, budgetkg.cli as c; c.limit_memory(); "
             "print(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)")
    env = {**os.environ, "BUDGETKG_CLI_MEMORY_MB": "3000"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3000"
    big = subprocess.run([sys.executable, "-c", "import budgetkg.cli as c; c.limit_memory(); b = bytearray(4 << 30)"],
                         env=env, capture_output=True, text=True)
    assert big.returncode != 0 and "MemoryError" in big.stderr


def test_a_build_may_use_the_machines_memory_and_a_reader_two_thirds() -> None:
    """``budgetkg build`` writes the store (it never reads beside a writer): its default limit is the machine's
    memory; every other command keeps two thirds of it."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "BUDGETKG_CLI_MEMORY_MB"}
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limits = {}
    for argv in (["build", "--quiet"], ["stats"], ["--help"]):
        probe = (f"import resource, budgetkg.cli as c; c.limit_memory({argv!r}); "
                 "print(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)")
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        limits[argv[0]] = int(out.stdout)
    reader = machine * 2 // 3 >> 20
    assert limits == {"build": machine >> 20, "stats": reader, "--help": reader}


@pytest.mark.parametrize("command", [["search", "公安"], ["graph", "--format", "graphml"], ["link"], ["stats"]])
def test_regression_a_malformed_setting_is_a_usage_error_in_every_command(command: list[str], tmp_path: Path) -> None:
    """``budgetkg search`` read its settings unguarded: a bad BUDGETKG_* value ended in a traceback."""
    result = runner.invoke(app, [*command, "--store", str(tmp_path / "store")], env={"BUDGETKG_MAX_ROWS": "many"})
    assert result.exit_code == 2, result.output
    assert "BUDGETKG_MAX_ROWS must be a whole number" in result.output
