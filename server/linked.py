"""Linked data: every entity IRI ``<base IRI><path>`` is served at ``/<path>`` of this server.

The data is never rewritten: when the base IRI is not the server's own URL (a test server, a
mirror), the request path is mapped onto the base IRI, and pages link to this server's routes for
IRIs under the base IRI (``/resource?iri=`` for other IRIs of the store, such as ontology terms).

Formats: Turtle (the default, for ``*/*``), HTML for browsers, JSON-LD, N-Triples and RDF/XML, by
Accept header or by suffix (``/agency/341101.ttl``, ``.jsonld``, ``.nt``, ``.rdf``, ``.html``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kg.store import is_iri

from . import formats
from .app import Runtime, RuntimeDep
from .errors import BadRequest, NotFound, UnacceptableFormat
from .jobs import DescribeJob, EntityRdfJob
from .sparql import query_params

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
    if fmt is formats.HTML:
        view = await runtime.run(DescribeJob(iri))
        if not view.found:
            raise NotFound(f"nothing is known about <{iri}>")
        from .pages import render_entity

        response = render_entity(request, runtime, view)
        response.headers.update(headers)
        return response
    answer = await runtime.run(EntityRdfJob(iri, fmt.name, tuple(runtime.context.items())))
    return Response(answer.body, media_type=fmt.content_type, headers=headers)


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
