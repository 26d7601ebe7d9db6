"""The build pipeline, composed: which derived steps run after the documents are written, in what order.

:func:`kg.build.build` ingests and writes documents and then runs the :class:`~kg.build.Step`
objects it is given; it imports no analysis. This module is where the analyses join it: each
derived step is a small object with a name, and :func:`default_steps` is the one list of them::

    ingest (parse → convert → check) → write (document graphs)
        → agencies → links → [findings] → analytics (and kept answers) → summaries → (facet table ∥ answer table)
        → search index

The facet and answer tables only read the store, so on an embedded store they are read side by side, one thread
each (:class:`Together`): pyoxigraph evaluates a query without Python's lock, and the machine's second core works.

The agencies, analytics, facets and answers steps declare the predicates they read (:attr:`~kg.build.Step.reads`:
:data:`AGENCY_READS`, ``kg.analytics.READS``, ``kg.facets.READS``, ``kg.answers.READS``). An on-disk build keeps the
quads of those predicates in memory as it writes them (:mod:`kg.store.projection`), and these steps read that
projection (``ctx.reader(step)``), where the same queries answer 3–5 times faster than over RocksDB. A build of some
documents of a larger store, or one whose writes the projection cannot follow, has them read the store itself.

:func:`build` is the caller-facing build: ``build(store, entries, settings)`` runs the default
steps (agencies and links; the search index of an on-disk store), as it always has; the command
line adds the findings step for ``budgetkg build --audit``.

A step writes its graphs through the build's transaction (``ctx.tx``), and the build publishes
after each step, so a step reads what the steps before it wrote.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pyoxigraph import Literal, NamedNode

from . import analytics, answers, facets, kept, search, summaries
from .audit import refresh_findings
from .build import BuildContext, BuildReport, Check, Progress, Step, document_graphs
from .build import build as build_documents
from .iris import Iris
from .links import DocumentLinks, LinkInputs, document_links, refresh_links
from .model import ParsedDocument, SourceEntry
from .namespaces import BK, PROV, sparql_prefixes
from .rdf import agency_quads
from .settings import Settings
from .sources import Manifest
from .store import EmbeddedStore, GraphStore, Transaction, joined, solutions

_UNITS = sparql_prefixes(["bk", "prov"]) + """
SELECT DISTINCT ?code ?name ?doc WHERE {
  { ?p bk:budgetUnitCode ?code ; prov:wasDerivedFrom ?doc . OPTIONAL { ?p bk:budgetUnitName ?name } }
  UNION
  { ?p bk:supervisingDepartment ?d ; prov:wasDerivedFrom ?doc .
    BIND(REPLACE(STR(?d), "^.*/", "") AS ?code) OPTIONAL { ?p bk:supervisingDepartmentName ?name } }
}
"""

#: What :data:`_UNITS` reads (the agencies step reads it from the build's projection, :mod:`kg.store.projection`).
AGENCY_READS = frozenset({BK.budgetUnitCode, BK.budgetUnitName, BK.supervisingDepartment,
                          BK.supervisingDepartmentName, PROV.wasDerivedFrom})


def refresh_agencies(store: GraphStore, iris: Iris, manifest: Manifest | None, tx: Transaction | None = None) -> int:
    """Rewrite the agencies graph from what the published document graphs say (atomically); returns its size.

    ``tx``: the caller's transaction (a build's); by default the agencies graph is one of its own.
    """
    graph = iris.agencies_graph
    rows: list[tuple[str, str | None, str]] = []
    for s in solutions(store.query(_UNITS, name="agencies"), "agencies"):
        code, name, doc = s["code"], s["name"], s["doc"]
        if isinstance(code, Literal) and isinstance(doc, NamedNode):
            rows.append((code.value, name.value if isinstance(name, Literal) else None, doc.value))
    departments = {c: d.name for c, d in manifest.departments.items()} if manifest else {}
    with joined(store, tx) as t:
        if not rows:
            t.remove(graph)
            return 0
        return t.replace(graph, lambda target: agency_quads(rows, departments, iris, target))


@dataclass(frozen=True)
class AgenciesStep(Step):
    """The agencies graph (budget units and departments, with their names), from the documents."""

    name = "agencies"
    reads = AGENCY_READS

    def run(self, ctx: BuildContext) -> None:
        refresh_agencies(ctx.reader(self), ctx.iris, ctx.manifest, ctx.tx)


@dataclass(frozen=True)
class LinksStep(Step):
    """The links graph (:func:`kg.links.refresh_links`), from what each document's conversion prepared."""

    name = "links"

    def prepare(self, parsed: ParsedDocument, projects: list[str], iris: Iris) -> DocumentLinks:
        return document_links(parsed, iris)

    def start(self, ctx: BuildContext) -> None:
        ctx.state[self.name] = LinkInputs()

    def document(self, ctx: BuildContext, entry: SourceEntry, graph: NamedNode, prepared: Any) -> None:
        if isinstance(prepared, DocumentLinks):
            ctx.state[self.name].add_document(prepared)

    def run(self, ctx: BuildContext) -> None:
        # what was just parsed is all there is to link unless the store holds other documents
        complete = all(g in ctx.built for g in document_graphs(ctx.store))
        inputs = ctx.state.pop(self.name)  # not kept past this step: at 100k they hold gigabytes
        ctx.report.links = refresh_links(ctx.store, ctx.settings, inputs=inputs if complete else None,
                                         tx=ctx.tx)


@dataclass(frozen=True)
class FindingsStep(Step):
    """The findings graph: the data-quality rules run over the built store (``budgetkg build --audit``)."""

    name = "findings"

    def run(self, ctx: BuildContext) -> None:
        ctx.report.findings = refresh_findings(ctx.store, ctx.settings, tx=ctx.tx)


@dataclass(frozen=True)
class SearchIndexStep(Step):
    """The full-text search index beside an on-disk store (:class:`kg.search.Indexer`), kept per document.

    A document's rows are made where it is parsed, written as pending before its graph, and made
    current once the build has committed; a failed build leaves them pending, and the next search
    resolves them against the store.
    """

    name = "search"

    def prepare(self, parsed: ParsedDocument, projects: list[str], iris: Iris) -> search.Prepared:
        return search.prepare(parsed, projects, iris)

    def start(self, ctx: BuildContext) -> None:
        ctx.state[self.name] = search.Indexer(ctx.store, ctx.settings)

    def document(self, ctx: BuildContext, entry: SourceEntry, graph: NamedNode, prepared: Any) -> None:
        ctx.state[self.name].add(entry, graph, prepared)

    def abort(self, ctx: BuildContext) -> None:
        indexer = ctx.state.get(self.name)
        if indexer is not None:
            indexer.close()

    def finish(self, ctx: BuildContext) -> None:
        ctx.state[self.name].commit()


class _Table(Protocol):
    generation: int


_T = TypeVar("_T", bound=_Table)


def _publish_table(ctx: BuildContext, step: str, kind: type[_T], file_for: Callable[[GraphStore, int], Path | None],
                   save: Callable[[_T, Path], None]) -> None:
    """Write the table ``step`` read (``ctx.state``), if any, beside the store for the generation the build
    publishes: the next one, when the build's block ends (a step's ``finish`` runs once the build has committed)."""
    table = ctx.state.get(step)
    generation = ctx.store.generation + 1
    path = file_for(ctx.store, generation)
    if isinstance(table, kind) and path is not None:
        table.generation = generation
        save(table, path)


@dataclass(frozen=True)
class AnalyticsStep(Step):
    """The analytics graph (:mod:`kg.analytics`): the budget cube the named queries' fast forms read, and beside
    an on-disk store the same answers as columns (:mod:`kg.kept`), from the solutions the graph is written from.

    The kept answers are written, like the answer table, for the generation the build publishes once the build has
    committed; a store in memory keeps none (the fast forms' texts answer).
    """

    name = "analytics"
    reads = analytics.READS

    def run(self, ctx: BuildContext) -> None:
        keep = kept.file_for(ctx.store, 0) is not None and not ctx.store.read_only
        reader = ctx.reader(self)
        solved = analytics.solve(reader, ctx.settings.queries_dir, projects=keep)
        analytics.refresh(reader, ctx.iris, ctx.settings.queries_dir, ctx.tx, solved)
        if keep:
            smallest = dict(solved.facts.get("agencies_by_shared_goals", [])).get(BK.smallestScore)
            ctx.state[self.name] = kept.of(solved.wholes, smallest)

    def finish(self, ctx: BuildContext) -> None:
        _publish_table(ctx, self.name, kept.KeptTable, kept.file_for, kept.save)


@dataclass(frozen=True)
class SummariesStep(Step):
    """The summaries graph (:mod:`kg.summaries`): VoID partitions and the totals of ``budgetkg stats``.

    Last of the steps that write the store, so it counts what they wrote; once the build has committed
    it stamps the generation the build publishes (the build is one generation), which is what tells a
    reader the summary is current (:func:`kg.summaries.read`).
    """

    name = "summaries"
    reads = summaries.READS  # the property partitions, which name every predicate, are counted in the store itself

    def run(self, ctx: BuildContext) -> None:
        summaries.refresh(ctx.store, ctx.iris, ctx.tx, reader=ctx.reader(self))

    def finish(self, ctx: BuildContext) -> None:
        summaries.stamp(ctx.store)


@dataclass(frozen=True)
class FacetsStep(Step):
    """The facet table (:mod:`kg.facets`) beside an on-disk store, so the portal's workers load it rather
    than read it from the store (seconds at 10,000 tables).

    Read once every step that writes the store has run (so after the summaries); written, for the
    generation the build publishes, once the build has committed (as :func:`kg.summaries.stamp`). A store in
    memory, or a table that cannot be counted exactly, keeps none: the workers read the store themselves.
    """

    name = "facets"
    reads_only = True
    reads = facets.READS

    def run(self, ctx: BuildContext) -> None:
        if facets.file_for(ctx.store, 0) is not None and not ctx.store.read_only:
            with contextlib.suppress(facets.Unsupported):  # the workers then count with SPARQL
                ctx.state[self.name] = facets.read(ctx.reader(self))

    def finish(self, ctx: BuildContext) -> None:
        _publish_table(ctx, self.name, facets.FacetTable, facets.file_for, facets.save)


@dataclass(frozen=True)
class AnswersStep(Step):
    """The answer table (:mod:`kg.answers`) beside an on-disk store: the named queries with large answers
    (``projects_by_threshold``, ``projects_by_category``, ``shared_goals_across_agencies``) answer from it instead
    of joining every target or link.

    Read, like the facet table, once every step that writes the store has run; written for the generation the
    build publishes once the build has committed. A store in memory, or data the table cannot answer exactly,
    keeps none: the queries' texts run.
    """

    name = "answers"
    reads_only = True
    reads = answers.READS

    def run(self, ctx: BuildContext) -> None:
        if answers.file_for(ctx.store, 0) is not None and not ctx.store.read_only:
            with contextlib.suppress(answers.Unsupported):  # the queries' texts then answer
                ctx.state[self.name] = answers.read(ctx.reader(self))

    def finish(self, ctx: BuildContext) -> None:
        _publish_table(ctx, self.name, answers.AnswerTable, answers.file_for, answers.save)


@dataclass(frozen=True)
class Together(Step):
    """Steps that only read the store (:attr:`~kg.build.Step.reads_only`), run side by side, one thread each, on an
    embedded store (one after the other on a remote one, whose client is not shared between threads). Their other
    hooks run in order; the build times them as one step (``name``: theirs, joined by ``+``)."""

    steps: tuple[Step, ...]
    name: str = field(init=False)
    reads_only = True

    def __post_init__(self) -> None:
        writers = [s.name for s in self.steps if not s.reads_only]
        if writers:
            raise ValueError(f"steps that write the store cannot run side by side: {', '.join(writers)}")
        object.__setattr__(self, "name", "+".join(s.name for s in self.steps))
        object.__setattr__(self, "reads", frozenset().union(*(s.reads for s in self.steps)))

    def prepare(self, parsed: ParsedDocument, projects: list[str], iris: Iris) -> Any:
        made = {s.name: s.prepare(parsed, projects, iris) for s in self.steps}
        return made if any(v is not None for v in made.values()) else None

    def start(self, ctx: BuildContext) -> None:
        for s in self.steps:
            s.start(ctx)

    def document(self, ctx: BuildContext, entry: SourceEntry, graph: NamedNode, prepared: Any) -> None:
        for s in self.steps:
            s.document(ctx, entry, graph, prepared.get(s.name) if isinstance(prepared, dict) else None)

    def run(self, ctx: BuildContext) -> None:
        if not isinstance(ctx.store, EmbeddedStore) or len(self.steps) < 2:
            for s in self.steps:
                s.run(ctx)
            return
        with ThreadPoolExecutor(len(self.steps), thread_name_prefix="step") as pool:  # leaving it waits for all
            running = [pool.submit(s.run, ctx) for s in self.steps]
        for done in running:
            done.result()  # the first step's error, if any, once every step has stopped

    def abort(self, ctx: BuildContext) -> None:
        for s in self.steps:
            with contextlib.suppress(Exception):
                s.abort(ctx)

    def finish(self, ctx: BuildContext) -> None:
        for s in self.steps:
            s.finish(ctx)


def default_steps(*, links: bool = True, findings: bool = False, leave_out: Iterable[str] = ()) -> list[Step]:
    """The derived steps of a build, in order (``links=False``: no links; ``findings``: record the audit;
    ``leave_out``: the names of steps not to run, such as ``"answers"``).

    >>> [s.name for s in default_steps()]
    ['agencies', 'links', 'analytics', 'summaries', 'facets+answers', 'search']
    >>> [s.name for s in default_steps(links=False, leave_out=["answers"])]
    ['agencies', 'analytics', 'summaries', 'facets', 'search']
    """
    left = set(leave_out)
    steps: list[Step] = [AgenciesStep()]
    if links:
        steps.append(LinksStep())
    if findings:
        steps.append(FindingsStep())
    steps.append(AnalyticsStep())
    steps.append(SummariesStep())
    tables = tuple(s for s in (FacetsStep(), AnswersStep()) if s.name not in left)
    if len(tables) > 1:
        steps.append(Together(tables))
    else:
        steps.extend(tables)
    steps.append(SearchIndexStep())
    return [s for s in steps if s.name not in left]


def build(store: GraphStore, entries: Iterable[SourceEntry], settings: Settings, *,
          manifest: Manifest | None = None, check: Check | None = None, progress: Progress | None = None,
          with_ontology: bool = True, links: bool = True, steps: Sequence[Step] | None = None) -> BuildReport:
    """Build ``entries`` into ``store`` with the default steps (or ``steps``); see :func:`kg.build.build`."""
    chosen = default_steps(links=links) if steps is None else steps
    return build_documents(store, entries, settings, manifest=manifest, check=check, progress=progress,
                           with_ontology=with_ontology, steps=chosen)
