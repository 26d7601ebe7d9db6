"""The embedded store: Oxigraph (pyoxigraph over RocksDB) in this process, on disk or in memory.

How it supplies the steps of a :class:`~kg.store.transaction.Transaction`, and why each is atomic:

* **write new**: one transaction (``Store.extend``/``load``), or one atomic bulk load for up to
  :data:`ATOMIC_BULK_LIMIT` quads — Oxigraph's bulk loader writes such a batch with one RocksDB
  ``IngestExternalFiles`` call over all column families, which RocksDB applies atomically, and is
  ~2.6× faster than a transaction.
* **stage**: the new content is kept *outside* the database — N-Triples in an anonymous temporary
  file beside the store, which the kernel removes with the process — so a killed writer leaves
  nothing a reader could see.
* **swap**: one SPARQL update request (``DROP GRAPH g ; INSERT DATA { GRAPH g { … } }``), which
  Oxigraph runs as one RocksDB transaction (about twice as fast as writing a staging graph and
  ``MOVE``-ing it: docs/reliability.md). Content with blank nodes cannot go through ``INSERT DATA``,
  which renames them; it is staged in a ``urn:budgetkg:staging:…`` graph in the database and moved.
  Only the ontology has blank nodes, and the build skips it when it has not changed.
* **journal**: a graph larger than :data:`ATOMIC_BULK_LIMIT` is marked in the journal graph,
  cleared, bulk-loaded in steps, then unmarked. ``MOVE`` of such a graph would keep it whole
  throughout, but costs ~100 s per million quads, as much as a build.

Recovery on open: a writer that opens the store removes what a killed writer left (staging
graphs, graphs still marked in the journal). A reader that finds such leftovers removes them too
when no writer holds the store (it opens it for writing just for that); if a writer is at work,
the reader hides them (its queries then name the published graphs one by one, which is slower:
:meth:`EmbeddedStore.hides_graphs` says when). A clean store is always read through Oxigraph's
union default graph.

Damage: RocksDB's complaints about missing or corrupt files become :class:`~kg.errors.DamagedStore`
(:mod:`kg.store.damage`).
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QuerySolutions,
    RdfFormat,
    Store,
    Triple,
    parse,
    serialize,
)

from ..errors import DamagedStore, QueryError, StoreError
from ..iris import JOURNAL, WRITING, is_staging, staging_graph
from ..syntax import explain
from .damage import damage, store_error
from .generations import Generations, read_generation
from .parameters import with_values
from .protocol import GraphName, Object, QueryResult, Subject, sorted_nquads
from .transaction import Journal, NQuads, Transaction, Writable

#: Oxigraph's bulk loader writes a batch of up to 1,000,000 quads with one RocksDB
#: ``IngestExternalFiles`` call over all column families, which RocksDB applies atomically. A write
#: of fewer quads than this through ``bulk_extend`` is therefore all-or-nothing, and ~2.6× faster
#: than a transaction (``extend``). Larger writes fall back to a transaction.
ATOMIC_BULK_LIMIT = 900_000
#: Below this many quads a transaction is faster than the bulk loader's fixed cost (~0.1 s).
BULK_MIN = 15_000
#: Times a reader tries to open the store before it reports it damaged (see :meth:`EmbeddedStore._open`).
OPEN_ATTEMPTS = 4
#: Staged content (N-Triples) is kept in memory up to this many bytes, then in an anonymous file.
SPOOL_BYTES = 16 << 20
#: Seconds a read-only open keeps trying while a writer deletes files under it.
OPEN_PATIENCE = 2.0


def _drop_leftovers(store: Store) -> int:
    """Remove from ``store`` (open for writing) the graphs a killed writer left; returns how many."""
    for q in list(store.quads_for_pattern(None, WRITING, None, JOURNAL)):
        if isinstance(q.subject, NamedNode):
            store.remove_graph(q.subject)
    stale = [g for g in store.named_graphs() if isinstance(g, NamedNode) and is_staging(g)]
    for g in stale:
        store.remove_graph(g)
    return len(stale)


def _triples(quads: Iterable[Quad], first: list[Quad]) -> Iterator[Triple]:
    for q in quads:
        if not first:
            first.append(q)
        yield q.triple


class EmbeddedStore:
    """A budgetkg store: an embedded pyoxigraph store at ``path`` (``None``: in memory).

    It satisfies :class:`~kg.store.GraphStore`; see the module docstring for what is atomic.

    >>> store = EmbeddedStore(None)
    >>> store.location, store.graphs(), len(store)
    ('(memory)', [], 0)
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.read_only = read_only
        self._graphs: list[NamedNode] | None = None
        self._staging: bool | None = None
        self._hidden: set[NamedNode] = set()
        self._spools: dict[str, tempfile.SpooledTemporaryFile[bytes]] = {}
        self._raw: Store | None
        start = 0
        if self.path is None:
            self._raw = Store()
        elif read_only:
            if not self.path.exists():
                raise StoreError(f"no store at {self.path}: run 'budgetkg build' first")
            self._raw, start = self._open_read_only(self.path)
            left = self._leftovers()
            if left and self._recover():
                self._raw, start = self._open_read_only(self.path)
                left = self._leftovers()
            self._hidden = left
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            if not (self.path / "CURRENT").exists() and any(self.path.glob("MANIFEST-*")):
                # RocksDB would start a new, empty database over the old files: refuse before it writes
                raise DamagedStore(self.path, f"its file CURRENT is missing ({self.path / 'CURRENT'})")
            start = read_generation(self.path)
            self._raw = self._open()
        self._generations = Generations(None if read_only else self.path, start)
        if not read_only and self.path is not None:
            self.drop_staging()

    def __repr__(self) -> str:
        return f"EmbeddedStore({self.location!r})"

    @property
    def location(self) -> str:
        """Where the store is, for messages."""
        return str(self.path) if self.path is not None else "(memory)"

    @property
    def raw(self) -> Store:
        """The pyoxigraph store (for this package only); a closed store says so."""
        if self._raw is None:
            raise StoreError(f"the store at {self.location} is closed")
        return self._raw

    # -- opening ------------------------------------------------------------------------------
    def _open_read_only(self, path: Path) -> tuple[Store, int]:
        """Open beside a possible writer, reading the generation first (what the store shows is at least that).

        RocksDB lists the files of the store, then opens them; a writer that flushes or compacts in
        between has deleted one, and the open fails ("No such file"). That race is retried; real damage
        stays and is reported as such (:class:`~kg.errors.DamagedStore`).
        """
        deadline = time.monotonic() + OPEN_PATIENCE
        pause = 0.01
        while True:
            generation = read_generation(path)
            try:
                return Store.read_only(str(path)), generation
            except (OSError, RuntimeError) as exc:
                # only a file gone missing can be the race; other damage is reported at once
                if time.monotonic() > deadline or "no such file" not in str(exc).lower():
                    raise store_error(path, exc, "cannot open store at") from None
            time.sleep(pause * random.random())  # out of step with the writer's flushes
            pause = min(pause * 2, 0.5)

    def _open(self) -> Store:
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return Store(str(self.path))
            except (OSError, RuntimeError) as exc:
                # A reader opening while a writer compacts can read a list of files that the writer has just
                # replaced: that reads as a missing file, and is gone a moment later. Real damage stays.
                if attempt + 1 < OPEN_ATTEMPTS and self.read_only and damage(exc):
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise store_error(self.path, exc, "cannot open store at") from None
        raise AssertionError("unreachable")

    def _leftovers(self) -> set[NamedNode]:
        """Graphs a killed writer left (staging graphs, graphs still marked in the journal)."""
        try:
            out = {g for g in self.raw.named_graphs() if isinstance(g, NamedNode) and is_staging(g)}
            if JOURNAL in out:
                out.update(q.subject for q in self.raw.quads_for_pattern(None, WRITING, None, JOURNAL)
                           if isinstance(q.subject, NamedNode))
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot read store at") from None
        return out

    def _recover(self) -> bool:
        """Remove a killed writer's leftovers from a store opened read-only, if no writer holds it."""
        try:
            writer = Store(str(self.path))
        except (OSError, RuntimeError):
            return False  # a writer is at work (or the folder is read-only): hide them instead
        try:
            _drop_leftovers(writer)
            writer.flush()
        except (OSError, RuntimeError):
            return False
        finally:
            del writer  # releases the lock
        return True

    def hides_graphs(self) -> bool:
        """Whether some graphs must be hidden from readers (a writer is at work, or staging graphs exist), so
        queries cannot use Oxigraph's union default graph and name the published graphs one by one (slower)."""
        self.graphs()
        return bool(self._staging)

    def close(self) -> None:
        """Publish what was written (a new generation), and release the store and its write lock now.

        A writer flushes first, so the write-ahead log is not replayed by the next open."""
        if self._raw is None:
            return
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()
        self._generations.held = 0
        self.flush()
        self._raw = None

    def __enter__(self) -> EmbeddedStore:
        self._generations.held += 1  # what the block writes is one generation, published when it ends
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generations --------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The generation this store is at: for a read-only store, the one it was opened at."""
        return self._generations.current

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Make the writes inside the block one generation, published when the outermost block ends.

        Every write is one of these blocks, so writes outside any block publish one by one::

            with store.batch():
                ...                     # readers that reopen see every change of the block or none
        """
        return self._generations.hold(self._flush_data)

    def _changed(self) -> None:
        """Called before every write: the next publish advances the generation."""
        self._generations.changed()

    def _flush_data(self) -> None:
        if self._raw is not None and self.path is not None and not self.read_only:
            self._raw.flush()

    # -- graphs -------------------------------------------------------------------------------
    def graphs(self) -> list[NamedNode]:
        """Published named graphs (staging graphs and, for a reader, half-written ones excluded), sorted by IRI."""
        if self._graphs is None:
            try:
                every = [g for g in self.raw.named_graphs() if isinstance(g, NamedNode)]
            except (OSError, RuntimeError) as exc:
                raise store_error(self.path, exc, "cannot read store at") from None
            self._graphs = sorted((g for g in every if not is_staging(g) and g not in self._hidden),
                                  key=lambda g: g.value)
            self._staging = len(self._graphs) != len(every)
        return self._graphs

    def invalidate(self) -> None:
        """Forget cached graph lists (after something else changed the store)."""
        self._graphs = None
        self._staging = None

    def has_graph(self, graph: NamedNode) -> bool:
        """Whether ``graph`` exists (a published graph, or a staging graph named explicitly)."""
        try:
            return self.raw.contains_named_graph(graph)
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot read store at") from None

    # -- reading ------------------------------------------------------------------------------
    def query(self, sparql: str, *, name: str = "query", substitutions: Mapping[str, object] | None = None,
              union: bool = True, prefixes: dict[str, str] | None = None,
              default_graph: Sequence[NamedNode | DefaultGraph] | None = None,
              named_graphs: Sequence[NamedNode] | None = None) -> QueryResult:
        """Run SPARQL; see :meth:`kg.store.GraphStore.query`."""
        if substitutions:
            sparql = with_values(sparql, substitutions)
        raw = self.raw
        try:
            if default_graph is not None or named_graphs is not None:
                return raw.query(sparql, prefixes=prefixes, default_graph=list(default_graph or []),
                                 named_graphs=list(named_graphs) if named_graphs is not None else None)
            if union:
                graphs = self.graphs()
                if not self._staging:  # the union of every graph is the published union, and faster
                    return raw.query(sparql, prefixes=prefixes, use_default_graph_as_union=True)
                # a writer is at work: hide its graphs from the default graph and from GRAPH ?g
                default: list[NamedNode | BlankNode | DefaultGraph] = [*graphs] if graphs else [DefaultGraph()]
                return raw.query(sparql, prefixes=prefixes, default_graph=default, named_graphs=[*graphs])
            return raw.query(sparql, prefixes=prefixes)
        except SyntaxError as exc:
            raise QueryError(name, f"syntax error: {explain(sparql, str(exc), prefixes)}") from None
        except (OSError, RuntimeError, ValueError, TypeError) as exc:
            if damage(exc):
                raise store_error(self.path, exc, "cannot read store at") from None
            raise QueryError(name, f"evaluation failed: {exc}") from None

    def _published(self, quads: Iterator[Quad]) -> Iterator[Quad]:
        hidden = self._hidden
        for q in quads:
            g = q.graph_name
            if isinstance(g, NamedNode) and (is_staging(g) or g in hidden):
                continue
            yield q

    def match(self, subject: Subject | None = None, predicate: NamedNode | None = None,
              object: Object | None = None, graph: GraphName | None = None) -> Iterator[Quad]:
        """Quads matching a pattern (``None``: any) in the published graphs and the default graph."""
        try:
            found = self.raw.quads_for_pattern(subject, predicate, object, graph)
            self.graphs()  # whether a writer's graphs are there to hide, as for a query
            if graph is not None or not self._staging:
                yield from found
            else:
                yield from self._published(found)
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot read store at") from None

    def count(self, subject: Subject | None = None, predicate: NamedNode | None = None,
              object: Object | None = None) -> int:
        """How many quads :meth:`match` yields for the pattern, counted by the engine.

        A quad :meth:`match` yields costs the text of its four terms, each a RocksDB read (a department's 1,100
        incoming quads: 6 ms, 12 ms on a worker's first visit); a count reads none of them (0.3 ms; a filter on a
        term, such as ``isIRI``, reads its text again: 3 ms)."""
        bound = {k: v for k, v in (("s", subject), ("p", predicate), ("o", object)) if v is not None}
        sparql = with_values("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", bound)
        raw = self.raw
        try:
            graphs = self.graphs()
            if not self._staging:  # the union default graph: every graph's quads, the default graph's too
                result = raw.query(sparql, use_default_graph_as_union=True)
            else:  # the published graphs and the default graph, as match() reads them
                result = raw.query(sparql, default_graph=[*graphs, DefaultGraph()])
            assert isinstance(result, QuerySolutions)
            n = next(iter(result))[0]
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot read store at") from None
        assert isinstance(n, Literal)
        return int(n.value)

    def quads(self, graph: NamedNode | None = None) -> Iterator[Quad]:
        """Quads of one graph, or of every published graph."""
        try:
            if graph is not None:
                yield from self.raw.quads_for_pattern(None, None, None, graph)
                return
            for g in self.graphs():
                yield from self.raw.quads_for_pattern(None, None, None, g)
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot read store at") from None

    def __iter__(self) -> Iterator[Quad]:
        return self.quads()

    def __len__(self) -> int:
        return sum(1 for _ in self.quads())

    def dump_sorted_nquads(self, graph: NamedNode | None = None) -> bytes:
        """Published content as N-Quads, lines sorted: byte-identical for identical content."""
        return sorted_nquads(self.quads(graph))

    # -- writing ------------------------------------------------------------------------------
    def transaction(self) -> Transaction:
        """A :class:`~kg.store.transaction.Transaction` over this store (use it as a ``with`` block)."""
        return Transaction(self)

    def update(self, sparql: str, *, prefixes: dict[str, str] | None = None) -> None:
        """Apply a SPARQL Update (one transaction). pyoxigraph's errors pass through: the caller names them."""
        self._check_writable()
        with self.batch():
            self._changed()
            try:
                self.raw.update(sparql, prefixes=prefixes)
            finally:
                self.invalidate()

    def flush(self) -> None:
        """Make what was written durable, and publish it as a new generation unless a block holds it."""
        self._flush_data()
        self._generations.release(self._flush_data)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store at {self.location} is open read-only")

    # -- the steps of a transaction (kg.store.transaction.Staging) -----------------------------------
    def drop_staging(self) -> int:
        """Remove staging graphs a crashed writer left behind, and graphs it left half-written; returns how many."""
        try:
            half = list(self.raw.quads_for_pattern(None, WRITING, None, JOURNAL))
            stale = _drop_leftovers(self.raw)
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot clean up store at") from None
        if stale or half:
            self.invalidate()
            self._changed()  # published with the opener's first write, or when it closes
        return stale

    def staging_graph(self) -> NamedNode:
        """A fresh staging graph name."""
        return staging_graph(uuid.uuid4().hex)

    def write_new(self, graph: NamedNode, quads: Writable) -> None:
        """Create ``graph`` holding ``quads`` (already in ``graph``), all or nothing.

        The quads must name ``graph``, so the graph exists exactly when its content does."""
        self._check_writable()
        if self.raw.contains_named_graph(graph):
            raise StoreError(f"graph {graph.value} exists already: stage and swap it instead")
        with self.batch():
            try:
                self._changed()
                self._atomic_write(quads)
            except OSError as exc:
                raise StoreError(f"writing graph {graph.value} failed: {exc}") from None
            finally:
                self.invalidate()

    def stage(self, quads: Writable) -> None:
        """Keep quads that are in a staging graph (see :meth:`staging_graph`) until :meth:`swap` writes them.

        They are kept outside the database (as N-Triples, in memory or an anonymous temporary file),
        so nothing of them is visible, or left behind by a crash, before the swap. Blank nodes
        (which ``INSERT DATA`` would rename) are written to the staging graph in the database."""
        self._check_writable()
        if not isinstance(quads, NQuads | list):
            quads = list(quads)
        batch = quads.quads() if isinstance(quads, NQuads) else quads
        first: list[Quad] = []
        data = serialize(_triples(batch, first), format=RdfFormat.N_TRIPLES) or b""
        if not first:
            return
        staging = first[0].graph_name
        assert isinstance(staging, NamedNode) and is_staging(staging), staging
        if b"_:" in data and any(isinstance(t, BlankNode) for q in parse(data, format=RdfFormat.N_TRIPLES)
                                 for t in (q.subject, q.object)):
            try:
                self._changed()
                self._atomic_write(quads)
            except (OSError, RuntimeError) as exc:
                raise store_error(self.path, exc, "writing a staging graph failed in") from None
            finally:
                self.invalidate()
            return
        spool = self._spools.get(staging.value)
        if spool is None:
            spool = self._spools[staging.value] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=SPOOL_BYTES, dir=str(self.path) if self.path is not None else None)
        spool.write(data)

    def swap(self, graph: NamedNode, staging: NamedNode) -> None:
        """Replace ``graph`` by what was staged in ``staging``, in one transaction."""
        self._check_writable()
        with self.batch():
            self._changed()
            spool = self._spools.pop(staging.value, None)
            raw = self.raw
            try:
                if spool is None and raw.contains_named_graph(staging):  # staged in the database (blank nodes)
                    raw.update(f"MOVE SILENT GRAPH <{staging.value}> TO GRAPH <{graph.value}>")
                    raw.add_graph(graph)
                    return
                body = ""  # nothing staged: the graph becomes empty
                if spool is not None:
                    spool.seek(0)
                    body = spool.read().decode("utf-8")
                # one request: one RocksDB transaction (the graph is never missing or half-written)
                raw.update(f"DROP SILENT GRAPH <{graph.value}> ;\nCREATE SILENT GRAPH <{graph.value}> ;\n"
                           f"INSERT DATA {{ GRAPH <{graph.value}> {{\n{body}}} }}")
            except (OSError, RuntimeError) as exc:
                raise store_error(self.path, exc, f"swapping in graph {graph.value} failed in") from None
            finally:
                if spool is not None:
                    spool.close()
                self.invalidate()

    def remove_graph(self, graph: NamedNode) -> bool:
        """Remove ``graph``, or drop what was staged under that name; whether there was one."""
        spool = self._spools.pop(graph.value, None)
        if spool is not None:  # staged, never written
            spool.close()
        if not self.raw.contains_named_graph(graph):
            return spool is not None
        self._check_writable()
        with self.batch():
            self._changed()
            self.raw.remove_graph(graph)
            self.invalidate()
        return True

    def journal(self) -> Journal | None:
        """How a large graph is written in steps (on disk only: in memory a write is always one step)."""
        return _Journal(self) if self.path is not None else None

    def _atomic_write(self, quads: Writable) -> None:
        raw = self.raw
        if isinstance(quads, NQuads):
            if self.path is not None and BULK_MIN <= quads.count < ATOMIC_BULK_LIMIT:
                raw.bulk_load(input=quads.data, format=RdfFormat.N_QUADS, lenient=quads.checked)
            else:  # Store.load is one transaction
                raw.load(input=quads.data, format=RdfFormat.N_QUADS, lenient=quads.checked)
            return
        batch = quads if isinstance(quads, list) else list(quads)
        if self.path is not None and BULK_MIN <= len(batch) < ATOMIC_BULK_LIMIT:
            raw.bulk_extend(batch)
        else:
            raw.extend(batch)



class _Journal:
    """The embedded store's journaled writes (see the module docstring)."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store

    @property
    def limit(self) -> int:
        return ATOMIC_BULK_LIMIT

    def _mark(self, graph: NamedNode) -> Quad:
        return Quad(graph, WRITING, Literal("journaled"), JOURNAL)

    def begin(self, graph: NamedNode) -> None:
        self.store._changed()
        raw = self.store.raw
        raw.add(self._mark(graph))
        raw.remove_graph(graph)
        self.store.invalidate()

    def load(self, batch: NQuads) -> None:
        self.store.raw.bulk_load(input=batch.data, format=RdfFormat.N_QUADS, lenient=batch.checked)

    def end(self, graph: NamedNode) -> None:
        raw = self.store.raw
        raw.remove(self._mark(graph))
        if next(iter(raw.quads_for_pattern(None, None, None, JOURNAL)), None) is None:
            raw.remove_graph(JOURNAL)  # an empty named graph would still count as a staging graph
        self.store.invalidate()

    def abort(self, graph: NamedNode) -> None:
        self.store.raw.remove_graph(graph)
        self.end(graph)

