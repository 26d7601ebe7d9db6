"""The summaries graph: counts of the store kept by the build, so that ``budgetkg stats`` reads instead of counts.

Counting a large store is slow (``budgetkg stats`` took 38 s at 10 000 tables, most of it counting the
quads); the counts only change when the graphs do. So the build's last derived step
(:class:`kg.pipeline.SummariesStep`) measures the published graphs and writes, in the one graph
:attr:`kg.iris.Iris.summaries_graph`:

* the dataset (:attr:`~kg.iris.Iris.dataset`) with ``void:triples`` (the quads of every other published
  graph), ``void:classPartition`` (``void:class``, ``void:entities``) and ``void:propertyPartition``
  (``void:property``, ``void:triples``) nodes, and the totals ``budgetkg stats`` shows (bk:projectCount,
  bk:indicatorCount, bk:agencyCount, bk:budgetUnitCount, bk:departmentCount, bk:budgetTotal in 万元);
* one bk:GraphSummary per document graph (bk:summarises the graph, its file as dcterms:identifier, its
  projects, indicators, budget units and total 预算数).
The graph holds counts only, so two stores of the same documents dump byte-identical N-Quads.

**The rule.** The summary never disagrees with the store because a reader trusts it only when the
store is at the generation the summary was written for (:func:`read`); every write advances the
generation. The build writes the summary in its own transaction (one generation), and once the build
has committed, :func:`stamp` records that generation in the file :data:`STAMP_FILE` beside the
store's files. Every other write (``budgetkg link``, a contracts import, ``/update``, findings recorded on
their own) leaves the stamp behind the store's generation, and so does a build that failed or was killed
before the stamp: :func:`read` answers ``None`` and :mod:`kg.stats` counts the store itself (and says so)
until the next build writes the summary again. A store in memory or behind an endpoint keeps no stamp:
it is always counted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

from pyoxigraph import Literal, NamedNode, Quad, QuerySolutions

from .iris import Iris
from .namespaces import BK, DCTERMS, RDF, VOID, XSD, sparql_prefixes
from .store import EmbeddedStore, GraphStore, Transaction, joined

#: The file, in an on-disk store's directory, holding the generation the summaries graph describes.
STAMP_FILE = "budgetkg-summary-generation"

PER_GRAPH = sparql_prefixes(["bk", "rdf", "dcterms"]) + """
SELECT ?g ?file
       (COUNT(DISTINCT ?p) AS ?projects)
       (COUNT(DISTINCT ?i) AS ?indicators)
       (COUNT(DISTINCT ?unit) AS ?units)
WHERE {
  GRAPH ?g {
    ?doc a bk:SourceDocument ; dcterms:identifier ?file .
    OPTIONAL { ?p a bk:Project ; bk:budgetUnit ?unit . OPTIONAL { ?p bk:hasIndicator ?i } }
  }
}
GROUP BY ?g ?file ORDER BY ?g
"""
BUDGET = sparql_prefixes(["bk", "qudt"]) + """
SELECT ?g (SUM(?wan) AS ?budget) (COUNT(?b) AS ?with_budget)
WHERE { GRAPH ?g { ?p bk:budget ?b . ?b bk:amountInYuan ?yuan . BIND(?yuan / 10000 AS ?wan) } }
GROUP BY ?g
"""
AGENCIES = sparql_prefixes(["bk"]) + """
SELECT (COUNT(DISTINCT ?a) AS ?n) (COUNT(DISTINCT ?u) AS ?units) (COUNT(DISTINCT ?d) AS ?departments)
WHERE { { ?a a bk:BudgetUnit . BIND(?a AS ?u) } UNION { ?a a bk:Department . BIND(?a AS ?d) } }
"""
TOTALS = sparql_prefixes(["bk"]) + """
SELECT (COUNT(DISTINCT ?p) AS ?projects) (COUNT(DISTINCT ?i) AS ?indicators)
WHERE { ?p a bk:Project . OPTIONAL { ?p bk:hasIndicator ?i } }
"""
#: Quads per property and per graph, without the summaries graph (``?skip``), and the default graph's.
PROPERTIES = """
SELECT ?p (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } FILTER(?g != ?skip) } GROUP BY ?p
"""
DEFAULT_GRAPH = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
#: Entities per class (in the union of the published graphs but the summaries graph).
CLASSES = """
SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { GRAPH ?g { ?s a ?c } FILTER(?g != ?skip) } GROUP BY ?c
"""
#: What :func:`read` reads: the dataset's counts and every document summary, in two small queries.
_READ_TOTALS = sparql_prefixes(["bk", "void"]) + """
SELECT ?projects ?indicators ?agencies ?units ?departments ?budget ?quads WHERE {
  GRAPH ?summaries { ?dataset bk:projectCount ?projects ;
    bk:indicatorCount ?indicators ; bk:agencyCount ?agencies ; bk:budgetUnitCount ?units ;
    bk:departmentCount ?departments ; bk:budgetTotal ?budget ; void:triples ?quads }
}
"""
_READ_DOCUMENTS = sparql_prefixes(["bk", "dcterms"]) + """
SELECT ?g ?file ?projects ?indicators ?units ?budget WHERE {
  GRAPH ?summaries { ?s a bk:GraphSummary ; bk:summarises ?g ; dcterms:identifier ?file ; bk:projectCount ?projects ;
    bk:indicatorCount ?indicators ; bk:budgetUnitCount ?units ; bk:budgetTotal ?budget }
} ORDER BY ?g
"""


@dataclass
class DocumentCounts:
    document: str
    graph: str
    projects: int
    indicators: int
    budget_units: int
    budget_wanyuan: Decimal


@dataclass
class Counts:
    """What the store holds, per document graph and overall; ``classes``/``properties``: VoID partitions."""

    documents: list[DocumentCounts]
    projects: int
    indicators: int
    agencies: int
    budget_units: int
    departments: int
    budget_wanyuan: Decimal
    #: Published quads outside the summaries graph.
    quads: int
    classes: dict[str, int] = field(default_factory=dict)
    properties: dict[str, int] = field(default_factory=dict)


def _rows(result: object) -> list[dict[str, str]]:
    assert isinstance(result, QuerySolutions)  # every query here is a SELECT
    names = [v.value for v in result.variables]
    return [{n: (sol[n].value if sol[n] is not None else "") for n in names} for sol in result]


#: What :func:`measure` reads of ``reader`` (every query but the property partitions', which name every predicate): the
#: build's summaries step reads them from its in-memory projection (:mod:`kg.store.projection`).
READS = frozenset({RDF.type, DCTERMS.identifier, BK.budgetUnit, BK.hasIndicator, BK.budget, BK.amountInYuan})


def measure(store: GraphStore, iris: Iris, *, partitions: bool = True, reader: GraphStore | None = None) -> Counts:
    """Count the published graphs (the summaries graph aside); ``partitions=False`` skips the class partitions.

    The property partitions are always counted: their sum is the number of quads. ``reader``: where to ask what
    names only the predicates of :data:`READS` (the build's projection of ``store``); the property partitions are
    counted in ``store`` meanwhile, in a thread of their own when both are embedded (neither query holds Python's
    lock).
    """
    reader = reader if reader is not None else store
    skip = {"skip": iris.summaries_graph}

    def count_properties() -> tuple[dict[str, int], int]:
        properties = {r["p"]: int(r["n"]) for r in _rows(store.query(PROPERTIES, union=False, substitutions=skip))}
        return properties, int(_rows(store.query(DEFAULT_GRAPH, union=False))[0]["n"])

    with ThreadPoolExecutor(1, thread_name_prefix="summaries") as pool:
        both = reader is not store and isinstance(store, EmbeddedStore) and isinstance(reader, EmbeddedStore)
        counting = pool.submit(count_properties) if both else None
        budgets = {r["g"]: Decimal(r["budget"] or "0") for r in _rows(reader.query(BUDGET, union=False))}
        docs = [DocumentCounts(r["file"], r["g"], int(r["projects"]), int(r["indicators"]), int(r["units"]),
                               budgets.get(r["g"], Decimal(0)))
                for r in _rows(reader.query(PER_GRAPH, union=False)) if r["g"] != iris.summaries_graph.value]
        ag = _rows(reader.query(AGENCIES))[0]
        tot = _rows(reader.query(TOTALS))[0]
        classes = ({r["c"]: int(r["n"]) for r in _rows(reader.query(CLASSES, union=False, substitutions=skip))}
                   if partitions else {})
        properties, in_default = counting.result() if counting is not None else count_properties()
    return Counts(docs, int(tot["projects"]), int(tot["indicators"]), int(ag["n"]), int(ag["units"]),
                  int(ag["departments"]), sum(budgets.values(), Decimal(0)),
                  sum(properties.values()) + in_default, classes, properties)


_SIZE = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?summaries { ?s ?p ?o } }"


def size(store: GraphStore, iris: Iris) -> int:
    """The quads of the summaries graph itself (a few per class, property and document: quick to count)."""
    return int(_rows(store.query(_SIZE, union=False, substitutions={"summaries": iris.summaries_graph}))[0]["n"])


def _int(n: int) -> Literal:
    return Literal(str(n), datatype=XSD.integer)


def quads(counts: Counts, iris: Iris, graph: NamedNode) -> Iterator[Quad]:
    """The summaries graph for ``counts``, in ``graph``."""
    ds = iris.dataset

    def q(s: NamedNode, p: NamedNode, o: NamedNode | Literal) -> Quad:
        return Quad(s, p, o, graph)

    yield q(ds, RDF.type, VOID.Dataset)
    yield q(ds, VOID.triples, _int(counts.quads))
    for prop, n in (BK.projectCount, counts.projects), (BK.indicatorCount, counts.indicators), \
            (BK.agencyCount, counts.agencies), (BK.budgetUnitCount, counts.budget_units), \
            (BK.departmentCount, counts.departments):
        yield q(ds, prop, _int(n))
    yield q(ds, BK.budgetTotal, Literal(str(counts.budget_wanyuan), datatype=XSD.decimal))
    for cls, n in sorted(counts.classes.items()):
        node = iris.partition("class", cls)
        yield q(ds, VOID.classPartition, node)
        yield q(node, VOID["class"], NamedNode(cls))
        yield q(node, VOID.entities, _int(n))
    for prop_iri, n in sorted(counts.properties.items()):
        node = iris.partition("property", prop_iri)
        yield q(ds, VOID.propertyPartition, node)
        yield q(node, VOID.property, NamedNode(prop_iri))
        yield q(node, VOID.triples, _int(n))
    for d in counts.documents:
        node = iris.summary(NamedNode(d.graph))
        yield q(node, RDF.type, BK.GraphSummary)
        yield q(node, BK.summarises, NamedNode(d.graph))
        yield q(node, DCTERMS.identifier, Literal(d.document))
        yield q(node, BK.projectCount, _int(d.projects))
        yield q(node, BK.indicatorCount, _int(d.indicators))
        yield q(node, BK.budgetUnitCount, _int(d.budget_units))
        yield q(node, BK.budgetTotal, Literal(str(d.budget_wanyuan), datatype=XSD.decimal))


def refresh(store: GraphStore, iris: Iris, tx: Transaction | None = None, reader: GraphStore | None = None) -> Counts:
    """Measure the store and rewrite the summaries graph, as part of ``tx`` (a build's) or on its own.

    Readers trust it only once :func:`stamp` has recorded the generation it was written in. ``reader``: see
    :func:`measure`.
    """
    counts = measure(store, iris, reader=reader)
    graph = iris.summaries_graph
    with joined(store, tx) as t:
        t.replace(graph, lambda target: list(quads(counts, iris, target)))
    return counts


def stamp(store: GraphStore) -> None:
    """Record that the summaries graph describes the generation the current write publishes.

    Called once the write that refreshed the summary has committed (:meth:`kg.pipeline.SummariesStep.finish`):
    a write is published as the store's next generation when its outermost block ends, so that is the one
    recorded. Only an on-disk store keeps the stamp (the file :data:`STAMP_FILE`, replaced atomically).
    """
    if store.path is None or store.read_only:
        return
    path = store.path / STAMP_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{store.generation + 1}\n", encoding="ascii")
    os.replace(tmp, path)


def stamped(store: GraphStore) -> int | None:
    """The generation the summaries graph was written for (``None``: no stamp, or not an on-disk store)."""
    if store.path is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        return int((store.path / STAMP_FILE).read_text(encoding="ascii").strip())
    return None


def current(store: GraphStore) -> bool:
    """Whether the summaries and analytics graphs describe the store as it is (its generation is stamped)."""
    return stamped(store) == store.generation


def read(store: GraphStore, iris: Iris) -> Counts | None:
    """The counts the summaries graph holds, or ``None`` when it is absent or describes another generation."""
    if not current(store):
        return None
    at = {"summaries": iris.summaries_graph}
    totals = _rows(store.query(_READ_TOTALS, union=False, substitutions=at))
    if len(totals) != 1:
        return None
    t = totals[0]
    docs = [DocumentCounts(r["file"], r["g"], int(r["projects"]), int(r["indicators"]), int(r["units"]),
                           Decimal(r["budget"]))
            for r in _rows(store.query(_READ_DOCUMENTS, union=False, substitutions=at))]
    return Counts(docs, int(t["projects"]), int(t["indicators"]), int(t["agencies"]), int(t["units"]),
                  int(t["departments"]), Decimal(t["budget"]), int(t["quads"]))
