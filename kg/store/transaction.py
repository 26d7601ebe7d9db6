"""One way to change a store's graphs: stage, swap, roll back (:class:`Transaction`).

Every writer of budgetkg — the build (document graphs, the ontology), the contracts import and
every derived graph (agencies, links, findings, vendors) — changes graphs through one
:class:`Transaction`::

    with store.transaction() as tx:
        tx.replace(graph, quads)                      # or a factory: tx.replace(graph, lambda target: ...)
        with tx.writer(links_graph) as w:             # a graph of unknown size, written while computed
            w.add(batch)
        tx.remove(old_graph)

What is atomic, and why:

* A graph **new** to the store is written straight in, in one step (one transaction, or one
  atomic bulk load of up to :data:`~kg.store.embedded.ATOMIC_BULK_LIMIT` quads): it exists exactly
  when its content does.
* A graph that **exists** is *staged* (its new content is kept outside the published graphs) and
  *swapped* in when the transaction commits, each swap one atomic replacement. Until then readers
  see the old content; a crash before the swap leaves nothing a reader could see.
* A **removal** is done at commit, with the swaps.
* An **exception** inside the block rolls back everything the transaction created or staged: the
  new graphs are removed, what was staged is dropped, removals are not done. The store keeps its
  previous state (graphs already swapped in by :meth:`Transaction.publish` stay: a caller that
  publishes part of its work, as the build publishes the documents before computing the derived
  graphs from them, accepts that).
* A graph too large for one atomic write (a :meth:`Transaction.writer` past the limit, on disk) is
  *journaled*: marked in a journal graph, cleared, bulk-loaded in several steps, then unmarked; a
  crash in between leaves the mark, and the next open removes the half-written graph. Only derived
  graphs, which a build recomputes, are written this way.
* The whole transaction is one **generation** (see :mod:`kg.store.generations`): readers that
  reopen see all of it or none of it by its number.

The sequence is written here once; a store supplies the primitive steps (:class:`Staging`): the
embedded store stages in a temporary file and swaps with one SPARQL update (one RocksDB
transaction), the remote store stages locally and swaps with one Graph Store Protocol ``PUT``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from pyoxigraph import NamedNode, Quad, RdfFormat, parse, serialize

from ..errors import BudgetKGError, StoreError

#: Once a :class:`GraphWriter` journals its graph, it bulk-loads batches of this many quads (small
#: enough that the last one, which the caller waits for, is quick).
JOURNALED_BATCH = 250_000


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
    #: ``data[:split]`` are the lines whose predicate is one of a set of predicates (:attr:`split_key` names it,
    #: :func:`predicates_key`), the other lines follow; ``-1``: in no such order.
    split: int = -1
    split_key: str = ""
    #: Made by pyoxigraph's serializer from terms it had checked when they were made (:meth:`of`): a store loads
    #: them without checking every IRI and literal again (pyoxigraph's ``lenient`` parsing, some 10 % faster).
    #: Text made by hand (the links graph's lines) is checked as it is loaded.
    checked: bool = False

    @classmethod
    def of(cls, quads: list[Quad], first: frozenset[NamedNode] | None = None) -> NQuads:
        """``quads`` serialized; with ``first``, the quads of those predicates first (what a build's projection
        keeps, :mod:`kg.store.projection`, which then takes them without reading every line).

        >>> x, y = NamedNode("http://ex.org/x"), NamedNode("http://ex.org/y")
        >>> batch = NQuads.of([Quad(x, x, x, x), Quad(x, y, x, x)], first=frozenset([y]))
        >>> batch.lines_of(frozenset([y])) == NQuads.of([Quad(x, y, x, x)]).data, batch.lines_of(frozenset([x]))
        (True, None)
        """
        if not first:
            return cls(serialize(quads, format=RdfFormat.N_QUADS) or b"", len(quads), checked=True)
        head = serialize([q for q in quads if q.predicate in first], format=RdfFormat.N_QUADS) or b""
        tail = serialize([q for q in quads if q.predicate not in first], format=RdfFormat.N_QUADS) or b""
        return cls(head + tail, len(quads), len(head), predicates_key(first), checked=True)

    def lines_of(self, predicates: frozenset[NamedNode]) -> bytes | None:
        """The lines of ``predicates`` when they come first (:meth:`of`); ``None``: they do not."""
        if self.split < 0 or self.split_key != predicates_key(predicates):
            return None
        return self.data[:self.split]

    def quads(self) -> Iterator[Quad]:
        return parse(self.data, format=RdfFormat.N_QUADS)

    def __len__(self) -> int:
        return self.count


@functools.lru_cache(maxsize=8)
def predicates_key(predicates: frozenset[NamedNode]) -> str:
    """A name of a set of predicates that every process spells alike (a ``str``'s hash differs between processes)."""
    return hashlib.sha1("\n".join(sorted(p.value for p in predicates)).encode(), usedforsecurity=False).hexdigest()


#: What a store writes: quads (a list, an iterable) or N-Quads made elsewhere.
Writable = Iterable[Quad] | NQuads
#: A graph's new content, or a function that makes it in the graph it is given (the graph itself
#: when it is new, else a staging graph).
Content = Writable | Callable[[NamedNode], Writable]


class Journal(Protocol):
    """How a store writes a graph in several steps (see the module docstring); only on-disk stores can."""

    @property
    def limit(self) -> int:
        """Quads beyond which a graph is journaled rather than written in one atomic step."""
        ...

    def begin(self, graph: NamedNode) -> None:
        """Mark ``graph`` in the journal and clear it."""
        ...

    def load(self, batch: NQuads) -> None:
        """Bulk-load N-Quads (called from a background thread)."""
        ...

    def end(self, graph: NamedNode) -> None:
        """Unmark ``graph``: it is complete."""
        ...

    def abort(self, graph: NamedNode) -> None:
        """Remove the half-written ``graph`` and its mark."""
        ...


class Staging(Protocol):
    """The primitive steps a store supplies to a :class:`Transaction` (each one atomic on its own)."""

    path: Any
    read_only: bool

    def has_graph(self, graph: NamedNode) -> bool: ...

    def staging_graph(self) -> NamedNode:
        """A fresh staging graph name (never visible to readers)."""
        ...

    def write_new(self, graph: NamedNode, quads: Writable) -> None:
        """Create ``graph`` with ``quads`` (which name it) in one step; it must not exist."""
        ...

    def stage(self, quads: Writable) -> None:
        """Keep ``quads`` (in a staging graph) until :meth:`swap`."""
        ...

    def swap(self, graph: NamedNode, staging: NamedNode) -> None:
        """Replace ``graph`` by what was staged in ``staging``, in one step."""
        ...

    def remove_graph(self, graph: NamedNode) -> bool:
        """Remove ``graph`` (or drop what was staged under that name); whether there was one."""
        ...

    def update(self, sparql: str, *, prefixes: dict[str, str] | None = None) -> None: ...

    def batch(self) -> contextlib.AbstractContextManager[Any]: ...

    def journal(self) -> Journal | None: ...


class Mirror(Protocol):
    """What a transaction tells a copy of the store it keeps in step (:class:`kg.store.projection.Projection`): each
    graph's new content once it is written, in the graph's own name."""

    #: The predicates it keeps: a writer may put their lines first (:meth:`NQuads.of`), and it takes those bytes.
    predicates: frozenset[NamedNode]

    def created(self, graph: NamedNode, quads: Writable) -> None: ...

    def staged(self, graph: NamedNode, made_in: NamedNode, quads: Writable) -> None: ...

    def swapped(self, graph: NamedNode) -> None: ...

    def cleared(self, graph: NamedNode) -> None: ...

    def appended(self, graph: NamedNode, quads: Writable) -> None: ...

    def removed(self, graph: NamedNode) -> None: ...

    def unstaged(self, graph: NamedNode) -> None: ...

    def changed_unknown(self) -> None: ...


class Transaction:
    """A set of graph changes that commits together or not at all; see the module docstring.

    >>> from kg.store import EmbeddedStore
    >>> from pyoxigraph import Literal
    >>> store, g = EmbeddedStore(None), NamedNode("http://e/g")
    >>> q = Quad(NamedNode("http://e/s"), NamedNode("http://e/p"), Literal("1"), g)
    >>> with store.transaction() as tx:
    ...     tx.replace(g, [q])
    1
    >>> try:
    ...     with store.transaction() as tx:
    ...         tx.replace(g, lambda target: [Quad(q.subject, q.predicate, Literal("2"), target)])
    ...         raise ValueError("the computation failed")
    ... except ValueError:
    ...     pass
    1
    >>> [x.object.value for x in store.quads(g)], store.generation   # the second one left nothing
    (['1'], 1)
    """

    def __init__(self, store: Staging) -> None:
        if store.read_only:
            raise StoreError("the store is open read-only")
        self.store = store
        #: Graphs this transaction wrote new (removed by a rollback).
        self.created: list[NamedNode] = []
        #: Graph → its staging graph, swapped in at commit.
        self.staged: dict[NamedNode, NamedNode] = {}
        self.removals: list[NamedNode] = []
        self.writers: list[GraphWriter] = []
        #: Told every change once it is made (None: nothing is).
        self.mirror: Mirror | None = None
        self._hold = contextlib.ExitStack()
        self._done = False

    # -- the block ----------------------------------------------------------------------------
    def __enter__(self) -> Transaction:
        self._hold.enter_context(self.store.batch())  # one generation, published when the block ends
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        try:
            if kind is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self._hold.close()

    # -- changes ------------------------------------------------------------------------------
    def target(self, graph: NamedNode) -> NamedNode:
        """Where new content of ``graph`` is to be made: ``graph`` when it is new, else a fresh staging graph."""
        if graph in self.created or graph in self.staged or self.store.has_graph(graph):
            return self.store.staging_graph()
        return graph

    def replace(self, graph: NamedNode, content: Content, *, target: NamedNode | None = None) -> int:
        """Make ``graph`` hold exactly ``content``; returns the number of quads.

        ``content`` is quads in ``graph``, or a function given the graph to make them in. ``target``
        (from :meth:`target`) says where content made in advance already is.
        """
        self._check_open()
        if graph in self.removals:
            self.removals.remove(graph)
        where = target if target is not None else self.target(graph)
        if callable(content):
            quads = content(where)
        elif where != graph and target is None:  # made in the graph itself: moved to the staging graph
            quads = [Quad(q.subject, q.predicate, q.object, where) for q in _iterate(content)]
        else:
            quads = content
        if not isinstance(quads, NQuads | list):
            quads = list(quads)
        if where == graph:
            journal = self.store.journal()
            if journal is not None and len(quads) >= journal.limit:
                # too large for one atomic write: journaled and bulk-loaded (one transaction of a million quads
                # costs about twice as long, and holds them all in memory while it commits)
                with self.writer(graph) as w:
                    w.add(quads)
                return len(quads)
            self.store.write_new(graph, quads)
            self.created.append(graph)
            if self.mirror is not None:
                self.mirror.created(graph, quads)
            return len(quads)
        previous = self.staged.pop(graph, None)
        if previous is not None:
            self.store.remove_graph(previous)
        try:
            self.store.stage(quads)
        except BaseException:
            self.store.remove_graph(where)  # a failed staging leaves nothing behind
            raise
        self.staged[graph] = where
        if self.mirror is not None:
            self.mirror.staged(graph, where, quads)
        return len(quads)

    def writer(self, graph: NamedNode) -> GraphWriter:
        """A :class:`GraphWriter` that makes ``graph`` hold what is added to it (size unknown in advance)."""
        self._check_open()
        w = GraphWriter(self, graph)
        self.writers.append(w)
        return w

    def remove(self, graph: NamedNode) -> bool:
        """Remove ``graph`` at commit (at once if this transaction made it); whether there is such a graph."""
        self._check_open()
        staging = self.staged.pop(graph, None)
        if staging is not None:
            self.store.remove_graph(staging)
            if self.mirror is not None:
                self.mirror.unstaged(graph)
        if graph in self.created:
            self.created.remove(graph)
            self.store.remove_graph(graph)
            if self.mirror is not None:
                self.mirror.removed(graph)
            return True
        if not self.store.has_graph(graph):
            return staging is not None
        if graph not in self.removals:
            self.removals.append(graph)
        return True

    def update(self, sparql: str) -> None:
        """Apply a SPARQL update now, as one request (a rollback does not undo it)."""
        self._check_open()
        if self.mirror is not None:
            self.mirror.changed_unknown()
        self.store.update(sparql)

    # -- the end ------------------------------------------------------------------------------
    def publish(self) -> None:
        """Swap in what is staged and do the removals now; the transaction goes on (see the module docstring)."""
        while self.staged:
            graph = next(iter(self.staged))
            staging = self.staged[graph]
            self.store.swap(graph, staging)
            del self.staged[graph]
            if self.mirror is not None:
                self.mirror.swapped(graph)
        while self.removals:
            graph = self.removals.pop(0)
            self.store.remove_graph(graph)
            if self.mirror is not None:
                self.mirror.removed(graph)

    def commit(self) -> None:
        """Finish open writers, swap in what is staged, do the removals."""
        self._check_open()
        try:
            for w in list(self.writers):
                w.commit()
            self.publish()
        except BaseException:
            self.rollback()
            raise
        self._done = True

    def rollback(self) -> None:
        """Undo what this transaction created or staged (see the module docstring)."""
        if self._done:
            return
        self._done = True
        if self.mirror is not None:
            self.mirror.changed_unknown()
        try:
            for w in list(self.writers):
                w.abort()
        finally:
            for staging in self.staged.values():
                self.store.remove_graph(staging)
            self.staged.clear()
            self.removals.clear()
            for graph in self.created:
                self.store.remove_graph(graph)
            self.created.clear()

    def _check_open(self) -> None:
        if self._done:
            raise StoreError("the transaction has ended")


def _iterate(content: Writable) -> Iterable[Quad]:
    return content.quads() if isinstance(content, NQuads) else content


class GraphWriter:
    """Writes a graph whose size is not known in advance, within a :class:`Transaction`.

    Quads are :meth:`add`-ed as they are made (they must name the graph). While they number fewer
    than the store's atomic limit they are only kept, and :meth:`commit` hands them to the
    transaction (:meth:`Transaction.replace`). Past that, on an on-disk store, the graph is
    journaled and every further batch is bulk-loaded by a background thread (pyoxigraph releases
    the GIL while it loads) while the caller goes on making quads. :meth:`abort` (or leaving a
    ``with`` block by an exception) removes whatever was written.
    """

    def __init__(self, tx: Transaction, graph: NamedNode, *, owns: bool = False) -> None:
        self.tx = tx
        self.graph = graph
        self.buffer: list[NQuads] = []
        self.buffered = 0
        self.count = 0
        self.journaled = False
        self._journal = tx.store.journal()
        self._existed = False
        self._thread: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._owns = owns  # the transaction is this writer's own (Staging.writer): it ends with it
        self._finished = False

    @property
    def first(self) -> frozenset[NamedNode] | None:
        """The predicates whose lines the transaction's mirror takes as they are when they come first in a batch
        (:meth:`NQuads.of`); ``None``: no mirror."""
        return self.tx.mirror.predicates if self.tx.mirror is not None else None

    def add(self, quads: Writable) -> None:
        batch = quads if isinstance(quads, NQuads) else NQuads.of(list(quads), self.first)
        self.buffer.append(batch)
        self.buffered += batch.count
        if self._journal is not None and self.buffered >= (JOURNALED_BATCH if self.journaled else self._journal.limit):
            self._spill()

    def _take(self) -> NQuads:
        """What was added, as one batch: with the lines of one set of predicates first when every part had them
        first (:attr:`NQuads.split_key`)."""
        parts, self.buffer, count, self.buffered = self.buffer, [], self.buffered, 0
        if len(parts) == 1:  # as it came (no copy)
            return parts[0]
        keys = {b.split_key if b.split >= 0 else "" for b in parts}
        checked = all(b.checked for b in parts)
        if len(keys) != 1 or "" in keys:
            return NQuads(b"".join(b.data for b in parts), count, checked=checked)
        head = b"".join(b.data[:b.split] for b in parts)
        return NQuads(head + b"".join(b.data[b.split:] for b in parts), count, len(head), keys.pop(), checked)

    def _spill(self) -> None:
        assert self._journal is not None
        try:
            if not self.journaled:
                self._existed = self.tx.store.has_graph(self.graph)
                self._journal.begin(self.graph)
                self.journaled = True
                if self.tx.mirror is not None:
                    self.tx.mirror.cleared(self.graph)
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="budgetkg-writer")
        except OSError as exc:
            raise StoreError(f"writing graph {self.graph.value} failed: {exc}") from None
        batch = self._take()
        self.count += batch.count
        self._wait()  # one batch in flight at a time: memory stays bounded
        assert self._thread is not None
        self._pending = self._thread.submit(self._load, batch)

    def _load(self, batch: NQuads) -> None:
        """Write ``batch`` (in the background thread), and tell the transaction's mirror."""
        assert self._journal is not None
        self._journal.load(batch)
        if self.tx.mirror is not None:
            self.tx.mirror.appended(self.graph, batch)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except OSError as exc:
                raise StoreError(f"writing graph {self.graph.value} failed: {exc}") from None

    def commit(self) -> int:
        """Finish: the graph holds exactly what was added (at the transaction's commit). Returns the number of quads."""
        if self._finished:
            return self.count
        try:
            if not self.journaled:
                batch = self._take()
                graph = self.graph
                self.tx.replace(graph, lambda target: batch if target == graph else
                                [Quad(q.subject, q.predicate, q.object, target) for q in batch.quads()])
                self.count += batch.count
            else:
                if self.buffer:
                    self._spill()
                self._wait()
                assert self._journal is not None
                try:
                    self._journal.end(self.graph)
                except OSError as exc:
                    raise StoreError(f"writing graph {self.graph.value} failed: {exc}") from None
                if not self._existed:
                    self.tx.created.append(self.graph)  # new: a rollback removes it
        except BaseException:
            self.abort()
            raise
        self._close()
        if self._owns:
            self.tx.commit()
            self.tx._hold.close()
        return self.count

    def abort(self) -> None:
        """Give up: nothing of what was added stays (the graph's old content too, once journaled)."""
        if self._finished:
            return
        self.buffer, self.buffered = [], 0
        try:
            with contextlib.suppress(BudgetKGError):
                self._wait()
            if self.journaled:
                assert self._journal is not None
                self._journal.abort(self.graph)
                if self.tx.mirror is not None:
                    self.tx.mirror.removed(self.graph)
        finally:
            self._close()
            if self._owns:
                try:
                    self.tx.rollback()
                finally:
                    self.tx._hold.close()

    def _close(self) -> None:
        self._finished = True
        if self in self.tx.writers:
            self.tx.writers.remove(self)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    def __enter__(self) -> GraphWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


@contextlib.contextmanager
def joined(store: Any, tx: Transaction | None) -> Iterator[Transaction]:
    """The caller's transaction when it passes one (committing it is the caller's part), else one of ``store``'s own.

    How a function that writes a derived graph takes part in a larger write (a build)::

        def refresh_agencies(store, ..., tx=None):
            with joined(store, tx) as t:
                t.replace(graph, make)
    """
    if tx is not None:
        yield tx
        return
    with store.transaction() as own:
        yield own


P = ParamSpec("P")
R = TypeVar("R")


def one_generation(fn: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """Decorate a function whose first argument is a store: all it writes is one generation.

    >>> from kg.store import EmbeddedStore
    >>> from pyoxigraph import Literal
    >>> @one_generation
    ... def two_writes(store):
    ...     g = NamedNode("http://e/g")
    ...     with store.transaction() as tx:
    ...         tx.replace(g, [Quad(NamedNode("http://e/s"), NamedNode("http://e/p"), Literal("1"), g)])
    ...     with store.transaction() as tx:
    ...         tx.remove(g)
    >>> s = EmbeddedStore(None)
    >>> two_writes(s); s.generation
    1
    """
    import functools

    @functools.wraps(fn)
    def wrapper(store: Any, *args: P.args, **kwargs: P.kwargs) -> R:
        with store.batch():
            return fn(store, *args, **kwargs)

    return wrapper
