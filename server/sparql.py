"""SPARQL 1.1 Protocol (``/sparql``), SPARQL Update (``/update``) and Graph Store Protocol reads (``/store``).

Query operation: GET ``?query=``, POST ``application/x-www-form-urlencoded`` (``query=``) or POST
``application/sparql-query`` (the query is the body); ``default-graph-uri`` and
``named-graph-uri`` (repeatable) set the dataset; the result format comes from ``format=`` or the
Accept header (:mod:`server.formats`). Without protocol or ``FROM`` dataset, the default graph is
the union of the published graphs. A plain GET returns the service description.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from kg.errors import BudgetKGError
from kg.namespaces import PREFIXES
from kg.queries import Lookup
from kg.store import is_iri

from . import formats, safety
from .app import Runtime, RuntimeDep
from .errors import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    PayloadTooLarge,
    UnacceptableFormat,
    Unauthorized,
    UnsupportedMediaType,
)
from .formats import Format
from .jobs import Answer, GraphJob, QueryJob, UpdateJob
from .sandbox import ProbeJob
from .search import expand_query

router = APIRouter()

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def query_params(request: Request) -> list[tuple[str, str]]:
    """The URL's parameters, percent-decoded as strict UTF-8: ``%FF`` is a 400 naming the parameter.

    Starlette decodes them with replacement characters, so ``?code=%FF`` would silently become
    ``code=\ufffd``; this reads the raw query string instead.
    """
    out = []
    for part in request.scope.get("query_string", b"").split(b"&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition(b"=")
        try:
            key = unquote_to_bytes(raw_key.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"a parameter name is not UTF-8 once percent-decoded: {raw_key[:100]!r}") from None
        try:
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"parameter {key[:100]!r} is not UTF-8 once percent-decoded: "
                             f"{raw_value[:100]!r}") from None
        out.append((key, value))
    return out


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the request body is not UTF-8: {exc}") from None


async def protocol_params(request: Request, runtime: Runtime, text_field: str,
                          direct_type: str) -> tuple[dict[str, list[str]], str | None]:
    """``(parameters, operation text)`` of a protocol request (GET, POST form, or POST direct)."""
    params: dict[str, list[str]] = {}
    for k, v in query_params(request):
        params.setdefault(k, []).append(v)
    text: str | None = None
    if request.method == "POST":
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await read_body(request, runtime.settings.max_body_bytes)
        if not body and not ctype:
            pass  # an empty POST: no parameters
        elif ctype == FORM:
            try:
                form = parse_qs(_decode(body), keep_blank_values=True, errors="strict")
            except UnicodeDecodeError as exc:
                raise BadRequest(f"a form field is not UTF-8 once percent-decoded: {exc}") from None
            for k, vs in form.items():
                params.setdefault(k, []).extend(vs)
        elif ctype == direct_type:
            text = _decode(body)
        else:
            raise UnsupportedMediaType(f"POST a body of type {FORM} or {direct_type}, not {ctype or 'none'}")
    values = params.get(text_field, [])
    if text is not None and values:
        raise BadRequest(f"give the {text_field} either as the body or as a parameter, not both")
    if len(values) > 1:
        raise BadRequest(f"exactly one '{text_field}' parameter is allowed, got {len(values)}")
    if values:
        text = values[0]
    if text is not None and len(text.encode("utf-8")) > runtime.settings.max_body_bytes:
        raise PayloadTooLarge(runtime.settings.max_body_bytes)
    return params, text


def negotiate(request: Request, offers: tuple[Format, ...], requested: list[str] | None = None) -> Format | None:
    """The format for ``offers`` (``format=`` first, then Accept), or None when nothing is acceptable."""
    return formats.choose(request.headers.get("accept"), offers, requested)


def result_response(answer: Answer, max_rows: int | None = None) -> Response:
    """An HTTP response for a serialised result, saying when rows were cut off."""
    fmt = _FORMAT_BY_NAME[answer.format]
    headers = {"Vary": "Accept", "X-Result-Rows": str(answer.rows)}
    if answer.truncated:
        headers["X-Truncated"] = "true"
        if max_rows is not None:
            headers["X-Row-Limit"] = str(max_rows)
    return Response(answer.body, media_type=fmt.content_type, headers=headers)


_FORMAT_BY_NAME = {f.name: f for f in (*formats.RESULT_FORMATS, *formats.GRAPH_FORMATS, *formats.DATASET_FORMATS,
                                       formats.HTML)}


async def run_query(request: Request, runtime: Runtime, sparql: str, *, name: str = "query",
                    substitutions: tuple[tuple[str, object], ...] = (), default_graphs: tuple[str, ...] | None = None,
                    named_graphs: tuple[str, ...] | None = None, requested: list[str] | None = None,
                    shape: safety.Shape | None = None,
                    lookups: tuple[Lookup, ...] = ()) -> Response:
    """Check, negotiate, run and answer one query."""
    settings = runtime.settings
    verify = shape is None  # named queries were checked when the server started; their values are RDF terms
    if shape is None:
        shape = safety.check(sparql, settings.service_allowlist, PREFIXES, max_depth=settings.max_query_depth,
                             max_terms=settings.max_query_terms)
    sparql = await expand_query(runtime, sparql)  # bk:search patterns → VALUES blocks (docs/search.md)
    results_fmt = negotiate(request, formats.RESULT_FORMATS, requested)
    graph_fmt = negotiate(request, formats.GRAPH_FORMATS, requested)
    if shape.form in ("SELECT", "ASK") and results_fmt is None:
        raise UnacceptableFormat(f"a {shape.form} result", [f.media_type for f in formats.RESULT_FORMATS])
    if shape.form in ("CONSTRUCT", "DESCRIBE") and graph_fmt is None:
        raise UnacceptableFormat(f"a {shape.form} result", [f.media_type for f in formats.GRAPH_FORMATS])
    job = QueryJob(sparql, name, substitutions, default_graphs, named_graphs, shape.has_dataset,
                   results_fmt.name if results_fmt else None, graph_fmt.name if graph_fmt else None,
                   settings.max_rows, verify=verify, lookups=lookups)
    answer = await runtime.run(job)
    return result_response(answer, settings.max_rows)


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
    return await run_query(request, runtime, query, default_graphs=dg, named_graphs=ng,
                           requested=params.get("format"))


def _check_iris(*values: str, what: str) -> None:
    """Refuse graph names that are not IRIs here (400), not in a worker, where they were a 500."""
    for value in values:
        if not is_iri(value):
            raise BadRequest(f"{what} must be absolute IRIs, not {value[:200]!r}")


async def service_description(request: Request, runtime: Runtime, requested: list[str] | None) -> Response:
    from .dataset import service_description_quads

    fmt = negotiate(request, (*formats.GRAPH_FORMATS, formats.HTML), requested)
    if fmt is None:
        raise UnacceptableFormat("the service description", [f.media_type for f in formats.GRAPH_FORMATS])
    if fmt is formats.HTML:
        return RedirectResponse(runtime.root(request), status_code=303)
    triples = [q.triple for q in await service_description_quads(request, runtime)]
    from .dataset import graph_body

    return Response(await graph_body(runtime, triples, fmt.name), media_type=fmt.content_type,
                    headers={"Vary": "Accept"})


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
    else:
        fmt = negotiate(request, formats.DATASET_FORMATS, requested)
        if fmt is None:
            raise UnacceptableFormat("the dataset", [f.media_type for f in formats.DATASET_FORMATS])
        job = GraphJob(None, fmt.name, dataset=True)
    answer = await runtime.run(job, max(runtime.settings.query_timeout, 60.0))
    return Response(answer.body, media_type=fmt.content_type, headers={"Vary": "Accept"})


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
    return {"ok": True, "base_iri": runtime.settings.base_iri, **runtime.executor.status(), "sandbox": sandbox}
