"""Materialised, explainable links between projects: shared goals, lineage, tranches, served units.

:func:`refresh_links` reads what it needs from the store with SPARQL (projects, indicator names
and units, goal texts), computes four kinds of link and replaces the named graph
``<base>graph/links`` with them in one swap (stage, then ``MOVE``), like the agencies graph.

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
import heapq
import math
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal

from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, serialize

from . import similarity as sim
from .errors import StoreError
from .namespaces import BK, CATEGORY, ORG, RDF, RDFS, SKOS, XSD, sparql_prefixes
from .settings import Settings
from .store import KGStore

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
    graph: str = ""
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


def read_projects(store: KGStore) -> list[Project]:
    """Every project with its name analysis and goal texts, sorted by IRI."""
    projects: dict[str, Project] = {}
    for s in store.query(_PROJECTS, name="links:projects"):  # type: ignore[union-attr]
        iri = s["p"].value
        if iri in projects:
            continue
        pct = _v(s["pct"])
        projects[iri] = Project(
            iri=iri, name=s["name"].value, code=s["code"].value, year=int(s["year"].value[:4]),
            base=_v(s["base"]) or s["name"].value, fund_year=int(fy[:4]) if (fy := _v(s["fy"])) else None,
            funding=_local(_v(s["fs"])), tranche=_local(_v(s["tr"])),
            percent=Decimal(pct) if pct is not None else None, served=_v(s["served"]),
            unit_name=_v(s["unit_name"]) or "")
    for s in store.query(_GOALS, name="links:goals"):  # type: ignore[union-attr]
        p = projects.get(s["p"].value)
        if p is not None:
            p.goals.append((s["g"].value, s["text"].value))
    return [projects[k] for k in sorted(projects)]


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


def read_terms(store: KGStore, index: Mapping[str, int]) -> list[Term]:
    """The indicator wordings of the projects in ``index`` (project IRI → position)."""
    terms: dict[str, Term] = {}
    for s in store.query(_INDICATORS, name="links:indicators"):  # type: ignore[union-attr]
        p = index.get(s["p"].value)
        name = s["name"].value
        key = sim.compact(name)
        if p is None or not key:
            continue
        t = terms.get(key)
        if t is None:
            t = terms[key] = Term(key)
        t.labels[name.strip()] += 1
        t.projects.add(p)
        t.indicators.append(s["i"].value)
        t.dims[unit_dimension(_v(s["u"]), _v(s["vk"]))] += 1
        if (l1 := _local(_v(s["l1"]))) is not None:
            t.cats[l1] += 1
        if (l2 := _local(_v(s["l2"]))) is not None:
            t.subcats[l2] += 1
    return [terms[k] for k in sorted(terms)]


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

    best: list[list[tuple[float, int]]] = [[] for _ in projects]
    found: dict[tuple[int, int], tuple[float, float, float]] = {}
    scored = 0
    k = settings.max_links_per_project
    need, alpha = settings.min_shared_concepts, settings.concept_weight
    for i, cands in sim.candidate_pairs(index, block_size=settings.block_size, window=settings.window,
                                         order=order_keys.__getitem__):
        ci, gi, ni = cvec[i], goals[i], gnorm[i]
        for j in cands:  # the kept set is the top k by (score, -other): independent of this order
            scored += 1
            cj = cvec[j]
            small, large = (ci, cj) if len(ci) <= len(cj) else (cj, ci)
            shared, dot = 0, 0.0
            for c, w in small.items():
                w2 = large.get(c)
                if w2 is not None:
                    shared += 1
                    dot += w * w2
            if shared < need:
                continue
            cs = dot / (cnorm[i] * cnorm[j]) if shared else 0.0
            gs = 0.0
            if ni and gnorm[j]:
                gj = goals[j]
                gs = sum(w * gj[g] for g, w in gi.items() if g in gj) / (ni * gnorm[j])
            if shared < 2 and gs < settings.single_concept_min_goal:
                continue
            score = alpha * cs + (1 - alpha) * gs
            if score < settings.min_score:
                continue
            found[(i, j)] = (score, cs, gs)
            for a, b in ((i, j), (j, i)):
                heap = best[a]
                if len(heap) < k:
                    heapq.heappush(heap, (score, -b))
                elif (score, -b) > heap[0]:
                    heapq.heapreplace(heap, (score, -b))
    keep: set[tuple[int, int]] = set()
    for a, heap in enumerate(best):
        for _, nb in heap:
            keep.add((min(a, -nb), max(a, -nb)))
    links = []
    texts: dict[int, tuple[str, set[str]]] = {}  # project → (normalised goal text, its bigrams), when needed
    for a, b in sorted(keep):
        score, cs, gs = found[a, b]
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
        for n in names:  # longest first: an abbreviation maps to the longest name it abbreviates
            canonical[n] = next((c for c in names if canonical.get(c) == c and is_abbreviation(n, c)), n)
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

    def concept(self, key: str) -> NamedNode:
        return NamedNode(f"{self.base}indicator-concept/{self._h(key)}")

    def term(self, key: str) -> NamedNode:
        return NamedNode(f"{self.base}indicator-term/{self._h(key)}")

    def link(self, kind: str, a: str, b: str) -> NamedNode:
        return NamedNode(f"{self.base}link/{kind}/{self._h(a + '|' + b, 16)}")

    def agency(self, code: str) -> str:
        return f"{self.base}agency/{code}"

    def served_unit(self, department: str, name: str) -> str:
        return f"{self.base}served-unit/{department}/{self._h(name, 10)}"


def _dec(x: float) -> Literal:
    return Literal(format(Decimal(repr(round(x, 4))).normalize(), "f"), datatype=XSD.decimal)


def _int(x: int) -> Literal:
    return Literal(str(x), datatype=XSD.integer)


def _zh(text: str) -> Literal:
    return Literal(text, language="zh")


_TRUE = Literal("true", datatype=XSD.boolean)
_FALSE = Literal("false", datatype=XSD.boolean)


class _Quads:
    """Collects quads of one graph; with a ``sink``, hands them over in chunks (bounded memory)."""

    __slots__ = ("chunk", "count", "g", "quads", "sink")

    def __init__(self, graph: NamedNode, sink: Callable[[list[Quad]], None] | None = None,
                 chunk: int = 200_000) -> None:
        self.g = graph
        self.quads: list[Quad] = []
        self.sink = sink
        self.chunk = chunk
        self.count = 0

    def add(self, s: NamedNode, p: NamedNode, o: NamedNode | Literal) -> None:
        self.quads.append(Quad(s, p, o, self.g))
        if self.sink is not None and len(self.quads) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        self.count += len(self.quads)
        if self.sink is not None and self.quads:
            self.sink(self.quads)
            self.quads = []


def _most(c: Counter[str]) -> str:
    return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _concept_quads(q: _Quads, concepts: list[Concept], weights: Mapping[int, float], informative: set[int],
                   iris: LinkIris, settings: LinkSettings, report: LinkReport) -> list[NamedNode]:
    scheme, tscheme = iris.concept_scheme, iris.term_scheme
    for node, zh, en in ((scheme, "绩效指标概念", "Indicator concepts"),
                         (tscheme, "三级指标措辞", "Indicator wordings")):
        q.add(node, RDF.type, SKOS.ConceptScheme)
        q.add(node, SKOS.prefLabel, Literal(zh, language="zh"))
        q.add(node, SKOS.prefLabel, Literal(en, language="en"))
    nodes = []
    for k, c in enumerate(concepts):
        node = iris.concept(c.leader.key)
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
            q.add(node, BK.unitDimension, Literal(_most(dims)))
        for t, score, shared, nested in c.members:
            term = iris.term(t.key)
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
                q.add(term, BK.unitDimension, Literal(t.dim))
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
            match = NamedNode(f"{term.value}/match")
            q.add(match, RDF.type, BK.ConceptMatch)
            q.add(match, BK.matchedTerm, term)
            q.add(match, BK.matchedConcept, node)
            q.add(match, BK.mappingRelation, relation)
            q.add(match, BK.score, _dec(score))
            q.add(match, BK.rule, Literal("concept/leader" if t is c.leader else "concept/bigram-dice"))
            for g in shared[:12]:
                q.add(match, BK.matchedToken, _zh(g))
            for ind in sorted(t.indicators):
                i_node = NamedNode(ind)
                q.add(i_node, BK.indicatorTerm, term)
                q.add(i_node, BK.indicatorConcept, node)
    return nodes


def _link(q: _Quads, node: NamedNode, cls: NamedNode, a: str, b: str, score: float, rule: str) -> None:
    q.add(node, RDF.type, cls)
    q.add(node, BK.fromProject, NamedNode(a))
    q.add(node, BK.toProject, NamedNode(b))
    q.add(node, BK.score, _dec(score))
    q.add(node, BK.rule, Literal(rule))


def compute_links(store: KGStore, settings: Settings, link_settings: LinkSettings | None = None,
                  graph: NamedNode | None = None, sink: Callable[[list[Quad]], None] | None = None
                  ) -> tuple[list[Quad], LinkReport]:
    """Read the store and compute every link; returns the quads (in ``graph``) and a report. Writes nothing.

    With a ``sink`` the quads are handed to it in chunks as they are made (bounded memory) and the
    returned list is empty.
    """
    q = _Quads(graph or LinkIris(settings.base_iri).graph, sink)
    report = _compute(store, settings, link_settings or LinkSettings(), q)
    return q.quads, report


def _compute(store: KGStore, settings: Settings, ls: LinkSettings, q: _Quads) -> LinkReport:
    iris = LinkIris(settings.base_iri)
    report = LinkReport(graph=iris.graph.value)
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.steps[name] = round(now - clock, 3)
        clock = now

    projects = read_projects(store)
    index = {p.iri: i for i, p in enumerate(projects)}
    report.projects = n = len(projects)
    terms = read_terms(store, index)
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
        node = iris.link("shared-goal", a.iri, b.iri)
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
        node = NamedNode(iris.served_unit(u.department, u.name))
        q.add(node, RDF.type, BK.ServedUnit)
        q.add(node, RDFS.label, _zh(u.name))
        for alias in sorted(u.aliases):
            q.add(node, SKOS.altLabel, _zh(alias))
        q.add(node, ORG.subOrganizationOf, NamedNode(iris.agency(u.department)))
    for s in served_links:
        p = projects[s.project]
        node = NamedNode(f"{iris.base}link/served-unit/{LinkIris._h(p.iri, 16)}")
        q.add(node, RDF.type, BK.ServedUnitLink)
        q.add(node, BK.fromProject, NamedNode(p.iri))
        q.add(node, BK.toUnit, NamedNode(s.unit_iri))
        q.add(node, BK.score, _dec(s.score))
        q.add(node, BK.rule, Literal(s.rule))
        q.add(node, BK.matchedToken, _zh(s.name))
        q.add(NamedNode(p.iri), BK.servesUnit, NamedNode(s.unit_iri))
    report.served_units, report.served_unit_links = len(units), len(served_links)
    step("served-units")

    for u in undertakings(projects, served_of, ls):
        a, b = projects[u.a], projects[u.b]
        cls = BK.TrancheLink if u.kind == "tranche" else BK.LineageLink
        node = iris.link(u.kind, a.iri, b.iri)
        _link(q, node, cls, a.iri, b.iri, u.score, u.rule)
        q.add(node, BK.nameScore, _dec(u.name_score))
        q.add(node, BK.goalTextScore, _dec(u.goal_score))
        for core in u.cores:
            q.add(node, BK.matchedToken, _zh(core))
        q.add(NamedNode(a.iri), BK.nextInUndertaking, NamedNode(b.iri))
        if u.kind == "tranche":
            report.tranche_links += 1
        else:
            report.lineage_links += 1
    step("lineage")

    s_node = iris.settings_node
    q.add(s_node, RDF.type, BK.LinkSettings)
    q.add(s_node, RDFS.label, Literal("关联计算参数", language="zh"))
    q.add(s_node, RDFS.label, Literal("Link settings", language="en"))
    for line in ls.as_text():
        q.add(s_node, BK.setting, Literal(line))
    q.flush()
    report.quads = q.count
    report.seconds = round(sum(report.steps.values()), 3)
    return report


#: Largest change (quads removed plus added) applied to an existing links graph as one SPARQL update;
#: a larger one rewrites the whole graph.
DIFF_LIMIT = 300_000


def refresh_links(store: KGStore, settings: Settings, link_settings: LinkSettings | None = None) -> LinkReport:
    """Recompute every link and replace ``<base>graph/links`` atomically; returns what was written.

    A new links graph is written while it is computed, by a :class:`~kg.store.GraphWriter`
    (atomic up to a million quads; beyond, journaled and bulk-loaded in the background, so that
    writing overlaps computing). An existing one is computed in memory first and changed by the
    difference only (``DELETE DATA`` and ``INSERT DATA``
    in one SPARQL update, one transaction), so a rebuild that changes nothing writes nothing. A very
    large change (over :data:`DIFF_LIMIT` quads) rewrites the graph with ``overwrite``. On a
    store without projects the links graph is removed. On the seeds the whole step takes well under
    a second, cheap enough to run at the end of every build.
    """
    started = time.perf_counter()
    graph = LinkIris(settings.base_iri).graph
    ls = link_settings or LinkSettings()
    if not store.has_graph(graph):  # written while it is computed (see KGStore.writer)
        writer = store.writer(graph)
        try:
            report = _compute(store, settings, ls, _Quads(graph, sink=writer.add))
        except BaseException:
            writer.abort()
            raise
        computed = time.perf_counter()
        if report.projects == 0:
            writer.abort()
            report.quads = 0
        else:
            writer.commit()
        store.flush()
        report.steps["write"] = round(time.perf_counter() - computed, 3)
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    quads = _Quads(graph)
    report = _compute(store, settings, ls, quads)
    computed = time.perf_counter()
    if report.projects == 0:
        store.remove_graph(graph)
        report.quads = 0
    else:
        new = set(quads.quads)
        old = set(store.quads(graph))
        deletes, inserts = old - new, [q for q in quads.quads if q not in old]
        report.quads_removed, report.quads_added = len(deletes), len(inserts)
        if len(deletes) + len(inserts) <= DIFF_LIMIT:
            _apply_difference(store, graph, sorted(deletes, key=str), inserts)
        else:
            store.overwrite(graph, quads.quads)
    store.flush()
    report.steps["write"] = round(time.perf_counter() - computed, 3)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _apply_difference(store: KGStore, graph: NamedNode, deletes: list[Quad], inserts: list[Quad]) -> None:
    if not deletes and not inserts:
        return
    parts = []
    for verb, quads in (("DELETE", deletes), ("INSERT", inserts)):
        if quads:
            body = serialize((q.triple for q in quads), format=RdfFormat.N_TRIPLES).decode("utf-8")
            parts.append(f"{verb} DATA {{ GRAPH <{graph.value}> {{\n{body}}} }}")
    try:
        store.store.update(" ;\n".join(parts))  # one update request: one transaction
    except (OSError, SyntaxError) as exc:
        raise StoreError(f"updating graph {graph.value} failed: {exc}") from None
