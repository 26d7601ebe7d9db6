"""The HTTP adapter in process: protocol, formats, errors, safety, named queries, linked data, dataset.

The app serves the session's in-memory seed store through threads (``create_app(settings,
store=...)``); tests/test_server_clients.py runs the real server (worker processes, on-disk store).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import replace
from xml.etree import ElementTree

import pytest
import rdflib
from fastapi.testclient import TestClient
from pyoxigraph import RdfFormat, parse

from kg.namespaces import PREFIXES
from kg.pipeline import build
from kg.queries import load_all
from kg.settings import Settings
from kg.sources import Manifest
from kg.store import EmbeddedStore, GraphStore
from server import formats, safety
from server.app import create_app
from server.errors import STATUS, status_of
from server.pages import editor_example

from .helpers import copy_store

BASE = "https://budgetkg.example.org/id/"
AGENCY = BASE + "agency/341101"
SELECT_UNITS = "SELECT ?u ?name WHERE { ?u a bk:BudgetUnit ; rdfs:label ?name } ORDER BY ?u"
JSON_RESULTS = "application/sparql-results+json"


@pytest.fixture(scope="module")
def client(settings: Settings, seed_store: GraphStore):
    with TestClient(create_app(settings, store=seed_store)) as c:
        yield c


def copy_of(store: GraphStore) -> GraphStore:
    """A writable in-memory copy (tests that update must not touch the session store)."""
    return copy_store(store)


# -- SERVICE / LOAD refusal ------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "select * where { service <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE SILENT <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE<http://127.0.0.1:9/>{ ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE # a comment\n <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * WHERE { BIND(<http://127.0.0.1:9/> AS ?e) SERVICE ?e { ?s ?p ?o } }",
    "PREFIX : <http://127.0.0.1:9/> SELECT * WHERE { SERVICE:x { ?s ?p ?o } }",
    "PREFIX ex: <http://127.0.0.1:9/> SELECT * WHERE { SERVICEex:a { ?s ?p ?o } }",
    "PREFIX : <http://127.0.0.1:9/> SELECT * WHERE { SERVICE SILENT:x { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICESILENT<http://127.0.0.1:9/> { ?s ?p ?o } }",
    "BASE <http://127.0.0.1:9/> SELECT * WHERE { SERVICE <sparql> { ?s ?p ?o } }",
    # a string that ends where a naive scanner thinks it goes on, then a real SERVICE
    "SELECT * WHERE { ?s ?p \"a\\\"b\" . SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
    # an escaped '#' in a prefixed name is no comment
    "PREFIX ex: <http://x/> SELECT * WHERE { ?s ?p ex:a\\#b . SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "PREFIX ex: <http://x/> SELECT * WHERE { ?s ?p ex: .SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
])
def test_service_is_refused_however_it_is_spelled(text: str) -> None:
    with pytest.raises(safety.RefusedOperation):
        safety.check(text, (), PREFIXES)


@pytest.mark.parametrize("text", [
    "SELECT * WHERE { ?s ?p 'SERVICE <http://127.0.0.1:9/> { ?s ?p ?o }' }",
    'SELECT * WHERE { ?s ?p """ multi-line\nSERVICE <http://127.0.0.1:9/> { } """ }',
    "SELECT * WHERE { ?s ?p ?o } # SERVICE <http://127.0.0.1:9/> { ?s ?p ?o }",
    "SELECT ?service WHERE { ?service <http://x/load> ?o . ?o <http://x/a> bk:service }",
    "SELECT * WHERE { ?s <http://example.org/SERVICE> ?o . ?s ?p \"load\"@en }",
])
def test_service_in_strings_iris_comments_and_names_is_not_a_service(text: str) -> None:
    assert safety.check(text, (), PREFIXES).services == ()


def test_allow_listed_service_passes_and_others_do_not() -> None:
    text = "SELECT * WHERE { SERVICE <https://query.wikidata.org/sparql> { ?s ?p ?o } }"
    assert safety.check(text, ("query.wikidata.org",)).services == ("https://query.wikidata.org/sparql",)
    with pytest.raises(safety.RefusedOperation):
        safety.check(text, ("wikidata.org",))


@pytest.mark.parametrize("update", [
    "LOAD <file:///etc/passwd>",
    "load silent <http://127.0.0.1:9/data.ttl> INTO GRAPH <http://g>",
    "PREFIX ex: <http://127.0.0.1:9/> LOADex:a",
    "INSERT { ?s ?p ?o } WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
])
def test_load_and_service_in_updates_are_refused(update: str) -> None:
    with pytest.raises(safety.RefusedOperation):
        safety.check(update, ())


def test_query_form_and_own_dataset_are_read_before_running() -> None:
    assert safety.inspect("PREFIX x: <http://x/> ASK { ?s ?p ?o }").form == "ASK"
    assert safety.inspect("CONSTRUCT { ?s ?p ?o } WHERE { { SELECT ?s WHERE { ?s ?p ?o } } }").form == "CONSTRUCT"
    assert safety.inspect("SELECT * FROM <http://g> WHERE { ?s ?p ?o }").has_dataset
    assert not safety.inspect("SELECT * WHERE { ?s <http://x/from> ?o }").has_dataset


# -- content negotiation ---------------------------------------------------------------------
@pytest.mark.parametrize(("accept", "offers", "expected"), [
    (None, formats.RESULT_FORMATS, "json"),
    ("*/*", formats.RESULT_FORMATS, "json"),
    ("application/sparql-results+xml", formats.RESULT_FORMATS, "xml"),
    ("text/csv;q=0.4, text/tab-separated-values;q=0.9", formats.RESULT_FORMATS, "tsv"),
    ("application/json", formats.GRAPH_FORMATS, "jsonld"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", formats.RESULT_FORMATS, "xml"),
    ("text/*", formats.GRAPH_FORMATS, "turtle"),
    ("application/n-triples, */*;q=0.1", formats.GRAPH_FORMATS, "ntriples"),
])
def test_choose_format(accept: str | None, offers: tuple, expected: str) -> None:
    assert formats.choose(accept, offers).name == expected


def test_format_parameter_wins_and_unknown_values_are_ignored() -> None:
    assert formats.choose("text/csv", formats.RESULT_FORMATS, ["tsv"]).name == "tsv"
    assert formats.choose("text/csv", formats.RESULT_FORMATS, ["n3", "text/csv"]).name == "csv"


def test_every_error_type_maps_to_one_status() -> None:
    assert [code for _, code in STATUS].count(500) >= 1
    assert status_of(ValueError("a bug")) == 500


# -- /sparql ---------------------------------------------------------------------------------
def test_select_in_each_result_format(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": SELECT_UNITS}, headers={"Accept": JSON_RESULTS})
    assert r.status_code == 200 and r.headers["content-type"].startswith(JSON_RESULTS)
    rows = r.json()["results"]["bindings"]
    assert len(rows) == 18
    assert rows[0]["name"] == {"type": "literal", "value": "天津市市政基础设施建设服务中心", "xml:lang": "zh"}

    r = client.get("/sparql", params={"query": SELECT_UNITS}, headers={"Accept": "application/sparql-results+xml"})
    ns = {"s": "http://www.w3.org/2005/sparql-results#"}
    assert len(ElementTree.fromstring(r.content).findall(".//s:result", ns)) == 18

    r = client.get("/sparql", params={"query": SELECT_UNITS}, headers={"Accept": "text/csv"})
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["u", "name"] and len(table) == 19 and table[1][0] == BASE + "agency/325205"

    r = client.get("/sparql", params={"query": SELECT_UNITS, "format": "tsv"})
    lines = r.text.splitlines()
    assert lines[0] == "?u\t?name" and lines[1].startswith(f"<{BASE}agency/325205>\t\"")


def test_post_form_and_post_direct_give_the_same_answer(client: TestClient) -> None:
    get = client.get("/sparql", params={"query": SELECT_UNITS}).json()
    form = client.post("/sparql", data={"query": SELECT_UNITS}).json()
    direct = client.post("/sparql", content=SELECT_UNITS.encode(), headers={"Content-Type": "application/sparql-query"})
    assert get == form == direct.json()


def test_ask_and_construct(client: TestClient) -> None:
    assert client.get("/sparql", params={"query": "ASK { ?p a bk:Project }"}).json()["boolean"] is True
    q = f"CONSTRUCT {{ <{AGENCY}> ?p ?o }} WHERE {{ <{AGENCY}> ?p ?o }}"
    for accept, fmt in (("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                        ("application/n-triples", "nt"), ("application/rdf+xml", "xml")):
        r = client.get("/sparql", params={"query": q}, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(accept)
        g = rdflib.Graph().parse(data=r.text, format=fmt)
        label = rdflib.Literal("天津市公安局警务保障部财务管理处", lang="zh")
        assert (rdflib.URIRef(AGENCY), rdflib.RDFS.label, label) in g


def test_syntax_error_is_400_with_the_parsers_message(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "SELECT ?x WHERE { ?x ?y }"})
    assert r.status_code == 400
    assert "syntax error" in r.text and "line 1, column" in r.text


def test_unacceptable_format_is_406_before_running(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"}, headers={"Accept": "image/png"})
    assert r.status_code == 406 and "text/csv" in r.text
    r = client.get("/sparql", params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"}, headers={"Accept": "text/csv"})
    assert r.status_code == 406


def test_oversized_bodies_are_413(settings: Settings, seed_store: GraphStore) -> None:
    small = replace(settings, max_body_bytes=1000)
    with TestClient(create_app(small, store=seed_store)) as c:
        text = "SELECT * WHERE { ?s ?p ?o } #" + "x" * 2000
        assert c.post("/sparql", content=text.encode(), headers={"Content-Type": "application/sparql-query"}
                      ).status_code == 413
        assert c.post("/sparql", data={"query": text}).status_code == 413
        assert c.get("/sparql", params={"query": text}).status_code == 413
        assert c.get("/sparql", params={"query": "ASK {}"}).status_code == 200


def test_protocol_misuse_is_4xx(client: TestClient) -> None:
    assert client.post("/sparql", content=b"ASK {}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.get("/sparql?query=ASK%7B%7D&query=ASK%7B%7D").status_code == 400
    assert client.post("/sparql", data={"update": "CLEAR ALL"}).status_code == 400
    assert client.post("/sparql", data={}).status_code == 400


def test_service_and_federation_are_refused_with_403(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"})
    assert r.status_code == 403 and "allow-list" in r.text


def test_protocol_dataset_and_from(client: TestClient) -> None:
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    agencies = BASE + "graph/agencies"

    def n(**params: object) -> int:
        return int(client.get("/sparql", params={"query": count, **params}).json()["results"]["bindings"][0]["n"]
                   ["value"])

    union, only_agencies = n(), n(**{"default-graph-uri": agencies})
    assert 0 < only_agencies < union
    assert n(**{"named-graph-uri": agencies}) == 0  # a protocol dataset without default graph: empty
    q = f"SELECT (COUNT(*) AS ?n) FROM <{agencies}> WHERE {{ ?s ?p ?o }}"
    assert int(client.get("/sparql", params={"query": q}).json()["results"]["bindings"][0]["n"]["value"]) \
        == only_agencies
    graphs = client.get("/sparql", params={"query": "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }",
                                           "named-graph-uri": agencies}).json()["results"]["bindings"]
    assert [b["g"]["value"] for b in graphs] == [agencies]


def test_row_limit_cuts_and_says_so(settings: Settings, seed_store: GraphStore) -> None:
    with TestClient(create_app(replace(settings, max_rows=5), store=seed_store)) as c:
        r = c.get("/sparql", params={"query": SELECT_UNITS})
        assert r.headers["X-Truncated"] == "true" and r.headers["X-Row-Limit"] == "5"
        assert len(r.json()["results"]["bindings"]) == 5
        r = c.get("/sparql", params={"query": "CONSTRUCT WHERE { ?s a bk:Project }", "format": "ntriples"})
        assert r.headers["X-Truncated"] == "true" and len(r.text.strip().splitlines()) == 5
        r = c.get("/sparql", params={"query": SELECT_UNITS + " LIMIT 5"})
        assert "X-Truncated" not in r.headers
        page = c.get("/queries/projects_of_agency", headers={"Accept": "text/html"})
        assert 'id="truncated"' in page.text


def test_service_description_on_plain_get(client: TestClient) -> None:
    r = client.get("/sparql", headers={"Accept": "text/turtle"})
    assert r.status_code == 200
    g = rdflib.Graph().parse(data=r.text, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    endpoint = rdflib.URIRef("http://testserver/sparql")
    assert (endpoint, rdflib.RDF.type, sd.Service) in g
    assert (endpoint, sd.supportedLanguage, sd.SPARQL11Query) in g
    assert (endpoint, sd.supportedLanguage, sd.SPARQL11Update) not in g  # no token: no updates
    assert client.get("/sparql", headers={"Accept": "text/html"}, follow_redirects=False).status_code == 303


def test_slow_query_is_answered_503_and_the_server_goes_on(settings: Settings, seed_store: GraphStore) -> None:
    # about a second of work (its thread cannot be stopped, so keep it short)
    slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a a bk:Indicator . ?b a bk:Indicator . ?c a bk:BudgetUnit }"
    with TestClient(create_app(replace(settings, query_timeout=0.2), store=seed_store, workers=2)) as c:
        r = c.get("/sparql", params={"query": slow})
        assert r.status_code == 503 and "stopped after 0.2 s" in r.text and r.headers["Retry-After"]
        assert c.get("/sparql", params={"query": "ASK { ?p a bk:Project }"}).json()["boolean"] is True
        assert c.get("/health").json()["timeouts"] == 1


# -- /update ---------------------------------------------------------------------------------
def test_update_needs_configuration_and_the_token(settings: Settings, seed_store: GraphStore) -> None:
    insert = 'INSERT DATA { GRAPH <http://test.example/g> { <http://test.example/a> rdfs:label "新" } }'
    hdr = {"Content-Type": "application/sparql-update"}
    with TestClient(create_app(settings, store=copy_of(seed_store))) as c:
        r = c.post("/update", content=insert.encode(), headers={**hdr, "Authorization": "Bearer x"})
        assert r.status_code == 403 and "disabled" in r.text
    store = copy_of(seed_store)
    with TestClient(create_app(replace(settings, update_token="s3cret"), store=store)) as c:
        r = c.post("/update", content=insert.encode(), headers=hdr)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert c.post("/update", content=insert.encode(), headers={**hdr, "Authorization": "Bearer nope"}
                      ).status_code == 403
        assert c.post("/update", data={"update": "LOAD <file:///etc/passwd>"},
                      headers={"Authorization": "Bearer s3cret"}).status_code == 403
        assert c.post("/update", content=insert.encode(), headers={**hdr, "Authorization": "Bearer s3cret"}
                      ).status_code == 204
        r = c.get("/sparql", params={"query": "SELECT ?l WHERE { <http://test.example/a> rdfs:label ?l }"})
        assert r.json()["results"]["bindings"][0]["l"]["value"] == "新"
        assert "SPARQL11Update" in c.get("/sparql", headers={"Accept": "text/turtle"}).text


# -- Graph Store Protocol --------------------------------------------------------------------
def test_graph_store_reads(client: TestClient, seed_store: GraphStore) -> None:
    agencies = BASE + "graph/agencies"
    r = client.get("/store", params={"graph": agencies}, headers={"Accept": "application/n-triples"})
    assert r.status_code == 200
    assert len(r.text.strip().splitlines()) == sum(1 for _ in seed_store.quads(rdflib_free_graph(agencies)))
    assert client.get("/store", params={"graph": "http://nowhere.example/g"}).status_code == 404
    whole = client.get("/store", headers={"Accept": "application/n-quads"})
    assert len(whole.text.strip().splitlines()) == len(seed_store)
    assert client.get("/store", params={"default": ""}).headers["content-type"].startswith("text/turtle")
    assert client.put("/store", params={"graph": agencies}, content=b"").status_code == 405


def rdflib_free_graph(iri: str):
    from pyoxigraph import NamedNode

    return NamedNode(iri)


# -- named queries ---------------------------------------------------------------------------
def test_every_named_query_is_listed_and_runs_with_its_defaults(client: TestClient, settings: Settings) -> None:
    listed = {q["name"]: q for q in client.get("/queries").json()}
    assert set(listed) == set(load_all(settings.queries_dir))
    for basic in ("projects_of_agency", "budget_by_agency", "indicators_of_project", "projects_by_category",
                  "funding_sources"):
        assert basic in listed
    for name in listed:
        r = client.get(f"/queries/{name}")
        assert r.status_code == 200, (name, r.text)
        assert "results" in r.json()


def test_named_query_in_every_format_with_url_parameters(client: TestClient) -> None:
    url = "/queries/projects_of_agency"
    rows = client.get(url, params={"code": "325220"}).json()["results"]["bindings"]
    assert len(rows) == 3 and {b["code"]["value"] for b in rows} == {"325220"}
    assert len(list(csv.reader(io.StringIO(client.get(url, params={"code": "325220", "format": "csv"}).text)))) == 4
    assert len(client.get(url, params={"code": "325220"}, headers={"Accept": "text/tab-separated-values"}
                          ).text.splitlines()) == 4
    xml = client.get(url, params={"code": "325220"}, headers={"Accept": "application/sparql-results+xml"}).content
    assert len(ElementTree.fromstring(xml).findall(".//{http://www.w3.org/2005/sparql-results#}result")) == 3
    html = client.get(url, params={"code": "325220"}, headers={"Accept": "text/html"}).text
    assert "建设工程执法检查" in html and 'id="row-count">3<' in html


def test_named_query_parameters_are_bound_not_pasted(client: TestClient) -> None:
    r = client.get("/queries/projects_of_agency", params={"code": '341") || true || ("'})
    assert r.status_code == 404 and "no such agency" in r.text  # one literal, matching no agency code
    r = client.get("/queries/projects_by_threshold", params={"min_value": "lots"})
    assert r.status_code == 400 and "decimal" in r.text
    assert client.get("/queries/projects_of_agency", params={"nope": "1"}).status_code == 400
    assert client.get("/queries/no_such_query").status_code == 404


def test_named_queries_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    op = paths["/queries/projects_of_agency"]["get"]
    assert op["summary"].startswith("某预算单位")
    params = {p["name"]: p for p in op["parameters"]}
    assert params["code"]["schema"]["default"] == "341101" and "format" in params
    assert "/sparql" in paths and "/queries/budget_by_agency" in paths


def test_editor_example_binds_defaults_with_values(settings: Settings, seed_store: GraphStore) -> None:
    q = load_all(settings.queries_dir)["projects_of_agency"]
    text = editor_example(q, {"code": "325220"})
    assert 'VALUES (?code) { ("325220") }' in text
    rows = list(seed_store.query(text))
    assert len(rows) == 3


def test_index_page_has_the_editor_config(client: TestClient) -> None:
    page = client.get("/?run=projects_of_agency&code=325220").text
    config = json.loads(page.split('id="budgetkg-config">')[1].split("</script>")[0])
    assert config["endpoint"] == "http://testserver/sparql" and config["run"] == "projects_of_agency"
    assert config["baseIri"] == BASE and config["root"] == "http://testserver/"  # result links map onto /<path>
    example = next(e for e in config["examples"] if e["name"] == "projects_of_agency")
    assert '"325220"' in example["query"]
    assert "cdn" not in page.lower()


# -- linked data -----------------------------------------------------------------------------
def test_entity_in_rdf_by_accept_and_by_suffix(client: TestClient) -> None:
    r = client.get("/agency/341101", headers={"Accept": "*/*"})
    assert r.headers["content-type"].startswith("text/turtle") and "Accept" in r.headers["vary"]
    g = rdflib.Graph().parse(data=r.text, format="turtle")
    assert (rdflib.URIRef(AGENCY), rdflib.RDF.type, rdflib.URIRef(PREFIXES["bk"] + "BudgetUnit")) in g
    for suffix, fmt, ctype in ((".jsonld", "json-ld", "application/ld+json"), (".nt", "nt", "application/n-triples"),
                               (".ttl", "turtle", "text/turtle"), (".rdf", "xml", "application/rdf+xml")):
        r = client.get("/agency/341101" + suffix)
        assert r.headers["content-type"].startswith(ctype)
        assert len(rdflib.Graph().parse(data=r.text, format=fmt)) == len(g)
    r = client.get("/agency/341101", headers={"Accept": "application/ld+json"})
    assert json.loads(r.text)["@context"]["bk"] == PREFIXES["bk"]
    assert client.get("/agency/999999").status_code == 404


def test_entity_page_shows_labels_incoming_links_and_source_lines(client: TestClient) -> None:
    projects = client.get("/queries/projects_of_agency", params={"code": "325220"}).json()["results"]["bindings"]
    project = next(b for b in projects if b["name"]["value"] == "建设工程执法检查")["project"]["value"]
    path = project[len(BASE):]
    page = client.get("/" + path, headers={"Accept": "text/html"}).text
    assert "<h1>建设工程执法检查</h1>" in page
    assert "预算单位" in page  # the property bk:budgetUnit by its zh label
    assert 'href="http://testserver/agency/325220"' in page  # an IRI under the base IRI links to this server
    assert "000_98710193955fe7ef.txt" in page and "来源 Source lines" in page
    assert '<span class="ln">' in page and "建设工程执法检查" in page.split("来源 Source lines")[1]
    target = client.get(f"/{path}/indicator/1/target.html").text
    assert "经 via" in target  # a target is read on its indicator's lines
    agency = client.get("/agency/325220.html").text
    assert "被引用 Incoming links" in agency and path in agency


def test_other_iris_of_the_store_are_served_under_resource(client: TestClient) -> None:
    r = client.get("/resource", params={"iri": PREFIXES["bk"] + "Project"}, headers={"Accept": "text/html"})
    assert r.status_code == 200 and "项目" in r.text


def test_base_iri_maps_onto_the_servers_own_urls(settings: Settings, manifest: Manifest) -> None:
    other = replace(settings, base_iri="http://data.example/budget/")
    store = EmbeddedStore(None)
    build(store, manifest.entries[:1], other, manifest=manifest)
    with TestClient(create_app(other, store=store)) as c:
        r = c.get("/agency/325220")
        assert r.status_code == 200 and "<http://data.example/budget/agency/325220>" in r.text
        page = c.get("/agency/325220.html").text
        assert 'href="http://testserver/document/000_98710193955fe7ef"' in page
        assert c.get("/dataset.ttl").text.count("http://data.example/budget/dataset") >= 1


# -- the dataset -----------------------------------------------------------------------------
def test_void_and_dcat_description(client: TestClient, seed_store: GraphStore) -> None:
    r = client.get("/dataset", headers={"Accept": "text/turtle"})
    g = rdflib.Graph().parse(data=r.text, format="turtle")
    void = rdflib.Namespace("http://rdfs.org/ns/void#")
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    ds = rdflib.URIRef(BASE + "dataset")
    assert (ds, rdflib.RDF.type, void.Dataset) in g and (ds, rdflib.RDF.type, dcat.Dataset) in g
    assert g.value(ds, rdflib.DCTERMS.license) is not None and g.value(ds, void.sparqlEndpoint) is not None
    assert int(g.value(ds, void.triples)) > 30000
    assert len(list(g.objects(ds, rdflib.DCTERMS.source))) == 5
    dumps = {str(u) for u in g.objects(ds, void.dataDump)}
    assert "http://testserver/dumps/budgetkg.nq.gz" in dumps
    assert len(list(g.objects(ds, dcat.distribution))) == 4
    assert client.get("/.well-known/void", headers={"Accept": "text/turtle"}).text == r.text
    assert "34" in client.get("/dataset", headers={"Accept": "text/html"}).text


def test_dumps_hold_the_published_graphs(client: TestClient, seed_store: GraphStore) -> None:
    nq = gzip.decompress(client.get("/dumps/budgetkg.nq.gz").content)
    assert nq == seed_store.dump_sorted_nquads()
    ttl = client.get("/dumps/budgetkg.ttl")
    assert ttl.headers["content-disposition"].endswith('"budgetkg.ttl"')
    assert len(list(parse(ttl.content, format=RdfFormat.TURTLE))) > 30000
    ctx = client.get("/context.jsonld").json()["@context"]
    assert ctx["bk"] == PREFIXES["bk"]
    body = client.get("/dumps/budgetkg.jsonld").content
    assert json.loads(body)["@context"]["bk"] == PREFIXES["bk"]
    quads = {str(q) for q in parse(body, format=RdfFormat.JSON_LD)}
    assert quads == {str(q) for q in seed_store.quads()}
