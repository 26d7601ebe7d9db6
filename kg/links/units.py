"""Served units: the unit a project serves, named at the start of its name (督审总队…, 公交分局…).

A project is linked to its own budget unit when the names agree (公交分局 abbreviates
天津市公安局公共交通治安分局), else to a ``bk:ServedUnit`` of its department.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import similarity as sim
from ..iris import Iris
from .inputs import Project

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


def served_units(projects: list[Project], departments: Mapping[str, str], iris: Iris
                 ) -> tuple[list[ServedLink], list[ServedUnit], dict[int, str]]:
    """Which unit each project serves; returns the links, the new sub-units and project → unit IRI."""
    links: list[ServedLink] = []
    pending: dict[str, list[tuple[int, str]]] = defaultdict(list)  # department → (project, name)
    for i, p in enumerate(projects):
        if not p.served:
            continue
        name = sim.normalize(p.served)
        own = unit_short_name(p.unit_name, departments.get(p.department)) if p.unit_name else ""
        unit = iris.agency(p.unit_code).value
        if own and name == own:
            links.append(ServedLink(i, unit, "served-unit/budget-unit", 1.0, p.served))
        elif own and is_abbreviation(name, own):
            links.append(ServedLink(i, unit, "served-unit/budget-unit-abbreviation", 0.9, p.served))
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
