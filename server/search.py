"""Full-text search: ``GET /search?q=…`` (HTML, or JSON by ``format=json`` / ``Accept: application/json``).

The search runs as a job on the query workers, over the index each worker opens once (checked
against its view of the store, see :mod:`kg.search` and :mod:`server.textsearch`, which also
rewrites the ``bk:search`` patterns of SPARQL queries).
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import escape

from kg import search as fulltext

from .runtime import Runtime, RuntimeDep
from .textsearch import PER_PAGE, SearchJob

router = APIRouter()

#: The most hits on one page a client may ask for.
MAX_PER_PAGE = 200
KINDS = ("project", "unit", "department", "vendor")


def _wants_json(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _highlight(text: str) -> str:
    return str(escape(text)).replace(fulltext.MARK_START, "<mark>").replace(fulltext.MARK_END, "</mark>")


@router.get("/search", tags=["search"], summary="Full-text search over projects, budget units and vendors",
            description="Words of two characters or more; every word must occur. Hits are ranked name matches "
                        "first, then BM25, each with file:line and a snippet. HTML, or JSON with `format=json` "
                        "or `Accept: application/json`. See docs/search.md.",
            responses={200: {"content": {"text/html": {}, "application/json": {}}}})
async def search_page(
    request: Request,
    runtime: RuntimeDep,
    q: Annotated[str, Query(max_length=200, description="words to find, e.g. 视频监控 or 信息化 运维")] = "",
    page: Annotated[int, Query(ge=1, le=10_000, description="page number (from 1)")] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="hits per page")] = PER_PAGE,
    kind: Annotated[list[str] | None, Query(description="only these kinds: project, unit, department, "
                                                        "vendor")] = None,
    format: Annotated[str | None, Query(pattern="^(html|json)$", description="html or json")] = None,
) -> Response:
    kinds = tuple(k for k in (kind or ()) if k in KINDS)
    as_json = _wants_json(request, format)
    result = None
    if q.strip():
        result = await runtime.run(SearchJob(q, per_page, (page - 1) * per_page, kinds))
    if as_json:
        if result is None:
            return JSONResponse({"query": q, "total": 0, "hits": []}, headers={"Vary": "Accept"})
        return JSONResponse({"query": result.query, "terms": result.terms, "total": result.total,
                             "offset": result.offset, "page": page, "per_page": per_page,
                             "truncated": result.truncated, "repaired": len(result.repaired),
                             "hits": [_hit_json(runtime, request, h) for h in result.hits]},
                            headers={"Vary": "Accept"})
    return _page(request, runtime, q, page, per_page, kinds, result)


def _hit_json(runtime: Runtime, request: Request, h: fulltext.Hit) -> dict[str, object]:
    d = h.as_dict()
    d["url"] = runtime.local_url(request, h.iri)
    if h.unit_iri:
        d["unit_url"] = runtime.local_url(request, h.unit_iri)
    return d


def _page(request: Request, runtime: Runtime, q: str, page: int, per_page: int, kinds: tuple[str, ...],
          result: fulltext.SearchResult | None) -> HTMLResponse:
    root = runtime.root(request)
    hits = []
    pages = 0
    if result is not None:
        pages = max(1, math.ceil(result.total / per_page))
        for h in result.hits:
            hits.append({"kind": h.kind, "label": h.label, "url": runtime.local_url(request, h.iri), "iri": h.iri,
                         "snippet": _highlight(h.snippet), "where": h.where, "score": h.score,
                         "in_name": h.in_name, "unit": h.unit_name, "unit_code": h.unit_code,
                         "unit_url": runtime.local_url(request, h.unit_iri) if h.unit_iri else None})

    def link(n: int) -> str:
        params = [("q", q), ("page", str(n))] + ([("per_page", str(per_page))] if per_page != PER_PAGE else [])
        params += [("kind", k) for k in kinds]
        return f"{root}search?{urlencode(params)}"

    return runtime.render(request, "search.html", q=q, result=result, hits=hits, page=page, pages=pages,
                          prev=link(page - 1) if page > 1 else None, next=link(page + 1) if page < pages else None,
                          json_url=link(page) + "&format=json", kinds=kinds, all_kinds=KINDS)
