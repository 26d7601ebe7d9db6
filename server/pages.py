"""HTML pages: the SPARQL editor (YASGUI), entity pages, named-query results, the dataset page.

Templates live in ``server/templates/`` (Jinja2, autoescaped); this module turns store data into
plain rows for them, so templates only lay out. Labels are Chinese first (``@zh``), then English,
then a prefixed name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from kg.errors import BudgetKGError, UnknownQuery
from kg.namespaces import DCTERMS, ORG, PREFIXES, PROV, QUDT, RDF, RDFS, SKOS
from kg.queries import COLUMN_LABELS, NamedQuery, closest
from kg.store import with_values

from .app import STATIC_DIR, Runtime, RuntimeDep
from .jobs import Answer, EntityView, Table, plain

router = APIRouter()

#: Labels of W3C/QUDT terms the ontology reuses without declaring them (so the store has no label).
FALLBACK_LABELS = {
    RDF.type.value: "类型", RDFS.label: "名称", RDFS.comment: "注释", PROV.wasDerivedFrom: "来源文档",
    DCTERMS.identifier: "标识符", DCTERMS.description: "说明", DCTERMS.publisher: "发布机构", DCTERMS.title: "标题",
    DCTERMS.format: "格式", ORG.subOrganizationOf: "上级机构", SKOS.notation: "编码", SKOS.prefLabel: "首选名称",
    QUDT.numericValue: "数值", QUDT.unit: "计量单位",
}
FALLBACK_LABELS = {getattr(k, "value", k): v for k, v in FALLBACK_LABELS.items()}
_XSD = PREFIXES["xsd"]


def environment(directory: Path) -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env


def curie(iri: str) -> str:
    """``bk:Project`` for an IRI in a known namespace, else the IRI.

    >>> curie("https://budgetkg.example.org/def/Project")
    'bk:Project'
    """
    best = ""
    for p, ns in PREFIXES.items():
        if iri.startswith(ns) and len(ns) > len(PREFIXES.get(best, "")):
            best = p
    if best:
        local = iri[len(PREFIXES[best]):]
        if re.fullmatch(r"[\w.\-]*", local):
            return f"{best}:{local}"
    return iri


def _render(request: Request, runtime: Runtime, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    root = runtime.root(request)

    def asset(name: str) -> str:
        """URL of a static file, versioned by its modification time so browsers never run a stale copy."""
        path = STATIC_DIR / name
        version = int(path.stat().st_mtime) if path.is_file() else 0
        return f"{root}static/{name}?v={version}"

    html = runtime.templates.get_template(template).render(root=root, vendor=_vendor_present(), asset=asset, **ctx)
    return HTMLResponse(html, status_code=status, headers={"Vary": "Accept"})


def _vendor_present() -> bool:
    return (STATIC_DIR / "vendor" / "yasgui.min.js").is_file()


class Linker:
    """Turns terms into display dicts (link, label, kind) for templates."""

    def __init__(self, request: Request, runtime: Runtime, labels: dict[str, str] | None = None,
                 compact: bool = False) -> None:
        self.request = request
        self.runtime = runtime
        self.labels = labels or {}
        #: result tables: no language tags or datatypes, IRIs under the base IRI shown by their path
        self.compact = compact

    def iri(self, iri: str) -> dict[str, Any]:
        label = self.labels.get(iri) or FALLBACK_LABELS.get(iri)
        base = self.runtime.settings.base_iri
        short = iri[len(base):] if iri.startswith(base) and len(iri) > len(base) else curie(iri)
        return {"kind": "iri", "href": self.runtime.local_url(self.request, iri), "label": label,
                "curie": short if self.compact else curie(iri), "iri": iri}

    def term(self, t: tuple) -> dict[str, Any]:
        kind, value, lang, datatype = t
        if kind == "iri":
            return self.iri(value)
        if kind == "literal":
            if self.compact:
                return {"kind": "literal", "value": value, "lang": None, "datatype": None}
            dt = curie(datatype) if datatype and datatype != _XSD + "string" else None
            return {"kind": "literal", "value": value, "lang": lang, "datatype": dt}
        return {"kind": kind, "value": value}

    def pyterm(self, t: object) -> dict[str, Any]:
        if t is None:
            return {"kind": "none"}
        if isinstance(t, NamedNode | BlankNode | Literal):
            return self.term(plain(t))
        return {"kind": "other", "value": str(t)}


# -- the SPARQL editor -----------------------------------------------------------------------
def editor_example(nq: NamedQuery, values: dict[str, str | None] | None = None) -> str:
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


def _json_script(obj: object) -> str:
    """JSON safe to embed in a <script> element."""
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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
    return _render(request, runtime, "index.html", status=400 if problem else 200, config=_json_script(config),
                   examples=examples, problem=problem)


# -- named queries ---------------------------------------------------------------------------
def render_queries(request: Request, runtime: Runtime) -> HTMLResponse:
    from .named import describe

    root = runtime.root(request)
    return _render(request, runtime, "queries.html", queries=[describe(q, root) for q in runtime.queries.values()])


def render_named_result(request: Request, runtime: Runtime, nq: NamedQuery, result: Table | Answer) -> HTMLResponse:
    link = Linker(request, runtime, compact=True)
    values = {k: v for k, v in request.query_params.items() if k != "format"}
    ctx: dict[str, Any] = {"q": nq, "values": values, "max_rows": runtime.settings.max_rows,
                           "params": [{"name": p.name, "type": p.type, "description": p.description,
                                       "value": values.get(p.name, p.default or "")} for p in nq.params]}
    if isinstance(result, Table):
        # for people: no column that only repeats an empty parameter, and Chinese headers
        hidden = nq.echoes(dict(values))
        keep = [i for i, v in enumerate(result.variables) if v not in hidden]
        shown = [result.variables[i] for i in keep]
        ctx.update(variables=shown, headers=[(COLUMN_LABELS.get(v), v) for v in shown], truncated=result.truncated,
                   rows=[[link.pyterm(row[i]) for i in keep] for row in result.rows])
        plain_rows = [["" if row[i] is None else getattr(row[i], "value", str(row[i])) for i in keep]
                      for row in result.rows]
        ctx.update(chart_data=_json_script({"columns": shown, "rows": plain_rows}),
                   chart_assets=(STATIC_DIR / "vendor" / "chart.umd.js").is_file())
    else:
        ctx.update(variables=[], rows=[], truncated=result.truncated, text=result.body.decode("utf-8"))
    from urllib.parse import urlencode

    ctx["downloads"] = {f: f"{runtime.root(request)}queries/{nq.name}?{urlencode({**values, 'format': f})}"
                        for f in ("csv", "tsv", "json", "xml")}
    return _render(request, runtime, "named_result.html", **ctx)


# -- entities --------------------------------------------------------------------------------
def render_entity(request: Request, runtime: Runtime, view: EntityView) -> HTMLResponse:
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
    return _render(request, runtime, "entity.html", view=view, title=title, properties=properties, **extra,
                   incoming=[{"predicate": link.iri(p), "subjects": ss} for p, ss in incoming.items()],
                   types=[link.iri(t) for t in view.types], sources=[
                       {"document": link.iri(d), "file": f, "start": a, "end": b, "lines": lines,
                        "via": link.iri(via) if via else None} for d, f, a, b, lines, via in view.sources],
                   documents=[{"document": link.iri(d), "file": f} for d, f in view.documents],
                   alternates=alternates)


def _readable(request: Request, runtime: Runtime, view: EntityView) -> dict[str, Any]:
    """Helpers and totals for the readable head of a project or agency page."""
    from decimal import Decimal

    from .browse import wan

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
        by_funding: dict[str, list[Any]] = {}
        by_year: dict[str, list[Any]] = {}
        total = Decimal(0)
        for p in ag.projects:
            b = Decimal(str(p["budget"])) if p.get("budget") is not None else Decimal(0)
            total += b
            for key, table in ((str(p.get("funding_label") or "未标明 not stated"), by_funding),
                               (str(p.get("year") or "—"), by_year)):
                cell = table.setdefault(key, [0, Decimal(0)])
                cell[0] += 1
                cell[1] += b
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
        extra.update(total=total, by_funding=sorted(by_funding.items(), key=lambda kv: -kv[1][1]),
                     by_year=sorted(by_year.items(), reverse=True), browse_href=f"{root}projects?{facet}={code}",
                     neighbourhood=json.dumps({"nodes": nodes, "edges": edges}, ensure_ascii=False))
    return extra


# -- the dataset -----------------------------------------------------------------------------
def render_dataset(request: Request, runtime: Runtime, triples: list[Triple], counts: dict[str, Any]) -> HTMLResponse:
    link = Linker(request, runtime)
    subjects: dict[str, dict[str, Any]] = {}
    for t in triples:
        key = str(t.subject)
        if key not in subjects:
            subjects[key] = {"subject": link.pyterm(t.subject), "rows": []}
        subjects[key]["rows"].append({"p": link.iri(t.predicate.value), "o": link.pyterm(t.object)})
    from .dataset import DUMPS, dataset_iri

    root = runtime.root(request)
    dumps = [{"name": n, "file": v[0], "url": f"{root}dumps/{v[0]}", "media": v[3]} for n, v in DUMPS.items()]
    return _render(request, runtime, "dataset.html", subjects=list(subjects.values()), counts=counts, dumps=dumps,
                   iri=dataset_iri(runtime).value)


# -- the API documentation, offline ----------------------------------------------------------
@router.get("/docs", include_in_schema=False)
async def api_docs(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """Swagger UI for /openapi.json, its script and style from /static/vendor/ (swagger-ui-dist from npm)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    root = runtime.root(request)
    vendor = STATIC_DIR / "vendor"
    if not (vendor / "swagger-ui-bundle.js").is_file():
        return HTMLResponse("<p>The API page's assets are not installed: run <code>scripts/setup-assets.sh</code>. "
                            f'The OpenAPI document is at <a href="{root}openapi.json">/openapi.json</a>.</p>',
                            status_code=503)
    page = get_swagger_ui_html(openapi_url=f"{root}openapi.json", title="budgetkg API",
                               swagger_js_url=f"{root}static/vendor/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}static/vendor/swagger-ui.css",
                               swagger_favicon_url=f"{root}static/favicon.svg")
    return page
