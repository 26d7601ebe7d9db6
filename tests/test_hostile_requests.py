"""Hostile requests against the real server (``budgetkg serve`` on 127.0.0.1, worker processes).

Each case asserts what a client of the public endpoint relies on: the right 4xx (never a 500), no
outbound connection (a listening socket on loopback records any), no file read, time limits that
hold, and a server that keeps answering a cheap query afterwards. Private and metadata addresses
(10.0.0.1, 169.254.169.254 …) are only ever named in requests that must be refused before anything
runs; the test never connects to them itself.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from kg.store import GraphStore
from tests.helpers import Trap, running_server, write_disk_store

TOKEN = "hostile-t0ken"
CHEAP = "ASK { ?s ?p ?o }"
SPARQL_UPDATE = {"Content-Type": "application/sparql-update"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore) -> Iterator[str]:
    store = write_disk_store(seed_store, tmp_path_factory.mktemp("hostile") / "store")
    with running_server(store, BUDGETKG_QUERY_TIMEOUT="2", BUDGETKG_UPDATE_TOKEN=TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.close()


@pytest.fixture()
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c
        # after every hostile request the server still answers a cheap query
        r = c.get("/sparql", params={"query": CHEAP})
        assert r.status_code == 200 and r.json()["boolean"] is True


def assert_refused(r: httpx.Response, *codes: int) -> None:
    assert r.status_code in codes, (r.status_code, r.text[:300])
    assert r.status_code < 500 or r.status_code == 503


# -- SERVICE and LOAD --------------------------------------------------------------------------
def service_targets(port: int) -> list[str]:
    loop = [f"http://127.0.0.1:{port}/sparql", f"http://localhost:{port}/", f"http://[::1]:{port}/",
            f"http://2130706433:{port}/", f"http://0x7f.1:{port}/", f"http://127.1:{port}/", f"http://0:{port}/",
            f"https://127.0.0.1:{port}/", f"http://user@127.0.0.1:{port}/"]
    private = ["http://10.0.0.1/sparql", "http://192.168.1.1/", "http://172.16.0.1/",
               "http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
               "http://[fd00::1]/", "http://[::ffff:169.254.169.254]/", "gopher://127.0.0.1/"]
    return loop + private


SERVICE_SPELLINGS = [
    "SELECT * WHERE {{ SERVICE <{t}> {{ ?s ?p ?o }} }}",
    "select * {{ service silent <{t}> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ SERVICE<{t}>{{?s ?p ?o}} }}",
    "SELECT * WHERE {{ SERVICESILENT<{t}> {{ ?s ?p ?o }} }}",
    "PREFIX x: <{t}> SELECT * WHERE {{ SERVICE x: {{ ?s ?p ?o }} }}",
    "BASE <{t}> SELECT * WHERE {{ SERVICE <> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ # comment }}\n SERVICE <{t}> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ VALUES ?e {{ <{t}> }} SERVICE ?e {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ ?a ?b ?c OPTIONAL {{ SERVICE <{t}> {{ ?s ?p ?o }} }} }}",
    "ASK {{ SERVICE <{t}> {{ ?s ?p ?o }} }}",
    "CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{t}> {{ ?s ?p ?o }} }}",
]


def test_service_to_loopback_private_and_metadata_addresses_is_refused(client: httpx.Client, trap: Trap) -> None:
    cases = 0
    for target in service_targets(trap.port):
        for spelling in SERVICE_SPELLINGS:
            query = spelling.format(t=target)
            for method in ("get", "post"):
                if method == "get":
                    r = client.get("/sparql", params={"query": query})
                else:
                    r = client.post("/sparql", content=query.encode(),
                                    headers={"Content-Type": "application/sparql-query"})
                assert_refused(r, 403, 400)
                # refused by reading the request (server.safety), before any worker runs it: nothing that
                # tried the address and failed (a time-out, a connection error) is reported as a refusal
                assert r.status_code == 400 or "refused" in r.text, (query, r.text[:300])
                cases += 1
    time.sleep(0.3)
    assert trap.hits == [], trap.hits
    assert cases >= 300


def test_service_inside_an_update_is_refused(client: httpx.Client, trap: Trap) -> None:
    for target in service_targets(trap.port):
        text = f"INSERT {{ GRAPH <http://x/g> {{ ?s ?p ?o }} }} WHERE {{ SERVICE <{target}> {{ ?s ?p ?o }} }}"
        r = client.post("/update", content=text.encode(),
                        headers={**SPARQL_UPDATE, "Authorization": f"Bearer {TOKEN}"})
        assert_refused(r, 403)
    assert trap.hits == []


def test_load_of_http_and_file_urls_is_refused_and_nothing_is_read(client: httpx.Client, trap: Trap,
                                                                    tmp_path: Path) -> None:
    canary = tmp_path / "canary.ttl"
    canary.write_text("<http://canary.example/s> <http://canary.example/p> \"read\" .\n", encoding="utf-8")
    targets = [*service_targets(trap.port), canary.as_uri(), "file:///etc/passwd", f"file://localhost{canary}",
               "file:" + str(canary), "FILE:///etc/passwd"]
    for target in targets:
        for text in (f"LOAD <{target}>", f"LOAD SILENT <{target}> INTO GRAPH <http://x/g>",
                     f"load<{target}>", f"PREFIX f: <{target}> LOAD f:"):
            for auth in ({"Authorization": f"Bearer {TOKEN}"}, {}):
                r = client.post("/update", content=text.encode(), headers={**SPARQL_UPDATE, **auth})
                assert_refused(r, 403, 401)
            r = client.post("/update", data={"update": text}, headers={"Authorization": f"Bearer {TOKEN}"})
            assert_refused(r, 403)
    time.sleep(0.3)
    assert trap.hits == []
    r = client.get("/sparql", params={"query": "ASK { ?s <http://canary.example/p> ?o }"})
    assert r.json()["boolean"] is False


# -- updates without or with a wrong token -------------------------------------------------------
@pytest.mark.parametrize("auth, code", [
    (None, 401), ("Bearer", 401), ("Basic " + "dXNlcjpwYXNz", 401), (f"Token {TOKEN}", 401),
    ("Bearer wrong", 403), (f"Bearer {TOKEN}x", 403), (f"Bearer {TOKEN[:-1]}", 403), ("Bearer " + "x" * 10_000, 403),
    ("Bearer ünïcode", 403),
])
def test_updates_without_or_with_a_wrong_token_are_refused(client: httpx.Client, auth: str | None,
                                                          code: int) -> None:
    headers = dict(SPARQL_UPDATE)
    if auth is not None:
        headers["Authorization"] = auth
    r = client.post("/update", content=b"CLEAR ALL", headers={k: v.encode() for k, v in headers.items()})
    assert r.status_code == code, r.text
    assert client.get("/sparql", params={"query": "ASK { ?p a <https://budgetkg.example.org/def/Project> }"}
                      ).json()["boolean"] is True


# -- sizes ---------------------------------------------------------------------------------------
def test_ten_megabyte_bodies_are_413(client: httpx.Client) -> None:
    big = b"ASK {} #" + b"x" * 10_000_000
    for path, ctype in (("/sparql", "application/sparql-query"), ("/sparql", "application/x-www-form-urlencoded"),
                        ("/update", "application/sparql-update")):
        r = client.post(path, content=big, headers={"Content-Type": ctype, "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 413, (path, r.status_code)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b"ASK {} #"
        for _ in range(100):
            yield b"x" * 100_000

    r = client.post("/sparql", content=chunks(), headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 413
    host, port = client.base_url.host, client.base_url.port
    with socket.create_connection((host, port), timeout=10) as raw:  # a lying Content-Length: refused unread
        raw.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
                    b"Content-Length: 10000000000\r\n\r\nASK {}")
        assert raw.recv(200).startswith(b"HTTP/1.1 413")


def test_a_huge_values_block_answers_or_is_refused_by_size(client: httpx.Client) -> None:
    values = " ".join(f'"v{i}"' for i in range(100_000))  # ~0.9 MB, under the 1 MB limit
    r = client.post("/sparql", content=f"SELECT (COUNT(*) AS ?n) WHERE {{ VALUES ?x {{ {values} }} }}".encode(),
                    headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 200 and r.json()["results"]["bindings"][0]["n"]["value"] == "100000"
    r = client.post("/sparql", content=f"SELECT ?x WHERE {{ VALUES ?x {{ {values} }} }}".encode(),
                    headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 200 and r.headers["X-Truncated"] == "true" and r.headers["X-Result-Rows"] == "10000"
    values = " ".join(f"({i} {i})" for i in range(200_000))
    r = client.post("/sparql", content=f"SELECT * WHERE {{ VALUES (?x ?y) {{ {values} }} }}".encode(),
                    headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 413


# -- expensive queries: the time limit holds, and cheap queries go on being answered --------------
NESTED = 10_000
EXPENSIVE = {
    "cross product": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }",
    "property path": "SELECT (COUNT(*) AS ?n) WHERE { ?a (<http://x/p>|!<http://x/q>)* ?b . ?c ?d ?e . ?f ?g ?h }",
    "regex": 'SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f '
             'FILTER(REGEX(CONCAT(STR(?c), STR(?f)), "(.*a){20}")) }',
    "nested groups": "SELECT * WHERE " + "{" * NESTED + " ?s ?p ?o " + "}" * NESTED,
    "nested optionals": "SELECT * WHERE { ?s ?p ?o " + "OPTIONAL { ?s ?p ?o " * 2000 + "}" * 2000 + " }",
    "nested expressions": "SELECT (" + "(" * NESTED + "1" + ")" * NESTED + " AS ?x) WHERE {}",
    "nested subqueries": "SELECT * WHERE { " + "{ SELECT * WHERE " * 500 + "{ ?s ?p ?o }" + " }" * 500 + " }",
    "exponential strings": "SELECT (STRLEN(?s) AS ?n) WHERE { BIND(\"xxxxxxxxxxxxxxxx\" AS ?s0) "
                           + " ".join(f"BIND(CONCAT(?s{i}, ?s{i}) AS ?s{i + 1})" for i in range(40))
                           + " BIND(?s40 AS ?s) }",
    "nested unions": "SELECT * WHERE { " + "{ ?s ?p ?o } UNION " * 3000 + "{ ?s ?p ?o } }",
}


@pytest.mark.parametrize("name", list(EXPENSIVE))
def test_expensive_and_deeply_nested_queries_hit_a_limit_and_others_still_answer(server: str, client: httpx.Client,
                                                                                  name: str) -> None:
    cheap: list[int] = []
    done = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=server, timeout=10) as c:
            while not cheap or not done.is_set():
                cheap.append(c.get("/sparql", params={"query": CHEAP}).status_code)
                time.sleep(0.1)

    before = client.get("/health").json()
    t = threading.Thread(target=ask)
    t.start()
    try:
        r = client.post("/sparql", content=EXPENSIVE[name].encode(),
                        headers={"Content-Type": "application/sparql-query"})
    finally:
        done.set()
        t.join()
    assert r.status_code in (200, 400, 408, 413, 503), (r.status_code, r.text[:300])
    health = client.get("/health").json()
    if "stopped after" in r.text:  # the time limit (2 s here) stopped it and its worker was counted and replaced
        assert "stopped after 2 s" in r.text and health["timeouts"] > before["timeouts"], (r.text[:300], health)
    assert cheap and all(code == 200 for code in cheap), cheap
    assert health["ok"] is True


# -- malformed input -----------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"ASK { ?s ?p \"\xff\" }", b"\xc3\x28", b"ASK {} #\xed\xa0\x80", b"\x00\x00",
                                  b"\xef\xbb\xbfASK {}"])
def test_malformed_utf8_is_400(client: httpx.Client, body: bytes) -> None:
    r = client.post("/sparql", content=body, headers={"Content-Type": "application/sparql-query"})
    if body.startswith(b"\xef\xbb\xbf"):
        assert r.status_code in (200, 400)
    else:
        assert r.status_code == 400, r.text
    r = client.post("/sparql", content=b"query=" + body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (200, 400)
    r = client.post("/update", content=body, headers={**SPARQL_UPDATE, "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400 or (body.startswith(b"\xef\xbb\xbf") and r.status_code < 500)


def test_malformed_percent_encoding_in_urls(client: httpx.Client) -> None:
    for raw in ("/sparql?query=ASK%20%7B%7D%FF", "/sparql?query=%", "/sparql?query=%ZZ",
                "/queries/budget_by_agency?%FF=1",
                "/store?graph=%00", "/queries/%FF"):
        r = client.get(raw)
        assert 200 <= r.status_code < 500, (raw, r.status_code, r.text[:200])


@pytest.mark.parametrize("params", [{"default-graph-uri": "not an iri"}, {"named-graph-uri": "%FF"},
                                    {"default-graph-uri": "http://x/\ufffd>"}, {"named-graph-uri": ""}])
def test_invalid_graph_iris_are_400_not_a_worker_failure(client: httpx.Client, params: dict[str, str]) -> None:
    # regression: a graph name pyoxigraph rejects raised ValueError in the worker, answered 500
    r = client.get("/sparql", params={"query": "ASK { ?s ?p ?o }", **params})
    assert r.status_code == 400, r.text
    r = client.get("/store", params={"graph": next(iter(params.values()))})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("query", [EXPENSIVE["nested groups"], EXPENSIVE["nested expressions"],
                                   "SELECT * WHERE { ?s ?p " + "[ ?p " * 5000 + "?o" + " ]" * 5000 + " }"])
def test_deeply_nested_queries_are_400_not_a_dead_worker(client: httpx.Client, query: str) -> None:
    # regression: thousands of nested brackets overflowed the parser's stack and killed the worker (500)
    before = client.get("/health").json()
    for path, ctype in (("/sparql", "application/sparql-query"), ("/update", "application/sparql-update")):
        r = client.post(path, content=query.encode(),
                        headers={"Content-Type": ctype, "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 400 and "nests brackets" in r.text, r.text[:200]
    assert client.get("/health").json()["restarts"] == before["restarts"]


@pytest.mark.parametrize("path", ["/agency/%FF%FE", "/agency/a%20b", "/agency/%3E", "/resource?iri=%FF"])
def test_entity_paths_that_are_not_iris_are_4xx_not_a_worker_failure(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert 400 <= r.status_code < 500, (path, r.status_code)


# -- header injection ----------------------------------------------------------------------------
INJECTIONS = ["325220\r\nX-Injected: 1", "325220\nX-Injected: 1", "325220\rX-Injected: 1",
              "325220%0d%0aX-Injected:%201", "\r\n\r\n<html>x</html>", "325220\u2028X-Injected: 1",
              "325220\u0085X-Injected: 1"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_header_injection_through_named_query_parameters(client: httpx.Client, value: str) -> None:
    for params in ({"code": value}, {"code": "325220", "format": value}, {value: "1"}):
        for fmt in (None, "csv", "html", "json"):
            p = dict(params)
            if fmt and "format" not in p:
                p["format"] = fmt
            r = client.get("/queries/projects_of_agency", params=p)
            assert r.status_code in (200, 400, 404, 406), (p, r.status_code)
            assert "x-injected" not in {k.lower() for k in r.headers}
            assert all("\n" not in v and "\r" not in v for v in r.headers.values())
    for path, params in (("/resource", {"iri": "http://x/" + value}), (f"/queries/{quote(value)}", None)):
        r = client.get(path, params=params)
        assert r.status_code < 500 and "x-injected" not in {k.lower() for k in r.headers}
        assert all("\n" not in v and "\r" not in v for v in r.headers.values())
