"""``/projects`` and ``/indicators``: faceted browsing with counts, sorting, paging and CSV/XLSX export.

The URL query string is the whole state of a view (``/projects?department=341&funding=central&sort=budget``),
so every view is a permalink; ``format=csv`` or ``format=xlsx`` downloads every row of the same view
(up to ``BUDGETKG_MAX_ROWS``). The SPARQL lives in :mod:`server.catalogue`. Pages and exports are kept in
the result cache of their store generation, keyed by the view's canonical query string and the format
(:meth:`server.runtime.Runtime.respond`).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kg.iris import Iris

from .catalogue import FACETS, NO_FUNDING, PAGE_SIZES, SORTS, CatalogueJob, CatalogueView, Selection
from .display import wan
from .errors import BadRequest
from .runtime import Runtime, RuntimeDep, request_key

router = APIRouter()

#: Least time limit (s) of a browse page or export.
BROWSE_TIMEOUT = 60.0

#: column → (zh, en) headings of the tables and exports
HEADINGS: dict[str, tuple[str, str]] = {
    "name": ("名称", "name"), "unit_code": ("单位编码", "unit code"), "unit_name": ("预算单位", "budget unit"),
    "year": ("年度", "year"), "budget": ("预算数（万元）", "budget (10k CNY)"),
    "fiscal": ("财政资金（万元）", "fiscal funds (10k CNY)"), "other": ("其他资金（万元）", "other funds (10k CNY)"),
    "funding": ("资金来源", "funding source"), "position": ("序号", "position"), "level1": ("一级指标", "level 1"),
    "level2": ("二级指标", "level 2"), "raw": ("指标值", "target (raw)"), "normalized": ("标准化值", "normalised"),
    "unit_label": ("单位", "unit"), "pname": ("项目", "project"), "x": ("IRI", "IRI"), "p": ("项目 IRI", "project IRI"),
}
EXPORT_COLUMNS = {
    "projects": ["name", "unit_code", "unit_name", "year", "budget", "fiscal", "other", "funding", "x"],
    "indicators": ["pname", "position", "name", "level1", "level2", "raw", "normalized", "unit_label", "unit_code",
                   "unit_name", "year", "x", "p"],
}


def _selection(request: Request, kind: str, base_iri: str) -> Selection:
    """The view the URL asks for; a facet value that names no term is a 400 now, not a failed query later."""
    params: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        params.setdefault(k, []).append(v)
    try:
        sel = Selection.from_params(params, kind)
        for facet, values in sel.chosen:
            for v in values:
                if not (facet == "funding" and v == NO_FUNDING):
                    sel.term(facet, v, base_iri)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return sel


async def _browse(request: Request, runtime: Runtime, kind: str) -> Response:
    base = runtime.settings.base_iri
    sel = _selection(request, kind, base)
    fmt = request.query_params.get("format", "html")
    if fmt not in ("html", "csv", "xlsx"):
        raise BadRequest("format must be html, csv or xlsx")
    # facet counts read every thing of the view (15 s for the indicators of 10k tables): like the dataset
    # counts, they get at least 60 s until they are precomputed
    timeout = max(runtime.settings.query_timeout, BROWSE_TIMEOUT)

    async def answer() -> Response:
        if fmt != "html":
            view = await runtime.run(CatalogueJob(sel, base, export=True, max_rows=runtime.settings.max_rows),
                                     timeout)
            return export(view, kind, fmt)
        view = await runtime.run(CatalogueJob(sel, base), timeout)
        return render(request, runtime, kind, sel, view)

    return await runtime.respond(request, request_key("browse", kind, sel.query_string(), fmt), answer)


def export(view: CatalogueView, kind: str, fmt: str) -> Response:
    """Every row of a view as CSV (with a byte-order mark, for Excel) or XLSX, saying when rows were cut off."""
    columns = EXPORT_COLUMNS[kind]
    headers = {"X-Result-Rows": str(len(view.rows))}
    if view.truncated:
        headers["X-Truncated"] = "true"
    heading = [f"{HEADINGS[c][0]} {HEADINGS[c][1]}" for c in columns]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(heading)
        for r in view.rows:
            w.writerow(["" if r.get(c) is None else r[c] for c in columns])
        headers["Content-Disposition"] = f'attachment; filename="budgetkg-{kind}.csv"'
        # a byte-order mark: Excel then reads the Chinese as UTF-8
        return Response(("\ufeff" + buf.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers=headers)
    from openpyxl import Workbook  # only an XLSX export pays for loading openpyxl (~0.1 s)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(kind)
    ws.append(heading)
    for r in view.rows:
        ws.append([float(r[c]) if isinstance(r.get(c), Decimal) else r.get(c) for c in columns])
    out = io.BytesIO()
    wb.save(out)
    headers["Content-Disposition"] = f'attachment; filename="budgetkg-{kind}.xlsx"'
    return Response(out.getvalue(), headers=headers,
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def render(request: Request, runtime: Runtime, kind: str, sel: Selection, view: CatalogueView) -> HTMLResponse:
    """The browse page of a view: facets with counts and toggling links, one page of rows, sort and size choices."""
    root = runtime.root(request)
    here = f"{root}{kind}"
    facets = []
    for facet, (zh, en) in FACETS.items():
        values = []
        for v in view.facets.get(facet, []):
            chosen = set(sel.values(facet))
            toggled = sorted(chosen - {v.value}) if v.chosen else sorted(chosen | {v.value})
            qs = sel.query_string(**{facet: toggled})
            values.append({"value": v.value, "label": v.label, "label_en": v.label_en, "count": v.count,
                           "chosen": v.chosen, "href": f"{here}?{qs}" if qs else here})
        clear = sel.query_string(**{facet: ()}) if sel.values(facet) else None
        facets.append({"name": facet, "zh": zh, "en": en, "values": values,
                       "clear": (f"{here}?{clear}" if clear else here) if clear is not None else None})
    pages = max(1, -(-view.total // sel.size))
    qs = sel.query_string()

    def page_href(n: int) -> str:
        q = sel.query_string(page=n)
        return f"{here}?{q}" if q else here

    iris = Iris(runtime.settings.base_iri)
    link = {c: "x" for c in ("name",)}
    iris = Iris(runtime.settings.base_iri)
    rows = []
    for r in view.rows:
        row = dict(r)
        row["href"] = runtime.local_url(request, r["x"])
        row["project_href"] = runtime.local_url(request, r["p"]) if r.get("p") else None
        row["unit_href"] = runtime.local_url(request, iris.agency(r["unit_code"]).value) if r.get("unit_code") else None
        for c in ("budget", "fiscal", "other"):
            if c in row:
                row[c + "_text"] = wan(row[c])
        rows.append(row)
    sorts = [{"key": k, "label": label, "href": f"{here}?{sel.query_string(sort=k)}", "chosen": k == sel.sort}
             for k, (_, label) in SORTS.items()]
    sizes = [{"size": n, "href": f"{here}?{sel.query_string(size=n)}", "chosen": n == sel.size} for n in PAGE_SIZES]
    return runtime.render(request, "browse.html", kind=kind, sel=sel, view=view, facets=facets, rows=rows,
                          link=link, sorts=sorts, sizes=sizes, page=sel.page, pages=pages,
                          prev=page_href(sel.page - 1) if sel.page > 1 else None,
                          next=page_href(sel.page + 1) if sel.page < pages else None,
                          permalink=f"{here}?{qs}" if qs else here,
                          csv=f"{here}?{qs + '&' if qs else ''}format=csv",
                          xlsx=f"{here}?{qs + '&' if qs else ''}format=xlsx",
                          budget_text=wan(view.budget_wanyuan), here=here, timing=sum(view.seconds.values()))


@router.get("/projects", tags=["pages"], summary="Browse projects by facets (HTML; format=csv|xlsx downloads)")
async def projects(request: Request, runtime: RuntimeDep) -> Response:
    return await _browse(request, runtime, "projects")


@router.get("/indicators", tags=["pages"], summary="Browse indicators by facets (HTML; format=csv|xlsx downloads)")
async def indicators(request: Request, runtime: RuntimeDep) -> Response:
    return await _browse(request, runtime, "indicators")
