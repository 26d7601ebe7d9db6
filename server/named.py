"""Named queries over HTTP: ``/queries`` lists them, ``/queries/{name}`` runs one.

Each ``queries/*.rq`` gets its own route, so the OpenAPI document (``/docs``) shows its title,
description and typed parameters. Parameters come from the URL (``?code=341101``), are typed by
:meth:`kg.queries.NamedQuery.bindings` and bound as RDF terms in a ``VALUES`` block
(:func:`kg.store.with_values`), never pasted into the query text as strings. ``format=`` is
reserved for the output format (json, xml, csv, tsv; html for a page); browsers asking for HTML
get a results table. Answers and pages are kept in the result cache of their store generation, keyed by
the query's name, its parameters as given and the format (:meth:`server.runtime.Runtime.respond`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kg.errors import NoSuchValue, UnknownQuery
from kg.namespaces import PREFIXES
from kg.queries import COLUMN_LABELS, NamedQuery, closest

from . import formats, safety
from .display import Linker, json_script
from .errors import BadRequest
from .jobs import Answer, QueryJob, Table
from .protocol import negotiate, query_params, run_query
from .runtime import Runtime, RuntimeDep, request_key, vendor_present

_SCHEMA = {
    "iri": {"type": "string", "description": "an IRI, or a prefixed name such as unit:PERCENT"},
    "string": {"type": "string"},
    "zh": {"type": "string"},
    "agency": {"type": "string", "description": "a budget-unit or department code (prefix) or name"},
    "project": {"type": "string", "description": "a project name (项目名称) or a part of it"},
    "funding": {"type": "string", "description": "a funding source: key, label or synonym (专项债 = 专项债券 …)"},
    "integer": {"type": "integer"},
    "decimal": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
}


def offers_for(nq: NamedQuery) -> tuple[formats.Format, ...]:
    base = formats.GRAPH_FORMATS if nq.kind in ("CONSTRUCT", "DESCRIBE") else formats.RESULT_FORMATS
    return (*base, formats.HTML)


def describe(nq: NamedQuery, root: str) -> dict[str, Any]:
    """A named query as JSON (the /queries listing)."""
    return {
        "name": nq.name,
        "title": {"zh": nq.title_zh, "en": nq.title_en},
        "description": nq.description,
        "kind": nq.kind,
        "tags": list(nq.tags),
        "params": [{"name": p.name, "type": p.type, "default": p.default, "required": p.default is None,
                    "description": p.description} for p in nq.params],
        "url": f"{root}queries/{nq.name}",
        "formats": [f.name for f in offers_for(nq)],
        "sparql": nq.sparql,
    }


def _values(request: Request) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for k, v in query_params(request):
        if k == "format":
            continue
        if k in values:
            raise BadRequest(f"parameter {k!r} is given twice")
        values[k] = v
    return values


def _openapi(nq: NamedQuery) -> dict[str, Any]:
    params = []
    for p in nq.params:
        schema = dict(_SCHEMA[p.type])
        if p.default is not None:
            schema["default"] = p.default
        params.append({"name": p.name, "in": "query", "required": p.default is None,
                       "description": p.description, "schema": schema})
    params.append({"name": "format", "in": "query", "required": False,
                   "description": "Output format (else the Accept header decides).",
                   "schema": {"type": "string", "enum": [f.name for f in offers_for(nq)]}})
    return {"parameters": params}


def _endpoint(nq: NamedQuery, shape: safety.Shape) -> Any:
    offers = offers_for(nq)

    async def run_named_query(request: Request, runtime: RuntimeDep) -> Response:
        if nq.name in runtime.refused:
            raise runtime.refused[nq.name]
        values = _values(request)
        requested = request.query_params.getlist("format")
        fmt = negotiate(request, offers, requested)
        if fmt is formats.HTML:
            # a value that names nothing (or several things) is shown in the page, with its nearest values as links
            try:
                bindings = nq.bindings(values)
            except NoSuchValue as exc:
                return render_named_result(request, runtime, nq, None, problem=exc)
        else:
            bindings = nq.bindings(values)
        subs = tuple(bindings.items())
        lookups = tuple(nq.lookups(bindings))
        # the values as given, not only their RDF terms: the page shows them in its form and links
        key = request_key("queries", nq.name, sorted(values.items()))
        if fmt is formats.HTML:
            async def page() -> Response:
                job = QueryJob(nq.sparql, nq.name, subs, results_format="table", graph_format="turtle",
                               max_rows=runtime.settings.max_rows, verify=False, lookups=lookups,
                               fast=nq.fast_forms)
                try:
                    result: Table | Answer = await runtime.run(job)
                except NoSuchValue as exc:
                    return render_named_result(request, runtime, nq, None, problem=exc)
                return render_named_result(request, runtime, nq, result)

            return await runtime.respond(request, request_key(key, fmt.name), page)
        return await run_query(request, runtime, nq.sparql, key=key, name=nq.name, substitutions=subs,
                               requested=requested, shape=shape, lookups=lookups,
                               fast=nq.fast_forms)

    run_named_query.__name__ = f"query_{nq.name}"
    return run_named_query


def render_queries(request: Request, runtime: Runtime) -> HTMLResponse:
    """The /queries page: every named query with its parameters and links."""
    root = runtime.root(request)
    return runtime.render(request, "queries.html", queries=[describe(q, root) for q in runtime.queries.values()])


def render_named_result(request: Request, runtime: Runtime, nq: NamedQuery, result: Table | Answer | None,
                        problem: NoSuchValue | None = None) -> HTMLResponse:
    """A named query's result as a page: a table (with a chart when the assets are there), or the graph's text;
    or, for a ``problem`` value (HTTP 404), the form with what matched nothing and the nearest values as links."""
    link = Linker(request, runtime, compact=True)
    values = {k: v for k, v in request.query_params.items() if k != "format"}
    ctx: dict[str, Any] = {"q": nq, "values": values, "max_rows": runtime.settings.max_rows,
                           "params": [{"name": p.name, "type": p.type, "description": p.description,
                                       "value": values.get(p.name, p.default or "")} for p in nq.params]}
    base = f"{runtime.root(request)}queries/{nq.name}?"
    ctx["downloads"] = {f: base + urlencode({**values, "format": f}) for f in ("csv", "tsv", "json", "xml")}
    if problem is not None:
        ctx.update(variables=[], rows=[], truncated=False, problem=problem,
                   choices=[(v, base + urlencode({**values, problem.param: v, "format": "html"}))
                            for v in problem.nearest])
        return runtime.render(request, "named_result.html", status=404, **ctx)
    if isinstance(result, Table):
        # for people: no column that only repeats an empty parameter, and Chinese headers
        hidden = nq.echoes(dict(values))
        keep = [i for i, v in enumerate(result.variables) if v not in hidden]
        shown = [result.variables[i] for i in keep]
        # each distinct term written once (term.html), however many cells show it: an answer of thousands of rows
        # repeats its parameters, units and projects on row after row
        term_html = runtime.templates.get_template("term.html")
        written: dict[object, Markup] = {}

        def cell(t: object) -> Markup:
            html = written.get(t)
            if html is None:
                html = written[t] = Markup(term_html.render(t=link.pyterm(t)))
            return html

        ctx.update(variables=shown, headers=[(COLUMN_LABELS.get(v), v) for v in shown], truncated=result.truncated,
                   rows=[[cell(row[i]) for i in keep] for row in result.rows])
        plain_rows = [["" if row[i] is None else getattr(row[i], "value", str(row[i])) for i in keep]
                      for row in result.rows]
        ctx.update(chart_data=json_script({"columns": shown, "rows": plain_rows}),
                   chart_assets=vendor_present("chart.umd.js"))
    else:
        assert result is not None
        ctx.update(variables=[], rows=[], truncated=result.truncated, text=result.body.decode("utf-8"))
    return runtime.render(request, "named_result.html", **ctx)


def register(app: FastAPI, runtime: Runtime) -> None:
    """Add ``/queries`` and one route per named query to ``app``."""
    router = APIRouter(tags=["named queries"])

    @router.get("/queries", summary="The named queries (JSON; HTML for browsers)")
    async def list_queries(request: Request, runtime: RuntimeDep) -> Response:
        fmt = formats.choose(request.headers.get("accept"), (formats.JSON, formats.HTML),
                             request.query_params.getlist("format"))

        async def listing() -> Response:
            if fmt is formats.HTML:
                return render_queries(request, runtime)
            root = runtime.root(request)
            body = json.dumps([describe(q, root) for q in runtime.queries.values()], ensure_ascii=False, indent=1)
            return Response(body.encode("utf-8"), media_type="application/json; charset=utf-8",
                            headers={"Vary": "Accept"})

        return await runtime.respond(request, request_key("queries", fmt.name if fmt else None), listing)

    for nq in runtime.queries.values():
        shape = safety.inspect(nq.sparql, PREFIXES)
        router.add_api_route(
            f"/queries/{nq.name}", _endpoint(nq, shape), methods=["GET"],
            summary=f"{nq.title_zh} — {nq.title_en}", description=nq.description, openapi_extra=_openapi(nq),
            responses={200: {"description": f"{nq.kind} results",
                             "content": {f.media_type: {} for f in offers_for(nq)}}},
        )

    @router.get("/queries/{name}", include_in_schema=False)
    async def unknown_query(name: str) -> Response:
        raise UnknownQuery(name, closest(runtime.settings.queries_dir, name))

    app.include_router(router)
