"""The interface every budgetkg store has: :class:`GraphStore`.

Callers — the build, the analyses, the server's workers, the command line — code against this
Protocol only; :class:`~kg.store.EmbeddedStore` (Oxigraph in this process) and
:class:`~kg.store.RemoteStore` (a SPARQL 1.1 endpoint) satisfy it without imitating each other or
pyoxigraph's ``Store``. What a store shows is its *published* graphs: a writer's staging graphs,
its journal and, for a reader beside a writer, graphs a killed writer left half-written are never
seen through this interface. Writes go through :meth:`GraphStore.transaction`
(:mod:`kg.store.transaction` says what is atomic).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
    Triple,
    serialize,
)

from ..errors import QueryError

if TYPE_CHECKING:
    from .transaction import Transaction

#: What a query returns: solutions (SELECT), a boolean (ASK) or triples (CONSTRUCT, DESCRIBE).
QueryResult = QuerySolutions | QueryBoolean | QueryTriples
Subject = NamedNode | BlankNode | Triple
Object = NamedNode | BlankNode | Literal | Triple
GraphName = NamedNode | BlankNode | DefaultGraph


@runtime_checkable
class GraphStore(Protocol):
    """A budgetkg store: published named graphs, queried with SPARQL, changed by transactions.

    The default graph of a query is the union of the published graphs; ``GRAPH ?g`` ranges over
    them. ``generation`` advances once per committed write (see :mod:`kg.store.generations`).
    """

    #: The on-disk directory (``None``: in memory, or remote).
    path: Path | None
    #: Open for reading only: every write raises :class:`~kg.errors.StoreError`.
    read_only: bool

    @property
    def location(self) -> str:
        """Where the store is (a path, a URL or ``(memory)``), for messages."""
        ...

    @property
    def generation(self) -> int:
        """The generation this store is at (for a reader: the one it was opened at)."""
        ...

    # -- reading -------------------------------------------------------------------------------
    def query(self, sparql: str, *, name: str = "query", substitutions: Mapping[str, object] | None = None,
              union: bool = True, prefixes: dict[str, str] | None = None,
              default_graph: Sequence[NamedNode | DefaultGraph] | None = None,
              named_graphs: Sequence[NamedNode] | None = None) -> QueryResult:
        """Run SPARQL: by default over the union of the published graphs.

        ``substitutions`` binds variables as RDF terms (:func:`~kg.store.with_values`), never as
        text. ``prefixes`` are predeclared (error positions stay the user's). ``union=False`` lets
        the query name its own dataset (``FROM``, ``FROM NAMED``); ``default_graph`` and
        ``named_graphs`` give the dataset explicitly (the SPARQL Protocol's ``default-graph-uri``).
        Errors are :class:`~kg.errors.QueryError` (naming ``name``) or
        :class:`~kg.errors.StoreError`.
        """
        ...

    def quads(self, graph: NamedNode | None = None) -> Iterator[Quad]:
        """The quads of ``graph``, or of every published graph."""
        ...

    def match(self, subject: Subject | None = None, predicate: NamedNode | None = None,
              object: Object | None = None, graph: GraphName | None = None) -> Iterator[Quad]:
        """Quads matching a pattern (``None``: any), over the published graphs (and the default graph)."""
        ...

    def graphs(self) -> list[NamedNode]:
        """The published named graphs, sorted by IRI."""
        ...

    def has_graph(self, graph: NamedNode) -> bool:
        """Whether ``graph`` exists."""
        ...

    def hides_graphs(self) -> bool:
        """Whether unpublished graphs exist beside the published ones (a writer is at work)."""
        ...

    def invalidate(self) -> None:
        """Forget what is cached of the store's graphs (another process may have changed them)."""
        ...

    def __len__(self) -> int:
        """The number of published quads."""
        ...

    def __iter__(self) -> Iterator[Quad]:
        """Every published quad (as :meth:`quads`)."""
        ...

    def dump_sorted_nquads(self, graph: NamedNode | None = None) -> bytes:
        """Published content as N-Quads, lines sorted: byte-identical for identical content."""
        ...

    # -- writing -------------------------------------------------------------------------------
    def transaction(self) -> Transaction:
        """Changes that commit together or not at all: ``with store.transaction() as tx: ...``."""
        ...

    def update(self, sparql: str, *, prefixes: dict[str, str] | None = None) -> None:
        """Apply a SPARQL Update as one request."""
        ...

    def batch(self) -> contextlib.AbstractContextManager[Any]:
        """Make every write inside the block one generation."""
        ...

    def flush(self) -> None:
        """Make what was written durable, and publish it unless a block holds it."""
        ...

    def close(self) -> None:
        """Publish what was written and release the store."""
        ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


def solutions(result: QueryResult, name: str = "query") -> QuerySolutions:
    """``result`` as the solutions of a SELECT query (a typed view for callers that only SELECT)."""
    if not isinstance(result, QuerySolutions):
        raise QueryError(name, "the query is not a SELECT query")
    return result


def term_value(term: NamedNode | BlankNode | Literal | Triple | None) -> str:
    """A solution's term as text: an IRI, a blank node's label, a literal's lexical form (a quoted triple as N-Triples).

    >>> term_value(NamedNode("http://e/x")), term_value(Literal("7")), term_value(None)
    ('http://e/x', '7', 'None')
    """
    return term.value if isinstance(term, NamedNode | BlankNode | Literal) else str(term)


def sorted_nquads(quads: Iterator[Quad]) -> bytes:
    """N-Quads with sorted lines: byte-identical for identical content.

    >>> x = NamedNode("http://e/x")
    >>> sorted_nquads(iter([Quad(x, x, Literal("b"), x), Quad(x, x, Literal("a"), x)])).count(b"\\n")
    2
    """
    data = serialize(quads, format=RdfFormat.N_QUADS) or b""
    lines = sorted(line for line in data.split(b"\n") if line)
    return b"\n".join(lines) + (b"\n" if lines else b"")
