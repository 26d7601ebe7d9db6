"""Linked data: every entity IRI ``<base IRI><path>`` is served at ``/<path>`` of this server.

The data is never rewritten: when the base IRI is not the server's own URL (a test server, a
mirror), the request path is mapped onto the base IRI, and pages link to this server's routes for
IRIs under the base IRI (``/resource?iri=`` for other IRIs of the store, such as ontology terms).

Formats: Turtle (the default, for ``*/*``), HTML for browsers, JSON-LD, N-Triples and RDF/XML, by
Accept header or by suffix (``/agency/341101.ttl``, ``.jsonld``, ``.nt``, ``.rdf``, ``.html``).
Pages and descriptions are kept in the result cache of their store generation, keyed by the IRI and the
format (:meth:`server.runtime.Runtime.respond`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kg.namespaces import RDF
from kg.store import is_iri

from . import formats
from .display import Linker, curie, wan
from .errors import BadRequest, NotFound, UnacceptableFormat
from .jobs import DescribeJob, EntityRdfJob, EntityView
from .protocol import query_params
from .runtime import Runtime, RuntimeDep, request_key

router = APIRouter()

#: Default first: ``*/*`` (curl, scripts) gets Turtle; browsers ask for text/html by name.
ENTITY_FORMATS = (formats.TURTLE, formats.HTML, formats.JSONLD, formats.NTRIPLES, formats.RDFXML)


async def answer_entity(request: Request, runtime: Runtime, iri: str, fmt: formats.Format | None,
                        alternates_base: str | None) -> Response:
    if not is_iri(iri) or "\ufffd" in iri:
        raise NotFound(f"not an entity IRI: {iri!r}")
    if fmt is None:
        fmt = formats.choose(request.headers.get("accept"), ENTITY_FORMATS, request.query_params.getlist("format"))
    if fmt is None:
        raise UnacceptableFormat("an entity description", [f.media_type for f in ENTITY_FORMATS])
    headers = {"Vary": "Accept"}
    if alternates_base:
        headers["Link"] = ", ".join(f'<{alternates_base}{f.suffix}>; rel="alternate"; type="{f.media_type}"'
                                    for f in ENTITY_FORMATS if f.suffix)
    chosen = fmt

    async def describe() -> Response:
        if chosen is formats.HTML:
            view = await runtime.run(DescribeJob(iri))
            if not view.found:
                raise NotFound(f"nothing is known about <{iri}>")
            response = render_entity(request, runtime, view)
            response.headers.update(headers)
            return response
        answer = await runtime.run(EntityRdfJob(iri, chosen.name, tuple(runtime.context.items())))
        return Response(answer.body, media_type=chosen.content_type, headers=headers)

    return await runtime.respond(request, request_key("entity", iri, fmt.name, alternates_base), describe)


# -- the entity page ------------------------------------------------------------------------
def render_entity(request: Request, runtime: Runtime, view: EntityView) -> HTMLResponse:
    """An entity's page: its properties grouped by predicate, what points at it, and the source lines it came from."""
    link = Linker(request, runtime, view.labels)
    groups: dict[str, list[dict[str, Any]]] = {}
    for p, o, _g in sorted(view.outgoing, key=lambda x: (x[0] != RDF.type.value, curie(x[0]), x[1][1])):
        groups.setdefault(p, []).append(link.term(o))
    properties = [{"predicate": link.iri(p), "values": vs} for p, vs in groups.items()]
    incoming: dict[str, list[dict[str, Any]]] = {}
    for s, p, _g in view.incoming:
        incoming.setdefault(p, []).append(link.iri(s))
    base = runtime.local_url(request, view.iri)
    own = view.iri.startswith(runtime.settings.base_iri)
    alternates = ({s: f"{base}{s}" for s in (".ttl", ".jsonld", ".nt", ".rdf")} if own else
                  {s: f"{base}&format={n}" for s, n in ((".ttl", "turtle"), (".jsonld", "jsonld"),
                                                         (".nt", "ntriples"), (".rdf", "rdfxml"))})
    base_iri = runtime.settings.base_iri
    path = view.iri[len(base_iri):] if own else curie(view.iri)
    kind = next((view.labels.get(t) for t in view.types if view.labels.get(t)), "")
    title = view.labels.get(view.iri) or (f"{kind} {path}".strip())
    extra = _readable(request, runtime, view)
    return runtime.render(request, "entity.html", view=view, title=title, properties=properties, **extra,
                          incoming=[{"predicate": link.iri(p), "subjects": ss} for p, ss in incoming.items()],
                          types=[link.iri(t) for t in view.types], sources=[
                              {"document": link.iri(d), "file": f, "start": a, "end": b, "lines": lines,
                               "via": link.iri(via) if via else None} for d, f, a, b, lines, via in view.sources],
                          documents=[{"document": link.iri(d), "file": f} for d, f in view.documents],
                          alternates=alternates)


def _readable(request: Request, runtime: Runtime, view: EntityView) -> dict[str, Any]:
    """Helpers and totals for the readable head of a project or agency page."""
    def href(iri: object) -> str:
        return runtime.local_url(request, str(iri))

    def wan_yuan(yuan: object) -> str:
        return "" if yuan is None else wan(Decimal(str(yuan)) / 10000)

    def num(value: object) -> str:
        d = Decimal(str(value))
        return f"{d:,f}".rstrip("0").rstrip(".") if "." in f"{d:f}" else f"{d:,f}"

    extra: dict[str, Any] = {"href": href, "wan": wan_yuan, "wan_yuan": wan_yuan, "num": num}
    if view.agency is not None:
        ag = view.agency
        code = str(ag.summary.get("code") or view.iri.rsplit("/", 1)[-1])
        facet = "department" if len(code) == 3 else "unit"
        root = runtime.root(request)
        label = view.labels.get(view.iri) or code
        nodes = [{"data": {"id": view.iri, "label": label, "kind": "self"}}]
        edges: list[dict[str, Any]] = []
        for partner in ag.partners[:25]:
            pid = str(partner["partner"])
            nodes.append({"data": {"id": pid, "label": str(partner.get("partner_name") or pid.rsplit("/", 1)[-1]),
                                   "kind": "partner", "href": href(pid)}})
            edges.append({"data": {"id": f"e{len(edges)}", "source": view.iri, "target": pid,
                                   "weight": int(str(partner["links"]))}})
        # the project table's rows with their links and amounts made here: a department lists hundreds
        projects = [{**p, "href": href(p["project"]), "wan": wan_yuan(p["budget"])} for p in ag.projects]
        extra.update(total=ag.total, by_funding=ag.by_funding, by_year=ag.by_year, projects=projects,
                     browse_href=f"{root}projects?{facet}={code}",
                     neighbourhood=json.dumps({"nodes": nodes, "edges": edges}, ensure_ascii=False))
    return extra


@router.get("/resource", tags=["linked data"], summary="Describe any IRI of the store (?iri=)",
            responses={200: {"content": {f.media_type: {} for f in ENTITY_FORMATS}}})
async def resource(request: Request, iri: str, runtime: RuntimeDep) -> Response:
    query_params(request)  # %FF in ?iri= is a 400, not a U+FFFD in the IRI
    if not iri or any(c in iri for c in ' <>"{}|\\^`') or not is_iri(iri):
        raise BadRequest("iri must be an absolute IRI")
    return await answer_entity(request, runtime, iri, None, None)


@router.head("/{path:path}", include_in_schema=False)
@router.get("/{path:path}", tags=["linked data"],
                  summary="An entity: <base IRI><path> (Turtle, HTML, JSON-LD, N-Triples, RDF/XML)",
                  responses={200: {"content": {f.media_type: {} for f in ENTITY_FORMATS}}})
async def entity(path: str, request: Request, runtime: RuntimeDep) -> Response:
    stem, dot, ext = path.rpartition(".")
    fmt = formats.SUFFIXES.get("." + ext) if dot and "/" not in ext else None
    if fmt is not None:
        path = stem
    if not path:
        raise NotFound("no such page")
    iri = runtime.iri_for_path(path)
    return await answer_entity(request, runtime, iri, fmt, runtime.local_url(request, iri))
