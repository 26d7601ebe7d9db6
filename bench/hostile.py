"""The long hostile-request run: about 3 400 probes against ``budgetkg serve`` on 127.0.0.1.

Every probe class of the hostile-request findings, in many spellings: SERVICE and LOAD to loopback,
private, metadata and file: targets (with the PN_CHARS, ``\\u``-escape, prefixed-name and
inside-an-update spellings that once got through), queries and updates of thousands of terms,
patterns, paths and UNIONs, typed parameters that are not numbers or not UTF-8, agencies that do
not exist, odd entity and dataset URLs, and content negotiation. The run is made twice: against a
server with an update token (updates sent with it and without), and against one without.

A listener on 127.0.0.1 records every connection made to it while the run lasts; it must record
none. A probe passes when its status is one the class allows (never a 500; a 503 only with
``Retry-After``), and after every class a cheap query must still be answered.

    .venv/bin/python -m bench.hostile            # writes bench/results/hostile.md, exits 1 on any failure
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "hostile.md"
TOKEN = "hostile-bench-t0ken"
CHEAP = "ASK { ?s ?p ?o }"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"


@dataclass(frozen=True)
class Probe:
    cls: str
    method: str
    path: str
    allowed: tuple[int, ...]
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    check: Callable[[httpx.Response], bool] | None = None


def targets(port: int) -> list[str]:
    loop = [f"http://127.0.0.1:{port}/sparql", f"http://localhost:{port}/", f"http://[::1]:{port}/",
            f"http://2130706433:{port}/", f"http://0x7f.1:{port}/", f"http://127.1:{port}/", f"http://0:{port}/",
            f"https://127.0.0.1:{port}/", f"http://user@127.0.0.1:{port}/"]
    # named only in requests that must be refused; nothing here ever connects to them
    private = ["http://10.0.0.1/sparql", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
               "http://metadata.google.internal/computeMetadata/v1/", "http://[fd00::1]/", "gopher://127.0.0.1/"]
    return loop + private


FILES = ["file:///etc/hostname", "file:///etc/passwd", "file://localhost/etc/hostname", "FILE:///etc/passwd",
         "file:etc/passwd"]

SERVICE = [
    "SELECT * WHERE {{ SERVICE <{t}> {{ ?s ?p ?o }} }}",
    "select * {{ service silent <{t}> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ SERVICE<{t}>{{?s ?p ?o}} }}",
    "SELECT * WHERE {{ SERVICESILENT<{t}> {{ ?s ?p ?o }} }}",
    "PREFIX x: <{t}> SELECT * WHERE {{ SERVICE x: {{ ?s ?p ?o }} }}",
    "PREFIX x: <{t}> SELECT * WHERE {{ SERVICE x:a\u203fb {{ ?s ?p ?o }} }}",
    "PREFIX x\u00b7y: <{t}> SELECT * WHERE {{ SERVICE x\u00b7y:a {{ ?s ?p ?o }} }}",
    "PREFIX ex: <http://h.example/> SELECT * {{ ?s ex:a\u203f\\' SERVICE <{t}> {{ }} #' }}",
    "PREFIX ex: <http://h.example/> SELECT * {{ ?s ex:a\u00b7\\' ?o SERVICE <{t}> {{ }} #' }}",
    "SELECT * WHERE {{ SERVIC\\u0045 <{t}> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ \\u0053ERVICE <{t}> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ ?s ?p ?o }} #\\u000A SERVICE <{t}> {{ }}",
    "SELECT * WHERE {{ ?s ?p '\\u0027 SERVICE <{t}> {{ }} #' }}",
    "BASE <{t}> SELECT * WHERE {{ SERVICE <> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ VALUES ?e {{ <{t}> }} SERVICE ?e {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ ?a ?b ?c OPTIONAL {{ SERVICE <{t}> {{ ?s ?p ?o }} }} }}",
    "ASK {{ FILTER EXISTS {{ SERVICE <{t}> {{ ?s ?p ?o }} }} }}",
    "CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{t}> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ {{ SELECT * WHERE {{ SERVICE <{t}> {{ ?s ?p ?o }} }} }} }}",
    "SELECT * WHERE {{ ?s ?p ?o }} #\\U0000000A SERVICE <{t}> {{ }}",
]
LOAD = ["LOAD <{t}>", "LOAD SILENT <{t}> INTO GRAPH <http://x/g>", "load<{t}>", "PREFIX f: <{t}> LOAD f:",
        "\\u004cOAD <{t}>", "LOA\\u0044 SILENT <{t}>", "PREFIX f: <{t}> LOAD f:x\u203fy",
        "INSERT DATA {{ <http://x/s> <http://x/p> 1 }} ; LOAD <{t}>"]
UPDATE_SERVICE = [
    "INSERT {{ GRAPH <http://x/g> {{ ?s ?p ?o }} }} WHERE {{ SERVICE <{t}> {{ ?s ?p ?o }} }}",
    "DELETE {{ ?s ?p ?o }} WHERE {{ SERVIC\\u0045 <{t}> {{ ?s ?p ?o }} }}",
    "PREFIX x: <{t}> INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE x:a {{ ?s ?p ?o }} }}",
    "WITH <http://x/g> INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE SILENT <{t}> {{ ?s ?p ?o }} }}",
]

SIZES = (6000, 8000, 12000, 20000)
HUGE: dict[str, Callable[[int], str]] = {
    "patterns": lambda n: "SELECT * WHERE { " + " ".join(f"?s{i} <http://x/p> ?o{i} ." for i in range(n)) + " }",
    "unions": lambda n: "SELECT * WHERE { " + "{ ?s ?p ?o } UNION " * n + "{ ?s ?p ?o } }",
    "sequence path": lambda n: "SELECT * WHERE { ?s " + "/".join(["<http://x/p>"] * n) + " ?o }",
    "alternative path": lambda n: "SELECT * WHERE { ?s " + "|".join(["<http://x/p>"] * n) + " ?o }",
    "sum": lambda n: "SELECT (" + "+".join(["1"] * n) + " AS ?x) WHERE {}",
    "conjunction": lambda n: "SELECT * WHERE { ?s ?p ?o FILTER(" + " && ".join(["true"] * n) + ") }",
    "filters": lambda n: "SELECT * WHERE { ?s ?p ?o " + " ".join(f"FILTER(?o != {i})" for i in range(n)) + " }",
    "binds": lambda n: "SELECT * WHERE { " + " ".join(f"BIND({i} AS ?b{i})" for i in range(n)) + " }",
    "optionals": lambda n: "SELECT * WHERE { ?s ?p ?o " + " ".join(
        f"OPTIONAL {{ ?s <http://x/p{i}> ?o{i} }}" for i in range(n)) + " }",
    "object list": lambda n: "SELECT * WHERE { ?s <http://x/p> " + ", ".join(f"?o{i}" for i in range(n)) + " }",
    "nested groups": lambda n: "SELECT * WHERE " + "{" * n + " ?s ?p ?o " + "}" * n,
    "nested brackets": lambda n: "SELECT (" + "(" * n + "1" + ")" * n + " AS ?x) WHERE {}",
    "triple terms": lambda n: "SELECT * WHERE { " + "<< " * (n // 20) + "<http://x/s> <http://x/p> <http://x/o>"
                              + " >>" * (n // 20) + " }",
}
UPDATE_HUGE: dict[str, Callable[[int], str]] = {
    "delete where": lambda n: "DELETE WHERE { " + " ".join(f"?s{i} <http://x/p> ?o{i} ." for i in range(n)) + " }",
    "sum in update": lambda n: "INSERT { <http://x/s> <http://x/p> ?x } WHERE { BIND(" + "+".join(["1"] * n)
                               + " AS ?x) }",
    "unions in update": lambda n: "INSERT { ?s ?p ?o } WHERE { " + "{ ?s ?p ?o } UNION " * n + "{ ?s ?p ?o } }",
}

BAD_DECIMALS = ["NaN", "nan", "-NaN", "Infinity", "-Infinity", "+Infinity", "INF", "-INF", "inf", "1e999999",
                "1E5", "-1e-999999", "0x10", "1_0", "\u0661\u0662", " 1", "1 ", "1" * 60, "", "1.2.3", "--1",
                "\u00bd"]
BAD_UTF8 = ["%FF", "%C3%28", "%ED%A0%80", "%F8%88%80%80%80", "%C0%AF", "%80", "a%FFb"]
JUNK_AGENCIES = ["999999", "000", "9", "junk", "'\"<>", "341101 OR 1=1", "\u4e2d\u592e", "%25", "0" * 50]
ODD_URLS = [
    "/resource?iri=http%3A%2F%2Fx%2F%22", "/resource?iri=http://x/%27%22%3E", "/resource?iri=%22http://x/%22",
    "/resource?iri=http://x/%2522", "/resource?iri=urn:x%22y", "/resource?iri=http://x/%5C", "/resource?iri=%FF",
    "/resource?iri=http://x/%00", "/resource?iri=", "/resource", "/agency/%22", "/agency/%27", "/agency/%FF%FE",
    "/agency/a%20b", "/agency/%3E", "/dataset.html?x=" + "%22" * 2000, "/dataset.html?x=" + "a" * 5000,
    "/dataset?x=%FF", "/dataset.ttl?x=%00", "/.well-known/void?%FF=1", "/queries/%FF", "/queries/..%2F..%2Fetc",
    "/store?graph=%00", "/store?graph=file:///etc/passwd", "/dumps/..%2F..%2Fetc%2Fpasswd", "/static/..%2F..%2Fkg",
]
ACCEPTS = [
    ("text/*", "text/csv"), ("text/*;q=0.5, text/tab-separated-values", "text/tab-separated-values"),
    ("application/sparql-results+json;q=0, */*;q=0.1", "application/sparql-results+xml"),
    ("application/json;q=0, */*;q=0.1", "application/sparql-results+xml"),
    ("*/*", "application/sparql-results+json"), ("*", "application/sparql-results+json"),
    ("text/csv;q=0, text/*", "text/tab-separated-values"), ("application/*", "application/sparql-results+json"),
    ("application/*;q=0.2, text/csv;q=0.1", "application/sparql-results+json"),
    ("text/xml", "application/sparql-results+xml"), ("application/xml;q=0, text/*", "text/csv"),
]
#: Queries that mention the words but call nothing: they must be answered (no over-refusal).
BENIGN = [
    "SELECT * WHERE {{ ?s ?p 'SERVICE <{t}> {{ }}' }} LIMIT 1",
    "SELECT * WHERE {{ ?s ?p \"\"\"LOAD <{t}>\"\"\" }} LIMIT 1",
    "SELECT * WHERE {{ ?s <http://x/download> ?o }} LIMIT 1",
    "PREFIX e: <http://x/> SELECT * WHERE {{ ?s e:load ?o }} LIMIT 1",
    "SELECT * WHERE {{ ?s ?p ?o }} LIMIT 1 # SERVICE <{t}> {{ }}",
    "SELECT (COUNT(*) AS ?n) WHERE {{ ?s ?p ?o FILTER(CONTAINS(STR(?o), 'service')) }}",
    "ASK {{ ?s ?p 'workload' }}",
    "SELECT * WHERE " + "{{ ?s ?p 'download' " * 120 + "}}" * 120,
]
ENCODINGS = [("gzip", True), ("gzip;q=0", False), ("identity", False), ("*;q=0, identity", False), ("br, *", True),
             ("*", True), ("GZIP;Q=0.5", True), ("gzip;q=0.0", False), ("x-gzip", True), ("deflate", False),
             ("*, gzip;q=0", False), ("", False)]


def probes(port: int, token: bool) -> Iterator[Probe]:
    refused = (400, 403)
    for t in targets(port):
        for spelling in SERVICE:
            q = spelling.format(t=t)
            yield Probe("SERVICE", "GET", "/sparql", refused, params=(("query", q),))
            yield Probe("SERVICE", "POST", "/sparql", refused, q.encode(), (("Content-Type", SPARQL_QUERY),))
            yield Probe("SERVICE", "POST", "/sparql", refused, httpx.QueryParams({"query": q}).__str__().encode(),
                        (("Content-Type", "application/x-www-form-urlencoded"),))
    auths: list[tuple[tuple[str, str], ...]] = [(("Authorization", f"Bearer {TOKEN}"),), ()]
    for t in [*targets(port), *FILES]:
        for spelling in [*LOAD, *UPDATE_SERVICE]:
            u = spelling.format(t=t)
            for auth in auths:
                codes = (400, 403) if token and auth else (401, 403)
                yield Probe("LOAD / SERVICE in update", "POST", "/update", codes, u.encode(),
                            (("Content-Type", SPARQL_UPDATE), *auth))
    for make in HUGE.values():
        for n in SIZES:
            text = make(n).encode()
            yield Probe("size", "POST", "/sparql", (400, 413), text, (("Content-Type", SPARQL_QUERY),))
            yield Probe("size", "POST", "/update", (400, 413) if token else (403,), text,
                        (("Content-Type", SPARQL_UPDATE), *auths[0]))
    for make in UPDATE_HUGE.values():
        for n in SIZES:
            for auth in auths:
                codes = (400, 413) if token and auth else (401, 403)
                yield Probe("size", "POST", "/update", codes, make(n).encode(),
                            (("Content-Type", SPARQL_UPDATE), *auth))
    decimal_params = [("agencies_by_shared_goals", "min_score"), ("projects_by_threshold", "min_value"),
                      ("shared_goals_across_agencies", "min_score"), ("shared_vendors", "min_score")]
    for query, param in decimal_params:
        for v in BAD_DECIMALS:
            yield Probe("parameters", "GET", f"/queries/{query}", (400,), params=((param, v),),
                        check=lambda r, p=param: p in r.text)
        for v in BAD_UTF8:
            yield Probe("parameters", "GET", f"/queries/{query}?{param}={v}", (400,),
                        check=lambda r, p=param: p in r.text)
    agency_params = [("agencies_by_shared_goals", "agency"), ("projects_by_threshold", "agency"),
                     ("shared_goals_across_agencies", "agency"), ("shared_vendors", "agency"),
                     ("projects_of_agency", "code"), ("budget_by_agency", "department"),
                     ("funding_mix_by_department", "department")]
    for query, param in agency_params:
        for v in JUNK_AGENCIES:
            yield Probe("agency look-up", "GET", f"/queries/{query}", (404,), params=((param, v),),
                        check=lambda r: "no such agency" in r.text)
        for v in BAD_UTF8:
            yield Probe("parameters", "GET", f"/queries/{query}?{param}={v}", (400,),
                        check=lambda r, p=param: p in r.text)
    for spelling in BENIGN:
        q = spelling.format(t=targets(port)[0])
        yield Probe("mentions, no call", "GET", "/sparql", (200,), params=(("query", q),))
        yield Probe("mentions, no call", "POST", "/sparql", (200,), q.encode(), (("Content-Type", SPARQL_QUERY),))
    for url in ODD_URLS:
        for accept in ("text/html", "text/turtle", "*/*"):
            yield Probe("odd URLs", "GET", url, tuple(range(200, 500)), headers=(("Accept", accept),))
    select = "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1"
    for accept, expected in ACCEPTS:
        for method in ("GET", "POST"):
            body = select.encode() if method == "POST" else None
            yield Probe("negotiation", method, "/sparql", (200,), body,
                        (("Accept", accept), *((("Content-Type", SPARQL_QUERY),) if body else ())),
                        params=() if body else (("query", select),),
                        check=lambda r, e=expected: r.headers.get("content-type", "").startswith(e))
    for encoding, gz in ENCODINGS:
        yield Probe("negotiation", "GET", "/api/graph", (200,), headers=(("Accept-Encoding", encoding),),
                    check=lambda r, g=gz: (r.headers.get("content-encoding") == "gzip") is g)
    yield Probe("negotiation", "GET", "/sparql", (406,), headers=(("Accept", "*/*;q=0"),), params=(("query", CHEAP),))


def send(client: httpx.Client, p: Probe) -> httpx.Response:
    return client.request(p.method, p.path, content=p.body, headers=dict(p.headers), params=p.params or None)


def run_against(url: str, port: int, token: bool, tally: Counter, failures: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        last_cls = None
        for p in probes(port, token):
            if p.cls != last_cls and last_cls is not None:
                alive = client.get("/sparql", params={"query": CHEAP})
                if alive.status_code != 200:
                    failures.append(f"after {last_cls}: a cheap query answered {alive.status_code}")
            last_cls = p.cls
            try:
                r = send(client, p)
            except httpx.HTTPError as exc:
                tally[(p.cls, "failed")] += 1
                failures.append(f"{p.cls}: {p.method} {p.path[:80]}: {exc!r}")
                continue
            ok = r.status_code in p.allowed and (p.check is None or p.check(r))
            if r.status_code == 503 and r.headers.get("retry-after"):
                ok = ok or p.cls == "size"
            if r.status_code >= 500 and r.status_code != 503:
                ok = False
            tally[(p.cls, "passed" if ok else "failed")] += 1
            tally[("status", r.status_code)] += 1
            if not ok:
                failures.append(f"{p.cls}: {p.method} {p.path[:80]} {p.body[:100] if p.body else p.params!r:.100}"
                                f" -> {r.status_code} {r.text[:120]!r}")
        alive = client.get("/sparql", params={"query": CHEAP})
        if alive.status_code != 200:
            failures.append(f"at the end: a cheap query answered {alive.status_code}")
        health = client.get("/health").json()
        tally[("restarts", token)] = health.get("restarts", 0)
        tally[("confined", token)] = int(bool(health.get("sandbox", {}).get("confined")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from kg.pipeline import build
    from kg.settings import Settings
    from kg.sources import load_manifest
    from kg.store import EmbeddedStore
    from tests.helpers import Trap, running_server, write_disk_store

    started = time.perf_counter()
    trap = Trap()
    tally: Counter = Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings()
        manifest = load_manifest(settings.manifest)
        mem = EmbeddedStore(None)
        build(mem, manifest.entries, settings, manifest=manifest)
        store = write_disk_store(mem, Path(tmp) / "store")
        for token in (True, False):
            env = {"BUDGETKG_QUERY_TIMEOUT": "2", **({"BUDGETKG_UPDATE_TOKEN": TOKEN} if token else {})}
            with running_server(store, **env) as url:
                run_against(url, trap.port, token, tally, failures)
    time.sleep(0.5)
    trap.close()
    elapsed = time.perf_counter() - started
    classes = sorted({c for c, k in tally if k in ("passed", "failed")})
    passed = sum(tally[(c, "passed")] for c in classes)
    failed = sum(tally[(c, "failed")] for c in classes)
    lines = ["# Hostile-request run (`python -m bench.hostile`)", "",
             f"{passed + failed} probes in {elapsed:.0f} s against `budgetkg serve` on 127.0.0.1 (2 workers, 2 s "
             "limit), once with an update token and once without; a listener on 127.0.0.1 recorded every "
             "connection.", "", "| class | passed | failed |", "|---|---|---|"]
    lines += [f"| {c} | {tally[(c, 'passed')]} | {tally[(c, 'failed')]} |" for c in classes]
    lines += [f"| **all** | **{passed}** | **{failed}** |", "",
              f"Listener hits: **{len(trap.hits)}**. Statuses: "
              + ", ".join(f"{k[1]}: {v}" for k, v in sorted(tally.items(), key=lambda kv: str(kv[0]))
                          if k[0] == "status") + ".",
              f"Worker restarts: {tally[('restarts', True)]} (with token), {tally[('restarts', False)]} (without). "
              f"Sandbox confined: {bool(tally[('confined', True)])} / {bool(tally[('confined', False)])}.", ""]
    if failures:
        lines += ["## Failures", ""] + [f"- {f}" for f in failures[:100]] + [""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 1 if failures or trap.hits else 0


if __name__ == "__main__":
    raise SystemExit(main())
