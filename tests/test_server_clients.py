"""The real server (``budgetkg serve``: uvicorn, worker processes, an on-disk store) on 127.0.0.1,
driven by real clients: SPARQLWrapper, rdflib's SPARQLStore/SPARQLUpdateStore, and httpx.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import rdflib
from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore
from SPARQLWrapper import CSV, JSON, JSONLD, N3, POST, POSTDIRECTLY, RDFXML, TSV, TURTLE, XML, SPARQLWrapper

from kg.store import GraphStore

from .helpers import running_server, write_disk_store

BASE = "https://budgetkg.example.org/id/"
PREFIXES = ("PREFIX bk: <https://budgetkg.example.org/def/>\n"
            "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n")
UNITS = PREFIXES + "SELECT ?u ?name WHERE { ?u a bk:BudgetUnit ; rdfs:label ?name } ORDER BY ?u"
TOKEN = "t0ken-for-tests"

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore) -> Iterator[str]:
    store = write_disk_store(seed_store, tmp_path_factory.mktemp("served") / "store")
    with running_server(store, BUDGETKG_QUERY_TIMEOUT="2", BUDGETKG_UPDATE_TOKEN=TOKEN) as url:
        yield url


def wrapper(server: str, fmt: str, query: str, method: str | None = None) -> SPARQLWrapper:
    sw = SPARQLWrapper(server + "/sparql", returnFormat=fmt)
    sw.setQuery(query)
    if method == POSTDIRECTLY:
        sw.setMethod(POST)
        sw.setRequestMethod(POSTDIRECTLY)
    elif method == POST:
        sw.setMethod(POST)
    return sw


# -- SPARQLWrapper ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", [None, POST, POSTDIRECTLY])
def test_sparqlwrapper_select_as_json_and_xml(server: str, method: str | None) -> None:
    rows = wrapper(server, JSON, UNITS, method).queryAndConvert()["results"]["bindings"]
    assert len(rows) == 18 and rows[0]["u"]["value"] == BASE + "agency/325205"
    doc = wrapper(server, XML, UNITS, method).queryAndConvert()
    assert len(doc.getElementsByTagName("result")) == 18


def test_sparqlwrapper_select_as_csv_and_tsv(server: str) -> None:
    csv_text = wrapper(server, CSV, UNITS).queryAndConvert().decode("utf-8")
    assert csv_text.splitlines()[0] == "u,name" and len(csv_text.splitlines()) == 19
    tsv_text = wrapper(server, TSV, UNITS).queryAndConvert().decode("utf-8")
    assert tsv_text.splitlines()[0] == "?u\t?name" and len(tsv_text.splitlines()) == 19


def test_sparqlwrapper_ask(server: str) -> None:
    assert wrapper(server, JSON, PREFIXES + "ASK { ?p a bk:Project }").queryAndConvert()["boolean"] is True
    doc = wrapper(server, XML, PREFIXES + "ASK { ?p a bk:NoSuchClass }").queryAndConvert()
    assert doc.getElementsByTagName("boolean")[0].firstChild.data == "false"


@pytest.mark.parametrize("fmt", [TURTLE, JSONLD, RDFXML, N3])
def test_sparqlwrapper_construct_in_each_rdf_format(server: str, fmt: str) -> None:
    agency = BASE + "agency/341101"
    g = wrapper(server, fmt, f"DESCRIBE <{agency}>").queryAndConvert()
    if isinstance(g, bytes):  # SPARQLWrapper hands Turtle and N3 over unparsed
        g = rdflib.Graph().parse(data=g.decode("utf-8"), format="turtle")
    assert g.value(rdflib.URIRef(agency), rdflib.RDFS.label) == rdflib.Literal("天津市公安局警务保障部财务管理处",
                                                                              lang="zh")


# -- rdflib SPARQLStore ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["xml", "json", "csv", "tsv"])
def test_rdflib_sparqlstore_select(server: str, fmt: str) -> None:
    g = rdflib.Graph(store=SPARQLStore(server + "/sparql", returnFormat=fmt))
    rows = list(g.query(UNITS))
    assert len(rows) == 18 and str(rows[0][0]) == BASE + "agency/325205"


def test_rdflib_sparqlstore_construct_and_graph_dataset(server: str) -> None:
    store = SPARQLStore(server + "/sparql")
    g = rdflib.Graph(store=store)
    result = g.query(PREFIXES + "CONSTRUCT { ?u a bk:BudgetUnit } WHERE { ?u a bk:BudgetUnit }")
    assert len(result.graph) == 18
    # a graph named by its IRI: SPARQLStore sends default-graph-uri, the server answers from that graph only
    agencies = rdflib.Graph(store=store, identifier=rdflib.URIRef(BASE + "graph/agencies"))
    n = int(next(iter(agencies.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")))[0])
    everything = int(next(iter(g.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")))[0])
    assert 0 < n < everything


def test_rdflib_update_store_with_the_bearer_token(server: str) -> None:
    graph = "http://test.example/updates"
    bad = SPARQLUpdateStore(server + "/sparql", server + "/update", headers={"Authorization": "Bearer wrong"})
    with pytest.raises(Exception, match="403"):
        bad.update(f'INSERT DATA {{ GRAPH <{graph}> {{ <http://test.example/x> <http://test.example/p> "1" }} }}')
    good = SPARQLUpdateStore(server + "/sparql", server + "/update", headers={"Authorization": f"Bearer {TOKEN}"})
    good.update(f'INSERT DATA {{ GRAPH <{graph}> {{ <http://test.example/x> <http://test.example/p> "1" }} }}')
    # every worker was replaced after the update, so every worker sees it
    for _ in range(4):
        r = httpx.get(server + "/sparql", params={"query": f"ASK {{ GRAPH <{graph}> {{ ?s ?p \"1\" }} }}"})
        assert r.json()["boolean"] is True


# -- httpx: negotiation and errors -----------------------------------------------------------
def test_negotiation_and_errors_over_http(server: str) -> None:
    with httpx.Client(base_url=server) as c:
        r = c.get("/sparql", params={"query": UNITS}, headers={"Accept": "text/csv;q=0.5, text/tab-separated-values"})
        assert r.headers["content-type"].startswith("text/tab-separated-values")
        r = c.get("/sparql", params={"query": UNITS}, headers={"Accept": "image/png"})
        assert r.status_code == 406
        r = c.get("/sparql", params={"query": "SELECT ?x WHERE { ?x }"})
        assert r.status_code == 400 and "syntax error" in r.text
        big = b"ASK {} #" + b"x" * 1_100_000
        r = c.post("/sparql", content=big, headers={"Content-Type": "application/sparql-query"})
        assert r.status_code == 413
        r = c.post("/sparql", content=b"ASK {}", headers={"Content-Type": "application/json"})
        assert r.status_code == 415
        r = c.get("/agency/341101", headers={"Accept": "application/n-triples"})
        assert r.headers["content-type"].startswith("application/n-triples") and "341101" in r.text
        r = c.get("/agency/341101.jsonld")
        assert r.headers["content-type"].startswith("application/ld+json")
        r = c.get("/agency/341101", headers={"Accept": "text/html"})
        assert "天津市公安局警务保障部财务管理处" in r.text and f'href="{server}/agency/341"' in r.text
        r = c.get("/queries/projects_of_agency", params={"code": "325220", "format": "csv"})
        assert r.headers["content-type"].startswith("text/csv") and len(r.text.splitlines()) == 4
        assert c.get("/queries").json()[0]["url"].startswith(server + "/queries/")
        assert c.post("/update", content=b"CLEAR ALL", headers={"Content-Type": "application/sparql-update"}
                      ).status_code == 401


def test_service_and_load_never_reach_the_network(server: str) -> None:
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(5)
        trap.settimeout(0.5)
        target = f"http://127.0.0.1:{trap.getsockname()[1]}/sparql"
        query = f"SELECT * WHERE {{ service silent <{target}> {{ ?s ?p ?o }} }}"
        r = httpx.get(server + "/sparql", params={"query": query})
        assert r.status_code == 403
        r = httpx.post(server + "/update", content=f"LOAD <{target}>".encode(),
                       headers={"Content-Type": "application/sparql-update", "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 403
        with pytest.raises(TimeoutError):
            trap.accept()


# -- the time limit --------------------------------------------------------------------------
def test_a_runaway_query_is_killed_while_other_requests_are_answered(server: str) -> None:
    before = httpx.get(server + "/health").json()
    runaway = PREFIXES + "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # hours of work
    outcome: dict[str, object] = {}

    def run() -> None:
        r = httpx.post(server + "/sparql", data={"query": runaway}, timeout=30)
        outcome.update(status=r.status_code, text=r.text)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)
    quick = []
    while thread.is_alive():
        quick.append(httpx.get(server + "/queries/special_bond_funding", timeout=10).status_code)
        time.sleep(0.2)
    thread.join()
    # stopped at its limit (the message names it), not before and not by the client
    assert outcome["status"] == 503 and "stopped after 2 s" in str(outcome["text"])
    # answered while the runaway ran, one after another: it held up none of them
    assert len(quick) >= 3 and all(code == 200 for code in quick), quick
    after = httpx.get(server + "/health").json()
    assert after["timeouts"] == before["timeouts"] + 1 and after["restarts"] >= before["restarts"] + 1
    killed = set(before["pids"]) - set(after["pids"])
    assert len(killed) == 1
    pid = killed.pop()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"worker {pid} still exists after the time-out")
    # the replacement worker answers
    assert httpx.get(server + "/queries/funding_sources").status_code == 200


def test_workers_over_the_memory_limit_are_replaced(tmp_path: Path, seed_store: GraphStore) -> None:
    store = write_disk_store(seed_store, tmp_path / "store")
    with running_server(store, BUDGETKG_WORKER_MAX_RSS_MB="1") as url:  # every worker is over 1 MB
        first = httpx.get(url + "/health").json()
        # computed each time (no-cache), not answered from the result cache: every one is a job
        answers = [httpx.get(url + "/queries/funding_sources", headers={"Cache-Control": "no-cache"}, timeout=30)
                   for _ in range(6)]
        assert all(r.status_code == 200 and r.json()["results"]["bindings"] for r in answers)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            after = httpx.get(url + "/health").json()
            if len(after["pids"]) == first["workers"]:
                break
            time.sleep(0.2)
        assert after["recycled"] >= 6  # one per job
        assert set(first["pids"]) - set(after["pids"])  # the workers that answered are gone
        assert len(after["pids"]) == first["workers"]  # the pool is back to full strength


def test_a_query_over_the_worker_memory_limit_is_a_503_naming_it_and_the_server_answers_the_next(
        tmp_path: Path, seed_store: GraphStore) -> None:
    """ORDER BY over a cross product of all triples needs gigabytes: under a 1,536 MB address-space limit
    (``BUDGETKG_WORKER_MEMORY_MB``, see server/limits.py) the worker fails fast instead of growing."""
    store = write_disk_store(seed_store, tmp_path / "store")
    hungry = "SELECT ?a ?b WHERE { ?a ?p ?x . ?b ?q ?y } ORDER BY ?x ?y LIMIT 1"
    # (1,536 MB: a worker's address space at rest, with its sandbox, parsers and numpy, varies from run to run;
    # under 768 or 1,024 MB its start-up failed now and then)
    with running_server(store, BUDGETKG_WORKER_MEMORY_MB="1536", BUDGETKG_QUERY_TIMEOUT="30") as url:
        r = httpx.post(url + "/sparql", data={"query": hungry}, timeout=60)
        assert r.status_code == 503, r.text
        assert "BUDGETKG_WORKER_MEMORY_MB = 1536 MB" in r.text
        after = httpx.post(url + "/sparql", data={"query": UNITS},
                           headers={"Accept": "application/sparql-results+json"}, timeout=60)
        assert after.status_code == 200 and after.json()["results"]["bindings"]
