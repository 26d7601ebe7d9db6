"""A damaged store is diagnosed: every command names the store, what is wrong and what to do, and exits 2.

A store freshly built from the seeds is copied and damaged the five ways the fault runs found
(docs/reliability.md): a truncated, deleted or scribbled table file (.sst), an empty MANIFEST, a
deleted CURRENT. The first four stop RocksDB from opening the store at all; every command must
then say so — never a traceback. A scribbled block is found when it is read: ``check-store``
reads every index and must find it; the other commands either never read that block (and answer
correctly) or report the damage, and none may crash. Those run in child processes with an
address-space limit, since reading a damaged block must not take the machine's memory.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from budgetkg.cli import app

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "examples" / "contracts" / "example_contracts.csv"
runner = CliRunner()

#: Every command that opens the store (arguments after the command name; {store} and {tmp} are filled in).
COMMANDS = [
    ["build", "--quiet", "--store", "{store}"],
    ["stats", "--store", "{store}"],
    ["query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "--store", "{store}"],
    ["export", "--output", "{tmp}/dump.nq", "--store", "{store}"],
    ["validate", "--store", "{store}"],
    ["link", "--store", "{store}"],
    ["contracts", "import", str(CONTRACTS), "--store", "{store}"],
    ["graph", "--output", "{tmp}/g.graphml", "--store", "{store}"],
    ["serve", "--store", "{store}", "--port", "1"],
    ["check-store", "--store", "{store}"],
]


def damage(kind: str, store: Path) -> None:
    """Damage ``store`` as a failing disk or a careless hand would."""
    largest = max(store.glob("*.sst"), key=lambda f: f.stat().st_size)
    if kind == "truncated sst":
        os.truncate(largest, largest.stat().st_size // 2)
    elif kind == "deleted sst":
        largest.unlink()
    elif kind == "empty MANIFEST":
        next(store.glob("MANIFEST-*")).write_bytes(b"")
    elif kind == "deleted CURRENT":
        (store / "CURRENT").unlink()
    elif kind == "scribbled sst":
        with largest.open("r+b") as fh:
            fh.seek(largest.stat().st_size // 3)
            fh.write(bytes(range(256)) * 16)
    else:
        raise ValueError(kind)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("damage") / "clean"
    result = runner.invoke(app, ["build", "--quiet", "--store", str(store)])
    assert result.exit_code == 0, result.output
    return store


def copy_damaged(clean: Path, tmp: Path, kind: str) -> Path:
    store = tmp / "store"
    shutil.copytree(clean, store, ignore=shutil.ignore_patterns("LOCK"))
    damage(kind, store)
    return store


def args_for(command: list[str], store: Path, tmp: Path) -> list[str]:
    return [a.replace("{store}", str(store)).replace("{tmp}", str(tmp)) for a in command]


@pytest.mark.parametrize("kind", ["truncated sst", "deleted sst", "empty MANIFEST", "deleted CURRENT"])
def test_every_command_reports_a_store_rocksdb_cannot_open_with_exit_2(clean: Path, tmp_path: Path, kind: str
                                                                       ) -> None:
    store = copy_damaged(clean, tmp_path, kind)
    for command in COMMANDS:
        result = runner.invoke(app, args_for(command, store, tmp_path))
        text = " ".join(result.output.split())
        assert result.exit_code == 2, (command, result.output, result.exception)
        assert f"the store at {store} is damaged" in text, (command, text)
        assert "budgetkg export" in text and "budgetkg build --store NEW_FOLDER" in text, text
        assert "Traceback" not in result.output


def _limited() -> None:  # the child may not take more than 3 GB of address space
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_a_scribbled_table_file_is_found_by_check_store_and_crashes_no_command(clean: Path, tmp_path: Path) -> None:
    store = copy_damaged(clean, tmp_path, "scribbled sst")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in COMMANDS:
        if command[0] in ("serve", "build", "link", "contracts"):
            continue  # writers and the server: covered above; here, the readers of every index
        proc = subprocess.run([sys.executable, "-m", "budgetkg", *args_for(command, store, tmp_path)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300, preexec_fn=_limited)
        text = " ".join(proc.stderr.split())
        assert "Traceback" not in proc.stderr, (command, proc.stderr[-2000:])
        if command[0] == "check-store":
            assert proc.returncode == 2 and f"the store at {store} is damaged" in text, text
            assert "checksum mismatch" in text
        else:
            assert proc.returncode in (0, 1, 2), (command, proc.returncode, text)  # 1: validate's verdict
            if proc.returncode == 2:
                assert f"the store at {store} is damaged" in text, (command, text)


def test_check_store_on_a_healthy_store_counts_every_graph_and_exits_0(clean: Path) -> None:
    result = runner.invoke(app, ["check-store", "--store", str(clean), "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.stdout)
    assert data["healthy"] and not data["leftovers"]
    assert data["graphs"]["https://budgetkg.example.org/id/graph/004_5346273e88d8e34b"] > 28000
    assert len(set(data["index_quads"].values())) == 1  # every index holds every quad once


def test_a_dump_restores_into_a_new_folder(clean: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump.nq.gz"
    assert runner.invoke(app, ["export", "--output", str(dump), "--store", str(clean)]).exit_code == 0
    restored = tmp_path / "restored"
    result = runner.invoke(app, ["restore", str(dump), "--store", str(restored)])
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.nq"
    assert runner.invoke(app, ["export", "--output", str(again), "--store", str(restored)]).exit_code == 0
    import gzip

    assert gzip.decompress(dump.read_bytes()) == again.read_bytes()
    assert runner.invoke(app, ["restore", str(dump), "--store", str(restored)]).exit_code == 2  # not empty
