"""The facet table: what faceted browsing counts, one row per project and per indicator, counted in memory.

SPARQL on Oxigraph pays an index lookup per solution, and a facet count on ``/indicators`` joins every
indicator of the view (880,000 at 100,000 tables) with its project's unit, year and funding: seconds,
whatever the query's shape. The facet values of a thing only change when the store does, so they are
read once per store generation into numpy columns and counted there:

* **projects**: one row per ``?p a bk:Project``, with the codes of its department (through its budget
  unit), budget unit, year and funding sources (:data:`NO_VALUE` when it states none), the distinct
  ``bk:level1``/``bk:level2`` categories of its indicators (``bk:hasIndicator``), the rules of the
  findings that concern it (``bk:concernsProject``) and its 预算数 in 分 (an exact integer);
* **indicators**: one row per ``?x a bk:Indicator ; bk:ofProject ?p``, with its project's row, its own
  categories and the rules of the findings whose focus node it is;
* each facet's **values** (the terms, as SPARQL TSV spells them) beside, the row columns holding small
  integer codes into them, several per row as CSR offsets (:class:`Multi`);
* the **orders** of a page: every row in the order :data:`ORDERS` sorts a view by, as the engine itself
  sorts them (a thing with two labels sorted by name comes twice, as in SPARQL); a page is this order
  restricted to the view;
* the **labels** of the facet values (:func:`pick_labels` over :func:`labels_query`'s rows: what a page shows
  beside each value, zh and en), so a page reads none per request;
* what an **agency page** aggregates (:class:`Agencies`): every shared-goal link's projects and best score,
  every finding's budget units, rule and projects, and which projects have one value of what the page
  totals (:attr:`FacetTable.single`), so a department's totals, project list, findings and partners are
  masks and ``bincount`` counts too (``server.jobs.agency_summary``); and what its project list shows of each
  project (:class:`Listing`: name, budget unit code and name, 预算数 as written), so the list reads no SPARQL.

A count is then a mask per chosen facet and a ``bincount`` over the rows that pass the *other* facets'
choices (:func:`tally`), exactly what ``COUNT(DISTINCT ?x)`` over the same patterns gives. What the
table cannot say exactly (an indicator of two projects, a 预算数 finer than 分 or not a number) makes
:func:`read` raise :class:`Unsupported`: the caller counts with SPARQL instead.

**Per generation.** A table describes one store generation (:attr:`FacetTable.generation`). Reading it
costs seconds at 10,000 tables (``docs/portal.md``), so the build writes it beside an on-disk store
(:class:`kg.pipeline.FacetsStep`, after the summaries) as :func:`file_for` ``budgetkg-facets-<generation>.npz``;
:func:`stored` loads it only when its generation is the store's, and any other write leaves it behind
(a reader then reads the store itself, once per generation).

>>> table = from_rows(0, projects=[("<p1>", 100), ("<p2>", 250)], indicators=[("<i1>", "<p1>")],
...                   values={"year": [("<p1>", '"2024"'), ("<p2>", '"2025"')]}, orders={})
>>> t = tally(table, "projects", {"year": [table.code("year", '"2024"')]})
>>> t.things, t.budget_fen, {table.values["year"][c]: n for c, n in t.counts["year"].items()}
(1, 100, {'"2024"': 1, '"2025"': 1})
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import ClassVar, TypeVar, overload

import numpy as np
from numpy.typing import NDArray
from pyoxigraph import Literal, NamedNode, QueryResultsFormat

from . import tablefile
from .namespaces import BK, ORG, PREFIXES, RDF, RDFS, SH, SKOS, XSD
from .store import GraphStore, solutions

KINDS = ("projects", "indicators")
#: Facets of a project (on ``/indicators``: of the indicator's project).
PROJECT_FACETS = ("department", "unit", "year", "funding")
#: Facets an indicator has of its own (on ``/projects``: its project has the union of its indicators' and
#: findings' values).
OWN_FACETS = ("level1", "level2", "rule")
FACETS = PROJECT_FACETS + OWN_FACETS
#: The funding value of a project that states no funding source (no term is spelled so in TSV).
NO_VALUE = ""
#: Version of the file's layout: a file of another version is not read.
VERSION = 4
#: Every predicate :func:`read` reads: the build's facets step reads them from its in-memory projection
#: (:mod:`kg.store.projection`; ``tests/test_projection.py`` checks the list against the queries).
READS = frozenset({
    RDF.type, RDFS.label, SKOS.notation, SKOS.prefLabel, ORG.subOrganizationOf, SH.focusNode, BK.amountInYuan,
    BK.auditRule, BK.budget, BK.budgetUnit, BK.budgetUnitCode, BK.budgetUnitName, BK.budgetYear,
    BK.concernsBudgetUnit, BK.concernsProject, BK.fromProject, BK.fundingSource, BK.hasIndicator, BK.level1,
    BK.level2, BK.ofProject, BK.score, BK.toProject,
})
FILE_PREFIX = "budgetkg-facets-"

#: How a page of each kind is sorted: sort name → (what it sorts by, each ``OPTIONAL { ?x <path> ?<variable> }``
#: in turn, and the ORDER BY keys before the final ``?x``). ``server.catalogue`` builds its page queries from
#: these, and the table keeps every row in each of these orders, so both paths sort alike.
ORDERS: dict[str, dict[str, tuple[tuple[tuple[str, str], ...], str]]] = {
    "projects": {
        "budget": ((("budget", "bk:budget/bk:amountInYuan"),), "DESC(?budget)"),
        "budget_asc": ((("budget", "bk:budget/bk:amountInYuan"),), "ASC(?budget)"),
        "name": ((("name", "rdfs:label"),), "?name"),
        "unit": ((("unit_code", "bk:budgetUnitCode"), ("name", "rdfs:label")), "?unit_code ?name"),
    },
    "indicators": {
        # …/indicator/<position>: within a project, the shorter IRI is the earlier row (no join needed)
        "position": ((), "?p STRLEN(STR(?x))"),
        "name": ((("name", "rdfs:label"),), "?name ?p STRLEN(STR(?x))"),
    },
}
#: The pattern of the things of each kind (``?x``, and its project ``?p``).
BASE = {
    "projects": "?p a bk:Project . BIND(?p AS ?x)",
    "indicators": "?x a bk:Indicator ; bk:ofProject ?p .",
}


def order_name(kind: str, sort: str) -> str:
    """The order of :data:`ORDERS` a page of ``kind`` sorted by ``sort`` uses (indicators: position or name)."""
    if kind == "indicators":
        return "name" if sort == "name" else "position"
    return sort


def order_pattern(kind: str, order: str) -> str:
    """The OPTIONALs that bind what ``order`` sorts by."""
    return " ".join(f"OPTIONAL {{ ?x {path} ?{var} }}" for var, path in ORDERS[kind][order][0])


def order_query(kind: str, order: str) -> str:
    """Every thing of ``kind`` (``?x ?p``) in ``order``: what a page query sorts, over the whole store."""
    return (f"SELECT ?x ?p WHERE {{\n  {{ SELECT DISTINCT ?x ?p WHERE {{ {BASE[kind]} }} }}\n  "
            f"{order_pattern(kind, order)}\n}}\nORDER BY {ORDERS[kind][order][1]} ?x")


_KEY_VARIABLE = re.compile(r"\?(\w+)")


def _sorted_by(keys: str) -> list[str]:
    """The variables an ORDER BY sorts by, ``?x`` and ``?p`` aside, first named first."""
    return [v for v in dict.fromkeys(_KEY_VARIABLE.findall(keys)) if v not in ("x", "p")]


class Unsupported(ValueError):
    """The store holds something the table cannot count exactly (the caller counts with SPARQL)."""


_KEY = re.compile(r"(DESC|ASC)\(\?(\w+)\)|STRLEN\(STR\(\?(\w+)\)\)|\?(\w+)")
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_ESCAPED = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_XSD_STRING = XSD.string.value


def _unescape(text: str) -> str:
    r"""A literal's lexical form from its TSV spelling (``\t`` → tab, ``\u4e2d`` → 中).

    >>> _unescape(r'a\"b\u4e2d')
    'a"b中'
    """
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        return chr(int(e[1:], 16)) if len(e) > 1 else _ESCAPED.get(e, e)

    return _ESCAPE.sub(one, text) if "\\" in text else text


def lexical(term: str) -> str:
    """The lexical form of a literal in TSV spelling.

    >>> lexical('"2024"^^<http://www.w3.org/2001/XMLSchema#gYear>'), lexical('"天津"@zh'), lexical("12")
    ('2024', '天津', '12')
    """
    if not term.startswith('"'):
        return term
    return _unescape(term[1:term.rindex('"')])


def _column(cells: Sequence[str]) -> list[int] | None:
    """Each cell's rank in the order SPARQL sorts terms (unbound first, then IRIs, then literals), or ``None``
    when the column holds terms whose relative order is left to the engine (blank nodes, literals of
    several kinds: numbers beside strings, or two languages)."""
    kinds: set[str] = set()
    keys: list[tuple[int, str] | tuple[int, Decimal]] = []
    for c in cells:
        if not c:
            keys.append((0, ""))
        elif c.startswith("<"):
            kinds.add("iri")
            keys.append((1, c[1:-1]))
        elif c.startswith('"'):
            end = c.rindex('"')
            lexical, suffix = c[1:end], c[end + 1:]
            datatype = suffix[3:-1] if suffix.startswith("^^<") else ""
            if datatype in _NUMERIC:
                kinds.add("number")
                try:
                    keys.append((2, Decimal(lexical)))
                except InvalidOperation:
                    return None
            elif datatype in ("", _XSD_STRING):
                kinds.add(suffix if suffix.startswith("@") else "string")
                keys.append((2, _unescape(lexical)))
            else:
                return None
        else:
            try:
                keys.append((2, Decimal(c)))  # a number spelled bare
            except InvalidOperation:
                return None
            kinds.add("number")
    if len(kinds) > 1:
        return None
    rank = {k: i for i, k in enumerate(sorted(set(keys)))}
    return [rank[k] for k in keys]


def _sort(rows: Sequence[Sequence[str]], keys: str) -> list[str] | None:
    """The ``?x`` of ``rows`` (``?x ?p`` then :func:`_sorted_by`'s variables, TSV cells) as ``ORDER BY keys ?x``
    sorts them, or ``None`` when the engine has to sort them (see :func:`_column`)."""
    names = ["x", "p", *_sorted_by(keys)]
    columns: list[list[int]] = []
    for m in _KEY.finditer(keys):
        direction, var, strlen, plain = m.groups()
        if strlen:
            columns.append([len(r[names.index(strlen)]) - 2 for r in rows])  # the IRI without <>
            continue
        ranks = _column([r[names.index(var or plain)] for r in rows])
        if ranks is None:
            return None
        columns.append([-k for k in ranks] if direction == "DESC" else ranks)
    xs = [r[0] for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (*(col[i] for col in columns), xs[i]))
    return [xs[i] for i in order]


# -- labels of facet values -------------------------------------------------------------------------

#: Where a facet value's label is read from, first found first (a department: its 简称, then its name, then its code).
LABEL_PROPERTIES = (SKOS.prefLabel, RDFS.label, SKOS.notation)


def labels_query(terms: Iterable[NamedNode]) -> str:
    """The labels of facet values, one row per (value, label property, label), for :func:`pick_labels`.

    One query for every value of a facet, through the store's interface (not one lookup per value).

    >>> labels_query([NamedNode("https://x.example/a")]).splitlines()[1]
    '  VALUES ?v { <https://x.example/a> }'
    """
    values = " ".join(str(t) for t in terms)
    # one branch per property, each a lookup from ?v: a VALUES ?p block joined with ``?v ?p ?l`` was planned as
    # a scan (2.3 s for the 1,000 budget units of 10,000 tables, against 0.05 s)
    props = " UNION ".join(f"{{ ?v {p} ?l BIND({p} AS ?p) }}" for p in LABEL_PROPERTIES)
    return f"SELECT ?v ?p ?l WHERE {{\n  VALUES ?v {{ {values} }}\n  {props}\n}}"


def pick_labels(rows: Iterable[tuple[object, object, object]]) -> dict[str, tuple[str, str]]:
    """value IRI → (label, English label), from ``(value, property, label)`` rows.

    Labels are read in :data:`LABEL_PROPERTIES` order: the first Chinese one wins, else the first
    that is neither Chinese nor English (a code), else the English one; the English label is given
    beside either of the others only.

    >>> a = NamedNode("https://x.example/a")
    >>> pick_labels([(a, RDFS.label, Literal("Education", language="en")),
    ...              (a, SKOS.prefLabel, Literal("市教委", language="zh"))])
    {'https://x.example/a': ('市教委', 'Education')}
    """
    rank = {p.value: i for i, p in enumerate(LABEL_PROPERTIES)}
    ordered = sorted(enumerate(rows), key=lambda r: (rank.get(getattr(r[1][1], "value", ""), len(rank)), r[0]))
    found: dict[str, list[str]] = {}
    for _, (v, _p, o) in ordered:
        if not isinstance(v, NamedNode) or not isinstance(o, Literal):
            continue
        zh_en_other = found.setdefault(v.value, ["", "", ""])
        if o.language == "zh" and not zh_en_other[0]:
            zh_en_other[0] = o.value
        elif o.language == "en" and not zh_en_other[1]:
            zh_en_other[1] = o.value
        elif not zh_en_other[2]:
            zh_en_other[2] = o.value
    return {iri: (zh or other or en, en if (zh or other) else "") for iri, (zh, en, other) in found.items()}


#: Where an entity page reads a thing's name (:func:`page_label`): its ``rdfs:label``, else its ``skos:prefLabel``.
PAGE_LABEL_PROPERTIES = (RDFS.label, SKOS.prefLabel)


def page_label(labels: Iterable[tuple[object, object]]) -> str | None:
    """The name an entity page gives a thing, from its ``(property, label)`` pairs (any order; ``None``: none).

    The first property of :data:`PAGE_LABEL_PROPERTIES` with a literal decides; of its literals the Chinese one,
    else the English one, else one without a language, else one in another language (the least tag). Two in one
    language: the least, so that every reader of the same facts names the thing alike.

    >>> zh, en = Literal("教委", language="zh"), Literal("Education", language="en")
    >>> page_label([(SKOS.prefLabel, zh), (RDFS.label, en)])
    'Education'
    >>> page_label([(RDFS.label, Literal("b", language="zh")), (RDFS.label, Literal("a", language="zh"))])
    'a'
    """
    by_property: dict[str, dict[str, str]] = {}
    for p, o in labels:
        if isinstance(p, NamedNode) and isinstance(o, Literal):
            langs = by_property.setdefault(p.value, {})
            lang = o.language or ""
            if lang not in langs or o.value < langs[lang]:
                langs[lang] = o.value
    for prop in PAGE_LABEL_PROPERTIES:
        best = by_property.get(prop.value)
        if best:
            for lang in ("zh", "en", ""):
                if lang in best:
                    return best[lang]
            return best[min(best)]
    return None


def read_labels(store: GraphStore, iris: Iterable[str], chunk: int = 2000
                ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The labels (:func:`pick_labels`) of the IRIs ``iris`` (without ``<>``), a few queries for all of them; and
    the name an entity page gives each (:func:`page_label`; ``""``: none), read from the same rows."""
    todo = sorted(set(iris))
    out: dict[str, tuple[str, str]] = {}
    page: dict[str, list[tuple[object, object]]] = {i: [] for i in todo}
    for start in range(0, len(todo), chunk):
        terms = [NamedNode(i) for i in todo[start:start + chunk]]
        rows = [(r["v"], r["p"], r["l"]) for r in solutions(store.query(labels_query(terms), name="facets"), "facets")]
        out.update(pick_labels(rows))
        for v, p, o in rows:
            if isinstance(v, NamedNode) and v.value in page:
                page[v.value].append((p, o))
    return out, {i: page_label(pairs) or "" for i, pairs in page.items()}


# -- columns ---------------------------------------------------------------------------------------

Codes = NDArray[np.int32]


@dataclass(frozen=True)
class Multi:
    """Codes of several values per row, CSR style: row ``r`` has ``codes[offsets[r]:offsets[r + 1]]`` (distinct)."""

    offsets: NDArray[np.int64]
    codes: Codes
    #: The row of each code (``offsets`` expanded).
    owner: Codes

    @classmethod
    def of(cls, offsets: NDArray[np.int64], codes: Codes) -> Multi:
        rows = len(offsets) - 1
        owner = np.repeat(np.arange(rows, dtype=np.int32), np.diff(offsets)).astype(np.int32)
        return cls(offsets.astype(np.int64), codes.astype(np.int32), owner)

    @classmethod
    def from_pairs(cls, rows: int, pairs: Iterable[tuple[int, int]]) -> Multi:
        """From (row, code) pairs in any order, repeats allowed."""
        arr = np.array(list(pairs), dtype=np.int64).reshape(-1, 2)
        width = int(arr[:, 1].max()) + 1 if len(arr) else 1
        keys = np.unique(arr[:, 0] * width + arr[:, 1])
        row, code = keys // width, keys % width
        offsets = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=rows), out=offsets[1:])
        return cls.of(offsets, code.astype(np.int32))

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    def having(self, codes: Sequence[int]) -> NDArray[np.bool_]:
        """The rows having any of ``codes``."""
        mask = np.zeros(self.rows, dtype=bool)
        if codes:
            mask[self.owner[np.isin(self.codes, np.asarray(codes, dtype=np.int32))]] = True
        return mask


class Strings(Sequence[str]):
    """Many strings as one UTF-8 blob and offsets (a file holds them without pickling), decoded one by one as they
    are read: a table loaded from a file (a view of it, :mod:`kg.tablefile`) decodes only the strings asked for.

    >>> s = Strings.of(["<a>", "中文", ""])
    >>> len(s), s[1], s.take([2, 0]), s.find("中文"), s.find("x"), list(s)
    (3, '中文', ['', '<a>'], 1, None, ['<a>', '中文', ''])
    """

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: NDArray[np.uint8], offsets: NDArray[np.int64]) -> None:
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def of(cls, strings: Sequence[str]) -> Strings:
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return self.take(range(len(self))[i])
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        i %= n
        return str(self.blob.data[int(self.offsets[i]):int(self.offsets[i + 1])], "utf-8")

    def __iter__(self) -> Iterator[str]:
        return iter(self.all())

    def take(self, indices: Iterable[int] | NDArray[np.integer]) -> list[str]:
        """The strings at ``indices`` (each decoded, nothing else)."""
        at = np.asarray(indices if isinstance(indices, np.ndarray) else list(indices), dtype=np.int64)
        starts, ends = self.offsets[at].tolist(), self.offsets[at + 1].tolist()
        blob = self.blob.data
        return [str(blob[a:b], "utf-8") for a, b in zip(starts, ends, strict=True)]

    def all(self) -> list[str]:
        return self.take(np.arange(len(self)))

    def find(self, text: str) -> int | None:
        """The index of the first string equal to ``text`` (``None``: none is), decoding none of them."""
        key = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        lengths = np.diff(self.offsets)
        candidates = np.flatnonzero(lengths == len(key))
        if not len(key):
            return int(candidates[0]) if len(candidates) else None
        starts = self.offsets[candidates]
        for first in range(0, len(candidates), 4096):  # the candidates' bytes, a block of them at a time
            at = starts[first:first + 4096, None] + np.arange(len(key))
            same = np.flatnonzero((self.blob[at] == key).all(axis=1))
            if len(same):
                return int(candidates[first + same[0]])
        return None

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        found = self.find(value) if isinstance(value, str) and start == 0 and stop is None else None
        if found is None:
            if start != 0 or stop is not None:
                return super().index(value, start, len(self) if stop is None else stop)
            raise ValueError(f"{value!r} is not among the strings")
        return found

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self.find(value) is not None

    def __eq__(self, other: object) -> bool:
        """Equal to the same strings in order, as :class:`Strings` or as a list or tuple."""
        if isinstance(other, Strings):
            return bool(np.array_equal(self.offsets, other.offsets) and np.array_equal(self.blob, other.blob))
        if isinstance(other, list | tuple):
            return len(other) == len(self) and self.all() == list(other)
        return NotImplemented


V = TypeVar("V")


class SortedStrings(Mapping[str, V]):
    """A mapping whose keys are :class:`Strings` sorted (``sorted_keys``): a lookup is a binary search that decodes a
    few of them (:func:`_find`), and a subclass decodes only the value found (:meth:`value`)."""

    sorted_keys: Strings

    def value(self, at: int) -> V:
        """The value of the key at ``at``."""
        raise NotImplementedError

    def _at(self, key: object) -> int | None:
        return _find(self.sorted_keys, key) if isinstance(key, str) else None

    def __getitem__(self, key: str) -> V:
        at = self._at(key)
        if at is None:
            raise KeyError(key)
        return self.value(at)

    def __contains__(self, key: object) -> bool:
        return self._at(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.sorted_keys)

    def __len__(self) -> int:
        return len(self.sorted_keys)


class PageLabels(SortedStrings[str]):
    """IRI (a facet value, sub-organization or document) → the name its entity page gives it (:func:`page_label`), as
    two :class:`Strings` with the IRIs sorted."""

    def __init__(self, iris: Strings, text: Strings) -> None:
        self.iris, self.text = iris, text
        self.sorted_keys = iris

    def value(self, at: int) -> str:
        return self.text[at]


class SubOrganizations(SortedStrings[list[str]]):
    """Agency IRI → the IRIs of its sub-organizations (the IRI subjects of ``org:subOrganizationOf`` it, sorted): a
    department's budget units. Three arrays: the agencies' IRIs sorted (a lookup is a binary search), and their
    sub-organizations' IRIs one agency after the other, where ``offsets`` says.

    A department's page needs its units, a thousand of them at 100,000 tables: read from the store they cost the
    text of each (~8 ms on a worker's first visit), from here a slice of one string table.

    >>> subs = SubOrganizations.of([("http://e/u2", "http://e/d"), ("http://e/u1", "http://e/d"),
    ...                             ("http://e/u3", "http://e/u1")])
    >>> subs["http://e/d"], subs["http://e/u1"], "http://e/u2" in subs, len(subs)
    (['http://e/u1', 'http://e/u2'], ['http://e/u3'], False, 2)
    """

    def __init__(self, parents: Strings, offsets: NDArray[np.int64], children: Strings) -> None:
        self.parents, self.offsets, self.children = parents, offsets, children
        self.sorted_keys = parents

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> SubOrganizations:
        """From (sub-organization, agency) IRI pairs (a pair given twice counts once)."""
        by_parent: dict[str, set[str]] = {}
        for child, parent in pairs:
            by_parent.setdefault(parent, set()).add(child)
        parents = sorted(by_parent)
        children = [sorted(by_parent[p]) for p in parents]
        offsets = np.zeros(len(parents) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in children], out=offsets[1:])
        return cls(Strings.of(parents), offsets, Strings.of([c for group in children for c in group]))

    def value(self, at: int) -> list[str]:
        return self.children.take(np.arange(int(self.offsets[at]), int(self.offsets[at + 1])))


def _find(iris: Sequence[str], iri: str) -> int | None:
    """Where ``iri`` is in the sorted ``iris`` (``None``: absent)."""
    lo, hi = 0, len(iris)
    while lo < hi:  # UTF-8 sorts as the code points do: the IRIs were sorted as str
        mid = (lo + hi) // 2
        if iris[mid] < iri:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(iris) and iris[lo] == iri else None


def pick(strings: Sequence[str], indices: NDArray[np.integer]) -> list[str]:
    """The strings at ``indices`` (of :class:`Strings`: only those decoded)."""
    if isinstance(strings, Strings):
        return strings.take(indices)
    return [strings[i] for i in indices.tolist()]


class Labels(SortedStrings[tuple[str, str]]):
    """Facet value IRI → (label, English label), kept as three :class:`Strings` with the IRIs sorted: a lookup is a
    binary search that decodes a few IRIs, and only the labels found are decoded."""

    def __init__(self, iris: Strings, zh: Strings, en: Strings) -> None:
        self.iris, self.zh, self.en = iris, zh, en
        self.sorted_keys = iris

    @classmethod
    def of(cls, labels: Mapping[str, tuple[str, str]]) -> Labels:
        iris = sorted(labels)
        return cls(Strings.of(iris), Strings.of([labels[i][0] for i in iris]), Strings.of([labels[i][1] for i in iris]))

    def value(self, at: int) -> tuple[str, str]:
        return self.zh[at], self.en[at]


@dataclass(frozen=True)
class Agencies:
    """What an agency page aggregates besides its projects' facet values (``server.jobs.agency_summary``).

    Shared-goal links (``bk:SharedGoalLink``): their ``bk:fromProject``/``bk:toProject`` as project rows and
    their greatest ``bk:score`` (NaN: none). Findings: the budget units they concern (``bk:concernsBudgetUnit``,
    codes into :attr:`units`), their rules (``bk:auditRule``, codes into :attr:`rules`) and their projects
    (``bk:concernsProject``, distinct codes: only counted).
    """

    link_from: Multi
    link_to: Multi
    link_score: NDArray[np.float64]
    units: Sequence[str]
    rules: Sequence[str]
    finding_unit: Multi
    finding_rule: Multi
    finding_project: Multi


@dataclass(frozen=True)
class Listing:
    """What an agency page's project list shows of each project row, as the terms are written (TSV spelling, ``""``:
    none): its ``rdfs:label``, ``bk:budgetUnitCode``, ``bk:budgetUnitName`` and ``bk:budget/bk:amountInYuan``;
    :attr:`single` says the row has at most one of each (else the page reads the row with SPARQL)."""

    name: Strings
    unit_code: Strings
    unit_name: Strings
    budget: Strings
    single: NDArray[np.bool_]

    #: The columns, as the page's rows name them (``server.jobs``' ``_AGENCY_PROJECT_DETAILS``, ``?budget``).
    COLUMNS: ClassVar[tuple[str, ...]] = ("name", "unit_code", "unit_name", "budget")

    def rows(self, rows: Sequence[int] | NDArray[np.integer]) -> list[dict[str, str | None]]:
        """Each of ``rows``' values (:func:`term_value`'s text of the term; ``None``: none), decoding only those."""
        at = np.asarray(rows, dtype=np.int64)
        columns = [_term_values(getattr(self, c).take(at)) for c in self.COLUMNS]
        return [dict(zip(self.COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)]


def _term_values(terms: Iterable[str]) -> list[str | None]:
    r""":func:`term_value` of each term, a plain literal's (no escape in it: the common case) read in place.

    >>> _term_values(['"天津"@zh', '"1.5"^^<http://www.w3.org/2001/XMLSchema#decimal>', '"a\\"b"', "<http://e/x>", ""])
    ['天津', '1.5', 'a"b', 'http://e/x', None]
    """
    return [t[1:t.rindex('"')] if t[:1] == '"' and "\\" not in t else term_value(t) for t in terms]


def term_value(term: str) -> str | None:
    """A term in TSV spelling as :func:`kg.store.term_value` gives the term: an IRI, a blank node's label, a literal's
    lexical form; ``None`` for ``""`` (unbound).

    >>> term_value("<http://e/x>"), term_value('"天津"@zh'), term_value("12"), term_value("")
    ('http://e/x', '天津', '12', None)
    """
    if not term:
        return None
    if term.startswith("<"):
        return term[1:-1]
    if term.startswith("_:"):
        return term[2:]
    return lexical(term)


@dataclass
class FacetTable:
    """The facet values of every project and indicator of one store generation (see the module docstring)."""

    generation: int
    #: facet → the terms its codes stand for (TSV spelling: ``<iri>``, ``"2024"^^<…#gYear>``; :data:`NO_VALUE`)
    values: dict[str, Sequence[str]]
    #: Project rows: IRIs (TSV spelling), 预算数 in 分, and a :class:`Multi` per facet of :data:`FACETS`.
    project_iris: Strings
    budget_fen: NDArray[np.int64]
    project_facets: dict[str, Multi]
    #: Indicator rows: IRIs, their project's row, and a :class:`Multi` per facet of :data:`OWN_FACETS`.
    indicator_iris: Strings
    indicator_project: Codes
    indicator_facets: dict[str, Multi]
    #: kind → order name (:data:`ORDERS`) → rows in that order (a row may come more than once).
    orders: dict[str, dict[str, Codes]]
    #: Facet value IRI (without ``<>``) → (label, English label) as :func:`pick_labels` picks them (values
    #: without a label are absent).
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Per project row: at most one year, funding source, ``bk:budget`` and 预算数 (an agency page's totals then
    #: read the table; else SPARQL). ``None``: unknown.
    single: NDArray[np.bool_] | None = None
    #: What agency pages aggregate (``None``: a link end that is no bk:Project, a term that is no IRI).
    agencies: Agencies | None = None
    #: What an agency page's project list shows of each project row (``None``: not read).
    listing: Listing | None = None
    #: IRI (without ``<>``) → the name its entity page gives it (:func:`page_label`; ``""``: none), for every IRI of
    #: ``labels``' query (the facet values), every sub-organization and every document (``None``: not read; a table
    #: file of an earlier build).
    page_labels: Mapping[str, str] | None = None
    #: Agency IRI → its sub-organizations' IRIs (:class:`SubOrganizations`; ``None``: not read, a table file of an
    #: earlier build).
    sub_organizations: SubOrganizations | None = None
    _codes: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    _rows: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: What a caller keeps beside the table for as long as it lives (the labels of its values, say).
    memo: dict[str, object] = field(default_factory=dict, repr=False)

    def code(self, facet: str, term: str) -> int | None:
        """The code of ``term`` (TSV spelling) among ``facet``'s values; ``None``: no row has it."""
        return self._coded(facet).get(term)

    def _coded(self, facet: str) -> dict[str, int]:
        """``facet``'s values → their codes (made once, under the lock; a finished dict is only read)."""
        with self._lock:
            if facet not in self._codes:
                self._codes[facet] = {t: i for i, t in enumerate(self.values[facet])}
            return self._codes[facet]

    def codes_of(self, facet: str, iris: Iterable[str]) -> dict[str, int | None]:
        """The code of each IRI (without ``<>``) among ``facet``'s values (``None``: no row has it), at once."""
        coded = self._coded(facet)
        return {i: coded.get(f"<{i}>") for i in iris}

    def rows(self, kind: str) -> int:
        return len(self.project_iris) if kind == "projects" else len(self.indicator_iris)

    def row_of(self, kind: str, iri: str) -> int | None:
        """The row of the thing ``iri`` (TSV spelling) of ``kind``."""
        with self._lock:
            if kind not in self._rows:
                iris = self.project_iris if kind == "projects" else self.indicator_iris
                self._rows[kind] = {s: i for i, s in enumerate(iris.all())}
            return self._rows[kind].get(iri)

    def pair(self, kind: str, row: int) -> tuple[str, str]:
        """The IRIs (without ``<>``) of a row's thing and its project."""
        if kind == "projects":
            x = self.project_iris[row][1:-1]
            return x, x
        return self.indicator_iris[row][1:-1], self.project_iris[int(self.indicator_project[row])][1:-1]


# -- counting --------------------------------------------------------------------------------------

@dataclass
class Tally:
    """A view's totals and counts: things (distinct ``?x``), projects, 预算数 in 分, facet → code → count."""

    things: int
    projects: int
    budget_fen: int
    counts: dict[str, dict[int, int]]
    #: The rows of the view.
    mask: NDArray[np.bool_]


def _passing(table: FacetTable, kind: str, facet: str, codes: Sequence[int]) -> NDArray[np.bool_]:
    """The rows of ``kind`` that have any of ``codes`` for ``facet``."""
    if kind == "indicators":
        if facet in PROJECT_FACETS:
            return table.project_facets[facet].having(codes)[table.indicator_project]
        return table.indicator_facets[facet].having(codes)
    return table.project_facets[facet].having(codes)


def _counts(table: FacetTable, kind: str, facet: str, mask: NDArray[np.bool_]) -> dict[int, int]:
    """Of the rows in ``mask``, how many have each value of ``facet`` (rows have each value once)."""
    width = len(table.values[facet])
    if kind == "indicators" and facet in PROJECT_FACETS:
        col = table.project_facets[facet]
        per_project = np.bincount(table.indicator_project[mask], minlength=col.rows)
        n = np.bincount(col.codes, weights=per_project[col.owner], minlength=width).round().astype(np.int64)
    else:
        col = table.indicator_facets[facet] if kind == "indicators" else table.project_facets[facet]
        n = np.bincount(col.codes[mask[col.owner]], minlength=width)
    return {int(c): int(n[c]) for c in np.flatnonzero(n)}


def tally(table: FacetTable, kind: str, chosen: Mapping[str, Sequence[int]], within: NDArray[np.bool_] | None = None,
          *, facets: bool = True) -> Tally:
    """Totals of the view ``chosen`` (facet → codes of the values chosen, any of them; a facet given with no
    codes passes nothing), within the rows ``within``; with ``facets``, each facet's counts over the rows that
    pass the other facets' choices."""
    rows = table.rows(kind)
    base = np.ones(rows, dtype=bool) if within is None else within
    passing = {f: _passing(table, kind, f, codes) for f, codes in chosen.items()}

    def all_but(skip: str | None) -> NDArray[np.bool_]:
        mask = base.copy()
        for f, m in passing.items():
            if f != skip:
                mask &= m
        return mask

    mask = all_but(None)
    counts = {f: _counts(table, kind, f, all_but(f) if f in passing else mask) for f in FACETS} if facets else {}
    if kind == "indicators":
        of_view = np.zeros(len(table.project_iris), dtype=bool)
        of_view[table.indicator_project[mask]] = True
    else:
        of_view = mask
    return Tally(int(mask.sum()), int(of_view.sum()), int(table.budget_fen[of_view].sum()), counts, mask)


def page(table: FacetTable, kind: str, order: str, mask: NDArray[np.bool_], offset: int, limit: int | None,
         ) -> list[tuple[str, str]]:
    """The (thing, project) IRIs of rows ``offset…offset+limit`` of the view ``mask`` in ``order``."""
    ordered = table.orders[kind][order]
    chosen = ordered[mask[ordered]]
    end = None if limit is None else offset + limit
    return [table.pair(kind, int(r)) for r in chosen[offset:end]]


def wanyuan(fen: int) -> Decimal:
    """分 as 万元, spelled as SPARQL's ``SUM(?yuan) / 10000`` spells it (no trailing zeros after the point).

    >>> wanyuan(8790000), wanyuan(1234550), wanyuan(0)
    (Decimal('8.79'), Decimal('1.23455'), Decimal('0'))
    """
    return Decimal(fen) / 100 / 10000


def _expand(m: Multi, rows: NDArray[np.integer]) -> tuple[NDArray[np.int64], Codes]:
    """Each code of each of ``rows`` of ``m``: (the index into ``rows`` it belongs to, the code)."""
    rows = rows.astype(np.int64)
    starts = m.offsets[rows]
    lens = m.offsets[rows + 1] - starts
    at = np.repeat(np.arange(len(rows), dtype=np.int64), lens)
    pos = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()), dtype=np.int64)
    return at, m.codes[pos]


def projects_of_units(table: FacetTable, units: Iterable[str]) -> NDArray[np.bool_]:
    """The project rows whose ``bk:budgetUnit`` is one of ``units`` (IRIs without ``<>``)."""
    codes = [c for c in (table.code("unit", f"<{u}>") for u in units) if c is not None]
    return table.project_facets["unit"].having(codes)


def one_value(table: FacetTable, facet: str, rows: NDArray[np.integer]) -> Codes:
    """The code of each project row's value of ``facet`` (its first; -1: none)."""
    m = table.project_facets[facet]
    rows = rows.astype(np.int64)
    has = m.offsets[rows + 1] > m.offsets[rows]
    out = np.full(len(rows), -1, dtype=np.int32)
    out[has] = m.codes[m.offsets[rows[has]]]
    return out


def partners(table: FacetTable, agencies: Agencies, projects: NDArray[np.bool_],
             ) -> list[dict[str, tuple[int, float | None]]]:
    """Per direction (links from the ``projects``, links to them): the budget unit of each project at the other
    end → (distinct links, greatest score or ``None``), as ``COUNT(DISTINCT ?link)``/``MAX(?score)`` give."""
    unit = table.project_facets["unit"]
    n_links = len(agencies.link_score)
    out = []
    for own, other in ((agencies.link_from, agencies.link_to), (agencies.link_to, agencies.link_from)):
        links = np.zeros(n_links, dtype=bool)
        links[own.owner[projects[own.codes]]] = True
        chosen = links[other.owner]
        link_of, at_other = other.owner[chosen], other.codes[chosen]
        at, partner = _expand(unit, at_other)
        keys = np.unique(partner.astype(np.int64) * max(n_links, 1) + link_of[at])
        partner_of, link = keys // max(n_links, 1), keys % max(n_links, 1)
        count = np.bincount(partner_of, minlength=len(table.values["unit"]))
        best = np.full(len(count), np.nan)
        np.fmax.at(best, partner_of, agencies.link_score[link])
        found = np.flatnonzero(count)
        out.append({unit[1:-1]: (int(count[c]), None if np.isnan(best[c]) else float(best[c]))
                    for c, unit in zip(found.tolist(), pick(table.values["unit"], found), strict=True)})
    return out


def findings_by_rule(agencies: Agencies, units: Iterable[str]) -> list[tuple[str, int, int]]:
    """Of the findings that concern any of ``units`` (IRIs without ``<>``): per rule IRI, the distinct findings
    and distinct projects (``COUNT(DISTINCT …)`` per ``?r``)."""
    index = {u: i for i, u in enumerate(agencies.units)}
    codes = [index[f"<{u}>"] for u in units if f"<{u}>" in index]
    found = agencies.finding_unit.having(codes)
    rules = agencies.finding_rule
    chosen = found[rules.owner]
    finding_of, rule_of = rules.owner[chosen], rules.codes[chosen]
    n_rules = len(agencies.rules)
    findings = np.bincount(rule_of, minlength=n_rules)
    at, project = _expand(agencies.finding_project, finding_of)
    width = int(agencies.finding_project.codes.max()) + 1 if len(agencies.finding_project.codes) else 1
    keys = np.unique(rule_of[at].astype(np.int64) * width + project)
    projects = np.bincount(keys // width, minlength=n_rules)
    ruled = np.flatnonzero(findings)
    return [(rule[1:-1], int(findings[r]), int(projects[r]))
            for r, rule in zip(ruled.tolist(), pick(agencies.rules, ruled), strict=True)]


# -- reading the store -----------------------------------------------------------------------------

def _tsv(store: GraphStore, sparql: str) -> list[list[str]]:
    """The rows of a SELECT, as the engine spells them in TSV (serialised in Rust: fast)."""
    result = solutions(store.query(sparql, name="facets", prefixes=PREFIXES), "facets")
    data = result.serialize(format=QueryResultsFormat.TSV)
    assert data is not None  # serialised to bytes, not to a file
    lines = data.decode("utf-8").split("\n")
    return [line.split("\t") for line in lines[1:] if line]


_ATTRIBUTES = {
    "department": "SELECT ?p ?v WHERE { ?p bk:budgetUnit ?u . ?u org:subOrganizationOf ?v }",
    "unit": "SELECT ?p ?v WHERE { ?p bk:budgetUnit ?v }",
    "year": "SELECT ?p ?v WHERE { ?p bk:budgetYear ?v }",
    "funding": "SELECT ?p ?v WHERE { ?p bk:fundingSource ?v }",
    "rule": "SELECT ?p ?v WHERE { ?f bk:concernsProject ?p ; bk:auditRule ?v }",
}
_HAS_INDICATOR = "SELECT ?p ?i WHERE { ?p bk:hasIndicator ?i }"
_CATEGORY = "SELECT ?i ?v WHERE {{ ?i bk:{} ?v }}"
_FOCUS_RULE = "SELECT ?x ?v WHERE { ?f sh:focusNode ?x ; bk:auditRule ?v }"
_NUMERIC = {XSD.decimal.value, XSD.integer.value}


def _fen(cell: str) -> int:
    """A 预算数 in 分, from its TSV spelling (``"87900.5"^^<…#decimal>`` or ``87900.5``)."""
    if cell.startswith('"'):
        lexical, _, datatype = cell[1:].partition('"^^<')
        if datatype[:-1] not in _NUMERIC:
            raise Unsupported(f"a 预算数 that SUM does not add as a decimal: {cell}")
    else:
        lexical = cell
    try:
        fen = Decimal(lexical) * 100
    except InvalidOperation:
        raise Unsupported(f"a 预算数 that is not a number: {cell}") from None
    if fen != fen.to_integral_value() or "e" in lexical.lower():
        raise Unsupported(f"a 预算数 finer than 分: {cell}")
    return int(fen)


def from_rows(generation: int, *, projects: Sequence[tuple[str, int]], indicators: Sequence[tuple[str, str]],
              values: Mapping[str, Iterable[tuple[str, str]]],
              indicator_values: Mapping[str, Iterable[tuple[str, str]]] | None = None,
              orders: Mapping[str, Mapping[str, Iterable[str]]]) -> FacetTable:
    """A table from rows in TSV spelling: projects (IRI, 预算数 in 分), indicators (IRI, project IRI),
    (project, value) pairs per facet, (indicator, value) pairs per own facet, and each order's thing IRIs."""
    project_row = {iri: r for r, (iri, _) in enumerate(projects)}
    indicator_row: dict[str, int] = {}
    indicator_project = np.zeros(len(indicators), dtype=np.int32)
    for r, (x, p) in enumerate(indicators):
        if x in indicator_row:
            raise Unsupported(f"an indicator of two projects: {x}")
        if p not in project_row:
            raise Unsupported(f"an indicator of something that is not a bk:Project: {x}")
        indicator_row[x] = r
        indicator_project[r] = project_row[p]
    codes: dict[str, dict[str, int]] = {f: ({NO_VALUE: 0} if f == "funding" else {}) for f in FACETS}

    def code(facet: str, term: str) -> int:
        return codes[facet].setdefault(term, len(codes[facet]))

    def multi(facet: str, rows: Mapping[str, int], pairs: Iterable[tuple[str, str]], n: int) -> Multi:
        found = [(rows[s], code(facet, v)) for s, v in pairs if s in rows]
        if facet == "funding":
            stated = {r for r, _ in found}
            found += [(r, 0) for r in range(n) if r not in stated]
        return Multi.from_pairs(n, found)

    project_facets = {f: multi(f, project_row, values.get(f, ()), len(projects)) for f in FACETS}
    indicator_facets = {f: multi(f, indicator_row, (indicator_values or {}).get(f, ()), len(indicators))
                        for f in OWN_FACETS}
    row_of = {"projects": project_row, "indicators": indicator_row}
    ordered = {kind: {name: np.array([row_of[kind][x] for x in xs], dtype=np.int32)
                      for name, xs in orders.get(kind, {}).items()} for kind in KINDS}
    return FacetTable(generation, {f: list(codes[f]) for f in FACETS}, Strings.of([p for p, _ in projects]),
                      np.array([b for _, b in projects], dtype=np.int64), project_facets,
                      Strings.of([x for x, _ in indicators]), indicator_project, indicator_facets, ordered)


def _left_join(rows: Sequence[list[str]], values: Mapping[str, list[str]]) -> list[list[str]]:
    """``rows`` (``?x`` first) each extended by every value of its ``?x``, or by an unbound cell: OPTIONAL."""
    return [[*r, v] for r in rows for v in values.get(r[0], [""])]


def _by_subject(rows: Iterable[Sequence[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s, v in rows:
        out.setdefault(s, []).append(v)
    return out


def _ordered(store: GraphStore, kind: str, order: str, base: list[list[str]],
             attributes: dict[str, dict[str, list[str]]]) -> list[str]:
    """The things of ``kind`` (``base``: distinct ``?x ?p`` rows) in ``order``: sorted here from the values
    of what it sorts by (``attributes``: path → subject → values), else by the engine (slower: its sort reads
    each term's text at every comparison)."""
    optionals, keys = ORDERS[kind][order]
    rows = base
    for _, path in optionals:
        rows = _left_join(rows, attributes[path])
    names = ["x", "p", *(var for var, _ in optionals)]
    if names[2:] == _sorted_by(keys):
        xs = _sort(rows, keys)
        if xs is not None:
            return xs
    return [x for x, _ in _tsv(store, order_query(kind, order))]


def read(store: GraphStore) -> FacetTable:
    """Read the table from the store (a few SELECTs serialised by the engine), at its current generation.

    Each query is one pattern, read whole; the joins (a project's indicators' categories, a thing's
    sort keys) are made here, with SPARQL's multiplicities. Raises :class:`Unsupported` when the store
    holds what the table cannot count exactly."""
    generation = store.generation
    project_iris = [p for (p,) in _tsv(store, "SELECT DISTINCT ?p WHERE { ?p a bk:Project }")]
    indicator_type = {x for (x,) in _tsv(store, "SELECT ?x WHERE { ?x a bk:Indicator }")}
    pairs = _tsv(store, "SELECT ?x ?p WHERE { ?x bk:ofProject ?p }")
    indicator_rows = [list(r) for r in dict.fromkeys((x, p) for x, p in pairs if x in indicator_type)]
    paths = {path for kind in ORDERS.values() for optionals, _ in kind.values() for _, path in optionals}
    attributes = {path: _by_subject(_tsv(store, f"SELECT ?x ?v WHERE {{ ?x {path} ?v }}")) for path in paths}
    budgets = attributes["bk:budget/bk:amountInYuan"]
    # every amount of a project, as SUM over the join adds them
    projects = [(p, sum((_fen(b) for b in budgets.get(p, ())), 0)) for p in project_iris]
    values: dict[str, list[tuple[str, str]]] = {f: [(p, v) for p, v in _tsv(store, q)] for f, q in _ATTRIBUTES.items()}
    has = _tsv(store, _HAS_INDICATOR)
    own: dict[str, list[tuple[str, str]]] = {"rule": [(x, v) for x, v in _tsv(store, _FOCUS_RULE)]}
    for level in ("level1", "level2"):
        of_indicator = [(i, v) for i, v in _tsv(store, _CATEGORY.format(level))]
        own[level] = of_indicator
        by_indicator = _by_subject(of_indicator)
        values[level] = [(p, v) for p, i in has for v in by_indicator.get(i, ())]
    base = {"projects": [[p, p] for p in project_iris], "indicators": indicator_rows}
    orders = {kind: {name: _ordered(store, kind, name, base[kind], attributes) for name in ORDERS[kind]}
              for kind in KINDS}
    named = {v[1:-1] for f in FACETS if f != "year" for pairs in (values.get(f, ()), own.get(f, ()))
             for _, v in pairs if v.startswith("<")}
    labels, page_labels = read_labels(store, named)
    years, fundings = _distinct(values["year"]), _distinct(values["funding"])
    budget_nodes = _distinct(_tsv(store, "SELECT ?x ?b WHERE { ?x bk:budget ?b }"))
    single = np.array([max(len(years.get(p, ())), len(fundings.get(p, ())), len(budget_nodes.get(p, ())),
                           len(set(budgets.get(p, ())))) <= 1 for p in project_iris], dtype=bool)
    agencies = _agencies(store, {p: r for r, p in enumerate(project_iris)})
    sub_organizations = SubOrganizations.of(
        (u[1:-1], d[1:-1]) for u, d in _tsv(store, "SELECT ?u ?d WHERE { ?u org:subOrganizationOf ?d "
                                                   "FILTER(isIRI(?u) && isIRI(?d)) }"))
    page_labels.update(_linked_names(store, sub_organizations.children))
    listing = _listing(project_iris, [attributes["rdfs:label"], attributes["bk:budgetUnitCode"],
                                      _by_subject(_tsv(store, "SELECT ?x ?v WHERE { ?x bk:budgetUnitName ?v }")),
                                      budgets])
    if store.generation != generation:
        raise Unsupported("the store was written while the facet table was read")
    table = from_rows(generation, projects=projects, indicators=[(x, p) for x, p in indicator_rows], values=values,
                      indicator_values=own, orders=orders)
    table.labels, table.single, table.agencies, table.listing = labels, single, agencies, listing
    table.page_labels = page_labels
    table.sub_organizations = sub_organizations
    if agencies is not None and not all(u.startswith("<") for u in table.values["unit"]):
        table.agencies = None
    return table


#: The names of what an agency's page links to besides facet values: the things under it (budget units, served
#: units) and the documents (a department publishes hundreds: each a look-up of its own on the page otherwise).
_LINKED_NAMES = """SELECT ?x ?p ?l WHERE {
  { ?x org:subOrganizationOf ?a } UNION { ?x a bk:SourceDocument }
  { ?x rdfs:label ?l BIND(rdfs:label AS ?p) } UNION { ?x skos:prefLabel ?l BIND(skos:prefLabel AS ?p) }
}"""


def _linked_names(store: GraphStore, sub_organizations: Iterable[str]) -> dict[str, str]:
    """The name an entity page gives (:func:`page_label`; ``""``: none) each of the ``sub_organizations`` (IRIs) and
    each document."""
    documents = (x.value for x in (r["x"] for r in solutions(store.query(
        "SELECT ?x WHERE { ?x a bk:SourceDocument }", name="facets", prefixes=PREFIXES), "facets"))
        if isinstance(x, NamedNode))
    pairs: dict[str, list[tuple[object, object]]] = {iri: [] for iri in (*sub_organizations, *documents)}
    for r in solutions(store.query(_LINKED_NAMES, name="facets", prefixes=PREFIXES), "facets"):
        x = r["x"]
        if isinstance(x, NamedNode) and x.value in pairs:
            pairs[x.value].append((r["p"], r["l"]))
    return {iri: page_label(found) or "" for iri, found in pairs.items()}


def _listing(project_iris: Sequence[str], columns: Sequence[Mapping[str, Sequence[str]]]) -> Listing:
    """The :class:`Listing` of the projects from each column's values (subject → terms, TSV spelling)."""
    single = np.ones(len(project_iris), dtype=bool)
    kept: list[list[str]] = [[] for _ in columns]
    for r, p in enumerate(project_iris):
        for k, column in enumerate(columns):
            found = column.get(p, ())
            if len(found) > 1 and len(set(found)) > 1:
                single[r] = False
            kept[k].append(found[0] if found else "")
    name, code, unit, budget = (Strings.of(c) for c in kept)
    return Listing(name, code, unit, budget, single)


def _distinct(pairs: Iterable[Sequence[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s, v in pairs:
        out.setdefault(s, set()).add(v)
    return out


def _agencies(store: GraphStore, project_row: Mapping[str, int]) -> Agencies | None:
    """The links and findings agency pages aggregate (see :class:`Agencies`); ``None`` when a shared-goal link
    has an end that is no bk:Project, or a finding's unit or rule is no IRI (the page then reads SPARQL)."""
    link_row = {x: i for i, (x,) in enumerate(_tsv(store, "SELECT DISTINCT ?l WHERE { ?l a bk:SharedGoalLink }"))}
    ends: list[Multi] = []
    for side in ("fromProject", "toProject"):
        pairs = []
        for link, p in _tsv(store, f"SELECT ?l ?p WHERE {{ ?l bk:{side} ?p }}"):
            if link in link_row:
                if p not in project_row:
                    return None
                pairs.append((link_row[link], project_row[p]))
        ends.append(Multi.from_pairs(len(link_row), pairs))
    score = np.full(len(link_row), np.nan)
    for link, v in _tsv(store, "SELECT ?l ?s WHERE { ?l bk:score ?s }"):
        if link in link_row:
            try:
                x = float(lexical(v))
            except ValueError:
                return None
            score[link_row[link]] = np.fmax(score[link_row[link]], x)
    finding_row: dict[str, int] = {}
    codes: dict[str, dict[str, int]] = {"unit": {}, "rule": {}, "project": {}}
    pairs_of: dict[str, list[tuple[int, int]]] = {}
    for what, prop in ("unit", "concernsBudgetUnit"), ("rule", "auditRule"), ("project", "concernsProject"):
        pairs_of[what] = [(finding_row.setdefault(f, len(finding_row)), codes[what].setdefault(v, len(codes[what])))
                          for f, v in _tsv(store, f"SELECT ?f ?v WHERE {{ ?f bk:{prop} ?v }}")]
    if not all(t.startswith("<") for what in ("unit", "rule") for t in codes[what]):
        return None
    n = len(finding_row)
    return Agencies(ends[0], ends[1], score, list(codes["unit"]), list(codes["rule"]),
                    Multi.from_pairs(n, pairs_of["unit"]), Multi.from_pairs(n, pairs_of["rule"]),
                    Multi.from_pairs(n, pairs_of["project"]))


# -- the file beside an on-disk store ----------------------------------------------------------------

def file_for(store: GraphStore, generation: int) -> Path | None:
    """Where the table of ``generation`` is kept beside an on-disk store (``None``: in memory or remote)."""
    return None if store.path is None else store.path / f"{FILE_PREFIX}{generation}.npz"


def _put(out: dict[str, NDArray[np.generic]], key: str, strings: Sequence[str]) -> None:
    s = strings if isinstance(strings, Strings) else Strings.of(strings)
    out[f"{key}.blob"], out[f"{key}.offsets"] = s.blob, s.offsets


def _put_multi(out: dict[str, NDArray[np.generic]], key: str, m: Multi) -> None:
    out[f"{key}.offsets"], out[f"{key}.codes"], out[f"{key}.owner"] = m.offsets, m.codes, m.owner


def _arrays(table: FacetTable) -> dict[str, NDArray[np.generic]]:
    out: dict[str, NDArray[np.generic]] = {"budget_fen": table.budget_fen, "indicator_project": table.indicator_project}
    _put(out, "project_iris", table.project_iris)
    _put(out, "indicator_iris", table.indicator_iris)
    for facet, terms in table.values.items():
        _put(out, f"values.{facet}", terms)
    for prefix, facets in ("project", table.project_facets), ("indicator", table.indicator_facets):
        for facet, m in facets.items():
            _put_multi(out, f"{prefix}.{facet}", m)
    for kind, orders in table.orders.items():
        for name, rows in orders.items():
            out[f"order.{kind}.{name}"] = rows
    labels = table.labels if isinstance(table.labels, Labels) else Labels.of(table.labels)
    for name, strings in ("iris", labels.iris), ("zh", labels.zh), ("en", labels.en):
        _put(out, f"labels.{name}", strings)
    if table.page_labels is not None:
        iris = sorted(table.page_labels)
        _put(out, "page_labels.iris", Strings.of(iris))
        _put(out, "page_labels.text", Strings.of([table.page_labels[i] for i in iris]))
    if table.sub_organizations is not None:
        subs = table.sub_organizations
        _put(out, "sub_organizations.parents", subs.parents)
        out["sub_organizations.offsets"] = subs.offsets
        _put(out, "sub_organizations.children", subs.children)
    if table.single is not None:
        out["single"] = table.single
    if table.listing is not None:
        for name in Listing.COLUMNS:
            _put(out, f"listing.{name}", getattr(table.listing, name))
        out["listing.single"] = table.listing.single
    ag = table.agencies
    if ag is not None:
        out["agencies.link_score"] = ag.link_score
        for name, terms in ("units", ag.units), ("rules", ag.rules):
            _put(out, f"agencies.{name}", terms)
        for name in _AGENCY_MULTI:
            _put_multi(out, f"agencies.{name}", getattr(ag, name))
    return out


_AGENCY_MULTI = ("link_from", "link_to", "finding_unit", "finding_rule", "finding_project")


def save(table: FacetTable, path: Path) -> None:
    """Write ``table`` to ``path`` atomically (a reader sees the whole file or none), and remove the tables
    of other generations beside it."""
    tablefile.save(path, FILE_PREFIX, VERSION, table.generation, _arrays(table))


def load(path: Path) -> FacetTable:
    """The table written to ``path`` by :func:`save` (raises :class:`Unsupported` for another layout): its arrays
    are views of the file mapped into memory and its strings :class:`Strings` of them, decoded when read."""
    version, generation, a = tablefile.load(path)
    if version != VERSION:
        raise Unsupported(f"a facet table file of layout {version}, not {VERSION}")

    def strings(name: str) -> Strings:
        return Strings(a[f"{name}.blob"], a[f"{name}.offsets"])

    def multi(prefix: str, facet: str) -> Multi:
        return Multi(a[f"{prefix}.{facet}.offsets"], a[f"{prefix}.{facet}.codes"], a[f"{prefix}.{facet}.owner"])

    orders = {kind: {name: a[f"order.{kind}.{name}"] for name in ORDERS[kind]} for kind in KINDS}
    labels = Labels(strings("labels.iris"), strings("labels.zh"), strings("labels.en"))
    agencies = None
    if "agencies.link_score" in a:
        agencies = Agencies(multi("agencies", "link_from"), multi("agencies", "link_to"), a["agencies.link_score"],
                            strings("agencies.units"), strings("agencies.rules"), multi("agencies", "finding_unit"),
                            multi("agencies", "finding_rule"), multi("agencies", "finding_project"))
    page_labels = None
    if "page_labels.iris.blob" in a:
        page_labels = PageLabels(strings("page_labels.iris"), strings("page_labels.text"))
    sub_organizations = None
    if "sub_organizations.offsets" in a:
        sub_organizations = SubOrganizations(strings("sub_organizations.parents"), a["sub_organizations.offsets"],
                                             strings("sub_organizations.children"))
    listing = None
    if "listing.single" in a:
        name, code, unit, budget = (strings(f"listing.{c}") for c in Listing.COLUMNS)
        listing = Listing(name, code, unit, budget, a["listing.single"])
    return FacetTable(generation, {f: strings(f"values.{f}") for f in FACETS}, strings("project_iris"),
                      a["budget_fen"], {f: multi("project", f) for f in FACETS}, strings("indicator_iris"),
                      a["indicator_project"], {f: multi("indicator", f) for f in OWN_FACETS}, orders,
                      labels, a.get("single"), agencies, listing, page_labels, sub_organizations)


def stored(store: GraphStore) -> FacetTable | None:
    """The table the build kept for the store's generation, or ``None`` (none kept, or for another generation)."""
    return tablefile.stored(file_for(store, store.generation), store.generation, load)


def current(store: GraphStore) -> FacetTable:
    """The table of the store's generation: the kept file when there is one, else read from the store."""
    return stored(store) or read(store)
