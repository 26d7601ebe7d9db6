"""Agency–project networks as networkx graphs, read from the store with SPARQL, and their exports.

Two views of one set of facts (see ``docs/graph.md`` for what every node, edge and weight means):

- **The network** (:func:`build_network`, a :class:`networkx.MultiDiGraph`): agencies (budget units
  and departments) and projects, with funding sources, indicator concepts and vendors as optional
  node types. Edges: project → budget unit (``budget-unit``), unit → department
  (``sub-organization``), project → funding source (``funded-by``), project → indicator concept
  (``has-concept``), project → vendor (``contracted``), and the materialised project links of
  :mod:`kg.links` (``shared-goal``, ``lineage``, ``tranche``). An edge's key is its kind.
- **The projection** (:func:`build_projection`, a :class:`networkx.MultiGraph`): budget units (or
  departments) joined by weighted ``shared-goal``, ``shared-vendor`` and ``shared-funding`` edges.

Everything is read by :func:`read_network` with SPARQL from the union of the store's graphs, so the
graph says what the store says. Indicator concepts and project links exist once ``budgetkg link``
has written ``<base>graph/links``; vendors once ``budgetkg contracts import`` has written contracts.
Without them those node and edge kinds are simply absent (:attr:`NetworkData.available`).

:func:`add_metrics` attaches degree, weighted degree, betweenness (sampled on large graphs) and
Louvain communities to every node. Exports: GraphML and GEXF (Gephi), Cytoscape.js JSON
(:func:`cytoscape_json`); PNG and SVG drawings live in :mod:`kg.render`.

>>> opts = NetworkOptions.parse(node_types="agency,project", department="341")
>>> opts.node_types, opts.department, opts.edge_kinds
(('agency', 'project'), '341', ('budget-unit', 'sub-organization', 'shared-goal', 'lineage', 'tranche'))
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import networkx as nx

from .errors import BudgetKGError
from .namespaces import sparql_prefixes
from .store import GraphStore

#: Node types of the network, in the order they are listed and drawn.
NODE_TYPES = ("agency", "project", "funding", "concept", "vendor")
#: Node types of the network when none are asked for.
DEFAULT_NODE_TYPES = ("agency", "project", "funding")

#: Edge kinds of the network: kind → (type of the source node, type of the target node).
NETWORK_KINDS: dict[str, tuple[str, str]] = {
    "budget-unit": ("project", "agency"),
    "sub-organization": ("agency", "agency"),
    "funded-by": ("project", "funding"),
    "has-concept": ("project", "concept"),
    "contracted": ("project", "vendor"),
    "shared-goal": ("project", "project"),
    "lineage": ("project", "project"),
    "tranche": ("project", "project"),
}
#: Edge kinds of the agency–agency projection.
PROJECTION_KINDS = ("shared-goal", "shared-vendor", "shared-funding")
#: Levels an agency projection can be drawn at.
PROJECTIONS = ("agency", "department")
#: Which indicator concepts become nodes: the informative ones (see :mod:`kg.links`), or all.
CONCEPT_CHOICES = ("informative", "all")

#: Colours (node type or agency level, and edge kind) shared by the GEXF export, the drawings and the page.
NODE_COLOURS = {"agency": "#a4262c", "department": "#6d1a1e", "project": "#3b6ea8", "funding": "#2e8b57",
                "concept": "#d98e04", "vendor": "#7b4fa0"}
EDGE_COLOURS = {"budget-unit": "#9aa5b8", "sub-organization": "#6d1a1e", "funded-by": "#2e8b57",
                "has-concept": "#d98e04", "contracted": "#7b4fa0", "shared-goal": "#c2410c", "lineage": "#0e7490",
                "tranche": "#0891b2", "shared-vendor": "#7b4fa0", "shared-funding": "#2e8b57"}
#: zh names of node types and edge kinds (page legends, drawings).
LABELS_ZH = {"agency": "预算单位/部门", "department": "主管部门", "project": "项目", "funding": "资金来源",
             "concept": "指标概念", "vendor": "供应商", "budget-unit": "所属预算单位", "sub-organization": "上级部门",
             "funded-by": "资金来源", "has-concept": "绩效指标概念", "contracted": "采购合同",
             "shared-goal": "共同目标", "lineage": "项目延续", "tranche": "分期款项", "shared-vendor": "共用供应商",
             "shared-funding": "共同资金来源"}

#: Betweenness costs about nodes × edges steps (Brandes). Up to this many it is exact; above it, it is
#: estimated from ``BETWEENNESS_WORK / edges`` sampled source nodes (at least :data:`BETWEENNESS_MIN_SAMPLES`),
#: which keeps it to a few seconds on any graph.
BETWEENNESS_WORK = 5_000_000
#: Fewest sampled sources for an estimated betweenness.
BETWEENNESS_MIN_SAMPLES = 20

_CODE = re.compile(r"^\d{1,6}$")
_KEY = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


class NetworkOptionError(BudgetKGError):
    """A graph option names no node type, edge kind, department or funding source budgetkg knows."""


# -- options ---------------------------------------------------------------------------------------


def _split(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(dict.fromkeys(x.strip() for x in items if x and x.strip()))
    return out or None


@dataclass(frozen=True)
class NetworkOptions:
    """What to put in the graph. Build with :meth:`parse`, which checks every value.

    ``department`` is a code prefix (``341``, or a unit ``341101``): its agencies and projects, and
    whatever they link to directly. ``funding`` (a funding-source key such as ``central`` or its IRI)
    keeps projects funded by that source. ``min_weight`` drops lighter edges. ``projection`` set to
    ``agency`` or ``department`` builds the agency–agency projection instead of the network.
    """

    node_types: tuple[str, ...] = DEFAULT_NODE_TYPES
    edge_kinds: tuple[str, ...] = ()
    department: str | None = None
    funding: str | None = None
    min_weight: float = 0.0
    projection: str | None = None
    concepts: str = "informative"

    @classmethod
    def parse(cls, *, node_types: str | Iterable[str] | None = None, edge_kinds: str | Iterable[str] | None = None,
              department: str | None = None, funding: str | None = None, min_weight: float | None = None,
              projection: str | None = None, concepts: str | None = None) -> NetworkOptions:
        """Options from user input (comma-separated lists allowed); raises :class:`NetworkOptionError`.

        >>> NetworkOptions.parse(projection="agency").edge_kinds
        ('shared-goal', 'shared-vendor', 'shared-funding')
        >>> NetworkOptions.parse(node_types="agency,planet")
        Traceback (most recent call last):
        ...
        kg.network.NetworkOptionError: unknown node type 'planet' (known: agency, project, funding, concept, vendor)
        """
        projection = projection or None
        if projection is not None and projection not in PROJECTIONS:
            raise NetworkOptionError(f"unknown projection {projection!r} (known: {', '.join(PROJECTIONS)})")
        types = _split(node_types)
        if types == ("all",):
            types = NODE_TYPES
        if types is None:
            types = DEFAULT_NODE_TYPES
        for t in types:
            if t not in NODE_TYPES:
                raise NetworkOptionError(f"unknown node type {t!r} (known: {', '.join(NODE_TYPES)})")
        types = tuple(t for t in NODE_TYPES if t in types)
        known = PROJECTION_KINDS if projection else tuple(NETWORK_KINDS)
        kinds = _split(edge_kinds)
        if kinds == ("all",):
            kinds = None
        if kinds is None:
            kinds = known if projection else tuple(k for k, (a, b) in NETWORK_KINDS.items()
                                                   if a in types and b in types)
        for k in kinds:
            if k not in known:
                view = "the projection" if projection else "the network"
                raise NetworkOptionError(f"unknown edge kind {k!r} for {view} (known: {', '.join(known)})")
            if not projection:
                missing = [t for t in NETWORK_KINDS[k] if t not in types]
                if missing:
                    raise NetworkOptionError(f"edge kind {k!r} needs node type {missing[0]!r} "
                                             f"(add it to the node types)")
        kinds = tuple(k for k in known if k in kinds)
        if department is not None and department != "":
            department = department.strip()
            if not _CODE.match(department):
                raise NetworkOptionError(f"department must be a code of 1 to 6 digits (341, 341101), "
                                         f"not {department!r}")
        else:
            department = None
        if funding is not None and funding != "":
            funding = funding.strip().rsplit("/", 1)[-1]
            if not _KEY.match(funding):
                raise NetworkOptionError(f"funding must be a funding-source key such as 'central', not {funding!r}")
        else:
            funding = None
        weight = 0.0 if min_weight is None else float(min_weight)
        if not math.isfinite(weight) or weight < 0:
            raise NetworkOptionError(f"min weight must be a number of at least 0, not {min_weight!r}")
        concepts = concepts or "informative"
        if concepts not in CONCEPT_CHOICES:
            raise NetworkOptionError(f"concepts must be one of {', '.join(CONCEPT_CHOICES)}, not {concepts!r}")
        return cls(types if not projection else ("agency",), kinds, department, funding, weight, projection,
                   concepts)

    def key(self) -> str:
        """A canonical text of the options (cache keys, graph attributes)."""
        return (f"view={self.projection or 'network'};types={','.join(self.node_types)};"
                f"kinds={','.join(self.edge_kinds)};department={self.department or ''};"
                f"funding={self.funding or ''};min_weight={self.min_weight:g};concepts={self.concepts}")


# -- reading the store -----------------------------------------------------------------------------

_PREFIXES = sparql_prefixes(["bk", "rdfs", "skos", "org"])
_AGENCIES = _PREFIXES + """
SELECT ?a ?code ?label ?parent WHERE {
  { ?a a bk:BudgetUnit } UNION { ?a a bk:Department }
  ?a bk:agencyCode ?code .
  OPTIONAL { ?a rdfs:label ?label }
  OPTIONAL { ?a org:subOrganizationOf ?parent }
}
"""
_PROJECTS = _PREFIXES + """
SELECT ?p ?label ?unit ?code ?year ?budget WHERE {
  ?p a bk:Project ; rdfs:label ?label ; bk:budgetUnit ?unit ; bk:budgetUnitCode ?code .
  OPTIONAL { ?p bk:budgetYear ?year }
  OPTIONAL { ?p bk:budget/bk:amountInYuan ?budget }
}
"""
_SPECIAL_BOND = _PREFIXES + "SELECT ?p WHERE { ?p a bk:SpecialBondProject }"
#: A project is funded by a source its name states, or one its special-bond funding table allocates money from.
_FUNDING = _PREFIXES + """
SELECT DISTINCT ?p ?f WHERE {
  ?p a bk:Project .
  { ?p bk:fundingSource ?f }
  UNION
  { ?p bk:hasFundingAllocation ?al . ?al bk:fundingSource ?f ; bk:amount/bk:amountInYuan ?y FILTER(?y > 0) }
}
"""
_FUNDING_LABELS = _PREFIXES + """
SELECT DISTINCT ?f ?label WHERE {
  [] bk:fundingSource ?f .
  OPTIONAL { ?f skos:prefLabel ?label FILTER(LANG(?label) = "zh") }
}
"""
_CONCEPTS = _PREFIXES + """
SELECT ?c ?label ?count ?informative ?category WHERE {
  ?c a bk:IndicatorConcept ; skos:prefLabel ?label .
  OPTIONAL { ?c bk:projectCount ?count }
  OPTIONAL { ?c bk:informative ?informative }
  OPTIONAL { ?c bk:conceptCategory ?category }
}
"""
#: One row per indicator (counted per project and concept in Python: cheaper than GROUP BY in the store).
_PROJECT_CONCEPTS = _PREFIXES + "SELECT ?p ?c WHERE { ?i bk:indicatorConcept ?c ; bk:ofProject ?p }"
_PROJECT_INFORMATIVE_CONCEPTS = _PREFIXES + """
SELECT ?p ?c WHERE { ?c bk:informative true . ?i bk:indicatorConcept ?c ; bk:ofProject ?p }
"""
_VENDORS = _PREFIXES + """
SELECT ?v ?label ?code WHERE { ?v a bk:Vendor . OPTIONAL { ?v rdfs:label ?label } OPTIONAL { ?v bk:creditCode ?code } }
"""
_CONTRACTS = _PREFIXES + """
SELECT ?c ?p ?v ?y WHERE { ?c bk:forProject ?p ; bk:vendor ?v . OPTIONAL { ?c bk:contractAmount/bk:amountInYuan ?y } }
"""
#: Link kind → its class; one query per kind asked for.
_LINK_CLASSES = {"shared-goal": "SharedGoalLink", "lineage": "LineageLink", "tranche": "TrancheLink"}
_LINKS = _PREFIXES + "SELECT ?l ?from ?to ?score WHERE { ?l a bk:%s ; bk:fromProject ?from ; bk:toProject ?to . " \
                     "OPTIONAL { ?l bk:score ?score } }"
#: What :func:`read_network` can read besides agencies, projects and funding.
PARTS = ("concept", "concept-all", "vendor", "link:shared-goal", "link:lineage", "link:tranche")


def parts_for(opts: NetworkOptions) -> frozenset[str]:
    """The optional parts of the store a graph with ``opts`` needs (so a page does not read what it won't show).

    >>> sorted(parts_for(NetworkOptions.parse(projection="agency", edge_kinds="shared-goal")))
    ['link:shared-goal']
    """
    kinds = set(opts.edge_kinds)
    out = {f"link:{k}" for k in _LINK_CLASSES if k in kinds}
    if opts.projection:
        if "shared-vendor" in kinds:
            out.add("vendor")
        return frozenset(out)
    if "concept" in opts.node_types and "has-concept" in kinds:
        out.add("concept-all" if opts.concepts == "all" else "concept")
    if "vendor" in opts.node_types and "contracted" in kinds:
        out.add("vendor")
    return frozenset(out)


@dataclass
class Agency:
    iri: str
    code: str
    label: str
    parent: str | None = None

    @property
    def level(self) -> str:
        """``unit`` (a 6-digit budget unit) or ``department`` (a 3-digit department)."""
        return "unit" if len(self.code) == 6 else "department"


@dataclass
class Project:
    iri: str
    label: str
    unit: str
    code: str
    year: int | None = None
    budget_yuan: float | None = None
    special_bond: bool = False


@dataclass
class Concept:
    iri: str
    label: str
    project_count: int = 0
    informative: bool = False
    category: str = ""


@dataclass
class NetworkData:
    """The facts a network is built from, as the store states them (IRIs as strings)."""

    agencies: dict[str, Agency] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    funding_labels: dict[str, str] = field(default_factory=dict)
    #: project → its funding sources
    funding: dict[str, set[str]] = field(default_factory=dict)
    concepts: dict[str, Concept] = field(default_factory=dict)
    #: (project, concept) → number of the project's indicators mapped to the concept
    project_concepts: dict[tuple[str, str], int] = field(default_factory=dict)
    vendors: dict[str, str] = field(default_factory=dict)
    #: (project, vendor) → (contracts, summed contract amount in 元)
    project_vendors: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    #: (kind, from project, to project, score, link IRI)
    links: list[tuple[str, str, str, float, str]] = field(default_factory=list)
    #: whether the store holds concepts, vendors, links (asked even when they were not read)
    present: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def available(self) -> dict[str, bool]:
        """Which optional parts the store holds: concepts and links (``budgetkg link``), vendors (contracts)."""
        read = {"concept": bool(self.concepts), "vendor": bool(self.vendors), "links": bool(self.links)}
        return {**{k: self.present.get(k, v) or v for k, v in read.items()}, "funding": bool(self.funding_labels)}

    def departments(self) -> list[dict[str, str]]:
        """Departments (code, label) that have projects, for filter menus."""
        codes = sorted({p.code[:3] for p in self.projects.values()})
        by_code = {a.code: a for a in self.agencies.values()}
        return [{"code": c, "label": by_code[c].label if c in by_code else c} for c in codes]

    def funding_sources(self) -> list[dict[str, object]]:
        """Funding sources (key, label, IRI, projects) that fund at least one project, most projects first."""
        counts = Counter(f for fs in self.funding.values() for f in fs)
        return [{"key": _local(f), "label": self.funding_labels.get(f) or _local(f), "iri": f, "projects": n}
                for f, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _local(iri: str) -> str:
    return iri.rsplit("/", 1)[-1]


def _num(term: Any) -> float | None:
    if term is None:
        return None
    try:
        return float(term.value)
    except ValueError:
        return None


def read_network(store: GraphStore, parts: Iterable[str] | None = None) -> NetworkData:
    """Read agencies, projects and funding, and the optional ``parts`` (default: all of :data:`PARTS`), from
    ``store`` with SPARQL. Indicator concepts, vendors and links not asked for are not read, but
    :attr:`NetworkData.available` still tells whether the store has them."""
    started = time.perf_counter()
    want = set(PARTS if parts is None else parts)
    d = NetworkData()

    def q(sparql: str, name: str) -> Any:
        return store.query(sparql, name=f"network:{name}")

    for s in q(_AGENCIES, "agencies"):
        iri = s["a"].value
        code = s["code"].value
        label = s["label"].value if s["label"] is not None else ""
        a = d.agencies.get(iri)
        if a is None:
            a = d.agencies[iri] = Agency(iri, code, label, s["parent"].value if s["parent"] is not None else None)
        elif label and (not a.label or label < a.label):  # a unit named two ways: the first name, stably
            a.label = label
    for a in d.agencies.values():
        if not a.label:
            a.label = f"{'部门' if a.level == 'department' else '单位'} {a.code}"
    for s in q(_PROJECTS, "projects"):
        iri = s["p"].value
        if iri in d.projects:
            continue
        year = s["year"].value[:4] if s["year"] is not None else ""
        d.projects[iri] = Project(iri, s["label"].value, s["unit"].value, s["code"].value,
                                  int(year) if year.isdigit() else None, _num(s["budget"]))
    for s in q(_SPECIAL_BOND, "special-bond"):
        if (p := d.projects.get(s["p"].value)) is not None:
            p.special_bond = True
    for s in q(_FUNDING, "funding"):
        d.funding.setdefault(s["p"].value, set()).add(s["f"].value)
    for s in q(_FUNDING_LABELS, "funding-labels"):
        f = s["f"].value
        label = s["label"].value if s["label"] is not None else _local(f)
        if f not in d.funding_labels or label < d.funding_labels[f]:
            d.funding_labels[f] = label
    if want & {"concept", "concept-all"}:
        for s in q(_CONCEPTS, "concepts"):
            c = s["c"].value
            if c in d.concepts:
                continue
            d.concepts[c] = Concept(c, s["label"].value, int(_num(s["count"]) or 0),
                                    s["informative"] is not None and s["informative"].value == "true",
                                    _local(s["category"].value) if s["category"] is not None else "")
        carried: Counter[tuple[str, str]] = Counter()
        sparql = _PROJECT_CONCEPTS if "concept-all" in want else _PROJECT_INFORMATIVE_CONCEPTS
        for s in q(sparql, "project-concepts"):
            carried[(s["p"].value, s["c"].value)] += 1
        d.project_concepts = dict(carried)
    if "vendor" in want:
        for s in q(_VENDORS, "vendors"):
            v = s["v"].value
            label = s["label"].value if s["label"] is not None else (s["code"].value if s["code"] is not None
                                                                     else v)
            d.vendors.setdefault(v, label)
        contracts: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for s in q(_CONTRACTS, "contracts"):
            contracts[(s["p"].value, s["v"].value)][s["c"].value] = _num(s["y"]) or 0.0
        d.project_vendors = {k: (len(v), sum(v.values())) for k, v in contracts.items()}
    seen: set[str] = set()
    for kind, cls in _LINK_CLASSES.items():
        if f"link:{kind}" not in want:
            continue
        for s in q(_LINKS % cls, f"links:{kind}"):
            iri = s["l"].value
            if iri in seen:
                continue
            seen.add(iri)
            d.links.append((kind, s["from"].value, s["to"].value, _num(s["score"]) or 0.0, iri))
    d.links.sort(key=lambda x: x[4])
    for what in ("concept", "vendor", "links"):
        d.present[what] = _exists(store, what)
    d.seconds = time.perf_counter() - started
    return d


_EXISTS = {"concept": "ASK { ?x a bk:IndicatorConcept }", "vendor": "ASK { ?x a bk:Vendor }",
           "links": "ASK { { ?x a bk:SharedGoalLink } UNION { ?x a bk:LineageLink } UNION { ?x a bk:TrancheLink } }"}


def _exists(store: GraphStore, what: str) -> bool:
    return bool(store.query(_PREFIXES + _EXISTS[what], name=f"network:has-{what}"))


# -- the network -----------------------------------------------------------------------------------


def _selected_projects(data: NetworkData, opts: NetworkOptions) -> set[str]:
    out = set()
    funding = opts.funding
    for p in data.projects.values():
        if opts.department and not p.code.startswith(opts.department):
            continue
        if funding and not any(_local(f) == funding for f in data.funding.get(p.iri, ())):
            continue
        out.add(p.iri)
    return out


def _selected_agencies(data: NetworkData, opts: NetworkOptions, projects: set[str]) -> set[str]:
    """Agencies in the department; with a funding filter, only those that run (or oversee) a selected project."""
    out = set()
    running = {data.projects[p].unit for p in projects}
    running |= {parent for u in running if u in data.agencies and (parent := data.agencies[u].parent)}
    for a in data.agencies.values():
        if opts.department and not a.code.startswith(opts.department):
            continue
        if opts.funding and a.iri not in running:
            continue
        out.add(a.iri)
    return out


def _agency_attrs(a: Agency) -> dict[str, Any]:
    return {"label": a.label, "type": "agency", "iri": a.iri, "code": a.code, "level": a.level,
            "department": a.code[:3]}


def _project_attrs(p: Project, data: NetworkData) -> dict[str, Any]:
    attrs: dict[str, Any] = {"label": p.label, "type": "project", "iri": p.iri, "code": p.code,
                             "department": p.code[:3], "special_bond": p.special_bond,
                             "funding": ";".join(sorted(_local(f) for f in data.funding.get(p.iri, ())))}
    if p.year is not None:
        attrs["year"] = p.year
    if p.budget_yuan is not None:
        attrs["budget_wanyuan"] = round(p.budget_yuan / 10000, 4)
    return attrs


class _Builder:
    """Adds nodes and edges for one set of options.

    Core nodes (those that pass the filters) are always added. An edge is kept when one of its ends
    is an anchor (a core node whose neighbours are shown) or both are core; its other end comes in
    as a neighbour.
    """

    def __init__(self, g: nx.MultiDiGraph | nx.MultiGraph, core: set[str], min_weight: float,
                 anchors: set[str] | None = None) -> None:
        self.g = g
        self.core = core
        self.anchors = core if anchors is None else anchors
        self.min_weight = min_weight
        self.attrs: dict[str, dict[str, Any]] = {}

    def node(self, n: str, attrs: dict[str, Any]) -> None:
        self.attrs[n] = attrs
        if n in self.core and n not in self.g:
            self.g.add_node(n, **attrs, in_filter=True)

    def edge(self, u: str, v: str, kind: str, weight: float, **attrs: Any) -> None:
        if weight < self.min_weight:
            return
        if u not in self.anchors and v not in self.anchors and not (u in self.core and v in self.core):
            return
        if u not in self.attrs or v not in self.attrs:
            return
        for n in (u, v):
            if n not in self.g:
                self.g.add_node(n, **self.attrs[n], in_filter=n in self.core)
        self.g.add_edge(u, v, key=kind, kind=kind, weight=float(weight), **attrs)


def build_network(data: NetworkData, opts: NetworkOptions) -> nx.MultiDiGraph:
    """The agency–project network for ``opts`` (see the module docstring and ``docs/graph.md``).

    Agencies and projects that pass the filters are always nodes. Funding sources, concepts, vendors
    and projects outside the filters appear when an edge of a kept kind joins them to a project that
    passes (``in_filter`` tells which); agencies are joined to projects that pass and to each other.
    """
    if opts.projection:
        raise NetworkOptionError("these options ask for a projection: use build_projection")
    types, kinds = set(opts.node_types), set(opts.edge_kinds)
    projects = _selected_projects(data, opts)
    agencies = _selected_agencies(data, opts, projects)
    core = (projects if "project" in types else set()) | (agencies if "agency" in types else set())
    g = nx.MultiDiGraph()
    b = _Builder(g, core, opts.min_weight, anchors=projects if "project" in types else core)
    if "agency" in types:
        for a in sorted(data.agencies.values(), key=lambda a: a.code):
            b.node(a.iri, _agency_attrs(a))
    if "project" in types:
        for p in sorted(data.projects.values(), key=lambda p: p.iri):
            b.node(p.iri, _project_attrs(p, data))
    if "funding" in types:
        counts = Counter(f for fs in data.funding.values() for f in fs)
        for f, label in sorted(data.funding_labels.items()):
            b.node(f, {"label": label, "type": "funding", "iri": f, "code": _local(f), "projects": counts.get(f, 0)})
    if "concept" in types:
        for c in sorted(data.concepts.values(), key=lambda c: c.iri):
            if opts.concepts == "informative" and not c.informative:
                continue
            b.node(c.iri, {"label": c.label, "type": "concept", "iri": c.iri, "projects": c.project_count,
                           "informative": c.informative, "category": c.category})
    if "vendor" in types:
        for v, label in sorted(data.vendors.items()):
            b.node(v, {"label": label, "type": "vendor", "iri": v})

    if "budget-unit" in kinds:
        for p in sorted(data.projects.values(), key=lambda p: p.iri):
            b.edge(p.iri, p.unit, "budget-unit", 1.0)
    if "sub-organization" in kinds:
        for a in sorted(data.agencies.values(), key=lambda a: a.code):
            if a.parent:
                b.edge(a.iri, a.parent, "sub-organization", 1.0)
    if "funded-by" in kinds:
        for project in sorted(data.funding):
            for f in sorted(data.funding[project]):
                b.edge(project, f, "funded-by", 1.0)
    if "has-concept" in kinds:
        for (project, concept), n in sorted(data.project_concepts.items()):
            b.edge(project, concept, "has-concept", float(n), indicators=n)
    if "contracted" in kinds:
        for (project, v), (n, amount) in sorted(data.project_vendors.items()):
            b.edge(project, v, "contracted", float(n), contracts=n, amount_yuan=round(amount, 2))
    for kind, x, y, score, iri in data.links:
        if kind in kinds:
            b.edge(x, y, kind, round(score, 4), link=iri)
    _graph_attrs(g, data, opts)
    return g


def _graph_attrs(g: nx.Graph, data: NetworkData, opts: NetworkOptions) -> None:
    g.graph.update({"name": "budgetkg agency–project network" if not opts.projection
                    else f"budgetkg {opts.projection}–{opts.projection} projection",
                    "view": opts.projection or "network", "options": opts.key(),
                    "node_types": ",".join(opts.node_types), "edge_kinds": ",".join(opts.edge_kinds)})


# -- the projection --------------------------------------------------------------------------------


def build_projection(data: NetworkData, opts: NetworkOptions) -> nx.MultiGraph:
    """Budget units (``projection="agency"``) or departments joined by what their projects share.

    Over the projects that pass the funding filter (all without one), two agencies are joined by

    - ``shared-goal``: weight = number of ``bk:SharedGoalLink`` s between a project of each
      (``score_sum`` = their summed scores);
    - ``shared-vendor``: weight = number of vendors holding contracts for projects of both;
    - ``shared-funding``: weight = number of funding sources funding projects of both.

    Nodes are the agencies with at least one such project. ``department`` keeps the agencies whose
    code starts with it and the agencies joined to them.
    """
    if not opts.projection:
        raise NetworkOptionError("these options ask for the network: use build_network")
    level = opts.projection
    projects = _selected_projects(data, replace(opts, department=None))
    by_code = {a.code: a for a in data.agencies.values()}

    def group(p: str) -> str:
        code = data.projects[p].code
        return code if level == "agency" else code[:3]

    members: dict[str, list[str]] = defaultdict(list)
    for p in sorted(projects):
        members[group(p)].append(p)
    ids = {code: by_code[code].iri if code in by_code else f"department:{code}" for code in members}
    core = {ids[c] for c in members if not opts.department or c.startswith(opts.department)
            or (level == "department" and opts.department.startswith(c))}
    g = nx.MultiGraph()
    b = _Builder(g, core, opts.min_weight)
    for code, ps in sorted(members.items()):
        agency = by_code.get(code)
        attrs: dict[str, Any] = _agency_attrs(agency) if agency is not None else {
            "label": f"部门 {code}", "type": "agency", "iri": "", "code": code, "level": "department",
            "department": code[:3]}
        budget = sum(data.projects[p].budget_yuan or 0.0 for p in ps)
        attrs.update(projects=len(ps), budget_wanyuan=round(budget / 10000, 4))
        b.node(ids[code], attrs)

    def pairs(sets: dict[str, set[str]]) -> dict[tuple[str, str], set[str]]:
        """item → groups having it, turned into (group, group) → shared items."""
        holders: dict[str, set[str]] = defaultdict(set)
        for grp, items in sets.items():
            for item in items:
                holders[item].add(grp)
        shared: dict[tuple[str, str], set[str]] = defaultdict(set)
        for item, grps in holders.items():
            ordered = sorted(grps)
            for i, x in enumerate(ordered):
                for y in ordered[i + 1:]:
                    shared[(x, y)].add(item)
        return shared

    if "shared-goal" in opts.edge_kinds:
        goal: dict[tuple[str, str], list[float]] = defaultdict(list)
        for kind, a, c, score, _iri in data.links:
            if kind != "shared-goal" or a not in projects or c not in projects:
                continue
            x, y = group(a), group(c)
            if x != y:
                goal[(min(x, y), max(x, y))].append(score)
        for (x, y), scores in sorted(goal.items()):
            b.edge(ids[x], ids[y], "shared-goal", float(len(scores)), links=len(scores),
                   score_sum=round(sum(scores), 4))
    if "shared-vendor" in opts.edge_kinds:
        held: dict[str, set[str]] = defaultdict(set)
        for (p, v) in data.project_vendors:
            if p in projects:
                held[group(p)].add(v)
        for (x, y), vs in sorted(pairs(held).items()):
            b.edge(ids[x], ids[y], "shared-vendor", float(len(vs)), via=_via(data.vendors.get(v, v) for v in vs))
    if "shared-funding" in opts.edge_kinds:
        funded: dict[str, set[str]] = defaultdict(set)
        for p in projects:
            funded[group(p)] |= data.funding.get(p, set())
        for (x, y), fs in sorted(pairs(funded).items()):
            b.edge(ids[x], ids[y], "shared-funding", float(len(fs)),
                   via=_via(data.funding_labels.get(f, _local(f)) for f in fs))
    _graph_attrs(g, data, opts)
    return g


def _via(names: Iterable[str], limit: int = 12) -> str:
    """What two agencies share, for reading: at most ``limit`` names, then how many more.

    >>> _via(["b", "a", "c"], limit=2)
    'a; b; … (+1)'
    """
    ordered = sorted(names)
    more = f"; … (+{len(ordered) - limit})" if len(ordered) > limit else ""
    return "; ".join(ordered[:limit]) + more


# -- metrics ---------------------------------------------------------------------------------------


def simple_view(g: nx.Graph) -> nx.Graph:
    """An undirected simple graph of ``g``: parallel edges merged, their weights summed."""
    h = nx.Graph()
    h.add_nodes_from(g.nodes)
    for u, v, w in g.edges(data="weight", default=1.0):
        if u == v:
            continue
        if h.has_edge(u, v):
            h[u][v]["weight"] += w
        else:
            h.add_edge(u, v, weight=w)
    return h


def add_metrics(g: nx.Graph, *, betweenness_samples: int | None = None, seed: int = 0) -> dict[str, float]:
    """Attach ``degree``, ``weighted_degree``, ``betweenness`` and ``community`` to every node of ``g``.

    Degree counts edges (parallel edges of different kinds each count); weighted degree sums their
    weights. Betweenness (normalised, unweighted, on the undirected simple graph) is exact while
    nodes × edges ≤ :data:`BETWEENNESS_WORK` (exact computation is O(nodes · edges), Brandes); above
    that it is the Brandes–Pich estimate from ``betweenness_samples`` source nodes drawn with
    ``seed`` (default ``BETWEENNESS_WORK / edges``, at least :data:`BETWEENNESS_MIN_SAMPLES`).
    Communities are Louvain's (weighted, ``seed``), numbered 0, 1 … from the largest. Returns
    seconds per metric; the graph records how betweenness was computed.
    """
    times: dict[str, float] = {}
    t = time.perf_counter()
    h = simple_view(g)
    for n, d in g.degree():
        g.nodes[n]["degree"] = int(d)
    for n, d in g.degree(weight="weight"):
        g.nodes[n]["weighted_degree"] = round(float(d), 4)
    times["degree"] = time.perf_counter() - t

    t = time.perf_counter()
    n, m = h.number_of_nodes(), h.number_of_edges()
    k = None
    if betweenness_samples is not None and betweenness_samples < n:
        k = max(1, betweenness_samples)
    elif betweenness_samples is None and n * m > BETWEENNESS_WORK:
        k = min(n, max(BETWEENNESS_MIN_SAMPLES, BETWEENNESS_WORK // max(m, 1)))
    bc = nx.betweenness_centrality(h, k=k, seed=seed, normalized=True) if n > 2 else dict.fromkeys(h, 0.0)
    for node, value in bc.items():
        g.nodes[node]["betweenness"] = round(float(value), 6)
    g.graph["betweenness"] = "exact" if k is None or k >= n else f"estimated from {k} sampled sources (seed {seed})"
    times["betweenness"] = time.perf_counter() - t

    t = time.perf_counter()
    communities = nx.community.louvain_communities(h, weight="weight", seed=seed) if h.number_of_edges() else \
        [{node} for node in h]
    ordered = sorted(communities, key=lambda c: (-len(c), min(c)))
    for i, members in enumerate(ordered):
        for node in members:
            g.nodes[node]["community"] = i
    g.graph["communities"] = len(ordered)
    times["communities"] = time.perf_counter() - t
    return times


# -- one call -----------------------------------------------------------------------------------


@dataclass
class NetworkResult:
    graph: nx.Graph
    data: NetworkData
    options: NetworkOptions
    truncated: bool = False
    total_nodes: int = 0
    total_edges: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    edges_truncated: bool = False


def limit_nodes(g: nx.Graph, max_nodes: int) -> bool:
    """Keep the ``max_nodes`` nodes of highest degree (ties by id); returns whether any were dropped."""
    if g.number_of_nodes() <= max_nodes:
        return False
    ranked = sorted(g.degree(weight="weight"), key=lambda nd: (-nd[1], str(nd[0])))
    g.remove_nodes_from([node for node, _ in ranked[max_nodes:]])
    return True


def limit_edges(g: nx.Graph, max_edges: int) -> bool:
    """Keep the ``max_edges`` heaviest edges; nodes of optional types (and nodes outside the filters) left
    without edges go too. Returns whether any edge was dropped."""
    if g.number_of_edges() <= max_edges:
        return False
    multi = g.is_multigraph()
    edges = list(g.edges(keys=True, data="weight", default=1.0) if multi else g.edges(data="weight", default=1.0))
    edges.sort(key=lambda e: (-e[-1], str(e[2]) if multi else "", str(e[0]), str(e[1])))
    drop = edges[max_edges:]
    if multi:
        g.remove_edges_from((u, v, k) for u, v, k, _ in drop)
    else:
        g.remove_edges_from((u, v) for u, v, _ in drop)
    g.remove_nodes_from([n for n, d in g.nodes(data=True) if g.degree(n) == 0
                         and (d.get("type") in ("funding", "concept", "vendor") or not d.get("in_filter", True))])
    return True


def graph_from_store(store: GraphStore, opts: NetworkOptions, *, data: NetworkData | None = None,
                     metrics: bool = True, max_nodes: int | None = None, max_edges: int | None = None,
                     betweenness_samples: int | None = None) -> NetworkResult:
    """Read the store (unless ``data`` is given: it must hold the parts :func:`parts_for` names), build the
    network or projection, cut it to ``max_nodes`` (highest weighted degree first) and ``max_edges``
    (heaviest first), and attach metrics."""
    seconds: dict[str, float] = {}
    if data is None:
        data = read_network(store, parts_for(opts))
        seconds["read"] = data.seconds
    t = time.perf_counter()
    g = build_projection(data, opts) if opts.projection else build_network(data, opts)
    seconds["build"] = time.perf_counter() - t
    total_nodes, total_edges = g.number_of_nodes(), g.number_of_edges()
    truncated = limit_nodes(g, max_nodes) if max_nodes is not None else False
    edges_truncated = limit_edges(g, max_edges) if max_edges is not None else False
    if metrics:
        seconds.update(add_metrics(g, betweenness_samples=betweenness_samples))
    return NetworkResult(g, data, opts, truncated or edges_truncated, total_nodes, total_edges, seconds,
                         edges_truncated)


# -- exports ---------------------------------------------------------------------------------------

EXPORT_FORMATS = ("graphml", "gexf", "cyjs")


def _rgb(hex_colour: str) -> dict[str, int | float]:
    h = hex_colour.lstrip("#")
    return {"r": int(h[0:2], 16), "g": int(h[2:4], 16), "b": int(h[4:6], 16), "a": 1.0}


def node_colour(attrs: dict[str, Any]) -> str:
    if attrs.get("type") == "agency" and attrs.get("level") == "department":
        return NODE_COLOURS["department"]
    return NODE_COLOURS.get(attrs.get("type", ""), "#888888")


def _export_copy(g: nx.Graph) -> nx.Graph:
    """A copy with stable edge ids and only GraphML/GEXF-safe attribute values (str, int, float, bool)."""
    h = g.copy()
    for key in list(h.graph):
        if not isinstance(h.graph[key], str | int | float | bool):
            del h.graph[key]
    for i, (_u, _v, d) in enumerate(h.edges(data=True)):
        d["id"] = f"e{i}"
    return h


def write_graphml(g: nx.Graph, path: str | Path) -> None:
    """GraphML (Gephi, yEd, Cytoscape): every node and edge attribute, edge ids ``e0, e1 …``."""
    nx.write_graphml(_export_copy(g), str(path), encoding="utf-8", prettyprint=True)


def write_gexf(g: nx.Graph, path: str | Path) -> None:
    """GEXF 1.2 (Gephi) with colours by node type and sizes by weighted degree (``viz``)."""
    h = _export_copy(g)
    top = max((d.get("weighted_degree", 0.0) for _, d in h.nodes(data=True)), default=0.0) or 1.0
    for _, d in h.nodes(data=True):
        size = 4 + 26 * math.sqrt(d.get("weighted_degree", 0.0) / top)
        d["viz"] = {"color": _rgb(node_colour(d)), "size": round(size, 2)}
    for _, _, d in h.edges(data=True):
        d["label"] = d.get("kind", "")
    nx.write_gexf(h, str(path), encoding="utf-8", prettyprint=True)


def cytoscape_elements(g: nx.Graph) -> dict[str, list[dict[str, Any]]]:
    """Cytoscape.js elements: ``{"nodes": [{"data": {...}}], "edges": [{"data": {...}}]}``."""
    nodes = [{"data": {"id": str(n), **d}} for n, d in g.nodes(data=True)]
    edges = []
    multi = g.is_multigraph()
    for i, e in enumerate(g.edges(keys=True, data=True) if multi else g.edges(data=True)):
        u, v, d = e[0], e[1], e[-1]
        edges.append({"data": {"id": f"e{i}", "source": str(u), "target": str(v), **d}})
    return {"nodes": nodes, "edges": edges}


def cytoscape_json(result: NetworkResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The graph as Cytoscape.js JSON (also a ``.cyjs`` file Cytoscape desktop imports), with a ``meta`` block.

    ``meta`` says what is in the graph (counts, options, what the store makes available, whether
    ``max_nodes`` cut it), lists departments and funding sources for filter menus, and carries the
    colours and zh labels of node types and edge kinds.
    """
    g = result.graph
    kinds = Counter(d.get("kind") for _, _, d in g.edges(data=True))
    types = Counter(d.get("type") for _, d in g.nodes(data=True))
    meta = {
        "view": result.options.projection or "network",
        "options": {"node_types": list(result.options.node_types), "edge_kinds": list(result.options.edge_kinds),
                    "department": result.options.department, "funding": result.options.funding,
                    "min_weight": result.options.min_weight, "concepts": result.options.concepts},
        "nodes": g.number_of_nodes(), "edges": g.number_of_edges(),
        "node_counts": dict(sorted(types.items())), "edge_counts": dict(sorted(kinds.items())),
        "truncated": result.truncated, "edges_truncated": result.edges_truncated,
        "total_nodes": result.total_nodes, "total_edges": result.total_edges,
        "available": result.data.available, "departments": result.data.departments(),
        "funding_sources": result.data.funding_sources(),
        "betweenness": g.graph.get("betweenness", ""), "communities": g.graph.get("communities", 0),
        "node_colours": NODE_COLOURS, "edge_colours": EDGE_COLOURS, "labels": LABELS_ZH,
        "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
    }
    if extra:
        meta.update(extra)
    return {"data": {"name": g.graph.get("name", "budgetkg"), "options": result.options.key()},
            "elements": cytoscape_elements(g), "meta": meta}


def cytoscape_bytes(result: NetworkResult, extra: dict[str, Any] | None = None) -> bytes:
    """:func:`cytoscape_json` as compact UTF-8 JSON."""
    return json.dumps(cytoscape_json(result, extra), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_cyjs(result: NetworkResult, path: str | Path) -> None:
    Path(path).write_bytes(cytoscape_bytes(result))


def export(result: NetworkResult, fmt: str, path: str | Path) -> None:
    """Write ``result`` as ``graphml``, ``gexf`` or ``cyjs`` (PNG/SVG: :func:`kg.render.render`)."""
    if fmt == "graphml":
        write_graphml(result.graph, path)
    elif fmt == "gexf":
        write_gexf(result.graph, path)
    elif fmt == "cyjs":
        write_cyjs(result, path)
    else:
        raise NetworkOptionError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)}, png, svg)")
