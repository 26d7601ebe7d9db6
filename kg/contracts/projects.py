"""Which project a contract is for: by identifier, else by its buyer and the project's name.

The buyer is resolved by any 3- or 6-digit code the store knows, else by its name
(:func:`name_key`); an ambiguous buyer or project name is never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyoxigraph import QuerySolutions

from .. import similarity as sim
from ..iris import Iris
from ..namespaces import sparql_prefixes
from ..store import GraphStore
from .records import AGENCY_CODE, USCC_PATTERN, ContractRecord, normalize_credit_code


@dataclass(frozen=True)
class ContractSettings:
    """How contracts are matched to projects by name (see ``docs/analytics.md``)."""

    #: Least name similarity for a contract to be linked to a project by agency plus name.
    min_confidence: float = 0.6
    #: The best name must beat the second best by this much, else the row is ambiguous.
    ambiguity_margin: float = 0.05
    #: Confidence of a link by a project name that no other project (of the buyer's department) has.
    unique_name_confidence: float = 0.95


_PROJECTS = sparql_prefixes(["bk", "rdfs"]) + """
SELECT ?p ?name ?code ?year ?base ?fy ?pcode WHERE {
  ?p a bk:Project ; rdfs:label ?name ; bk:budgetUnitCode ?code ; bk:budgetYear ?year .
  OPTIONAL { ?p bk:baseName ?base } OPTIONAL { ?p bk:fundYear ?fy } OPTIONAL { ?p bk:projectCode ?pcode }
}
"""
#: The budget units and departments of the agencies graph (see ``kg.pipeline.refresh_agencies``) and their names.
_AGENCIES = sparql_prefixes(["bk", "rdfs"]) + """
SELECT ?code ?name WHERE { ?a bk:agencyCode ?code . OPTIONAL { ?a rdfs:label ?name } }
"""
#: Place names a buyer or project name may start with or leave out (天津市公安局 / 公安局), longest first.
LEADING_PLACES = ("天津市", "天津")
_EMBEDDED_CODE = re.compile(r"(?<![0-9])([0-9]{6}|[0-9]{3})(?![0-9])")


#: 一个机构两块牌子: a unit name ``A（B）`` whose bracket holds a second name (not a marker such as （特）).
_TWO_NAMES = re.compile(r"^(.+?)\(([^()]+)\)$")


def name_key(name: str) -> str:
    """The form in which buyer and project names are compared exactly.

    :func:`kg.similarity.compact` (NFKC, so full-width forms become half-width; lower case; whitespace
    and every character that is not CJK, a letter or a digit dropped, so （）()「」【】-·, go while what
    brackets hold stays), then one leading 天津市 or 天津 removed.

    >>> name_key("天津市公安局后勤保障部（特）") == name_key("公安局后勤保障部 (特)") == "公安局后勤保障部特"
    True
    >>> name_key("「督审总队信息化运维项目」-2024中央")
    '督审总队信息化运维项目2024中央'
    """
    key = sim.compact(name)
    for place in LEADING_PLACES:
        if key.startswith(place) and len(key) > len(place):
            return key[len(place):]
    return key


def unit_name_keys(name: str) -> set[str]:
    """The name keys a budget unit answers to: its whole name, and each of two names ``A（B）``.

    >>> sorted(unit_name_keys("天津市公安局强制治疗管理总队（天津市公安局安康医院）"))
    ['公安局安康医院', '公安局强制治疗管理总队', '公安局强制治疗管理总队天津市公安局安康医院']
    >>> sorted(unit_name_keys("天津市公安局后勤保障部（特）"))
    ['公安局后勤保障部特']
    """
    keys = {name_key(name)}
    m = _TWO_NAMES.match(unicodedata.normalize("NFKC", name).strip())
    if m and len(name_key(m.group(2))) >= 4:
        keys |= {name_key(m.group(1)), name_key(m.group(2))}
    return keys - {""}


@dataclass
class ProjectInfo:
    iri: str
    name: str
    unit_code: str
    years: frozenset[int]
    keys: tuple[str, ...]
    project_code: str | None = None


def read_projects(store: GraphStore) -> list[ProjectInfo]:
    """Every project with its name keys (:func:`name_key` of its 项目名称 and base name): one query."""
    out: dict[str, ProjectInfo] = {}
    solutions = store.query(_PROJECTS, name="contracts:projects")
    assert isinstance(solutions, QuerySolutions)  # a SELECT
    for s in solutions:
        iri = s["p"].value
        if iri in out:
            continue
        years = {int(s["year"].value[:4])} | ({int(s["fy"].value[:4])} if s["fy"] is not None else set())
        names = [s["name"].value] + ([s["base"].value] if s["base"] is not None else [])
        out[iri] = ProjectInfo(iri, s["name"].value, s["code"].value, frozenset(years),
                               tuple(dict.fromkeys(name_key(n) for n in names)),
                               s["pcode"].value if s["pcode"] is not None else None)
    return [out[k] for k in sorted(out)]


def read_agencies(store: GraphStore) -> dict[str, set[str]]:
    """Agency code → its published names (budget units and departments of the agencies graph): one query."""
    out: dict[str, set[str]] = defaultdict(set)
    solutions = store.query(_AGENCIES, name="contracts:agencies")
    assert isinstance(solutions, QuerySolutions)  # a SELECT
    for s in solutions:
        names = out[s["code"].value]
        if s["name"] is not None:
            names.add(s["name"].value)
    return dict(out)


@dataclass
class Match:
    project: str | None
    confidence: float
    rule: str
    reason: str = ""
    matched: str = ""
    #: Unlinked because several projects fit (no weaker rule is tried after this).
    ambiguous: bool = False
    #: The resolved buyer's agency code.
    buyer: str | None = None


@dataclass(frozen=True)
class Buyer:
    """The budget unit (or department) a contract's buyer resolves to, or why it does not."""

    code: str | None
    problem: str = ""


def name_score(stated: str, keys: Iterable[str]) -> float:
    """Similarity of a stated project name to a project (its 项目名称 or base name), 0 … 1.

    >>> round(name_score("督审总队信息化运维项目", ["督审总队信息化运维项目2024中央", "督审总队信息化运维项目"]), 3)
    1.0
    """
    a = sim.shingles(name_key(stated), (1, 2))
    return max((sim.dice(a, sim.shingles(k, (1, 2))) for k in keys), default=0.0)


def _listed(items: Sequence[str], limit: int = 3) -> str:
    return "、".join(items[:limit]) + (f" … ({len(items)} in all)" if len(items) > limit else "")


class ProjectMatcher:
    """Finds the project a contract is for: by identifier, else by buyer and name, else by a unique name."""

    def __init__(self, projects: list[ProjectInfo], base_iri: str, settings: ContractSettings,
                 agencies: dict[str, set[str]] | None = None) -> None:
        self.settings = settings
        self.iris = Iris(base_iri)
        self.by_iri = {p.iri: p for p in projects}
        self.by_code: dict[str, list[ProjectInfo]] = defaultdict(list)
        self.by_unit: dict[str, list[ProjectInfo]] = defaultdict(list)
        self.by_key: dict[str, list[ProjectInfo]] = defaultdict(list)
        for p in projects:
            if p.project_code:
                self.by_code[p.project_code.upper()].append(p)
            self.by_unit[p.unit_code].append(p)
            self.by_unit[p.unit_code[:3]].append(p)
            for k in p.keys:
                self.by_key[k].append(p)
        self.agency_names: dict[str, set[str]] = {c: set(n) for c, n in (agencies or {}).items()}
        for c in list(self.by_unit):
            self.agency_names.setdefault(c, set())
        self.agencies_by_key: dict[str, set[str]] = defaultdict(set)
        for code, names in self.agency_names.items():
            for n in names:
                for k in unit_name_keys(n):
                    self.agencies_by_key[k].add(code)

    # -- the buyer

    def resolve_buyer(self, r: ContractRecord) -> Buyer:
        """By a code the store knows (stated code, whole identifiers, codes inside identifiers), else by name."""
        ids = [unicodedata.normalize("NFKC", i).strip() for i in r.buyer_ids]
        whole = [r.agency_code] if r.agency_code else []
        stated = list(dict.fromkeys(whole + [i for i in ids if AGENCY_CODE.fullmatch(i)]))
        embedded = [c for i in ids if not USCC_PATTERN.match(normalize_credit_code(i))
                    for c in _EMBEDDED_CODE.findall(i)]
        codes = list(dict.fromkeys(stated + embedded))  # a credit code is no place to look for a budget code
        known = [c for c in codes if c in self.agency_names]
        if known:
            if len({c[:3] for c in known}) > 1 or len({c for c in known if len(c) == 6}) > 1:
                return Buyer(None, f"buyer codes disagree: {', '.join(known)}")
            return Buyer(max(known, key=len))
        if r.buyer_name:
            found = sorted(self.agencies_by_key.get(name_key(r.buyer_name), ()))
            departments = [c for c in found if len(c) == 3]
            if len(departments) == 1 and all(c.startswith(departments[0]) for c in found):
                return Buyer(departments[0])  # the department and a unit of it share the name: the department
            if len(found) == 1:
                return Buyer(found[0])
            if found:
                shown = [f"{c} {'/'.join(sorted(self.agency_names[c]))}" for c in found]
                return Buyer(None, f"buyer name {r.buyer_name} matches {len(found)} budget units: {_listed(shown)}")
        stated_codes = stated or codes
        if not stated_codes and not r.buyer_name:
            return Buyer(None, "no buyer code or name")
        what = " or ".join(x for x in (f"code {'/'.join(stated_codes)}" if stated_codes else "",
                                       f"name {r.buyer_name}" if r.buyer_name else "") if x)
        return Buyer(None, f"buyer not found: no budget unit has {what}")

    # -- the project

    def _exact(self, candidates: Iterable[ProjectInfo], key: str, year: int | None) -> list[ProjectInfo]:
        exact = [p for p in candidates if key in p.keys]
        if len(exact) > 1 and year is not None:  # the same name in two years: the contract's year decides
            exact = [p for p in exact if year in p.years] or exact
        return exact

    def _within_buyer(self, r: ContractRecord, code: str, year: int | None) -> Match:
        candidates = self.by_unit.get(code, [])
        if not candidates:
            return Match(None, 0.0, "", f"agency {code} has no projects in the store")
        stated = name_key(r.project_name)
        exact = self._exact(candidates, stated, year)
        if len(exact) == 1:
            return Match(exact[0].iri, 0.99, "contract/agency+name", matched=exact[0].name)
        containing = [p for p in candidates if any(stated in k for k in p.keys)]
        if len(exact) > 1 or len(containing) > 1:
            names = sorted({p.name for p in (exact or containing)})
            shown = "、".join(names[:3]) + (f" … ({len(names)} projects)" if len(names) > 3 else "")
            return Match(None, 0.0, "", f"ambiguous: {r.project_name} names several projects of agency "
                                        f"{code}: {shown}", ambiguous=True)
        scored = sorted(((name_score(r.project_name, p.keys) + (0.01 if year in p.years else 0.0), p.iri, p)
                         for p in candidates), key=lambda t: (-t[0], t[1]))
        best_score, _, best = scored[0]
        best_score = min(best_score, 1.0)
        if best_score < self.settings.min_confidence:
            return Match(None, round(best_score, 4), "", f"no project of agency {code} has a similar name "
                                                         f"(best: {best.name} {best_score:.2f})")
        if len(scored) > 1 and scored[1][0] > scored[0][0] - self.settings.ambiguity_margin:
            other = scored[1][2]
            return Match(None, round(best_score, 4), "", f"ambiguous: {best.name} ({scored[0][0]:.2f}) or "
                                                         f"{other.name} ({scored[1][0]:.2f})", ambiguous=True)
        return Match(best.iri, round(min(best_score, 0.99), 4), "contract/agency+name", matched=best.name)

    def _unique_name(self, r: ContractRecord, year: int | None, department: str | None) -> Match:
        """The one project (of ``department``, else of the store) whose name key is the stated name's."""
        candidates = self.by_key.get(name_key(r.project_name), [])
        if department:
            candidates = [p for p in candidates if p.unit_code.startswith(department)]
        exact = self._exact(candidates, name_key(r.project_name), year)
        where = f"of department {department}" if department else "in the store"
        if len(exact) == 1:
            return Match(exact[0].iri, self.settings.unique_name_confidence, "contract/unique-name",
                         matched=exact[0].name)
        if exact:
            shown = [f"{p.name} ({p.unit_code})" for p in sorted(exact, key=lambda p: (p.unit_code, p.name, p.iri))]
            return Match(None, 0.0, "", f"project name {r.project_name} matches {len(exact)} projects {where}: "
                                        f"{_listed(shown)}", ambiguous=True)
        return Match(None, 0.0, "", f"no project {where} is named {r.project_name}")

    def match(self, r: ContractRecord) -> Match:
        ref = r.project_ref.strip()
        if ref:
            hit = self.by_iri.get(ref) or self.by_iri.get(self.iris.project_by_path(ref))
            if hit is not None:
                return Match(hit.iri, 1.0, "contract/identifier", matched=hit.name)
            codes = self.by_code.get(ref.upper(), [])
            if len(codes) == 1:
                return Match(codes[0].iri, 1.0, "contract/project-code", matched=codes[0].name)
        buyer = self.resolve_buyer(r)
        if not r.project_name:
            return Match(None, 0.0, "", f"project_ref {ref!r} matches no project and no project_name is given",
                         buyer=buyer.code)
        year = r.date.year if r.date else None
        if buyer.code:
            m = self._within_buyer(r, buyer.code, year)
            if m.project or m.ambiguous or len(buyer.code) == 3:  # a department: its projects were all tried
                m.buyer = buyer.code
                return m
            first = m.reason
        else:
            first = buyer.problem
        u = self._unique_name(r, year, buyer.code[:3] if buyer.code else None)
        u.buyer = buyer.code
        if not u.project:
            u.reason = f"{first}; {u.reason}"
        return u
