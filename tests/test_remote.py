"""The remote store (kg.store.remote) against a real ``oxigraph serve`` started on 127.0.0.1.

Everything is compared with the embedded store built from the same seeds: stats, named-query
results, validation findings, links. A rebuild replaces a document graph with one Graph Store
Protocol PUT, and the budgetkg server in remote mode answers /sparql and a named query.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pyoxigraph import NamedNode, QuerySolutions, Triple

from kg import queries as named_queries
from kg.errors import StoreError
from kg.iris import Iris
from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest
from kg.stats import compute
from kg.store import EmbeddedStore, GraphStore, RemoteStore, open_store, with_values

from .helpers import HOST, free_port


@pytest.fixture(scope="module")
def remote(oxigraph_url: str, settings: Settings, manifest: Manifest) -> Iterator[RemoteStore]:
    store = open_store(oxigraph_url)
    assert isinstance(store, RemoteStore)
    build(store, manifest.entries, settings, manifest=manifest)
    yield store
    store.close()


def rows(result: object) -> list[tuple[str | None, ...]]:
    assert isinstance(result, QuerySolutions)
    names = [v.value for v in result.variables]
    return sorted(tuple(str(s[n]) if s[n] is not None else None for n in names) for s in result)


def test_open_store_picks_the_backend(oxigraph_url: str, tmp_path: Path) -> None:
    assert type(open_store(tmp_path / "s")) is EmbeddedStore
    explicit = Settings(store="ignored", query_url=f"{oxigraph_url}/query", update_url=f"{oxigraph_url}/update",
                        gsp_url=f"{oxigraph_url}/store")
    store = open_store(explicit, read_only=True)
    assert isinstance(store, RemoteStore) and not store.oxigraph
    store.close()
    env = {"BUDGETKG_QUERY_URL": "http://h/q", "BUDGETKG_UPDATE_URL": "http://h/u", "BUDGETKG_GSP_URL": "http://h/g"}
    s = Settings.from_env(env=env)
    assert (s.query_url, s.update_url, s.gsp_url) == ("http://h/q", "http://h/u", "http://h/g")


def test_an_unreachable_server_is_a_store_error_naming_the_url() -> None:
    url = f"http://{HOST}:{free_port()}"
    with pytest.raises(StoreError, match=f"{url}/query"):
        open_store(url, read_only=True)


def test_stats_are_the_embedded_stores(remote: RemoteStore, seed_store: GraphStore) -> None:
    assert compute(remote).as_dict() == compute(seed_store).as_dict()
    assert [g.value for g in remote.graphs()] == [g.value for g in seed_store.graphs()]


def test_named_queries_give_the_embedded_stores_results(remote: RemoteStore, seed_store: GraphStore,
                                                       settings: Settings) -> None:
    qs = named_queries.load_all(settings.queries_dir)
    for name in ("budget_by_agency", "projects_of_agency", "funding_sources", "indicators_of_project",
                 "special_bond_funding", "projects_by_category"):
        assert rows(qs[name].run(remote)) == rows(qs[name].run(seed_store)), name
    text = "SELECT ?name WHERE { ?p a <https://budgetkg.example.org/def/Project> ; rdfs:label ?name }"
    prologue = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    assert rows(remote.query(prologue + text)) == rows(seed_store.query(prologue + text))


def test_dumps_are_the_same_up_to_blank_node_labels(remote: RemoteStore, seed_store: GraphStore) -> None:
    # a server labels the blank nodes it is sent (only the ontology has any); everything else is byte-identical
    def canon(data: bytes) -> list[bytes]:
        return sorted(re.sub(rb"_:[A-Za-z0-9]+", b"_:b", line) for line in data.splitlines())

    there, here = remote.dump_sorted_nquads(), seed_store.dump_sorted_nquads()
    assert canon(there) == canon(here)
    assert [x for x in there.splitlines() if b"_:" not in x] == [x for x in here.splitlines() if b"_:" not in x]


def test_a_graph_larger_than_a_request_is_read_in_pages(remote: RemoteStore, oxigraph_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``read_chunk`` triples a graph is read by predicate, a large predicate by ranges of its subjects' MD5
    (blank nodes in a page of their own): the same quads, blank nodes as the server names them, as one request."""
    paged = RemoteStore.for_oxigraph(oxigraph_url, read_only=True, read_chunk=300)
    reads: list[int] = []
    read_triples = paged._http.read_triples

    def counted(graph: NamedNode, where: str | None = None) -> list[Triple]:
        found = read_triples(graph, where)
        reads.append(len(found))
        return found

    monkeypatch.setattr(paged._http, "read_triples", counted)
    try:
        for graph in remote.graphs():
            assert paged.dump_sorted_nquads(graph) == remote.dump_sorted_nquads(graph), graph
        assert len(reads) > 3 * len(remote.graphs()) and max(reads) < 2 * 300
        assert len(paged) == len(remote) == sum(1 for _ in remote.quads())
    finally:
        paged.close()


def test_a_graph_read_short_is_an_error_never_a_short_dump(remote: RemoteStore, oxigraph_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that answers fewer triples than the server counts (a write between the pages, a cut answer) fails
    the read, naming the graph, in one request or in pages."""
    graph = max(remote.graphs(), key=lambda g: sum(1 for _ in remote.quads(g)))
    for chunk in (None, 300):
        store = RemoteStore.for_oxigraph(oxigraph_url, read_only=True, read_chunk=chunk)
        monkeypatch.setattr(store._http, "read_triples", _second_read_short(store._http.read_triples))
        try:
            with pytest.raises(StoreError, match=re.escape(graph.value)):
                for _ in range(2):
                    list(store.quads(graph))
        finally:
            store.close()


def _second_read_short(read: Callable[[NamedNode, str | None], list[Triple]]
                       ) -> Callable[[NamedNode, str | None], list[Triple]]:
    """``read`` but for its second answer, which lacks a triple."""
    calls: list[int] = []

    def short(graph: NamedNode, where: str | None = None) -> list[Triple]:
        calls.append(1)
        found = read(graph, where)
        return found[:-1] if len(calls) == 2 else found

    return short


def test_validation_finds_what_the_embedded_store_finds(remote: RemoteStore, seed_store: GraphStore,
                                                        settings: Settings) -> None:
    from kg.audit import refresh_findings
    from kg.shapes import load_shapes, validate

    shapes = load_shapes(settings.shapes_dir)
    here, there = validate(seed_store, shapes), validate(remote, shapes)
    assert {f.key for f in there.findings} == {f.key for f in here.findings}
    assert there.counts() == here.counts()
    assert refresh_findings(remote, settings, report=there) > 0


def test_locating_findings_reads_in_bulk_whatever_their_number(remote: RemoteStore, seed_store: GraphStore,
                                                             settings: Settings,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Locating findings on a remote store reads their projects, rows and documents in a few bulk requests,
    at most four rounds of two for every finding of the seeds as for one: never a request per look-up (at
    10,000 tables the findings step sent over 20,000 in four minutes). Located as on the embedded store."""
    from kg.shapes import Dataset, load_shapes, validate
    from kg.shapes.locate import locate

    shapes = load_shapes(settings.shapes_dir)
    findings = validate(remote, shapes).findings
    assert len(findings) > 50 and len({f.project for f in findings}) > 20
    sent: list[str] = []
    query = remote._http.query

    def counted(sparql: str, form: list[tuple[str, str]], params: dict[str, str], name: str) -> object:
        sent.append(name)
        return query(sparql, form, params, name)

    monkeypatch.setattr(remote._http, "query", counted)
    per_count = {}
    for n in (1, 10, len(findings)):
        sent.clear()
        located = locate(Dataset(remote), findings[:n])
        assert located == findings[:n]
        assert set(sent) <= {"locating findings", "graphs"}, sent  # no look-up node by node
        per_count[n] = sent.count("locating findings")
    # a round of two requests (what the nodes state, what points at them) per step from a finding to its
    # project, row, target and document: at most four rounds, for one finding as for all of them
    assert per_count[1] <= per_count[len(findings)] <= 8, per_count
    assert validate(seed_store, shapes).findings == findings
    # past BULK_NODES nodes a round is sent in parts, and locates the same
    monkeypatch.setattr("kg.shapes.data.BULK_NODES", 7)
    sent.clear()
    assert locate(Dataset(remote), findings) == findings
    assert sent.count("locating findings") > 2 * per_count[len(findings)]


def test_linking_makes_the_embedded_stores_links(remote: RemoteStore, settings: Settings,
                                                 manifest: Manifest) -> None:
    links = pytest.importorskip("kg.links")
    local = EmbeddedStore(None)
    build(local, manifest.entries, settings, manifest=manifest)
    a, b = links.refresh_links(local, settings), links.refresh_links(remote, settings)
    assert (b.projects, b.shared_goal_links, b.lineage_links, b.quads) == \
        (a.projects, a.shared_goal_links, a.lineage_links, a.quads)
    graph = Iris(settings.base_iri).links_graph
    assert remote.dump_sorted_nquads(graph) == local.dump_sorted_nquads(graph)
    again = links.refresh_links(remote, settings)  # a second run changes nothing (the difference path)
    assert (again.quads_added, again.quads_removed) == (0, 0)


def test_a_rebuild_replaces_a_document_graph_in_one_put(remote: RemoteStore, settings: Settings,
                                                        manifest: Manifest, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = manifest.entries[0]
    graph = Iris(settings.base_iri).graph(entry.file)
    before = remote.dump_sorted_nquads(graph)
    sent: list[tuple[str, str, str]] = []
    client = remote._http.client  # the one HTTP client every request goes through
    real = client.request

    def spy(method: str, url: str, **kw: object) -> httpx.Response:
        params = kw.get("params") or {}
        sent.append((method, url, params.get("graph", "") if isinstance(params, dict) else ""))
        return real(method, url, **kw)

    monkeypatch.setattr(client, "request", spy)
    build(remote, [entry], settings, manifest=manifest, with_ontology=False)
    writes = [s for s in sent if s[0] in ("PUT", "POST", "DELETE") and not s[1].endswith("/query")]
    doc_writes = [s for s in writes if s[2] == graph.value]
    assert doc_writes == [("PUT", remote.gsp_url, graph.value)]
    assert not [s for s in writes if "staging" in s[2]]  # no staging graph on the server
    assert remote.dump_sorted_nquads(graph) == before
    assert not remote.hides_graphs()


def test_parameters_are_bound_as_terms_not_text() -> None:
    from pyoxigraph import Literal

    q = with_values("SELECT ?x WHERE { ?x ?p ?o }", {"o": Literal('a" } DROP ALL #')})
    assert 'VALUES (?o) { ("a\\" } DROP ALL #") }' in q


def test_the_server_in_remote_mode(remote: RemoteStore, oxigraph_url: str, settings: Settings,
                                   seed_store: GraphStore) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app

    served = replace(settings, store=oxigraph_url, max_rows=5)
    with TestClient(create_app(served, workers=1)) as c:
        r = c.get("/sparql", params={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?p a bk:Project }"},
                  headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 200, r.text
        assert r.json()["results"]["bindings"][0]["n"]["value"] == "138"
        r = c.get("/queries/budget_by_agency", headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 200, r.text
        assert len(r.json()["results"]["bindings"]) == 5  # the row cap applies to remote results too
        r = c.get("/sparql", params={"query": "SELECT * WHERE { SERVICE <http://example.org/> { ?s ?p ?o } }"})
        assert r.status_code in (400, 403), r.text
        r = c.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p"})
        assert r.status_code == 400, r.text
        graph = NamedNode(Iris(settings.base_iri).graph("004_5346273e88d8e34b.txt").value)
        r = c.get("/sparql", params={"query": f"ASK {{ GRAPH <{graph.value}> {{ ?s ?p ?o }} }}"},
                  headers={"Accept": "application/sparql-results+json"})
        assert r.json()["boolean"] is True


# -- one URL for any budgetkg or SPARQL server (budgetkg --store URL) ------------------------------


def _cli(*args: str, **env: str) -> tuple[int, bytes]:
    from typer.testing import CliRunner

    from budgetkg.cli import app

    result = CliRunner().invoke(app, list(args), env={"BUDGETKG_QUERY_URL": "", **env})
    return result.exit_code, result.stdout_bytes if result.exit_code == 0 else result.output.encode("utf-8")


@pytest.fixture(scope="module")
def seed_disk(seed_store: GraphStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .helpers import write_disk_store

    return write_disk_store(seed_store, tmp_path_factory.mktemp("served") / "store")


COMMANDS = (("stats", "--format", "json"), ("query", "budget_by_agency", "--format", "csv"),
            ("query", "projects_of_agency", "--format", "csv"), ("export",))


def test_one_url_reads_an_oxigraph_server(remote: RemoteStore, oxigraph_url: str) -> None:
    # the URL alone reads what the three URLs set by hand read
    explicit = {"BUDGETKG_QUERY_URL": f"{oxigraph_url}/query", "BUDGETKG_GSP_URL": f"{oxigraph_url}/store"}
    for command in COMMANDS:
        there, here = _cli(*command, "--store", oxigraph_url), _cli(*command, **explicit)
        assert there[0] == 0 and there == here, command
    assert open_store(oxigraph_url, read_only=True).oxigraph


def test_one_url_reads_a_budgetkg_server(seed_disk: Path) -> None:
    from .helpers import running_server

    with running_server(seed_disk) as url:
        for store in (url, f"{url}/", f"{url}/sparql"):
            for command in COMMANDS:
                there, here = _cli(*command, "--store", store), _cli(*command, "--store", str(seed_disk))
                assert there == here, (store, command)
            opened = open_store(store, read_only=True)
            assert isinstance(opened, RemoteStore)
            assert (opened.url, opened.gsp_url) == (f"{url}/sparql", f"{url}/store")
            opened.close()
        for store in (url, f"{url}/sparql"):
            code, output = _cli("build", "--quiet", "--store", store)
            assert code == 2 and f"{url}" in output.decode() and "a budgetkg server, read-only" in output.decode()
        with pytest.raises(StoreError, match="a budgetkg server, read-only"):
            open_store(url).update("INSERT DATA { <urn:x> <urn:y> <urn:z> }")


def test_a_request_answered_a_trickle_at_a_time_is_given_up_at_its_timeout() -> None:
    """httpx's timeouts bound each wait for a byte; a server that sends one byte at a time, never
    finishing, must still make the request fail (as a store error naming the URL), not hang."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(1)
    url = f"http://{HOST}:{listener.getsockname()[1]}/sparql"
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.wait(0.1):
                with contextlib.suppress(OSError):
                    conn.sendall(b"x")

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    try:
        with pytest.raises(StoreError, match=rf"query at {re.escape(url)} timed out: no complete answer within 1 s"):
            RemoteStore(url, read_only=True, timeout=1.0)
    finally:
        stop.set()
        server.join(5)
        listener.close()
