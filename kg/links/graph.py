"""The links graph: every link computed as statements of ``<base>graph/links``, and written to the store."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from pyoxigraph import NamedNode, Quad, QuerySolutions, RdfFormat, serialize

from .. import similarity as sim
from ..errors import StoreError
from ..iris import Iris
from ..namespaces import BK, CATEGORY, ORG, RDF, RDFS, SKOS
from ..settings import Settings
from ..store import GraphStore, NQuads, Transaction, joined, one_generation
from .concepts import Concept, cluster_terms, most_frequent
from .goals import shared_goals
from .inputs import LinkInputs, read_departments
from .lineage import undertakings
from .ntriples import FALSE, TRUE, LinkQuads, Terms, decimal, integer, iri, nt, string, zh
from .settings import LinkSettings
from .units import served_units

#: Separates the concept labels and the phrases a cross-agency link flattens (as the named queries' GROUP_CONCAT).
SEPARATOR = " | "

#: The vocabulary as N-Triples text, for the loops that write statements by the million.
_BK, _RDF, _SKOS = Terms(BK), Terms(RDF), Terms(SKOS)


@dataclass
class LinkReport:
    """What :func:`refresh_links` wrote."""

    projects: int = 0
    indicator_terms: int = 0
    indicator_concepts: int = 0
    exact_matches: int = 0
    close_matches: int = 0
    shared_goal_links: int = 0
    cross_agency_links: int = 0
    lineage_links: int = 0
    tranche_links: int = 0
    served_unit_links: int = 0
    served_units: int = 0
    #: Components of the lineage and tranche links (bk:Undertaking), each of two or more projects.
    undertakings: int = 0
    candidate_pairs: int = 0
    quads: int = 0
    #: Quads removed from and added to an existing links graph (a rebuild that changes nothing: 0 and 0).
    quads_removed: int = 0
    quads_added: int = 0
    #: An existing links graph too large to compare was rewritten whole (removed and added: not counted).
    rewritten: bool = False
    graph: str = ""
    #: Where the inputs came from: "store" (read with SPARQL) or "documents" (a build's parsed records).
    inputs: str = "store"
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _concept_quads(q: LinkQuads, concepts: list[Concept], weights: Mapping[int, float], informative: set[int],
                   iris: Iris, settings: LinkSettings, report: LinkReport) -> list[str]:
    scheme, tscheme = nt(iris.concept_scheme), nt(iris.term_scheme)
    for node, label_zh, label_en in ((scheme, "绩效指标概念", "Indicator concepts"),
                                     (tscheme, "三级指标措辞", "Indicator wordings")):
        q.add(node, RDF.type, SKOS.ConceptScheme)
        q.add(node, SKOS.prefLabel, zh(label_zh))
        q.add(node, SKOS.prefLabel, string(label_en) + "@en")
    nodes = []
    for k, c in enumerate(concepts):
        node = iri(iris.concept(c.leader.key))
        nodes.append(node)
        q.add(node, RDF.type, BK.IndicatorConcept)
        q.add(node, RDF.type, SKOS.Concept)
        q.add(node, SKOS.inScheme, scheme)
        q.add(node, SKOS.topConceptOf, scheme)
        q.add(node, SKOS.prefLabel, zh(c.leader.label))
        q.add(node, BK.projectCount, integer(len(c.projects)))
        q.add(node, BK.conceptWeight, decimal(weights[k]))
        q.add(node, BK.informative, TRUE if k in informative else FALSE)
        cats: Counter[str] = Counter()
        dims: Counter[str] = Counter()
        for t, *_ in c.members:
            cats.update(t.cats)
            dims.update({d: n for d, n in t.dims.items() if d})
        if cats:
            q.add(node, BK.conceptCategory, CATEGORY[most_frequent(cats)])
        if dims:
            q.add(node, BK.unitDimension, string(most_frequent(dims)))
        for t, score, shared, nested in c.members:
            term_iri = iris.term(t.key)
            term = iri(term_iri)
            label = t.label
            q.about(term, (_RDF.type, _BK.IndicatorTerm), (_RDF.type, _SKOS.Concept), (_SKOS.inScheme, tscheme),
                    (_SKOS.topConceptOf, tscheme), (_SKOS.prefLabel, zh(label)),
                    *[(_SKOS.altLabel, zh(alt)) for alt in sorted(t.labels) if alt != label])
            if t is not c.leader:
                q.add(node, _SKOS.altLabel, zh(label))
            q.add(term, _BK.projectCount, integer(len(t.projects)))
            if dim := t.dim:
                q.add(term, _BK.unitDimension, string(dim))
            if cat := t.cat:
                q.add(term, _BK.conceptCategory, CATEGORY[cat])
            # exact: as similar as that, and one wording says all the other says (系统验收合格率 ⊃ 验收合格率);
            # a substituted word (硬件/软件维护数量) is at most a close match
            exact = t is c.leader or (score >= settings.concept_exact and nested)
            relation = _SKOS.exactMatch if exact else _SKOS.closeMatch
            if exact:
                report.exact_matches += 1
            else:
                report.close_matches += 1
            q.add(term, relation, node)
            match = iri(f"{term_iri}/match")
            q.about(match, (_RDF.type, _BK.ConceptMatch), (_BK.matchedTerm, term), (_BK.matchedConcept, node),
                    (_BK.mappingRelation, relation), (_BK.score, decimal(score)),
                    (_BK.rule, string("concept/leader" if t is c.leader else "concept/bigram-dice")),
                    *[(_BK.matchedToken, zh(g)) for g in shared[:12]])
            for ind in sorted(t.indicators):
                q.about(iri(ind), (_BK.indicatorTerm, term), (_BK.indicatorConcept, node))
    return nodes


def _link(q: LinkQuads, node: str, cls: str, a: str, b: str, score: float, rule: str,
          *more: tuple[str, str]) -> None:
    """The statements of a link ``node`` from project IRI ``a`` to ``b`` (and ``more``, N-Triples text)."""
    q.about(node, (_RDF.type, cls), (_BK.fromProject, iri(a)), (_BK.toProject, iri(b)), (_BK.score, decimal(score)),
            (_BK.rule, string(rule)), *more)


def compute_links(store: GraphStore, settings: Settings, link_settings: LinkSettings | None = None,
                  graph: NamedNode | None = None, sink: Callable[[NQuads], None] | None = None,
                  inputs: LinkInputs | None = None) -> tuple[list[Quad], LinkReport]:
    """Read the store and compute every link; returns the quads (in ``graph``) and a report. Writes nothing.

    With a ``sink`` the quads are handed to it in chunks as they are made (bounded memory) and the
    returned list is empty.
    """
    q = LinkQuads(graph or Iris(settings.base_iri).links_graph, sink)
    report = _compute(store, settings, link_settings or LinkSettings(), q, inputs)
    return q.quads(), report


def _compute(store: GraphStore, settings: Settings, ls: LinkSettings, q: LinkQuads,
             inputs: LinkInputs | None = None) -> LinkReport:
    iris = Iris(settings.base_iri)
    report = LinkReport(graph=iris.links_graph.value)
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.steps[name] = round(now - clock, 3)
        clock = now

    if inputs is None or inputs.repeated:
        inputs = LinkInputs.read(store)
    else:
        report.inputs = "documents"
    projects = inputs.project_list()
    index = {p.iri: i for i, p in enumerate(projects)}
    report.projects = n = len(projects)
    terms = inputs.terms(index)
    departments = read_departments(store)
    step("read")

    concepts = cluster_terms(terms, ls)
    report.indicator_terms, report.indicator_concepts = len(terms), len(concepts)
    weights: dict[int, float] = {}
    informative: set[int] = set()
    concept_sets: list[set[int]] = [set() for _ in projects]
    for k, c in enumerate(concepts):
        carriers = c.projects
        weights[k] = sim.idf(len(carriers), n)
        if not c.is_weak(ls) and 1 < len(carriers) <= ls.max_concept_share * n:
            informative.add(k)
            for carrier in carriers:
                concept_sets[carrier].add(k)
    concept_nodes = _concept_quads(q, concepts, weights, informative, iris, ls, report)
    step("concepts")

    goal_links, report.candidate_pairs = shared_goals(projects, concept_sets, weights, ls)
    leader_labels = [c.leader.label for c in concepts]
    for g in goal_links:
        a, b = projects[g.a], projects[g.b]
        node = iri(iris.link("shared-goal", a.iri, b.iri))
        cross = a.unit_code != b.unit_code
        report.cross_agency_links += cross
        _link(q, node, _BK.SharedGoalLink, a.iri, b.iri, g.score, "shared-goal/idf-cosine",
              (_BK.conceptScore, decimal(g.concept_score)), (_BK.goalTextScore, decimal(g.goal_score)),
              (_BK.crossAgency, TRUE if cross else FALSE),
              *[(_BK.sharedConcept, concept_nodes[k]) for k in g.concepts],
              *[(_BK.matchedToken, zh(phrase)) for phrase in g.phrases])
        if cross:  # flattened for the analytics (kg.analytics): what shared_goals_* would aggregate per link
            labels = sorted({leader_labels[k] for k in g.concepts})
            if labels:
                q.add(node, _BK.sharedConceptLabels, string(SEPARATOR.join(labels)))
            if g.phrases:
                q.add(node, _BK.matchedPhrases, string(SEPARATOR.join(sorted(set(g.phrases)))))
    report.shared_goal_links = len(goal_links)
    step("shared-goals")

    served_links, units, served_of = served_units(projects, departments, iris)
    for unit in units:
        node = iri(iris.served_unit(unit.department, unit.name))
        q.add(node, RDF.type, BK.ServedUnit)
        q.add(node, RDFS.label, zh(unit.name))
        for alias in sorted(unit.aliases):
            q.add(node, SKOS.altLabel, zh(alias))
        q.add(node, ORG.subOrganizationOf, iri(iris.agency(unit.department).value))
    for s in served_links:
        p = projects[s.project]
        node = iri(iris.served_unit_link(p.iri))
        project, unit_node = iri(p.iri), iri(s.unit_iri)
        q.about(node, (_RDF.type, _BK.ServedUnitLink), (_BK.fromProject, project), (_BK.toUnit, unit_node),
                (_BK.score, decimal(s.score)), (_BK.rule, string(s.rule)), (_BK.matchedToken, zh(s.name)))
        q.add(project, _BK.servesUnit, unit_node)
    report.served_units, report.served_unit_links = len(units), len(served_links)
    step("served-units")

    members = _Components(n)
    for u in undertakings(projects, served_of, ls):
        members.join(u.a, u.b)
        a, b = projects[u.a], projects[u.b]
        cls = _BK.TrancheLink if u.kind == "tranche" else _BK.LineageLink
        node = iri(iris.link(u.kind, a.iri, b.iri))
        _link(q, node, cls, a.iri, b.iri, u.score, u.rule, (_BK.nameScore, decimal(u.name_score)),
              (_BK.goalTextScore, decimal(u.goal_score)), *[(_BK.matchedToken, zh(core)) for core in u.cores])
        q.add(iri(a.iri), _BK.nextInUndertaking, iri(b.iri))
        if u.kind == "tranche":
            report.tranche_links += 1
        else:
            report.lineage_links += 1
    groups = members.groups()
    for group in groups:
        first = min(projects[i].iri for i in group)
        node = iri(iris.undertaking(first))
        q.add(node, RDF.type, BK.Undertaking)
        q.add(node, BK.memberCount, integer(len(group)))
        for i in group:
            q.add(iri(projects[i].iri), _BK.inUndertaking, node)
    report.undertakings = len(groups)
    step("lineage")

    s_node = nt(iris.link_settings)
    q.add(s_node, RDF.type, BK.LinkSettings)
    q.add(s_node, RDFS.label, zh("关联计算参数"))
    q.add(s_node, RDFS.label, string("Link settings") + "@en")
    for line in ls.as_text():
        q.add(s_node, BK.setting, string(line))
    q.flush()
    report.quads = q.count
    report.seconds = round(sum(report.steps.values()), 3)
    return report


class _Components:
    """The connected components of a graph on ``0 … n-1`` (union-find with path halving).

    >>> c = _Components(5); c.join(0, 1); c.join(3, 1); c.groups()
    [[0, 1, 3]]
    """

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        """Every component of two or more members, each in ascending order, ordered by its first member."""
        by_root: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            by_root.setdefault(self.find(i), []).append(i)
        return sorted((g for g in by_root.values() if len(g) > 1), key=lambda g: g[0])


#: Largest existing links graph compared with the new links, and largest change (quads removed plus
#: added) applied to it as one SPARQL update; beyond either, the whole graph is rewritten.
DIFF_LIMIT = 300_000


@one_generation
def refresh_links(store: GraphStore, settings: Settings, link_settings: LinkSettings | None = None,
                  inputs: LinkInputs | None = None, tx: Transaction | None = None) -> LinkReport:
    """Recompute every link and replace ``<base>graph/links`` atomically; returns what was written.

    ``inputs`` are what to link when the caller has them already (a build that has just parsed
    every document in the store); by default they are read from the store.

    A new links graph is written while it is computed, by a :class:`~kg.store.GraphWriter`
    (atomic up to a million quads; beyond, journaled and bulk-loaded in the background, so that
    writing overlaps computing). An existing one of at most :data:`DIFF_LIMIT` quads is computed in
    memory first and changed by the difference only (``DELETE DATA`` and ``INSERT DATA`` in one
    SPARQL update, one transaction), so a rebuild that changes nothing writes nothing; a larger
    change rewrites it through a writer. A larger existing graph is rewritten as a new one is
    written (comparing millions of quads would take more memory than the rewrite takes time); the
    report says ``rewritten``. On a store without projects the links graph is removed. On the
    seeds the whole step takes well under a second, cheap enough to run at the end of every build.

    ``tx`` is the caller's transaction (a build's), which swaps the graph in with the rest of its
    writes; by default the step has its own.
    """
    started = time.perf_counter()
    graph = Iris(settings.base_iri).links_graph
    ls = link_settings or LinkSettings()
    exists = store.has_graph(graph)
    with joined(store, tx) as t:
        if not exists or _larger_than(store, graph, DIFF_LIMIT):  # written while computed (a GraphWriter)
            writer = t.writer(graph)
            try:
                report = _compute(store, settings, ls, LinkQuads(graph, sink=writer.add, first=writer.first), inputs)
            except BaseException:
                writer.abort()
                raise
            computed = time.perf_counter()
            if report.projects == 0:
                writer.abort()
                t.remove(graph)
                report.quads = 0
            else:
                writer.commit()
                report.rewritten = exists
        else:
            quads = LinkQuads(graph)
            report = _compute(store, settings, ls, quads, inputs)
            computed = time.perf_counter()
            if report.projects == 0:
                t.remove(graph)
                report.quads = 0
            else:
                made = quads.quads()
                new = set(made)
                old = set(store.quads(graph))
                deletes, inserts = old - new, [q for q in made if q not in old]
                report.quads_removed, report.quads_added = len(deletes), len(inserts)
                if len(deletes) + len(inserts) <= DIFF_LIMIT:
                    _apply_difference(t, graph, sorted(deletes, key=str), inserts)
                else:
                    with t.writer(graph) as w:
                        w.add(made)
    store.flush()
    report.steps["write"] = round(time.perf_counter() - computed, 3)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _larger_than(store: GraphStore, graph: NamedNode, n: int) -> bool:
    """Whether ``graph`` holds more than ``n`` quads (reads at most ``n + 1`` of them)."""
    sparql = (f"SELECT (COUNT(*) AS ?n) WHERE {{ SELECT * WHERE {{ GRAPH <{graph.value}> {{ ?s ?p ?o }} }} "
              f"LIMIT {n + 1} }}")
    solutions = store.query(sparql, name="links:size")
    assert isinstance(solutions, QuerySolutions)  # a SELECT
    for s in solutions:
        return int(s["n"].value) > n
    return False


def _apply_difference(tx: Transaction, graph: NamedNode, deletes: list[Quad], inserts: list[Quad]) -> None:
    if not deletes and not inserts:
        return
    parts = []
    for verb, quads in (("DELETE", deletes), ("INSERT", inserts)):
        if quads:
            body = (serialize((q.triple for q in quads), format=RdfFormat.N_TRIPLES) or b"").decode("utf-8")
            parts.append(f"{verb} DATA {{ GRAPH <{graph.value}> {{\n{body}}} }}")
    try:
        tx.update(" ;\n".join(parts))  # one update request: one transaction
    except (OSError, SyntaxError) as exc:
        raise StoreError(f"updating graph {graph.value} failed: {exc}") from None
