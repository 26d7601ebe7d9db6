"""The answer table: the named queries whose answers are large, answered from columns kept per store generation.

``projects_by_threshold`` answers one row per indicator target that passes its filters (63,000 rows of 15
columns for satisfaction targets at 100,000 tables) and ``projects_by_category`` one row per project (all of
them for a common category). Oxigraph pays an index lookup per solution and column, so such answers take
seconds however the SPARQL is written. What they read only changes when the store does, so the build reads it
once into columns (:func:`read`, a few single-pattern SELECTs serialised by the engine, joined here), and a
query is then a mask and a permutation over them (:func:`solve`):

* **targets**: one row per solution of the threshold query's patterns without its filters (an indicator, its
  project, its target), each column a :class:`Column` of codes into the column's terms, kept as SPARQL TSV
  spells them (``<iri>``, ``"…"@zh``, ``97.5``: lexical form, datatype and language exactly), and
  :attr:`AnswerTable.target_order`, every row in the query's ORDER BY;
* **members**: one row per project of the category query (its IRI, name and unit name), its
  ``bk:hasIndicator`` pairs and, per pair, the texts of the indicator's 一级/二级指标 labels;
* **goals** (:class:`GoalLinks`): one row per cross-agency shared-goal link of ``shared_goals_across_agencies``
  (51,975 at 10,000 tables, about 520,000 at 100,000), read as its SPARQL fast form reads them (the flattened
  ``bk:sharedConceptLabels`` and ``bk:matchedPhrases``), both projects' codes and names, every row in the query's
  ORDER BY, and the funding sources of those projects with their labels. Links the table cannot answer exactly
  (a property with two values, a score that is no exact decimal, a unit code that is no string) leave ``goals``
  ``None``: the other queries still answer from the table, this one from its fast forms.

The filters run over each column's distinct terms (a unit code prefix, a folded wording, a category by label or key,
a funding source by key or label), never over the rows one by one. The answer stays in columns (:func:`answer`, a
:class:`TableAnswer`): the server writes each result format from them, each distinct term spelled once
(:func:`server.results.answer_bytes`); the shared-goal rows, half a million at 100,000 tables, are also kept
written in CSV and TSV (:class:`SpelledRows`, written by :func:`save`), and sent as they are. :func:`solve` makes
real :class:`~pyoxigraph.QuerySolutions` of it (a TSV document parsed by pyoxigraph) for the command line.
Whatever the table cannot answer exactly as the plain text would (a value with two labels, a target value that is
not a decimal, terms of several kinds in a sorted column) makes :func:`read` raise :class:`Unsupported`: no table
is kept and the plain text runs.

**Per generation.** The build writes the table beside an on-disk store (:class:`kg.pipeline.AnswersStep`) as
:func:`file_for` ``budgetkg-answers-<generation>.npz``; :func:`stored` loads it only when its generation is
the store's, so after any other write the plain text answers (:func:`kg.queries.choose`).

>>> fold("绩效满意度") == fold("绩效满意率") == "绩效满意"
True
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray
from pyoxigraph import (
    BlankNode,
    Literal,
    NamedNode,
    QueryResultsFormat,
    QuerySolutions,
    Store,
    Triple,
    parse_query_results,
)

from . import resultformat, tablefile
from .facets import Strings, lexical, pick
from .namespaces import BK, PREFIXES, RDF, RDFS, SKOS, XSD
from .store import GraphStore, solutions, with_values

#: The named queries the table answers (their table forms: :attr:`kg.queries.FastForm.table`).
FORMS = ("projects_by_threshold", "projects_by_category", "shared_goals_across_agencies")
VERSION = 4
#: Every predicate :func:`read` reads: the build's answers step reads them from its in-memory projection
#: (:mod:`kg.store.projection`; ``tests/test_projection.py`` checks the list against the queries).
READS = frozenset({
    RDF.type, RDFS.label, SKOS.notation, SKOS.prefLabel, BK.budgetUnitCode, BK.budgetUnitName, BK.comparator,
    BK.conceptScore, BK.crossAgency, BK.fromProject, BK.fundingSource, BK.goalTextScore, BK.hasIndicator,
    BK.indicatorConcept, BK.indicatorName, BK.level1, BK.level1Label, BK.level2, BK.level2Label, BK.matchedPhrases,
    BK.normalizedUnit, BK.normalizedValue, BK.ofProject, BK.rawValue, BK.score, BK.sharedConceptLabels, BK.target,
    BK.toProject,
})
FILE_PREFIX = "budgetkg-answers-"
#: The unbound cell (no term is spelled so in TSV).
UNBOUND = ""
#: The result formats in which the table keeps the shared-goal rows written (:class:`SpelledRows`): those of bulk
#: downloads, whose answers of half a million rows are otherwise spelled cell by cell on each request. JSON and XML
#: are written from the columns.
SPELLED_FORMATS = ("csv", "tsv")
#: What a row written ahead starts with: a byte that no UTF-8 text holds (so nowhere else in a row), replaced by the
#: row's leading cells (the parameters the answer repeats) when the row is sent.
ROW_MARK = b"\xff"

#: The threshold query's row columns, in the table (the bound parameters are the others of :data:`THRESHOLD`).
TARGET_COLUMNS = ("project", "unit_code", "name", "indicator_name", "level1", "level2", "k1", "k2", "concept",
                  "comparator", "unit", "value", "raw")
#: The SELECT of each query, in order: a column of the table, or a parameter (repeated on every row).
THRESHOLD = ("indicator", "unit", "min_value", "agency", "category", "unit_code", "name", "indicator_name",
             "level1", "level2", "concept", "comparator", "value", "raw", "project")
CATEGORY = ("category", "project", "name", "unit_name", "indicators")
#: The shared-goal query's parameters: the first columns of its SELECT, so a row written ahead (:class:`SpelledRows`)
#: is its link's cells after them.
GOAL_PARAMETERS = ("agency", "min_score", "funding")
GOALS = (*GOAL_PARAMETERS, "score", "unit_a", "name_a", "unit_b", "name_b", "concept_score", "goal_score", "concepts",
         "phrases", "link")
#: The shared-goal query's row columns, in the table (the parameters of :data:`GOALS` are the others).
LINK_COLUMNS = ("link", "score", "unit_a", "name_a", "unit_b", "name_b", "concept_score", "goal_score", "concepts",
                "phrases")

_NUMERIC = {XSD.decimal.value, XSD.integer.value}
_INTEGER = XSD.integer.value
_STRING = XSD.string.value
#: What Oxigraph's xsd:decimal holds exactly (i128 with 18 fractional digits); beyond it, the table declines.
_DECIMAL_LIMIT = Decimal("1e20")
_DECIMAL_DIGITS = 18
_SATISFACTION = re.compile("满意[度率]")
#: A term of a solution.
Term = NamedNode | BlankNode | Literal | Triple
#: What a sorted column's terms compare as: all numbers, or all texts.
_Key = TypeVar("_Key", Decimal, str)
_S = TypeVar("_S")


class Unsupported(ValueError):
    """The store holds what the table cannot answer exactly as SPARQL does (the plain text runs)."""


def fold(text: str) -> str:
    """满意度 and 满意率 as one wording (the queries' ``REPLACE(?x, "满意[度率]", "满意")``)."""
    return _SATISFACTION.sub("满意", text)


# -- terms ----------------------------------------------------------------------------------------

def _kind(term: str) -> str:
    """How SPARQL orders ``term`` (TSV spelling) among others: ``iri``, ``number``, ``@lang``, ``string`` or
    ``other`` (a kind whose order the table does not reproduce)."""
    if term.startswith("<"):
        return "iri"
    if term.startswith('"'):
        suffix = term[term.rindex('"') + 1:]
        if suffix.startswith("@"):
            return suffix
        if not suffix or suffix == f"^^<{_STRING}>":
            return "string"
        return "number" if suffix[3:-1] in _NUMERIC else "other"
    return "other" if not term or "e" in term.lower() or term in ("true", "false") else "number"


def number(term: str) -> Decimal | None:
    """The value of an xsd:decimal or xsd:integer term (TSV spelling) as Oxigraph holds it exactly, else ``None``.

    >>> number('"97"^^<http://www.w3.org/2001/XMLSchema#decimal>'), number("97.5"), number('"a"'), number("1e3")
    (Decimal('97'), Decimal('97.5'), None, None)
    """
    if _kind(term) != "number":
        return None
    return _exact(lexical(term))


def _exact(text: str) -> Decimal | None:
    if not re.fullmatch(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    fraction = text.partition(".")[2]
    if len(fraction) > _DECIMAL_DIGITS or abs(value) >= _DECIMAL_LIMIT:
        return None
    return value


def _ranks(terms: Sequence[str], key: str) -> NDArray[np.int64]:
    """Each term's rank in the order SPARQL sorts the column (all one kind, else :class:`Unsupported`)."""
    column = Column.of(terms)  # each distinct term once
    distinct = column.terms
    kinds = {_kind(t) for t in distinct if t != UNBOUND}
    if len(kinds) > 1 or "other" in kinds or UNBOUND in distinct:
        raise Unsupported(f"terms of several kinds, or unbound, in the sorted column {key}: {sorted(kinds)}")
    if kinds == {"number"}:
        numbers = [number(t) for t in distinct]
        if any(n is None for n in numbers):
            raise Unsupported(f"a number Oxigraph does not hold exactly in {key}")
        ranks = _rank_of([n for n in numbers if n is not None])
    else:
        ranks = _rank_of([t[1:-1] if t.startswith("<") else lexical(t) for t in distinct])
    return ranks[column.codes]


def _rank_of(keys: Sequence[_Key]) -> NDArray[np.int64]:
    rank = {k: i for i, k in enumerate(sorted(set(keys)))}
    return np.array([rank[k] for k in keys], dtype=np.int64)


def _text(term: str) -> str | None:
    """``STR()`` of a term (TSV spelling): an IRI's characters, a literal's lexical form; ``None`` for a blank node."""
    if term.startswith("<"):
        return term[1:-1]
    if term.startswith("_:") or term == UNBOUND:
        return None
    return lexical(term)


# -- columns --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """A column of rows: each row's code into ``terms`` (TSV spelling; :data:`UNBOUND` for an unbound cell).

    ``terms`` is a list, or (a table loaded from its file) a :class:`~kg.facets.Strings` view of the file that
    decodes only the terms read: an answer decodes the terms its rows use (:meth:`spell`), a filter the terms of
    the column it filters."""

    codes: NDArray[np.int32]
    terms: Sequence[str]

    @classmethod
    def of(cls, cells: Sequence[str]) -> Column:
        index: dict[str, int] = {}
        codes = np.fromiter((index.setdefault(c, len(index)) for c in cells), dtype=np.int32, count=len(cells))
        return cls.coded(codes, list(index))

    @classmethod
    def coded(cls, codes: NDArray[np.int32], terms: Sequence[str]) -> Column:
        return cls(codes, terms)

    @property
    def objects(self) -> NDArray[np.object_]:
        """Every term in an array, to pick many rows' cells at once (decodes them all: :meth:`spell` decodes
        only some)."""
        return _objects(self.spell(np.arange(len(self.terms))))

    def spell(self, codes: NDArray[np.integer]) -> list[str]:
        """The terms of ``codes`` (each code's term decoded once per code given)."""
        return pick(self.terms, codes)

    def take(self, rows: NDArray[np.int64]) -> Column:
        """The column of ``rows``, in their order (the same terms)."""
        return Column(self.codes[rows], self.terms)

    @classmethod
    def repeated(cls, term: str, rows: int) -> Column:
        """``term`` on each of ``rows`` rows (a bound parameter's column)."""
        return cls.coded(np.zeros(rows, dtype=np.int32), [term])

    def where(self, passing: Sequence[bool]) -> NDArray[np.bool_]:
        """The rows whose term passes (``passing``: one flag per term)."""
        return np.asarray(passing, dtype=bool)[self.codes] if len(self.terms) else np.zeros(0, dtype=bool)

    def code(self, term: str) -> int | None:
        if isinstance(self.terms, Strings):
            return self.terms.find(term)
        try:
            return self.terms.index(term)
        except ValueError:
            return None


def _objects(terms: Sequence[str]) -> NDArray[np.object_]:
    objects = np.empty(len(terms), dtype=object)
    objects[:] = terms
    return objects


@dataclass
class GoalLinks:
    """The rows of ``shared_goals_across_agencies`` without its filters: one per cross-agency shared-goal link that
    has its flattened concept labels (what the SPARQL fast form reads), with both projects' codes and names."""

    #: A :class:`Column` per name of :data:`LINK_COLUMNS` (``phrases`` :data:`UNBOUND` where the link has none).
    columns: dict[str, Column]
    #: Every row in the query's ORDER BY (``DESC(?score) ?unit_a ?name_a ?name_b ?link``).
    order: NDArray[np.int64]
    #: Each row's two projects: codes into ``funded``'s universe of projects (``ends[0]`` from, ``ends[1]`` to).
    ends: NDArray[np.int32]
    #: ``?p bk:fundingSource ?fs`` of the projects of ``ends``: the project of each pair, and the source.
    funded: NDArray[np.int32]
    sources: Column
    #: ``?fs skos:prefLabel ?fl`` of those sources: the source of each pair (a code into ``sources.terms``), the label.
    label_source: NDArray[np.int32]
    labels: Column
    #: Each row written in each of :data:`SPELLED_FORMATS`, in ``order`` (:func:`spelled_rows` of the rows with the
    #: query's parameters first); empty until :func:`save` writes them (a table read from the store, not yet saved).
    spelled: dict[str, Strings] = field(default_factory=dict, repr=False, compare=False)
    memo: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def scores(self) -> list[Decimal]:
        """The value of each term of the ``score`` column (all exact decimals: :func:`read` checked)."""
        if "scores" not in self.memo:
            self.memo["scores"] = [number(t) for t in self.columns["score"].terms]
        return cast(list[Decimal], self.memo["scores"])

    def codes(self, column: str) -> list[str]:
        """The lexical form of each term of a unit code column (all string literals: :func:`read` checked)."""
        key = f"codes.{column}"
        if key not in self.memo:
            self.memo[key] = [lexical(t) for t in self.columns[column].terms]
        return cast(list[str], self.memo[key])


@dataclass
class AnswerTable:
    """What :data:`FORMS` read, for one store generation (see the module docstring)."""

    generation: int
    #: The threshold query's rows: a :class:`Column` per name of :data:`TARGET_COLUMNS`.
    targets: dict[str, Column]
    #: Every target row in the threshold query's ORDER BY.
    target_order: NDArray[np.int64]
    #: The category query's projects: ``project``, ``name``, ``unit_name`` (one row per project).
    projects: dict[str, Column]
    #: Each project's place in ``ORDER BY ?name ?project``.
    project_rank: NDArray[np.int64]
    #: The project row of each distinct ``?project bk:hasIndicator ?i`` pair.
    pair_project: NDArray[np.int32]
    #: The texts of the labels (一级 and 二级指标) of each pair's indicator: the pair of each, and the text.
    label_pair: NDArray[np.int32]
    labels: Column
    #: The shared-goal links (``None``: the store holds what they cannot answer exactly; that query's texts run).
    goals: GoalLinks | None = None
    #: What :func:`solve` derives from the columns once (numbers, folded texts), kept while the table lives.
    memo: dict[str, object] = field(default_factory=dict, repr=False)

    def texts(self, column: str) -> list[str]:
        """``STR()`` of each term of a target column ("" for an unbound cell or a blank node), made once."""
        key = f"text.{column}"
        if key not in self.memo:
            self.memo[key] = [_text(t) or "" for t in self.targets[column].terms]
        return cast(list[str], self.memo[key])

    def folded(self, column: str) -> list[str]:
        """Each term's text of a target column with 满意度/满意率 folded (:func:`fold`), made once."""
        key = f"folded.{column}"
        if key not in self.memo:
            self.memo[key] = [fold(t) for t in self.texts(column)]
        return cast(list[str], self.memo[key])

    def numbers(self) -> list[Decimal]:
        """The value of each term of the ``value`` column (all exact decimals: :func:`read` checked)."""
        if "numbers" not in self.memo:
            self.memo["numbers"] = [number(t) for t in self.targets["value"].terms]
        return cast(list[Decimal], self.memo["numbers"])


# -- reading the store -----------------------------------------------------------------------------

def _cells(store: GraphStore, sparql: str) -> tuple[int, list[str]]:
    """The width and the cells of a SELECT's rows, row after row, as the engine spells them in TSV (serialised
    in Rust: fast; a cell holds no tab or line end, which TSV escapes)."""
    result = solutions(store.query(sparql, name="answers", prefixes=PREFIXES), "answers")
    data = result.serialize(format=QueryResultsFormat.TSV)
    assert data is not None  # serialised to bytes, not to a file
    width = len(result.variables)
    cells = data.decode("utf-8").replace("\n", "\t").split("\t")
    return width, cells[width:-1]  # no header, nor the empty cell after the last line end


def _tsv(store: GraphStore, sparql: str) -> list[tuple[str, ...]]:
    """The rows of a SELECT (TSV spellings)."""
    width, cells = _cells(store, sparql)
    return list(zip(*(cells[k::width] for k in range(width)), strict=True))


class _Values:
    """Every ``?s <path> ?v`` by subject: the value of a subject that has one, and the subjects that have more."""

    def __init__(self, store: GraphStore, path: str) -> None:
        _, cells = _cells(store, f"SELECT ?s ?v WHERE {{ ?s {path} ?v }}")
        self.path = path
        self.one = dict(zip(cells[0::2], cells[1::2], strict=True))
        self.several: set[str] = set()
        if len(self.one) * 2 < len(cells):
            self.several = {x for x, n in Counter(cells[0::2]).items() if n > 1}

    def of(self, subjects: Sequence[str | None]) -> list[str | None]:
        """The value of each subject (``None``: it has none); :class:`Unsupported` when one has several (SPARQL
        would answer a row per value)."""
        if self.several and not self.several.isdisjoint(subjects):
            raise Unsupported(f"a subject has several values of {self.path}")
        get = self.one.get
        return [get(x) if x is not None else None for x in subjects]


#: The properties the threshold query joins, by the name the table reads them under.
_PATHS = {"of_project": "bk:ofProject", "indicator_name": "bk:indicatorName", "target": "bk:target",
          "unit": "bk:normalizedUnit", "value": "bk:normalizedValue", "raw": "bk:rawValue",
          "level1": "bk:level1Label", "level2": "bk:level2Label", "k1": "bk:level1", "k2": "bk:level2",
          "concept_node": "bk:indicatorConcept", "concept": "skos:prefLabel", "comparator_node": "bk:comparator",
          "comparator": "skos:notation"}
_CODED = "SELECT ?p ?code ?name WHERE { ?p bk:budgetUnitCode ?code ; rdfs:label ?name }"
_MEMBERS = "SELECT ?p ?name ?unit WHERE { ?p a bk:Project ; rdfs:label ?name ; bk:budgetUnitName ?unit }"
_HAS = "SELECT ?p ?i WHERE { ?p bk:hasIndicator ?i }"


#: The properties of a shared-goal link the query joins, by the column (or step) the table reads them under.
_LINK_PATHS = {"concepts": "bk:sharedConceptLabels", "score": "bk:score", "concept_score": "bk:conceptScore",
               "goal_score": "bk:goalTextScore", "from": "bk:fromProject", "to": "bk:toProject",
               "phrases": "bk:matchedPhrases"}
_TYPED = "SELECT ?l WHERE { ?l a bk:SharedGoalLink }"
_CROSS = "SELECT ?l WHERE { ?l bk:crossAgency true }"
_FUNDED = "SELECT ?p ?fs WHERE { ?p bk:fundingSource ?fs }"
_FUNDING_LABELS = "SELECT ?fs ?fl WHERE { ?fs skos:prefLabel ?fl }"


def _goals(store: GraphStore, coded: Mapping[str, tuple[str, str]]) -> GoalLinks:
    """The rows of the shared-goal query's fast form without its filters (see :class:`GoalLinks`); ``coded``: the
    code and name of each project that has one of each."""
    v = {name: _Values(store, path) for name, path in _LINK_PATHS.items()}
    if v["concepts"].several:
        raise Unsupported("a link with several flattened concept label texts")
    typed, cross = (Counter(_cells(store, sparql)[1]) for sparql in (_TYPED, _CROSS))
    links = [x for x in v["concepts"].one if typed[x] and cross[x]]
    if any(typed[x] > 1 or cross[x] > 1 for x in links):
        raise Unsupported("a link typed, or marked cross-agency, twice")
    col = {c: v[c].of(links) for c in ("score", "concept_score", "goal_score", "from", "to", "phrases")}
    col["concepts"] = v["concepts"].of(links)
    required = ("score", "concept_score", "goal_score", "from", "to")
    # a row where a pattern of the query matches nothing is no row
    keep = [r for r, cells in enumerate(zip(*(col[c] for c in required), strict=True))
            if None not in cells and cells[3] in coded and cells[4] in coded]
    cells: dict[str, list[str]] = {c: [col[c][r] or UNBOUND for r in keep]
                                   for c in ("score", "concept_score", "goal_score", "concepts", "phrases")}
    cells["link"] = [links[r] for r in keep]
    ends = {side: [col[side][r] or UNBOUND for r in keep] for side in ("from", "to")}
    for side, end in (("a", "from"), ("b", "to")):
        cells[f"unit_{side}"] = [coded[p][0] for p in ends[end]]
        cells[f"name_{side}"] = [coded[p][1] for p in ends[end]]
        if any(_kind(t) != "string" and not _kind(t).startswith("@") for t in set(cells[f"unit_{side}"])):
            raise Unsupported("a budget unit code that is no string (STRSTARTS would fail on it)")
    if any(number(t) is None for t in set(cells["score"])):
        raise Unsupported("a link score that is not a decimal Oxigraph holds exactly")
    keys = [_ranks(cells[c], f"?{c}") for c in ("link", "name_b", "name_a", "unit_a")]
    order = np.lexsort((*keys, -_ranks(cells["score"], "?score")))  # ORDER BY DESC(?score) ?unit_a … ?link
    projects = Column.of(ends["from"] + ends["to"])
    index = {p: k for k, p in enumerate(projects.terms)}
    funding = list(dict.fromkeys((index[p], fs) for p, fs in _tsv(store, _FUNDED) if p in index))
    sources = Column.of([fs for _, fs in funding])
    at = {fs: k for k, fs in enumerate(sources.terms)}
    labels = list(dict.fromkeys((at[fs], fl) for fs, fl in _tsv(store, _FUNDING_LABELS) if fs in at))
    return GoalLinks({c: Column.of(cells[c]) for c in LINK_COLUMNS}, order.astype(np.int64),
                     projects.codes.reshape(2, -1), np.array([p for p, _ in funding], dtype=np.int32), sources,
                     np.array([k for k, _ in labels], dtype=np.int32), Column.of([fl for _, fl in labels]))


def read(store: GraphStore) -> AnswerTable:
    """Read the table from the store at its current generation: single-pattern SELECTs, joined here with
    SPARQL's multiplicities (a value twice where the query would answer two rows raises :class:`Unsupported`)."""
    generation = store.generation
    v = {name: _Values(store, path) for name, path in _PATHS.items()}
    coded: dict[str, tuple[str, str]] = {}
    for subject, code, name in _tsv(store, _CODED):
        if subject in coded:
            raise Unsupported(f"{subject} has several budget unit codes or labels")
        coded[subject] = (code, name)
    indicators = [i for i in v["of_project"].one if i not in v["of_project"].several]
    if v["of_project"].several:
        raise Unsupported("an indicator of several projects")
    col: dict[str, list[str | None]] = {"project": v["of_project"].of(indicators)}
    col["target"] = v["target"].of(indicators)
    for c in ("indicator_name", "level1", "level2", "k1", "k2", "concept_node"):
        col[c] = v[c].of(indicators)
    for c in ("unit", "value", "raw", "comparator_node"):
        col[c] = v[c].of(col["target"])
    # where the first step finds nothing, the subject stands in (as in the query)
    col["concept"] = v["concept"].of([n or i for n, i in zip(col["concept_node"], indicators, strict=True)])
    col["comparator"] = v["comparator"].of([n or t for n, t in zip(col["comparator_node"], col["target"],
                                                                     strict=True)])
    col["unit_code"] = [coded[p][0] if p in coded else None for p in col["project"]]
    col["name"] = [coded[p][1] if p in coded else None for p in col["project"]]
    required = ("project", "unit_code", "name", "indicator_name", "level1", "level2", "unit", "value", "raw")
    # a row where a pattern of the query matches nothing is no row
    keep = [r for r, cells in enumerate(zip(*(col[c] for c in required), strict=True)) if None not in cells]
    cells = {c: [col[c][r] or UNBOUND for r in keep] for c in (*TARGET_COLUMNS,)}
    indicators = [indicators[r] for r in keep]
    targets = {c: Column.of(cells[c]) for c in TARGET_COLUMNS}
    keys = [_ranks(indicators, "?i")] + [_ranks(cells[c], f"?{c}") for c in ("indicator_name", "name", "unit_code")]
    order = np.lexsort((*keys, -_ranks(cells["value"], "?value")))  # ORDER BY DESC(?value) ?unit_code … ?i

    members: dict[str, tuple[str, str]] = {}
    for project, name, unit in _tsv(store, _MEMBERS):
        if members.setdefault(project, (name, unit)) != (name, unit):
            raise Unsupported(f"{project} has several labels or budget unit names")
    rows = {p: r for r, p in enumerate(members)}
    pairs = list(dict.fromkeys((p, i) for p, i in _tsv(store, _HAS) if p in rows))
    levels = (v["level1"], v["level2"])
    if any(not level.several.isdisjoint(i for _, i in pairs) for level in levels):
        raise Unsupported("an indicator with several labels of one level")
    labelled = dict.fromkeys((k, text) for k, (_, i) in enumerate(pairs) for level in levels
                             if (term := level.one.get(i)) is not None and (text := _text(term)) is not None)
    names = [n for n, _ in members.values()]
    project_rank = np.empty(len(members), dtype=np.int64)
    project_rank[np.lexsort((_ranks(list(members), "?project"), _ranks(names, "?name")))] = np.arange(len(members))
    try:
        goals: GoalLinks | None = _goals(store, coded)
    except Unsupported:
        goals = None  # that query's texts answer; the others still answer from the table
    if store.generation != generation:
        raise Unsupported("the store was written while the answer table was read")
    return AnswerTable(
        generation, targets, order.astype(np.int64),
        {"project": Column.of(list(members)), "name": Column.of(names),
         "unit_name": Column.of([u for _, u in members.values()])}, project_rank,
        np.array([rows[p] for p, _ in pairs], dtype=np.int32),
        np.array([k for k, _ in labelled], dtype=np.int32), Column.of([text for _, text in labelled]), goals)


# -- answering -------------------------------------------------------------------------------------

def _plain(term: object) -> str | None:
    """The text of a plain string parameter (how the queries bind string and agency values), else ``None``."""
    if isinstance(term, Literal) and not term.language and term.datatype.value == _STRING:
        return term.value
    return None


def _document(variables: Sequence[str], columns: Sequence[Sequence[str]]) -> QuerySolutions:
    """Solutions from columns of cells in TSV spelling."""
    lines = ["\t".join(f"?{v}" for v in variables), *("\t".join(row) for row in zip(*columns, strict=True)), ""]
    result = parse_query_results("\n".join(lines).encode("utf-8"), QueryResultsFormat.TSV)
    assert isinstance(result, QuerySolutions)  # a TSV document with a header is solutions
    return result


def terms(spellings: Sequence[str]) -> list[Term | None]:
    """The RDF term of each TSV spelling (``None`` for :data:`UNBOUND`), read by pyoxigraph's TSV parser: the very
    terms the solutions of :meth:`TableAnswer.solutions` hold.

    >>> terms(["<http://example.org/a>", '"满意"@zh', "97", ""])
    [<NamedNode value=http://example.org/a>, <Literal value=满意 language=zh>, <Literal value=97 datatype=<NamedNode
    value=http://www.w3.org/2001/XMLSchema#integer>>, None]
    """
    bound = [t for t in spellings if t != UNBOUND]
    found = iter([s["t"] for s in _document(["t"], [bound])] if bound else [])
    return [None if t == UNBOUND else next(found) for t in spellings]


@dataclass(frozen=True)
class SpelledRows:
    """An answer's rows as the table keeps them written (:func:`spelled_rows`): ``formats`` holds, by result format,
    one entry per kept row, each the row's cells after its first ``lead`` columns and the row's end, after
    :data:`ROW_MARK`; ``rows`` says which entries the answer's rows are, in its order. A row is sent as its entry
    with the mark replaced by the row's start (:data:`kg.resultformat.ROW_START`) and the answer's first ``lead``
    cells, which are the same on every row (the parameters it repeats). A JSON row kept is right only where the
    row's first cell is bound (a solution's object opens with its first bound cell): the server writes other
    answers from the columns."""

    lead: int
    formats: Mapping[str, Strings]
    rows: NDArray[np.int64]

    def head(self, rows: int) -> SpelledRows:
        return SpelledRows(self.lead, self.formats, self.rows[:rows])


def spelled_rows(answer: TableAnswer, lead: int, fmt: str) -> Strings:
    """Each row of ``answer`` written in ``fmt`` (:mod:`kg.resultformat`) after its first ``lead`` columns, with the
    row's end, after :data:`ROW_MARK` (see :class:`SpelledRows`): each distinct term of a column spelled once.

    >>> a = TableAnswer(("p", "x", "y"), (Column.of(['""', '""']), Column.of(["<http://e/a>", "<http://e/b>"]),
    ...                                   Column.of(['"1,5"', UNBOUND])))
    >>> s = spelled_rows(a, 1, "csv")
    >>> [bytes(s.blob[s.offsets[i]:s.offsets[i + 1]]) for i in range(len(s))]
    [b'\\xff,http://e/a,"1,5"\\r\\n', b'\\xff,http://e/b,\\r\\n']
    """
    names, n = answer.variables, len(answer)
    pieces = np.empty((n, len(names) - lead + 2), dtype=object)
    pieces[:, 0] = ROW_MARK
    for j, k in enumerate(range(lead, len(names)), start=1):
        written = resultformat.cell(fmt, names, k)

        def encoded(t: Term | None, written: Callable[[Term | None], str] = written) -> bytes:
            return written(t).encode("utf-8")

        spelled, at = answer.spell(k, encoded)
        pieces[:, j] = spelled[at]
    pieces[:, -1] = resultformat.ROW_END[fmt].encode("utf-8")
    rows = [b"".join(row) for row in pieces.tolist()]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    return Strings(np.frombuffer(b"".join(rows), dtype=np.uint8), offsets)  # a view of the joined rows: no copy


@dataclass(frozen=True)
class TableAnswer:
    """An answer of the table, column by column: for each variable, a :class:`Column` (each row's code into the
    column's terms, TSV spellings). :meth:`solutions` makes pyoxigraph solutions of it; the server writes the
    result formats from the columns, each distinct term spelled once (:func:`server.results.answer_bytes`)."""

    variables: tuple[str, ...]
    columns: tuple[Column, ...]
    #: The rows as the table keeps them written in some formats, if it does (the server sends those as they are).
    spelled: SpelledRows | None = None

    def __len__(self) -> int:
        return len(self.columns[0].codes) if self.columns else 0

    def head(self, rows: int) -> TableAnswer:
        """The first ``rows`` rows."""
        return TableAnswer(self.variables, tuple(Column(c.codes[:rows], c.terms) for c in self.columns),
                           None if self.spelled is None else self.spelled.head(rows))

    def distinct(self, k: int) -> tuple[list[str], NDArray[np.intp]]:
        """The terms of column ``k`` that its rows use, and each row's index into them."""
        column = self.columns[k]
        used, at = np.unique(column.codes, return_inverse=True)
        return column.spell(used), at.reshape(-1)

    def spell(self, k: int, spell: Callable[[Term | None], _S]) -> tuple[NDArray[np.object_], NDArray[np.intp]]:
        """Column ``k`` as each distinct term its rows use, read and written once by ``spell``, and each row's index
        into those spellings (the server's result formats, and the rows the table keeps written)."""
        used, at = self.distinct(k)
        spelled = np.empty(len(used), dtype=object)
        spelled[:] = [spell(t) for t in terms(used)]
        return spelled, at

    def solutions(self) -> QuerySolutions:
        """The answer as pyoxigraph solutions (what the plain text's query would return)."""
        cells = []
        for k in range(len(self.columns)):
            used, at = self.distinct(k)
            cells.append(_objects(used)[at].tolist())
        return _document(self.variables, cells)


def _echoed(given: Mapping[str, object]) -> dict[str, str]:
    """The TSV spelling of each bound parameter as the query's answer repeats it: Oxigraph holds a value, not its
    spelling (``95.00`` comes back ``95``), so the terms are bound in an empty query of an empty store, as the
    plain text binds them (:func:`kg.store.with_values`), and read back.

    >>> from pyoxigraph import Literal
    >>> _echoed({"min_value": Literal("095.50", datatype=XSD.decimal), "agency": Literal("")})
    {'min_value': '95.5', 'agency': '""'}
    """
    names = list(given)
    sparql = with_values(f"SELECT {' '.join('?' + v for v in names)} WHERE {{}}", given)
    data = solutions(Store().query(sparql), "answers").serialize(format=QueryResultsFormat.TSV)
    assert data is not None  # serialised to bytes, not to a file
    return dict(zip(names, data.decode("utf-8").split("\n")[1].split("\t"), strict=True))


def threshold(table: AnswerTable, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``projects_by_threshold`` for ``bindings`` (the terms bound to its parameters, looked up already), or
    ``None`` for values the table does not compare as Oxigraph does (the plain text answers them)."""
    indicator, agency, category = (_plain(bindings.get(k)) for k in ("indicator", "agency", "category"))
    unit, least = bindings.get("unit"), bindings.get("min_value")
    if indicator is None or agency is None or category is None or not isinstance(unit, NamedNode):
        return None
    if not isinstance(least, Literal) or least.datatype.value not in _NUMERIC or least.language:
        return None
    bound = _exact(least.value)
    if bound is None:
        return None
    t = table.targets
    unit_code = t["unit"].code(str(unit))
    if unit_code is None:
        mask = np.zeros(len(t["unit"].codes), dtype=bool)
    else:
        mask = t["unit"].codes == unit_code
        mask &= t["value"].where([n >= bound for n in table.numbers()])
    if agency:  # STRSTARTS(?unit_code, ?agency)
        mask &= t["unit_code"].where([x.startswith(agency) for x in table.texts("unit_code")])
    if category:  # a label, or the key (the IRI's last segment) of either level
        passing = t["level1"].where([x == category for x in table.texts("level1")])
        passing |= t["level2"].where([x == category for x in table.texts("level2")])
        for k in ("k1", "k2"):
            passing |= t[k].where([x.rpartition("/")[2] == category for x in table.texts(k)])
        mask &= passing
    if indicator:  # the 三级指标 or its concept's label contains the wording
        wording = fold(indicator)
        passing = t["indicator_name"].where([wording in x for x in table.folded("indicator_name")])
        passing |= t["concept"].where([wording in x for x in table.folded("concept")])
        mask &= passing
    rows = table.target_order[mask[table.target_order]]
    given = {"indicator": bindings["indicator"], "unit": unit, "min_value": least, "agency": bindings["agency"],
             "category": bindings["category"]}
    echoed = _echoed(given)
    return TableAnswer(THRESHOLD, tuple(Column.repeated(echoed[v], len(rows)) if v in given else t[v].take(rows)
                                        for v in THRESHOLD))


def category(table: AnswerTable, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``projects_by_category`` for ``bindings``, or ``None`` for a value the table does not compare."""
    wanted = _plain(bindings.get("category"))
    if wanted is None:
        return None
    code = table.labels.code(wanted)
    pairs = np.unique(table.label_pair[table.labels.codes == code]) if code is not None else np.zeros(0, np.int32)
    counts = np.bincount(table.pair_project[pairs], minlength=len(table.project_rank))
    found = np.flatnonzero(counts)
    found = found[np.lexsort((table.project_rank[found], -counts[found]))]  # ORDER BY DESC(?indicators) ?name ?project
    p = table.projects
    numbers, at = np.unique(counts[found], return_inverse=True)
    counted = Column.coded(at.reshape(-1).astype(np.int32), [str(n) for n in numbers.tolist()])
    echoed = _echoed({"category": bindings["category"]})["category"]
    return TableAnswer(CATEGORY, (Column.repeated(echoed, len(found)), p["project"].take(found),
                                  p["name"].take(found), p["unit_name"].take(found), counted))


def goals(table: AnswerTable, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``shared_goals_across_agencies`` for ``bindings``, or ``None`` for values the table does not compare as Oxigraph
    does (or a store whose links it does not hold): the query's texts answer them."""
    g = table.goals
    agency, funding, least = _plain(bindings.get("agency")), _plain(bindings.get("funding")), bindings.get("min_score")
    if g is None or agency is None or funding is None:
        return None
    if not isinstance(least, Literal) or least.datatype.value not in _NUMERIC or least.language:
        return None
    bound = _exact(least.value)
    if bound is None:
        return None
    c = g.columns
    mask = c["score"].where([n >= bound for n in g.scores()])  # FILTER(?score >= ?min_score)
    if agency:  # STRSTARTS(?unit_a, ?agency) || STRSTARTS(?unit_b, ?agency)
        mask &= (c["unit_a"].where([x.startswith(agency) for x in g.codes("unit_a")])
                 | c["unit_b"].where([x.startswith(agency) for x in g.codes("unit_b")]))
    if funding:  # either project has a source whose IRI ends with /<funding> or that has it as a label
        passing = np.array([(x := _text(t)) is not None and x.endswith("/" + funding) for t in g.sources.terms],
                           dtype=bool)
        passing[g.label_source[g.labels.where([_text(t) == funding for t in g.labels.terms])]] = True
        funded = np.zeros(int(g.ends.max(initial=-1)) + 1, dtype=bool)
        funded[g.funded[passing[g.sources.codes]]] = True
        mask &= funded[g.ends[0]] | funded[g.ends[1]]
    at = np.flatnonzero(mask[g.order])  # the rows' places in the ORDER BY
    rows = g.order[at]
    given = {k: bindings[k] for k in GOAL_PARAMETERS}
    echoed = _echoed(given)
    spelled = SpelledRows(len(GOAL_PARAMETERS), g.spelled, at) if g.spelled else None
    return TableAnswer(GOALS, tuple(Column.repeated(echoed[v], len(rows)) if v in given else c[v].take(rows)
                                    for v in GOALS), spelled)


_SOLVERS = {"projects_by_threshold": threshold, "projects_by_category": category,
            "shared_goals_across_agencies": goals}


def answer(table: AnswerTable, name: str, bindings: Mapping[str, object]) -> TableAnswer | None:
    """The answer of the named query ``name`` (one of :data:`FORMS`) for ``bindings``, from ``table``, column by
    column; ``None`` when the table does not answer these values (the plain text then runs)."""
    solver = _SOLVERS.get(name)
    return solver(table, bindings) if solver is not None else None


def solve(table: AnswerTable, name: str, bindings: Mapping[str, object]) -> QuerySolutions | None:
    """:func:`answer` as pyoxigraph solutions, or ``None``."""
    found = answer(table, name, bindings)
    return found.solutions() if found is not None else None


# -- the file beside an on-disk store ----------------------------------------------------------------

def file_for(store: GraphStore, generation: int) -> Path | None:
    """Where the table of ``generation`` is kept beside an on-disk store (``None``: in memory or remote)."""
    return None if store.path is None else store.path / f"{FILE_PREFIX}{generation}.npz"


def kept(store: GraphStore) -> bool:
    """Whether the build kept a table for the store's generation (a check of the file's name, no reading)."""
    path = file_for(store, store.generation)
    return path is not None and path.is_file()


def _put(out: dict[str, NDArray[np.generic]], key: str, column: Column) -> None:
    terms = column.terms if isinstance(column.terms, Strings) else Strings.of(column.terms)
    out[f"{key}.codes"], out[f"{key}.blob"], out[f"{key}.offsets"] = column.codes, terms.blob, terms.offsets


def _take(a: Mapping[str, Any], key: str) -> Column:
    return Column(a[f"{key}.codes"], Strings(a[f"{key}.blob"], a[f"{key}.offsets"]))


def _goal_rows(g: GoalLinks) -> dict[str, Strings]:
    """Every shared-goal row in the query's order, written in each of :data:`SPELLED_FORMATS` (the parameters'
    cells left to the answer: :class:`SpelledRows`)."""
    n = len(g.order)
    whole = TableAnswer(GOALS, tuple(Column.repeated(UNBOUND, n) if v in GOAL_PARAMETERS else g.columns[v].take(g.order)
                                     for v in GOALS))
    return {fmt: spelled_rows(whole, len(GOAL_PARAMETERS), fmt) for fmt in SPELLED_FORMATS}


def save(table: AnswerTable, path: Path) -> None:
    """Write ``table`` to ``path`` atomically, and remove the tables of other generations beside it."""
    out: dict[str, NDArray[np.generic]] = {
        "target_order": table.target_order,
        "project_rank": table.project_rank, "pair_project": table.pair_project, "label_pair": table.label_pair}
    for c, column in table.targets.items():
        _put(out, f"targets.{c}", column)
    for c, column in table.projects.items():
        _put(out, f"projects.{c}", column)
    _put(out, "labels", table.labels)
    if table.goals is not None:
        g = table.goals
        out |= {"goals.order": g.order, "goals.ends": g.ends, "goals.funded": g.funded,
                "goals.label_source": g.label_source}
        for c, column in g.columns.items():
            _put(out, f"goals.{c}", column)
        _put(out, "goals.sources", g.sources)
        _put(out, "goals.labels", g.labels)
        for fmt, strings in (g.spelled or _goal_rows(g)).items():
            out[f"goals.rows.{fmt}.blob"], out[f"goals.rows.{fmt}.offsets"] = strings.blob, strings.offsets
    tablefile.save(path, FILE_PREFIX, VERSION, table.generation, out)


def load(path: Path) -> AnswerTable:
    """The table written to ``path`` by :func:`save` (:class:`Unsupported` for another layout): its arrays are views
    of the file mapped into memory, its terms :class:`~kg.facets.Strings` of it, decoded when an answer reads them."""
    version, generation, a = tablefile.load(path)
    if version != VERSION:
        raise Unsupported(f"an answer table file of layout {version}, not {VERSION}")
    goals = None
    if "goals.order" in a:
        goals = GoalLinks({c: _take(a, f"goals.{c}") for c in LINK_COLUMNS}, a["goals.order"], a["goals.ends"],
                          a["goals.funded"], _take(a, "goals.sources"), a["goals.label_source"],
                          _take(a, "goals.labels"),
                          {fmt: Strings(a[f"goals.rows.{fmt}.blob"], a[f"goals.rows.{fmt}.offsets"])
                           for fmt in SPELLED_FORMATS})
    return AnswerTable(generation, {c: _take(a, f"targets.{c}") for c in TARGET_COLUMNS}, a["target_order"],
                       {c: _take(a, f"projects.{c}") for c in ("project", "name", "unit_name")}, a["project_rank"],
                       a["pair_project"], a["label_pair"], _take(a, "labels"), goals)


def stored(store: GraphStore) -> AnswerTable | None:
    """The table the build kept for the store's generation, or ``None`` (none kept, or for another generation)."""
    return tablefile.stored(file_for(store, store.generation), store.generation, load)
