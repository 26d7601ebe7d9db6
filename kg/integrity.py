"""No fact in two published graphs: the invariant that keeps every total right.

Oxigraph's union default graph matches a triple once per named graph that holds it, so one fact
stored in two graphs is counted twice by every ``SUM`` or ``COUNT`` that touches it (and every
join through it multiplies). budgetkg keeps each fact in exactly one graph: a document graph
describes the document and the projects it owns (:mod:`kg.revisions` makes each project owned by
one document), the agencies graph the agencies, each derived graph (links, findings, contracts,
vendors) only what it derives. This module checks that, on the store itself.

How it is checked without comparing every quad with every other (a join of the store with itself
costs 6–13 µs a quad on Oxigraph: minutes at 34 million quads), yet exactly:

- **Projects.** No project is typed ``bk:Project`` in two graphs (:func:`shared_projects`: one scan
  of the class index, a count per project).
- **Document graphs.** Every subject of a document graph is its document, one of the projects typed
  in it, or a node minted under one of those (:func:`foreign_subjects`). With the rule above, two
  document graphs then share no subject, so no triple. A build checks this on each document's quads
  before writing them; a check of the store reads each document graph's subjects (one scan), and a
  document graph that describes anything else, or types a document or a project that another graph types too
  (both then "own" it), is compared with every other graph quad by quad.
- **Every other graph** (ontology, agencies, links, findings, contracts, vendors) is compared with
  every other graph quad by quad, but only on the predicates it shares with some other graph, and for
  a predicate with few values (``rdf:type``, ``skos:inScheme`` …) only on the values another graph
  uses too: a triple whose predicate, or class, no other graph uses cannot be in two graphs.

:func:`duplicated_facts` with no scope is that whole check (``budgetkg validate``); with a scope it
compares only the given graphs with the rest (a build, an import, ``budgetkg link``, the findings).
:func:`pairwise_duplicates` is the plain join, kept as the reference the tests compare with.

>>> from pyoxigraph import Quad, NamedNode
>>> from kg.store import EmbeddedStore
>>> kg = EmbeddedStore()
>>> x, g1, g2 = NamedNode("http://e/x"), NamedNode("http://e/g1"), NamedNode("http://e/g2")
>>> with kg.transaction() as tx:
...     _ = tx.replace(g1, [Quad(x, x, x, g1)]), tx.replace(g2, [Quad(x, x, x, g2)])
>>> [(d.subject, sorted(d.graphs)) for d in duplicated_facts(kg)]
[('http://e/x', ['http://e/g1', 'http://e/g2'])]
>>> [d.subject for d in duplicated_facts(kg, [g1])]
['http://e/x']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyoxigraph import BlankNode, NamedNode, Quad, QuerySolution

from .errors import BudgetKGError
from .iris import STAGING_PREFIX, is_staging
from .namespaces import BK
from .store import GraphStore, solutions, term_value

#: How many duplicated facts a check reports at most (one is enough to refuse).
REPORT_LIMIT = 20

_HIDDEN = f'!STRSTARTS(STR(?h), "{STAGING_PREFIX}")'

_ALL_PAIRS = f"""
SELECT ?s ?p ?o ?g ?h WHERE {{
  GRAPH ?g {{ ?s ?p ?o }} GRAPH ?h {{ ?s ?p ?o }}
  FILTER(STR(?g) < STR(?h) && !STRSTARTS(STR(?g), "{STAGING_PREFIX}") && {_HIDDEN})
}} LIMIT {REPORT_LIMIT}
"""

_PREDICATES = "SELECT DISTINCT ?p WHERE { GRAPH ?g { ?s ?p ?o } }"

_ELSEWHERE = f"ASK {{ GRAPH ?h {{ ?s ?p ?o }} FILTER(?h != ?g && {_HIDDEN}) }}"

#: A predicate with at most this many values in a graph is checked value by value.
FEW_VALUES = 64
_OBJECTS = f"SELECT DISTINCT ?o WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }} LIMIT {FEW_VALUES + 1}"

_SCOPED = f"""
SELECT ?s ?p ?o ?g ?h WHERE {{
  GRAPH ?g {{ ?s ?p ?o }} GRAPH ?h {{ ?s ?p ?o }} FILTER(?h != ?g && {_HIDDEN})
}} LIMIT {REPORT_LIMIT}
"""

# one scan of the project index and a count per project (a join of the index with itself is 3× slower)
_SHARED_PROJECTS = f"""
SELECT ?p (MIN(STR(?g)) AS ?first) (MAX(STR(?g)) AS ?last) WHERE {{
  GRAPH ?g {{ ?p a <{BK.Project.value}> }} FILTER(!STRSTARTS(STR(?g), "{STAGING_PREFIX}"))
}} GROUP BY ?p HAVING(COUNT(?g) > 1) LIMIT {REPORT_LIMIT}
"""


@dataclass(frozen=True)
class DuplicateFact:
    """One triple that more than one published graph holds."""

    subject: str
    predicate: str
    object: str
    graphs: frozenset[str]

    def __str__(self) -> str:
        return f"{self.subject} {self.predicate} {self.object} is in {', '.join(sorted(self.graphs))}"


class DuplicateFacts(BudgetKGError):
    """Facts stored in two graphs: every total touching them would count them twice."""

    def __init__(self, found: list[DuplicateFact]) -> None:
        self.found = found
        shown = "; ".join(str(d) for d in found[:3])
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        super().__init__(f"{len(found)}{'+' if len(found) >= REPORT_LIMIT else ''} facts are stored in two "
                         f"graphs, so totals over them would count them twice: {shown}{more}")


def _merge(rows: Iterable[QuerySolution]) -> list[DuplicateFact]:
    found: dict[tuple[str, str, str], set[str]] = {}
    for r in rows:
        key = (term_value(r["s"]), term_value(r["p"]), str(r["o"]))
        found.setdefault(key, set()).update((term_value(r["g"]), term_value(r["h"])))
    return [DuplicateFact(s, p, o, frozenset(g)) for (s, p, o), g in sorted(found.items())]


def pairwise_duplicates(store: GraphStore) -> list[DuplicateFact]:
    """Triples held by two published graphs, by a join of every quad with every other (slow, plain)."""
    return _merge(solutions(store.query(_ALL_PAIRS, name="duplicated facts")))


def duplicated_facts(store: GraphStore, scope: Iterable[NamedNode] | None = None) -> list[DuplicateFact]:
    """Triples held by two published graphs (at most :data:`REPORT_LIMIT`); see the module docstring.

    ``scope``: compare only these graphs with the others (on the predicates they share with them).
    Without it, the whole store: document graphs by what they describe, every other graph as a scope.
    """
    if scope is None:
        documents = _document_graphs(store)
        shared = _sharing(store, documents)
        scope = [g for g in store.graphs() if g.value not in documents or g.value in shared
                 or _describes_more(store, g, documents[g.value])]
    rows: list[QuerySolution] = []

    def ask(query: str, **bound: object) -> bool:
        return bool(store.query(query, name="duplicated facts", substitutions=bound, union=False))

    def select(query: str, **bound: object) -> list[QuerySolution]:
        return list(solutions(store.query(query, name="duplicated facts", substitutions=bound, union=False)))

    for graph in scope:
        for p in [r["p"] for r in select(_PREDICATES, g=graph)]:
            if not ask(_ELSEWHERE, g=graph, p=p):
                continue
            # a predicate with few values here (rdf:type, skos:inScheme …): only the values that another
            # graph also uses can repeat a fact, and the rest (a class of its own) is not probed at all
            # (a blank node cannot be bound in a VALUES block: a predicate with one is probed whole)
            values = [r["o"] for r in select(_OBJECTS, g=graph, p=p)]
            few = len(values) <= FEW_VALUES and not any(isinstance(o, BlankNode) for o in values)
            pairs = [{"p": p, "o": o} for o in values if ask(_ELSEWHERE, g=graph, p=p, o=o)] if few else [{"p": p}]
            for bound in pairs:
                rows.extend(select(_SCOPED, g=graph, **bound))
                if len(rows) >= REPORT_LIMIT:
                    return _merge(rows)
    return _merge(rows)


_DOCUMENTS = f"SELECT ?g ?doc WHERE {{ GRAPH ?g {{ ?doc a <{BK.SourceDocument.value}> }} }}"
_OWNED = f"SELECT ?p WHERE {{ GRAPH ?g {{ ?p a <{BK.Project.value}> }} }}"
_SUBJECTS = "SELECT DISTINCT ?s WHERE { GRAPH ?g { ?s ?p ?o } }"


def _document_graphs(store: GraphStore) -> dict[str, list[str]]:
    """Graph → the documents it describes, for every published graph that describes one."""
    out: dict[str, list[str]] = {}
    for r in solutions(store.query(_DOCUMENTS, name="documents", union=False)):
        g = r["g"]
        if isinstance(g, NamedNode) and not is_staging(g):
            out.setdefault(g.value, []).append(term_value(r["doc"]))
    return out


def _sharing(store: GraphStore, documents: dict[str, list[str]]) -> set[str]:
    """The document graphs that type a document or a project that another graph types too: what they describe is
    not theirs alone (the facts stating it may be the other graph's), so they are compared quad by quad."""
    graphs_of: dict[str, list[str]] = {}
    for graph, described in documents.items():
        for document in described:
            graphs_of.setdefault(document, []).append(graph)
    out = {g for graphs in graphs_of.values() if len(graphs) > 1 for g in graphs}
    out.update(g for shared in shared_projects(store) for g in shared.graphs)
    return out


def _describes_more(store: GraphStore, graph: NamedNode, documents: list[str]) -> bool:
    """Whether a document graph describes something other than its documents and the projects typed in it."""
    owned = [*documents, *(term_value(r["p"]) for r in solutions(store.query(
        _OWNED, name="projects of a graph", substitutions={"g": graph}, union=False)))]
    subjects = (r["s"] for r in solutions(store.query(_SUBJECTS, name="subjects of a graph",
                                                      substitutions={"g": graph}, union=False)))
    return bool(_foreign(subjects, owned, limit=1))


def shared_projects(store: GraphStore) -> list[DuplicateFact]:
    """Projects typed ``bk:Project`` in two published graphs (each owns its facts: it must be one)."""
    rows = solutions(store.query(_SHARED_PROJECTS, name="shared projects", union=False))
    return [DuplicateFact(term_value(r["p"]), "a", BK.Project.value,
                          frozenset((term_value(r["first"]), term_value(r["last"])))) for r in rows]


def check(store: GraphStore, scope: Iterable[NamedNode] | None = None) -> None:
    """Raise :class:`DuplicateFacts` if a fact is in two graphs (all graphs, or ``scope`` against the rest)."""
    found = shared_projects(store) + duplicated_facts(store, scope)
    if found:
        raise DuplicateFacts(found)


def foreign_subjects(quads: Iterable[Quad], owned: Iterable[str], limit: int = 5) -> list[str]:
    """Subjects of ``quads`` that are none of the ``owned`` IRIs nor minted under one (``owned + "/"``).

    A document's quads may only describe the document and the projects it owns; anything else
    could repeat a fact of another graph.

    >>> from pyoxigraph import NamedNode, Quad
    >>> a, b, p = NamedNode("http://e/doc"), NamedNode("http://e/other"), NamedNode("http://e/p")
    >>> foreign_subjects([Quad(a, p, p), Quad(NamedNode("http://e/doc/x"), p, p), Quad(b, p, p)], ["http://e/doc"])
    ['http://e/other']
    """
    return _foreign((q.subject for q in quads), owned, limit)


def _foreign(subjects: Iterable[object], owned: Iterable[str], limit: int) -> list[str]:
    allowed = set(owned)
    seen: set[str] = set()
    bad: list[str] = []
    for term in subjects:
        s = getattr(term, "value", str(term))
        if s in seen:
            continue
        seen.add(s)
        if s in allowed:
            continue
        head = s
        while "/" in head:
            head = head.rsplit("/", 1)[0]
            if head in allowed:
                break
        else:
            bad.append(s)
            if len(bad) >= limit:
                break
    return bad
