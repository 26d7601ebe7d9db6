"""The kept answers: named queries whose whole answer the build computes anyway, answered from columns.

The analytics step (:mod:`kg.analytics`) runs some named queries over the whole store, every parameter at its
"all" value, and writes their rows into the analytics graph (the budget cube, ``bk:AnswerRow`` nodes) for their
SPARQL fast forms to read. Reading 35,000 rows back by SPARQL costs an index lookup per solution and column:
seconds. The same solutions, as the engine spelled them (TSV: :func:`whole`), are kept beside an on-disk store as
columns (:class:`KeptTable`, ``budgetkg-kept-<generation>.npz``), and a request is a mask over them (:func:`answer`),
written as the answer tables' answers are (a :class:`kg.answers.TableAnswer`):

* ``budget_by_agency``: the cube's rows; a department keeps its rows and, as the total, its department row
  relabelled (as the fast form does);
* ``agencies_by_shared_goals``: the answer over every link; an agency prefix keeps rows; a least score answers
  only up to the smallest score of any cross-agency link (:attr:`KeptTable.smallest`, the fast form's ``when``),
  where the answer over every link is the answer;
* ``findings_by_agency`` with its defaults (a rule or a severity changes the counts: declined);
* ``funding_mix_by_department`` and ``funding_sources``: their kept answers, the rows the parameters choose;
* ``projects_of_agency``: every project (code ``""``); a code prefix keeps the rows whose code starts with it.

**Order.** Each answer keeps the rows in its query's order. A parameter only chooses rows, so the chosen rows are
in the order the query gives them when no two rows tie in its ORDER BY (within a tie the order is the engine's
to choose): :func:`of` keeps no answer of a query whose rows tie (:data:`ORDERS`), nor one whose sorted columns
hold terms the check does not compare (blank nodes, booleans, other datatypes). The fast forms that number their
kept rows (funding_mix_by_department, findings_by_agency, funding_sources) answer in the kept order, as this does.

**When.** Only where the query's fast form would run (:func:`kg.queries.kept_answer`: the analytics describe the
store) and only while the file is of the store's generation (:func:`stored`): after any write the texts answer.
Values the columns do not compare as SPARQL does (a parameter that is no plain string, a least score beyond the
smallest) answer ``None``: the texts run, never a different answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyoxigraph import Literal, QueryResultsFormat, Store

from . import tablefile
from .answers import UNBOUND, Column, TableAnswer, Unsupported, number
from .facets import Strings, lexical
from .namespaces import XSD
from .store import GraphStore, solutions, with_values

#: The named queries answered from kept columns, with their parameters (columns the answer repeats).
FORMS: dict[str, tuple[str, ...]] = {
    "budget_by_agency": ("department",),
    "agencies_by_shared_goals": ("agency", "min_score"),
    "findings_by_agency": ("rule", "severity"),
    "funding_mix_by_department": ("funding", "department"),
    "funding_sources": (),
    "projects_of_agency": ("code",),
}
#: The ORDER BY of the queries whose chosen rows must come in it (their plain texts and fast forms sort): each key a
#: column, or ``(column, term)`` for ``(?column = term)``. Descending or not, equal keys are what matters.
ORDERS: dict[str, tuple[str | tuple[str, str], ...]] = {
    "budget_by_agency": (("level", '"total"'), "dept", ("level", '"department"'), "unit_code", ("level", '"unit"'),
                         "funding"),
    "agencies_by_shared_goals": ("links", "total_score", "unit_code"),
    "projects_of_agency": ("unit_code", "budget", "name", "project"),
}
VERSION = 1
FILE_PREFIX = "budgetkg-kept-"

_STRING = XSD.string.value
_NUMERIC = {XSD.decimal.value, XSD.integer.value}
#: budget_by_agency's department row, relabelled as a department's total (the terms the fast form binds).
_TOTAL = {"level": '"total"', "dept": '"合计"', "unit_code": '""', "unit_name": '""', "funding": '"小计"'}


def _kind(term: str) -> str:
    """How a term (TSV spelling) sorts: ``unbound``, ``iri``, ``number``, ``string``, ``lang`` or ``other``.

    >>> [_kind(t) for t in ("", "<http://e/a>", "97.5", '"a"', '"a"@zh', '"1"^^<http://e/t>', "true", "1E3")]
    ['unbound', 'iri', 'number', 'string', 'lang', 'other', 'other', 'other']
    """
    if term == UNBOUND:
        return "unbound"
    if term.startswith("<"):
        return "iri"
    if term.startswith('"'):
        suffix = term[term.rindex('"') + 1:]
        if not suffix or suffix == f"^^<{_STRING}>":
            return "string"
        if suffix.startswith("@"):
            return "lang"
        return "number" if suffix[3:-1] in _NUMERIC else "other"
    if term in ("true", "false") or "e" in term.lower() or term.startswith("_:"):
        return "other"
    return "number"


def _sorts_as(term: str) -> object:
    """What ``term`` is equal to in an ORDER BY (a number by its value, a text by its characters), ``None`` for a
    term whose comparison the tie check does not know."""
    kind = _kind(term)
    if kind == "number":
        try:
            return Decimal(lexical(term))
        except InvalidOperation:
            return None
    if kind == "lang":
        return ("text", lexical(term))  # two languages of one text: counted as a tie
    return None if kind == "other" else (kind, term)


def _plain(term: object) -> str | None:
    """The text of a plain string parameter (how the named queries bind agency and string values), else ``None``."""
    if isinstance(term, Literal) and not term.language and term.datatype.value == _STRING:
        return term.value
    return None


def spelled(given: Mapping[str, object]) -> dict[str, str]:
    """The TSV spelling of each bound parameter as an answer repeats it: bound, as the texts bind it
    (:func:`kg.store.with_values`), in an empty query of an empty store, and read back (Oxigraph holds a value,
    not its spelling: ``0.350`` comes back ``0.35``).

    >>> spelled({"min_score": Literal("0.350", datatype=XSD.decimal), "agency": Literal("")})
    {'min_score': '0.35', 'agency': '""'}
    """
    names = list(given)
    if not names:
        return {}
    sparql = with_values(f"SELECT {' '.join('?' + v for v in names)} WHERE {{}}", given)
    data = solutions(Store().query(sparql), "kept").serialize(format=QueryResultsFormat.TSV)
    assert data is not None  # serialised to bytes, not to a file
    return dict(zip(names, data.decode("utf-8").split("\n")[1].split("\t"), strict=True))


def whole(store: GraphStore, sparql: str, substitutions: Mapping[str, object] | None = None,
          name: str = "analytics") -> TableAnswer:
    """The answer of a SELECT column by column, each term as the engine spells it in TSV (serialised in Rust; a
    cell holds no tab or line end, which TSV escapes), in the order the engine answered."""
    result = solutions(store.query(sparql, name=name, substitutions=substitutions), name)
    variables = tuple(v.value for v in result.variables)
    data = result.serialize(format=QueryResultsFormat.TSV)
    assert data is not None  # serialised to bytes, not to a file
    width = len(variables)
    cells = data.decode("utf-8").replace("\n", "\t").split("\t")[width:-1]  # no header, nor the cell after the end
    return TableAnswer(variables, tuple(Column.of(cells[k::width]) for k in range(width)))


# -- the table ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Kept:
    """One query's whole answer: its SELECT, and a :class:`Column` per variable that is no parameter."""

    variables: tuple[str, ...]
    columns: dict[str, Column]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())).codes) if self.columns else 0


@dataclass
class KeptTable:
    """The kept answers of one store generation (see the module docstring)."""

    generation: int
    answers: dict[str, Kept]
    #: The smallest ``bk:score`` of a cross-agency shared-goal link (TSV spelling), ``None``: no link.
    smallest: str | None = None


def _ties(kept: Kept, keys: Sequence[str | tuple[str, str]]) -> bool:
    """Whether two rows (next to each other, in the kept order) are equal in every key, or a key column holds a
    term the check does not compare: then the order of rows a parameter chooses is not the kept order's."""
    same = np.ones(max(len(kept) - 1, 0), dtype=bool)
    for key in keys:
        column = kept.columns[key if isinstance(key, str) else key[0]]
        if isinstance(key, str):
            classes = [_sorts_as(t) for t in column.terms]
            if any(c is None for c in classes):
                return True
            index: dict[object, int] = {}
            ids = np.array([index.setdefault(c, len(index)) for c in classes], dtype=np.int64)
        else:
            ids = np.array([t == key[1] for t in column.terms], dtype=np.int64)
        at = ids[column.codes] if len(column.terms) else np.zeros(len(kept), dtype=np.int64)
        same &= at[1:] == at[:-1]
    return bool(same.any())


def of(wholes: Mapping[str, TableAnswer], smallest: str | None, generation: int = 0) -> KeptTable:
    """The kept answers of the :data:`FORMS` queries among ``wholes`` (each query's answer over the whole store,
    every parameter at its "all" value, in its order); a query whose rows tie in its ORDER BY is left out (its
    texts answer)."""
    kept: dict[str, Kept] = {}
    for name, params in FORMS.items():
        found = wholes.get(name)
        if found is None:
            continue
        columns = {v: c for v, c in zip(found.variables, found.columns, strict=True) if v not in params}
        answer = Kept(found.variables, columns)
        if name in ORDERS and _ties(answer, ORDERS[name]):
            continue
        kept[name] = answer
    return KeptTable(generation, kept, smallest)


# -- answering ---------------------------------------------------------------------------------------

def _prefixed(column: Column, prefix: str) -> NDArray[np.bool_]:
    """The rows whose term ``STRSTARTS`` with ``prefix`` (a text or a tagged text; any other term is an error
    in SPARQL, so no row)."""
    return column.where([_kind(t) in ("string", "lang") and lexical(t).startswith(prefix) for t in column.terms])


def _equal(column: Column, term: str) -> NDArray[np.bool_]:
    """The rows whose term ``=`` ``term`` (a plain string's spelling): the same spelling (a text of another kind
    is not equal, or an error, in SPARQL: no row). Each term is once in a column: none is decoded to find it."""
    code = column.code(term)
    return column.codes == code if code is not None else np.zeros(len(column.codes), dtype=bool)


def _answer(kept: Kept, rows: NDArray[np.int64] | None, echoed: Mapping[str, str]) -> TableAnswer:
    """The kept rows ``rows`` (``None``: all), the parameters repeated on each."""
    n = len(kept) if rows is None else len(rows)
    c = kept.columns
    return TableAnswer(kept.variables, tuple(Column.repeated(echoed[v], n) if v in echoed
                                             else c[v] if rows is None else c[v].take(rows) for v in kept.variables))


def _with_total(column: Column, rows: NDArray[np.int64], totals: NDArray[np.int64], term: str | None) -> Column:
    """``column`` at ``rows``, then at ``totals`` (the department rows), each relabelled ``term`` unless ``None``."""
    if term is None:
        return column.take(np.concatenate([rows, totals]))
    used, at = np.unique(column.codes[rows], return_inverse=True)  # only the terms of these rows are decoded
    codes = np.concatenate([at.reshape(-1), np.full(len(totals), len(used))]).astype(np.int32)
    return Column.coded(codes, [*column.spell(used), term])


def budget(table: KeptTable, kept: Kept, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``budget_by_agency``: every row, or a department's rows and its department row as its total."""
    department = _plain(bindings.get("department"))
    if department is None:
        return None
    echoed = spelled({"department": bindings["department"]})
    if not department:
        return _answer(kept, None, echoed)
    c = kept.columns
    chosen = _equal(c["dept"], echoed["department"])
    level = c["level"]
    rows = np.flatnonzero(chosen & ~_equal(level, _TOTAL["level"]))
    totals = np.flatnonzero(chosen & _equal(level, '"department"'))
    columns = tuple(Column.repeated(echoed[v], len(rows) + len(totals)) if v in echoed
                    else _with_total(c[v], rows, totals, _TOTAL.get(v)) for v in kept.variables)
    return TableAnswer(kept.variables, columns)


def agencies(table: KeptTable, kept: Kept, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``agencies_by_shared_goals``: the rows of an agency prefix, for a least score up to the smallest link score
    (where the answer over every link is the answer)."""
    agency, least = _plain(bindings.get("agency")), bindings.get("min_score")
    if agency is None or not isinstance(least, Literal) or least.language or least.datatype.value not in _NUMERIC:
        return None
    smallest = number(table.smallest) if table.smallest is not None else None
    echoed = spelled({"agency": bindings["agency"], "min_score": least})
    bound = number(echoed["min_score"])
    # the kept answer counts every link with a score of at least 0: it is the answer when that is every link
    if smallest is None or bound is None or smallest < 0 or bound > smallest:
        return None
    rows = np.flatnonzero(_prefixed(kept.columns["unit_code"], agency)) if agency else None
    return _answer(kept, rows, echoed)


def findings(table: KeptTable, kept: Kept, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``findings_by_agency`` with every rule and every severity (its kept answer); other values: ``None``."""
    if _plain(bindings.get("rule")) != "" or _plain(bindings.get("severity")) != "":
        return None
    return _answer(kept, None, spelled({k: bindings[k] for k in ("rule", "severity")}))


def funding_mix(table: KeptTable, kept: Kept, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``funding_mix_by_department``: the kept rows of a department and a funding source (by key or label)."""
    department, funding = _plain(bindings.get("department")), _plain(bindings.get("funding"))
    if department is None or funding is None:
        return None
    echoed = spelled({k: bindings[k] for k in ("funding", "department")})
    c = kept.columns
    mask = np.ones(len(kept), dtype=bool)
    if department:
        mask &= _equal(c["dept"], echoed["department"])
    if funding:
        mask &= _equal(c["funding_key"], echoed["funding"]) | _equal(c["funding_label"], echoed["funding"])
    return _answer(kept, None if mask.all() else np.flatnonzero(mask), echoed)


def funding_sources(table: KeptTable, kept: Kept, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``funding_sources``: its kept answer (it has no parameters)."""
    return _answer(kept, None, {})


def projects(table: KeptTable, kept: Kept, bindings: Mapping[str, object]) -> TableAnswer | None:
    """``projects_of_agency``: the projects whose budget unit code starts with ``code``."""
    code = _plain(bindings.get("code"))
    if code is None:
        return None
    rows = np.flatnonzero(_prefixed(kept.columns["unit_code"], code)) if code else None
    return _answer(kept, rows, spelled({"code": bindings["code"]}))


_SOLVERS = {"budget_by_agency": budget, "agencies_by_shared_goals": agencies, "findings_by_agency": findings,
            "funding_mix_by_department": funding_mix, "funding_sources": funding_sources,
            "projects_of_agency": projects}


def answer(table: KeptTable, name: str, bindings: Mapping[str, object]) -> TableAnswer | None:
    """The answer of the named query ``name`` for ``bindings`` from its kept columns, or ``None`` when the table
    keeps no answer of it or does not answer these values (the texts then run)."""
    kept = table.answers.get(name)
    if kept is None or set(bindings) - set(FORMS[name]):
        return None
    return _SOLVERS[name](table, kept, bindings)


# -- the file beside an on-disk store ------------------------------------------------------------------

def file_for(store: GraphStore, generation: int) -> Path | None:
    """Where the kept answers of ``generation`` are beside an on-disk store (``None``: in memory or remote)."""
    return None if store.path is None else store.path / f"{FILE_PREFIX}{generation}.npz"


def _put(out: dict[str, NDArray[np.generic]], key: str, terms: Sequence[str]) -> None:
    strings = terms if isinstance(terms, Strings) else Strings.of(terms)
    out[f"{key}.blob"], out[f"{key}.offsets"] = strings.blob, strings.offsets


def _take(a: Mapping[str, Any], key: str) -> Strings:
    """The strings at ``key``: a view of the file, each decoded when read."""
    return Strings(a[f"{key}.blob"], a[f"{key}.offsets"])


def save(table: KeptTable, path: Path) -> None:
    """Write ``table`` to ``path`` atomically, and remove the kept answers of other generations beside it."""
    out: dict[str, NDArray[np.generic]] = {}
    for name, kept in table.answers.items():
        _put(out, f"{name}.variables", kept.variables)
        for v, column in kept.columns.items():
            out[f"{name}.{v}.codes"] = column.codes
            _put(out, f"{name}.{v}", column.terms)
    _put(out, "smallest", [] if table.smallest is None else [table.smallest])
    tablefile.save(path, FILE_PREFIX, VERSION, table.generation, out)


def load(path: Path) -> KeptTable:
    """The kept answers written to ``path`` by :func:`save` (:class:`~kg.answers.Unsupported`: another layout): the
    columns are views of the file mapped into memory, their terms decoded when an answer reads them."""
    version, generation, a = tablefile.load(path)
    if version != VERSION:
        raise Unsupported(f"a kept answers file of layout {version}, not {VERSION}")
    kept = {}
    for name, params in FORMS.items():
        if f"{name}.variables.blob" not in a:
            continue
        variables = tuple(_take(a, f"{name}.variables"))
        kept[name] = Kept(variables, {v: Column(a[f"{name}.{v}.codes"], _take(a, f"{name}.{v}"))
                                      for v in variables if v not in params})
    smallest = list(_take(a, "smallest"))
    return KeptTable(generation, kept, smallest[0] if smallest else None)


def kept(store: GraphStore) -> bool:
    """Whether the build kept answers for the store's generation (a check of the file's name, no reading)."""
    path = file_for(store, store.generation)
    return path is not None and path.is_file()


def stored(store: GraphStore) -> KeptTable | None:
    """The kept answers of the store's generation, or ``None`` (none kept, or of another generation)."""
    return tablefile.stored(file_for(store, store.generation), store.generation, load)
