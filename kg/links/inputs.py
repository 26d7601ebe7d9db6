"""What linking reads: projects, goal texts and indicator wordings, from the store or from parsed documents.

Both ways go through :class:`LinkInputs`, so :func:`kg.links.refresh_links` computes the same links
from a store read back with SPARQL and from a build's parsed records (:func:`document_links`).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from pyoxigraph import QuerySolutions

from .. import similarity as sim
from ..iris import Iris
from ..model import ParsedDocument
from ..namespaces import CATEGORY, FUNDING, TRANCHE, VALUEKIND, sparql_prefixes
from ..rdf import LEVEL1_KEYS, LEVEL2_KEYS, project_iris, term_value
from ..store import GraphStore
from .concepts import Term, unit_dimension

_PREFIXES = sparql_prefixes(["bk", "rdfs", "skos"])
_PROJECTS = _PREFIXES + """
SELECT ?p ?name ?code ?year ?base ?fy ?fs ?tr ?pct ?served ?unit_name WHERE {
  ?p a bk:Project ; rdfs:label ?name ; bk:budgetUnitCode ?code ; bk:budgetYear ?year .
  OPTIONAL { ?p bk:baseName ?base }
  OPTIONAL { ?p bk:fundYear ?fy }
  OPTIONAL { ?p bk:fundingSource ?fs }
  OPTIONAL { ?p bk:paymentTranche ?tr }
  OPTIONAL { ?p bk:tranchePercent ?pct }
  OPTIONAL { ?p bk:servedUnitName ?served }
  OPTIONAL { ?p bk:budgetUnitName ?unit_name }
}
"""
_INDICATORS = _PREFIXES + """
SELECT ?i ?p ?name ?l1 ?l2 ?u ?vk WHERE {
  ?i bk:ofProject ?p ; bk:indicatorName ?name .
  OPTIONAL { ?i bk:level1 ?l1 }
  OPTIONAL { ?i bk:level2 ?l2 }
  OPTIONAL { ?i bk:target ?t . OPTIONAL { ?t bk:normalizedUnit ?u } OPTIONAL { ?t bk:valueKind ?vk } }
}
"""
_GOALS = _PREFIXES + """
SELECT ?p ?g ?text WHERE { ?p bk:hasGoal ?g . ?g bk:goalText ?text }
"""
_DEPARTMENTS = _PREFIXES + """
SELECT ?code ?label WHERE { ?d a bk:Department ; bk:agencyCode ?code ; rdfs:label ?label }
"""


@dataclass
class Project:
    """What linking needs to know of one project (read from the store)."""

    iri: str
    name: str
    unit_code: str
    year: int
    base: str
    fund_year: int | None = None
    funding: str | None = None
    tranche: str | None = None
    percent: Decimal | None = None
    served: str | None = None
    unit_name: str = ""
    goals: list[tuple[str, str]] = field(default_factory=list)

    @property
    def department(self) -> str:
        return self.unit_code[:3]

    @property
    def goal_text(self) -> str:
        return "\n".join(t for _, t in sorted(self.goals))


def _local(iri: str | None) -> str | None:
    return None if iri is None else iri.rsplit("/", 1)[-1]


#: One indicator as linking reads it: (indicator, project, 三级指标 name, 一级 key, 二级 key, unit IRI, value kind IRI).
IndicatorRow = tuple[str, str, str, str | None, str | None, str | None, str | None]


@dataclass
class DocumentLinks:
    """What linking needs of one document: its projects (with goals) and indicator rows.

    Made by :func:`document_links` from the parsed records, exactly as reading that document's
    graph would give them, so a full build need not read the store back before linking.
    """

    projects: list[Project]
    indicators: list[IndicatorRow]


class LinkInputs:
    """Projects, goals and indicator wordings, gathered from the store or from parsed documents.

    Both ways go through the same :meth:`add_project` / :meth:`add_goal` / :meth:`add_indicator`,
    so :func:`refresh_links` computes the same links from either.
    """

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self._terms: dict[str, Term] = {}
        self._carriers: dict[str, set[str]] = {}  # term key → project IRIs
        #: A project IRI came from two documents: the store merges such duplicates, so read it instead.
        self.repeated = False

    @classmethod
    def read(cls, store: GraphStore, indicators: bool = True) -> LinkInputs:
        """Everything linking needs (or only the projects and goals), read from ``store`` with SPARQL."""
        inputs = cls()
        solutions = store.query(_PROJECTS, name="links:projects")
        assert isinstance(solutions, QuerySolutions)  # a SELECT
        for s in solutions:
            pct = term_value(s["pct"])
            inputs.add_project(Project(
                iri=s["p"].value, name=s["name"].value, unit_code=s["code"].value, year=int(s["year"].value[:4]),
                base=term_value(s["base"]) or s["name"].value,
                fund_year=int(fy[:4]) if (fy := term_value(s["fy"])) else None,
                funding=_local(term_value(s["fs"])), tranche=_local(term_value(s["tr"])),
                percent=Decimal(pct) if pct is not None else None, served=term_value(s["served"]),
                unit_name=term_value(s["unit_name"]) or ""))
        solutions = store.query(_GOALS, name="links:goals")
        assert isinstance(solutions, QuerySolutions)  # a SELECT
        for s in solutions:
            inputs.add_goal(s["p"].value, s["g"].value, s["text"].value)
        if indicators:
            inputs.read_indicators(store, inputs.projects)
        return inputs

    def read_indicators(self, store: GraphStore, known: Container[str]) -> None:
        """The indicator rows of the projects in ``known``, read from ``store``."""
        solutions = store.query(_INDICATORS, name="links:indicators")
        assert isinstance(solutions, QuerySolutions)  # a SELECT
        for s in solutions:
            if s["p"].value in known:
                self.add_indicator((s["i"].value, s["p"].value, s["name"].value, _local(term_value(s["l1"])),
                                    _local(term_value(s["l2"])), term_value(s["u"]), term_value(s["vk"])))

    def add_project(self, project: Project) -> bool:
        """Add a project (the first of one IRI wins, like the first solution of a query); False if known."""
        if project.iri in self.projects:
            return False
        self.projects[project.iri] = project
        return True

    def add_goal(self, project: str, goal: str, text: str) -> None:
        p = self.projects.get(project)
        if p is not None:
            p.goals.append((goal, text))

    def add_indicator(self, row: IndicatorRow) -> None:
        i, p, name, l1, l2, unit, kind = row
        key = sim.compact(name)
        if not key:
            return
        t = self._terms.get(key)
        if t is None:
            t = self._terms[key] = Term(key)
            self._carriers[key] = set()
        t.labels[name.strip()] += 1
        self._carriers[key].add(p)
        t.indicators.append(i)
        t.dims[unit_dimension(unit, kind)] += 1
        if l1 is not None:
            t.cats[l1] += 1
        if l2 is not None:
            t.subcats[l2] += 1

    def add_document(self, doc: DocumentLinks) -> None:
        """Add what :func:`document_links` made of one document."""
        for p in doc.projects:
            if not self.add_project(p):
                self.repeated = True
        for row in doc.indicators:
            self.add_indicator(row)

    def project_list(self) -> list[Project]:
        """The projects, sorted by IRI (a project's position is its index in links)."""
        return [self.projects[k] for k in sorted(self.projects)]

    def terms(self, index: Mapping[str, int]) -> list[Term]:
        """The indicator wordings, sorted, with their projects as positions in ``index``."""
        out = []
        for key in sorted(self._terms):
            t = self._terms[key]
            t.projects = {index[p] for p in self._carriers[key]}
            t.indicators.sort()
            out.append(t)
        return out


def document_links(parsed: ParsedDocument, iris: Iris) -> DocumentLinks:
    """What :meth:`LinkInputs.read` would read of ``parsed`` once :func:`kg.rdf.document_quads` wrote it.

    The values are those the RDF carries (IRIs minted the same way, absent values where no quad is
    written); ``tests/test_links.py`` checks that both ways give the same links.
    """
    year = int(parsed.source.budget_year)
    projects: list[Project] = []
    rows: list[IndicatorRow] = []
    for rec, node in zip(parsed.records, project_iris(parsed, iris), strict=True):
        proj = node.value
        if proj in parsed.superseded:  # described by the revising document
            continue
        info = rec.name_info
        p = Project(
            iri=proj, name=rec.name, unit_code=rec.unit_code, year=year, base=info.base_name or rec.name,
            fund_year=int(info.fund_year) if info.fund_year else None,
            funding=_local(FUNDING[info.funding_source].value) if info.funding_source else None,
            tranche=_local(TRANCHE[info.tranche].value) if info.tranche else None,
            percent=info.tranche_percent, served=info.served_unit or None, unit_name=rec.unit_name or "",
            goals=[(f"{proj}/goal/{g.kind}-{g.ordinal}", g.text) for g in rec.goals])
        projects.append(p)
        for ind in rec.indicators:
            l1 = LEVEL1_KEYS.get(ind.level1)
            l2 = LEVEL2_KEYS.get((ind.level1, ind.level2))
            v = ind.value
            rows.append((f"{proj}/indicator/{ind.position}", proj, ind.name,
                         _local(CATEGORY[l1].value) if l1 else None, _local(CATEGORY[l2].value) if l2 else None,
                         (v.unit.base_iri or v.unit.iri) if v.unit is not None else None, VALUEKIND[v.kind].value))
    return DocumentLinks(projects, rows)


def read_projects(store: GraphStore) -> list[Project]:
    """Every project with its name analysis and goal texts, sorted by IRI."""
    return LinkInputs.read(store, indicators=False).project_list()


def read_terms(store: GraphStore, index: Mapping[str, int]) -> list[Term]:
    """The indicator wordings of the projects in ``index`` (project IRI → position)."""
    inputs = LinkInputs()
    inputs.read_indicators(store, index)
    return inputs.terms(index)


def read_departments(store: GraphStore) -> dict[str, str]:
    """Department code → its name (served units are named under their department)."""
    solutions = store.query(_DEPARTMENTS, name="links:departments")
    assert isinstance(solutions, QuerySolutions)  # a SELECT
    return {s["code"].value: s["label"].value for s in solutions}
