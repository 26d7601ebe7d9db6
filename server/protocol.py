"""Reading a request and answering a query over HTTP: what every SPARQL-speaking route shares.

The SPARQL 1.1 Protocol (:mod:`server.sparql`), the named queries (:mod:`server.named`) and the
linked-data routes (:mod:`server.linked`) read parameters and bodies the same way — strictly, so
``%FF`` or an over-long body is a 400 or a 413 that names what is wrong, never a silently mangled
value — and choose a format the same way (``format=`` first, then Accept: :mod:`server.formats`).
:func:`run_query` is the one path a query takes: checked by :mod:`server.safety`, negotiated, looked up
in the result cache (:meth:`server.runtime.Runtime.respond`, keyed by the caller's request key and the
formats chosen), and on a miss its ``bk:search`` patterns rewritten
(:func:`server.textsearch.expand_query`), run in a worker, answered with the row count and whether rows
were cut off.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote_to_bytes

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from kg.namespaces import PREFIXES
from kg.queries import FastForm, Lookup

from . import formats, safety
from .errors import BadRequest, PayloadTooLarge, UnacceptableFormat, UnsupportedMediaType
from .formats import Format
from .jobs import Answer, QueryJob
from .runtime import Runtime, request_key
from .textsearch import expand_query
from .workers import Streaming

FORM = "application/x-www-form-urlencoded"


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


def query_text(sparql: str) -> str:
    r"""A query's text as a cache key holds it: the grammar's blank space around it dropped, nothing inside touched.

    A line end or a space inside may belong to a long literal (``'''a\r\nb'''``), so two texts that
    differ there are two queries; the blank space before the first token and after the last never is.

    >>> query_text("  SELECT * WHERE { ?s ?p ?o }\r\n")
    'SELECT * WHERE { ?s ?p ?o }'
    """
    return sparql.strip(" \t\r\n")  # the grammar's WS only: another space character may be an error to report


def result_response(answer: Answer | Streaming, max_rows: int | None = None) -> Response:
    """An HTTP response for a serialised result, saying when rows were cut off.

    A :class:`~server.workers.Streaming` answer (a large answer of the answer table) is sent as it is written: a
    :class:`~starlette.responses.StreamingResponse` with the same status, headers (but ``Content-Length``: the
    body goes in chunks) and bytes as the whole answer's. It is not kept in the result cache (which keeps whole
    bodies); its ``ETag`` comes from the store generation and the request as any answer's
    (:meth:`server.runtime.Runtime.respond`), so ``If-None-Match`` still answers 304 without running it. When
    the answer cannot be finished after its headers were sent, the iteration raises and the server cuts the
    connection before the body's end: the client sees a broken answer, never a complete-looking 200
    (:mod:`server.workers`)."""
    fmt = _FORMAT_BY_NAME[answer.format]
    headers = {"Vary": "Accept", "X-Result-Rows": str(answer.rows)}
    if answer.truncated:
        headers["X-Truncated"] = "true"
        if max_rows is not None:
            headers["X-Row-Limit"] = str(max_rows)
    if isinstance(answer, Streaming):
        return StreamingResponse(answer.chunks, media_type=fmt.content_type, headers=headers)
    return Response(answer.body, media_type=fmt.content_type, headers=headers)


_FORMAT_BY_NAME = {f.name: f for f in (*formats.RESULT_FORMATS, *formats.GRAPH_FORMATS, *formats.DATASET_FORMATS,
                                       formats.HTML)}


async def run_query(request: Request, runtime: Runtime, sparql: str, *, key: str, name: str = "query",
                    substitutions: tuple[tuple[str, object], ...] = (), default_graphs: tuple[str, ...] | None = None,
                    named_graphs: tuple[str, ...] | None = None, requested: list[str] | None = None,
                    shape: safety.Shape | None = None,
                    lookups: tuple[Lookup, ...] = (), fast: tuple[FastForm, ...] = ()) -> Response:
    """Check, negotiate, run and answer one query.

    ``key`` (:func:`~server.runtime.request_key`) names everything but the format the answer depends on:
    the query text, the dataset, the parameters. The formats chosen are added to it here. ``fast`` are
    a named query's fast forms (:attr:`kg.queries.NamedQuery.fast_forms`); the worker runs the first that
    answers instead while the store's summaries are current (:func:`kg.queries.choose`).
    """
    settings = runtime.settings
    verify = shape is None  # named queries were checked when the server started; their values are RDF terms
    if shape is None:
        shape = safety.check(sparql, settings.service_allowlist, PREFIXES, max_depth=settings.max_query_depth,
                             max_terms=settings.max_query_terms)
    results_fmt = negotiate(request, formats.RESULT_FORMATS, requested)
    graph_fmt = negotiate(request, formats.GRAPH_FORMATS, requested)
    if shape.form in ("SELECT", "ASK") and results_fmt is None:
        raise UnacceptableFormat(f"a {shape.form} result", [f.media_type for f in formats.RESULT_FORMATS])
    if shape.form in ("CONSTRUCT", "DESCRIBE") and graph_fmt is None:
        raise UnacceptableFormat(f"a {shape.form} result", [f.media_type for f in formats.GRAPH_FORMATS])
    # only the format of the query's form goes to the job (and into the key): */* and a precise Accept
    # that choose the same format share an entry, and the job cannot answer in a format the key does not name
    results_name = results_fmt.name if results_fmt and shape.form not in ("CONSTRUCT", "DESCRIBE") else None
    graph_name = graph_fmt.name if graph_fmt and shape.form not in ("SELECT", "ASK") else None
    has_dataset = shape.has_dataset

    async def answer() -> Response:
        expanded = await expand_query(runtime, sparql)  # bk:search patterns → VALUES blocks (docs/search.md)
        job = QueryJob(expanded, name, substitutions, default_graphs, named_graphs, has_dataset, results_name,
                       graph_name, settings.max_rows, verify=verify, lookups=lookups, fast=fast)
        return result_response(await runtime.run(job), settings.max_rows)

    return await runtime.respond(request, request_key(key, results_name, graph_name), answer)


