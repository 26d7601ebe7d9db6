"""The links graph as N-Quads text: nodes and values rendered as N-Triples terms.

Several times cheaper than making a pyoxigraph term and quad per statement and serializing them
afterwards; the terms rendered here are IRIs minted by :class:`kg.iris.Iris` or read from valid IRIs,
and literals escaped by :func:`string`.
"""

from __future__ import annotations

from collections.abc import Callable

from pyoxigraph import Literal, NamedNode, Quad

from ..namespaces import XSD, Namespace
from ..store import NQuads
from ..store.transaction import predicates_key

_XSD_DECIMAL = f"^^<{XSD.decimal.value}>"
_XSD_INTEGER = f"^^<{XSD.integer.value}>"


def iri(value: str) -> str:
    """An IRI as an N-Triples term (``value`` is a valid IRI: minted, or read from the store)."""
    return f"<{value}>"


def string(text: str) -> str:
    """``text`` as the body of an N-Triples string literal (only \\, ", LF and CR are escaped)."""
    if "\\" in text or '"' in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{text}"'


def zh(text: str) -> str:
    """A Chinese string literal.

    >>> zh('含"引号"的\\n文本')
    '"含\\\\"引号\\\\"的\\\\n文本"@zh'
    """
    return string(text) + "@zh"


def decimal(x: float) -> str:
    """A score as an xsd:decimal of at most 4 places, without trailing zeros.

    >>> decimal(0.35), decimal(1.0), decimal(0.123456)
    ('"0.35"^^<http://www.w3.org/2001/XMLSchema#decimal>', '"1"^^<http://www.w3.org/2001/XMLSchema#decimal>', \
'"0.1235"^^<http://www.w3.org/2001/XMLSchema#decimal>')
    """
    t = f"{x:.4f}".rstrip("0")
    return f'"{t[:-1] if t.endswith(".") else t}"{_XSD_DECIMAL}'


def integer(x: int) -> str:
    return f'"{x}"{_XSD_INTEGER}'


TRUE = str(Literal("true", datatype=XSD.boolean))
FALSE = str(Literal("false", datatype=XSD.boolean))
_RENDERED: dict[NamedNode | Literal, str] = {}


def nt(term: NamedNode | Literal) -> str:
    """The N-Triples form of a vocabulary term (cached: only constants are passed as terms)."""
    r = _RENDERED.get(term)
    if r is None:
        r = _RENDERED[term] = str(term)
    return r


class Terms:
    """The terms of a namespace as N-Triples text: ``Terms(BK).score``.

    Each term is rendered on first use and then kept as a plain attribute, so the loops that write
    millions of statements pay neither a namespace look-up nor a rendering per statement.

    >>> Terms(XSD).decimal
    '<http://www.w3.org/2001/XMLSchema#decimal>'
    """

    def __init__(self, namespace: Namespace) -> None:
        self._namespace = namespace

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        rendered = nt(getattr(self._namespace, name))
        setattr(self, name, rendered)
        return rendered


class LinkQuads:
    """Collects the statements of one graph as N-Quads; with a ``sink``, hands them over in chunks.

    Subjects and rendered objects are N-Triples text (:func:`iri`, :func:`zh`, :func:`decimal` …);
    predicates and vocabulary objects may be pyoxigraph terms or rendered (:class:`Terms`).

    >>> from pyoxigraph import NamedNode
    >>> q = LinkQuads(NamedNode("http://g"))
    >>> q.add("<http://s>", XSD.decimal, '"1"')
    >>> q.about("<http://s>", ("<http://p>", '"2"'), ("<http://q>", '"3"'))
    >>> print("".join(q.lines), end="")
    <http://s> <http://www.w3.org/2001/XMLSchema#decimal> "1" <http://g> .
    <http://s> <http://p> "2" <http://g> .
    <http://s> <http://q> "3" <http://g> .
    """

    __slots__ = ("chunk", "count", "first", "g", "key", "lines", "others", "sink")

    def __init__(self, graph: NamedNode, sink: Callable[[NQuads], None] | None = None,
                 chunk: int = 200_000, first: frozenset[NamedNode] | None = None) -> None:
        self.g = nt(graph)
        #: The statements of the predicates ``first`` (all of them without), then the others: each batch holds
        #: them in that order (:meth:`NQuads.of <kg.store.transaction.NQuads.of>`), for a build's projection.
        self.lines: list[str] = []
        self.others: list[str] = []
        self.first = frozenset(nt(p) for p in first) if first else None
        self.key = predicates_key(first) if first else ""
        self.sink = sink
        self.chunk = chunk
        self.count = 0

    def add(self, s: str, p: str | NamedNode, o: str | NamedNode | Literal) -> None:
        if not isinstance(p, str):
            p = nt(p)
        line = f"{s} {p} {o if isinstance(o, str) else nt(o)} {self.g} .\n"
        (self.lines if self.first is None or p in self.first else self.others).append(line)
        if self.sink is not None and len(self.lines) + len(self.others) >= self.chunk:
            self.flush()

    def about(self, s: str, *statements: tuple[str, str]) -> None:
        """Statements of one subject ``s``: (predicate, object) pairs, both N-Triples text (one call for many)."""
        g, first = self.g, self.first
        if first is None:
            self.lines.extend([f"{s} {p} {o} {g} .\n" for p, o in statements])
        else:
            for p, o in statements:
                (self.lines if p in first else self.others).append(f"{s} {p} {o} {g} .\n")
        if self.sink is not None and len(self.lines) + len(self.others) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        self.count += len(self.lines) + len(self.others)
        if self.sink is not None and (self.lines or self.others):
            self.sink(self.batch())
            self.lines, self.others = [], []

    def batch(self) -> NQuads:
        head = "".join(self.lines).encode("utf-8")
        count = len(self.lines) + len(self.others)
        if self.first is None:
            return NQuads(head, count)
        return NQuads(head + "".join(self.others).encode("utf-8"), count, len(head), self.key)

    def quads(self) -> list[Quad]:
        """What is collected (not yet handed to a sink), as pyoxigraph quads."""
        return list(self.batch().quads())
