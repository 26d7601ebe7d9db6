"""Named queries: ``queries/<name>.rq`` files with a ``#+`` header, run with safe parameter binding.

Header lines (grlc/datasette style)::

    #+ title.zh: 某预算单位的项目
    #+ title.en: Projects of a budget unit
    #+ description: Every project of the budget unit, with its budget in 万元.
    #+ param: unit iri https://budgetkg.example.org/id/agency/341101 | the budget unit (its IRI)
    #+ tags: agency, projects

A parameter is ``#+ param: <name> <type> [<default>] | <description>`` with type one of
``iri string zh agency integer decimal boolean date``; ``agency`` is a budget unit or department
code (prefix) bound as a plain literal; ``zh`` is text bound as a literal tagged ``@zh``,
which matches a published label through the store's index (``FILTER(STR(?label) = ?name)`` has
to read every label). The value binds the variable ``?<name>`` by a ``VALUES`` block that opens
the WHERE clause (:func:`kg.store.with_values`: written as an RDF term, never by string
formatting), the same way on every store; keep the variable in the SELECT projection so that
results show what they were asked for, and out of sub-SELECTs, which the block does not reach.
A default of ``-`` means "no default": the parameter is required; ``""`` is the empty string, the
way to make a filter optional (``FILTER(?dept = "" || …)``).

Values are checked before anything runs: a decimal is written as ``xsd:decimal`` writes it
(``NaN``, ``INF``, ``1e999999`` are refused), an integer has at most 18 ASCII digits. An ``agency``
or ``iri`` value is looked up first with a cheap ASK (:meth:`NamedQuery.lookups`): one that matches
nothing answers "no such agency" (:class:`~kg.errors.NoSuchValue`, HTTP 404) at once instead of
running the whole query to find nothing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pyoxigraph import Literal, NamedNode

from .errors import NoSuchValue, QueryError, UnknownQuery
from .namespaces import XSD
from .store import KGStore, QueryResult, with_values

PARAM_TYPES = ("iri", "string", "zh", "agency", "integer", "decimal", "boolean", "date")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: xsd:decimal's lexical space (no exponent, no NaN or INF), at most 40 digits.
_DECIMAL = re.compile(r"^[+-]?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})$")
#: Integers within 64 bits' worth of digits, ASCII only (``int()`` would take ``١٢`` and ``1_0``).
_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")
#: What an ``agency`` or ``iri`` value is looked up with; ``?value`` is bound as an RDF term.
LOOKUPS = {
    "agency": ("agency", "PREFIX bk: <https://budgetkg.example.org/def/>\n"
                         "ASK WHERE { ?unit bk:agencyCode ?code FILTER(STRSTARTS(STR(?code), ?value)) }"),
    "iri": ("IRI in the store", "ASK WHERE { { ?value ?p ?o } UNION { ?s ?p ?value } }"),
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    description: str

    def bind(self, raw: str | None, query: str) -> NamedNode | Literal | None:
        """The RDF term for a raw parameter value (``None``: use the default)."""
        value = self.default if raw is None else raw
        if value is None:
            raise QueryError(query, f"parameter {self.name!r} ({self.type}) is required")
        try:
            if self.type == "iri":
                if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>\"{}|\\^`]*$", value):
                    raise ValueError("not an absolute IRI")
                return NamedNode(value)
            if self.type == "integer":
                if not _INTEGER.fullmatch(value):
                    raise ValueError("not an integer of at most 18 digits")
                return Literal(str(int(value)), datatype=XSD.integer)
            if self.type == "decimal":
                if not _DECIMAL.fullmatch(value):
                    raise ValueError("not a finite decimal such as 0.35 (no exponent, NaN or Infinity)")
                return Literal(str(Decimal(value)), datatype=XSD.decimal)
            if self.type == "boolean":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError("not a boolean")
                return Literal("true" if value.lower() in ("true", "1") else "false", datatype=XSD.boolean)
            if self.type == "date":
                if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
                    raise ValueError("not a date (YYYY-MM-DD)")
                return Literal(value, datatype=XSD.date)
            if self.type == "zh":
                return Literal(value, language="zh")
            return Literal(value)
        except (ValueError, InvalidOperation) as exc:
            raise QueryError(query, f"parameter {self.name!r} expects {self.type}: {value!r} ({exc})") from None


@dataclass(frozen=True)
class NamedQuery:
    name: str
    path: Path
    sparql: str
    title_zh: str
    title_en: str
    description: str
    params: tuple[Param, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> str:
        """SELECT, ASK, CONSTRUCT or DESCRIBE (the first query keyword after the prologue)."""
        body = re.sub(r"#[^\n]*", "", self.sparql)
        m = re.search(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", body, re.IGNORECASE)
        return m.group(1).upper() if m else "SELECT"

    def bindings(self, values: dict[str, str | None]) -> dict[str, NamedNode | Literal]:
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise QueryError(self.name, f"unknown parameter(s): {', '.join(sorted(unknown))}")
        out = {}
        for p in self.params:
            term = p.bind(values.get(p.name), self.name)
            if term is not None:
                out[p.name] = term
        return out

    def lookups(self, bindings: dict[str, NamedNode | Literal]) -> list[tuple[str, str, str, str]]:
        """``(parameter, kind, value, ASK query)`` for each bound ``agency`` or ``iri`` value to look up first.

        The empty ``agency`` (its "all" default) needs no lookup.
        """
        out = []
        for p in self.params:
            term = bindings.get(p.name)
            if p.type in LOOKUPS and term is not None and term.value:
                kind, ask = LOOKUPS[p.type]
                out.append((p.name, kind, term.value, with_values(ask, {"value": term})))
        return out

    def run(self, store: KGStore, values: dict[str, str | None] | None = None) -> QueryResult:
        bindings = self.bindings(values or {})
        for param, kind, value, ask in self.lookups(bindings):
            if not bool(store.query(ask, name=self.name)):
                raise NoSuchValue(param, kind, value)
        return store.query(self.sparql, name=self.name, substitutions=bindings)


def parse_header(name: str, path: Path, text: str) -> NamedQuery:
    meta: dict[str, str] = {}
    params: list[Param] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("#+"):
            continue
        key, _, value = line[2:].strip().partition(":")
        key, value = key.strip(), value.strip()
        if key == "param":
            spec, _, desc = value.partition("|")
            parts = spec.split()
            if len(parts) not in (2, 3) or not _NAME.match(parts[0]) or parts[1] not in PARAM_TYPES:
                raise QueryError(name, f"{path.name}:{n}: param must be '<name> <type> [default] | description'"
                                 f" with type in {', '.join(PARAM_TYPES)}")
            default = parts[2] if len(parts) == 3 and parts[2] != "-" else None
            if default == '""':
                default = ""
            if parts[0] not in re.findall(r"[?$]([A-Za-z_][A-Za-z0-9_]*)", text):
                raise QueryError(name, f"{path.name}:{n}: parameter {parts[0]!r} is not a variable of the query")
            params.append(Param(parts[0], parts[1], default, desc.strip()))
        else:
            meta[key] = value
    missing = [k for k in ("title.zh", "title.en", "description") if not meta.get(k)]
    if missing:
        raise QueryError(name, f"{path.name}: header lacks {', '.join(missing)}")
    tags = tuple(t.strip() for t in meta.get("tags", "").split(",") if t.strip())
    return NamedQuery(name, path, text, meta["title.zh"], meta["title.en"], meta["description"], tuple(params), tags)


def load_all(directory: Path) -> dict[str, NamedQuery]:
    """Every ``*.rq`` of ``directory`` by name (the file stem)."""
    out = {}
    for path in sorted(directory.glob("*.rq")):
        name = path.stem
        if not _NAME.match(name):
            raise QueryError(name, f"{path.name}: query names are snake_case")
        out[name] = parse_header(name, path, path.read_text(encoding="utf-8"))
    return out


def get(directory: Path, name: str) -> NamedQuery:
    """The named query ``name``; :class:`UnknownQuery` (with the closest names) if there is none."""
    path = directory / f"{name}.rq"
    if not _NAME.match(name) or not path.is_file():
        raise UnknownQuery(name, closest(directory, name))
    return parse_header(name, path, path.read_text(encoding="utf-8"))


def closest(directory: Path, name: str) -> tuple[str, ...]:
    """Names of queries in ``directory`` close to ``name`` (a typo, a missing ``_``, a word of the name).

    >>> from kg.settings import QUERIES_DIR
    >>> closest(QUERIES_DIR, "budget_by_agenc"), closest(QUERIES_DIR, "lineage")
    (('budget_by_agency', 'findings_by_agency'), ('project_lineage',))
    """
    names = sorted(p.stem for p in directory.glob("*.rq"))
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    if not close:
        close = [n for n in names if key and key in n][:3]
    return tuple(close)
