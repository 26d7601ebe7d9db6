"""Store generations: a running server sees every write made by another process, and never goes back.

The server here is the real application over an on-disk store under ``tmp_path``, its jobs run by
real worker processes (:class:`server.workers.ProcessPool`); the writes are the real command line
(``python -m budgetkg …``) in child processes, holding the store's write lock while the server reads.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyoxigraph import NamedNode, Store

from kg.audit import findings_graph
from kg.iris import Iris
from kg.settings import Settings
from kg.store import GENERATION_FILE, WRITING_FILE, EmbeddedStore, GraphStore, read_generation
from server.app import GENERATION_HEADER, create_app

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "PREFIX bk: <https://budgetkg.example.org/def/>\n"
CONTRACTS = PREFIX + "SELECT (COUNT(?c) AS ?n) WHERE { ?c a bk:Contract }"
FINDINGS = PREFIX + "SELECT (COUNT(?f) AS ?n) WHERE { ?f a bk:AuditFinding }"
#: The budget of the one document that is rebuilt (unit 326105), and the size of the whole union.
BUDGET = PREFIX + """SELECT ?budget ?triples WHERE {
  { SELECT (SUM(?b) AS ?budget) WHERE { ?p a bk:Project ; bk:budgetUnitCode "326105" ; bk:budget/bk:amountInYuan ?b } }
  { SELECT (COUNT(*) AS ?triples) WHERE { ?s ?p ?o } }
}"""
REBUILT = "002_46a6982900848d6f.txt"  # the smallest seed document: unit 326105
#: Asks for an answer computed now: a request repeated to make a worker work must not be a result-cache hit.
FRESH = {"Cache-Control": "no-cache"}


def disk_store(source: GraphStore, path: Path, without: tuple[NamedNode, ...] = ()) -> Path:
    """Copy ``source``'s quads (but the graphs ``without``) into an on-disk store at ``path``; release its lock."""
    disk = Store(str(path))
    disk.extend(q for q in source.quads() if q.graph_name not in without)
    disk.flush()
    del disk
    gc.collect()
    return path


def raise_budgets(text: str) -> str:
    """The document with every 预算数 amount raised by 1 (万元).

    >>> raise_budgets("\\t预算数\\n\\t64.00\\n")
    '\\t预算数\\n\\t65.00\\n'
    """
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):
        m = re.fullmatch(r"(\s*)([\d.]+)(\s*)", lines[i + 1])
        if line.strip() == "预算数" and m:
            lines[i + 1] = f"{m[1]}{Decimal(m[2]) + 1}{m[3]}"
    return "\n".join(lines)


def budgetkg(*args: str) -> subprocess.Popen[str]:
    """The command line in a child process (it takes the store's write lock; the server keeps reading)."""
    return subprocess.Popen([sys.executable, "-m", "budgetkg", *args], cwd=ROOT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), err  # validate exits 1 on a violation, after recording its findings


@contextmanager
def serving(store: Path, workers: int = 2, timeout: float = 20.0) -> Iterator[TestClient]:
    """The application over the on-disk ``store``, with ``workers`` worker processes."""
    settings = Settings.from_env(env={}, store=str(store), query_timeout=timeout)
    with TestClient(create_app(settings, workers=workers)) as client:
        yield client


def ask(client: TestClient, query: str) -> tuple[int, tuple[str, ...]]:
    """(generation, the first row's values) of a SELECT."""
    r = client.get("/sparql", params={"query": query})
    assert r.status_code == 200, r.text
    row = r.json()["results"]["bindings"][0]
    return int(r.headers[GENERATION_HEADER]), tuple(v["value"] for _, v in sorted(row.items()))


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """A copy of the seed documents and manifest, to change."""
    folder = tmp_path / "seeds"
    shutil.copytree(ROOT / "seeds", folder)
    return folder


# -- the store's side ----------------------------------------------------------------------------
def test_every_write_advances_the_generation_once_and_only_when_it_wrote(tmp_path: Path,
                                                                         seed_store: GraphStore) -> None:
    path = disk_store(seed_store, tmp_path / "store")
    assert read_generation(path) == 0 and not (path / GENERATION_FILE).exists()
    with EmbeddedStore(path) as store:  # one block: one generation, however many writes
        graph = NamedNode("http://test.example/g")
        store.update(f"INSERT DATA {{ GRAPH <{graph.value}> {{ <http://test.example/s> <http://test.example/p> 1 }} }}")
        store.remove_graph(graph)
        assert read_generation(path) == 0  # not before the block ends
        reader = EmbeddedStore(path, read_only=True)  # beside the writer
        assert reader.generation == 0
    assert read_generation(path) == 1
    with EmbeddedStore(path) as store:
        store.graphs()  # reads only
    assert read_generation(path) == 1
    assert EmbeddedStore(path, read_only=True).generation == 1
    memory = EmbeddedStore(None)
    memory.update("INSERT DATA { <http://test.example/s> <http://test.example/p> 1 }")
    assert memory.generation == 1


def test_a_read_only_open_beside_a_writer_that_flushes_and_compacts_succeeds(tmp_path: Path) -> None:
    writer = EmbeddedStore(tmp_path / "store")
    stop = threading.Event()

    def write() -> None:
        # each update is flushed: new files, and compactions that delete old ones; a bounded number, so
        # that the store (whose every file a read-only open lists) stays small however fast the machine
        for i in range(300):
            if stop.is_set():
                return
            writer.update(f"INSERT DATA {{ <http://test.example/s{i}> <http://test.example/p> {i} }}")
            time.sleep(0.002)

    thread = threading.Thread(target=write)
    thread.start()
    generations: list[int] = []
    try:
        while thread.is_alive() and len(generations) < 150:
            generations.append(EmbeddedStore(tmp_path / "store", read_only=True).generation)
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert len(generations) >= 10  # opened many times while the writer wrote
    assert generations == sorted(generations) and generations[-1] > 0


# -- a running server sees writes from other processes ----------------------------------------------
def test_the_server_sees_imports_links_findings_and_rebuilds_without_a_restart(
        tmp_path: Path, seed_store: GraphStore, settings: Settings, seeds: Path) -> None:
    links = Iris(settings.base_iri).links_graph
    path = disk_store(seed_store, tmp_path / "store", without=(links,))
    store = str(path)
    with serving(path) as client:
        g0, (n,) = ask(client, CONTRACTS)
        assert n == "0"
        old_budget = ask(client, BUDGET)[1][0]

        finish(budgetkg("contracts", "import", str(ROOT / "examples/contracts/example_contracts.csv"),
                        "--store", store))
        g1, (n,) = ask(client, CONTRACTS)
        assert g1 > g0 and n == "12"

        has_links = f"ASK {{ GRAPH <{links.value}> {{ ?s ?p ?o }} }}"
        assert client.get("/sparql", params={"query": has_links}).json()["boolean"] is False
        finish(budgetkg("link", "--store", store))
        r = client.get("/sparql", params={"query": has_links})
        assert r.json()["boolean"] is True and int(r.headers[GENERATION_HEADER]) > g1

        assert ask(client, FINDINGS)[1] == ("0",)
        finish(budgetkg("validate", "--store", store, "--format", "json"))
        g3, (n,) = ask(client, FINDINGS)
        assert int(n) > 0
        # the findings graph is served by the other routes too, and the cached counts were recomputed
        assert client.get("/store", params={"graph": findings_graph(settings).value}).status_code == 200

        (seeds / REBUILT).write_text(raise_budgets((seeds / REBUILT).read_text(encoding="utf-8")), encoding="utf-8")
        finish(budgetkg("build", str(seeds / REBUILT), "--store", store, "--manifest", str(seeds / "manifest.toml"),
                        "--quiet", "--no-check"))
        g4, (budget, _) = ask(client, BUDGET)
        assert g4 > g3 and Decimal(budget) > Decimal(old_budget)
        health = client.get("/health").json()
        assert health["generation"] == g4 == read_generation(path)


def test_cached_answers_are_recomputed_for_a_new_generation(tmp_path: Path, seed_store: GraphStore) -> None:
    path = disk_store(seed_store, tmp_path / "store")
    with serving(path) as client:
        before = client.get("/dataset.nt")
        finish(budgetkg("contracts", "import", str(ROOT / "examples/contracts/example_contracts.csv"),
                        "--store", str(path)))
        after = client.get("/dataset.nt")
        assert int(after.headers[GENERATION_HEADER]) > int(before.headers[GENERATION_HEADER])
        assert after.text != before.text  # more triples, a new graph among the subsets


# -- monotonic reads --------------------------------------------------------------------------------
def test_reads_never_go_back_to_an_older_generation_during_a_rebuild(
        tmp_path: Path, seed_store: GraphStore, seeds: Path) -> None:
    path = disk_store(seed_store, tmp_path / "store")
    (seeds / REBUILT).write_text(raise_budgets((seeds / REBUILT).read_text(encoding="utf-8")), encoding="utf-8")
    with serving(path, workers=3) as client:
        first = ask(client, BUDGET)
        seen = [first]
        rebuild = budgetkg("build", str(seeds / REBUILT), "--store", str(path),
                           "--manifest", str(seeds / "manifest.toml"), "--quiet", "--no-check")
        while rebuild.poll() is None:
            seen.append(ask(client, BUDGET))
        finish(rebuild)
        seen.extend(ask(client, BUDGET) for _ in range(5))
    generations = [g for g, _ in seen]
    assert generations == sorted(generations), generations  # never back
    by_generation: dict[int, set[tuple[str, ...]]] = {}
    for g, answer in seen:
        by_generation.setdefault(g, set()).add(answer)
    assert all(len(answers) == 1 for answers in by_generation.values()), by_generation
    assert len(by_generation) >= 2 and by_generation[generations[0]] == {first[1]}
    assert Decimal(seen[-1][1][0]) > Decimal(first[1][0])  # the rebuilt document is served


# -- a worker killed while it answers ---------------------------------------------------------------
#: About a second or more of work per worker: long enough to be killed while it runs.
SLOW = PREFIX + "SELECT (COUNT(*) AS ?n) WHERE { VALUES ?k { 1 2 3 } ?a a bk:Project . ?d ?e ?f }"


def kill_busy_worker(client: TestClient, spared: set[int]) -> int:
    """SIGKILL the worker that is answering (not one of ``spared``) as soon as /health shows it busy."""
    while True:
        busy = set(client.get("/health").json()["busy"]) - spared
        if busy:
            pid = busy.pop()
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.01)


def test_a_request_on_a_killed_worker_is_retried_once_then_503_never_500(tmp_path: Path,
                                                                          seed_store: GraphStore) -> None:
    path = disk_store(seed_store, tmp_path / "store")
    with serving(path, workers=2, timeout=60) as client:
        outcome: dict[str, object] = {}

        def slow() -> None:
            r = client.post("/sparql", data={"query": SLOW}, headers=FRESH)
            outcome.update(status=r.status_code, text=r.text, retry_after=r.headers.get("Retry-After"))

        # killed once: answered by another worker
        thread = threading.Thread(target=slow)
        thread.start()
        killed = kill_busy_worker(client, set())
        thread.join(60)
        assert outcome["status"] == 200 and int(str(outcome["text"]).split('"value":"')[1].split('"')[0]) > 0
        assert client.get("/health").json()["retries"] == 1
        # killed twice: 503 with Retry-After
        thread = threading.Thread(target=slow)
        thread.start()
        first = kill_busy_worker(client, {killed})
        kill_busy_worker(client, {killed, first})
        thread.join(60)
        assert outcome["status"] == 503 and outcome["retry_after"] == "1", outcome
        assert client.get("/sparql", params={"query": CONTRACTS}).status_code == 200  # the pool is whole again


# -- the in-memory store (threads) ------------------------------------------------------------------
def test_in_memory_store_generation_follows_updates(settings: Settings, seed_store: GraphStore) -> None:
    store = EmbeddedStore(None)
    with store.transaction() as tx:
        for graph in seed_store.graphs():
            tx.replace(graph, list(seed_store.quads(graph)))
    token = "t0ken"
    with TestClient(create_app(replace(settings, update_token=token), store=store)) as client:
        before = client.get("/dataset.nt")
        g = int(before.headers[GENERATION_HEADER])
        r = client.post("/update", content=b"INSERT DATA { GRAPH <http://test.example/g> "
                                           b"{ <http://test.example/s> <http://test.example/p> 1 } }",
                        headers={"Content-Type": "application/sparql-update", "Authorization": f"Bearer {token}"})
        assert r.status_code == 204
        after = client.get("/dataset.nt")
        assert int(after.headers[GENERATION_HEADER]) == g + 1 == client.get("/health").json()["generation"]
        assert "http://test.example/g" in after.text and "http://test.example/g" not in before.text


def wait_for(check, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_no_worker_opens_mid_write_while_another_can_answer(tmp_path: Path, seed_store: GraphStore) -> None:
    """A worker opened while a writer writes could show part of the next generation, and answers from it and
    from the others would then alternate: replacements wait for the writer, unless no worker is left."""
    path = disk_store(seed_store, tmp_path / "store")
    marker = path / WRITING_FILE
    with serving(path, workers=2) as client:
        health = client.get("/health").json()
        first, second = health["pids"]
        label = health["label"]
        marker.write_text(f"{os.getpid()}\n", encoding="ascii")  # a live process is writing
        assert client.get("/health").json()["writing"] is True
        os.kill(first, signal.SIGKILL)
        for _ in range(6):  # answered by the worker that is left; the dead one is not replaced yet
            assert client.get("/sparql", params={"query": CONTRACTS}, headers=FRESH).status_code == 200
        time.sleep(1.0)
        health = client.get("/health").json()
        assert health["pids"] == [second] and health["label"] == label
        # the last one gone too: a worker must open mid-write, and is labelled so (older ones never answer after)
        os.kill(second, signal.SIGKILL)
        assert client.get("/sparql", params={"query": CONTRACTS}, headers=FRESH).status_code == 200
        health = client.get("/health").json()
        assert health["label"][0] == label[0] and health["label"][1] > label[1]
        # the writer done (it publishes a generation, and removes the marker): the pool is whole again
        marker.unlink()
        (path / GENERATION_FILE).write_text(f"{read_generation(path) + 1}\n", encoding="ascii")
        assert client.get("/sparql", params={"query": CONTRACTS}, headers=FRESH).status_code == 200
        assert wait_for(lambda: len(client.get("/health").json()["pids"]) == 2)
        assert client.get("/health").json()["label"] == [read_generation(path), 0]
