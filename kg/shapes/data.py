"""The data a validation reads: the published graphs of a store, an Oxigraph store, an RDF file or quads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyoxigraph import NamedNode, Quad, RdfFormat, Store

from ..iris import STAGING_PREFIX
from ..store import KGStore
from .errors import RDFInputError
from .report import Term


class Dataset:
    """Data to validate: a KGStore (its published graphs), or an Oxigraph store (all its graphs)."""

    def __init__(self, store: KGStore | Store, name: str = "") -> None:
        self.store = store
        self.name = name or (str(store.path) if isinstance(store, KGStore) and store.path else "(memory)")
        # Oxigraph evaluates "all graphs" several times faster than an explicit list of graphs; the list
        # is only needed to hide the staging graphs of a build that is running.
        self._graph_list = isinstance(store, KGStore) and any(
            isinstance(g, NamedNode) and g.value.startswith(STAGING_PREFIX) for g in store.store.named_graphs())

    def query(self, sparql: str) -> Any:
        if isinstance(self.store, KGStore):
            if self._graph_list:
                return self.store.query(sparql, name="shapes")
            return self.store.store.query(sparql, use_default_graph_as_union=True)
        return self.store.query(sparql, use_default_graph_as_union=True)

    def quads(self) -> Iterable[Quad]:
        return self.store.quads() if isinstance(self.store, KGStore) else iter(self.store)

    def _pattern(self, s: Term | None, p: NamedNode, o: Term | None) -> Iterable[Quad]:
        raw = self.store.store if isinstance(self.store, KGStore) else self.store
        for q in raw.quads_for_pattern(s, p, o, None):
            g = q.graph_name
            if not (isinstance(g, NamedNode) and g.value.startswith(STAGING_PREFIX)):
                yield q

    def objects(self, s: Term, p: NamedNode) -> list[Term]:
        return [q.object for q in self._pattern(s, p, None)]  # type: ignore[misc]

    def subjects(self, p: NamedNode, o: Term) -> list[Term]:
        return [q.subject for q in self._pattern(None, p, o)]  # type: ignore[misc]

    @classmethod
    def of(cls, source: KGStore | Store | Path | str | Iterable[Quad], extra: Iterable[Quad] = ()) -> Dataset:
        """Wrap a store, or load a file or quads (plus ``extra``, e.g. the ontology) into a new one."""
        if isinstance(source, KGStore | Store):
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
