"""A build's in-memory projection: the quads of the predicates its derived steps read, kept beside the store.

The derived steps that read the store with SPARQL (the agencies, the analytics graph, the facet and answer tables)
read the same few dozen predicates of every project, indicator and link. On the on-disk store each solution costs
RocksDB look-ups (the index, then the text of every term), and at 100,000 tables that is most of a build. The same
queries over an in-memory pyoxigraph store holding only those predicates answer 3–5 times faster
(``docs/scale.md``, "The derived steps read a projection").

**What it holds.** Every quad, in every published graph, whose predicate is one of :attr:`Projection.predicates`,
and nothing else. A SPARQL query whose triple patterns all name one of those predicates (no variable predicate, no
negated property set) matches exactly the same quads here as in the store, so it answers exactly what it answers
there: the same engine runs it over the same matches. Which queries those are is declared, not guessed: each step
that reads the projection lists the predicates it reads (:attr:`kg.build.Step.reads`), and
``tests/test_projection.py`` parses every query those steps send during builds of a synthetic corpus and checks it
names no other predicate; it also checks that the built store and kept answers are byte for byte those of a build
that reads the store itself, and that the facet and answer tables answer alike (their rows follow the engine's scan
order, which is not the same in memory). :meth:`ProjectedStore.match` refuses a predicate it does not hold.

**How it is kept.** The build's transaction tells the projection what it writes (:class:`Mirror`, the hooks of
:class:`~kg.store.transaction.Transaction`): a new graph's quads at once, a replaced graph's when it is swapped in,
a removal when it is done; a SPARQL update, which it cannot follow, makes it :attr:`~Projection.stale`, and the
steps then read the store. A document's N-Quads come from the worker that converted it with the kept predicates'
lines first (:meth:`NQuads.of <kg.store.transaction.NQuads.of>`), so the projection takes those bytes as they are;
other N-Quads are filtered as bytes (one regular expression over the lines). Either way pyoxigraph's parser loads
them: no Python object per quad, and in a thread of the projection's own, so that while it loads one document the
build bulk-loads the next into the store (pyoxigraph does both without Python's lock). The loads keep their order;
anything else the projection is told, and every read, waits for the loads queued before it
(:meth:`Projection.settle`). The graphs the build does not write are copied from the store when the projection is
first read (:meth:`Projection.complete`), which the build allows only when they are not document graphs: a build of
some documents of a large store reads the store itself.

**Memory.** It holds about 20 million quads at 100,000 tables, some 6 GB. Before each load it checks the process's
address space against its limit (``RLIMIT_AS``: ``BUDGETKG_CLI_MEMORY_MB`` for a command, ``ulimit -v``): when what it
is about to load would take the process past :data:`HEADROOM` of the limit, it frees itself and becomes
:attr:`~Projection.stale`, and the steps read the store: slower, the same result.
"""

from __future__ import annotations

import os
import re
import resource
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from pyoxigraph import NamedNode, Quad, RdfFormat

from ..errors import StoreError
from .embedded import EmbeddedStore
from .protocol import GraphName, Object, Subject
from .transaction import NQuads, Writable

#: The share of the address-space limit the projection leaves to the rest of the build: at 100,000 tables the facet
#: and answer tables, read after the last load, need about as much again as the build held before them.
HEADROOM = 0.5
#: Bytes of memory a byte of N-Quads loaded into the projection takes, at most (measured: about 2).
GROWTH = 3
#: N-Quads the projection is to load, and whether pyoxigraph made them (they then need no checking again).
Kept = tuple[bytes, bool]
#: Loads waiting for the projection's loading thread at most; one more waits for the first of them (a document's kept
#: lines are a few megabytes).
QUEUED = 4


def address_space() -> tuple[int, int | None]:
    """The process's address space now, and its limit (None: none), in bytes."""
    with open("/proc/self/statm", "rb") as f:
        size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return size, None if soft == resource.RLIM_INFINITY else soft


class ProjectedStore(EmbeddedStore):
    """The projection, read as a store (in memory): what :meth:`Projection.reader` gives the steps.

    >>> p = Projection([NamedNode("http://e/p")])
    >>> g = NamedNode("http://e/g")
    >>> p.created(g, [Quad(NamedNode("http://e/s"), NamedNode("http://e/p"), NamedNode("http://e/o"), g),
    ...               Quad(NamedNode("http://e/s"), NamedNode("http://e/q"), NamedNode("http://e/o"), g)])
    >>> [q.predicate.value for q in p.reader().match(None, NamedNode("http://e/p"))]
    ['http://e/p']
    >>> next(p.reader().match(None, NamedNode("http://e/q")))
    Traceback (most recent call last):
    ...
    kg.errors.StoreError: the build's projection holds no http://e/q (it holds the predicates its steps read)
    """

    def __init__(self, predicates: frozenset[NamedNode]) -> None:
        super().__init__(None)
        self.predicates = predicates

    def match(self, subject: Subject | None = None, predicate: NamedNode | None = None,
              object: Object | None = None, graph: GraphName | None = None) -> Iterator[Quad]:
        if predicate is None or predicate not in self.predicates:
            what = predicate.value if predicate is not None else "quads of any predicate"
            raise StoreError(f"the build's projection holds no {what} (it holds the predicates its steps read)")
        return super().match(subject, predicate, object, graph)


class Projection:
    """The quads of ``predicates`` in every graph a build writes (see the module docstring)."""

    def __init__(self, predicates: Iterable[NamedNode]) -> None:
        self.predicates = frozenset(predicates)
        self.store = ProjectedStore(self.predicates)
        alternatives = b"|".join(re.escape(f"<{p.value}>".encode()) for p in sorted(self.predicates, key=str))
        #: A line of N-Quads or N-Triples whose predicate is kept (the subject is an IRI or a blank node: no space).
        self._lines = re.compile(rb"^[^ \n]+ (?:" + alternatives + rb") [^\n]*\n", re.MULTILINE)
        #: Graph → its new content's kept lines as N-Quads, in the graph, until swapped in.
        self._pending: dict[NamedNode, Kept] = {}
        #: Graphs written by the build (so not to be copied from the store).
        self.written: set[NamedNode] = set()
        self.stale = False
        self._copied = False
        self._lock = threading.Lock()
        self._completing = threading.Lock()
        #: New quads are loaded by a thread of their own, in order, while the build goes on (pyoxigraph parses and
        #: inserts without Python's lock): a document's bulk load into the store and its load here overlap. Anything
        #: else the projection is told, and every read, first waits for the loads before it (:meth:`settle`).
        self._loader: ThreadPoolExecutor | None = None
        self._queued: deque[Future[None]] = deque()
        self._queue_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Projection({len(self.predicates)} predicates{', stale' if self.stale else ''})"

    # -- what the transaction tells it (kg.store.transaction.Mirror) -------------------------------------------
    def _kept(self, graph: NamedNode, made_in: NamedNode, quads: Writable) -> Kept:
        """The lines of ``quads`` (made in ``made_in``) with a kept predicate, as N-Quads in ``graph``; and whether
        pyoxigraph made them (:attr:`NQuads.checked <kg.store.transaction.NQuads.checked>`: whole lines of such text,
        and a graph name it checked, need no checking again)."""
        if isinstance(quads, NQuads):
            data = quads.lines_of(self.predicates)  # a worker put them first
            if data is None:
                data = b"".join(m.group(0) for m in self._lines.finditer(quads.data))
            if made_in != graph:
                data = data.replace(f" <{made_in.value}> .\n".encode(), f" <{graph.value}> .\n".encode())
            return data, quads.checked
        kept = [Quad(q.subject, q.predicate, q.object, graph) for q in quads if q.predicate in self.predicates]
        return (NQuads.of(kept).data if kept else b""), True

    def created(self, graph: NamedNode, quads: Writable) -> None:
        """``graph`` was written new with ``quads``."""
        if self.stale:
            return
        kept = self._kept(graph, graph, quads)
        with self._lock:
            self.written.add(graph)
        self._load_later(kept)

    def staged(self, graph: NamedNode, made_in: NamedNode, quads: Writable) -> None:
        """``quads`` (in ``made_in``) are to replace ``graph`` when it is swapped in."""
        if self.stale:
            return
        kept = self._kept(graph, made_in, quads)
        with self._lock:
            self._pending[graph] = kept

    def swapped(self, graph: NamedNode) -> None:
        """What was staged for ``graph`` replaced it."""
        self.settle()
        with self._lock:
            self.written.add(graph)
            self._drop(graph)
            kept = self._pending.pop(graph, (b"", True))
        self._load_later(kept)

    def cleared(self, graph: NamedNode) -> None:
        """``graph`` was emptied, to be written in parts (:meth:`appended`)."""
        self.settle()
        with self._lock:
            self.written.add(graph)
            self._drop(graph)

    def appended(self, graph: NamedNode, quads: Writable) -> None:
        """``quads`` (in ``graph``) were added to it."""
        if self.stale:
            return
        self._load_later(self._kept(graph, graph, quads))

    def removed(self, graph: NamedNode) -> None:
        """``graph`` was removed, or what was staged for it dropped."""
        self.settle()
        with self._lock:
            self._pending.pop(graph, None)
            self.written.add(graph)
            self._drop(graph)

    def unstaged(self, graph: NamedNode) -> None:
        """What was staged for ``graph`` was dropped (the graph keeps its content)."""
        with self._lock:
            self._pending.pop(graph, None)

    def changed_unknown(self) -> None:
        """The store changed in a way the projection cannot follow (a SPARQL update): it is no longer read."""
        self.settle()
        self.give_up()

    def _load_later(self, kept: Kept) -> None:
        """Load ``kept`` in the loading thread, after what is queued before it."""
        if self.stale or not kept[0]:
            return
        with self._queue_lock:
            if self._loader is None:
                self._loader = ThreadPoolExecutor(1, thread_name_prefix="projection")
            while len(self._queued) >= QUEUED:
                self._queued.popleft().result()
            self._queued.append(self._loader.submit(self._load_locked, kept))

    def _load_locked(self, kept: Kept) -> None:
        with self._lock:
            self._load(kept)

    def settle(self) -> None:
        """Wait for every queued load (raising the first one's error)."""
        with self._queue_lock:
            while self._queued:
                self._queued.popleft().result()

    def _load(self, kept: Kept) -> None:
        if self.stale:
            return
        data, checked = kept
        if data:
            if not self._room_for(len(data)):
                self.give_up()
                return
            self.store.raw.load(data, format=RdfFormat.N_QUADS, lenient=checked)
        self.store.invalidate()

    def _room_for(self, size: int) -> bool:
        """Whether loading ``size`` bytes of N-Quads leaves the process :data:`HEADROOM` of its address-space limit."""
        try:
            used, limit = self.address_space()
        except (OSError, ValueError):
            return True  # no /proc: nothing to measure against
        return limit is None or used + GROWTH * size <= (1 - HEADROOM) * limit

    #: How the address space is measured (a test gives another).
    address_space = staticmethod(address_space)

    def give_up(self) -> None:
        """Free what it holds; the steps read the store from now on (queued loads then load nothing)."""
        self.stale = True
        self._pending.clear()
        self.store.raw.clear()
        self.store.invalidate()

    def _drop(self, graph: NamedNode) -> None:
        if self.store.raw.contains_named_graph(graph):
            self.store.raw.remove_graph(graph)
        self.store.invalidate()

    # -- reading -----------------------------------------------------------------------------------------------
    def complete(self, source: EmbeddedStore, allowed: Callable[[list[NamedNode]], bool]) -> bool:
        """Copy from ``source`` the kept quads of its published graphs the build has not written, once; whether the
        projection now mirrors ``source`` (False, and nothing copied, unless those graphs are ``allowed``).

        >>> from pyoxigraph import Literal
        >>> source, g, p = EmbeddedStore(None), NamedNode("http://e/g"), NamedNode("http://e/p")
        >>> source.raw.add(Quad(g, p, Literal("old"), g))
        >>> projection = Projection([p])
        >>> projection.complete(source, lambda graphs: False), projection.stale
        (False, True)
        >>> projection = Projection([p])
        >>> projection.complete(source, lambda graphs: True)
        True
        >>> [q.object.value for q in projection.reader().match(None, p)]
        ['old']
        """
        self.settle()
        with self._completing:
            if self.stale:
                return False
            if self._copied:
                return True
            missing = [g for g in source.graphs() if g not in self.written]
            if missing and not allowed(missing):
                self.give_up()
                return False
            for graph in missing:
                for predicate in sorted(self.predicates, key=str):
                    self.appended(graph, list(source.match(None, predicate, None, graph)))
            self.settle()
            self._copied = True
            return not self.stale  # it may have given way to memory

    def reader(self) -> ProjectedStore:
        """The projection as a store, for reading (once every queued load is in)."""
        self.settle()
        return self.store

    def close(self) -> None:
        """Free the memory it holds (once the loading thread has stopped; a load's error no longer matters)."""
        self.stale = True  # what is still queued loads nothing
        with self._queue_lock:
            for queued in self._queued:
                queued.exception()
            self._queued.clear()
            if self._loader is not None:
                self._loader.shutdown(wait=True)
                self._loader = None
        self._pending.clear()
        self.store.close()
