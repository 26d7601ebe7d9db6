"""SPARQL 1.1 Protocol (``/sparql``), SPARQL Update (``/update``) and Graph Store Protocol reads (``/store``).

Query operation: GET ``?query=``, POST ``application/x-www-form-urlencoded`` (``query=``) or POST
``application/sparql-query`` (the query is the body); ``default-graph-uri`` and
``named-graph-uri`` (repeatable) set the dataset; the result format comes from ``format=`` or the
Accept header (:mod:`server.formats`). Without protocol or ``FROM`` dataset, the default graph is
the union of the published graphs. A plain GET returns the service description
(:mod:`server.dataset`). Reading the request and running the query are shared with the named-query
routes (:mod:`server.protocol`).

Query answers (GET or POST) and Graph Store reads are kept in the result cache of their store generation
(:meth:`server.runtime.Runtime.respond`): a query's key is its text (:func:`server.protocol.query_text`),
its dataset parameters and the format chosen. Updates are never cached; ``/health`` reports the cache.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kg.errors import BudgetKGError
from kg.namespaces import PREFIXES
from kg.store import is_iri

from . import formats, safety
from .dataset import graph_body, service_description_quads
from .errors import BadRequest, Forbidden, MethodNotAllowed, UnacceptableFormat, Unauthorized
from .jobs import GraphJob, UpdateJob
from .protocol import negotiate, protocol_params, query_text, run_query
from .runtime import Runtime, RuntimeDep, request_key
from .sandbox import ProbeJob

router = APIRouter()

SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"


_SPARQL_DOC: dict[str, Any] = {
    "tags": ["SPARQL"],
    "description": "Query via GET `?query=`, POST form (`query=`) or POST `application/sparql-query`. SELECT/ASK: "
                   "JSON, XML, CSV, TSV; CONSTRUCT/DESCRIBE: Turtle, JSON-LD, N-Triples, RDF/XML, by `format=` or "
                   "Accept. A plain GET returns the service description. SERVICE is refused unless allow-listed; "
                   "results over the row limit are cut (`X-Truncated: true`).",
    "responses": {200: {"content": {f.media_type: {} for f in (*formats.RESULT_FORMATS, *formats.GRAPH_FORMATS)}}},
}


@router.get("/sparql", summary="SPARQL 1.1 Protocol query (GET ?query=)", **_SPARQL_DOC)
@router.post("/sparql", summary="SPARQL 1.1 Protocol query (POST form or application/sparql-query)", **_SPARQL_DOC)
async def sparql_endpoint(request: Request, runtime: RuntimeDep) -> Response:
    params, query = await protocol_params(request, runtime, "query", SPARQL_QUERY)
    if "update" in params:
        raise BadRequest("SPARQL Update goes to /update (POST, with the bearer token)")
    if query is None:
        if request.method == "GET":
            return await service_description(request, runtime, params.get("format"))
        raise BadRequest("no 'query' parameter and no application/sparql-query body")
    dg = tuple(params["default-graph-uri"]) if "default-graph-uri" in params else None
    ng = tuple(params["named-graph-uri"]) if "named-graph-uri" in params else None
    _check_iris(*(dg or ()), *(ng or ()), what="default-graph-uri and named-graph-uri")
    return await run_query(request, runtime, query, key=request_key("sparql", query_text(query), dg, ng),
                           default_graphs=dg, named_graphs=ng, requested=params.get("format"))


def _check_iris(*values: str, what: str) -> None:
    """Refuse graph names that are not IRIs here (400), not in a worker, where they were a 500."""
    for value in values:
        if not is_iri(value):
            raise BadRequest(f"{what} must be absolute IRIs, not {value[:200]!r}")


async def service_description(request: Request, runtime: Runtime, requested: list[str] | None) -> Response:
    fmt = negotiate(request, (*formats.GRAPH_FORMATS, formats.HTML), requested)
    if fmt is None:
        raise UnacceptableFormat("the service description", [f.media_type for f in formats.GRAPH_FORMATS])
    if fmt is formats.HTML:
        return RedirectResponse(runtime.root(request), status_code=303)

    async def describe() -> Response:
        triples = [q.triple for q in await service_description_quads(request, runtime)]
        return Response(await graph_body(runtime, triples, fmt.name), media_type=fmt.content_type,
                        headers={"Vary": "Accept"})

    return await runtime.respond(request, request_key("service-description", fmt.name), describe)


@router.post("/update", tags=["SPARQL"], summary="SPARQL 1.1 Update (needs the bearer token)",
             description="Disabled unless the server was started with `BUDGETKG_UPDATE_TOKEN`; send "
                         "`Authorization: Bearer <token>`. Body: `application/sparql-update`, or a form with "
                         "`update=`. `LOAD` and `SERVICE` are refused unless allow-listed. 204 on success.",
             status_code=204)
async def update_endpoint(request: Request, runtime: RuntimeDep) -> Response:
    token = runtime.settings.update_token
    if not token:
        raise Forbidden("SPARQL Update is disabled on this server (start it with BUDGETKG_UPDATE_TOKEN set)")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("SPARQL Update needs 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise Forbidden("wrong bearer token")
    params, update = await protocol_params(request, runtime, "update", SPARQL_UPDATE)
    if update is None:
        raise BadRequest("no 'update' parameter and no application/sparql-update body")
    if "using-graph-uri" in params or "using-named-graph-uri" in params:
        raise BadRequest("using-graph-uri and using-named-graph-uri are not supported; write USING in the update")
    settings = runtime.settings
    safety.check(update, settings.service_allowlist, PREFIXES, max_depth=settings.max_query_depth,
                 max_terms=settings.max_query_terms)
    await runtime.executor.update(UpdateJob(update), runtime.settings.query_timeout)
    return Response(status_code=204)


@router.head("/store", include_in_schema=False)
@router.get("/store", tags=["Graph Store Protocol"],
                  summary="Graph Store Protocol (read): ?graph=<iri>, ?default, or the whole dataset",
                  responses={200: {"content": {f.media_type: {} for f in (*formats.GRAPH_FORMATS,
                                                                          *formats.DATASET_FORMATS)}}})
async def graph_store(request: Request, runtime: RuntimeDep) -> Response:
    params = request.query_params
    requested = params.getlist("format")
    graphs = params.getlist("graph")
    if len(graphs) > 1 or (graphs and "default" in params):
        raise BadRequest("name one graph: ?graph=<iri> or ?default")
    _check_iris(*graphs, what="graph")
    if graphs or "default" in params:
        fmt = negotiate(request, formats.GRAPH_FORMATS, requested)
        if fmt is None:
            raise UnacceptableFormat("a graph", [f.media_type for f in formats.GRAPH_FORMATS])
        job = GraphJob(graphs[0] if graphs else None, fmt.name)
        key = request_key("store-graph", graphs[0] if graphs else None, fmt.name)
    else:
        fmt = negotiate(request, formats.DATASET_FORMATS, requested)
        if fmt is None:
            raise UnacceptableFormat("the dataset", [f.media_type for f in formats.DATASET_FORMATS])
        job = GraphJob(None, fmt.name, dataset=True)
        key = request_key("store-dataset", fmt.name)
    media_type = fmt.content_type

    async def read() -> Response:
        answer = await runtime.run(job, max(runtime.settings.query_timeout, 60.0))
        return Response(answer.body, media_type=media_type, headers={"Vary": "Accept"})

    return await runtime.respond(request, key, read)


@router.api_route("/store", methods=["PUT", "POST", "DELETE", "PATCH"], include_in_schema=False)
async def graph_store_write() -> Response:
    raise MethodNotAllowed("the Graph Store endpoint is read-only; change data with SPARQL Update at /update")


@router.get("/health", tags=["server"], summary="Liveness, worker status (mode, workers, restarts, time-outs) "
                                                "and what the workers' sandbox holds back")
async def health(request: Request, runtime: RuntimeDep) -> dict[str, object]:
    # a live worker says what it can reach (server.sandbox), once: never a silent fallback, and /health
    # stays instant afterwards even while every worker is busy
    sandbox = getattr(request.app.state, "sandbox", None)
    if sandbox is None:
        try:
            sandbox = await runtime.run(ProbeJob(), min(runtime.settings.query_timeout, 5.0))
            request.app.state.sandbox = sandbox
        except BudgetKGError as exc:
            sandbox = {"confined": None, "error": str(exc)}
    return {"ok": True, "base_iri": runtime.settings.base_iri, **runtime.executor.status(), "sandbox": sandbox,
            "cache": runtime.results.status()}
