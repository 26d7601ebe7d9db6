"""Faceted browsing of projects and indicators: the SPARQL and the job that runs it in a worker.

A view is a :class:`Selection`: which things (``projects`` or ``indicators``), the chosen values of
each facet (department, budget unit, year, funding source, 一级/二级指标 category, finding rule), a
sort and a page. Every facet count is ``COUNT(DISTINCT ?p)`` over the things that pass the *other*
facets' choices (choosing 中央 still shows how many 一般债 projects there are), so a project is
counted once per facet value, and budget totals sum one 预算数 per distinct project. The choices are
bound by ``VALUES`` blocks that open the pattern, so each query starts from what is bound and lets
the indexes work. This module imports no web framework (it runs in worker processes).

>>> Selection.from_params({"department": ["341"], "sort": ["name"]}).query_string()
'department=341&sort=name'
>>> Selection.from_params({"department": ["341"], "sort": ["budget"]}).query_string()  # the default goes unsaid
'department=341'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode

import numpy as np
from pyoxigraph import BlankNode, Literal, NamedNode

from kg import facets
from kg.errors import QueryError
from kg.facets import labels_query, pick_labels
from kg.iris import Iris
from kg.namespaces import CATEGORY, FUNDING, ORG, SH, XSD
from kg.store import solutions

from .jobs import Context, DatasetOptions, facet_table, run_query

KINDS = ("projects", "indicators")

#: facet name → (zh label, en label); the URL parameter is the facet name.
FACETS: dict[str, tuple[str, str]] = {
    "department": ("主管部门", "Department"),
    "unit": ("预算单位", "Budget unit"),
    "year": ("预算年度", "Budget year"),
    "funding": ("资金来源", "Funding source"),
    "level1": ("一级指标", "Level-1 category"),
    "level2": ("二级指标", "Level-2 category"),
    "rule": ("数据质量规则", "Finding rule"),
}
#: Facets a thing can have several values of (a project's indicators' categories, its findings' rules).
MANY_PER_THING = frozenset({"level1", "level2", "rule"})
#: The value of the funding facet for projects whose name states no funding source.
NO_FUNDING = "none"

#: sort → (ORDER BY keys, label); what each sorts by is :data:`kg.facets.ORDERS`'s.
SORTS = {sort: (facets.ORDERS["projects"][sort][1], label) for sort, label in (
    ("budget", "预算数从高到低 budget, highest first"),
    ("budget_asc", "预算数从低到高 budget, lowest first"),
    ("name", "名称 name"),
    ("unit", "预算单位 budget unit"),
)}
PAGE_SIZES = (25, 50, 100, 200)

_SUB_ORGANIZATION_OF = str(ORG.subOrganizationOf)
_FOCUS_NODE = str(SH.focusNode)


def _facet_pattern(facet: str, var: str, kind: str) -> str:
    """The pattern that ties a thing (``?p`` project, ``?x`` the counted thing) to a value of ``facet``."""
    if facet == "department":
        return f"?p bk:budgetUnit ?u_{var} . ?u_{var} {_SUB_ORGANIZATION_OF} ?{var} ."
    if facet == "unit":
        return f"?p bk:budgetUnit ?{var} ."
    if facet == "year":
        return f"?p bk:budgetYear ?{var} ."
    if facet == "funding":
        return f"?p bk:fundingSource ?{var} ."
    if facet in ("level1", "level2"):
        if kind == "indicators":
            return f"?x bk:{facet} ?{var} ."
        return f"?p bk:hasIndicator ?i_{var} . ?i_{var} bk:{facet} ?{var} ."
    if facet == "rule":
        if kind == "indicators":
            return f"?f_{var} {_FOCUS_NODE} ?x ; bk:auditRule ?{var} ."
        return f"?f_{var} bk:concernsProject ?p ; bk:auditRule ?{var} ."
    raise ValueError(facet)


def _base_pattern(kind: str) -> str:
    return facets.BASE[kind]


@dataclass(frozen=True)
class Selection:
    """One view of the catalogue; its URL query string is its permalink."""

    kind: str = "projects"
    chosen: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sort: str = "budget"
    page: int = 1
    size: int = 50
    text: str = ""

    @classmethod
    def from_params(cls, params: dict[str, list[str]], kind: str = "projects") -> Selection:
        """Read a view from URL parameters (repeated parameters: several values of one facet, OR)."""
        chosen = []
        for facet in FACETS:
            values = tuple(sorted({v.strip() for v in params.get(facet, []) if v.strip()}))
            if values:
                chosen.append((facet, values))
        sort = (params.get("sort") or ["budget"])[0]
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")

        def integer(name: str, default: int) -> int:
            raw = (params.get(name) or [str(default)])[0]
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, not {raw!r}") from None

        page = max(1, integer("page", 1))
        size = integer("size", 50)
        if size not in PAGE_SIZES:
            raise ValueError(f"size must be one of {', '.join(map(str, PAGE_SIZES))}")
        text = (params.get("q") or [""])[0].strip()[:100]
        return cls(kind, tuple(chosen), sort, page, size, text)

    def values(self, facet: str) -> tuple[str, ...]:
        return dict(self.chosen).get(facet, ())

    def params(self, **change: Any) -> list[tuple[str, str]]:
        """URL parameters of this view, with ``change`` applied (``facet=(values)``, ``sort=…``, ``page=…``)."""
        chosen = dict(self.chosen)
        for facet in FACETS:
            if facet in change:
                chosen[facet] = tuple(change[facet])
        out: list[tuple[str, str]] = []
        text = change.get("q", self.text)
        if text:
            out.append(("q", text))
        for facet in FACETS:
            out.extend((facet, v) for v in chosen.get(facet, ()))
        sort = change.get("sort", self.sort)
        if sort != "budget" or "sort" in change or self.sort != "budget":
            out.append(("sort", sort))
        size = change.get("size", self.size)
        if size != 50:
            out.append(("size", str(size)))
        page = change.get("page", self.page if not (set(change) & (set(FACETS) | {"sort", "size", "q"})) else 1)
        if page != 1:
            out.append(("page", str(page)))
        return out

    def query_string(self, **change: Any) -> str:
        return urlencode(self.params(**change))

    # -- SPARQL ---------------------------------------------------------------------------------
    def term(self, facet: str, value: str, base_iri: str) -> NamedNode | Literal:
        """The RDF term a facet value in the URL stands for (``341`` → the department's IRI)."""
        if facet in ("department", "unit"):
            if not value.isdigit() or len(value) != (3 if facet == "department" else 6):
                raise ValueError(f"{facet} must be a {'3' if facet == 'department' else '6'}-digit code, not {value!r}")
            return Iris(base_iri).agency(value)
        if facet == "year":
            if not (value.isdigit() and len(value) == 4):
                raise ValueError(f"year must be four digits, not {value!r}")
            return Literal(value, datatype=XSD.gYear)
        if facet == "funding":
            return FUNDING[_slug(value)]
        if facet in ("level1", "level2"):
            return CATEGORY[_slug(value)]
        if facet == "rule":
            from kg.shapes import BKSH  # rdflib comes with kg.shapes: only when a rule is chosen

            return BKSH[_slug(value)]
        raise ValueError(facet)

    def where(self, base_iri: str, skip: str | None = None) -> str:
        """The pattern of the things this view selects, ignoring facet ``skip``: bound facets first."""
        parts: list[str] = []
        tail: list[str] = []
        for facet, values in self.chosen:
            if facet == skip:
                continue
            var = f"v_{facet}"
            if facet == "funding" and NO_FUNDING in values:
                named = [v for v in values if v != NO_FUNDING]
                terms = " ".join(self.term(facet, v, base_iri).__str__() for v in named)
                alt = "FILTER(NOT EXISTS { ?p bk:fundingSource ?any_funding })"
                if named:
                    # inside a UNION branch ?p must be bound by the branch itself
                    tail.append(f"{{ VALUES ?{var} {{ {terms} }} ?p bk:fundingSource ?{var} . }} "
                                f"UNION {{ ?p a bk:Project {alt} }}")
                else:
                    tail.append(alt)
                continue
            terms = " ".join(str(self.term(facet, v, base_iri)) for v in values)
            pattern = f"VALUES ?{var} {{ {terms} }} " + _facet_pattern(facet, var, self.kind)
            if facet in MANY_PER_THING:
                # a project has many indicators and findings: one row per matching thing, from the bound value
                own = "?x" if self.kind == "indicators" and facet != "funding" else "?p"
                parts.append(f"{{ SELECT DISTINCT {own} WHERE {{ {pattern} }} }}")
            else:
                parts.append(pattern)
        parts.append(_base_pattern(self.kind))
        if self.text:
            tail.append(f"?x rdfs:label ?search_label . FILTER(CONTAINS(STR(?search_label), {_literal(self.text)}))")
        return "\n  ".join(parts + tail)

    def facet_query(self, facet: str, base_iri: str) -> str:
        pattern = _facet_pattern(facet, "value", self.kind)
        return (f"SELECT ?value (COUNT(DISTINCT ?x) AS ?n) WHERE {{\n  {{ SELECT DISTINCT ?x ?p WHERE {{\n  "
                f"{self.where(base_iri, skip=facet)}\n  }} }}\n  {pattern}\n}} GROUP BY ?value")

    def unfunded_query(self, base_iri: str) -> str:
        return (f"SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE {{\n  {self.where(base_iri, skip='funding')}\n"
                f"  FILTER(NOT EXISTS {{ ?p bk:fundingSource ?f }})\n}}")

    def total_query(self, base_iri: str) -> str:
        return (f"SELECT (COUNT(DISTINCT ?x) AS ?n) (COUNT(DISTINCT ?p) AS ?projects) WHERE {{\n"
                f"  {self.where(base_iri)}\n}}")

    def budget_query(self, base_iri: str) -> str:
        """The sum of 预算数 over the distinct projects of this view (each project's one amount)."""
        return (f"SELECT (SUM(?b) AS ?budget) WHERE {{\n  {{ SELECT DISTINCT ?p WHERE {{\n  {self.where(base_iri)}\n"
                f"  }} }}\n  ?p bk:budget/bk:amountInYuan ?b\n}}")

    def page_query(self, base_iri: str, limit: int | None, offset: int = 0) -> str:
        """The things of one page, in order: only what the sort needs is read for every thing of the view."""
        order = facets.order_name(self.kind, self.sort)
        keys = facets.ORDERS[self.kind][order][1]
        page = f"\nLIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        return (f"SELECT ?x ?p WHERE {{\n  {{ SELECT DISTINCT ?x ?p WHERE {{\n  {self.where(base_iri)}\n  }} }}\n"
                f"  {facets.order_pattern(self.kind, order)}\n}}\nORDER BY {keys} ?x{page}")

    def hits_query(self) -> str:
        """The things of this view's kind whose label contains the searched text (the ``q`` filter alone)."""
        return (f"SELECT DISTINCT ?x WHERE {{\n  {_base_pattern(self.kind)}\n  ?x rdfs:label ?search_label . "
                f"FILTER(CONTAINS(STR(?search_label), {_literal(self.text)}))\n}}")

    def rows_query(self) -> str:
        """What a table row shows of each thing of a page (bound by a ``VALUES (?x ?p)`` block)."""
        if self.kind == "indicators":
            select = ("?x ?name ?position ?level1 ?level2 ?raw ?normalized ?unit_label ?p ?pname ?unit_code "
                      "?unit_name ?year")
            attrs = """
  OPTIONAL { ?x rdfs:label ?name }
  OPTIONAL { ?x bk:position ?position }
  OPTIONAL { ?x bk:level1Label ?level1 }
  OPTIONAL { ?x bk:level2Label ?level2 }
  OPTIONAL { ?x bk:target ?t . OPTIONAL { ?t bk:rawValue ?raw } OPTIONAL { ?t bk:normalizedValue ?normalized }
             OPTIONAL { ?t bk:normalizedUnit/rdfs:label ?unit_label FILTER(LANG(?unit_label) = "zh") } }
  OPTIONAL { ?p rdfs:label ?pname }"""
        else:
            select = "?x ?name ?unit_code ?unit_name ?year ?budget ?fiscal ?other ?funding ?p"
            attrs = """
  OPTIONAL { ?x rdfs:label ?name }
  OPTIONAL { ?x bk:budget/bk:amountInYuan ?b_yuan BIND(?b_yuan / 10000 AS ?budget) }
  OPTIONAL { ?x bk:fiscalFunds/bk:amountInYuan ?f_yuan BIND(?f_yuan / 10000 AS ?fiscal) }
  OPTIONAL { ?x bk:otherFunds/bk:amountInYuan ?o_yuan BIND(?o_yuan / 10000 AS ?other) }
  OPTIONAL { ?x bk:fundingSource/skos:prefLabel ?funding FILTER(LANG(?funding) = "zh") }"""
        common = """
  OPTIONAL { ?p bk:budgetUnitCode ?unit_code }
  OPTIONAL { ?p bk:budgetUnitName ?unit_name }
  OPTIONAL { ?p bk:budgetYear ?year }"""
        return f"SELECT {select} WHERE {{{attrs}{common}\n}}"


def _slug(value: str) -> str:
    if not value or not all(c.isalnum() or c in "-_" for c in value) or not value.isascii():
        raise ValueError(f"not a facet value: {value!r}")
    return value


def _literal(text: str) -> str:
    return str(Literal(text))


#: the columns of a row of each kind, in the order of :meth:`Selection.rows_query`'s SELECT
EXPORT_ORDER = {
    "projects": ["x", "name", "unit_code", "unit_name", "year", "budget", "fiscal", "other", "funding", "p"],
    "indicators": ["x", "name", "position", "level1", "level2", "raw", "normalized", "unit_label", "p", "pname",
                   "unit_code", "unit_name", "year"],
}


@dataclass
class FacetValue:
    value: str
    label: str
    label_en: str
    count: int
    chosen: bool


@dataclass
class CatalogueView:
    """What a /projects or /indicators page shows (plain data)."""

    total: int = 0
    projects: int = 0
    budget_wanyuan: Decimal | None = None
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


def _key(term: object, facet: str, base_iri: str) -> str:
    value = getattr(term, "value", str(term))
    if facet in ("department", "unit"):
        return value.rsplit("/", 1)[-1]
    if facet == "year":
        return value
    return value.rsplit("/", 1)[-1]


def _python(term: object) -> Any:
    if term is None:
        return None
    if isinstance(term, Literal):
        dt = term.datatype.value if term.datatype else ""
        if dt.endswith(("#decimal", "#double", "#float")):
            return Decimal(term.value)
        if dt.endswith(("#integer", "#positiveInteger", "#int")):
            return int(term.value)
        return term.value
    return getattr(term, "value", str(term))


class _Solution(Protocol):
    """One row of a SELECT result: the term bound to a variable, or None."""

    def __getitem__(self, variable: str) -> NamedNode | BlankNode | Literal | None: ...


def _select(ctx: Context, sparql: str, opts: DatasetOptions) -> Iterator[_Solution]:
    """The rows of a catalogue SELECT query, run on the worker's store over the published graphs."""
    yield from solutions(run_query(ctx, sparql, "catalogue", None, **opts), "catalogue")


def _first(rows: Iterator[_Solution]) -> _Solution:
    """The one row of an aggregate query (COUNT and SUM always answer one)."""
    for row in rows:
        return row
    raise QueryError("catalogue", "an aggregate query answered no row")


def _count(term: NamedNode | BlankNode | Literal | None) -> int:
    return 0 if term is None else int(term.value)


def _tsv_key(term: str, facet: str) -> str:
    """A facet value's URL key from its TSV spelling (:data:`kg.facets.FacetTable.values`), as :func:`_key`."""
    if term.startswith("<"):
        return _key(NamedNode(term[1:-1]), facet, "")
    if term.startswith('"'):
        return facets.lexical(term)
    return term


@dataclass
class _Counted:
    """What a view counts, by either path: facet → value key → count, the unfunded count, the page's things."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    unfunded: int = 0
    page: list[tuple[NamedNode, NamedNode]] = field(default_factory=list)
    #: facet → value key → (label, English label), where the facet table knows them (the rest are queried)
    labels: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogueJob:
    """Facet counts, totals and one page of rows (or every row, for an export) of a :class:`Selection`.

    Counted in memory from the store generation's facet table (:mod:`kg.facets`) when there is one,
    else (``table=False``, a remote store, a store the table cannot count exactly) with SPARQL: both
    give the same view.
    """

    selection: Selection
    base_iri: str
    export: bool = False
    max_rows: int = 10000
    table: bool = True

    def _limits(self) -> tuple[int, int]:
        sel = self.selection
        return (self.max_rows + 1, 0) if self.export else (sel.size, (sel.page - 1) * sel.size)

    def _by_sparql(self, view: CatalogueView, select: Callable[[str], Iterator[_Solution]]) -> _Counted:
        sel, base = self.selection, self.base_iri
        out = _Counted()
        started = time.perf_counter()
        totals = _first(select(sel.total_query(base)))
        view.total = _count(totals["n"])
        view.projects = _count(totals["projects"])
        budget = _first(select(sel.budget_query(base)))["budget"]
        if budget is not None:
            view.budget_wanyuan = Decimal(budget.value) / 10000
        view.seconds["total"] = time.perf_counter() - started
        if not self.export:
            for facet in FACETS:
                t0 = time.perf_counter()
                counts = out.counts[facet] = {}
                for r in select(sel.facet_query(facet, base)):
                    counts[_key(r["value"], facet, base)] = _count(r["n"])
                if facet == "funding":
                    out.unfunded = _count(_first(select(sel.unfunded_query(base)))["n"])
                view.seconds[facet] = time.perf_counter() - t0
        t0 = time.perf_counter()
        limit, offset = self._limits()
        for r in select(sel.page_query(base, limit, offset)):
            x, p = r["x"], r["p"]
            if isinstance(x, NamedNode) and isinstance(p, NamedNode):  # both are bound by every row
                out.page.append((x, p))
        view.seconds["page"] = time.perf_counter() - t0
        return out

    def _by_table(self, view: CatalogueView, table: facets.FacetTable,
                  select: Callable[[str], Iterator[_Solution]]) -> _Counted:
        sel, base = self.selection, self.base_iri
        out = _Counted()
        started = time.perf_counter()
        chosen: dict[str, list[int]] = {}
        for facet, values in sel.chosen:
            terms = [facets.NO_VALUE if facet == "funding" and v == NO_FUNDING else str(sel.term(facet, v, base))
                     for v in values]
            chosen[facet] = [c for c in (table.code(facet, t) for t in terms) if c is not None]
        within = None
        if sel.text:  # the things whose label contains the text, as the SPARQL pattern finds them
            within = np.zeros(table.rows(sel.kind), dtype=bool)
            for r in select(sel.hits_query()):
                row = table.row_of(sel.kind, str(r["x"]))
                if row is not None:
                    within[row] = True
        tally = facets.tally(table, sel.kind, chosen, within, facets=not self.export)
        view.total, view.projects = tally.things, tally.projects
        view.budget_wanyuan = facets.wanyuan(tally.budget_fen)
        for facet, by_code in tally.counts.items():
            counts = out.counts[facet] = {}
            for code, n in by_code.items():
                term = table.values[facet][code]
                if term == facets.NO_VALUE:
                    out.unfunded = n
                else:
                    counts[_tsv_key(term, facet)] = n
        view.seconds["total"] = time.perf_counter() - started
        t0 = time.perf_counter()
        limit, offset = self._limits()
        order = facets.order_name(sel.kind, sel.sort)
        out.page = [(NamedNode(x), NamedNode(p)) for x, p in facets.page(table, sel.kind, order, tally.mask,
                                                                         offset, limit)]
        view.seconds["page"] = time.perf_counter() - t0
        if not self.export:
            known = self._table_labels(table)
            out.labels = {facet: {k: known[facet][k] for k in out.counts.get(facet, {}) if k in known[facet]}
                          for facet in known}
        return out

    @staticmethod
    def facet_table(ctx: Context) -> facets.FacetTable | None:
        """The facet table of the store's generation, kept by the worker (``None``: count with SPARQL)."""
        return facet_table(ctx)

    def _table_labels(self, table: facets.FacetTable) -> dict[str, dict[str, tuple[str, str]]]:
        """facet → value key → (label, English label) of every value of the table, from the labels the table
        keeps: made once per table and base IRI (the value a key stands for is :meth:`Selection.term`'s, as
        the SPARQL path reads it; a key whose term is not the table's value is left to a query)."""
        memo_key = f"labels {self.base_iri}"
        kept = table.memo.get(memo_key)
        if isinstance(kept, dict):
            return kept
        sel = self.selection
        out: dict[str, dict[str, tuple[str, str]]] = {}
        for facet in FACETS:
            if facet == "year":
                continue
            known = out[facet] = {}
            for term in table.values[facet]:
                if term == facets.NO_VALUE:
                    continue
                key = _tsv_key(term, facet)
                try:
                    t = sel.term(facet, key, self.base_iri)
                except ValueError:
                    continue  # raised again where the page asks for it, as on the SPARQL path
                if isinstance(t, NamedNode) and table.code(facet, f"<{t.value}>") is not None:
                    known[key] = table.labels.get(t.value, ("", ""))
        table.memo[memo_key] = out
        return out

    def run(self, ctx: Context) -> CatalogueView:
        sel = self.selection
        opts = ctx.dataset_options(None, None, False)

        def select(sparql: str) -> Iterator[_Solution]:
            return _select(ctx, sparql, opts)

        view = CatalogueView()
        table = self.facet_table(ctx) if self.table else None
        counted = self._by_table(view, table, select) if table is not None else self._by_sparql(view, select)
        t0 = time.perf_counter()
        for facet in FACETS if not self.export else ():
            counts = counted.counts.get(facet, {})
            labels: dict[str, tuple[str, str]] = {k: (k, "") for k in counts}
            if facet != "year" and counts:
                labels = dict(counted.labels.get(facet, {}))
                terms = {k: sel.term(facet, k, self.base_iri) for k in counts if k not in labels}
                if terms:
                    named = pick_labels((r["v"], r["p"], r["l"]) for r in select(labels_query(
                        t for t in terms.values() if isinstance(t, NamedNode))))
                    labels.update({k: named.get(t.value, ("", "")) for k, t in terms.items()})
            values = [FacetValue(k, labels[k][0] or k, labels[k][1], n, k in sel.values(facet))
                      for k, n in counts.items()]
            if facet == "funding" and counted.unfunded:
                chosen = NO_FUNDING in sel.values(facet)
                values.append(FacetValue(NO_FUNDING, "未标明", "not stated", counted.unfunded, chosen))
            for value in sel.values(facet):  # a chosen value with no count left still shows, to unchoose it
                if value not in {v.value for v in values}:
                    zh, en = ("未标明", "not stated") if value == NO_FUNDING else (value, "")
                    values.append(FacetValue(value, zh, en, 0, True))
            if facet == "year":
                values.sort(key=lambda v: v.value, reverse=True)
            elif facet in ("department", "unit"):
                values.sort(key=lambda v: v.value)
            else:
                values.sort(key=lambda v: (-v.count, v.value))
            view.facets[facet] = values
        view.seconds["labels"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        page = counted.page
        view.columns = EXPORT_ORDER[sel.kind]
        for start in range(0, len(page), 500):
            chunk = page[start:start + 500]
            pairs = " ".join(f"({x} {p})" for x, p in chunk)
            text = sel.rows_query().replace("WHERE {", f"WHERE {{\n  VALUES (?x ?p) {{ {pairs} }}", 1)
            found: dict[str, dict[str, Any]] = {}
            for r in select(text):
                row = {c: _python(r[c]) for c in view.columns}
                old = found.get(row["x"])
                if old is None:
                    found[row["x"]] = row
                elif row.get("funding") and old.get("funding") and row["funding"] not in str(old["funding"]):
                    old["funding"] = f"{old['funding']}、{row['funding']}"
            view.rows.extend(found[x.value] for x, _ in chunk if x.value in found)
        if self.export and len(view.rows) > self.max_rows:
            view.rows = view.rows[: self.max_rows]
            view.truncated = True
        view.seconds["rows"] = time.perf_counter() - t0
        return view
