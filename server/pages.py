"""The site's own pages: the SPARQL editor (YASGUI) at ``/`` and the API documentation at ``/docs``.

Templates live in ``server/templates/`` (Jinja2, autoescaped) and are rendered by
:meth:`server.runtime.Runtime.render`; the other pages belong to the routers of what they show
(:mod:`server.named`, :mod:`server.linked`, :mod:`server.void`, :mod:`server.browse`,
:mod:`server.search`, :mod:`server.graph`), and share how terms are shown (:mod:`server.display`).
The editor opens with every named query as an example, its parameters bound as the ``/queries``
routes bind them, so what an analyst edits is what the server runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from kg.errors import BudgetKGError, UnknownQuery
from kg.namespaces import PREFIXES
from kg.queries import NamedQuery, closest
from kg.store import with_values

from .display import json_script
from .runtime import RuntimeDep, asset_url, vendor_present

router = APIRouter()


# -- the SPARQL editor -----------------------------------------------------------------------
def editor_example(nq: NamedQuery, values: Mapping[str, str | None] | None = None) -> str:
    """A named query as editable SPARQL, its parameters bound by the VALUES block the /queries routes run.

    Laid out for reading: the header becomes comments and the block gets a line of its own, where an
    analyst can change the values.
    """
    values = values or {}
    bound: dict[str, object] = {}
    for p in nq.params:
        raw = values.get(p.name)
        if raw is None and p.default is None:
            continue
        term = p.bind(raw, nq.name)
        if term is not None:
            bound[p.name] = term
    lines = []
    for line in nq.sparql.splitlines():
        lines.append("# " + line[2:].strip() if line.startswith("#+") else line)
    text = "\n".join(lines) + "\n"
    return with_values(text, bound, comment=f"parameters (/queries/{nq.name})")



@router.get("/", response_class=HTMLResponse, tags=["pages"], summary="The SPARQL query editor (YASGUI)")
async def index(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    root = runtime.root(request)
    run = request.query_params.get("run")
    values: dict[str, str | None] = {k: v for k, v in request.query_params.items() if k != "run"}
    problem = None  # a bad ?run= or parameter is said on the page, which still opens
    if run is not None and run not in runtime.queries:
        problem = str(UnknownQuery(run, closest(runtime.settings.queries_dir, run)))
        run = None
    examples = []
    for nq in runtime.queries.values():
        try:
            query = editor_example(nq, values if nq.name == run else None)
        except BudgetKGError as exc:
            problem, run = str(exc), None
            query = editor_example(nq)
        examples.append({"name": nq.name, "title": nq.title_zh, "title_en": nq.title_en,
                         "description": nq.description, "url": f"{root}queries/{nq.name}",
                         "params": [{"name": p.name, "type": p.type, "default": p.default or "",
                                     "description": p.description} for p in nq.params],
                         "query": query})
    config = {"endpoint": f"{root}sparql", "examples": examples, "run": run, "prefixes": PREFIXES,
              "maxRows": runtime.settings.max_rows, "root": root, "baseIri": runtime.settings.base_iri}
    return runtime.render(request, "index.html", status=400 if problem else 200, config=json_script(config),
                          examples=examples, problem=problem)


# -- the API documentation, offline ----------------------------------------------------------
@router.get("/docs", include_in_schema=False)
async def api_docs(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """Swagger UI for /openapi.json, its script and style from /static/vendor/ (swagger-ui-dist from npm)."""
    root = runtime.root(request)
    if not vendor_present("swagger-ui-bundle.js"):
        return HTMLResponse("<p>The API page's assets are not installed: run <code>scripts/setup-assets.sh</code>. "
                            f'The OpenAPI document is at <a href="{root}openapi.json">/openapi.json</a>.</p>',
                            status_code=503)
    page = get_swagger_ui_html(openapi_url=f"{root}openapi.json", title="budgetkg API",
                               swagger_js_url=asset_url(root, "vendor/swagger-ui-bundle.js"),
                               swagger_css_url=asset_url(root, "vendor/swagger-ui.css"),
                               swagger_favicon_url=asset_url(root, "favicon.svg"))
    return page
