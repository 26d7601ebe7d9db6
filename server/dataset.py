"""The dataset as a whole, described in RDF: VoID + DCAT, the SPARQL service description, the dumps.

The dataset's IRI is ``<base IRI>dataset``, so like every entity it is served at ``/dataset``
(and at ``/.well-known/void``, by :mod:`server.void`); ``/sparql`` answers a plain GET with the
service description (:mod:`server.sparql`). Counts come from the store once per store generation;
dumps are made once per generation and kept in memory (every write to the store starts a new
generation). This module holds no routes: both routers read the description from here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple

from kg.iris import Iris
from kg.namespaces import (
    DCAT,
    DCTERMS,
    FOAF,
    FORMATS,
    ISO639_1,
    MEDIA_TYPE,
    ONTOLOGY_IRI,
    RDF,
    RDFS,
    SD,
    SPARQL_PROTOCOL,
    SPDX,
    VOID,
    XSD,
)

from .jobs import CountsJob, jsonld_bytes
from .results import rdf_bytes
from .runtime import Runtime

#: Licence of the published graph; the project's own licence (pyproject: MIT).
LICENSE = SPDX.MIT
#: Where the source documents come from: the budget-disclosure pages of Tianjin's municipal departments.
RIGHTS = ("源文件为天津市市级预算单位依法公开的部门预算（项目支出绩效目标表）；本数据集为其结构化转换，"
          "每条事实可追溯到源文件及行号。")

#: name → (file name, format, media type, DCAT media type, compressed)
DUMPS: dict[str, tuple[str, str, str, str, bool]] = {
    "nquads": ("budgetkg.nq.gz", "nquads.gz", "application/gzip", "application/n-quads", True),
    "turtle": ("budgetkg.ttl", "turtle", "text/turtle; charset=utf-8", "text/turtle", False),
    "jsonld": ("budgetkg.jsonld", "jsonld", "application/ld+json; charset=utf-8", "application/ld+json", False),
    "trig": ("budgetkg.trig", "trig", "application/trig; charset=utf-8", "application/trig", False),
}

_RESULT_FORMAT_IRIS = (FORMATS.SPARQL_Results_JSON, FORMATS.SPARQL_Results_XML, FORMATS.SPARQL_Results_CSV,
                       FORMATS.SPARQL_Results_TSV, FORMATS.Turtle, FORMATS["JSON-LD"], FORMATS["N-Triples"],
                       FORMATS.RDF_XML)


def _zh(text: str) -> Literal:
    return Literal(text, language="zh")


def _en(text: str) -> Literal:
    return Literal(text, language="en")


def _int(n: object) -> Literal:
    return Literal(str(n), datatype=XSD.integer)


async def counts(runtime: Runtime) -> dict[str, Any]:
    """Dataset counts (cached per store generation)."""
    return await runtime.cached("counts", CountsJob(runtime.settings.base_iri),
                                max(runtime.settings.query_timeout, 60.0))


def dataset_iri(runtime: Runtime) -> NamedNode:
    return Iris(runtime.settings.base_iri).dataset


async def description_triples(request: Request, runtime: Runtime) -> list[Triple]:
    """VoID and DCAT description of the dataset, with the server's own URLs for endpoint and dumps."""
    c = await counts(runtime)
    root = runtime.root(request)
    ds = dataset_iri(runtime)
    base = runtime.settings.base_iri
    iris = Iris(base)
    t: list[Triple] = []

    def add(s: NamedNode | BlankNode, p: NamedNode, o: NamedNode | BlankNode | Literal) -> None:
        t.append(Triple(s, p, o))

    for cls in (VOID.Dataset, DCAT.Dataset):
        add(ds, RDF.type, cls)
    add(ds, DCTERMS.title, _zh("天津市预算项目支出绩效目标知识图谱"))
    add(ds, DCTERMS.title, _en("budgetkg: Tianjin budget performance-target tables"))
    add(ds, RDFS.label, _zh("天津市预算项目支出绩效目标知识图谱"))
    add(ds, DCTERMS.description, _en(
        "Projects, budget units and departments, budgets and funding, goals and three-level indicators "
        "(一级/二级/三级指标) with parsed target values, read from the 项目支出绩效目标表 that Tianjin's municipal "
        "budget units publish with their budgets; every fact is traceable to its source file and line."))
    add(ds, DCTERMS.license, LICENSE)
    add(ds, DCTERMS.rights, _zh(RIGHTS))
    add(ds, DCTERMS.language, ISO639_1.zh)
    for kw in ("预算", "绩效目标", "项目支出", "天津", "budget", "performance indicators"):
        add(ds, DCAT.keyword, _zh(kw) if not kw.isascii() else _en(kw))
    add(ds, DCAT.landingPage, NamedNode(root))
    add(ds, FOAF.homepage, NamedNode(root))
    add(ds, VOID.uriSpace, Literal(base))
    add(ds, VOID.vocabulary, NamedNode(ONTOLOGY_IRI))
    add(ds, VOID.sparqlEndpoint, NamedNode(root + "sparql"))
    add(ds, VOID.rootResource, iris.agency("341"))
    add(ds, VOID.exampleResource, iris.agency("341101"))
    add(ds, VOID.triples, _int(c["triples"]))
    add(ds, VOID.entities, _int(c["entities"]))
    add(ds, VOID.classes, _int(c["classes"]))
    add(ds, VOID.properties, _int(c["properties"]))
    add(ds, VOID.distinctSubjects, _int(c["distinct_subjects"]))
    add(ds, VOID.distinctObjects, _int(c["distinct_objects"]))
    for doc in c["documents"]:
        add(ds, DCTERMS.source, iris.document(doc))
    for g, n in sorted(c["graphs"].items()):
        sub = NamedNode(g)
        add(ds, VOID.subset, sub)
        add(sub, RDF.type, VOID.Dataset)
        add(sub, VOID.triples, _int(n))
        add(sub, VOID.dataDump, NamedNode(root + "store?graph=" + _q(g)))
    service = NamedNode(root + "sparql")
    add(service, RDF.type, DCAT.DataService)
    add(service, DCAT.endpointURL, service)
    add(service, DCAT.servesDataset, ds)
    add(service, DCTERMS.conformsTo, SPARQL_PROTOCOL)
    add(service, DCTERMS.title, _en("SPARQL 1.1 query endpoint"))
    for name, (file, _fmt, _ct, media, compressed) in DUMPS.items():
        url = NamedNode(root + "dumps/" + file)
        dist = NamedNode(root + "dumps/" + file + "#distribution")
        add(ds, VOID.dataDump, url)
        add(ds, DCAT.distribution, dist)
        add(dist, RDF.type, DCAT.Distribution)
        add(dist, DCAT.downloadURL, url)
        add(dist, DCAT.accessURL, url)
        add(dist, DCAT.mediaType, MEDIA_TYPE[media])
        add(dist, DCTERMS.format, Literal(media))
        add(dist, DCTERMS.title, _en(f"{name} dump"))
        add(dist, DCTERMS.license, LICENSE)
        if compressed:
            add(dist, DCAT.compressFormat, MEDIA_TYPE["application/gzip"])
        if name == "jsonld":
            add(dist, DCTERMS.conformsTo, NamedNode(root + "context.jsonld"))
    return t


def _q(text: str) -> str:
    return quote(text, safe="")


async def service_description_quads(request: Request, runtime: Runtime) -> list[Quad]:
    """SPARQL 1.1 Service Description of ``/sparql``."""
    c = await counts(runtime)
    root = runtime.root(request)
    svc = NamedNode(root + "sparql")
    t: list[Triple] = []

    def add(s: NamedNode | BlankNode, p: NamedNode, o: NamedNode | BlankNode | Literal) -> None:
        t.append(Triple(s, p, o))

    add(svc, RDF.type, SD.Service)
    add(svc, SD.endpoint, svc)
    add(svc, SD.supportedLanguage, SD.SPARQL11Query)
    if runtime.settings.update_token:
        add(svc, SD.supportedLanguage, SD.SPARQL11Update)
    for f in _RESULT_FORMAT_IRIS:
        add(svc, SD.resultFormat, f)
    add(svc, SD.feature, SD.UnionDefaultGraph)
    add(svc, DCTERMS.title, _en("budgetkg SPARQL endpoint"))
    add(svc, RDFS.comment, _en(f"Default graph: the union of the published graphs. At most {runtime.settings.max_rows} "
                               f"result rows (X-Truncated: true when cut); queries stop after "
                               f"{runtime.settings.query_timeout:g} s; SERVICE and LOAD only to allow-listed hosts."))
    dsd = BlankNode("defaultDataset")
    add(svc, SD.defaultDataset, dsd)
    add(dsd, RDF.type, SD.Dataset)
    add(dsd, DCTERMS.source, dataset_iri(runtime))
    dg = BlankNode("defaultGraph")
    add(dsd, SD.defaultGraph, dg)
    add(dg, RDF.type, SD.Graph)
    add(dg, VOID.triples, _int(c["triples"]))
    for k, (g, n) in enumerate(sorted(c["graphs"].items()), start=1):
        ng = BlankNode(f"namedGraph{k}")
        add(dsd, SD.namedGraph, ng)
        add(ng, RDF.type, SD.NamedGraph)
        add(ng, SD.name, NamedNode(g))
        gb = BlankNode(f"graph{k}")
        add(ng, SD.graph, gb)
        add(gb, RDF.type, SD.Graph)
        add(gb, VOID.triples, _int(n))
    return [Quad(x.subject, x.predicate, x.object) for x in t]


async def graph_body(runtime: Runtime, triples: list[Triple], fmt: str) -> bytes:
    """Serialise a small graph built here (JSON-LD compacted with the published context)."""
    if fmt == "jsonld":
        return jsonld_bytes(triples, runtime.context, dataset=False)
    return rdf_bytes(triples, fmt)
