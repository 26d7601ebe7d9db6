"""budgetkg against a real Virtuoso (tests/conftest.py ``virtuoso``), the second SPARQL server it is tested on.

The bundled seeds are built into Virtuoso with ``budgetkg build --no-check`` (Graph Store Protocol PUTs
to ``/sparql-graph-crud-auth`` and SPARQL Update to ``/sparql-auth``, digest authentication as dba), and
into an embedded store by the same command; the findings graph is removed on either side and the store
counted again (validation is compared on its own, below). Then ``budgetkg stats``
and ``budgetkg export`` must give what the embedded store gives, counting none of Virtuoso's own graphs,
and the named queries are compared. The password is never in a log line, an error message or an
exception.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, parse
from typer.testing import CliRunner

from bench.synth import generate
from budgetkg.cli import app
from kg.errors import BudgetKGError, StoreError
from kg.iris import Iris
from kg.namespaces import ONTOLOGY_IRI
from kg.settings import Settings
from kg.shapes import Dataset, load_shapes
from kg.store import Credentials, EmbeddedStore, GraphStore, RemoteStore, credentials, open_store

from .helpers import Virtuoso, virtuoso_server

runner = CliRunner()

#: Virtuoso keeps no xsd:duration lexical form ("P1M" comes back as "1", "P7D" as "604800.0"): the only
#: quads an export from Virtuoso may differ in.
DURATION = "<http://www.w3.org/2001/XMLSchema#duration>"


def env_of(v: Virtuoso, **more: str) -> dict[str, str]:
    """The variables that point budgetkg at Virtuoso's authenticated endpoints as dba (digest)."""
    return {"BUDGETKG_QUERY_URL": v.sparql_auth, "BUDGETKG_UPDATE_URL": v.sparql_auth,
            "BUDGETKG_GSP_URL": v.gsp_auth, "BUDGETKG_STORE_AUTH": "digest", "BUDGETKG_STORE_USER": v.user,
            "BUDGETKG_STORE_PASSWORD": v.password, **more}


@pytest.fixture(scope="module")
def built(virtuoso: Virtuoso) -> Virtuoso:
    result = runner.invoke(app, ["build", "--quiet", "--no-check"], env=env_of(virtuoso))
    assert result.exit_code == 0, result.output
    return virtuoso


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded store the same command builds from the same seeds."""
    path = tmp_path_factory.mktemp("embedded") / "store"
    result = runner.invoke(app, ["build", "--quiet", "--no-check", "--store", str(path)],
                           env={"BUDGETKG_QUERY_URL": ""})
    assert result.exit_code == 0, result.output
    return path


def canonical(nquads: bytes) -> set[str]:
    """N-Quads lines as a set, blank nodes named by nothing (Virtuoso labels those it is sent; only the
    ontology has any)."""
    return {re.sub(r"_:[A-Za-z0-9]+", "_:b", line) for line in nquads.decode("utf-8").splitlines() if line}


def figures(stats: str) -> dict[str, object]:
    """``budgetkg stats --format json`` but for how it was counted: the embedded store reads its current
    summary, a remote store counts."""
    out = json.loads(stats)
    del out["counted"]
    return out


def test_stats_count_budgetkgs_graphs_only(built: Virtuoso, disk: Path) -> None:
    there = runner.invoke(app, ["stats", "--format", "json"], env=env_of(built))
    here = runner.invoke(app, ["stats", "--format", "json", "--store", str(disk)])
    assert there.exit_code == 0 and here.exit_code == 0, there.output + here.output
    assert json.loads(there.stdout)["counted"] == "counted" and json.loads(here.stdout)["counted"] == "summary"
    assert figures(there.stdout) == figures(here.stdout)
    assert json.loads(there.stdout)["projects"] == 138
    # Virtuoso's own graphs are there, and not counted
    every = "SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
    answer = httpx.get(built.sparql, params={"query": every}, headers={"Accept": "text/csv"})
    store = open_store(Settings.from_env(env=env_of(built)), read_only=True)
    assert int(answer.text.split()[-1]) > len(store.graphs()) == 11
    assert store.hides_graphs()
    store.close()


def test_the_anonymous_sparql_url_alone_reads_the_same(built: Virtuoso, disk: Path) -> None:
    there = runner.invoke(app, ["stats", "--format", "json", "--store", built.sparql], env={})
    assert there.exit_code == 0, there.output
    here = runner.invoke(app, ["stats", "--format", "json", "--store", str(disk)])
    assert figures(there.stdout) == figures(here.stdout)
    refused = runner.invoke(app, ["build", "--quiet", "--store", built.sparql])
    assert refused.exit_code != 0 and f"{built.sparql} is a SPARQL query endpoint, read-only" in refused.output


def test_more_graphs_than_an_answers_head_can_echo_are_all_read(virtuoso: Virtuoso) -> None:
    """Virtuoso echoes every protocol ``default-graph-uri`` and ``named-graph-uri`` as a response header (about
    190 bytes a graph): with 1,200 graphs named that way every answer's head was more than httpx reads ("Receive
    buffer too long"), as the 100,000-table store's 1,000 documents were. Another base keeps them out of the seeds'."""
    base = "http://many.example/"
    graphs = [f"{base}graph/document{i:04d}" for i in range(1200)]
    amount = f"<{base}amount>"
    with httpx.Client(auth=httpx.DigestAuth(virtuoso.user, virtuoso.password), timeout=60) as client:
        try:
            for i, g in enumerate(graphs):
                body = (f'<{base}project{i}> {amount} "{i}"^^<http://www.w3.org/2001/XMLSchema#decimal> .\n'
                        f'<{base}project{i}> <{base}line> "{i + 1}" .\n')
                r = client.put(virtuoso.gsp_auth, params={"graph": g}, content=body.encode(),
                               headers={"Content-Type": "application/n-triples"})
                assert r.status_code < 300, r.text
            with RemoteStore.at(virtuoso.sparql, base=base) as store:
                assert [g.value for g in store.graphs() if g.value.startswith(base)] == graphs
                total = next(iter(store.query(f"SELECT (COUNT(*) AS ?n) (SUM(?a) AS ?sum) WHERE {{ ?p {amount} ?a }}")))
                assert (int(total["n"].value), int(total["sum"].value)) == (1200, sum(range(1200)))
                per_graph = store.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
                seen = {s["g"].value: int(s["n"].value) for s in per_graph}
                # the seeds' ontology graph when they were built first; never one of Virtuoso's own
                assert {g: n for g, n in seen.items() if g != ONTOLOGY_IRI} == dict.fromkeys(graphs, 2)
        finally:
            mine = f'FILTER(STRSTARTS(STR(?g), "{base}"))'
            client.post(virtuoso.sparql_auth, data={
                "update": f"DELETE {{ GRAPH ?g {{ ?s ?p ?o }} }} WHERE {{ GRAPH ?g {{ ?s ?p ?o }} {mine} }}"})


def test_export_is_the_embedded_stores_but_for_durations(built: Virtuoso, disk: Path) -> None:
    there = runner.invoke(app, ["export"], env=env_of(built))
    here = runner.invoke(app, ["export", "--store", str(disk)])
    assert there.exit_code == 0 and here.exit_code == 0
    a, b = canonical(there.stdout_bytes), canonical(here.stdout_bytes)
    assert len(a) == len(b)
    assert a - b and all(DURATION in line for line in a - b) and all(DURATION in line for line in b - a), \
        sorted(line[:300] for line in (a ^ b) if DURATION not in line)[:6]
    assert len(a - b) == 10
    # xsd:positiveInteger (kept by Virtuoso) reads as Oxigraph's xsd:integer: no other datatype differs
    datatypes = {q.object.datatype.value for q in parse(there.stdout_bytes, format=RdfFormat.N_QUADS)
                 if isinstance(q.object, Literal)}
    assert not [d for d in datatypes if d.endswith("positiveInteger")]


def rows_of(text: str) -> list[tuple[object, ...]]:
    """CSV rows in their order (every named query's ORDER BY is one both engines keep), each cell listing
    values ("a, b") as the set of them: SPARQL leaves the order of GROUP_CONCAT undefined, so two stores
    may list the same in another order ("a | b" likewise)."""
    def cell(c: str) -> object:
        return frozenset(re.split(r", | \| ", c)) if ", " in c or " | " in c else c
    return [tuple(cell(c) for c in row) for row in csv.reader(io.StringIO(text))]


def test_every_named_query_answers_the_same(built: Virtuoso, disk: Path, settings: Settings) -> None:
    """Every named query with its defaults, row by row and in the same order (the plain text: a remote store
    has no summaries)."""
    different = []
    for name in sorted(p.stem for p in settings.queries_dir.glob("*.rq")):
        there = runner.invoke(app, ["query", name, "--format", "csv"], env=env_of(built))
        here = runner.invoke(app, ["query", name, "--format", "csv", "--store", str(disk)])
        assert here.exit_code == 0, (name, here.output)
        if there.exit_code != 0 or rows_of(there.stdout) != rows_of(here.stdout):
            different.append(name)
            print(f"-- {name} (exit {there.exit_code}): Virtuoso, then the embedded store\n"
                  f"{there.output[:600]}\n{here.stdout[:600]}")
    assert not different


#: Values beyond the defaults that take other branches of the queries' text: Chinese wordings folded
#: (满意率 = 满意度), categories by label and by key, code prefixes, partial names.
CASES = [
    ("projects_by_threshold", ["indicator=满意率", "min_value=90"]),
    ("projects_by_threshold", ["indicator=", "category=满意度指标", "min_value=95"]),
    ("projects_by_threshold", ["indicator=", "category=satisfaction", "min_value=95", "agency=341"]),
    ("projects_by_category", ["category=时效指标"]),
    ("budget_by_agency", ["department=341"]),
    ("agencies_by_shared_goals", ["agency=341"]),
    ("shared_goals_across_agencies", ["agency=341"]),
    ("projects_of_agency", ["code=341"]),
    ("indicators_of_project", ["name=人口证件"]),
    ("findings_by_agency", ["severity=Warning"]),
    ("projects_of_agency", ["code=341"]),
]


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{'&'.join(p)}" for n, p in CASES])
def test_named_queries_with_other_values_answer_the_same(built: Virtuoso, disk: Path, name: str,
                                                         params: list[str]) -> None:
    args = ["query", name, "--format", "csv", *[a for p in params for a in ("-p", p)]]
    there = runner.invoke(app, args, env=env_of(built))
    here = runner.invoke(app, [*args, "--store", str(disk)])
    assert (there.exit_code, here.exit_code) == (0, 0), there.output + here.output
    assert len(rows_of(here.stdout)) > 2, "the case has rows on the seeds"
    assert rows_of(there.stdout) == rows_of(here.stdout), "the same rows in the same order"


def test_a_query_virtuoso_rejects_is_an_error_at_once_naming_its_message(built: Virtuoso,
                                                                        settings: Settings) -> None:
    """Virtuoso fails ``1/0`` (Oxigraph leaves ?x unbound): the budgetkg server in front of it answers with
    Virtuoso's message as soon as Virtuoso has answered, not with its own timeout after a long wait."""
    from fastapi.testclient import TestClient

    from server.app import create_app

    served = replace(settings, store=built.sparql, query_timeout=600.0)
    with TestClient(create_app(served, workers=1)) as c:
        r = c.get("/sparql", params={"query": "SELECT (1/0 AS ?x) WHERE {}"},
                  headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 503, r.text
        assert "Division by 0" in r.text and built.url in r.text
        assert "BUDGETKG_QUERY_TIMEOUT" not in r.text, "not budgetkg's own timeout"
        assert c.get("/health").json()["timeouts"] == 0
        # the next query is answered (no worker was lost)
        r = c.get("/sparql", params={"query": "ASK { ?p a bk:Project }"},
                  headers={"Accept": "application/sparql-results+json"})
        assert r.json()["boolean"] is True


def test_part_of_an_answer_is_an_error_naming_the_servers_message(built: Virtuoso,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Virtuoso stopped at its MaxQueryExecutionTime answers 200 with the rows found so far and says so in
    ``X-SQL-State: S1TAT`` only: that is no answer."""
    store = RemoteStore(built.sparql, None, None, read_only=True)
    body = json.dumps({"head": {"vars": ["s"]}, "results": {"bindings": []}}).encode()

    def partial(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={
            "Content-Type": "application/sparql-results+json", "X-SQL-State": "S1TAT",
            "X-SQL-Message": "RC...: Returning incomplete results, query interrupted by result timeout."})

    monkeypatch.setattr(store._http, "client", httpx.Client(transport=httpx.MockTransport(partial)))
    try:
        with pytest.raises(StoreError, match=re.escape("part of the answer only (S1TAT: RC...: Returning incomplete")):
            store.query("SELECT ?s WHERE { ?s ?p ?o }")
    finally:
        store.close()


def constraint_differences(remote: GraphStore, local: GraphStore, settings: Settings) -> list[str]:
    """The compiled constraints whose queries, in both forms (targets as a sub-query and inline), answer other rows
    on ``remote`` than on ``local``."""
    def rows(data: Dataset, sparql: str) -> list[dict[str, str]]:
        result = data.query(sparql)
        names = sorted(v.value for v in result.variables)  # SELECT * lists them in an order of the engine's
        return sorted(({n: str(s[n]) for n in names if s[n] is not None} for s in result), key=repr)

    asked = [(f"{c.rule.name} {c.component} {c.shape_id}", sparql) for c in load_shapes(settings.shapes_dir).constraints
             for sparql in dict.fromkeys(q for q in (c.sparql, c.sparql_inline) if q)]
    there, here = Dataset(remote), Dataset(local)
    # Virtuoso answers in its own process while the embedded store answers here: each store is asked by one thread
    with ThreadPoolExecutor(1) as pool:
        remote_rows = pool.submit(lambda: [rows(there, sparql) for _, sparql in asked])
        local_rows = [rows(here, sparql) for _, sparql in asked]
        return [name for (name, _), a, b in zip(asked, remote_rows.result(), local_rows, strict=True) if a != b]


def test_every_compiled_shape_constraint_answers_the_same(built: Virtuoso, disk: Path, settings: Settings) -> None:
    with open_store(Settings.from_env(env=env_of(built)), read_only=True) as remote, \
            EmbeddedStore(disk, read_only=True) as local:
        assert not constraint_differences(remote, local, settings)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Virtuoso, Path]]:
    """1,000 synthetic tables (bench.synth) built into a Virtuoso of their own and into an embedded store: enough
    rows for what the seeds' 138 projects do not show (BudgetSumMismatch's COALESCE, kg.shapes.defaults)."""
    folder = tmp_path_factory.mktemp("synthetic")
    generate(1000, folder / "corpus")
    manifest = str(folder / "corpus" / "manifest.toml")
    with virtuoso_server(folder / "virtuoso") as server:
        result = runner.invoke(app, ["build", "--quiet", "--no-check", "--manifest", manifest], env=env_of(server))
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["build", "--quiet", "--no-check", "--manifest", manifest, "--store",
                                     str(folder / "store")], env={"BUDGETKG_QUERY_URL": ""})
        assert result.exit_code == 0, result.output
        yield server, folder / "store"


def test_every_compiled_shape_constraint_answers_the_same_on_1000_tables(synthetic: tuple[Virtuoso, Path],
                                                                        settings: Settings) -> None:
    """Virtuoso gave each BudgetSumMismatch finding another project's 财政资金 here before its COALESCE was compiled
    as IF(BOUND(..)); the findings themselves must be there to compare."""
    server, disk = synthetic
    with open_store(Settings.from_env(env=env_of(server)), read_only=True) as remote, \
            EmbeddedStore(disk, read_only=True) as local:
        mismatch = next(c for c in load_shapes(settings.shapes_dir).constraints if c.rule.name == "BudgetSumMismatch")
        assert len(list(local.query(mismatch.sparql))) >= 5
        assert not constraint_differences(remote, local, settings)


def test_the_analytics_graph_is_the_embedded_builds_on_1000_tables(synthetic: tuple[Virtuoso, Path],
                                                                  settings: Settings) -> None:
    """The kept answers (funding_mix_by_department's rows: Virtuoso once split a department's unstated projects in
    two rows) and the budget cube, quad for quad."""
    server, disk = synthetic
    graph = Iris(settings.base_iri).analytics_graph
    with open_store(Settings.from_env(env=env_of(server)), read_only=True) as remote, \
            EmbeddedStore(disk, read_only=True) as local:
        there, here = remote.dump_sorted_nquads(graph), local.dump_sorted_nquads(graph)
    assert b"funding_mix_by_department" in here
    assert there == here


def test_a_graph_larger_than_a_request_is_read_in_pages(built: Virtuoso, disk: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``read_chunk`` triples a graph is read in pages (predicates together, a large predicate by ranges of
    its subjects' MD5): Virtuoso answers no GET or CONSTRUCT past its MaxVectorSize. What is read is what one
    request reads, and the embedded store's but for durations."""
    auth = Credentials("digest", built.user, built.password)
    paged = RemoteStore(built.sparql_auth, None, built.gsp_auth, read_only=True, credentials=auth, read_chunk=500)
    whole = RemoteStore(built.sparql_auth, None, built.gsp_auth, read_only=True, credentials=auth)
    sent: list[str] = []
    send = paged._http._send

    def counted(method: str, url: str, what: str, **kw: object) -> httpx.Response:
        sent.append(what)
        return send(method, url, what, **kw)

    monkeypatch.setattr(paged._http, "_send", counted)
    try:
        with EmbeddedStore(disk, read_only=True) as local:
            for graph in whole.graphs():
                there = paged.dump_sorted_nquads(graph)
                assert there == whole.dump_sorted_nquads(graph), graph
                a, b = canonical(there), canonical(local.dump_sorted_nquads(graph))
                assert all(DURATION in line for line in a ^ b), graph
            assert sent.count("reading a graph") > 3 * len(whole.graphs())
    finally:
        paged.close()
        whole.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


@pytest.mark.parametrize("scheme", ["basic", "digest", "bearer"])
def test_a_secret_is_in_no_log_line_message_or_exception(virtuoso: Virtuoso, scheme: str,
                                                          logs: pytest.LogCaptureFixture) -> None:
    secret = f"wrong-{os.urandom(6).hex()}"
    settings = Settings.from_env(env=env_of(virtuoso, BUDGETKG_STORE_AUTH=scheme, BUDGETKG_STORE_PASSWORD=secret,
                                            BUDGETKG_STORE_TOKEN=secret))
    assert secret not in repr(settings) and secret not in repr(credentials(settings))
    with pytest.raises(BudgetKGError) as caught:
        open_store(settings, read_only=True)
    texts = [str(caught.value), repr(caught.value), logs.text, *(r.getMessage() for r in logs.records)]
    exc: BaseException | None = caught.value
    while exc is not None:
        texts.append(repr(exc))
        exc = exc.__cause__ or exc.__context__
    assert "401" in str(caught.value) and virtuoso.url in str(caught.value)
    assert not [t for t in texts if secret in t]
    # the command line says the same, without the secret
    result = runner.invoke(app, ["stats"], env=env_of(virtuoso, BUDGETKG_STORE_AUTH=scheme,
                                                      BUDGETKG_STORE_PASSWORD=secret, BUDGETKG_STORE_TOKEN=secret))
    assert result.exit_code == 2 and secret not in result.output


def test_digest_authenticates_at_the_protected_endpoints(virtuoso: Virtuoso) -> None:
    with pytest.raises(StoreError, match="401"):
        RemoteStore(virtuoso.sparql_auth, virtuoso.sparql_auth, virtuoso.gsp_auth, read_only=True)
    store = RemoteStore(virtuoso.sparql_auth, virtuoso.sparql_auth, virtuoso.gsp_auth, read_only=True,
                        credentials=Credentials("digest", virtuoso.user, virtuoso.password))
    assert bool(store.query("ASK {}"))
    store.close()


def test_bearer_sends_the_token_on_every_request() -> None:
    flow = Credentials("bearer", "", "t0ken").auth().sync_auth_flow(httpx.Request("GET", "http://h/sparql"))
    assert next(flow).headers["Authorization"] == "Bearer t0ken"
    assert "t0ken" not in repr(Credentials("bearer", "", "t0ken"))


def test_validation_finds_what_the_embedded_store_finds(built: Virtuoso, disk: Path) -> None:
    """The whole JSON report, but for where it ran and how long it took."""
    there = runner.invoke(app, ["validate", "--format", "json"], env=env_of(built))
    here = runner.invoke(app, ["validate", "--format", "json", "--store", str(disk)])
    assert (there.exit_code, here.exit_code) == (0, 0), there.output
    reports = [json.loads(r.stdout) for r in (there, here)]
    for report in reports:
        del report["source"], report["seconds"]
    assert reports[0]["findings"], "the seeds have findings"
    assert reports[0] == reports[1]


def test_a_graph_larger_than_a_request_is_sent_in_parts_and_moved_in(virtuoso: Virtuoso,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``write_chunk`` triples a graph is POSTed in parts into a staging graph and swapped in by one
    MOVE, new or replacing an existing one; the server then holds what the embedded store holds, and no
    staging graph is left."""
    graph = NamedNode("https://budgetkg.example.org/id/graph/chunked")

    def content(n: int, tag: str) -> list[Quad]:
        return [Quad(NamedNode(f"https://budgetkg.example.org/id/s{i % 37}"), NamedNode(f"https://e/p{i % 5}"),
                     Literal(f"{tag} {i} 值"), graph) for i in range(n)]

    store = RemoteStore(virtuoso.sparql_auth, virtuoso.sparql_auth, virtuoso.gsp_auth, write_chunk=100,
                        credentials=Credentials("digest", virtuoso.user, virtuoso.password))
    local = EmbeddedStore(None)
    try:
        sent: list[tuple[str, str]] = []
        send = store._http._send

        def counted(method: str, url: str, what: str, **kw: object) -> httpx.Response:
            sent.append((method, str(kw.get("params", {}))))
            return send(method, url, what, **kw)

        monkeypatch.setattr(store._http, "_send", counted)
        for n, tag in ((1050, "first"), (730, "second")):  # written new, then replaced (staged and swapped)
            for s in (store, local):
                with s.transaction() as tx:
                    tx.replace(graph, content(n, tag))
            assert store.dump_sorted_nquads(graph) == local.dump_sorted_nquads(graph)
            assert len(list(store.quads(graph))) == n
        posts = [m for m, params in sent if m == "POST" and "staging" in params]
        assert len(posts) == 11 + 8 and not [m for m, params in sent if m == "PUT" and "chunked" in params]
        assert graph in store.graphs()
        leftover = "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), 'urn:budgetkg:staging:')) }"
        assert not list(store.query(leftover, default_graph=[], named_graphs=[]))
    finally:
        with contextlib.suppress(StoreError):
            store.remove_graph(graph)
        store.close()
