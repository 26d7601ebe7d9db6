"""Lineage and tranches: projects of one budget unit that are one undertaking over years or payments.

Two projects whose *core names* (:func:`core_name`) are similar and that serve the same unit are
linked: a tranche link when they are payments of one project, else a lineage link (:func:`classify`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from .. import similarity as sim
from .inputs import Project
from .settings import LinkSettings

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


class _NameGrams(dict[str, Counter[str]]):
    """The unigrams and bigrams of a name (:func:`name_similarity`), made once per name however often
    it is compared."""

    def __missing__(self, name: str) -> Counter[str]:
        v = self[name] = sim.shingles(name, (1, 2))
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
    grams = _NameGrams()
    items = [[f"{p.unit_code}|{g}" for g in grams[c]] for p, c in zip(projects, cores, strict=True)]
    goal_grams: dict[int, Counter[str]] = _LazyGrams(projects)
    out: list[UndertakingLink] = []
    least_name = min(settings.lineage_min_name_score, settings.lineage_min_score)
    for i, cands in sim.candidate_pairs(items, block_size=max(settings.block_size, 200), window=settings.window):
        a, served = projects[i], served_of.get(i)
        for j in sorted(cands):
            b = projects[j]
            if a.unit_code != b.unit_code or served != served_of.get(j):
                continue
            kind = classify(a, b)
            if kind is None:
                continue
            if (i in served_of) == (j in served_of):
                ca, cb = cores[i], cores[j]
            else:  # one names a served unit, the other not: compare whole names
                ca, cb = full[i], full[j]
            name = sim.dice(grams[ca], grams[cb])  # name_similarity(ca, cb), each name's grams made once
            if name < least_name:
                continue
            goal = sim.dice(goal_grams[i], goal_grams[j]) if goal_grams[i] and goal_grams[j] else 0.0
            score = max(name, (name + goal) / 2)  # the same goals can confirm a name, never outvote it
            if score < settings.lineage_min_score:
                continue
            first, second = (i, j) if _when(a) <= _when(b) else (j, i)
            out.append(UndertakingLink(kind[0], first, second, kind[1], score, name, goal, sorted({ca, cb})))
    out.sort(key=lambda u: (projects[u.a].iri, projects[u.b].iri))
    return out
