"""Regressions of the hostile-request findings: one test per class, each fast.

- the query workers' sandbox: no connection (to a listener on 127.0.0.1) and no file read
  (/etc/hostname) from inside a real worker process, even for a SERVICE nothing else stopped;
- SERVICE and LOAD spellings that got past the old tokenizer (PN_CHARS such as U+203F and U+00B7 in
  a prefixed name, ``\\u`` escapes, a prefixed name in LOAD, SERVICE inside an update);
- requests of thousands of terms, patterns, paths or UNIONs: 400 before they reach a worker;
- typed parameters (NaN, Infinity, 1e999999, %FF) and look-ups of agencies that do not exist;
- content negotiation (``text/*``, ``q=0``, ``Accept-Encoding``);
- ``budgetkg query`` fetches nothing without ``--allow-service``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from budgetkg.cli import app as cli
from kg.errors import QueryError
from kg.settings import Settings
from kg.store import GraphStore
from server import safety
from server.jobs import QueryJob
from server.sandbox import ProbeJob
from server.workers import ProcessPool
from tests.helpers import Trap, running_server, write_disk_store

TOKEN = "security-t0ken"
CHEAP = "ASK { ?s ?p ?o }"


@pytest.fixture(scope="module")
def disk_store(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore) -> Path:
    return write_disk_store(seed_store, tmp_path_factory.mktemp("security") / "store")


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.close()


@pytest.fixture(scope="module")
def server(disk_store: Path) -> Iterator[str]:
    with running_server(disk_store, BUDGETKG_QUERY_TIMEOUT="2", BUDGETKG_UPDATE_TOKEN=TOKEN) as url:
        yield url


@pytest.fixture()
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c
        r = c.get("/sparql", params={"query": CHEAP})  # the server keeps answering
        assert r.status_code == 200 and r.json()["boolean"] is True


# -- the sandbox ---------------------------------------------------------------------------------
def test_a_worker_can_neither_connect_nor_read_files_outside_the_store(disk_store: Path, trap: Trap) -> None:
    async def run() -> tuple[dict, object, dict]:
        pool = ProcessPool(Settings(store=str(disk_store)), size=1)
        await pool.start()
        try:
            probe, _ = await pool.run(ProbeJob(port=trap.port), 10)  # (answer, generation)
            # a SERVICE that no check stops (verify=False): Oxigraph's own HTTP client tries, and fails
            service = QueryJob(f"SELECT * WHERE {{ SERVICE <http://127.0.0.1:{trap.port}/sparql> {{ ?s ?p ?o }} }}",
                               verify=False)
            try:
                outcome: object = (await pool.run(service, 10))[0]
            except QueryError as exc:
                outcome = exc
            answer, _ = await pool.run(QueryJob(CHEAP), 10)  # the store itself is still readable
            # and the parser check runs inside the sandbox (rdflib imported there, deep brackets)
            mentions = "SELECT * WHERE " + "{ ?s ?p 'download' " * 150 + "}" * 150
            checked, _ = await pool.run(QueryJob(mentions), 10)
            return probe, outcome, {"body": answer.body + checked.body}
        finally:
            await pool.close()

    probe, outcome, cheap = asyncio.run(run())
    time.sleep(0.3)
    assert probe["connect"] not in ("connected", "ECONNREFUSED"), probe
    assert probe["read"] != "read", probe
    assert probe["confined"] is True and probe["network"] == "namespace" and probe["files"] == "landlock", probe
    assert isinstance(outcome, QueryError), outcome
    assert b"true" in cheap["body"]
    assert trap.hits == []


def test_health_reports_the_sandbox(client: httpx.Client) -> None:
    sandbox = client.get("/health").json()["sandbox"]
    assert sandbox["confined"] is True and sandbox["warnings"] == [], sandbox


# -- SERVICE and LOAD ----------------------------------------------------------------------------
def bypasses(port: int) -> list[tuple[str, str]]:
    """(endpoint, text) spellings that once reached Oxigraph's HTTP client."""
    t = f"http://127.0.0.1:{port}/"
    return [
        ("/sparql", f"PREFIX ex: <http://h.example/> SELECT * {{ ?s ex:a\u203f\\' SERVICE <{t}> {{ }} #' }}"),
        ("/sparql", f"PREFIX ex: <http://h.example/> SELECT * {{ ?s ex:a\u00b7\\' ?o SERVICE <{t}> {{ }} #' }}"),
        ("/sparql", f"PREFIX x\u203fy: <{t}> SELECT * {{ SERVICE x\u203fy:a {{ ?s ?p ?o }} }}"),
        ("/sparql", f"SELECT * {{ SERVIC\\u0045 <{t}> {{ ?s ?p ?o }} }}"),
        ("/sparql", f"SELECT * {{ ?s ?p ?o }} #\\u000A SERVICE <{t}> {{ }}"),
        ("/sparql", f"SELECT * {{ ?s ?p '\\u0027 SERVICE <{t}> {{ }} #' }}"),
        ("/update", f"\\u004cOAD <{t}>"),
        ("/update", "\\u004cOAD <file:///etc/hostname> INTO GRAPH <http://x/g>"),
        ("/update", "PREFIX f: <file:///etc/> LOAD f:hostname"),
        ("/update", f"PREFIX f: <{t}> LOAD f:x"),
        ("/update", f"INSERT {{ GRAPH <http://x/g> {{ ?s ?p ?o }} }} WHERE {{ SERVICE <{t}> {{ ?s ?p ?o }} }}"),
        ("/update", f"INSERT {{ GRAPH <http://x/g> {{ ?s ?p ?o }} }} WHERE {{ SERVIC\\u0045 <{t}> {{ ?s ?p ?o }} }}"),
    ]


def test_service_and_load_spellings_that_once_got_through_are_refused(client: httpx.Client, trap: Trap) -> None:
    for path, text in bypasses(trap.port):
        ctype = "application/sparql-query" if path == "/sparql" else "application/sparql-update"
        r = client.post(path, content=text.encode(), headers={"Content-Type": ctype,
                                                              "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code in (400, 403), (text, r.status_code, r.text[:200])
    time.sleep(0.3)
    assert trap.hits == []


@pytest.mark.parametrize("text", [
    "SELECT * WHERE { ?s ?p 'a SERVICE <http://x/> { } in a literal' }",
    "SELECT * WHERE { ?s <http://x/download> ?o }",
    "PREFIX e: <http://x/> SELECT * WHERE { ?s e:load ?o }",
])
def test_service_and_load_as_text_are_not_keywords(text: str) -> None:
    safety.check(text, ())
    safety.verify(text, ())


def test_the_two_readers_must_agree() -> None:
    # rdflib reads no SERVICE here, the tokeniser does (a keyword prefix it cannot resolve): refused
    with pytest.raises(safety.RefusedOperation):
        safety.verify("SELECT * WHERE { SERVICEex:a { } }", ())
    # allowed targets pass only when both readers find the same ones
    safety.verify("PREFIX e: <http://h.example/> SELECT * { SERVICE e:a { ?s ?p ?o } }", ("h.example",))
    with pytest.raises(safety.RefusedOperation, match="cannot read"):
        safety.verify("SELECT * { SERVICE <http://h.example/> { ?s ?p ?o } } LATERAL", ("h.example",))


# -- size limits ---------------------------------------------------------------------------------
HUGE = {
    "patterns": "SELECT * WHERE { " + " ".join(f"?s{i} <http://x/p> ?o{i} ." for i in range(8000)) + " }",
    "unions": "SELECT * WHERE { " + "{ ?s ?p ?o } UNION " * 20000 + "{ ?s ?p ?o } }",
    "path": "SELECT * WHERE { ?s " + "/".join(["<http://x/p>"] * 10000) + " ?o }",
    "expression": "SELECT (" + "+".join(["1"] * 10000) + " AS ?x) WHERE {}",
    "triple terms": "SELECT * WHERE { " + "<< " * 300 + "<http://x/s> <http://x/p> <http://x/o>" + " >>" * 300 + " }",
}


@pytest.mark.parametrize("name", list(HUGE))
def test_queries_of_thousands_of_terms_are_400_before_a_worker_sees_them(client: httpx.Client, name: str) -> None:
    before = client.get("/health").json()["restarts"]
    r = client.post("/sparql", content=HUGE[name].encode(), headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 400 and "BUDGETKG_MAX_QUERY_" in r.text, (r.status_code, r.text[:200])
    assert client.get("/health").json()["restarts"] == before


def test_a_16_kb_update_with_the_token_is_400_not_a_dead_writer(client: httpx.Client) -> None:
    # 8 000 operands of one sum: Oxigraph's parser recursed once per operator and overflowed the stack
    update = "INSERT { <http://x/s> <http://x/p> ?x } WHERE { BIND(" + "+".join(["1"] * 8000) + " AS ?x) }"
    assert 15_000 < len(update) < 17_000
    r = client.post("/update", content=update.encode(), headers={"Content-Type": "application/sparql-update",
                                                                 "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400 and "BUDGETKG_MAX_QUERY_TERMS" in r.text, r.text[:200]


def test_large_values_blocks_are_data_not_terms() -> None:
    values = " ".join(f'"v{i}"' for i in range(50_000))
    shape = safety.check(f"SELECT ?x WHERE {{ VALUES ?x {{ {values} }} }}", ())
    assert shape.terms < 20
    data = " ".join(f"<http://x/s{i}> <http://x/p> {i} ." for i in range(20_000))
    assert safety.check(f"INSERT DATA {{ GRAPH <http://x/g> {{ {data} }} }}", ()).terms < 20


@pytest.mark.parametrize("path", ["/resource?iri=http%3A%2F%2Fx%2F%22", "/resource?iri=http://x/%27%22%3E",
                                  "/resource?iri=%22http://x/%22", "/dataset.html?x=" + "%22" * 2000,
                                  "/dataset?x=%FF"])
def test_odd_urls_are_answered_and_never_500(client: httpx.Client, path: str) -> None:
    r = client.get(path, headers={"Accept": "text/html"})
    assert r.status_code < 500, (path, r.status_code, r.text[:200])


# -- parameters ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-Infinity", "INF", "1e999999", "1E5", "0x10",
                                   "1_0", "\u0661\u0662", " 1", "1" * 50])
def test_decimals_that_are_not_xsd_decimals_are_400_naming_the_parameter(client: httpx.Client, value: str) -> None:
    r = client.get("/queries/agencies_by_shared_goals", params={"min_score": value})
    assert r.status_code == 400 and "min_score" in r.text, (value, r.status_code, r.text[:200])


def test_malformed_percent_encoding_is_400_naming_the_parameter(client: httpx.Client) -> None:
    for path, name in (("/queries/projects_of_agency?code=%FF", "code"), ("/sparql?query=ASK%20%7B%7D%FF", "query"),
                       ("/resource?iri=http://x/%C3%28", "iri")):
        r = client.get(path)
        assert r.status_code == 400 and name in r.text, (path, r.status_code, r.text[:200])


def test_an_agency_that_does_not_exist_answers_at_once(client: httpx.Client) -> None:
    for params in ({"agency": "999999"}, {"agency": "junk'\"<>"}):
        # "no such agency": the parameter is looked up before the query over every agency runs
        r = client.get("/queries/agencies_by_shared_goals", params=params)
        assert r.status_code == 404 and "no such agency" in r.text, (r.status_code, r.text[:200])
    r = client.get("/queries/projects_of_agency", params={"code": "325"})
    assert r.status_code == 200


# -- content negotiation -------------------------------------------------------------------------
@pytest.mark.parametrize("accept, expected", [
    ("text/*", "text/csv"),
    ("application/sparql-results+json;q=0, */*;q=0.1", "application/sparql-results+xml"),
    ("application/json;q=0, */*;q=0.1", "application/sparql-results+xml"),
    ("text/*;q=0.5, text/tab-separated-values", "text/tab-separated-values"),
    ("*/*", "application/sparql-results+json"),
])
def test_accept_wildcards_and_q0(client: httpx.Client, accept: str, expected: str) -> None:
    r = client.get("/sparql", params={"query": "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1"}, headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith(expected), (accept, r.headers)
    r = client.get("/sparql", params={"query": "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 1"}, headers={"Accept": "text/*"})
    assert r.headers["content-type"].startswith("text/turtle")


def test_all_formats_refused_is_406(client: httpx.Client) -> None:
    r = client.get("/sparql", params={"query": CHEAP}, headers={"Accept": "*/*;q=0"})
    assert r.status_code == 406


@pytest.mark.parametrize("encoding, gzipped", [("gzip", True), ("gzip;q=0", False), ("identity", False),
                                               ("*;q=0, identity", False), ("br, *", True)])
def test_accept_encoding_q0_means_no_gzip(client: httpx.Client, encoding: str, gzipped: bool) -> None:
    r = client.get("/api/graph", headers={"Accept-Encoding": encoding})
    assert r.status_code == 200
    assert (r.headers.get("content-encoding") == "gzip") is gzipped, (encoding, r.headers)
    assert r.json()  # decoded (by httpx when gzipped), whole


# -- the embedded command line -------------------------------------------------------------------
def test_budgetkg_query_fetches_nothing_without_allow_service(disk_store: Path, trap: Trap) -> None:
    runner = CliRunner()
    for text in (f"SELECT * WHERE {{ SERVICE <http://127.0.0.1:{trap.port}/> {{ ?s ?p ?o }} }}",
                 f"SELECT * WHERE {{ SERVIC\\u0045 <http://127.0.0.1:{trap.port}/> {{ ?s ?p ?o }} }}"):
        result = runner.invoke(cli, ["query", text, "--store", str(disk_store)])
        assert result.exit_code == 2 and "--allow-service" in result.output, result.output
    time.sleep(0.3)
    assert trap.hits == []
    result = runner.invoke(cli, ["query", "budget_by_agency", "--store", str(disk_store), "--format", "csv"])
    assert result.exit_code == 0, result.output


def test_an_unconfined_process_says_so() -> None:
    # what /health shows where the kernel refused the sandbox, or where queries run in the server process
    probe = ProbeJob(path=__file__).run(object())
    assert probe["confined"] is False and probe["warnings"] and probe["read"] == "read", probe
    assert probe["connect"] == "ECONNREFUSED"  # port 9 on loopback: reachable, nothing listening
