"""Materialised, explainable links between projects: shared goals, lineage, tranches, served units.

:func:`refresh_links` reads what it needs from the store with SPARQL (projects, indicator names
and units, goal texts) — or takes it from a build that has just parsed every document
(:func:`document_links`, :class:`LinkInputs`) — computes four kinds of link and replaces the named
graph ``<base>graph/links`` with them (see :func:`refresh_links` for how it is written).

1. **Indicator concepts.** Each distinct wording of a 三级指标 (compared without punctuation,
   width or spaces) is a ``bk:IndicatorTerm``. Terms are grouped into ``bk:IndicatorConcept`` s
   (a SKOS scheme), most frequent first: a term joins the concept one of whose wordings it is most
   similar to, if that similarity reaches ``concept_close`` and its similarity to the concept's
   leading (most frequent) wording reaches ``concept_leader_min`` (so concepts cannot drift by
   chaining); else it leads a new concept. Similarity is the idf-weighted Dice coefficient of
   character bigrams, times ``unit_mismatch_factor`` when the two are measured in different kinds
   of unit (percent, money, duration, count …) and ``category_mismatch_factor`` when they sit under
   different 一级指标. A term maps to its concept with ``skos:exactMatch`` when the similarity
   reaches ``concept_exact`` and one wording holds all the other's bigrams (系统验收合格率 ⊃
   验收合格率), else with ``skos:closeMatch`` (硬件/软件维护数量); a ``bk:ConceptMatch`` node carries
   the score and the shared bigrams. Candidate wordings come from an inverted index of bigrams.
2. **Shared goals.** A concept's weight is its idf, ``ln(N / projects carrying it)``. Concepts in
   ``weak_categories`` (满意度指标, 成本指标: who is pleased and what it costs, not what is
   pursued) and concepts on more than ``max_concept_share`` of all projects are left out. Two
   projects are linked when they share at least ``min_shared_concepts`` remaining concepts and
   ``concept_weight · cos(concepts) + (1 − concept_weight) · cos(goal keywords) ≥ min_score``; goal
   keywords are the ``goal_keywords`` highest tf-idf character bigrams of the goal texts. Pairs are
   found with an inverted index (:func:`kg.similarity.candidate_pairs`), not by comparing all pairs;
   each project keeps its ``max_links_per_project`` best links.
3. **Lineage and tranches.** Within one budget unit, two projects whose *core names* (base name
   without served unit, years and generic suffixes such as 项目/经费/费) are similar
   (≥ ``lineage_min_score``) and serve the same unit are the same undertaking: a ``bk:TrancheLink``
   when they are payments of one project (both carry a tranche marker, either is 利息, or one
   carries a marker and both have the same fund year), else a ``bk:LineageLink`` when their fund
   years, budget years or funding sources differ. Links point from the earlier to the later.
4. **Served units.** A project whose name starts with the unit it serves (督审总队…, 公交分局…)
   is linked to that unit: the project's own budget unit when the names agree (公交分局 is
   天津市公安局公共交通治安分局 abbreviated), else a ``bk:ServedUnit`` of the department.

Every link is an IRI node (``<base>link/<kind>/<hash of endpoints>``) with both endpoints,
``bk:score``, ``bk:rule`` and its evidence, so re-runs give byte-identical dumps.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal

import numpy as np
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, serialize
from scipy import sparse

from . import similarity as sim
from .errors import StoreError
from .iris import Iris
from .model import ParsedDocument
from .namespaces import BK, CATEGORY, FUNDING, ORG, RDF, RDFS, SKOS, TRANCHE, VALUEKIND, XSD, sparql_prefixes
from .rdf import LEVEL1_KEYS, LEVEL2_KEYS, project_iris
from .settings import Settings
from .store import GraphStore, NQuads, one_generation

ENV_PREFIX = "BUDGETKG_LINK_"


@dataclass(frozen=True)
class LinkSettings:
    """Thresholds of the linking step; defaults documented here and in ``docs/analytics.md``.

    Every field can be set from the environment as ``BUDGETKG_LINK_<FIELD>`` (upper case; a tuple
    is comma-separated) and overridden by ``budgetkg link`` options.

    >>> LinkSettings.from_env({"BUDGETKG_LINK_MIN_SCORE": "0.5"}).min_score
    0.5
    >>> LinkSettings.from_env({"BUDGETKG_LINK_WEAK_CATEGORIES": "satisfaction"}).weak_categories
    ('satisfaction',)
    """

    #: A term joins a concept when its similarity to the concept's leading term is at least this.
    concept_close: float = 0.65
    #: … or to another wording of the concept, if it is at least this similar to the leading one (no chaining).
    concept_leader_min: float = 0.55
    #: … and maps to it with skos:exactMatch (not skos:closeMatch) from this similarity on.
    concept_exact: float = 0.8
    #: Similarity factor for two terms measured in different kinds of unit (percent vs money …).
    unit_mismatch_factor: float = 0.5
    #: Similarity factor for two terms filed under different 一级指标.
    category_mismatch_factor: float = 0.8
    #: Least score of a shared-goal link.
    min_score: float = 0.35
    #: Share of the score that comes from indicator concepts (the rest from goal texts).
    concept_weight: float = 0.6
    #: Least number of informative concepts two linked projects share.
    min_shared_concepts: int = 1
    #: Concepts carried by more than this share of projects are ubiquitous: never shared-goal evidence.
    max_concept_share: float = 0.25
    #: Indicator categories (一级 or 二级, local names of bkcat:) whose concepts are never shared-goal evidence.
    weak_categories: tuple[str, ...] = ("satisfaction", "cost", "output-cost")
    #: When two projects share only one informative concept, their goal texts must agree at least this much.
    single_concept_min_goal: float = 0.2
    #: Goal-text keywords (character bigrams, by tf-idf) kept per project.
    goal_keywords: int = 24
    #: Goal bigrams in more than this share of projects are stop words.
    goal_max_share: float = 0.25
    #: Most shared-goal links a project keeps (its best); a link stays if either end keeps it.
    max_links_per_project: int = 10
    #: Common features (shared by more than block_size projects) per project used to find candidates.
    index_features: int = 8
    #: A feature shared by at most this many projects pairs them all; a commoner one only neighbours.
    block_size: int = 100
    #: Neighbours on each side paired through a common feature (sorted-neighbourhood window).
    window: int = 10
    #: Least score of a lineage or tranche link: core-name similarity, or its mean with goal-text similarity.
    lineage_min_score: float = 0.7
    #: Goal texts can lift a lineage score only for names at least this similar.
    lineage_min_name_score: float = 0.5
    #: Text features for goal keywords and names: bigram (fast, default), jieba or both.
    tokenizer: str = "bigram"

    def __post_init__(self) -> None:
        for f in ("concept_close", "concept_leader_min", "concept_exact", "unit_mismatch_factor",
                  "category_mismatch_factor", "min_score", "concept_weight", "max_concept_share", "goal_max_share",
                  "lineage_min_score", "single_concept_min_goal", "lineage_min_name_score"):
            v = getattr(self, f)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"link setting {f} must be between 0 and 1, not {v}")
        for f in ("min_shared_concepts", "goal_keywords", "max_links_per_project", "index_features", "block_size",
                  "window"):
            if getattr(self, f) < 0:
                raise ValueError(f"link setting {f} must not be negative")
        if self.tokenizer not in ("bigram", "jieba", "both"):
            raise ValueError(f"link setting tokenizer must be bigram, jieba or both, not {self.tokenizer!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> LinkSettings:
        """Defaults, then ``BUDGETKG_LINK_*`` variables, then ``overrides`` that are not None."""
        e = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = e.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = raw.lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                elif isinstance(default, tuple):
                    values[f.name] = tuple(x.strip() for x in raw.split(",") if x.strip())
                else:
                    values[f.name] = raw
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: not a valid {type(default).__name__}: "
                                 f"{raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)  # type: ignore[arg-type]

    def as_text(self) -> list[str]:
        """``name=value`` lines, recorded in the links graph so a link can be traced to its settings."""
        return [f"{f.name}={','.join(v) if isinstance(v := getattr(self, f.name), tuple) else v}"
                for f in fields(self)]


@dataclass
class LinkReport:
    """What :func:`refresh_links` wrote."""

    projects: int = 0
    indicator_terms: int = 0
    indicator_concepts: int = 0
    exact_matches: int = 0
    close_matches: int = 0
    shared_goal_links: int = 0
    cross_agency_links: int = 0
    lineage_links: int = 0
    tranche_links: int = 0
    served_unit_links: int = 0
    served_units: int = 0
    candidate_pairs: int = 0
    quads: int = 0
    #: Quads removed from and added to an existing links graph (a rebuild that changes nothing: 0 and 0).
    quads_removed: int = 0
    quads_added: int = 0
    #: An existing links graph too large to compare was rewritten whole (removed and added: not counted).
    rewritten: bool = False
    graph: str = ""
    #: Where the inputs came from: "store" (read with SPARQL) or "documents" (a build's parsed records).
    inputs: str = "store"
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# -- reading the store ---------------------------------------------------------------------

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
    code: str
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
        return self.code[:3]

    @property
    def goal_text(self) -> str:
        return "\n".join(t for _, t in sorted(self.goals))


def _v(term: object) -> str | None:
    return None if term is None else term.value  # type: ignore[attr-defined]


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
        for s in store.query(_PROJECTS, name="links:projects"):  # type: ignore[union-attr]
            pct = _v(s["pct"])
            inputs.add_project(Project(
                iri=s["p"].value, name=s["name"].value, code=s["code"].value, year=int(s["year"].value[:4]),
                base=_v(s["base"]) or s["name"].value, fund_year=int(fy[:4]) if (fy := _v(s["fy"])) else None,
                funding=_local(_v(s["fs"])), tranche=_local(_v(s["tr"])),
                percent=Decimal(pct) if pct is not None else None, served=_v(s["served"]),
                unit_name=_v(s["unit_name"]) or ""))
        for s in store.query(_GOALS, name="links:goals"):  # type: ignore[union-attr]
            inputs.add_goal(s["p"].value, s["g"].value, s["text"].value)
        if indicators:
            inputs.read_indicators(store, inputs.projects)
        return inputs

    def read_indicators(self, store: GraphStore, known: Container[str]) -> None:
        """The indicator rows of the projects in ``known``, read from ``store``."""
        for s in store.query(_INDICATORS, name="links:indicators"):  # type: ignore[union-attr]
            if s["p"].value in known:
                self.add_indicator((s["i"].value, s["p"].value, s["name"].value, _local(_v(s["l1"])),
                                    _local(_v(s["l2"])), _v(s["u"]), _v(s["vk"])))

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
            iri=proj, name=rec.name, code=rec.unit_code, year=year, base=info.base_name or rec.name,
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


# -- indicator concepts --------------------------------------------------------------------

_TIME_UNITS = {"HR", "MIN", "SEC", "DAY", "WK", "MO", "YR", "WorkingDay"}


def unit_dimension(unit_iri: str | None, value_kind: str | None = None) -> str:
    """The kind of quantity a target is stated in: percent, money, duration, count, date … ('' unknown).

    >>> unit_dimension("http://qudt.org/vocab/unit/PERCENT"), unit_dimension("http://qudt.org/vocab/unit/HR")
    ('percent', 'duration')
    >>> unit_dimension(None, "https://budgetkg.example.org/def/value-kind/date")
    'date'
    """
    if unit_iri:
        local = unit_iri.rsplit("/", 1)[-1]
        if local == "PERCENT":
            return "percent"
        if local in ("CNY", "TenThousandCNY", "HundredMillionCNY"):
            return "money"
        if local in _TIME_UNITS:
            return "duration"
        if local == "NUM":
            return "count"
        return local
    if value_kind and value_kind.endswith("/date"):
        return "date"
    return ""


@dataclass
class Term:
    """One distinct wording of a 三级指标 (its :func:`kg.similarity.compact` key)."""

    key: str
    labels: Counter[str] = field(default_factory=Counter)
    projects: set[int] = field(default_factory=set)
    indicators: list[str] = field(default_factory=list)
    dims: Counter[str] = field(default_factory=Counter)
    cats: Counter[str] = field(default_factory=Counter)
    subcats: Counter[str] = field(default_factory=Counter)

    @property
    def label(self) -> str:
        return min(self.labels.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    @property
    def dim(self) -> str:
        known = [(n, d) for d, n in self.dims.items() if d]
        return min(known, key=lambda nd: (-nd[0], nd[1]))[1] if known else ""

    @property
    def cat(self) -> str:
        return min(self.cats.items(), key=lambda kv: (-kv[1], kv[0]))[0] if self.cats else ""


@dataclass
class Concept:
    leader: Term
    #: (wording, similarity, shared bigrams, nested): nested when one wording's bigrams hold the other's
    members: list[tuple[Term, float, list[str], bool]] = field(default_factory=list)

    @property
    def projects(self) -> set[int]:
        out: set[int] = set()
        for t, *_ in self.members:
            out |= t.projects
        return out

    def categories(self) -> tuple[str, str]:
        """The most frequent 一级 and 二级 category of the concept's indicators ('' if none)."""
        l1: Counter[str] = Counter()
        l2: Counter[str] = Counter()
        for t, *_ in self.members:
            l1.update(t.cats)
            l2.update(t.subcats)
        return (_most(l1) if l1 else "", _most(l2) if l2 else "")

    def is_weak(self, settings: LinkSettings) -> bool:
        """Whether the concept's category says who is pleased or what it costs, not what is pursued."""
        return any(c and c in settings.weak_categories for c in self.categories())


def read_terms(store: GraphStore, index: Mapping[str, int]) -> list[Term]:
    """The indicator wordings of the projects in ``index`` (project IRI → position)."""
    inputs = LinkInputs()
    inputs.read_indicators(store, index)
    return inputs.terms(index)


def term_similarity(a: Term, b: Term, fa: Mapping[str, float], fb: Mapping[str, float],
                    settings: LinkSettings) -> float:
    """idf-weighted bigram Dice of two wordings, times the unit and category agreement factors."""
    score = sim.dice(fa, fb)
    if a.dim and b.dim and a.dim != b.dim:
        score *= settings.unit_mismatch_factor
    if a.cat and b.cat and a.cat != b.cat:
        score *= settings.category_mismatch_factor
    return score


def cluster_terms(terms: list[Term], settings: LinkSettings) -> list[Concept]:
    """Leader clustering of wordings into concepts (see the module docstring); deterministic."""
    df: Counter[str] = Counter()
    grams = {t.key: sim.shingles(t.key) for t in terms}
    for g in grams.values():
        df.update(g.keys())
    n = max(len(terms), 1)
    weight = {g: sim.idf(d, n) + 1.0 for g, d in df.items()}  # +1: a bigram in every wording still counts
    feats = {k: {g: c * weight[g] for g, c in v.items()} for k, v in grams.items()}
    totals = {k: sum(v.values()) for k, v in feats.items()}

    concepts: list[Concept] = []
    postings: dict[str, list[tuple[int, str]]] = defaultdict(list)  # bigram → (concept, member wording)
    by_key = {t.key: t for t in terms}
    for t in sorted(terms, key=lambda t: (-len(t.projects), t.key)):
        f = feats[t.key]
        shared: dict[tuple[int, str], float] = defaultdict(float)
        for g, w in f.items():
            for cm in postings.get(g, ()):
                shared[cm] += w
        need = settings.concept_close * totals[t.key] / 2  # Dice ≥ close needs this much shared weight
        best: tuple[float, int, str] | None = None
        for (c, member), s in sorted(shared.items()):
            if s < need:
                continue
            score = term_similarity(t, by_key[member], f, feats[member], settings)
            if score < settings.concept_close or (best is not None and score <= best[0] + 1e-12):
                continue
            leader = concepts[c].leader
            if member != leader.key and term_similarity(t, leader, f, feats[leader.key], settings) < \
                    settings.concept_leader_min:
                continue  # close to a member but too far from what the concept is about: no chaining
            best = (score, c, member)
        if best is not None:
            score, c, member = best
            mine, theirs = set(grams[t.key]), set(grams[member])
            concepts[c].members.append((t, score, sorted(mine & theirs), mine <= theirs or theirs <= mine))
        else:
            c = len(concepts)
            concepts.append(Concept(t, [(t, 1.0, sorted(grams[t.key]), True)]))
        for g in f:
            postings[g].append((c, t.key))
    return concepts


# -- shared goals --------------------------------------------------------------------------


@dataclass
class SharedGoal:
    a: int
    b: int
    score: float
    concept_score: float
    goal_score: float
    concepts: list[int]
    phrases: list[str]


def _goal_vectors(projects: list[Project], settings: LinkSettings) -> list[dict[str, float]]:
    counts = [sim.features(p.goal_text, settings.tokenizer) if p.goals else Counter() for p in projects]
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n = len(projects)
    limit = settings.goal_max_share * n
    out = []
    for c in counts:
        scored = sorted(((1 + math.log(k)) * sim.idf(df[g], n), g) for g, k in c.items()
                        if df[g] > 1 and df[g] <= limit)
        top = sorted(scored, key=lambda wg: (-wg[0], wg[1]))[:settings.goal_keywords]
        out.append({g: w for w, g in top})
    return out


#: Candidate pairs scored at once (numpy arrays and sparse rows of this many pairs).
_PAIR_CHUNK = 500_000
#: Decimal places shared-goal scores are compared at.
_PLACES = 12


def _sparse_rows(vectors: list[dict]) -> sparse.csr_matrix:
    """One row per vector (feature → weight), features numbered in order of first appearance."""
    columns: dict[object, int] = {}
    indptr, indices, data = [0], [], []
    for v in vectors:
        for f, w in v.items():
            indices.append(columns.setdefault(f, len(columns)))
            data.append(w)
        indptr.append(len(indices))
    return sparse.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64),
                              np.array(indptr, dtype=np.int64)), shape=(len(vectors), max(1, len(columns))))


def shared_goals(projects: list[Project], concept_sets: list[set[int]], concept_weight: Mapping[int, float],
                 settings: LinkSettings) -> tuple[list[SharedGoal], int]:
    """Shared-goal links between projects (indices into ``projects``) and the number of candidates scored.

    ``concept_sets[i]`` are the informative concepts of project ``i``; ``concept_weight`` their idf.
    """
    goals = _goal_vectors(projects, settings)
    cvec = [{c: concept_weight[c] for c in cs} for cs in concept_sets]
    cnorm = [sim.norm(v) for v in cvec]
    gnorm = [sim.norm(v) for v in goals]
    df: Counter[object] = Counter()
    feats: list[list[object]] = []
    for i in range(len(projects)):
        fs: list[object] = [("c", c) for c in cvec[i]] + [("g", g) for g in goals[i]]
        df.update(fs)
        feats.append(fs)
    # rarest features first, for the index and for the sorted-neighbourhood order
    ranked = [sorted((f for f in fs if df[f] > 1), key=lambda f: (df[f], str(f))) for fs in feats]
    # every feature rare enough to pair all its projects is indexed (at most block_size each, so the
    # work stays linear); of the commoner ones only the index_features rarest (sorted neighbourhood)
    usable = [r if settings.min_shared_concepts == 0 else [f for f in r if f[0] == "c"] for r in ranked]
    index = [[f for f in r if df[f] <= settings.block_size]
             + [f for f in r if df[f] > settings.block_size][:settings.index_features] for r in usable]
    order_keys = [tuple((df[f], str(f)) for f in r[:6]) for r in ranked]

    first, second = array("q"), array("q")  # 8-byte integers, read below as int64
    for i, cands in sim.candidate_pairs(index, block_size=settings.block_size, window=settings.window,
                                         order=order_keys.__getitem__):
        first.extend([i] * len(cands))
        second.extend(cands)
    scored = len(first)
    passed: list[tuple[np.ndarray, ...]] = []  # per chunk: (i, j, score, concept score, goal score) of pairs that pass
    cmat, gmat = _sparse_rows(cvec), _sparse_rows(goals)
    cn, gn = np.array(cnorm), np.array(gnorm)
    alpha = settings.concept_weight
    for lo in range(0, scored, _PAIR_CHUNK):  # scored in bulk, a chunk at a time (bounded memory)
        i = np.frombuffer(first, dtype=np.int64)[lo:lo + _PAIR_CHUNK]
        j = np.frombuffer(second, dtype=np.int64)[lo:lo + _PAIR_CHUNK]
        ci, cj = cmat[i], cmat[j]
        dot = np.asarray(ci.multiply(cj).sum(axis=1)).ravel()
        ci.data[:] = 1.0
        cj.data[:] = 1.0
        shared = np.asarray(ci.multiply(cj).sum(axis=1)).ravel().round().astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            cs = np.where(shared > 0, dot / (cn[i] * cn[j]), 0.0)
            gs = np.where((gn[i] > 0) & (gn[j] > 0),
                          np.asarray(gmat[i].multiply(gmat[j]).sum(axis=1)).ravel() / (gn[i] * gn[j]), 0.0)
        # rounded: which pairs pass and which tie no longer depend on the order of a floating-point sum
        cs, gs = cs.round(_PLACES), gs.round(_PLACES)
        score = (alpha * cs + (1 - alpha) * gs).round(_PLACES)
        ok = (shared >= settings.min_shared_concepts) & ((shared >= 2) | (gs >= settings.single_concept_min_goal)) \
            & (score >= settings.min_score)
        passed.append((i[ok], j[ok], score[ok], cs[ok], gs[ok]))
    links: list[SharedGoal] = []
    if not passed or not sum(len(p[0]) for p in passed):
        return links, scored
    pa, pb, psc, pcs, pgs = (np.concatenate(x) for x in zip(*passed, strict=True))
    # each project keeps its best k links by (score, -other); a link stays if either end keeps it
    end, other = np.concatenate([pa, pb]), np.concatenate([pb, pa])
    pair = np.tile(np.arange(len(pa)), 2)
    order = np.lexsort((other, -np.concatenate([psc, psc]), end))
    end, pair = end[order], pair[order]
    starts = np.r_[0, np.flatnonzero(np.diff(end)) + 1]
    rank = np.arange(len(end)) - np.repeat(starts, np.diff(np.r_[starts, len(end)]))
    kept = np.unique(pair[rank < settings.max_links_per_project])
    kept = kept[np.lexsort((pb[kept], pa[kept]))]
    texts: dict[int, tuple[str, set[str]]] = {}  # project → (normalised goal text, its bigrams), when needed
    for a, b, score, cs, gs in zip(pa[kept].tolist(), pb[kept].tolist(), psc[kept].tolist(), pcs[kept].tolist(),
                                   pgs[kept].tolist(), strict=True):
        link = SharedGoal(a, b, score, cs, gs, sorted(cvec[a].keys() & cvec[b].keys()), [])
        keywords = set(goals[a]) & set(goals[b])
        if keywords and settings.tokenizer != "bigram":
            link.phrases = sorted(keywords)[:6]
        elif keywords:
            for p in (a, b):
                if p not in texts:
                    text = sim.normalize(projects[p].goal_text)
                    texts[p] = (text, set(sim.char_ngrams(text)))
            link.phrases = goal_evidence(texts[a][0], texts[a][1] & texts[b][1], keywords)
        links.append(link)
    return links, scored


def goal_evidence(text: str, common: set[str], keywords: set[str], limit: int = 6, longest: int = 24) -> list[str]:
    """Phrases two goal texts have in common around their shared keywords, most distinctive first.

    ``text`` is one of the two goal texts, :func:`kg.similarity.normalize` d; ``common`` the character
    bigrams both texts contain. A phrase is a run of common bigrams in ``text`` (a common substring)
    that holds at least one shared keyword; at most ``limit`` phrases of at most ``longest`` characters.

    >>> a, b = "开展pdt终端加密卡配备", "推进pdt终端加密卡配备应用"
    >>> from kg.similarity import char_ngrams
    >>> goal_evidence(a, set(char_ngrams(a)) & set(char_ngrams(b)), {"加密"})
    ['pdt终端加密卡配备']
    """
    scored = []
    for r in sim.shared_phrases(text, common, limit=10_000, normalized=True):
        hits = sum(1 for k in range(len(r) - 1) if r[k:k + 2] in keywords)
        if hits:
            scored.append((-hits, -len(r), r[:longest]))
    out: list[str] = []
    for _, _, r in sorted(scored):
        if r not in out:
            out.append(r)
    return out[:limit]


# -- served units --------------------------------------------------------------------------

#: Endings of unit names; an abbreviation keeps the ending and drops characters before it.
UNIT_SUFFIXES = ("总队", "支队", "大队", "分局", "中心", "基地", "政治部", "部", "处", "所", "院")
_BRACKETED = re.compile(r"\([^)]*\)")


def is_abbreviation(short: str, long: str) -> bool:
    """Whether unit name ``short`` abbreviates ``long``: same ending, same first character, the rest in order.

    >>> is_abbreviation("公交分局", "公共交通治安分局"), is_abbreviation("人口总队", "人口管理总队")
    (True, True)
    >>> is_abbreviation("警航基地", "警务航空总队"), is_abbreviation("刑侦总队", "图侦技防总队")
    (False, False)
    """
    if short == long or len(short) >= len(long):
        return False
    suffix = next((s for s in UNIT_SUFFIXES if short.endswith(s) and long.endswith(s)), None)
    if suffix is None:
        return False
    hs, hl = short[:-len(suffix)], long[:-len(suffix)]
    return bool(hs) and hs[0] == hl[0] and sim.is_subsequence(hs, hl)


def _abbreviation_keys(name: str) -> list[tuple[str, str]]:
    """(ending, first character before it) for each unit ending of ``name``: what :func:`is_abbreviation` compares."""
    return [(s, name[0]) for s in UNIT_SUFFIXES if name.endswith(s) and len(name) > len(s)]


def unit_short_name(unit_name: str, department_label: str | None) -> str:
    """A budget unit's name without its department (天津市公安局…) and bracketed notes.

    >>> unit_short_name("天津市公安局公共交通治安分局", "天津市公安局")
    '公共交通治安分局'
    >>> unit_short_name("天津市公安局后勤保障部（特）", None)
    '公安局后勤保障部'
    """
    n = _BRACKETED.sub("", sim.normalize(unit_name))
    dept = sim.normalize(department_label) if department_label else ""
    if dept and n.startswith(dept) and len(n) > len(dept):
        return n[len(dept):]
    return n[3:] if n.startswith("天津市") and len(n) > 3 else n


@dataclass
class ServedUnit:
    department: str
    name: str
    aliases: set[str] = field(default_factory=set)


@dataclass
class ServedLink:
    project: int
    unit_iri: str
    rule: str
    score: float
    name: str


def served_units(projects: list[Project], departments: Mapping[str, str], iris: LinkIris
                 ) -> tuple[list[ServedLink], list[ServedUnit], dict[int, str]]:
    """Which unit each project serves; returns the links, the new sub-units and project → unit IRI."""
    links: list[ServedLink] = []
    pending: dict[str, list[tuple[int, str]]] = defaultdict(list)  # department → (project, name)
    for i, p in enumerate(projects):
        if not p.served:
            continue
        name = sim.normalize(p.served)
        own = unit_short_name(p.unit_name, departments.get(p.department)) if p.unit_name else ""
        if own and name == own:
            links.append(ServedLink(i, iris.agency(p.code), "served-unit/budget-unit", 1.0, p.served))
        elif own and is_abbreviation(name, own):
            links.append(ServedLink(i, iris.agency(p.code), "served-unit/budget-unit-abbreviation", 0.9, p.served))
        else:
            pending[p.department].append((i, name))
    units: list[ServedUnit] = []
    for dept in sorted(pending):
        names = sorted({n for _, n in pending[dept]}, key=lambda n: (-len(n), n))
        canonical: dict[str, str] = {}
        # canonical names by (ending, first character): the only ones a name can abbreviate
        heads: dict[tuple[str, str], list[int]] = defaultdict(list)
        for k, n in enumerate(names):  # longest first: an abbreviation maps to the first name it abbreviates
            found = min((c for key in _abbreviation_keys(n) for c in heads.get(key, ())
                         if is_abbreviation(n, names[c])), default=None)
            canonical[n] = n if found is None else names[found]
            if found is None:
                for key in _abbreviation_keys(n):
                    heads[key].append(k)
        by_name: dict[str, ServedUnit] = {}
        for n in names:
            c = canonical[n]
            u = by_name.get(c)
            if u is None:
                u = by_name[c] = ServedUnit(dept, c)
                units.append(u)
            if n != c:
                u.aliases.add(n)
        for i, n in pending[dept]:
            c = canonical[n]
            rule, score = ("served-unit/name", 1.0) if c == n else ("served-unit/abbreviation", 0.9)
            links.append(ServedLink(i, iris.served_unit(dept, c), rule, score, projects[i].served or n))
    links.sort(key=lambda s: s.project)
    return links, units, {s.project: s.unit_iri for s in links}


# -- lineage and tranches ------------------------------------------------------------------

_YEARS = re.compile(r"20\d\d年度?|(?<!\d)20\d\d(?!\d)")
_GENERIC_SUFFIXES = ("项目", "经费", "费用", "资金", "工作", "费")
_TRANCHE_ORDER = {None: 0, "partial": 1, "progress": 2, "final": 3, "interest": 4}


def core_name(base: str, served: str | None = None) -> str:
    """What stays of a base name when the served unit, years and generic endings are dropped.

    >>> core_name("督审总队信息化运维经费", "督审总队"), core_name("督审总队信息化运维项目", "督审总队")
    ('信息化运维', '信息化运维')
    >>> core_name("沿海安全保卫总队业务工作费", "沿海安全保卫总队")
    '业务'
    """
    t = sim.compact(base)
    if served:
        s = sim.compact(served)
        if t.startswith(s) and len(t) > len(s):
            t = t[len(s):]
    t = _YEARS.sub("", t) or t
    changed = True
    while changed:
        changed = False
        for suf in _GENERIC_SUFFIXES:
            if t.endswith(suf) and len(t) > len(suf):
                t = t[:-len(suf)]
                changed = True
    return t


def name_similarity(a: str, b: str) -> float:
    """Dice coefficient of character unigrams and bigrams (short names need the unigrams).

    >>> name_similarity("信息化运维", "信息化运维"), round(name_similarity("办案业务", "全局办案业务"), 3)
    (1.0, 0.778)
    """
    return sim.dice(sim.shingles(a, (1, 2)), sim.shingles(b, (1, 2)))


@dataclass
class UndertakingLink:
    kind: str  # "lineage" | "tranche"
    a: int  # earlier
    b: int  # later
    rule: str
    score: float
    name_score: float
    goal_score: float
    cores: list[str]


class _LazyGrams(dict):
    """Goal-text bigrams of a project, computed when first asked for (few projects are compared)."""

    def __init__(self, projects: list[Project]) -> None:
        super().__init__()
        self.projects = projects

    def __missing__(self, i: int) -> Counter[str]:
        v = self[i] = Counter(dict.fromkeys(sim.char_ngrams(self.projects[i].goal_text), 1))
        return v


def _when(p: Project) -> tuple[int, int, Decimal, str]:
    return (p.fund_year or p.year, _TRANCHE_ORDER.get(p.tranche, 5), p.percent or Decimal(0), p.iri)


def classify(a: Project, b: Project) -> tuple[str, str] | None:
    """(kind, rule) of two projects that are one undertaking, or None when nothing tells them apart.

    >>> p = lambda **kw: Project("x", "n", "341101", 2024, "b", **kw)
    >>> classify(p(fund_year=2023, tranche="partial"), p(fund_year=2024, tranche="final"))
    ('tranche', 'tranche/final+partial')
    >>> classify(p(fund_year=2023, tranche="partial"), p(fund_year=2024))
    ('lineage', 'lineage/fund-year')
    >>> classify(p(fund_year=2024, funding="central"), p(fund_year=2024, funding="central")) is None
    True
    """
    ta, tb = a.tranche, b.tranche
    if "interest" in (ta, tb) or (ta and tb) or ((ta or tb) and a.fund_year == b.fund_year):
        return "tranche", "tranche/" + "+".join(sorted({t or "principal" for t in (ta, tb)}))
    if a.fund_year and b.fund_year and a.fund_year != b.fund_year:
        return "lineage", "lineage/fund-year"
    if a.year != b.year:
        return "lineage", "lineage/budget-year"
    if a.funding != b.funding:
        return "lineage", "lineage/funding-source"
    return None


def undertakings(projects: list[Project], served_of: Mapping[int, str], settings: LinkSettings
                 ) -> list[UndertakingLink]:
    """Lineage and tranche links within each budget unit (see the module docstring)."""
    cores = [core_name(p.base, p.served) for p in projects]
    full = [core_name(p.base) for p in projects]
    items = [[f"{p.code}|{g}" for g in sim.shingles(c, (1, 2))] for p, c in zip(projects, cores, strict=True)]
    goal_grams: dict[int, Counter[str]] = _LazyGrams(projects)
    out: list[UndertakingLink] = []
    for i, cands in sim.candidate_pairs(items, block_size=max(settings.block_size, 200), window=settings.window):
        for j in sorted(cands):
            a, b = projects[i], projects[j]
            if a.code != b.code or served_of.get(i) != served_of.get(j):
                continue
            kind = classify(a, b)
            if kind is None:
                continue
            if (i in served_of) == (j in served_of):
                ca, cb = cores[i], cores[j]
            else:  # one names a served unit, the other not: compare whole names
                ca, cb = full[i], full[j]
            name = name_similarity(ca, cb)
            if name < min(settings.lineage_min_name_score, settings.lineage_min_score):
                continue
            goal = sim.dice(goal_grams[i], goal_grams[j]) if goal_grams[i] and goal_grams[j] else 0.0
            score = max(name, (name + goal) / 2)  # the same goals can confirm a name, never outvote it
            if score < settings.lineage_min_score:
                continue
            first, second = (i, j) if _when(a) <= _when(b) else (j, i)
            out.append(UndertakingLink(kind[0], first, second, kind[1], score, name, goal, sorted({ca, cb})))
    out.sort(key=lambda u: (projects[u.a].iri, projects[u.b].iri))
    return out


# -- RDF -----------------------------------------------------------------------------------


class LinkIris:
    """IRIs of what the linking step mints, under the base IRI."""

    def __init__(self, base: str) -> None:
        self.base = base if base.endswith(("/", "#")) else base + "/"

    @staticmethod
    def _h(text: str, n: int = 12) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]

    @property
    def graph(self) -> NamedNode:
        return NamedNode(f"{self.base}graph/links")

    @property
    def concept_scheme(self) -> NamedNode:
        return NamedNode(f"{self.base}indicator-concept/scheme")

    @property
    def term_scheme(self) -> NamedNode:
        return NamedNode(f"{self.base}indicator-term/scheme")

    @property
    def settings_node(self) -> NamedNode:
        return NamedNode(f"{self.base}link/settings")

    def concept(self, key: str) -> str:
        return f"{self.base}indicator-concept/{self._h(key)}"

    def term(self, key: str) -> str:
        return f"{self.base}indicator-term/{self._h(key)}"

    def link(self, kind: str, a: str, b: str) -> str:
        return f"{self.base}link/{kind}/{self._h(a + '|' + b, 16)}"

    def agency(self, code: str) -> str:
        return f"{self.base}agency/{code}"

    def served_unit(self, department: str, name: str) -> str:
        return f"{self.base}served-unit/{department}/{self._h(name, 10)}"


# The links graph is written as N-Quads text: a link's nodes and values are rendered as N-Triples
# terms by the helpers below (IRIs minted here or read from valid IRIs), which is several times
# cheaper than making a pyoxigraph term and quad per statement and serializing them afterwards.

_XSD_DECIMAL = f"^^<{XSD.decimal.value}>"
_XSD_INTEGER = f"^^<{XSD.integer.value}>"


def _iri(iri: str) -> str:
    return f"<{iri}>"


def _text(text: str) -> str:
    """``text`` as the body of an N-Triples string literal (only \\, ", LF and CR are escaped)."""
    if "\\" in text or '"' in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{text}"'


def _zh(text: str) -> str:
    """A Chinese string literal.

    >>> _zh('含"引号"的\\n文本')
    '"含\\\\"引号\\\\"的\\\\n文本"@zh'
    """
    return _text(text) + "@zh"


def _dec(x: float) -> str:
    """A score as an xsd:decimal of at most 4 places, without trailing zeros.

    >>> _dec(0.35), _dec(1.0), _dec(0.123456)
    ('"0.35"^^<http://www.w3.org/2001/XMLSchema#decimal>', '"1"^^<http://www.w3.org/2001/XMLSchema#decimal>', \
'"0.1235"^^<http://www.w3.org/2001/XMLSchema#decimal>')
    """
    t = f"{x:.4f}".rstrip("0")
    return f'"{t[:-1] if t.endswith(".") else t}"{_XSD_DECIMAL}'


def _int(x: int) -> str:
    return f'"{x}"{_XSD_INTEGER}'


_TRUE = str(Literal("true", datatype=XSD.boolean))
_FALSE = str(Literal("false", datatype=XSD.boolean))

_RENDERED: dict[NamedNode | Literal, str] = {}


def _nt(term: NamedNode | Literal) -> str:
    """The N-Triples form of a vocabulary term (cached: only constants are passed as terms)."""
    r = _RENDERED.get(term)
    if r is None:
        r = _RENDERED[term] = str(term)
    return r


class _Quads:
    """Collects the statements of one graph as N-Quads; with a ``sink``, hands them over in chunks.

    Subjects and rendered objects are N-Triples text (:func:`_iri`, :func:`_zh`, :func:`_dec` …);
    predicates and vocabulary objects may be pyoxigraph terms.
    """

    __slots__ = ("chunk", "count", "g", "lines", "sink")

    def __init__(self, graph: NamedNode, sink: Callable[[NQuads], None] | None = None,
                 chunk: int = 200_000) -> None:
        self.g = _nt(graph)
        self.lines: list[str] = []
        self.sink = sink
        self.chunk = chunk
        self.count = 0

    def add(self, s: str, p: NamedNode, o: str | NamedNode | Literal) -> None:
        self.lines.append(f"{s} {_nt(p)} {o if o.__class__ is str else _nt(o)} {self.g} .\n")  # type: ignore[arg-type]
        if self.sink is not None and len(self.lines) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        self.count += len(self.lines)
        if self.sink is not None and self.lines:
            self.sink(self.batch())
            self.lines = []

    def batch(self) -> NQuads:
        return NQuads("".join(self.lines).encode("utf-8"), len(self.lines))

    def quads(self) -> list[Quad]:
        """What is collected (not yet handed to a sink), as pyoxigraph quads."""
        return list(self.batch().quads())


def _most(c: Counter[str]) -> str:
    return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _concept_quads(q: _Quads, concepts: list[Concept], weights: Mapping[int, float], informative: set[int],
                   iris: LinkIris, settings: LinkSettings, report: LinkReport) -> list[str]:
    scheme, tscheme = _nt(iris.concept_scheme), _nt(iris.term_scheme)
    for node, zh, en in ((scheme, "绩效指标概念", "Indicator concepts"),
                         (tscheme, "三级指标措辞", "Indicator wordings")):
        q.add(node, RDF.type, SKOS.ConceptScheme)
        q.add(node, SKOS.prefLabel, _zh(zh))
        q.add(node, SKOS.prefLabel, _text(en) + "@en")
    nodes = []
    for k, c in enumerate(concepts):
        node = _iri(iris.concept(c.leader.key))
        nodes.append(node)
        q.add(node, RDF.type, BK.IndicatorConcept)
        q.add(node, RDF.type, SKOS.Concept)
        q.add(node, SKOS.inScheme, scheme)
        q.add(node, SKOS.topConceptOf, scheme)
        q.add(node, SKOS.prefLabel, _zh(c.leader.label))
        q.add(node, BK.projectCount, _int(len(c.projects)))
        q.add(node, BK.conceptWeight, _dec(weights[k]))
        q.add(node, BK.informative, _TRUE if k in informative else _FALSE)
        cats: Counter[str] = Counter()
        dims: Counter[str] = Counter()
        for t, *_ in c.members:
            cats.update(t.cats)
            dims.update({d: n for d, n in t.dims.items() if d})
        if cats:
            q.add(node, BK.conceptCategory, CATEGORY[_most(cats)])
        if dims:
            q.add(node, BK.unitDimension, _text(_most(dims)))
        for t, score, shared, nested in c.members:
            term_iri = iris.term(t.key)
            term = _iri(term_iri)
            q.add(term, RDF.type, BK.IndicatorTerm)
            q.add(term, RDF.type, SKOS.Concept)
            q.add(term, SKOS.inScheme, tscheme)
            q.add(term, SKOS.topConceptOf, tscheme)
            q.add(term, SKOS.prefLabel, _zh(t.label))
            for alt in sorted(t.labels):
                if alt != t.label:
                    q.add(term, SKOS.altLabel, _zh(alt))
            if t is not c.leader:
                q.add(node, SKOS.altLabel, _zh(t.label))
            q.add(term, BK.projectCount, _int(len(t.projects)))
            if t.dim:
                q.add(term, BK.unitDimension, _text(t.dim))
            if t.cat:
                q.add(term, BK.conceptCategory, CATEGORY[t.cat])
            # exact: as similar as that, and one wording says all the other says (系统验收合格率 ⊃ 验收合格率);
            # a substituted word (硬件/软件维护数量) is at most a close match
            exact = t is c.leader or (score >= settings.concept_exact and nested)
            relation = SKOS.exactMatch if exact else SKOS.closeMatch
            if exact:
                report.exact_matches += 1
            else:
                report.close_matches += 1
            q.add(term, relation, node)
            match = _iri(f"{term_iri}/match")
            q.add(match, RDF.type, BK.ConceptMatch)
            q.add(match, BK.matchedTerm, term)
            q.add(match, BK.matchedConcept, node)
            q.add(match, BK.mappingRelation, relation)
            q.add(match, BK.score, _dec(score))
            q.add(match, BK.rule, _text("concept/leader" if t is c.leader else "concept/bigram-dice"))
            for g in shared[:12]:
                q.add(match, BK.matchedToken, _zh(g))
            for ind in sorted(t.indicators):
                i_node = _iri(ind)
                q.add(i_node, BK.indicatorTerm, term)
                q.add(i_node, BK.indicatorConcept, node)
    return nodes


def _link(q: _Quads, node: str, cls: NamedNode, a: str, b: str, score: float, rule: str) -> None:
    q.add(node, RDF.type, cls)
    q.add(node, BK.fromProject, _iri(a))
    q.add(node, BK.toProject, _iri(b))
    q.add(node, BK.score, _dec(score))
    q.add(node, BK.rule, _text(rule))


def compute_links(store: GraphStore, settings: Settings, link_settings: LinkSettings | None = None,
                  graph: NamedNode | None = None, sink: Callable[[list[Quad]], None] | None = None,
                  inputs: LinkInputs | None = None) -> tuple[list[Quad], LinkReport]:
    """Read the store and compute every link; returns the quads (in ``graph``) and a report. Writes nothing.

    With a ``sink`` the quads are handed to it in chunks as they are made (bounded memory) and the
    returned list is empty.
    """
    q = _Quads(graph or LinkIris(settings.base_iri).graph, sink)
    report = _compute(store, settings, link_settings or LinkSettings(), q, inputs)
    return q.quads(), report


def _compute(store: GraphStore, settings: Settings, ls: LinkSettings, q: _Quads,
             inputs: LinkInputs | None = None) -> LinkReport:
    iris = LinkIris(settings.base_iri)
    report = LinkReport(graph=iris.graph.value)
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.steps[name] = round(now - clock, 3)
        clock = now

    if inputs is None or inputs.repeated:
        inputs = LinkInputs.read(store)
    else:
        report.inputs = "documents"
    projects = inputs.project_list()
    index = {p.iri: i for i, p in enumerate(projects)}
    report.projects = n = len(projects)
    terms = inputs.terms(index)
    departments = {s["code"].value: s["label"].value
                   for s in store.query(_DEPARTMENTS, name="links:departments")}  # type: ignore[union-attr]
    step("read")

    concepts = cluster_terms(terms, ls)
    report.indicator_terms, report.indicator_concepts = len(terms), len(concepts)
    weights: dict[int, float] = {}
    informative: set[int] = set()
    concept_sets: list[set[int]] = [set() for _ in projects]
    for k, c in enumerate(concepts):
        carriers = c.projects
        weights[k] = sim.idf(len(carriers), n)
        if not c.is_weak(ls) and 1 < len(carriers) <= ls.max_concept_share * n:
            informative.add(k)
            for p in carriers:
                concept_sets[p].add(k)
    concept_nodes = _concept_quads(q, concepts, weights, informative, iris, ls, report)
    step("concepts")

    goal_links, report.candidate_pairs = shared_goals(projects, concept_sets, weights, ls)
    for g in goal_links:
        a, b = projects[g.a], projects[g.b]
        node = _iri(iris.link("shared-goal", a.iri, b.iri))
        _link(q, node, BK.SharedGoalLink, a.iri, b.iri, g.score, "shared-goal/idf-cosine")
        q.add(node, BK.conceptScore, _dec(g.concept_score))
        q.add(node, BK.goalTextScore, _dec(g.goal_score))
        cross = a.code != b.code
        report.cross_agency_links += cross
        q.add(node, BK.crossAgency, _TRUE if cross else _FALSE)
        for c in g.concepts:
            q.add(node, BK.sharedConcept, concept_nodes[c])
        for phrase in g.phrases:
            q.add(node, BK.matchedToken, _zh(phrase))
    report.shared_goal_links = len(goal_links)
    step("shared-goals")

    served_links, units, served_of = served_units(projects, departments, iris)
    for u in units:
        node = _iri(iris.served_unit(u.department, u.name))
        q.add(node, RDF.type, BK.ServedUnit)
        q.add(node, RDFS.label, _zh(u.name))
        for alias in sorted(u.aliases):
            q.add(node, SKOS.altLabel, _zh(alias))
        q.add(node, ORG.subOrganizationOf, _iri(iris.agency(u.department)))
    for s in served_links:
        p = projects[s.project]
        node = _iri(f"{iris.base}link/served-unit/{LinkIris._h(p.iri, 16)}")
        q.add(node, RDF.type, BK.ServedUnitLink)
        q.add(node, BK.fromProject, _iri(p.iri))
        q.add(node, BK.toUnit, _iri(s.unit_iri))
        q.add(node, BK.score, _dec(s.score))
        q.add(node, BK.rule, _text(s.rule))
        q.add(node, BK.matchedToken, _zh(s.name))
        q.add(_iri(p.iri), BK.servesUnit, _iri(s.unit_iri))
    report.served_units, report.served_unit_links = len(units), len(served_links)
    step("served-units")

    for u in undertakings(projects, served_of, ls):
        a, b = projects[u.a], projects[u.b]
        cls = BK.TrancheLink if u.kind == "tranche" else BK.LineageLink
        node = _iri(iris.link(u.kind, a.iri, b.iri))
        _link(q, node, cls, a.iri, b.iri, u.score, u.rule)
        q.add(node, BK.nameScore, _dec(u.name_score))
        q.add(node, BK.goalTextScore, _dec(u.goal_score))
        for core in u.cores:
            q.add(node, BK.matchedToken, _zh(core))
        q.add(_iri(a.iri), BK.nextInUndertaking, _iri(b.iri))
        if u.kind == "tranche":
            report.tranche_links += 1
        else:
            report.lineage_links += 1
    step("lineage")

    s_node = _nt(iris.settings_node)
    q.add(s_node, RDF.type, BK.LinkSettings)
    q.add(s_node, RDFS.label, _zh("关联计算参数"))
    q.add(s_node, RDFS.label, _text("Link settings") + "@en")
    for line in ls.as_text():
        q.add(s_node, BK.setting, _text(line))
    q.flush()
    report.quads = q.count
    report.seconds = round(sum(report.steps.values()), 3)
    return report


#: Largest existing links graph compared with the new links, and largest change (quads removed plus
#: added) applied to it as one SPARQL update; beyond either, the whole graph is rewritten.
DIFF_LIMIT = 300_000


@one_generation
def refresh_links(store: GraphStore, settings: Settings, link_settings: LinkSettings | None = None,
                  inputs: LinkInputs | None = None) -> LinkReport:
    """Recompute every link and replace ``<base>graph/links`` atomically; returns what was written.

    ``inputs`` are what to link when the caller has them already (a build that has just parsed
    every document in the store); by default they are read from the store.

    A new links graph is written while it is computed, by a :class:`~kg.store.GraphWriter`
    (atomic up to a million quads; beyond, journaled and bulk-loaded in the background, so that
    writing overlaps computing). An existing one of at most :data:`DIFF_LIMIT` quads is computed in
    memory first and changed by the difference only (``DELETE DATA`` and ``INSERT DATA`` in one
    SPARQL update, one transaction), so a rebuild that changes nothing writes nothing; a larger
    change rewrites it with ``overwrite``. A larger existing graph is rewritten as a new one is
    written (comparing millions of quads would take more memory than the rewrite takes time); the
    report says ``rewritten``. On a store without projects the links graph is removed. On the
    seeds the whole step takes well under a second, cheap enough to run at the end of every build.
    """
    started = time.perf_counter()
    graph = LinkIris(settings.base_iri).graph
    ls = link_settings or LinkSettings()
    exists = store.has_graph(graph)
    if not exists or _larger_than(store, graph, DIFF_LIMIT):  # written while computed (see GraphStore.writer)
        writer = store.writer(graph)
        try:
            report = _compute(store, settings, ls, _Quads(graph, sink=writer.add), inputs)
        except BaseException:
            writer.abort()
            raise
        computed = time.perf_counter()
        if report.projects == 0:
            writer.abort()
            store.remove_graph(graph)
            report.quads = 0
        else:
            writer.commit()
            report.rewritten = exists
        store.flush()
        report.steps["write"] = round(time.perf_counter() - computed, 3)
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    quads = _Quads(graph)
    report = _compute(store, settings, ls, quads, inputs)
    computed = time.perf_counter()
    if report.projects == 0:
        store.remove_graph(graph)
        report.quads = 0
    else:
        made = quads.quads()
        new = set(made)
        old = set(store.quads(graph))
        deletes, inserts = old - new, [q for q in made if q not in old]
        report.quads_removed, report.quads_added = len(deletes), len(inserts)
        if len(deletes) + len(inserts) <= DIFF_LIMIT:
            _apply_difference(store, graph, sorted(deletes, key=str), inserts)
        else:
            store.overwrite(graph, made)
    store.flush()
    report.steps["write"] = round(time.perf_counter() - computed, 3)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _larger_than(store: GraphStore, graph: NamedNode, n: int) -> bool:
    """Whether ``graph`` holds more than ``n`` quads (reads at most ``n + 1`` of them)."""
    sparql = (f"SELECT (COUNT(*) AS ?n) WHERE {{ SELECT * WHERE {{ GRAPH <{graph.value}> {{ ?s ?p ?o }} }} "
              f"LIMIT {n + 1} }}")
    for s in store.query(sparql, name="links:size"):  # type: ignore[union-attr]
        return int(s["n"].value) > n
    return False


def _apply_difference(store: GraphStore, graph: NamedNode, deletes: list[Quad], inserts: list[Quad]) -> None:
    if not deletes and not inserts:
        return
    parts = []
    for verb, quads in (("DELETE", deletes), ("INSERT", inserts)):
        if quads:
            body = serialize((q.triple for q in quads), format=RdfFormat.N_TRIPLES).decode("utf-8")
            parts.append(f"{verb} DATA {{ GRAPH <{graph.value}> {{\n{body}}} }}")
    try:
        store.update(" ;\n".join(parts))  # one update request: one transaction
    except (OSError, SyntaxError) as exc:
        raise StoreError(f"updating graph {graph.value} failed: {exc}") from None
