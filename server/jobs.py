"""The work the server sends to a query worker: each job runs against a :class:`kg.store.GraphStore`.

Jobs are small picklable dataclasses with a ``run(ctx)`` method, so the same code runs in a
worker process (the store opened read-only there; see :mod:`server.workers`) or in a thread
(an in-memory store). They return bytes ready to send, or plain data for an HTML page, never
live store objects. This module imports no web framework: a worker process starts quickly.
"""

from __future__ import annotations

import functools
import gzip
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack, cast

import numpy as np
from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QuerySolutions,
    Triple,
)

from kg import answers, facets, kept, partners
from kg.errors import BudgetKGError, QueryError, StoreError
from kg.namespaces import BK, DCTERMS, PREFIXES, PROV, SKOS
from kg.queries import FastForm, Lookup, choose, kept_answer, resolve, with_zh
from kg.resultformat import XSD_STRING
from kg.settings import Settings
from kg.sources import load_manifest
from kg.store import EmbeddedStore, GraphStore, QueryResult, damage, solutions, store_error, term_value
from kg.syntax import explain

from . import results, safety
from .errors import NotFound, OverMemory, UnacceptableFormat
from .sandbox import Confinement

#: Incoming links listed on an entity page (a concept used by every indicator has thousands).
MAX_INCOMING = 500

T = TypeVar("T")


class DatasetOptions(TypedDict, total=False):
    """The dataset a query runs over, as :meth:`kg.store.GraphStore.query` takes it."""

    union: bool
    default_graph: list[NamedNode | DefaultGraph]
    named_graphs: list[NamedNode]


class Context:
    """A worker's view of the store: the store, settings, and what it caches between jobs."""

    def __init__(self, kg: GraphStore, settings: Settings) -> None:
        self.kg = kg
        self.settings = settings
        #: What the worker's sandbox holds back (:func:`server.sandbox.confine`; None: not confined here).
        self.sandbox: Confinement | None = None
        self.refresh()
        self._lines: dict[str, list[str] | None] = {}
        self._manifest_paths: dict[str, str] | None = None
        #: key → (store generation, value): see :meth:`per_generation`.
        self._kept: dict[str, tuple[int, object]] = {}
        self._lock = threading.Lock()

    def per_generation(self, key: str, make: Callable[[], T]) -> T:
        """What ``make`` gives, kept while the store stays at the generation it was made at.

        Made once per generation even when threads share this context (they wait for the first); what was
        made while the store was written is used once and not kept."""
        with self._lock:
            generation = self.kg.generation
            kept = self._kept.get(key)
            if kept is not None and kept[0] == generation:
                return cast(T, kept[1])
            value = make()
            if self.kg.generation == generation:
                self._kept[key] = (generation, value)
            return value

    def load_tables(self) -> None:
        """Load the tables the build kept beside the store for its generation (facets, answers, kept answers), as
        the first job needing each would: a worker does it before it says it is ready, so the first agency page or
        named query it serves does not wait for them (about 0.5 s at 100,000 tables), nor for the links between
        budget units counted from the facet table (:func:`_unit_links`, another 0.5 s). Absent tables are not read
        from the store here: the jobs decide that, as before."""
        table = facet_table(self, read=False)
        if table is not None:
            _unit_links(table)
        if isinstance(self.kg, EmbeddedStore):
            self.per_generation("answers", lambda: answers.stored(self.kg))
            self.per_generation("kept", lambda: kept.stored(self.kg))

    def labels(self) -> KnownLabels:
        """The labels read at the store's generation (:class:`KnownLabels`), from the facet table's where it has
        them."""
        known = self.kept("labels")
        if isinstance(known, KnownLabels):  # every page asks: the table is looked for once a generation
            return known
        table = facet_table(self, read=False)  # outside per_generation's lock, which facet_table takes too

        def make() -> KnownLabels:
            same = table is not None and table.generation == self.kg.generation
            return KnownLabels(self.kg, table.page_labels if same and table is not None else None)

        return self.per_generation("labels", make)

    def kept(self, key: str) -> object | None:
        """What :meth:`per_generation` keeps for ``key`` at the store's generation (``None``: nothing yet)."""
        with self._lock:
            kept = self._kept.get(key)
            return kept[1] if kept is not None and kept[0] == self.kg.generation else None

    def refresh(self) -> None:
        """Re-read what depends on the store's content (after an update)."""
        self.kg.invalidate()  # an update may have added graphs
        self.published = frozenset(g.value for g in self.kg.graphs())

    def dataset_options(self, default_graphs: tuple[str, ...] | None, named_graphs: tuple[str, ...] | None,
                        own_dataset: bool) -> DatasetOptions:
        """The dataset of a request: the protocol's graph IRIs, the query's own (FROM), else the published union.

        The store hides a writer's graphs from the union itself (:meth:`kg.store.GraphStore.query`)."""
        if default_graphs is not None or named_graphs is not None:
            opts = DatasetOptions(default_graph=[NamedNode(g) for g in default_graphs or ()])
            if named_graphs is not None:
                opts["named_graphs"] = [NamedNode(g) for g in named_graphs]
            return opts
        return DatasetOptions(union=not own_dataset)

    def source_lines(self, file: str, start: int, end: int) -> list[tuple[int, str]] | None:
        """Lines ``start..end`` (1-based, inclusive) of a source document named in the manifest."""
        if file not in self._lines:
            self._lines[file] = self._read(file)
        lines = self._lines[file]
        if lines is None:
            return None
        return [(n, lines[n - 1]) for n in range(max(start, 1), min(end, len(lines)) + 1)]

    def _read(self, file: str) -> list[str] | None:
        if self._manifest_paths is None:
            try:
                man = load_manifest(self.settings.manifest)
                self._manifest_paths = {e.file: e.path for e in man.entries}
            except BudgetKGError:
                self._manifest_paths = {}
        path = self._manifest_paths.get(file)
        candidates = [Path(path)] if path else []
        candidates.append(Path(self.settings.manifest).parent / Path(file).name)
        for p in candidates:
            if p.is_file():
                try:
                    return p.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError):
                    return None
        return None


def run_query(ctx: Context, sparql: str, name: str, substitutions: dict[str, object] | None = None,
              **options: Unpack[DatasetOptions]) -> QueryResult:
    """Run a query over the store with the published prefixes (the store converts its errors)."""
    return ctx.kg.query(sparql, name=name, substitutions=substitutions, prefixes=PREFIXES, **options)


def bounded(run: Callable[[Any, Context], T]) -> Callable[[Any, Context], T]:
    """A job's ``run`` that reports running out of memory (the worker's ``BUDGETKG_WORKER_MEMORY_MB``) as
    :class:`~server.errors.OverMemory` (503), and a damaged store as such, rather than as a bug."""

    @functools.wraps(run)
    def guarded(self: Any, ctx: Context) -> T:
        try:
            return run(self, ctx)
        except MemoryError:
            raise OverMemory(ctx.settings.worker_memory_mb) from None
        except (OSError, RuntimeError) as exc:
            if damage(exc):
                raise store_error(ctx.kg.path, exc, "cannot read store at") from None
            raise

    return guarded


@dataclass(frozen=True)
class Answer:
    """Bytes to send, their format name, and how many rows they hold."""

    body: bytes
    format: str
    rows: int = 0
    truncated: bool = False


@dataclass(frozen=True)
class Table:
    """A SELECT result for an HTML page (terms are pyoxigraph terms)."""

    variables: list[str]
    rows: list[list[object]]
    truncated: bool


@dataclass(frozen=True)
class QueryJob:
    """Run one SPARQL query and serialise its result.

    ``results_format`` is used for SELECT/ASK and ``graph_format`` for CONSTRUCT/DESCRIBE; ``None``
    means the client accepts no format for that kind of result (406). ``results_format="table"``
    returns a :class:`Table` instead of bytes.
    """

    sparql: str
    name: str = "query"
    substitutions: tuple[tuple[str, object], ...] = ()
    default_graphs: tuple[str, ...] | None = None
    named_graphs: tuple[str, ...] | None = None
    own_dataset: bool = False
    results_format: str | None = "json"
    graph_format: str | None = "turtle"
    max_rows: int = 10000
    #: Decide SERVICE and LOAD with a real parser before running (ad hoc queries; see :mod:`server.safety`).
    verify: bool = True
    #: A named query's values to find first (:meth:`kg.queries.NamedQuery.lookups`): an inexact one is
    #: replaced by what it names, one that names nothing is "no such agency" (with the nearest values)
    #: at once rather than a whole query that finds nothing.
    lookups: tuple[Lookup, ...] = ()
    #: A named query's fast forms (:attr:`kg.queries.NamedQuery.fast_forms`): one runs instead of ``sparql`` while the
    #: store's summaries describe the generation the worker reads (:func:`kg.summaries.current`).
    fast: tuple[FastForm, ...] = ()
    #: Rows a chunk of an answer table's answer holds (:func:`server.results.answer_chunks`).
    chunk_rows: int = results.CHUNK_ROWS

    @bounded
    def run(self, ctx: Context) -> Answer | Table | results.Streamed:
        if self.verify:
            safety.verify(self.sparql, ctx.settings.service_allowlist, PREFIXES)
        opts = ctx.dataset_options(self.default_graphs, self.named_graphs, self.own_dataset)
        bindings = cast(dict[str, NamedNode | Literal], dict(self.substitutions))  # terms, as the router made them
        substitutions = resolve(self.lookups, bindings,
                                lambda sparql: solutions(run_query(ctx, sparql, self.name, **opts), self.name))
        chosen = choose(self.sparql, self.fast, substitutions,
                        lambda text, **kw: run_query(ctx, text, self.name, kw["substitutions"], **opts), ctx.kg)
        if isinstance(chosen, FastForm):  # a table form: loaded once per generation by each worker
            table = ctx.per_generation("answers", lambda: answers.stored(ctx.kg))
            found = answers.answer(table, self.name, substitutions) if table is not None else None
            if found is not None:
                return self._written(found)
            # the table does not answer these values: the texts do (a fast form's, else the plain text)
            chosen = choose(self.sparql, self.fast, substitutions,
                            lambda text, **kw: run_query(ctx, text, self.name, kw["substitutions"], **opts), ctx.kg,
                            tables=False)
        sparql = chosen if isinstance(chosen, str) else self.sparql
        kept_found = kept_answer(self.name, self.sparql, sparql, substitutions,
                                 lambda: ctx.per_generation("kept", lambda: kept.stored(ctx.kg)))
        if kept_found is not None:  # the build's kept answers of the fast form chosen: loaded once per generation
            return self._written(kept_found)
        result = run_query(ctx, sparql, self.name, with_zh(sparql, substitutions), **opts)
        try:
            if isinstance(result, QuerySolutions):
                if self.results_format == "table":
                    return Table(*results.select_table(result, self.max_rows))
                if self.results_format is None:
                    raise UnacceptableFormat("a SELECT result", [f.media_type for f in _result_offers()])
                body, n, cut = results.select_bytes(result, self.results_format, self.max_rows)
                return Answer(body, self.results_format, n, cut)
            if isinstance(result, QueryBoolean):
                fmt = self.results_format if self.results_format in results.BOOLEAN_FORMATS else None
                if fmt is None:
                    if self.results_format == "table":
                        return Table(["boolean"], [[Literal("true" if result else "false")]], False)
                    raise UnacceptableFormat("an ASK result", [f.media_type for f in _result_offers()])
                return Answer(results.boolean_bytes(result, fmt), fmt, 1, False)
            if self.graph_format is None or self.graph_format not in results.RDF_FORMATS:
                raise UnacceptableFormat("a graph result", [f.media_type for f in _graph_offers()])
            body, n, cut = results.triples_bytes(result, self.graph_format, self.max_rows)
            return Answer(body, self.graph_format, n, cut)
        except (OSError, RuntimeError) as exc:  # evaluation is lazy: errors surface while reading
            raise QueryError(self.name, f"evaluation failed: {exc}") from None

    def _written(self, found: answers.TableAnswer) -> Table | results.Streamed:
        """An answer of the answer table, written from its columns as :meth:`run` writes any SELECT result: in
        chunks, which the executor sends on as they are written and hands over as an :class:`Answer`
        (:mod:`server.workers`)."""
        if self.results_format == "table":
            return Table(*results.answer_table(found, self.max_rows))
        if self.results_format is None:
            raise UnacceptableFormat("a SELECT result", [f.media_type for f in _result_offers()])
        chunks, n, cut = results.answer_chunks(found, self.results_format, self.max_rows, self.chunk_rows)
        return results.Streamed(self.results_format, n, cut, chunks)


def _result_offers() -> tuple:
    from .formats import RESULT_FORMATS

    return RESULT_FORMATS


def _graph_offers() -> tuple:
    from .formats import GRAPH_FORMATS

    return GRAPH_FORMATS


@dataclass(frozen=True)
class GraphJob:
    """Graph Store Protocol read: one named graph, the default graph (union), or every graph (dataset)."""

    graph: str | None  # None: the default graph
    format: str
    dataset: bool = False

    @bounded
    def run(self, ctx: Context) -> Answer:
        store = ctx.kg
        if self.dataset:
            quads: list[Quad] = [*store.quads(), *store.match(graph=DefaultGraph())]
            return Answer(results.rdf_bytes(quads, self.format), self.format, len(quads))
        triples: list[Triple]
        if self.graph is None:
            seen: set[Triple] = set()
            triples = []
            for q in ctx.kg.quads():
                t = q.triple
                if t not in seen:
                    seen.add(t)
                    triples.append(t)
            triples.extend(q.triple for q in store.match(graph=DefaultGraph()))
        else:
            g = NamedNode(self.graph)
            if g.value not in ctx.published and not store.has_graph(g):
                raise NotFound(f"no graph <{self.graph}> in the store")
            triples = [q.triple for q in store.quads(g)]
        return Answer(results.rdf_bytes(triples, self.format), self.format, len(triples))


def jsonld_bytes(items: Iterable[Quad] | Iterable[Triple], context: dict[str, str], dataset: bool) -> bytes:
    """Compact JSON-LD: IRIs written as ``prefix:local`` with ``context`` (the published prefixes).

    pyoxigraph writes expanded JSON-LD only; with a context of prefixes alone, compaction is a
    matter of spelling IRIs, done here in one pass (rdflib's compaction is ~50× slower).
    Quads become one ``@graph`` per named graph.
    """
    prefixes = sorted(context.items(), key=lambda kv: -len(kv[1]))

    def iri(value: str) -> str:
        for p, ns in prefixes:
            if value.startswith(ns) and not value[len(ns):].startswith("/"):
                return f"{p}:{value[len(ns):]}"
        return value

    def ref(t: object) -> str:
        if isinstance(t, BlankNode):
            return "_:" + t.value
        return iri(t.value) if isinstance(t, NamedNode | Literal) else str(t)

    def value(t: object) -> object:
        if isinstance(t, Literal):
            if t.language:
                return {"@value": t.value, "@language": t.language}
            dt = t.datatype.value
            return t.value if dt == XSD_STRING else {"@value": t.value, "@type": iri(dt)}
        return {"@id": ref(t)}

    rdf_type = RDF_TYPE
    graphs: dict[str | None, dict[str, dict[str, Any]]] = {}
    for q in items:
        g = getattr(q, "graph_name", None)
        gkey = None if g is None or isinstance(g, DefaultGraph) else ref(g)
        nodes = graphs.setdefault(gkey, {})
        s = ref(q.subject)
        node = nodes.get(s)
        if node is None:
            node = nodes[s] = {"@id": s}
        if q.predicate.value == rdf_type and not isinstance(q.object, Literal):
            node.setdefault("@type", []).append(ref(q.object))
        else:
            node.setdefault(iri(q.predicate.value), []).append(value(q.object))
    top: list[object] = list(graphs.pop(None, {}).values())
    for gid, nodes in graphs.items():
        top.append({"@id": gid, "@graph": list(nodes.values())})
    doc = {"@context": context, "@graph": top}
    return json.dumps(doc, ensure_ascii=False, indent=1 if dataset else None).encode("utf-8")


RDF_TYPE = PREFIXES["rdf"] + "type"


@dataclass(frozen=True)
class DumpJob:
    """The whole published dataset as one download (sorted N-Quads gzip, Turtle, TriG or JSON-LD)."""

    format: str  # nquads.gz, turtle, trig, jsonld
    context: tuple[tuple[str, str], ...] = ()

    @bounded
    def run(self, ctx: Context) -> Answer:
        if self.format == "nquads.gz":
            return Answer(gzip.compress(ctx.kg.dump_sorted_nquads(), mtime=0), self.format)
        quads = list(ctx.kg.quads())
        if self.format == "turtle":
            triples: list[Triple] = list(dict.fromkeys(q.triple for q in quads))  # each once, in order
            return Answer(results.rdf_bytes(triples, "turtle"), self.format, len(triples))
        if self.format == "trig":
            return Answer(results.rdf_bytes(quads, "trig"), self.format, len(quads))
        if self.format == "jsonld":
            return Answer(jsonld_bytes(quads, dict(self.context), dataset=True), self.format, len(quads))
        raise NotFound(f"no dump format {self.format!r}")


def plain(term: object) -> tuple[str, str, str | None, str | None]:
    """A term as ``(kind, value, language, datatype)``, for templates."""
    if isinstance(term, NamedNode):
        return ("iri", term.value, None, None)
    if isinstance(term, BlankNode):
        return ("bnode", term.value, None, None)
    if isinstance(term, Literal):
        return ("literal", term.value, term.language, None if term.language else term.datatype.value)
    return ("other", str(term), None, None)


@dataclass
class EntityView:
    """What an entity page shows."""

    iri: str
    found: bool
    is_graph: bool = False
    graph_size: int = 0
    types: list[str] = field(default_factory=list)
    #: (predicate IRI, object term, graph IRI)
    outgoing: list[tuple[str, tuple, str | None]] = field(default_factory=list)
    #: (subject IRI, predicate IRI, graph IRI)
    incoming: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: how many quads have the entity as their object: those of ``incoming`` and the rest (past
    #: :data:`MAX_INCOMING`, and those whose subject is a blank node, which the page cannot link to)
    incoming_total: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    #: [(document IRI, file, line start, line end, [(n, text)] or None, via IRI or None)]
    sources: list[tuple[str, str, int, int, list[tuple[int, str]] | None, str | None]] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)
    #: the readable summary of a project or an agency page (None for other entities)
    project: ProjectSummary | None = None
    agency: AgencySummary | None = None


#: Labels a worker keeps per store generation (:class:`KnownLabels`): more than the entities of a few hundred pages.
MAX_LABELS = 200_000


class KnownLabels:
    """The names entity pages give things (:func:`_label`), for one store generation.

    A page names everything it links to: a department's lists hundreds of budget units, each a look-up of its own
    (about 15 µs in RocksDB at 100,000 tables; 500 of them were a third of the page's time). So the names of the
    facet table's values (budget units, departments, funding sources, categories: ``table``, the table's
    :attr:`~kg.facets.FacetTable.page_labels`, read by the build with the same rule) are taken from it, and every
    other name read is kept for the next page. :meth:`Context.labels` gives a new one when the store's generation
    changes, so a write is never answered with a name it replaced. What it keeps is bounded by :data:`MAX_LABELS`
    (emptied when full: a name is cheap to read again)."""

    def __init__(self, store: GraphStore, table: Mapping[str, str] | None = None, limit: int = MAX_LABELS) -> None:
        self.store, self.limit = store, limit
        # decoded once (10,000 budget units: ~10 ms), then a dict look-up; a binary search of the file's strings
        # decodes a dozen of them each time, slower than the store
        pairs = (zip(table.iris.all(), table.text.all(), strict=True) if isinstance(table, facets.PageLabels)
                 else table.items() if table is not None else ())
        self.table: dict[str, str | None] = {iri: text or None for iri, text in pairs}
        self._known: dict[str, str | None] = {}
        self._lock = threading.Lock()  # the threads of an in-memory store's server share one context

    def __call__(self, iri: str) -> str | None:
        """The name :func:`_label` reads for ``iri`` (``None``: it has none)."""
        try:
            return self._known[iri]
        except KeyError:
            pass
        if iri in self.table:
            return self.table[iri]
        found = _label(self.store, NamedNode(iri))
        with self._lock:
            if len(self._known) >= self.limit:
                self._known.clear()
            self._known[iri] = found
        return found


def _label(store: GraphStore, term: NamedNode) -> str | None:
    """The name an entity page gives ``term`` (:func:`kg.facets.page_label`): a property's look-up at a time."""
    for prop in facets.PAGE_LABEL_PROPERTIES:
        found = facets.page_label((prop, q.object) for q in store.match(term, prop))
        if found is not None:
            return found
    return None


def _int_of(store: GraphStore, s: NamedNode, p: NamedNode) -> int | None:
    for q in store.match(s, p):
        try:
            return int(term_value(q.object))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class DescribeJob:
    """Everything an entity's HTML page shows: properties, incoming links, labels, source lines."""

    iri: str

    @bounded
    def run(self, ctx: Context) -> EntityView:
        store = ctx.kg
        node = NamedNode(self.iri)

        def gname(g: object) -> str | None:
            return g.value if isinstance(g, NamedNode) else None

        view = EntityView(self.iri, False)
        for q in store.match(node):
            view.outgoing.append((q.predicate.value, plain(q.object), gname(q.graph_name)))
        n_in = 0
        units: dict[str, NamedNode] = {}  # an agency's units (org:subOrganizationOf), for its summary
        sub_units: dict[str, NamedNode] | None = units
        count = store.count if isinstance(store, EmbeddedStore) else None
        for q in store.match(object=node):  # a department has a thousand: each term read from the quad once
            if len(view.incoming) == MAX_INCOMING and count:  # the rest counted by the engine, their text unread
                n_in, sub_units = count(object=node), None  # (its units are then the facet table's)
                break
            n_in += 1
            s = q.subject
            if isinstance(s, NamedNode):
                p = q.predicate
                if len(view.incoming) < MAX_INCOMING:
                    view.incoming.append((s.value, p.value, gname(q.graph_name)))
                if p == ORG_SUB:
                    units[s.value] = s
        view.incoming_total = n_in
        if self.iri in ctx.published:
            view.is_graph = True
            view.graph_size = sum(1 for _ in store.quads(node))
        view.found = bool(view.outgoing or view.incoming or view.is_graph)
        if not view.found:
            return view
        rdf_type = PREFIXES["rdf"] + "type"
        view.types = sorted({o[1] for p, o, _ in view.outgoing if p == rdf_type and o[0] == "iri"})
        wanted = {self.iri, *view.types}
        wanted.update(p for p, _, _ in view.outgoing)
        wanted.update(o[1] for _, o, _ in view.outgoing if o[0] == "iri")
        wanted.update(s for s, _, _ in view.incoming)
        wanted.update(p for _, p, _ in view.incoming)
        wanted.update(g for _, _, g in view.outgoing if g)
        label = ctx.labels()
        for iri in wanted:
            lab = label(iri)
            if lab:
                view.labels[iri] = lab
        agency = BK.BudgetUnit.value in view.types or BK.Department.value in view.types
        self._sources(ctx, node, view, nearby=not agency)  # an agency's page shows its own lines, not its projects'
        if BK.Project.value in view.types:
            view.project = project_summary(ctx, node)
        elif agency:
            view.agency = agency_summary(ctx, node, sub_units=sub_units)
        return view

    def _sources(self, ctx: Context, node: NamedNode, view: EntityView, *, nearby: bool = True) -> None:
        store = ctx.kg
        # the entity itself, else (``nearby``) the nearest thing pointing at it that records where it was read
        # (a target or an amount is read on its indicator's or project's lines)
        candidates = [(node, None)] + [(NamedNode(s), s) for s, _, _ in view.incoming[:20] if nearby]
        for subject, via in candidates:
            start = _int_of(store, subject, BK.lineStart)
            end = _int_of(store, subject, BK.lineEnd)
            docs = [q.object for q in store.match(subject, PROV.wasDerivedFrom) if isinstance(q.object, NamedNode)]
            if start is None or end is None or not docs:
                if subject == node:
                    for d in docs:
                        ids = store.match(d, DCTERMS.identifier)
                        file = next((term_value(q.object) for q in ids), d.value.rsplit("/", 1)[-1])
                        view.documents.append((d.value, file))
                continue
            for d in docs:
                named = next((term_value(q.object) for q in store.match(d, DCTERMS.identifier)), None)
                if named is None:
                    continue
                view.sources.append((d.value, named, start, end, ctx.source_lines(named, start, end), via))
            if view.sources:
                return


@dataclass(frozen=True)
class EntityRdfJob:
    """An entity's description as RDF: its triples, and the triples that point at it (or a graph's content)."""

    iri: str
    format: str
    context: tuple[tuple[str, str], ...] = ()

    @bounded
    def run(self, ctx: Context) -> Answer:
        store = ctx.kg
        node = NamedNode(self.iri)
        seen: set[Triple] = set()
        triples: list[Triple] = []

        def add(q: Quad) -> None:
            if q.triple not in seen:
                seen.add(q.triple)
                triples.append(q.triple)

        for q in store.match(node):
            add(q)
        for q in store.match(object=node):
            add(q)
        if self.iri in ctx.published:
            for q in store.quads(node):
                add(q)
        if not triples:
            raise NotFound(f"nothing is known about <{self.iri}>")
        if self.format == "jsonld":
            return Answer(jsonld_bytes(triples, dict(self.context), dataset=False), "jsonld", len(triples))
        return Answer(results.rdf_bytes(triples, self.format), self.format, len(triples))


_COUNTS = """
SELECT (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?p) AS ?properties)
       (COUNT(DISTINCT ?o) AS ?objects)
WHERE { ?s ?p ?o }
"""
_CLASSES = "SELECT (COUNT(DISTINCT ?c) AS ?classes) WHERE { ?s a ?c }"


@dataclass(frozen=True)
class CountsJob:
    """Numbers for the VoID description: triples, subjects, classes, per-graph sizes, domain counts."""

    base_iri: str

    @bounded
    def run(self, ctx: Context) -> dict[str, object]:
        from kg.stats import compute

        opts = ctx.dataset_options(None, None, False)
        row = next(iter(solutions(run_query(ctx, _COUNTS, "counts", **opts))))
        classes = next(iter(solutions(run_query(ctx, _CLASSES, "counts", **opts))))
        entities = solutions(run_query(ctx, "SELECT ?base (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o "
                                         "FILTER(isIRI(?s) && STRSTARTS(STR(?s), ?base)) } GROUP BY ?base", "counts",
                                    {"base": Literal(self.base_iri)}, **opts))
        graphs = {g.value: sum(1 for _ in ctx.kg.quads(g)) for g in ctx.kg.graphs()}
        stats = compute(ctx.kg, self.base_iri)

        def number(term: object) -> int:
            return int(term_value(term)) if isinstance(term, NamedNode | Literal) else 0

        return {
            "triples": number(row["triples"]), "distinct_subjects": number(row["subjects"]),
            "properties": number(row["properties"]), "distinct_objects": number(row["objects"]),
            "classes": number(classes["classes"]), "entities": number(next(iter(entities))["n"]),
            "graphs": graphs, "quads": sum(graphs.values()),
            "projects": stats.projects, "indicators": stats.indicators, "agencies": stats.agencies,
            "documents": [d.document for d in stats.documents], "budget_wanyuan": stats.budget_wanyuan,
        }


@dataclass(frozen=True)
class UpdateJob:
    """Apply a SPARQL Update (the caller has checked the token and refused SERVICE and LOAD)."""

    sparql: str

    @bounded
    def run(self, ctx: Context) -> Answer:
        if ctx.kg.read_only:
            raise StoreError("the store is open read-only here")
        safety.verify(self.sparql, ctx.settings.service_allowlist, PREFIXES, update=True)
        try:
            ctx.kg.update(self.sparql, prefixes=PREFIXES)  # publishes a new generation
        except SyntaxError as exc:
            raise QueryError("update", f"syntax error: {explain(self.sparql, str(exc), PREFIXES)}") from None
        except (OSError, RuntimeError, ValueError) as exc:
            raise QueryError("update", f"update failed: {exc}") from None
        ctx.kg.flush()
        ctx.refresh()
        return Answer(b"", "none")


def facet_table(ctx: Context, *, read: bool = True) -> facets.FacetTable | None:
    """The facet table (:mod:`kg.facets`) of the store's generation, kept by the worker; ``None``: read SPARQL.

    ``read=False``: only a table the worker already has or the build kept beside the store for this generation
    (reading the store for it takes seconds: more than a page that would use it)."""
    store = ctx.kg
    if not isinstance(store, EmbeddedStore):  # a remote store's generation misses other writers
        return None
    if not read:
        kept = ctx.kept("facets")
        if isinstance(kept, facets.FacetTable):
            return kept
        path = facets.file_for(store, store.generation)
        if path is None or not path.is_file():
            return None

    def make() -> facets.FacetTable | None:
        try:
            return facets.current(store)
        except facets.Unsupported:
            return None

    return ctx.per_generation("facets", make)


def encode_json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- pages people read: a project's and an agency's summary ----------------------------------
def _rows(ctx: Context, sparql: str, node: NamedNode) -> list[dict[str, object]]:
    """Rows of a query bound to one entity (``?this``), as plain Python values."""
    opts = ctx.dataset_options(None, None, False)
    result = solutions(run_query(ctx, sparql, "page", {"this": node}, **opts), "page")
    names = [v.value for v in result.variables]
    out = []
    for r in result:
        row: dict[str, object] = {}
        for n in names:
            t = r[n]
            row[n] = None if t is None else term_value(t)
        out.append(row)
    return out


_PROJECT_SUMMARY = """
SELECT ?name ?unit ?unit_code ?unit_name ?department ?department_name ?year ?budget ?fiscal ?other ?use
WHERE {
  ?this rdfs:label ?name .
  OPTIONAL { ?this bk:budgetUnit ?unit . OPTIONAL { ?unit org:subOrganizationOf ?department
             OPTIONAL { ?department rdfs:label ?department_name } } }
  OPTIONAL { ?this bk:budgetUnitCode ?unit_code } OPTIONAL { ?this bk:budgetUnitName ?unit_name }
  OPTIONAL { ?this bk:budgetYear ?year }
  OPTIONAL { ?this bk:budget/bk:amountInYuan ?budget } OPTIONAL { ?this bk:fiscalFunds/bk:amountInYuan ?fiscal }
  OPTIONAL { ?this bk:otherFunds/bk:amountInYuan ?other }
  OPTIONAL { ?this bk:useOfFunds ?use }
} LIMIT 1
"""
_PROJECT_FUNDING = """
SELECT ?source ?label ?label_en WHERE { ?this bk:fundingSource ?source .
  OPTIONAL { ?source skos:prefLabel ?label FILTER(LANG(?label) = "zh") }
  OPTIONAL { ?source skos:prefLabel ?label_en FILTER(LANG(?label_en) = "en") } }
"""
_PROJECT_GOALS = """
SELECT ?goal ?kind ?ordinal ?text WHERE { ?this bk:hasGoal ?goal . ?goal bk:goalText ?text .
  OPTIONAL { ?goal bk:ordinal ?ordinal }
  OPTIONAL { ?goal bk:goalKind/skos:prefLabel ?kind FILTER(LANG(?kind) = "zh") } }
ORDER BY ?kind ?ordinal
"""
_PROJECT_INDICATORS = """
SELECT ?indicator ?position ?level1 ?level2 ?name ?description ?raw ?normalized ?unit ?problem WHERE {
  ?this bk:hasIndicator ?indicator . ?indicator bk:position ?position .
  OPTIONAL { ?indicator bk:level1Label ?level1 } OPTIONAL { ?indicator bk:level2Label ?level2 }
  OPTIONAL { ?indicator bk:indicatorName ?name } OPTIONAL { ?indicator dcterms:description ?description }
  OPTIONAL { ?indicator bk:target ?t . OPTIONAL { ?t bk:rawValue ?raw } OPTIONAL { ?t bk:normalizedValue ?normalized }
    OPTIONAL { ?t bk:normalizedUnit/rdfs:label ?unit FILTER(LANG(?unit) = "zh") }
    OPTIONAL { ?t bk:parseProblem ?problem } }
} ORDER BY ?position
"""
_PROJECT_FINDINGS = """
SELECT ?finding ?rule ?rule_label ?severity ?message ?focus WHERE {
  ?finding bk:concernsProject ?this ; bk:auditRule ?r .
  OPTIONAL { ?r skos:notation ?rule } OPTIONAL { ?r rdfs:label ?rule_label FILTER(LANG(?rule_label) = "zh") }
  OPTIONAL { ?finding sh:resultSeverity ?severity } OPTIONAL { ?finding sh:focusNode ?focus }
  OPTIONAL { ?finding sh:resultMessage ?message FILTER(LANG(?message) = "zh") }
} ORDER BY ?rule ?focus
"""
_PROJECT_LINKS = """
SELECT ?link ?kind ?other ?other_name ?other_unit ?other_unit_name ?score ?rule
       (GROUP_CONCAT(DISTINCT ?token; separator="、") AS ?evidence) WHERE {
  { ?link bk:fromProject ?this ; bk:toProject ?other } UNION { ?link bk:toProject ?this ; bk:fromProject ?other }
  ?link a ?kind . FILTER(?kind IN (bk:SharedGoalLink, bk:LineageLink, bk:TrancheLink))
  OPTIONAL { ?link bk:score ?score } OPTIONAL { ?link bk:rule ?rule }
  OPTIONAL { ?link bk:matchedToken ?token }
  OPTIONAL { ?other rdfs:label ?other_name } OPTIONAL { ?other bk:budgetUnitCode ?other_unit }
  OPTIONAL { ?other bk:budgetUnitName ?other_unit_name }
} GROUP BY ?link ?kind ?other ?other_name ?other_unit ?other_unit_name ?score ?rule
ORDER BY ?kind DESC(?score)
"""
_PROJECT_CONTRACTS = """
SELECT ?contract ?title ?vendor ?vendor_name ?amount ?confidence WHERE {
  ?contract bk:forProject ?this . OPTIONAL { ?contract rdfs:label ?title }
  OPTIONAL { ?contract bk:vendor ?vendor OPTIONAL { ?vendor rdfs:label ?vendor_name } }
  OPTIONAL { ?contract bk:amount/bk:amountInYuan ?amount } OPTIONAL { ?contract bk:linkConfidence ?confidence }
} ORDER BY ?vendor_name
"""
_AGENCY_SUMMARY = """
SELECT ?code ?name ?parent ?parent_name WHERE { OPTIONAL { ?this bk:agencyCode ?code }
  OPTIONAL { ?this rdfs:label ?name }
  OPTIONAL { ?this org:subOrganizationOf ?parent OPTIONAL { ?parent rdfs:label ?parent_name } } }
LIMIT 1
"""
#: One row per project of the agency's budget units (the agency itself, and a department's units, bound in
#: VALUES ?unit): what the totals and the order by budget need, one step per OPTIONAL; where a step found
#: nothing, the project stands in for the next subject (a project has no bk:amountInYuan), so that step
#: finds nothing either.
_AGENCY_PROJECT_ROWS = """
SELECT ?project ?year ?budget ?funding WHERE {
  ?project bk:budgetUnit ?unit . ?project a bk:Project .
  OPTIONAL { ?project bk:budgetYear ?year }
  OPTIONAL { ?project bk:budget ?amount } BIND(COALESCE(?amount, ?project) AS ?amount_at)
  OPTIONAL { ?amount_at bk:amountInYuan ?budget }
  OPTIONAL { ?project bk:fundingSource ?funding }
}
"""
#: What the project table shows of the projects listed (bound in VALUES ?project).
_AGENCY_PROJECT_DETAILS = """
SELECT ?project ?name ?unit_code ?unit_name WHERE {
  ?project rdfs:label ?name .
  OPTIONAL { ?project bk:budgetUnitCode ?unit_code } OPTIONAL { ?project bk:budgetUnitName ?unit_name }
}
"""
#: Findings about the agency's budget units (VALUES ?unit), counted per rule; the rules' names are read after.
_AGENCY_FINDINGS = """
SELECT ?r (COUNT(DISTINCT ?finding) AS ?findings) (COUNT(DISTINCT ?project) AS ?projects) WHERE {
  ?finding bk:concernsBudgetUnit ?unit . ?finding bk:auditRule ?r .
  OPTIONAL { ?finding bk:concernsProject ?project }
} GROUP BY ?r
"""
_RULE_NAMES = """
SELECT ?r ?rule ?rule_label WHERE {
  OPTIONAL { ?r skos:notation ?rule } OPTIONAL { ?r rdfs:label ?rule_label FILTER(LANG(?rule_label) = "zh") }
}
"""
#: Shared-goal links from the agency's projects (VALUES ?unit), counted per budget unit of the other end; the
#: same with the direction turned (:data:`_AGENCY_PARTNERS_TO`). The agency's own units are left out afterwards
#: (a link inside the agency is no partnership). Two queries, not a UNION or an alternative path on both ends:
#: each direction is one walk down the indexes from the projects.
_AGENCY_PARTNERS_FROM = """
SELECT ?partner (COUNT(DISTINCT ?link) AS ?links) (MAX(?score) AS ?best) WHERE {
  ?project bk:budgetUnit ?unit . ?link bk:fromProject ?project . ?link a bk:SharedGoalLink .
  ?link bk:toProject ?other . ?other bk:budgetUnit ?partner .
  OPTIONAL { ?link bk:score ?score }
} GROUP BY ?partner
"""
_AGENCY_PARTNERS_TO = """
SELECT ?partner (COUNT(DISTINCT ?link) AS ?links) (MAX(?score) AS ?best) WHERE {
  ?project bk:budgetUnit ?unit . ?link bk:toProject ?project . ?link a bk:SharedGoalLink .
  ?link bk:fromProject ?other . ?other bk:budgetUnit ?partner .
  OPTIONAL { ?link bk:score ?score }
} GROUP BY ?partner
"""
#: Projects listed on an agency page, largest budget first; the rest are in the project browser.
AGENCY_PROJECTS_LISTED = 300


@dataclass
class ProjectSummary:
    """The readable head of a project page: amounts in 元 (the page shows 万元), goals, indicators in source order."""

    summary: dict[str, object] = field(default_factory=dict)
    funding: list[dict[str, object]] = field(default_factory=list)
    goals: list[dict[str, object]] = field(default_factory=list)
    indicators: list[dict[str, object]] = field(default_factory=list)
    findings: list[dict[str, object]] = field(default_factory=list)
    links: list[dict[str, object]] = field(default_factory=list)
    contracts: list[dict[str, object]] = field(default_factory=list)


@dataclass
class AgencySummary:
    """The readable head of an agency page: its largest projects, totals by funding source and year, partners.

    The totals count every project of the agency (its own, or its budget units' for a department); ``projects``
    holds the :data:`AGENCY_PROJECTS_LISTED` largest by budget, and ``project_count`` says how many there are.
    """

    summary: dict[str, object] = field(default_factory=dict)
    projects: list[dict[str, object]] = field(default_factory=list)
    project_count: int = 0
    #: the budget of all its projects, in 元
    total: Decimal = Decimal(0)
    #: (funding source label, [projects, budget in 元]), largest budget first
    by_funding: list[tuple[str, list[Any]]] = field(default_factory=list)
    #: (year, [projects, budget in 元]), latest year first
    by_year: list[tuple[str, list[Any]]] = field(default_factory=list)
    findings: list[dict[str, object]] = field(default_factory=list)
    partners: list[dict[str, object]] = field(default_factory=list)


def project_summary(ctx: Context, node: NamedNode) -> ProjectSummary:
    s = ProjectSummary()
    rows = _rows(ctx, _PROJECT_SUMMARY, node)
    s.summary = rows[0] if rows else {}
    s.funding = _rows(ctx, _PROJECT_FUNDING, node)
    s.goals = _rows(ctx, _PROJECT_GOALS, node)
    s.indicators = _rows(ctx, _PROJECT_INDICATORS, node)
    s.indicators.sort(key=lambda r: int(str(r["position"])))  # xsd:integer ordering, not lexical
    s.findings = _rows(ctx, _PROJECT_FINDINGS, node)
    s.links = _rows(ctx, _PROJECT_LINKS, node)
    s.contracts = _rows(ctx, _PROJECT_CONTRACTS, node)
    return s


def _bound_rows(ctx: Context, sparql: str, var: str, terms: Iterable[NamedNode]) -> list[dict[str, object]]:
    """Rows of a query whose variable ``var`` is bound to a list of IRIs, as plain Python values.

    The list is written as the query's opening ``VALUES`` block, each IRI in its N-Triples form (as
    :func:`kg.store.with_values` writes one row), so the planner starts from them.
    """
    terms = list(terms)
    if not terms:
        return []
    block = f"VALUES ?{var} {{ " + " ".join(str(t) for t in terms) + " }"
    where = sparql.index("{")
    text = sparql[:where + 1] + " " + block + sparql[where + 1:]
    opts = ctx.dataset_options(None, None, False)
    result = solutions(run_query(ctx, text, "page", **opts), "page")
    names = [v.value for v in result.variables]
    return [{n: None if r[n] is None else term_value(r[n]) for n in names} for r in result]


def agency_summary(ctx: Context, node: NamedNode, *, table: bool = True,
                   sub_units: dict[str, NamedNode] | None = None) -> AgencySummary:
    """An agency's page head, read from its budget units down (a department's are found first).

    With the facet table of the store's generation (``table``; :func:`facet_table`, the build's file), its
    totals, project list, findings and partners are counted from the table (:func:`_agency_by_table`);
    otherwise with SPARQL, where every query starts from the units in a ``VALUES`` block: no ``UNION`` of
    "the agency's own projects" and "its units' projects", which the planner evaluates over the whole store
    before joining. Both give the same summary. ``sub_units``: the subjects of ``org:subOrganizationOf <node>``
    (IRI → node), when the caller has read them already; else the table's (a slice of its strings, where the store
    would read the text of a thousand IRIs), or the store's without a table.
    """
    store = ctx.kg
    a = AgencySummary()
    rows = _rows(ctx, _AGENCY_SUMMARY, node)
    a.summary = rows[0] if rows else {}
    counted = facet_table(ctx, read=False) if table else None
    if sub_units is None:
        if counted is not None and counted.sub_organizations is not None:
            sub_units = {u: NamedNode(u) for u in counted.sub_organizations.get(node.value, [])}
        else:
            sub_units = {q.subject.value: q.subject for q in store.match(None, ORG_SUB, node)
                         if isinstance(q.subject, NamedNode)}
    units = [node, *(sub_units[u] for u in sorted(sub_units))]
    if counted is not None and _agency_by_table(ctx, counted, a, units, {node.value, *sub_units}):
        return a
    # one row per project (a project has at most one stated funding source; keep the first if ever more)
    seen: dict[str, dict[str, object]] = {}
    for r in _bound_rows(ctx, _AGENCY_PROJECT_ROWS, "unit", units):
        seen.setdefault(str(r["project"]), r)
    funding_labels = _funding_labels(store, {str(r["funding"]) for r in seen.values() if r["funding"] is not None})
    by_funding: dict[str, list[Any]] = {}
    by_year: dict[str, list[Any]] = {}
    for r in seen.values():
        r["funding_label"] = funding_labels.get(str(r["funding"])) if r["funding"] is not None else None
        b = Decimal(str(r["budget"])) if r["budget"] is not None else Decimal(0)
        a.total += b
        for key, totals in ((str(r["funding_label"] or "未标明 not stated"), by_funding),
                            (str(r["year"] or "—"), by_year)):
            cell = totals.setdefault(key, [0, Decimal(0)])
            cell[0] += 1
            cell[1] += b
    a.project_count = len(seen)
    a.by_funding = sorted(by_funding.items(), key=lambda kv: (-kv[1][1], kv[0]))
    a.by_year = sorted(by_year.items(), reverse=True)
    largest = sorted(seen.values(), key=lambda r: (-float(str(r["budget"] or 0)), str(r["project"])))
    listed = largest[:AGENCY_PROJECTS_LISTED]
    named = (NamedNode(str(r["project"])) for r in listed)
    details = {str(d["project"]): d for d in _bound_rows(ctx, _AGENCY_PROJECT_DETAILS, "project", named)}
    a.projects = [{**r, **details[str(r["project"])]} for r in listed if str(r["project"]) in details]
    a.findings = _agency_findings(ctx, units)
    a.partners = _partners(ctx, units, {node.value, *sub_units})
    return a


def _agency_by_table(ctx: Context, table: facets.FacetTable, a: AgencySummary, units: list[NamedNode],
                     own: set[str]) -> bool:
    """Fill ``a`` from the facet table as :func:`agency_summary`'s SPARQL would; ``False`` (``a`` untouched but
    its summary) where the table cannot say the same: a project of the agency with two years, funding sources or
    budgets (the SPARQL keeps one row of each), or no links and findings kept."""
    agencies, single = table.agencies, table.single
    if agencies is None or single is None:
        return False
    codes = table.codes_of("unit", own.union(u.value for u in units))
    unit_codes = [c for c in (codes[u.value] for u in units) if c is not None]
    mask = table.project_facets["unit"].having(unit_codes)
    rows = np.flatnonzero(mask)
    if not single[rows].all():
        return False
    fen = table.budget_fen[rows]
    year = facets.one_value(table, "year", rows)
    funding = facets.one_value(table, "funding", rows)
    funding_iris = {int(c): table.values["funding"][c][1:-1] for c in np.unique(funding)
                    if c >= 0 and table.values["funding"][c] != facets.NO_VALUE}
    labels = _funding_labels(ctx.kg, set(funding_iris.values()))
    by_funding: dict[str, list[Any]] = {}
    by_year: dict[str, list[Any]] = {}
    for column, facet, unstated, totals in ((funding, "funding", "未标明 not stated", by_funding),
                                            (year, "year", "—", by_year)):
        values, at = np.unique(column, return_inverse=True)
        counts = np.bincount(at, minlength=len(values))
        sums = np.zeros(len(values), dtype=np.int64)
        np.add.at(sums, at, fen)
        for i, c in enumerate(values.tolist()):
            term = table.values[facet][c] if c >= 0 else facets.NO_VALUE
            if term == facets.NO_VALUE:
                name = None
            elif facet == "funding":
                name = labels.get(funding_iris[c])
            else:
                name = facets.lexical(term)
            cell = totals.setdefault(str(name or unstated), [0, Decimal(0)])
            cell[0] += int(counts[i])
            cell[1] += Decimal(int(sums[i])) / 100
    a.total = Decimal(int(fen.sum())) / 100
    a.project_count = len(rows)
    a.by_funding = sorted(by_funding.items(), key=lambda kv: (-kv[1][1], kv[0]))
    a.by_year = sorted(by_year.items(), reverse=True)
    # the largest: every project at least as large as the AGENCY_PROJECTS_LISTED-th, then ordered as SPARQL's are
    if len(rows) > AGENCY_PROJECTS_LISTED:
        least = np.partition(fen, len(fen) - AGENCY_PROJECTS_LISTED)[len(fen) - AGENCY_PROJECTS_LISTED]
        candidates = rows[fen >= least]
    else:
        candidates = rows
    iris = (p[1:-1] for p in table.project_iris.take(candidates))
    ordered = sorted(zip((-table.budget_fen[candidates]).tolist(), iris, candidates.tolist(), strict=True))
    a.projects = _listed(ctx, table, [(iri, r) for _, iri, r in ordered[:AGENCY_PROJECTS_LISTED]])
    for r in a.projects:
        r["funding_label"] = labels.get(str(r["funding"])) if r["funding"] is not None else None
    counted: list[dict[str, object]] = [{"r": r, "findings": str(n), "projects": str(m)} for r, n, m in
               facets.findings_by_rule(agencies, (u.value for u in units))]
    a.findings = _named_findings(ctx, counted)
    links = _unit_links(table)
    if links is None:
        a.partners = _ranked_partners(ctx, facets.partners(table, agencies, mask), own)
    else:
        ranked = partners.ranked(links, unit_codes, {c for c in (codes[u] for u in own) if c is not None},
                                 lambda c: table.values["unit"][c][1:-1])
        label = ctx.labels()
        a.partners = [{"partner": u, "partner_name": label(u), "links": n, "best": round(best, 4)}
                      for u, n, best in ranked]
    return True


def _listed(ctx: Context, table: facets.FacetTable, listed: list[tuple[str, int]]) -> list[dict[str, object]]:
    """The rows of an agency page's project table for the projects ``listed`` ((IRI, project row), in the page's
    order), from the table's :class:`~kg.facets.Listing` as :func:`_listed_rows` reads them with SPARQL (which it
    does when a listed project has two names, codes or unit names: the query keeps one of them)."""
    listing = table.listing
    rows = np.array([r for _, r in listed], dtype=np.int64)
    if listing is None or not listing.single[rows].all():
        return _listed_rows(ctx, [iri for iri, _ in listed])
    years = facets.one_value(table, "year", rows).tolist()
    fundings = facets.one_value(table, "funding", rows).tolist()

    @functools.cache
    def value(facet: str, code: int) -> str | None:
        return facets.term_value(table.values[facet][code]) if code >= 0 else None

    out: list[dict[str, object]] = []
    for (iri, _), shown, year, funding in zip(listed, listing.rows(rows), years, fundings, strict=True):
        if shown["name"] is None:  # no rdfs:label: the details' query finds no row for it
            continue
        out.append({"project": iri, "year": value("year", year), "budget": shown["budget"],
                    "funding": value("funding", funding), "name": shown["name"], "unit_code": shown["unit_code"],
                    "unit_name": shown["unit_name"]})
    return out


def _listed_rows(ctx: Context, listed: list[str]) -> list[dict[str, object]]:
    """The rows of the project table of an agency page for the projects ``listed`` (IRIs, in the page's order), as
    :data:`_AGENCY_PROJECT_ROWS` and :data:`_AGENCY_PROJECT_DETAILS` give them."""
    nodes = [NamedNode(iri) for iri in listed]
    found: dict[str, dict[str, object]] = {}
    for r in _bound_rows(ctx, _AGENCY_PROJECT_ROWS, "project", nodes):
        found.setdefault(str(r["project"]), r)
    details = {str(d["project"]): d for d in _bound_rows(ctx, _AGENCY_PROJECT_DETAILS, "project", nodes)}
    return [{**found[p], **details[p]} for p in listed if p in found and p in details]


def _unit_links(table: facets.FacetTable) -> partners.UnitLinks | None:
    """The shared-goal links between budget units of ``table`` (:func:`kg.partners.index`), counted once per table
    and kept beside it; ``None``: the per-unit sums could count a link twice (a project of two units)."""
    if "unit links" not in table.memo:
        unit = table.project_facets["unit"]
        links = None
        if table.agencies is not None and (unit.rows == 0 or int(np.diff(unit.offsets).max()) <= 1):
            first = facets.one_value(table, "unit", np.arange(unit.rows))
            links = partners.index(first, len(table.values["unit"]), table.agencies)
        table.memo["unit links"] = links
    kept = table.memo["unit links"]
    return kept if isinstance(kept, partners.UnitLinks) else None


def _funding_labels(store: GraphStore, fundings: set[str]) -> dict[str, str]:
    """The zh label of each funding source concept (a handful per agency)."""
    labels = {}
    for f in fundings:
        for q in store.match(NamedNode(f), SKOS.prefLabel):
            if isinstance(q.object, Literal) and q.object.language == "zh":
                labels[f] = q.object.value
                break
    return labels


def _agency_findings(ctx: Context, units: list[NamedNode]) -> list[dict[str, object]]:
    """Findings about the agency's units per rule, most first (the rules' notation and zh label beside)."""
    return _named_findings(ctx, _bound_rows(ctx, _AGENCY_FINDINGS, "unit", units))


def _named_findings(ctx: Context, counted: list[dict[str, object]]) -> list[dict[str, object]]:
    """Counts per rule (``r``, ``findings``, ``projects``) with the rules' notation and zh label, most first."""
    names: dict[str, dict[str, object]] = {}
    for r in _bound_rows(ctx, _RULE_NAMES, "r", (NamedNode(str(c["r"])) for c in counted)):
        names.setdefault(str(r["r"]), r)
    out = []
    for c in counted:
        name = names.get(str(c["r"]), {})
        out.append({"rule": name.get("rule"), "rule_label": name.get("rule_label"), "findings": c["findings"],
                    "projects": c["projects"]})
    out.sort(key=lambda f: (-int(str(f["findings"])), str(f["rule"] or ""), str(f["rule_label"] or "")))
    return out


def _partners(ctx: Context, units: list[NamedNode], own: set[str], limit: int = 40) -> list[dict[str, object]]:
    """Budget units outside the agency (``own``: its IRI and its units') whose projects share goals with its projects.

    An aggregate per direction from the agency's units (``units``) through their projects to their shared-goal
    links: walking the same links from Python, one index read at a time, costs about twice as much.
    """
    directions = [{str(r["partner"]): (int(str(r["links"])), float(str(r["best"])) if r["best"] is not None else None)
                   for r in _bound_rows(ctx, sparql, "unit", units)}
                  for sparql in (_AGENCY_PARTNERS_FROM, _AGENCY_PARTNERS_TO)]
    return _ranked_partners(ctx, directions, own, limit)


def _ranked_partners(ctx: Context, directions: list[dict[str, tuple[int, float | None]]], own: set[str],
                     limit: int = 40) -> list[dict[str, object]]:
    """The partners of both directions (partner unit → (links, best score or None)) summed, ranked, named."""
    links: dict[str, dict[str, float]] = {}
    for counted in directions:
        for u, (n, best) in counted.items():
            if u in own:
                continue
            entry = links.setdefault(u, {"links": 0, "best": 0.0})
            entry["links"] += n
            entry["best"] = max(entry["best"], best if best is not None else 0.0)
    ranked = sorted(links.items(), key=lambda kv: (-kv[1]["links"], -kv[1]["best"], kv[0]))[:limit]
    label = ctx.labels()
    return [{"partner": u, "partner_name": label(u), "links": int(v["links"]),
             "best": round(v["best"], 4)} for u, v in ranked]


ORG_SUB = NamedNode(PREFIXES["org"] + "subOrganizationOf")
RDF_TYPE_NODE = NamedNode(RDF_TYPE)
