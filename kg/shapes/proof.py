"""A quick proof that a document conforms to the shapes: the structural check's fast path.

The SPARQL engine (:mod:`kg.shapes.sparql_engine`) finds and explains every violation, at about 0.15 s of CPU for a
document of 100 tables in its scratch store: half of what a build's worker processes spend. Nearly every document
the converter writes conforms, and saying so needs no explanation. :class:`Proof` indexes the data by subject once
(each term as its N-Triples spelling, one Python string) and evaluates the constraints of the SHACL Core subset the
structural shapes use, each with three answers: it holds, it fails, or it cannot tell (a literal with an escape in
it, a datatype or a pattern it does not know, a component it does not implement, a blank node of the document). Only
"holds", for every constraint of every focus node, is a proof; anything else sends the document to the SPARQL engine,
which reports exactly what is wrong. So the proof has to be right only when it says the data conforms, and it is
strict where it would otherwise have to know more: a decimal is judged only when it is plainly one, a date only when
it is a real day, a pattern only when it is one Python reads alike.

``tests/test_structural_check.py`` checks that it never proves a document the SPARQL engine finds a violation in
(the seeds, the fixtures, and documents broken at random), and that it proves the converter's documents.

Written by hand because no library does this: pySHACL evaluates over rdflib (seconds a document), and the SPARQL
engine is the cost being spared.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import rdflib
from pyoxigraph import Quad, RdfFormat, serialize
from rdflib import RDF as RDFLIB_RDF
from rdflib import URIRef
from rdflib.collection import Collection as RdfList

from ..namespaces import RDF, RDFS
from .shapes_graph import sh

#: An answer: the constraint holds (True), fails (False), or the proof cannot tell (None).
Answer = bool | None

_TYPE = f"<{RDF.type.value}>"
_SUBCLASS = f"<{RDFS.subClassOf.value}>"
_XSD = "http://www.w3.org/2001/XMLSchema#"
_STRING, _LANG_STRING = f"{_XSD}string", "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
#: How Oxigraph stores a literal decides what the engine sees: it keeps a valid integer of any of XSD's integer types
#: as an ``xsd:integer`` (``"07"^^xsd:positiveInteger`` is held as ``"7"^^xsd:integer``), a decimal in its canonical
#: form. The proof reads the numbers it judges plain (an integer in 64 bits, a decimal of at most 18 digits each side
#: of the point, as Oxigraph holds them) and takes any other spelling of those datatypes for one it cannot judge.
_INTEGER = f"{_XSD}integer"
_DECIMAL = f"{_XSD}decimal"
_INTEGER_TYPES = {_INTEGER} | {f"{_XSD}{t}" for t in (
    "positiveInteger", "nonNegativeInteger", "negativeInteger", "nonPositiveInteger", "long", "int", "short", "byte",
    "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte")}
_PLAIN = {_INTEGER: re.compile(r"-?[0-9]{1,18}"), _DECIMAL: re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?")}
#: Datatypes Oxigraph stores as written (it may change the text of a boolean, never the datatype): sh:datatype
#: only compares the datatype for them (the engine's test).
_OTHER = {_STRING, _LANG_STRING, f"{_XSD}gYear", f"{_XSD}date", f"{_XSD}boolean", f"{_XSD}duration"}
#: Datatypes whose text Oxigraph keeps as written (a pattern or a length reads it).
_TEXTS = {_STRING, _LANG_STRING}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Patterns read alike by Python and by the engine's XPath regular expressions (no escapes, flags or classes
#: shorthand, no ``.``); a text with a line end is left to the engine (``$`` differs at a final line end).
_SIMPLE_PATTERN = re.compile(r"[\^$0-9A-Za-z/\[\]{},\-]*")
#: The SHACL parameters the proof reads; a shape with any other is one it cannot judge.
_KNOWN = {sh(k) for k in (
    "targetClass", "property", "path", "minCount", "maxCount", "datatype", "class", "uniqueLang", "minInclusive",
    "maxInclusive", "minExclusive", "maxExclusive", "pattern", "lessThanOrEquals", "hasValue", "or", "not",
    "nodeKind", "in", "equals", "minLength", "message", "name", "description", "order", "group")}
_IGNORED = {RDFLIB_RDF.type, rdflib.RDFS.label, rdflib.RDFS.comment}
_COMPARE: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "minInclusive": Decimal.__ge__, "maxInclusive": Decimal.__le__, "minExclusive": Decimal.__gt__,
    "maxExclusive": Decimal.__lt__}


# -- terms, as N-Triples spell them --------------------------------------------------------------------------------

def spelling(term: rdflib.term.Node) -> str | None:
    """An rdflib term of the shapes graph as Oxigraph's N-Triples spells it (``None``: a blank node, or text that
    would need an escape)."""
    if isinstance(term, URIRef):
        return f"<{term}>"
    if isinstance(term, rdflib.Literal):
        text = str(term)
        if any(c in text for c in '"\\\n\r'):
            return None
        if term.language:
            return f'"{text}"@{term.language.lower()}'
        if term.datatype is None or str(term.datatype) == _STRING:
            return f'"{text}"'
        return f'"{text}"^^<{term.datatype}>'
    return None


@dataclass(frozen=True)
class _Literal:
    """A literal's parts: its text (``None`` when the spelling has an escape), its datatype and language."""

    text: str | None
    datatype: str
    language: str


def _literal(term: str) -> _Literal | None:
    """The parts of a literal's spelling, or ``None`` for an IRI or a blank node."""
    if not term.startswith('"'):
        return None
    end = term.rindex('"')
    text = term[1:end]
    rest = term[end + 1:]
    if rest.startswith("@"):
        return _Literal(None if "\\" in text else text, _LANG_STRING, rest[1:].lower())
    datatype = rest[3:-1] if rest.startswith("^^<") else _STRING
    return _Literal(None if "\\" in text else text, datatype, "")


def _number(term: str) -> Decimal | None:
    """The value of a plain numeric literal, else ``None``."""
    lit = _literal(term)
    if lit is None or lit.text is None:
        return None
    form = _PLAIN.get(_INTEGER if lit.datatype in _INTEGER_TYPES else lit.datatype)
    return Decimal(lit.text) if form is not None and form.fullmatch(lit.text) else None


def _stored_datatype(term: str) -> str | None:
    """The datatype of a literal as Oxigraph stores it (``None``: a datatype or a spelling the proof cannot judge)."""
    lit = _literal(term)
    if lit is None:
        return None
    if lit.datatype in _INTEGER_TYPES or lit.datatype == _DECIMAL:
        return (_INTEGER if lit.datatype in _INTEGER_TYPES else _DECIMAL) if _number(term) is not None else None
    return lit.datatype if lit.datatype in _OTHER else None


def _date(term: str) -> str | None:
    """The text of an ``xsd:date`` literal that names a real day (no time zone), else ``None``."""
    lit = _literal(term)
    if lit is None or lit.text is None or lit.datatype != f"{_XSD}date" or not _DATE.fullmatch(lit.text):
        return None
    try:
        dt.date.fromisoformat(lit.text)
    except ValueError:
        return None
    return lit.text


def _string(term: str) -> str | None:
    """``STR()`` of an IRI or of a string literal (``None``: a blank node, another literal, whose text Oxigraph may
    write otherwise, or a spelling with an escape)."""
    if term.startswith("<"):
        return None if "\\" in term else term[1:-1]
    lit = _literal(term)
    return lit.text if lit is not None and lit.datatype in _TEXTS else None


def _and(answers: Iterable[Answer]) -> Answer:
    unknown = False
    for a in answers:
        if a is False:
            return False
        unknown = unknown or a is None
    return None if unknown else True


# -- the data ------------------------------------------------------------------------------------------------------

class _Index:
    """Subject → predicate → object spellings, and object → predicate → subjects for the inverse paths' predicates."""

    def __init__(self, inverse: frozenset[str]) -> None:
        self.out: dict[str, dict[str, list[str]]] = {}
        self.into: dict[str, dict[str, list[str]]] = {}
        self.inverse = inverse
        #: The document names a blank node (whose label could be the vocabulary's).
        self.blank = False

    def add_lines(self, text: str) -> None:
        """Add N-Quads (or N-Triples) lines, as Oxigraph writes them."""
        out, into, inverse = self.out, self.into, self.inverse
        # a blank node's label could be the vocabulary's (a literal that looks like one only costs the proof)
        self.blank = self.blank or text.startswith("_:") or " _:" in text or "\n_:" in text
        for s, p, o in _triples(text):
            by = out.get(s)
            if by is None:
                out[s] = {p: [o]}
            else:
                values = by.get(p)
                if values is None:
                    by[p] = [o]
                else:
                    values.append(o)
            if p in inverse:
                into.setdefault(o, {}).setdefault(p, []).append(s)


def _triples(text: str) -> Iterable[list[str] | tuple[str, str, str]]:
    """Subject, predicate and object of each N-Quads line of ``text``."""
    # not splitlines(): a literal may hold U+2028 and the like, unescaped
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    graph = _split(lines[0])[3] if lines else ""
    suffix = f" {graph} ."
    cut = -len(suffix)
    for line in lines:  # one graph (a document's): its lines end alike
        parts = line[:cut].split(" ", 2) if graph and line.endswith(suffix) else None
        yield parts if parts is not None and len(parts) == 3 else _split(line)[:3]


def _split(line: str) -> tuple[str, str, str, str]:
    """Subject, predicate, object and graph (``""``: the default graph) of an N-Quads line."""
    s, p, rest = line[:-2].split(" ", 2)
    if rest.startswith('"'):
        end = rest.rindex('"')
        cut = rest.find(" ", end)
    else:
        cut = rest.find(" ")
    if cut < 0:
        return s, p, rest, ""
    return s, p, rest[:cut], rest[cut + 1:]


class _Data:
    """The vocabulary's index and one document's, read as one graph (no subject is in both: :meth:`Proof.conforms`)."""

    def __init__(self, vocabulary: _Index, document: _Index) -> None:
        self.vocabulary, self.document = vocabulary, document
        #: (value check, value) → its answer: a value is judged once a document (many recur: categories, units).
        self.memo: dict[tuple[int, str], Answer] = {}

    def out_of(self, subject: str) -> dict[str, list[str]]:
        """The subject's predicates and their values."""
        by = self.document.out.get(subject)
        if by is None:
            by = self.vocabulary.out.get(subject)
        return by if by is not None else {}

    def values(self, subject: str, predicate: str) -> list[str]:
        by = self.document.out.get(subject)
        if by is None:
            by = self.vocabulary.out.get(subject)
        return by.get(predicate, []) if by is not None else []

    def subjects(self, obj: str, predicate: str) -> list[str]:
        found: list[str] = []
        for index in (self.document, self.vocabulary):
            by = index.into.get(obj)
            if by is not None:
                found.extend(by.get(predicate, ()))
        return found


# -- the shapes ----------------------------------------------------------------------------------------------------

#: The value nodes of a path from a focus node (a list may repeat a value: only counts and comparisons of sets of
#: them mind that, and take its set).
Path = Callable[[_Data, str], Collection[str]]


def _path(g: rdflib.Graph, node: rdflib.term.Node, inverse: set[str]) -> Path | None:
    """A function of the value nodes of a property path, or ``None`` for a path the proof does not read."""
    if isinstance(node, URIRef):
        return _forward([f"<{node}>"])
    if g.value(node, RDFLIB_RDF.first) is not None:  # a sequence
        steps = [_path(g, item, inverse) for item in RdfList(g, node)]
        known = [s for s in steps if s is not None]
        return _sequence(known) if known and len(known) == len(steps) else None
    inner = g.value(node, sh("inversePath"))
    if inner is not None:
        preds = _predicates(g, inner)
        if preds is None:
            return None
        inverse.update(preds)
        return _backward(preds)
    alternatives = g.value(node, sh("alternativePath"))
    if alternatives is not None:
        items = list(RdfList(g, alternatives))
        return _forward([f"<{p}>" for p in items]) if all(isinstance(p, URIRef) for p in items) else None
    return None


def _forward(predicates: list[str]) -> Path:
    if len(predicates) == 1:
        predicate = predicates[0]

        def one(data: _Data, focus: str) -> Collection[str]:
            return data.values(focus, predicate)
        return one

    def values(data: _Data, focus: str) -> Collection[str]:
        return {o for p in predicates for o in data.values(focus, p)}
    return values


def _backward(predicates: list[str]) -> Path:
    def values(data: _Data, focus: str) -> Collection[str]:
        return {s for p in predicates for s in data.subjects(focus, p)}
    return values


def _sequence(steps: list[Path]) -> Path:
    def values(data: _Data, focus: str) -> Collection[str]:
        nodes: Collection[str] = {focus}
        for step in steps:
            nodes = {v for n in nodes for v in step(data, n)}
        return nodes
    return values


def _predicates(g: rdflib.Graph, node: rdflib.term.Node) -> list[str] | None:
    """The predicates of an inverted path: one predicate, or an alternative of predicates."""
    if isinstance(node, URIRef):
        return [f"<{node}>"]
    alternatives = g.value(node, sh("alternativePath"))
    if alternatives is None:
        return None
    items = list(RdfList(g, alternatives))
    return [f"<{p}>" for p in items] if all(isinstance(p, URIRef) for p in items) else None


#: A check of one focus node, given the value nodes of the shape's path (the node itself for a node shape).
Check = Callable[[_Data, str, Collection[str]], Answer]
#: A check of one value node, with its number.
ValueCheck = tuple[int, Callable[[_Data, str], Answer]]
#: A property shape of one predicate: (predicate, at least one value, at most this many, unique languages, value
#: checks).
_Simple = tuple[str, bool, int | None, bool, list[ValueCheck]]


@dataclass
class _Shape:
    """One shape, compiled: the value nodes of its path, and checks of a focus node and of each of its values."""

    node: rdflib.term.Node | None = None
    path: Path | None = None
    checks: list[Check] = field(default_factory=list)
    #: Each value check with its number (its answers are remembered by value, :attr:`_Data.memo`).
    value_checks: list[ValueCheck] = field(default_factory=list)
    #: Its property shapes of one predicate and only counts, unique languages and value checks, read in one loop.
    simple: list[_Simple] = field(default_factory=list)
    #: This property shape in that form, when it is one.
    spec: _Simple | None = None
    #: The shape (or one it refers to) has a parameter the proof does not read.
    unknown: bool = False

    def __call__(self, data: _Data, focus: str) -> Answer:
        if self.unknown:
            return None
        unknown = False
        if self.simple:
            by = data.out_of(focus)
            for predicate, needed, most, unique, value_checks in self.simple:
                found = by.get(predicate)
                if found is None:
                    if needed:
                        return False
                    continue
                if len(found) > 1 and ((most is not None and len(set(found)) > most) or (
                        unique and _unique_languages(data, focus, found) is False)):
                    return False
                a = _judge(data, found, value_checks)
                if a is False:
                    return False
                unknown = unknown or a is None
        values = self.path(data, focus) if self.path is not None else (focus,)
        for check in self.checks:
            a = check(data, focus, values)
            if a is False:
                return False
            unknown = unknown or a is None
        if self.value_checks:
            a = _judge(data, values, self.value_checks)
            if a is False:
                return False
            unknown = unknown or a is None
        return None if unknown else True


def _judge(data: _Data, values: Collection[str], checks: list[ValueCheck]) -> Answer:
    """Every check of every value (each answer remembered by the check's number and the value)."""
    memo, unknown = data.memo, False
    for value in values:
        for number, check in checks:
            key = (number, value)
            a = memo[key] if key in memo else memo.setdefault(key, check(data, value))
            if a is False:
                return False
            unknown = unknown or a is None
    return None if unknown else True


class _Compiler:
    """Reads the shapes graph into :class:`_Shape` s (each shape once)."""

    def __init__(self, g: rdflib.Graph, subclasses: Callable[[str], set[str]]) -> None:
        self.g = g
        self.subclasses = subclasses  # a class → it and every subclass of it, as spellings
        self.inverse: set[str] = set()
        self.done: dict[rdflib.term.Node, _Shape] = {}

    def shape(self, node: rdflib.term.Node) -> _Shape:
        if node in self.done:
            return self.done[node]
        made = self.done[node] = _Shape(node)
        g = self.g
        if any(p not in _KNOWN and p not in _IGNORED for p, _ in g.predicate_objects(node)):
            made.unknown = True
            return made
        path_node = g.value(node, sh("path"))
        if path_node is not None:
            made.path = _path(g, path_node, self.inverse)
        checks = self._checks(node)
        value_checks = self._value_checks(node)
        if (path_node is not None and made.path is None) or checks is None or value_checks is None:
            made.unknown = True
            return made
        made.value_checks = value_checks
        for check in checks:
            inner = getattr(check, "shape", None)
            if isinstance(inner, _Shape) and inner.spec is not None:
                made.simple.append(inner.spec)
            else:
                made.checks.append(check)
        if isinstance(path_node, URIRef):
            made.spec = self._spec(node, path_node, value_checks)
        return made

    def _spec(self, node: rdflib.term.Node, predicate: URIRef, value_checks: list[ValueCheck]) -> _Simple | None:
        """The property shape as a :data:`_Simple`, when its only checks are counts and unique languages."""
        g = self.g
        if any(g.value(node, sh(k)) is not None for k in ("hasValue", "equals", "lessThanOrEquals", "or", "not",
                                                           "property")):
            return None
        least = [_integer(n) for n in g.objects(node, sh("minCount"))]
        most = [_integer(n) for n in g.objects(node, sh("maxCount"))]
        unique = any(str(u).lower() == "true" for u in g.objects(node, sh("uniqueLang")))
        return (f"<{predicate}>", bool(least) and max(least) >= 1, min(most) if most else None, unique, value_checks)

    def _checks(self, node: rdflib.term.Node) -> list[Check] | None:
        """Checks of a focus node (and the set of its value nodes); ``None`` when one is not one the proof reads."""
        g = self.g
        out: list[Check] = []
        for n in g.objects(node, sh("minCount")):
            if _integer(n) > 1:  # distinct spellings Oxigraph may store as one value
                return None
            out.append(_count(_integer(n), at_least=True))
        for n in g.objects(node, sh("maxCount")):
            out.append(_count(_integer(n), at_least=False))
        if any(str(u).lower() == "true" for u in g.objects(node, sh("uniqueLang"))):
            out.append(_unique_languages)
        for v in g.objects(node, sh("hasValue")):
            term = spelling(v)
            if term is None:
                return None
            out.append(_has_value(term))
        for q in g.objects(node, sh("equals")):
            out.append(_equals(f"<{q}>"))
        for q in g.objects(node, sh("lessThanOrEquals")):
            out.append(_at_most_all(f"<{q}>"))
        for members in g.objects(node, sh("or")):
            out.append(_any_of([self.shape(m) for m in RdfList(g, members)]))
        for negated in g.objects(node, sh("not")):
            out.append(_none_of(self.shape(negated)))
        for prop in g.objects(node, sh("property")):
            out.append(_conforms_to(self.shape(prop)))
        return out

    def _value_checks(self, node: rdflib.term.Node) -> list[ValueCheck] | None:
        """Checks of each value node; ``None`` when one of them is not one the proof reads."""
        made = self._value_functions(node)
        return None if made is None else [(next(_NUMBERS), f) for f in made]

    def _value_functions(self, node: rdflib.term.Node) -> list[Callable[[_Data, str], Answer]] | None:
        g = self.g
        out: list[Callable[[_Data, str], Answer]] = []
        for d in g.objects(node, sh("datatype")):
            if str(d) not in _PLAIN and str(d) not in _OTHER:
                return None
            out.append(_datatype(str(d)))
        for c in g.objects(node, sh("class")):
            out.append(_instance_of(self.subclasses(f"<{c}>")))
        for k in g.objects(node, sh("nodeKind")):
            if k != sh("IRI"):
                return None
            out.append(_is_iri)
        for pattern in g.objects(node, sh("pattern")):
            if g.value(node, sh("flags")) is not None or not _SIMPLE_PATTERN.fullmatch(str(pattern)):
                return None
            out.append(_pattern(re.compile(str(pattern))))
        for n in g.objects(node, sh("minLength")):
            out.append(_min_length(_integer(n)))
        for key, compare in _COMPARE.items():
            for bound in g.objects(node, sh(key)):
                limit = spelling(bound)
                value = _number(limit) if limit is not None else None
                if value is None:
                    return None
                out.append(_in_range(value, compare))
        for members in g.objects(node, sh("in")):
            out.append(_one_of({t for m in RdfList(g, members) if (t := spelling(m)) is not None}))
        return out


_NUMBERS = itertools.count()


def _integer(node: rdflib.term.Node) -> int:
    return int(str(node))


# -- the checks, one factory each ------------------------------------------------------------------------------------

def _count(k: int, *, at_least: bool) -> Check:
    def check(data: _Data, focus: str, values: Collection[str]) -> Answer:
        if at_least:  # (k is 1: a value repeated is still one)
            return len(values) >= k
        return len(values) <= k or len(set(values)) <= k
    return check


def _has_value(term: str) -> Check:
    missing: Answer = False if term.startswith("<") else None  # a literal of another spelling may equal it

    def check(data: _Data, focus: str, values: Collection[str]) -> Answer:
        return True if term in values else missing
    return check


def _equals(other: str) -> Check:
    def check(data: _Data, focus: str, values: Collection[str]) -> Answer:
        return True if set(values) == set(data.values(focus, other)) else None
    return check


def _at_most_all(other: str) -> Check:
    def check(data: _Data, focus: str, values: Collection[str]) -> Answer:
        return _and(_at_most(v, w) for v in values for w in data.values(focus, other))
    return check


def _any_of(shapes: list[_Shape]) -> Check:
    def check(data: _Data, focus: str, values: Collection[str]) -> Answer:
        return _or(s(data, focus) for s in shapes)
    return check


def _none_of(shape: _Shape) -> Check:
    def check(data: _Data, focus: str, values: Collection[str]) -> Answer:
        return _not(shape(data, focus))
    return check


def _conforms_to(shape: _Shape) -> Check:
    def check(data: _Data, focus: str, values: Collection[str]) -> Answer:
        return shape(data, focus)
    check.shape = shape  # type: ignore[attr-defined]  # a node shape reads a simple property shape inline
    return check


def _datatype(datatype: str) -> Callable[[_Data, str], Answer]:
    suffix = f'"^^<{datatype}>'  # how a literal of the datatype ends, unless Oxigraph writes it otherwise
    plain = _PLAIN.get(datatype)

    def check(data: _Data, value: str) -> Answer:
        if datatype == _STRING and value[0] == '"' and value[-1] == '"':
            return True
        if value.endswith(suffix) and value[0] == '"':
            text = value[1:-len(suffix)]
            if plain is None:
                return True
            if "\\" not in text and plain.fullmatch(text):
                return True
        return _has_datatype(value, datatype)
    return check


def _instance_of(classes: set[str]) -> Callable[[_Data, str], Answer]:
    def check(data: _Data, value: str) -> Answer:
        return not classes.isdisjoint(data.values(value, _TYPE))
    return check


def _is_iri(data: _Data, value: str) -> Answer:
    return value.startswith("<")


def _pattern(pattern: re.Pattern[str]) -> Callable[[_Data, str], Answer]:
    def check(data: _Data, value: str) -> Answer:
        return _matches(pattern, value)
    return check


def _min_length(k: int) -> Callable[[_Data, str], Answer]:
    def check(data: _Data, value: str) -> Answer:
        text = _string(value)
        return None if text is None else len(text) >= k
    return check


def _in_range(bound: Decimal, compare: Callable[[Decimal, Decimal], bool]) -> Callable[[_Data, str], Answer]:
    def check(data: _Data, value: str) -> Answer:
        x = _number(value)
        return None if x is None else compare(x, bound)
    return check


def _one_of(allowed: set[str]) -> Callable[[_Data, str], Answer]:
    def check(data: _Data, value: str) -> Answer:
        return True if value in allowed else None  # a term of another spelling may still equal one of them
    return check


def _has_datatype(value: str, datatype: str) -> Answer:
    """sh:datatype as the engine tests it, on the literal as Oxigraph stores it (for a numeric one, a number)."""
    if _literal(value) is None:
        return False  # an IRI or a blank node
    stored = _stored_datatype(value)
    return None if stored is None else stored == datatype


def _matches(pattern: re.Pattern[str], value: str) -> Answer:
    text = _string(value)
    if text is None or "\n" in text or "\r" in text:
        return None
    return pattern.search(text) is not None


def _unique_languages(data: _Data, focus: str, values: Collection[str]) -> Answer:
    if len(values) < 2:
        return True
    seen: set[str] = set()
    for v in set(values):
        lit = _literal(v)
        if lit is not None and lit.language:
            if lit.language in seen:
                return False
            seen.add(lit.language)
    return True


def _at_most(v: str, w: str) -> Answer:
    a, b = _number(v), _number(w)
    if a is not None and b is not None:
        return a <= b
    x, y = _date(v), _date(w)
    if x is not None and y is not None:
        return x <= y
    return None


def _or(answers: Iterable[Answer]) -> Answer:
    unknown = False
    for a in answers:
        if a is True:
            return True
        unknown = unknown or a is None
    return None if unknown else False


def _not(answer: Answer) -> Answer:
    return None if answer is None else not answer


# -- the proof -----------------------------------------------------------------------------------------------------

class Proof:
    """Proves that quads, with a fixed vocabulary (the ontology), conform to the top-level shapes of ``graph``."""

    def __init__(self, graph: rdflib.Graph, vocabulary: Iterable[Quad]) -> None:
        self.graph = graph
        text = _nquads(list(vocabulary))
        plain = _Index(frozenset())
        plain.add_lines(text)
        parents: dict[str, list[str]] = {}
        for s, by in plain.out.items():
            for parent in by.get(_SUBCLASS, ()):
                parents.setdefault(s, []).append(parent)
        children: dict[str, set[str]] = {}
        for s, ps in parents.items():
            for parent in ps:
                children.setdefault(parent, set()).add(s)

        def subclasses(cls: str) -> set[str]:
            found, todo = {cls}, [cls]
            while todo:
                for child in children.get(todo.pop(), ()):
                    if child not in found:
                        found.add(child)
                        todo.append(child)
            return found

        compiler = _Compiler(graph, subclasses)
        #: Each target class's instances' types → the shapes they are focus nodes of.
        self.by_type: dict[str, list[_Shape]] = {}
        for node in sorted({s for s in graph.subjects(sh("targetClass"), None)}, key=str):
            if _deactivated(graph, node):
                continue
            shape = compiler.shape(node)
            for cls in graph.objects(node, sh("targetClass")):
                for t in subclasses(f"<{cls}>"):
                    self.by_type.setdefault(t, []).append(shape)
        #: Other targets (subjects of, nodes …) the proof does not read: with any, it proves nothing.
        self.unreadable = any(graph.value(None, sh(t)) is not None
                              for t in ("targetNode", "targetSubjectsOf", "targetObjectsOf", "target"))
        self.inverse = frozenset(compiler.inverse)
        self.vocabulary = _Index(self.inverse)
        self.vocabulary.add_lines(text)

    def conforms(self, quads: list[Quad]) -> bool:
        """Whether ``quads`` (with the vocabulary) surely conform; ``False``: they may not (ask the engine)."""
        if self.unreadable:
            return False
        document = _Index(self.inverse)
        try:
            document.add_lines(_nquads(quads))
        except ValueError:  # a line the proof does not read as Oxigraph writes them
            return False
        if document.blank or _SUBCLASS in {p for by in document.out.values() for p in by}:
            return False
        vocabulary = self.vocabulary
        if not vocabulary.out.keys().isdisjoint(document.out):
            return False
        data = _Data(vocabulary, document)
        by_type = self.by_type
        for index in (document, vocabulary):
            for subject, by in index.out.items():
                shapes = {id(s): s for t in by.get(_TYPE, ()) for s in by_type.get(t, ())}
                for shape in shapes.values():
                    if shape(data, subject) is not True:
                        return False
        return True


def _nquads(quads: list[Quad]) -> str:
    data = serialize(quads, format=RdfFormat.N_QUADS) if quads else b""
    return data.decode() if data else ""


def _deactivated(g: rdflib.Graph, node: rdflib.term.Node) -> bool:
    d = g.value(node, sh("deactivated"))
    return d is not None and str(d).lower() == "true"


__all__ = ["Proof", "spelling"]
