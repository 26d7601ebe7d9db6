"""Build the knowledge graph: ingest (parse → convert → check) → write → derived steps.

A build is a pipeline. Its first two stages are here: every document is *ingested* (parsed,
converted to quads and checked, in worker processes for a large build) and its graph *written*.
Then come the registered :class:`Step` objects (agencies, links, findings, the search index: see
:mod:`kg.pipeline`, which composes them), in the order given. This module knows no analysis: a
step adds what it needs of each document in the ingest stage (:meth:`Step.prepare`, run where the
document is parsed), sees each document as it is written (:meth:`Step.document`), and derives its
graphs once every document is in (:meth:`Step.run`).

A build is all-or-nothing for every error budgetkg can see; it is one
:class:`~kg.store.Transaction`. Each document is parsed, converted and checked before anything
it replaces is touched. Documents new to the store are written straight into their graph (one
transaction each); documents already in it are staged outside the database and swapped in, each
by one transaction, only after every document has passed. On an error the graphs this build
created are removed and what it staged is dropped, so the store keeps its previous state. A
crash (power loss, SIGKILL) can stop a build between documents, but each document graph always
holds either its previous or its new complete content, and nothing of the build is left for a
reader to see. A document larger than ``Settings.max_document_mb`` is refused before anything is
read.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyoxigraph import NamedNode, Quad, QuerySolutions

from . import integrity, revisions
from .errors import DocumentTooLarge, StoreError
from .iris import Iris, is_staging
from .model import ParsedDocument, ParseWarning, SourceEntry
from .namespaces import sparql_prefixes
from .ontology import ONTOLOGY_GRAPH, ontology_quads
from .parse import line_count, read_document
from .rdf import document_quads, project_iris
from .settings import Settings
from .sources import Manifest, sha256_of
from .store import EmbeddedStore, GraphStore, NQuads, Transaction, one_generation
from .store.projection import Projection

Check = Callable[[ParsedDocument, list[Quad]], None]
Progress = Callable[[str, int, int], None]

#: A build of fewer source bytes than this runs in one process (starting workers costs ~1 s).
PARALLEL_MIN_BYTES = 4_000_000


@dataclass
class DocumentReport:
    file: str
    graph: str
    projects: int
    indicators: int
    quads: int
    replaced: bool
    warnings: list[ParseWarning]
    #: Projects of this document that a revising document describes instead.
    superseded: int = 0


@dataclass
class BuildReport:
    documents: list[DocumentReport] = field(default_factory=list)
    ontology_quads: int = 0
    seconds: float = 0.0
    #: Seconds until every document was written (the rest is the derived steps).
    load_seconds: float = 0.0
    #: What the links step wrote (a :class:`kg.links.LinkReport`; None: the build did not link).
    links: Any = None
    #: Data-quality findings recorded by the findings step (None: not run).
    findings: int | None = None
    #: Seconds each derived step took, by step name.
    step_seconds: dict[str, float] = field(default_factory=dict)
    #: Seconds of what follows the steps: freeing the projection, the integrity check of the derived graphs, the
    #: commit, the flush, the steps' finish (the search index).
    final_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> list[ParseWarning]:
        return [w for d in self.documents for w in d.warnings]

    @property
    def quads(self) -> int:
        return sum(d.quads for d in self.documents) + self.ontology_quads

    @property
    def projects(self) -> int:
        return sum(d.projects for d in self.documents)


@dataclass
class BuildContext:
    """What a :class:`Step` works with during one build."""

    store: GraphStore
    settings: Settings
    iris: Iris
    manifest: Manifest | None
    report: BuildReport
    #: The build's transaction: a step writes its graphs through it.
    tx: Transaction
    #: The document graphs this build wrote.
    built: set[NamedNode] = field(default_factory=set)
    #: Per-build state of the steps, by step name (steps themselves are stateless, and picklable).
    state: dict[str, Any] = field(default_factory=dict)
    #: The quads of the predicates the steps read, in memory (:mod:`kg.store.projection`), if the build keeps them.
    projection: Projection | None = None

    def reader(self, step: Step) -> GraphStore:
        """Where ``step`` reads the store: the build's projection when it holds what the step reads
        (:attr:`Step.reads`) and mirrors the store, else the store itself."""
        p = self.projection
        if p is None or not step.reads or not step.reads <= p.predicates or p.stale:
            return self.store
        assert isinstance(self.store, EmbeddedStore)
        store = self.store

        def no_document(graphs: list[NamedNode]) -> bool:  # copying documents the build did not write costs too much
            return not set(graphs) & set(document_graphs(store))

        return p.reader() if p.complete(store, no_document) else store


class Step:
    """One derived step of the build pipeline; every hook does nothing unless overridden.

    A step is a small stateless object (it is sent to the worker processes that call
    :meth:`prepare`); what it keeps during a build lives in ``ctx.state[name]``.
    """

    #: The step's name: the key of what it prepares, of its state and of its timing.
    name = "step"
    #: The step's :meth:`run` only reads the store (it writes nothing through ``ctx.tx``): it may run beside
    #: another such step (:class:`kg.pipeline.Together`).
    reads_only = False
    #: The predicates :meth:`run` reads through ``ctx.reader(self)``, only by SPARQL whose every triple pattern names
    #: one of them (no variable predicate): the build then keeps them in memory for it (:mod:`kg.store.projection`).
    #: What names other predicates, or none, the step asks of ``ctx.store`` itself (the summaries step counts the
    #: property partitions there). Empty: the step reads ``ctx.store`` only.
    reads: frozenset[NamedNode] = frozenset()

    def prepare(self, parsed: ParsedDocument, projects: list[str], iris: Iris) -> Any:
        """What the step needs of one document, made where it is parsed (possibly a worker process).

        ``projects``: the IRIs of the projects the document's graph describes."""
        return None

    def start(self, ctx: BuildContext) -> None:
        """Called before anything is written."""

    def document(self, ctx: BuildContext, entry: SourceEntry, graph: NamedNode, prepared: Any) -> None:
        """Called for each document just before its graph is written, with what :meth:`prepare` made."""

    def run(self, ctx: BuildContext) -> None:
        """Derive the step's graphs, once every document is published (write them through ``ctx.tx``)."""

    def abort(self, ctx: BuildContext) -> None:
        """The build failed: let go of anything the step holds (the store is rolled back by the build)."""

    def finish(self, ctx: BuildContext) -> None:
        """The build committed: make anything the step keeps outside the store current."""


def parse_document(entry: SourceEntry) -> ParsedDocument:
    """Read one manifest entry's file into records (raises :class:`SourceParseError`)."""
    text, records, warnings, _ = read_document(entry.path, entry.file, entry.budget_year)
    if entry.department:
        for rec in records:
            if rec.department_code != entry.department:
                warnings.append(ParseWarning(entry.file, rec.unit_span.start if rec.unit_span else rec.span.start,
                                             "department-mismatch",
                                             f"budget unit {rec.unit_code} is not under department {entry.department} "
                                             "of the manifest"))
    if entry.units:
        known = set(entry.units)
        for rec in records:
            if rec.unit_code not in known:
                warnings.append(ParseWarning(entry.file, rec.unit_span.start if rec.unit_span else rec.span.start,
                                             "unit-not-in-manifest",
                                             f"budget unit {rec.unit_code} is not listed in the manifest entry"))
                known.add(rec.unit_code)
    return ParsedDocument(entry, records, warnings, line_count(text))


def _with_sha(entry: SourceEntry) -> SourceEntry:
    if entry.sha256 is None and Path(entry.path).is_file():
        entry.sha256 = sha256_of(Path(entry.path))
    return entry


#: The cyclic garbage collector's thresholds while a build runs, in the building process and its workers (Python's
#: are 700, 10, 10). A build allocates millions of short-lived objects (terms, quads, rows, link features), nearly
#: all freed by reference counting at once; by default a collection runs every 700 allocations, and every tenth
#: of those and every hundredth walk older objects, up to every object alive. Fewer collections: 10,000 tables
#: built in 66.0 and 66.8 s against 68.9 and 71.5 s with the defaults (the same corpus, runs alternating).
BUILD_GC_THRESHOLDS = (100_000, 50, 50)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with :data:`BUILD_GC_THRESHOLDS`, then put back the thresholds it found."""
    before = gc.get_threshold()
    gc.set_threshold(*BUILD_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@one_generation
@fewer_collections()
def build(store: GraphStore, entries: Iterable[SourceEntry], settings: Settings, *,
          manifest: Manifest | None = None, check: Check | None = None, progress: Progress | None = None,
          with_ontology: bool = True, steps: Sequence[Step] = ()) -> BuildReport:
    """Build ``entries`` into ``store``, then run ``steps``; see the module docstring for what is atomic.

    The steps are the composition root's choice: :func:`kg.pipeline.build` passes the default ones
    (agencies, links, search index)."""
    started = time.perf_counter()
    iris = Iris(settings.base_iri)
    entries = list(entries)
    for entry in entries:  # before anything is read or written
        check_size(entry.path, entry.file, settings.max_document_mb)
    plan = revisions.plan(store, entries, iris, manifest.entries if manifest else ())
    entries = plan.entries
    report = BuildReport()
    steps = list(steps)
    tx = store.transaction()
    ctx = BuildContext(store, settings, iris, manifest, report, tx)
    read = frozenset().union(*(step.reads for step in steps))
    if settings.build_projection and read and isinstance(store, EmbeddedStore) and store.path is not None:
        ctx.projection = tx.mirror = Projection(read)
    try:
        with tx:
            for step in steps:
                step.start(ctx)
            if with_ontology:
                report.ontology_quads = _write_ontology(store, tx, settings)
            _write_documents(ctx, plan, entries, check, steps, progress)
            tx.publish()  # the documents are in: the derived steps read them
            report.load_seconds = time.perf_counter() - started
            for step in steps:
                t0 = time.perf_counter()
                step.run(ctx)
                tx.publish()
                report.step_seconds[step.name] = round(time.perf_counter() - t0, 3)
            clock = _Clock(report.final_seconds)
            _drop_projection(ctx)
            clock("projection")
            # Document graphs were checked before they were written (plan.claim, convert); the other
            # published graphs (ontology, agencies, links, findings, contracts) are checked here.
            # A document whose projects a revision supersedes also states prov:wasRevisionOf of them: it is
            # compared with the rest like a derived graph (rare, and small).
            documents = set(document_graphs(store))
            revised = {NamedNode(d.graph) for d in report.documents if d.superseded}
            integrity.check(store, [g for g in store.graphs() if g not in documents or g in revised])
            clock("integrity")
        clock("commit")
    except BaseException as exc:
        _drop_projection(ctx)
        for step in steps:
            with contextlib.suppress(Exception):
                step.abort(ctx)
        if isinstance(exc, OSError):
            raise StoreError(f"store write failed: {exc}") from None
        raise
    store.flush()
    clock("flush")
    for step in steps:
        step.finish(ctx)
    clock("finish")
    report.seconds = time.perf_counter() - started
    return report


class _Clock:
    """Records into ``into`` the seconds since it was made, or since it last recorded, under a name."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into, self.last = into, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = round(now - self.last, 3)
        self.last = now


def _drop_projection(ctx: BuildContext) -> None:
    """The steps have run (or the build failed): free the projection's memory."""
    if ctx.projection is not None:
        ctx.tx.mirror = None
        ctx.projection.close()
        ctx.projection = None


def _write_ontology(store: GraphStore, tx: Transaction, settings: Settings) -> int:
    """Write the ontology graph when it is new or changed; returns its size."""
    graph = ONTOLOGY_GRAPH
    quads = ontology_quads(settings, graph)
    if store.has_graph(graph) and store.dump_sorted_nquads(graph) == _sorted_nquads(quads):
        return len(quads)
    # changed: it has blank nodes, so it is staged in the database and moved (see kg.store.embedded)
    tx.replace(graph, lambda target: quads if target == graph else ontology_quads(settings, target))
    return len(quads)


def _write_documents(ctx: BuildContext, plan: revisions.Plan, entries: list[SourceEntry], check: Check | None,
                     steps: list[Step], progress: Progress | None) -> None:
    """Ingest and write every document, wave after wave (a revising document after what it revises)."""
    store, tx, iris, report = ctx.store, ctx.tx, ctx.iris, ctx.report
    n = workers(ctx.settings, entries)
    for wave in plan.waves:
        jobs = []
        for entry in wave:
            graph = iris.graph(entry.file)
            ctx.built.add(graph)
            jobs.append((entry, graph, tx.target(graph), plan.superseded(store, entry.file)))
        first = ctx.projection.predicates if ctx.projection is not None else None
        for entry, graph, target, done in _convert_all(jobs, iris, check, n, steps, first):
            plan.claim(store, entry.file, done.projects)  # before anything of it is written
            for step in steps:  # before the graph: a crash leaves what a step keeps outside the store pending
                step.document(ctx, entry, graph, done.prepared.get(step.name))
            tx.replace(graph, done.quads, target=target)
            report.documents.append(DocumentReport(entry.file, graph.value, len(done.projects),
                                                   done.indicators, len(done.quads), target != graph,
                                                   done.warnings, done.superseded))
            if progress:
                progress(entry.file, len(report.documents), len(entries))


def check_size(path: str | Path, name: str, limit_mb: int) -> None:
    """Refuse a document larger than ``limit_mb`` (``BUDGETKG_MAX_DOCUMENT_MB``; 0: no limit) before reading it."""
    if limit_mb <= 0:
        return
    with contextlib.suppress(OSError):  # parse_document reports a missing file, with its name
        size = os.path.getsize(path)
        if size > limit_mb * 1048576:
            raise DocumentTooLarge(name, size, limit_mb)


def _sorted_nquads(quads: list[Quad]) -> bytes:
    scratch = EmbeddedStore(None)
    with scratch.transaction() as tx:
        for graph in {q.graph_name for q in quads if isinstance(q.graph_name, NamedNode)}:
            tx.replace(graph, [q for q in quads if q.graph_name == graph])
    return scratch.dump_sorted_nquads()


def workers(settings: Settings, entries: list[SourceEntry]) -> int:
    """How many processes convert documents: ``settings.workers``, or (0) one per CPU for a large build."""
    if settings.workers > 0:
        return min(settings.workers, max(1, len(entries)))
    size = 0
    for entry in entries:
        with contextlib.suppress(OSError):  # parse_document reports a missing file, with its name
            size += os.path.getsize(entry.path)
    if size < PARALLEL_MIN_BYTES or len(entries) < 2:
        return 1
    return max(1, min(os.cpu_count() or 1, len(entries)))


@dataclass
class Converted:
    """One document, parsed, converted and checked: what the writer needs of it."""

    quads: list[Quad] | NQuads
    #: The projects it describes: (IRI, first line, name).
    projects: list[tuple[str, int, str]]
    indicators: int
    warnings: list[ParseWarning]
    #: How many of its projects a revising document describes instead.
    superseded: int = 0
    #: What each step prepared of it (:meth:`Step.prepare`), by step name.
    prepared: dict[str, Any] = field(default_factory=dict)


def convert(entry: SourceEntry, iris: Iris, target: NamedNode, check: Check | None,
            superseded: dict[str, str] | None = None) -> tuple[ParsedDocument, list[Quad]]:
    """Parse ``entry``'s file and convert it to quads in ``target``, checked (raises before any write).

    ``superseded``: projects (IRI → revising document) that this document does not describe.
    """
    parsed = parse_document(_with_sha(entry))
    parsed.superseded = dict(superseded or {})
    quads = document_quads(parsed, iris, graph=target)
    owned = [iris.document(entry.file).value, *(p.value for p in project_iris(parsed, iris))]
    foreign = integrity.foreign_subjects(quads, owned)
    if foreign:  # a converter defect: such a triple could repeat one of another graph
        raise StoreError(f"{entry.file}: the converter described {', '.join(foreign)}, which the document does "
                         "not own; nothing was written")
    if check is not None:
        check(parsed, quads)
    return parsed, quads


def _converted(parsed: ParsedDocument, quads: list[Quad] | NQuads, iris: Iris, steps: Sequence[Step]) -> Converted:
    nodes = project_iris(parsed, iris)
    kept = [(rec, node) for rec, node in zip(parsed.records, nodes, strict=True)
            if node.value not in parsed.superseded]
    projects = [(node.value, rec.span.start, rec.name) for rec, node in kept]
    prepared = {}
    for step in steps:
        made = step.prepare(parsed, [p[0] for p in projects], iris)
        if made is not None:
            prepared[step.name] = made
    return Converted(quads, projects, sum(len(rec.indicators) for rec, _ in kept), parsed.warnings,
                     len(parsed.records) - len(kept), prepared)


Job = tuple[SourceEntry, NamedNode, NamedNode, dict[str, str]]


def _convert_all(jobs: list[Job], iris: Iris, check: Check | None, n: int, steps: Sequence[Step] = (),
                 first: frozenset[NamedNode] | None = None
                 ) -> Iterator[tuple[SourceEntry, NamedNode, NamedNode, Converted]]:
    """Each job converted, in order: here, or by ``n`` worker processes a few documents ahead of the writer.

    ``first``: the predicates whose quads the workers serialize first (the build's projection keeps them)."""
    if n <= 1:
        for entry, graph, target, superseded in jobs:
            parsed, quads = convert(entry, iris, target, check, superseded)
            yield entry, graph, target, _converted(parsed, quads, iris, steps)
        return
    context = multiprocessing.get_context("forkserver")  # never fork a process that has the store open
    with ProcessPoolExecutor(n, mp_context=context, initializer=_worker_init,
                             initargs=(iris.base, check, tuple(steps), first)) as pool:
        pending: deque[tuple[Job, Future[Converted]]] = deque()
        queue = iter(jobs)
        try:
            for job in queue:
                pending.append((job, pool.submit(_worker_convert, job[0], job[2], job[3])))
                if len(pending) >= 2 * n:
                    break
            while pending:
                (entry, graph, target, _), future = pending.popleft()
                try:
                    done = future.result()
                except BrokenExecutor:
                    raise StoreError(f"the worker process converting {entry.file} stopped unexpectedly "
                                     "(out of memory?)") from None
                following = next(queue, None)
                if following is not None:
                    pending.append((following, pool.submit(_worker_convert, following[0], following[2],
                                                           following[3])))
                yield entry, graph, target, done
        finally:
            for _, future in pending:
                future.cancel()


_WORKER: tuple[Iris, Check | None, tuple[Step, ...], frozenset[NamedNode] | None] | None = None


def _worker_init(base_iri: str, check: Check | None, steps: tuple[Step, ...],
                 first: frozenset[NamedNode] | None = None) -> None:
    global _WORKER  # one per worker process, set once by the pool
    _WORKER = (Iris(base_iri), check, steps, first)
    gc.set_threshold(*BUILD_GC_THRESHOLDS)  # the process only converts documents


def _worker_convert(entry: SourceEntry, target: NamedNode, superseded: dict[str, str]) -> Converted:
    assert _WORKER is not None
    iris, check, steps, first = _WORKER
    parsed, quads = convert(entry, iris, target, check, superseded)
    return _converted(parsed, NQuads.of(quads, first), iris, steps)


_DOCUMENT_GRAPHS = sparql_prefixes(["bk"]) + "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?doc a bk:SourceDocument } }"


def document_graphs(store: GraphStore) -> list[NamedNode]:
    """The graphs that hold a source document (staging graphs aside)."""
    result = store.query(_DOCUMENT_GRAPHS, name="documents")
    assert isinstance(result, QuerySolutions)
    return [g for s in result if isinstance(g := s["g"], NamedNode) and not is_staging(g)]
