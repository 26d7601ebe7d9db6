"""Indicator concepts: the wordings of a 三级指标, grouped into concepts by leader clustering.

Each distinct wording (compared without punctuation, width or spaces: :func:`kg.similarity.compact`)
is a :class:`Term`; :func:`cluster_terms` groups terms into :class:`Concept` s, most frequent first
(see :mod:`kg.links` for the rule). Pure: no store, no RDF.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import similarity as sim
from .settings import LinkSettings

#: Local names of the QUDT and budgetkg units of time.
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
        return (most_frequent(l1) if l1 else "", most_frequent(l2) if l2 else "")

    def is_weak(self, settings: LinkSettings) -> bool:
        """Whether the concept's category says who is pleased or what it costs, not what is pursued."""
        return any(c and c in settings.weak_categories for c in self.categories())


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
    for counts in grams.values():
        df.update(counts.keys())
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


def most_frequent(c: Counter[str]) -> str:
    """The most frequent key of ``c``; of equally frequent ones, the least (deterministic)."""
    return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]
