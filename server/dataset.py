"""The dataset as a whole: VoID + DCAT description, SPARQL service description, dumps, JSON-LD context.

The dataset's IRI is ``<base IRI>dataset``, so like every entity it is served at ``/dataset``
(and at ``/.well-known/void``). Counts come from the store once per store generation; dumps are
made once per generation and kept in memory (every write to the store starts a new generation).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
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

from . import formats
from .app import Runtime, RuntimeDep
from .errors import NotFound, UnacceptableFormat
from .jobs import CountsJob, DumpJob, jsonld_bytes
from .results import rdf_bytes

router = APIRouter()

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
_DUMP_BY_FILE = {v[0]: k for k, v in DUMPS.items()}

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
    from urllib.parse import quote

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


_DESCRIPTION_FORMATS = (*formats.GRAPH_FORMATS, formats.HTML)


@router.get("/dataset", tags=["dataset"], summary="VoID and DCAT description of the dataset",
            responses={200: {"content": {f.media_type: {} for f in _DESCRIPTION_FORMATS}}})
@router.get("/.well-known/void", tags=["dataset"], summary="VoID description (well-known location)")
async def dataset_description(request: Request, runtime: RuntimeDep) -> Response:
    return await _describe(request, runtime, None)


@router.get("/dataset.{suffix}", include_in_schema=False)
async def dataset_description_suffix(suffix: str, request: Request,
                                     runtime: RuntimeDep) -> Response:
    fmt = formats.SUFFIXES.get("." + suffix)
    if fmt is None:
        raise NotFound(f"no format with suffix .{suffix}")
    return await _describe(request, runtime, fmt)


async def _describe(request: Request, runtime: Runtime, fmt: formats.Format | None) -> Response:
    if fmt is None:
        fmt = formats.choose(request.headers.get("accept"), _DESCRIPTION_FORMATS,
                             request.query_params.getlist("format"))
    if fmt is None:
        raise UnacceptableFormat("the dataset description", [f.media_type for f in _DESCRIPTION_FORMATS])
    triples = await description_triples(request, runtime)
    if fmt is formats.HTML:
        from .pages import render_dataset

        return render_dataset(request, runtime, triples, await counts(runtime))
    return Response(await graph_body(runtime, triples, fmt.name), media_type=fmt.content_type,
                    headers={"Vary": "Accept"})


@router.get("/dumps/{file}", tags=["dataset"], summary="Dumps: budgetkg.nq.gz, budgetkg.ttl, budgetkg.jsonld, "
                                                       "budgetkg.trig")
async def dump(file: str, runtime: RuntimeDep) -> Response:
    name = _DUMP_BY_FILE.get(file)
    if name is None:
        raise NotFound(f"no dump {file!r}; available: {', '.join(_DUMP_BY_FILE)}")
    fname, fmt, ctype, _media, _gz = DUMPS[name]
    answer = await runtime.cached("dump:" + name, DumpJob(fmt, tuple(runtime.context.items())),
                                  max(runtime.settings.query_timeout, 300.0))
    return Response(answer.body, media_type=ctype,
                    headers={"Content-Disposition": f'attachment; filename="{fname}"'})


@router.get("/context.jsonld", tags=["dataset"], summary="The JSON-LD context of the dumps and JSON-LD responses")
async def context(runtime: RuntimeDep) -> Response:
    body = json.dumps({"@context": runtime.context}, ensure_ascii=False, indent=1).encode("utf-8")
    return Response(body, media_type="application/ld+json; charset=utf-8")
