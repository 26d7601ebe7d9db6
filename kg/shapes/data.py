"""The data a validation reads: the published graphs of a store, an Oxigraph store, an RDF file or quads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, Store, Triple

from ..store import GraphStore
from .errors import RDFInputError
from .report import Term


class Dataset:
    """Data to validate: a store's published graphs (any :class:`~kg.store.GraphStore`), or an Oxigraph
    store made here of a file or of quads (all its graphs)."""

    def __init__(self, store: GraphStore | Store, name: str = "") -> None:
        self.store = store
        self.name = name or (store.location if not isinstance(store, Store) else "(memory)")

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
        return [q.object for q in self._pattern(s, p, None) if not isinstance(q.object, Triple)]

    def subjects(self, p: NamedNode, o: Term) -> list[Term]:
        return [q.subject for q in self._pattern(None, p, o) if not isinstance(q.subject, Triple)]

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
