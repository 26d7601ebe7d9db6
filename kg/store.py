"""The embedded Oxigraph store, with atomic per-document graph replacement.

A document graph that does not exist yet is written in one step (one transaction, or one atomic
bulk load). A graph that exists is replaced in two: its new content is *staged* outside the
database — N-Triples in an anonymous temporary file beside the store, which the kernel removes
with the process — and then swapped in by one SPARQL update request (``DROP GRAPH g ; INSERT DATA
{ GRAPH g { … } }``), which Oxigraph runs as one RocksDB transaction. A killed writer therefore
leaves nothing a reader could see: no staging graph, no half-replaced graph. (This is also about
twice as fast as writing a staging graph and ``MOVE``-ing it: measured in docs/reliability.md.)
Content with blank nodes cannot go through ``INSERT DATA``, which renames them; it is staged in a
``urn:budgetkg:staging:…`` graph and moved, as before. Only the ontology has blank nodes, and the
build skips it when it has not changed.

A graph too large for one atomic write (more than :data:`ATOMIC_BULK_LIMIT` quads: the links
graph of a large corpus) is written by :meth:`KGStore.overwrite` instead: it is marked in a
journal, written by the bulk loader in several steps, then unmarked. ``MOVE`` of such a graph
would keep it whole throughout, but costs ~100 s per million quads, as much as a build.

**Generations.** Every write goes through a :class:`KGStore` method, which marks the store changed;
when the outermost write, :meth:`KGStore.batch` or ``with store:`` block ends (or the store is
flushed or closed outside one), the store *publishes* a new generation: a number kept in the file
:data:`GENERATION_FILE` beside RocksDB's own files, advanced by one and replaced atomically
(``os.replace``) after the data is flushed. Only the process holding the write lock writes it. A
read-only store records the generation it was opened at (read *before* opening, so what it sees is
at least that generation), and a server (:mod:`server.workers`) watches the file to know when to
reopen. A command (``with open_store(...) as store:``) publishes once, at its end: a whole build,
import, link or validation is one generation. An in-memory store counts its generations in memory.

Recovery on open: a writer that opens the store removes what a killed writer left (staging
graphs, graphs still marked in the journal). A reader that finds such leftovers removes them too
when no writer holds the store (it opens it for writing just for that); if a writer is at work,
the reader hides them (its queries then name the published graphs one by one, which is slower:
:meth:`KGStore.hides_graphs` says when). A clean store is always read through Oxigraph's union
default graph.

Damage: RocksDB's complaints about missing or corrupt files become :class:`~kg.errors.DamagedStore`,
which says what to do; :func:`check` verifies a store (``budgetkg check-store``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

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
    Store,
    Triple,
    parse,
    serialize,
)

from .errors import BudgetKGError, DamagedStore, QueryError, StoreError
from .syntax import explain

STAGING_PREFIX = "urn:budgetkg:staging:"
#: Graphs being written in several steps (see :meth:`KGStore.overwrite`); hidden like staging graphs.
JOURNAL = NamedNode(STAGING_PREFIX + "journal")
_WRITING = NamedNode("urn:budgetkg:writing")

#: Oxigraph's bulk loader writes a batch of up to 1,000,000 quads with one RocksDB
#: ``IngestExternalFiles`` call over all column families, which RocksDB applies atomically. A write
#: of fewer quads than this through ``bulk_extend`` is therefore all-or-nothing, and ~2.6× faster
#: than a transaction (``extend``). Larger writes fall back to a transaction.
ATOMIC_BULK_LIMIT = 900_000
#: Once a :class:`GraphWriter` journals its graph, it bulk-loads batches of this many quads (small
#: enough that the last one, which the caller waits for, is quick).
JOURNALED_BATCH = 250_000
#: Below this many quads a transaction is faster than the bulk loader's fixed cost (~0.1 s).
BULK_MIN = 15_000
#: Times a reader tries to open the store before it reports it damaged (see :meth:`KGStore._open`).
OPEN_ATTEMPTS = 4
#: Staged content (N-Triples) is kept in memory up to this many bytes, then in an anonymous file.
SPOOL_BYTES = 16 << 20
#: A write-ahead log larger than this (bytes, all ``*.log`` files) is reported by :func:`check`: RocksDB
#: replays it on every open. Writers flush it away when they close.
WAL_WARN_BYTES = 256 << 20

QueryResult = QuerySolutions | QueryBoolean | QueryTriples

#: Seconds a read-only open keeps trying while a writer deletes files under it (see :meth:`KGStore._open_read_only`).
OPEN_PATIENCE = 2.0

#: The file in an on-disk store's directory that holds its generation (a decimal number); RocksDB
#: ignores files whose names it does not use.
GENERATION_FILE = "budgetkg-generation"
#: Present (holding the writer's pid) from a writer's first write until it publishes: a reader that
#: opens meanwhile may see part of what is being written (see :class:`GenerationWatch`).
WRITING_FILE = "budgetkg-writing"


def read_generation(path: str | Path) -> int:
    """The generation of the on-disk store at ``path`` (0: never written since generations were kept).

    >>> import tempfile
    >>> read_generation(tempfile.mkdtemp())
    0
    """
    try:
        return int((Path(path) / GENERATION_FILE).read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_generation(path: Path, generation: int) -> None:
    target = path / GENERATION_FILE
    tmp = path / f"{GENERATION_FILE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{generation}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)  # readers see the old number or the new one, never a torn file


class GenerationWatch:
    """Cheap polling of a store's generation: one ``stat`` per call, a read only when the file changed.

    A location that is no on-disk store (a remote endpoint, ``None``) stays at generation 0.

    >>> import tempfile
    >>> GenerationWatch(tempfile.mkdtemp()).current()
    0
    """

    def __init__(self, location: str | Path | None) -> None:
        self.file = Path(location) / GENERATION_FILE if location is not None and not is_remote(location) else None
        self._seen: tuple[int, int, int] | None = None
        self._generation = 0

    def writing(self) -> bool:
        """Whether a writer (a live process) has begun writing and not yet published its generation."""
        if self.file is None:
            return False
        try:
            pid = int((self.file.parent / WRITING_FILE).read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return False
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False  # a writer that died: what it left is cleaned by the next writer
        except PermissionError:
            return True
        return True

    def current(self) -> int:
        if self.file is None:
            return 0
        try:
            st = os.stat(self.file)
        except OSError:
            return self._generation  # not written yet (or being replaced: os.replace never leaves it absent)
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig != self._seen:
            self._seen = sig
            self._generation = max(self._generation, read_generation(self.file.parent))
        return self._generation


@dataclass(frozen=True)
class NQuads:
    """Quads already serialized as N-Quads (a build worker's output): the bytes and how many quads.

    A store loads them without making a Python object per quad.

    >>> from pyoxigraph import NamedNode, Quad
    >>> x = NamedNode("http://ex.org/x")
    >>> batch = NQuads.of([Quad(x, x, x, x)])
    >>> batch.count, list(batch.quads()) == [Quad(x, x, x, x)]
    (1, True)
    """

    data: bytes
    count: int

    @classmethod
    def of(cls, quads: list[Quad]) -> NQuads:
        return cls(serialize(quads, format=RdfFormat.N_QUADS) or b"", len(quads))

    def quads(self) -> Iterator[Quad]:
        return parse(self.data, format=RdfFormat.N_QUADS)

    def __len__(self) -> int:
        return self.count


Writable = Iterable[Quad] | NQuads


_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)
_BRACE = re.compile(r"\{")


def with_values(sparql: str, bindings: dict[str, object], comment: str | None = None) -> str:
    """``sparql`` with ``bindings`` (variable name → pyoxigraph term) as a VALUES block opening its WHERE.

    This is how every query parameter is bound, embedded or remote (one mechanism; on Oxigraph it
    is also a little faster than pyoxigraph's ``substitutions``). The values are written as RDF
    terms (``str(term)`` is their N-Triples form, escaped), never spliced in as text.

    >>> with_values("SELECT ?x WHERE { ?x ?p ?o }", {"p": NamedNode("http://e/p")})
    'SELECT ?x WHERE { VALUES (?p) { (<http://e/p>) } ?x ?p ?o }'
    >>> with_values("ASK { ?s ?p ?o }", {"o": NamedNode("http://e/o")})
    'ASK { VALUES (?o) { (<http://e/o>) } ?s ?p ?o }'
    """
    if not bindings:
        return sparql
    clause = ("VALUES (" + " ".join("?" + k for k in bindings) + ") { ("
              + " ".join(str(t) for t in bindings.values()) + ") }")
    text = _strip_comments(sparql)
    m = _WHERE.search(text) or _BRACE.search(text)
    if m is None:
        raise QueryError("query", "cannot bind parameters: the query has no WHERE clause")
    if comment is not None:  # laid out for reading: the block on a line of its own
        return f"{sparql[:m.end()]}\n  {clause}  # {comment}{sparql[m.end():]}"
    return f"{sparql[:m.end()]} {clause}{sparql[m.end():]}"


def _strip_comments(sparql: str) -> str:
    # same length as the input (comment characters become spaces), so match offsets still apply
    return re.sub(r"(?m)^\s*#.*$", lambda m: " " * len(m.group(0)), sparql)


def is_iri(value: str) -> bool:
    """Whether ``value`` is an absolute IRI the store accepts as a graph or entity name.

    >>> is_iri("https://budgetkg.example.org/id/graph/agencies"), is_iri("not an iri"), is_iri("http://x/\ufffd>")
    (True, False, False)
    """
    try:
        NamedNode(value)
    except ValueError:
        return False
    return True


P = ParamSpec("P")
R = TypeVar("R")


def one_generation(fn: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """Decorate a function whose first argument is a store: all it writes is one generation.

    >>> @one_generation
    ... def two_writes(store):
    ...     store.write_new(NamedNode("http://e/g"), [Quad(NamedNode("http://e/s"), NamedNode("http://e/p"),
    ...                                                  Literal("1"), NamedNode("http://e/g"))])
    ...     store.remove_graph(NamedNode("http://e/g"))
    >>> s = KGStore(None)
    >>> two_writes(s); s.generation
    1
    """

    @functools.wraps(fn)
    def wrapper(store: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        with store.batch():
            return fn(store, *args, **kwargs)

    return wrapper


def damage(exc: BaseException) -> bool:
    """Whether a pyoxigraph error is RocksDB reporting damaged or missing files (not a lock or a bad request)."""
    text = str(exc)
    if "lock" in text.lower() and "Corruption" not in text:
        return False
    return any(k in text for k in ("Corruption", "IO error", "checksum mismatch", "Column family not found"))


def store_error(path: Path | None, exc: BaseException, doing: str) -> StoreError:
    """The budgetkg error for a pyoxigraph error about the store at ``path``."""
    if damage(exc):
        return DamagedStore(path if path is not None else "(memory)", str(exc))
    hint = " (is another budgetkg process writing to it?)" if "lock" in str(exc).lower() else ""
    return StoreError(f"{doing} {path}: {exc}{hint}")


def _drop_leftovers(store: Store) -> int:
    """Remove from ``store`` (open for writing) the graphs a killed writer left; returns how many."""
    for q in list(store.quads_for_pattern(None, _WRITING, None, JOURNAL)):
        store.remove_graph(q.subject)  # type: ignore[arg-type]
    stale = [g for g in store.named_graphs() if isinstance(g, NamedNode) and g.value.startswith(STAGING_PREFIX)]
    for g in stale:
        store.remove_graph(g)
    return len(stale)


def _triples(quads: Iterable[Quad], first: list[Quad]) -> Iterator[Triple]:
    for q in quads:
        if not first:
            first.append(q)
        yield q.triple


class KGStore:
    """A budgetkg store: an embedded pyoxigraph store at ``path`` (``None``: in memory).

    ``generation`` is the store's generation as this object knows it (see the module docstring).
    """

    # class-level defaults, so that subclasses with their own constructor (kg.remote) have them too
    _generation = 0
    _held = 0
    _dirty = False
    _marked = False

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.read_only = read_only
        self._graphs: list[NamedNode] | None = None
        self._staging: bool | None = None
        self._hidden: set[NamedNode] = set()
        self._spools: dict[str, tempfile.SpooledTemporaryFile[bytes]] = {}
        if self.path is None:
            self.store = Store()
        elif read_only:
            if not self.path.exists():
                raise StoreError(f"no store at {self.path}: run 'budgetkg build' first")
            self.store = self._open_read_only(self.path)
            if self._leftovers() and self._recover():
                self.store = self._open_read_only(self.path)
            self._hidden = self._leftovers()
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            if not (self.path / "CURRENT").exists() and any(self.path.glob("MANIFEST-*")):
                # RocksDB would start a new, empty database over the old files: refuse before it writes
                raise DamagedStore(self.path, f"its file CURRENT is missing ({self.path / 'CURRENT'})")
            self._generation = read_generation(self.path)
            self.store = self._open(Store)
            self.drop_staging()

    def _open_read_only(self, path: Path) -> Store:
        """Open beside a possible writer, reading the generation first (what the store shows is at least that).

        RocksDB lists the files of the store, then opens them; a writer that flushes or compacts in
        between has deleted one, and the open fails ("No such file"). That race is retried; real damage
        stays and is reported as such (:class:`~kg.errors.DamagedStore`).
        """
        deadline = time.monotonic() + OPEN_PATIENCE
        pause = 0.01
        while True:
            self._generation = read_generation(path)
            try:
                return Store.read_only(str(path))
            except (OSError, RuntimeError) as exc:
                # only a file gone missing can be the race; other damage is reported at once
                if time.monotonic() > deadline or "no such file" not in str(exc).lower():
                    raise store_error(path, exc, "cannot open store at") from None
            time.sleep(pause * random.random())  # out of step with the writer's flushes
            pause = min(pause * 2, 0.5)

    def _open(self, how: Callable[[str], Store]) -> Store:
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return how(str(self.path))
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
            out = {g for g in self.store.named_graphs()
                   if isinstance(g, NamedNode) and g.value.startswith(STAGING_PREFIX)}
            if JOURNAL in out:
                out.update(q.subject for q in self.store.quads_for_pattern(None, _WRITING, None, JOURNAL)
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
        """Whether some graphs must be hidden from readers (a writer is at work), so queries cannot use
        Oxigraph's union default graph and name the published graphs one by one (slower)."""
        self.graphs()
        return bool(self._staging)

    def close(self) -> None:
        """Publish what was written (a new generation), and release the store and its write lock now.

        A writer flushes first, so the write-ahead log is not replayed by the next open."""
        if self.store is None:
            return
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()
        self._held = 0
        self.flush()
        self.store = None  # type: ignore[assignment]

    def __enter__(self) -> KGStore:
        self._held += 1  # what the block writes is one generation, published when it ends
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generations -------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The generation this store is at: for a read-only store, the one it was opened at."""
        return self._generation

    @contextlib.contextmanager
    def batch(self) -> Iterator[KGStore]:
        """Make the writes inside the block one generation, published when the outermost block ends.

        Every write method is one of these blocks, so writes outside any block publish one by one::

            with store.batch():
                store.write_new(graph, quads)
                store.remove_graph(other)     # readers that reopen see both changes or neither
        """
        self._held += 1
        try:
            yield self
        finally:
            self._held -= 1
            if self._held == 0:
                try:
                    self._publish()
                finally:
                    self._end_writing()

    def _changed(self) -> None:
        """Called by every write method before it writes: the next publish advances the generation."""
        self._dirty = True
        self._begin_writing()

    def _begin_writing(self) -> None:
        """Mark the store as being written (:data:`WRITING_FILE`) before the first write of a batch."""
        if self._marked or self.path is None or self.read_only or getattr(self, "store", None) is None:
            return
        try:
            (self.path / WRITING_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
        except OSError as exc:
            raise StoreError(f"cannot mark the store at {self.path} as being written: {exc}") from None
        self._marked = True

    def _end_writing(self) -> None:
        if self._marked and self.path is not None:
            with contextlib.suppress(OSError):
                (self.path / WRITING_FILE).unlink()
        self._marked = False

    def _publish(self) -> None:
        """Advance the generation if anything was written since it was last published."""
        if not self._dirty or self.store is None or self.read_only:
            return
        self._dirty = False
        if self.path is None:
            self._generation += 1
            return
        try:
            self.store.flush()  # the data first: a reader that sees the new number must see the new data
            generation = max(self._generation, read_generation(self.path)) + 1
            _write_generation(self.path, generation)
        except OSError as exc:
            raise StoreError(f"cannot record the new generation of the store at {self.path}: {exc}") from None
        self._generation = generation

    # -- graphs ------------------------------------------------------------------------
    def graphs(self) -> list[NamedNode]:
        """Published named graphs (staging graphs and, for a reader, half-written ones excluded), sorted by IRI."""
        if self._graphs is None:
            try:
                every = [g for g in self.store.named_graphs() if isinstance(g, NamedNode)]
            except (OSError, RuntimeError) as exc:
                raise store_error(self.path, exc, "cannot read store at") from None
            self._graphs = sorted((g for g in every if not g.value.startswith(STAGING_PREFIX)
                                   and g not in self._hidden), key=lambda g: g.value)
            self._staging = len(self._graphs) != len(every)
        return self._graphs

    def has_staging(self) -> bool:
        """Whether a staging graph exists in the database (a writer is moving blank nodes, or was killed)."""
        return self.hides_graphs()

    def invalidate(self) -> None:
        """Forget cached graph lists (after something else changed the store)."""
        self._graphs = None
        self._staging = None

    def has_graph(self, graph: NamedNode) -> bool:
        return self.store.contains_named_graph(graph)

    def drop_staging(self) -> int:
        """Remove staging graphs a crashed writer left behind, and graphs it left half-written; returns how many."""
        try:
            half = list(self.store.quads_for_pattern(None, _WRITING, None, JOURNAL))
            stale = _drop_leftovers(self.store)
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot clean up store at") from None
        if stale or half:
            self.invalidate()
            self._changed()  # published with the opener's first write, or when it closes
        return stale

    def staging_graph(self) -> NamedNode:
        return NamedNode(STAGING_PREFIX + uuid.uuid4().hex)

    def write_new(self, graph: NamedNode, quads: Writable) -> None:
        """Create ``graph`` holding ``quads`` (already in ``graph``), all or nothing.

        The quads must name ``graph``, so the graph exists exactly when its content does."""
        self._check_writable()
        if self.store.contains_named_graph(graph):
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
        triples = _triples(batch, first)
        data = serialize(triples, format=RdfFormat.N_TRIPLES) or b""
        if not first:
            return
        staging = first[0].graph_name
        assert isinstance(staging, NamedNode) and staging.value.startswith(STAGING_PREFIX), staging
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
            try:
                if spool is None and self.store.contains_named_graph(staging):  # staged in the database (blank nodes)
                    self.store.update(f"MOVE SILENT GRAPH <{staging.value}> TO GRAPH <{graph.value}>")
                    self.store.add_graph(graph)
                    return
                body = ""  # nothing staged: the graph becomes empty
                if spool is not None:
                    spool.seek(0)
                    body = spool.read().decode("utf-8")
                # one request: one RocksDB transaction (the graph is never missing or half-written)
                self.store.update(f"DROP SILENT GRAPH <{graph.value}> ;\nCREATE SILENT GRAPH <{graph.value}> ;\n"
                                  f"INSERT DATA {{ GRAPH <{graph.value}> {{\n{body}}} }}")
            except (OSError, RuntimeError) as exc:
                raise store_error(self.path, exc, f"swapping in graph {graph.value} failed in") from None
            finally:
                if spool is not None:
                    spool.close()
                self.invalidate()

    def overwrite(self, graph: NamedNode, quads: list[Quad]) -> None:
        """Make ``graph`` (a derived graph, which a build can recompute) hold ``quads``, the fastest safe way.

        Up to :data:`ATOMIC_BULK_LIMIT` quads this is atomic (:meth:`replace`). A larger graph is
        journaled: marked, cleared and bulk-loaded, then unmarked; see the module docstring.
        ``quads`` must name ``graph``.
        """
        with self.writer(graph) as w:
            w.add(quads)

    def writer(self, graph: NamedNode) -> GraphWriter:
        """A :class:`GraphWriter` that makes ``graph`` hold what is added to it (as :meth:`overwrite`)."""
        self._check_writable()
        return GraphWriter(self, graph)

    def replace(self, graph: NamedNode, make: Callable[[NamedNode], list[Quad] | NQuads]) -> int:
        """Make ``graph`` hold exactly the quads ``make(target)`` returns, atomically; returns their number.

        ``make`` builds the quads in the graph it is given: ``graph`` itself when it does not exist
        yet (written in one step), else a staging graph that is then swapped in.
        """
        target = self.staging_graph() if self.has_graph(graph) else graph
        quads = make(target)
        if target == graph:
            self.write_new(graph, quads)
            return len(quads)
        with self.batch():
            try:
                self.stage(quads)
                self.swap(graph, target)
            except BaseException:
                self.remove_graph(target)  # a failed replacement leaves no staging graph behind
                raise
        return len(quads)

    def _atomic_write(self, quads: Writable) -> None:
        if isinstance(quads, NQuads):
            if self.path is not None and BULK_MIN <= quads.count < ATOMIC_BULK_LIMIT:
                self.store.bulk_load(input=quads.data, format=RdfFormat.N_QUADS)
            else:  # Store.load is one transaction
                self.store.load(input=quads.data, format=RdfFormat.N_QUADS)
            return
        batch = quads if isinstance(quads, list) else list(quads)
        if self.path is not None and BULK_MIN <= len(batch) < ATOMIC_BULK_LIMIT:
            self.store.bulk_extend(batch)
        else:
            self.store.extend(batch)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError("the store is open read-only")

    def remove_graph(self, graph: NamedNode) -> bool:
        spool = self._spools.pop(graph.value, None)
        if spool is not None:  # staged, never written
            spool.close()
        if not self.store.contains_named_graph(graph):
            return False
        with self.batch():
            self._changed()
            self.store.remove_graph(graph)
            self.invalidate()
        return True

    def update(self, sparql: str, *, prefixes: dict[str, str] | None = None) -> None:
        """Apply a SPARQL Update (one transaction). pyoxigraph's errors pass through: the caller names them."""
        self._check_writable()
        with self.batch():
            self._changed()
            try:
                if prefixes:
                    self.store.update(sparql, prefixes=prefixes)
                else:
                    self.store.update(sparql)
            finally:
                self.invalidate()

    def flush(self) -> None:
        """Make what was written durable, and publish it as a new generation unless a block holds it."""
        if self.store is not None and not self.read_only and self.path is not None:
            self.store.flush()
        if self._held == 0:
            try:
                self._publish()
            finally:
                self._end_writing()

    # -- reading ----------------------------------------------------------------------
    def query(self, sparql: str, *, name: str = "query", substitutions: dict[str, object] | None = None,
              union: bool = True, prefixes: dict[str, str] | None = None) -> QueryResult:
        """Run SPARQL with the union of published graphs as default graph.

        ``substitutions`` binds variables safely (``{"unit": NamedNode(...)}``), never by text.
        ``prefixes`` are predeclared (not written into the text, so error positions stay the user's).
        """
        if substitutions:
            sparql = with_values(sparql, substitutions)
        options: dict[str, object] = {"prefixes": prefixes} if prefixes else {}
        try:
            if union:
                graphs = self.graphs()
                if not self._staging:  # the union of every graph is the published union, and faster
                    return self.store.query(sparql, use_default_graph_as_union=True, **options)
                # a writer is at work: hide its graphs from the default graph and from GRAPH ?g
                return self.store.query(sparql, default_graph=graphs or [DefaultGraph()], named_graphs=graphs,
                                        **options)
            return self.store.query(sparql, **options)
        except SyntaxError as exc:
            raise QueryError(name, f"syntax error: {explain(sparql, str(exc), prefixes)}") from None
        except RuntimeError as exc:
            raise store_error(self.path, exc, "cannot read store at") from None
        except OSError as exc:
            if damage(exc):
                raise store_error(self.path, exc, "cannot read store at") from None
            raise QueryError(name, f"store error: {exc}") from None

    def quads(self, graph: NamedNode | None = None) -> Iterator[Quad]:
        """Quads of one graph, or of every published graph."""
        try:
            if graph is not None:
                yield from self.store.quads_for_pattern(None, None, None, graph)
                return
            for g in self.graphs():
                yield from self.store.quads_for_pattern(None, None, None, g)
        except (OSError, RuntimeError) as exc:
            raise store_error(self.path, exc, "cannot read store at") from None

    def __len__(self) -> int:
        return sum(1 for _ in self.quads())

    def dump_sorted_nquads(self, graph: NamedNode | None = None) -> bytes:
        """Published content as N-Quads, lines sorted: byte-identical for identical content."""
        data = serialize(self.quads(graph), format=RdfFormat.N_QUADS) or b""
        lines = sorted(line for line in data.split(b"\n") if line)
        return b"\n".join(lines) + (b"\n" if lines else b"")


class GraphWriter:
    """Writes a derived graph whose size is not known in advance, as :meth:`KGStore.overwrite` would.

    Quads are :meth:`add`-ed as they are made (they must name the graph). While they number fewer
    than :data:`ATOMIC_BULK_LIMIT` they are only kept, and :meth:`commit` writes them atomically.
    Past that, on an on-disk store, the graph is journaled and every further batch is bulk-loaded
    by a background thread (pyoxigraph releases the GIL while it loads) while the caller goes on
    making quads. :meth:`abort` (or leaving a ``with`` block by an exception) removes whatever
    was written.
    """

    def __init__(self, store: KGStore, graph: NamedNode) -> None:
        self.store = store
        self.graph = graph
        self.buffer: list[bytes] = []  # N-Quads
        self.buffered = 0
        self.count = 0
        self.journaled = False
        self._mark = Quad(graph, _WRITING, Literal("journaled"), JOURNAL)
        self._thread: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._hold = contextlib.ExitStack()  # the graph's steps are one generation, published when it closes
        self._hold.enter_context(store.batch())

    def add(self, quads: Writable) -> None:
        batch = quads if isinstance(quads, NQuads) else NQuads.of(list(quads))
        self.buffer.append(batch.data)
        self.buffered += batch.count
        if self.store.path is not None and self.buffered >= (JOURNALED_BATCH if self.journaled else ATOMIC_BULK_LIMIT):
            self._spill()

    def _take(self) -> NQuads:
        batch = NQuads(b"".join(self.buffer), self.buffered)
        self.buffer, self.buffered = [], 0
        return batch

    def _spill(self) -> None:
        raw = self.store.store
        self.store._changed()
        try:
            if not self.journaled:
                raw.add(self._mark)
                self.journaled = True
                raw.remove_graph(self.graph)
                self.store.invalidate()
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="budgetkg-writer")
        except OSError as exc:
            raise StoreError(f"writing graph {self.graph.value} failed: {exc}") from None
        batch = self._take()
        self.count += batch.count
        self._wait()  # one batch in flight at a time: memory stays bounded
        assert self._thread is not None
        self._pending = self._thread.submit(raw.bulk_load, input=batch.data, format=RdfFormat.N_QUADS)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except OSError as exc:
                raise StoreError(f"writing graph {self.graph.value} failed: {exc}") from None

    def commit(self) -> int:
        """Finish: the graph holds exactly what was added. Returns the number of quads."""
        try:
            if not self.journaled:
                batch = self._take()
                self.store.replace(self.graph, lambda target: batch if target == self.graph else
                                   [Quad(q.subject, q.predicate, q.object, target) for q in batch.quads()])
                self.count += batch.count
                return self.count
            if self.buffer:
                self._spill()
            self._wait()
            try:
                self._unmark()
            except OSError as exc:
                raise StoreError(f"writing graph {self.graph.value} failed: {exc}") from None
            return self.count
        finally:
            self._close()

    def abort(self) -> None:
        """Give up: nothing of what was added stays (the graph's old content too, once journaled)."""
        self.buffer, self.buffered = [], 0
        try:
            with contextlib.suppress(BudgetKGError):
                self._wait()
            if self.journaled:
                self.store.store.remove_graph(self.graph)
                self._unmark()
        finally:
            self._close()

    def _unmark(self) -> None:
        raw = self.store.store
        raw.remove(self._mark)
        if next(iter(raw.quads_for_pattern(None, None, None, JOURNAL)), None) is None:
            raw.remove_graph(JOURNAL)  # an empty named graph would still count as a staging graph

    def _close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        self.store.invalidate()
        self._hold.close()

    def __enter__(self) -> GraphWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


@dataclass
class StoreCheck:
    """What :func:`check` found: quads per published graph, leftovers, write-ahead log, damage."""

    path: str
    graphs: dict[str, int]
    #: Index reads, each of which must see every quad once (Oxigraph keeps each quad in several indexes).
    index_quads: dict[str, int]
    leftovers: list[str]
    wal_bytes: int
    problem: str | None = None

    @property
    def healthy(self) -> bool:
        return self.problem is None


def check(path: str | Path) -> StoreCheck:
    """Verify the store at ``path``: open it read-only and read every index in full.

    RocksDB checks each block's checksum as it reads it, so a scribbled or truncated file is found
    here rather than by a later query; the counts of the indexes must agree. Leftovers of a killed
    writer (which a reader never sees) and the write-ahead log's size are reported too. Never raises
    for a damaged store: ``problem`` says what is wrong.
    """
    p = Path(path)
    wal = sum(f.stat().st_size for f in p.glob("*.log")) if p.is_dir() else 0
    result = StoreCheck(str(p), {}, {}, [], wal)
    if not (p / "CURRENT").exists() and not p.is_dir():
        result.problem = f"no store at {p}"
        return result
    try:
        raw = Store.read_only(str(p))
        every = [g for g in raw.named_graphs() if isinstance(g, NamedNode)]
        result.leftovers = sorted(g.value for g in every if g.value.startswith(STAGING_PREFIX))
        subjects: set[object] = set()
        predicates: set[object] = set()
        objects: set[object] = set()
        total = 0
        for g in [DefaultGraph(), *every]:  # the g-s-p-o and default-graph s-p-o indexes, with their terms
            n = 0
            for q in raw.quads_for_pattern(None, None, None, g):
                n += 1
                subjects.add(q.subject)
                predicates.add(q.predicate)
                objects.add(q.object)
            if isinstance(g, NamedNode) and not g.value.startswith(STAGING_PREFIX):
                result.graphs[g.value] = n
            total += n
        result.index_quads["by graph"] = total
        # the other orders: every quad reached once through its subject, its predicate and its object
        # (pyoxigraph 0.5's object lookup of a number can go on past it: only exact matches count)
        result.index_quads["by subject"] = sum(sum(1 for q in raw.quads_for_pattern(s, None, None, None)
                                                   if q.subject == s) for s in subjects)  # type: ignore[arg-type]
        result.index_quads["by predicate"] = sum(sum(1 for q in raw.quads_for_pattern(None, pr, None, None)
                                                     if q.predicate == pr) for pr in predicates)  # type: ignore[arg-type]
        result.index_quads["by object"] = sum(sum(1 for q in raw.quads_for_pattern(None, None, o, None)
                                                  if q.object == o) for o in objects)  # type: ignore[arg-type]
        by_graph = 0
        for g in every:  # the graph-first orders by predicate and by object
            ps = {q.predicate for q in raw.quads_for_pattern(None, None, None, g)}
            by_graph += sum(sum(1 for _ in raw.quads_for_pattern(None, pr, None, g)) for pr in ps)
        result.index_quads["by graph and predicate"] = by_graph + sum(
            sum(1 for _ in raw.quads_for_pattern(None, pr, None, DefaultGraph())) for pr in predicates)
        del raw
    except (OSError, RuntimeError) as exc:
        result.problem = DamagedStore(p, str(exc)).detail if damage(exc) else str(exc)
        return result
    counts = set(result.index_quads.values())
    if len(counts) > 1:
        result.problem = ("its indexes disagree (" + ", ".join(f"{k}: {v}" for k, v in result.index_quads.items())
                          + " quads): RocksDB lost part of a file")
    return result


def is_remote(location: object) -> bool:
    """Whether a ``--store`` value names a remote endpoint (``http(s)://…``) rather than a path.

    >>> is_remote("http://127.0.0.1:7878"), is_remote("./budgetkg-store")
    (True, False)
    """
    return isinstance(location, str) and location.startswith(("http://", "https://"))


#: Seconds a remote request may take when the caller names no limit (builds, validation, linking).
REMOTE_TIMEOUT = 300.0


def open_store(where: object, read_only: bool = False, *, timeout: float | None = None) -> KGStore:
    """The store a :class:`~kg.settings.Settings` (or a ``--store`` value) names.

    A path (or ``None``: in memory) gives the embedded :class:`KGStore`; ``http(s)://HOST:PORT`` an
    Oxigraph server (``/query``, ``/update``, ``/store``); settings with ``query_url`` (and
    ``update_url``, ``gsp_url``) any SPARQL 1.1 Query/Update + Graph Store Protocol endpoint. The
    remote ones are :class:`kg.remote.RemoteStore`, which has this class's interface.

    >>> open_store(None).path is None
    True
    """
    from .settings import Settings

    location: str | Path | None
    explicit = None
    if isinstance(where, Settings):
        location = where.store
        if where.query_url:
            explicit = (where.query_url, where.update_url, where.gsp_url)
    else:
        location = where  # type: ignore[assignment]
    if explicit is None and not is_remote(location):
        return KGStore(location, read_only=read_only)
    from .remote import RemoteStore

    limit = timeout if timeout is not None else REMOTE_TIMEOUT
    if explicit is not None:
        return RemoteStore(*explicit, read_only=read_only, timeout=limit)
    return RemoteStore.for_oxigraph(str(location), read_only=read_only, timeout=limit)

