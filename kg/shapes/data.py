"""The data a validation reads: the published graphs of a store, an Oxigraph store, an RDF file or quads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, Store, Triple

from ..store import GraphStore, RemoteStore, solutions
from .errors import RDFInputError
from .report import Term

#: Nodes one bulk look-up names (:meth:`Dataset.prefetch`): Virtuoso 7.2 refuses a ``VALUES`` block of
#: 5,000 terms (``SP030: Too many arguments``) and answers one of 2,000 in about a second at 10,000 tables.
BULK_NODES = 2000


class Dataset:
    """Data to validate: a store's published graphs (any :class:`~kg.store.GraphStore`), or an Oxigraph
    store made here of a file or of quads (all its graphs)."""

    def __init__(self, store: GraphStore | Store, name: str = "") -> None:
        self.store = store
        self.name = name or (store.location if not isinstance(store, Store) else "(memory)")
        # what prefetch() read of a remote store: node → the predicates read, and the facts read
        self._read_out: dict[Term, frozenset[NamedNode]] = {}
        self._read_in: dict[Term, frozenset[NamedNode]] = {}
        self._out: dict[Term, list[tuple[NamedNode, Term]]] = {}
        self._in: dict[Term, list[tuple[NamedNode, Term]]] = {}

    @property
    def bulk(self) -> bool:
        """Whether a look-up is a request (a remote store), so that reading ahead in bulk pays."""
        return isinstance(self.store, RemoteStore)

    def query(self, sparql: str) -> Any:
        if isinstance(self.store, Store):
            return self.store.query(sparql, use_default_graph_as_union=True)
        # the union of the store's published graphs (Oxigraph's fast union unless a writer is at work)
        return self.store.query(sparql, name="shapes")

    def quads(self) -> Iterable[Quad]:
        return iter(self.store) if isinstance(self.store, Store) else self.store.quads()

    def _pattern(self, s: Term | None, p: NamedNode, o: Term | None) -> Iterator[Quad]:
        if isinstance(s, Literal):
            return  # a literal is never a subject
        if isinstance(self.store, Store):
            yield from self.store.quads_for_pattern(s, p, o, None)
        else:
            yield from self.store.match(s, p, o)

    def objects(self, s: Term, p: NamedNode) -> list[Term]:
        if p in self._read_out.get(s, ()):
            return [o for q, o in self._out.get(s, ()) if q == p]
        return [q.object for q in self._pattern(s, p, None) if not isinstance(q.object, Triple)]

    def subjects(self, p: NamedNode, o: Term) -> list[Term]:
        if p in self._read_in.get(o, ()):
            return [s for q, s in self._in.get(o, ()) if q == p]
        return [q.subject for q in self._pattern(None, p, o) if not isinstance(q.subject, Triple)]

    def prefetch(self, nodes: Iterable[Term], out: Iterable[NamedNode], into: Iterable[NamedNode]) -> None:
        """Read at once what :meth:`objects` and :meth:`subjects` will be asked of ``nodes``: the objects of
        their ``out`` predicates and the subjects that point at them by an ``into`` predicate.

        On a remote store each look-up is a request: locating the findings of 10,000 tables took one
        request a look-up, over 20,000 in four minutes before it was stopped; this reads the same in two
        requests (one each way) per :data:`BULK_NODES` nodes, answered from memory afterwards. Elsewhere
        (Oxigraph here) an index look-up is quicker than a query over many nodes, and nothing is read ahead.
        """
        store = self.store
        if not isinstance(store, RemoteStore):
            return
        named = [n for n in dict.fromkeys(nodes) if isinstance(n, NamedNode)]  # a blank node has no name to send
        for predicates, read, facts, pattern in ((frozenset(out), self._read_out, self._out, "?n ?p ?x"),
                                                 (frozenset(into), self._read_in, self._in, "?x ?p ?n")):
            if not predicates:
                continue
            todo = [n for n in named if not predicates <= read.get(n, frozenset())]
            listed = " ".join(str(p) for p in sorted(predicates, key=lambda p: p.value))
            for start in range(0, len(todo), BULK_NODES):
                chunk = todo[start:start + BULK_NODES]
                # the nodes' VALUES opens the group and the predicates' closes it: Virtuoso answers that from its
                # indexes (with both first, or a FILTER on ?p, it took 10 to 20 times as long)
                sparql = (f"SELECT ?n ?p ?x WHERE {{ VALUES ?n {{ {' '.join(str(n) for n in chunk)} }} "
                          f"{pattern} VALUES ?p {{ {listed} }} }}")
                found: dict[Term, list[tuple[NamedNode, Term]]] = {n: [] for n in chunk}
                for row in solutions(store.query(sparql, name="locating findings"), "locating findings"):
                    n, p, x = row["n"], row["p"], row["x"]
                    if n in found and isinstance(p, NamedNode) and x is not None and not isinstance(x, Triple):
                        found[n].append((p, x))
                for n, got in found.items():
                    facts[n] = [(p, x) for p, x in facts.get(n, ()) if p not in predicates] + got
                    read[n] = read.get(n, frozenset()) | predicates

    @classmethod
    def of(cls, source: GraphStore | Store | Path | str | Iterable[Quad], extra: Iterable[Quad] = ()) -> Dataset:
        """Wrap a store, or load a file or quads (plus ``extra``, e.g. the ontology) into a new one."""
        if isinstance(source, Store | GraphStore):
            return cls(source)
        store = Store()
        name = ""
        if isinstance(source, str | Path):
            path = Path(source)
            name = str(path)
            fmt = _rdf_format(path)
            try:
                store.bulk_load(path=str(path), format=fmt, to_graph=NamedNode(path.resolve().as_uri())
                                if fmt not in (RdfFormat.N_QUADS, RdfFormat.TRIG) else None)
            except (OSError, SyntaxError, ValueError) as exc:
                raise RDFInputError(f"{path}: cannot read it as {fmt.name}: {exc}") from None
        else:
            store.extend(source)
        extra = list(extra)
        if extra:
            store.extend(extra)
        return cls(store, name)


def _rdf_format(path: Path) -> RdfFormat:
    name = path.name.lower()
    for ext, fmt in ((".ttl", RdfFormat.TURTLE), (".nt", RdfFormat.N_TRIPLES), (".nq", RdfFormat.N_QUADS),
                     (".trig", RdfFormat.TRIG), (".rdf", RdfFormat.RDF_XML), (".xml", RdfFormat.RDF_XML),
                     (".owl", RdfFormat.RDF_XML), (".n3", RdfFormat.N3)):
        if name.endswith(ext):
            return fmt
    raise RDFInputError(f"{path}: unknown RDF format (use .ttl, .nt, .nq, .trig, .rdf or .n3)")
