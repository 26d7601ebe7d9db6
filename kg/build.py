"""Build the knowledge graph: manifest entries → parse → quads → check → store.

A build is all-or-nothing for every error budgetkg can see: each document is parsed,
converted and checked before anything it replaces is touched. Large builds parse, convert and
check documents in worker processes (``Settings.workers``), which hand back N-Quads that the
one writing process loads; the store ends up the same either way. Documents new to the store are
written straight into their graph (one transaction each); documents already in it are staged
outside the database (:meth:`kg.store.KGStore.stage`) and swapped in, each by one transaction, only
after every document has passed. On an error the graphs this build created are removed and what it
staged is dropped, so the store keeps its previous state. A crash (power loss, SIGKILL) can stop a
build between documents, but each document graph always holds either its previous or its new
complete content, and nothing of the build is left for a reader to see. A document larger than
``Settings.max_document_mb`` is refused before anything is read.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import NamedNode, Quad

from . import integrity, revisions, search
from .errors import BudgetKGError, DocumentTooLarge, StoreError
from .iris import Iris
from .links import DocumentLinks, LinkInputs, LinkReport, document_links, refresh_links
from .model import ParsedDocument, ParseWarning, SourceEntry
from .ontology import ONTOLOGY_GRAPH, ontology_quads
from .parse import line_count, read_document
from .rdf import agency_quads, document_quads, project_iris
from .settings import Settings
from .sources import Manifest, sha256_of
from .store import STAGING_PREFIX, KGStore, NQuads, Writable, one_generation

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
    #: Seconds until every document was written (the rest is agencies and links).
    load_seconds: float = 0.0
    links: LinkReport | None = None

    @property
    def warnings(self) -> list[ParseWarning]:
        return [w for d in self.documents for w in d.warnings]

    @property
    def quads(self) -> int:
        return sum(d.quads for d in self.documents) + self.ontology_quads

    @property
    def projects(self) -> int:
        return sum(d.projects for d in self.documents)


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


@one_generation
def build(store: KGStore, entries: Iterable[SourceEntry], settings: Settings, *,
          manifest: Manifest | None = None, check: Check | None = None, progress: Progress | None = None,
          with_ontology: bool = True, links: bool = True) -> BuildReport:
    """Build ``entries`` into ``store``; see the module docstring for what is atomic."""
    started = time.perf_counter()
    iris = Iris(settings.base_iri)
    entries = list(entries)
    for entry in entries:  # before anything is read or written
        check_size(entry.path, entry.file, settings.max_document_mb)
    plan = revisions.plan(store, entries, iris, manifest.entries if manifest else ())
    entries = plan.entries
    report = BuildReport()
    created: list[NamedNode] = []
    staged: list[tuple[NamedNode, NamedNode]] = []
    indexer = search.Indexer(store, settings)  # search index rows: pending per document, current at the end
    try:
        if with_ontology:
            graph = ONTOLOGY_GRAPH
            quads = ontology_quads(settings, graph)
            report.ontology_quads = len(quads)
            if not store.has_graph(graph):
                _write(store, graph, graph, quads, created, staged)
            elif store.dump_sorted_nquads(graph) != _sorted_nquads(quads):
                # changed: it has blank nodes, so it is staged in the database and moved (see kg.store)
                target = store.staging_graph()
                _write(store, graph, target, ontology_quads(settings, target), created, staged)
        inputs = LinkInputs() if links else None
        built: set[NamedNode] = set()
        n = workers(settings, entries)
        for wave in plan.waves:
            jobs = []
            for entry in wave:
                graph = iris.graph(entry.file)
                built.add(graph)
                jobs.append((entry, graph, store.staging_graph() if store.has_graph(graph) else graph,
                             plan.superseded(store, entry.file)))
            for entry, graph, target, done in _convert_all(jobs, iris, check, n, links):
                plan.claim(store, entry.file, done.projects)  # before anything of it is written
                indexer.add(entry, graph, done.index_rows)  # before the graph: a crash leaves it pending
                _write(store, graph, target, done.quads, created, staged)
                if inputs is not None and done.links is not None:
                    inputs.add_document(done.links)
                report.documents.append(DocumentReport(entry.file, graph.value, len(done.projects),
                                                       done.indicators, len(done.quads), target != graph,
                                                       done.warnings, done.superseded))
                if progress:
                    progress(entry.file, len(report.documents), len(entries))
        for graph, staging in staged:
            store.swap(graph, staging)
        staged = []
        report.load_seconds = time.perf_counter() - started
        refresh_agencies(store, iris, manifest)
        if inputs is not None:
            # what was just parsed is all there is to link unless the store holds other documents
            complete = all(g in built for g in document_graphs(store))
            report.links = refresh_links(store, settings, inputs=inputs if complete else None)
        # Document graphs were checked before they were written (plan.claim, convert); the other
        # published graphs (ontology, agencies, links, findings, contracts) are checked here.
        # A document whose projects a revision supersedes also states prov:wasRevisionOf of them: it is
        # compared with the rest like a derived graph (rare, and small).
        documents = set(document_graphs(store))
        revised = {NamedNode(d.graph) for d in report.documents if d.superseded}
        integrity.check(store, [g for g in store.graphs() if g not in documents or g in revised])
    except (BudgetKGError, OSError) as exc:
        indexer.close()
        for graph in created:
            store.remove_graph(graph)
        for _, staging in staged:
            store.remove_graph(staging)
        if isinstance(exc, OSError):
            raise StoreError(f"store write failed: {exc}") from None
        raise
    store.flush()
    indexer.commit()
    report.seconds = time.perf_counter() - started
    return report


def check_size(path: str | Path, name: str, limit_mb: int) -> None:
    """Refuse a document larger than ``limit_mb`` (``BUDGETKG_MAX_DOCUMENT_MB``; 0: no limit) before reading it."""
    if limit_mb <= 0:
        return
    with contextlib.suppress(OSError):  # parse_document reports a missing file, with its name
        size = os.path.getsize(path)
        if size > limit_mb * 1048576:
            raise DocumentTooLarge(name, size, limit_mb)


def _sorted_nquads(quads: list[Quad]) -> bytes:
    store = KGStore(None)
    store.store.extend(quads)
    return store.dump_sorted_nquads()


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

    quads: Writable
    #: The projects it describes: (IRI, first line, name).
    projects: list[tuple[str, int, str]]
    indicators: int
    warnings: list[ParseWarning]
    #: What linking needs of the document (when the build links).
    links: DocumentLinks | None = None
    #: How many of its projects a revising document describes instead.
    superseded: int = 0
    #: What the search index keeps of its projects (made here, in the worker: see kg.search.Indexer).
    index_rows: search.Prepared | None = None


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


def _converted(parsed: ParsedDocument, quads: Writable, iris: Iris, links: bool) -> Converted:
    projects = [(node.value, rec.span.start, rec.name)
                for rec, node in zip(parsed.records, project_iris(parsed, iris), strict=True)
                if node.value not in parsed.superseded]
    kept = [rec for rec, node in zip(parsed.records, project_iris(parsed, iris), strict=True)
            if node.value not in parsed.superseded]
    return Converted(quads, projects, sum(len(r.indicators) for r in kept), parsed.warnings,
                     document_links(parsed, iris) if links else None, len(parsed.records) - len(kept),
                     search.prepare(parsed, [p[0] for p in projects], iris))


Job = tuple[SourceEntry, NamedNode, NamedNode, dict[str, str]]


def _convert_all(jobs: list[Job], iris: Iris, check: Check | None, n: int, links: bool = False
                 ) -> Iterator[tuple[SourceEntry, NamedNode, NamedNode, Converted]]:
    """Each job converted, in order: here, or by ``n`` worker processes a few documents ahead of the writer."""
    if n <= 1:
        for entry, graph, target, superseded in jobs:
            parsed, quads = convert(entry, iris, target, check, superseded)
            yield entry, graph, target, _converted(parsed, quads, iris, links)
        return
    context = multiprocessing.get_context("forkserver")  # never fork a process that has the store open
    with ProcessPoolExecutor(n, mp_context=context, initializer=_worker_init,
                             initargs=(iris.base, check, links)) as pool:
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
                job = next(queue, None)
                if job is not None:
                    pending.append((job, pool.submit(_worker_convert, job[0], job[2], job[3])))
                yield entry, graph, target, done
        finally:
            for _, future in pending:
                future.cancel()


_WORKER: tuple[Iris, Check | None, bool] | None = None


def _worker_init(base_iri: str, check: Check | None, links: bool) -> None:
    global _WORKER  # one per worker process, set once by the pool
    _WORKER = (Iris(base_iri), check, links)


def _worker_convert(entry: SourceEntry, target: NamedNode, superseded: dict[str, str]) -> Converted:
    assert _WORKER is not None
    iris, check, links = _WORKER
    parsed, quads = convert(entry, iris, target, check, superseded)
    return _converted(parsed, NQuads.of(quads), iris, links)


def _write(store: KGStore, graph: NamedNode, target: NamedNode, quads: Writable,
           created: list[NamedNode], staged: list[tuple[NamedNode, NamedNode]]) -> None:
    if target == graph:
        store.write_new(graph, quads)
        created.append(graph)
    else:
        store.stage(quads)
        staged.append((graph, target))


_UNITS = """
PREFIX bk: <https://budgetkg.example.org/def/>
PREFIX prov: <http://www.w3.org/ns/prov#>
SELECT DISTINCT ?code ?name ?doc WHERE {
  { ?p bk:budgetUnitCode ?code ; prov:wasDerivedFrom ?doc . OPTIONAL { ?p bk:budgetUnitName ?name } }
  UNION
  { ?p bk:supervisingDepartment ?d ; prov:wasDerivedFrom ?doc .
    BIND(REPLACE(STR(?d), "^.*/", "") AS ?code) OPTIONAL { ?p bk:supervisingDepartmentName ?name } }
}
"""


_DOCUMENT_GRAPHS = """
PREFIX bk: <https://budgetkg.example.org/def/>
SELECT DISTINCT ?g WHERE { GRAPH ?g { ?doc a bk:SourceDocument } }
"""


def document_graphs(store: KGStore) -> list[NamedNode]:
    """The graphs that hold a source document (staging graphs aside)."""
    return [s["g"] for s in store.query(_DOCUMENT_GRAPHS, name="documents")  # type: ignore[union-attr]
            if not s["g"].value.startswith(STAGING_PREFIX)]


def refresh_agencies(store: KGStore, iris: Iris, manifest: Manifest | None) -> int:
    """Rewrite the agencies graph from what the published document graphs say (atomically)."""
    graph = iris.agencies_graph
    rows = [(s["code"].value, s["name"].value if s["name"] is not None else None, s["doc"].value)
            for s in store.query(_UNITS, name="agencies")  # type: ignore[union-attr]
            if s["code"] is not None]
    departments = {c: d.name for c, d in manifest.departments.items()} if manifest else {}
    if not rows:
        store.remove_graph(graph)
        return 0
    return store.replace(graph, lambda target: agency_quads(rows, departments, iris, target))
