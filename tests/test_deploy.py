"""scripts/deploy-virtuoso.sh, the deployment recipe of docs/scale.md: Virtuoso with budgetkg serve in front.

The script is run as a user runs it, on the bundled seeds (their quads as a dump, through Virtuoso's bulk loader:
``budgetkg build`` into Virtuoso, its other path, is tests/test_virtuoso.py's), into a temporary folder on free
loopback ports: the server in front must answer /health and a named query as the embedded store answers it; run
again, it changes nothing; ``--stop`` stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pyoxigraph import QueryResultsFormat, QuerySolutions, RdfFormat, serialize

from kg import queries
from kg.settings import Settings
from kg.store import GraphStore

from .helpers import HOST, ROOT, canonical_csv, checkout_env, free_port, require_virtuoso

SCRIPT = ROOT / "scripts" / "deploy-virtuoso.sh"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture
def deployed(tmp_path: Path, seed_store: GraphStore) -> Iterator[tuple[Path, str, dict[str, str], list[str]]]:
    require_virtuoso()
    data = tmp_path / "virtuoso"
    dump = tmp_path / "seeds.nq"
    serialize(seed_store.quads(), output=str(dump), format=RdfFormat.N_QUADS)
    ports = ["--sql-port", str(free_port()), "--http-port", str(free_port()), "--serve-port", str(free_port())]
    env = checkout_env(VIRTUOSO_DBA_PASSWORD=secrets.token_urlsafe(12).replace("-", "x"),
                       BUDGETKG=f"{sys.executable} -m budgetkg", VIRTUOSO_BUFFERS="10000")
    for key in ("BUDGETKG_STORE", "BUDGETKG_QUERY_URL", "BUDGETKG_UPDATE_URL", "BUDGETKG_GSP_URL"):
        env.pop(key, None)
    try:
        done = run("--data", str(data), *ports, "--dump", str(dump), env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        yield data, f"http://{HOST}:{ports[-1]}", env, ports
    finally:
        run("--data", str(data), "--stop", env=env)


def test_the_recipe_serves_the_seeds_from_virtuoso_and_stops(deployed: tuple[Path, str, dict[str, str], list[str]],
                                                              seed_store: GraphStore, settings: Settings) -> None:
    data, url, env, ports = deployed
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    there = httpx.get(f"{url}/queries/funding_sources", headers={"Accept": "text/csv"}, timeout=60)
    assert there.status_code == 200, there.text
    found = queries.get(settings.queries_dir, "funding_sources").run(seed_store, {})
    assert isinstance(found, QuerySolutions)
    here = (found.serialize(format=QueryResultsFormat.CSV) or b"").decode("utf-8")
    assert canonical_csv(there.text) == canonical_csv(here) and len(canonical_csv(here)) > 1

    # run again: the same servers, the store not filled twice
    pids = {p.name: p.read_text() for p in data.glob("*.pid")}
    again = run("--data", str(data), *ports, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout and "filled before" in again.stdout
    assert {p.name: p.read_text() for p in data.glob("*.pid")} == pids

    stopped = run("--data", str(data), "--stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not [p for p in (data / name for name in pids) if alive(p)]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/health", timeout=2)


def test_the_recipe_says_what_is_missing(tmp_path: Path) -> None:
    shown = run("--help", env=checkout_env())
    assert shown.returncode == 0 and "VIRTUOSO_DBA_PASSWORD" in shown.stdout
    env = checkout_env()
    env.pop("VIRTUOSO_DBA_PASSWORD", None)
    no_password = run("--data", str(tmp_path), env=env)
    assert no_password.returncode == 2 and "VIRTUOSO_DBA_PASSWORD" in no_password.stderr
    assert run(env=env).returncode == 2
