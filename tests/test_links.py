"""Materialised links on the seeds (kg/links/): concepts, shared goals, lineage, tranches, served units.

The hand-checked list :data:`UNDERTAKINGS` and the goldens in ``tests/golden/analytics/`` state
what the seed documents say; set ``BUDGETKG_WRITE_GOLDEN=1`` to rewrite the goldens after a
deliberate change (keep their ``#`` header of checked rows and re-check the diff by eye).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st
from pyoxigraph import BlankNode, NamedNode, QueryResultsFormat, RdfFormat, parse
from pyoxigraph import Literal as PyLiteral
from rdflib import RDF, RDFS, Graph, Literal, URIRef
from rdflib.namespace import OWL

from kg import queries
from kg.build import parse_document
from kg.iris import Iris
from kg.links import (
    LinkInputs,
    LinkSettings,
    compute_links,
    core_name,
    document_links,
    is_abbreviation,
    read_projects,
    refresh_links,
    shared_goals,
)
from kg.pipeline import build
from kg.settings import QUERIES_DIR, Settings
from kg.sources import adhoc_entry
from kg.store import STAGING_PREFIX, EmbeddedStore, GraphStore

from .helpers import GOLDEN, ROOT, canonical_csv, read_golden

ANALYTICS = GOLDEN / "analytics"
BK = "https://budgetkg.example.org/def/"
PREFIXES = f"PREFIX bk: <{BK}>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n" \
           "PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"


@pytest.fixture(scope="module")
def linked(settings: Settings, manifest) -> GraphStore:
    """The seeds built into a fresh in-memory store, with links computed (this module's own store)."""
    store = EmbeddedStore(None)
    build(store, manifest.entries, settings, manifest=manifest)
    refresh_links(store, settings)
    return store


def rows(store: GraphStore, sparql: str) -> list[tuple[str, ...]]:
    return [tuple("" if t is None else t.value for t in s) for s in store.query(PREFIXES + sparql)]


# -- lineage and tranches ------------------------------------------------------------------

#: Every lineage and tranche link on the seeds, hand-checked against 004 (and 001–003, which have
#: none): names, fund years and goal texts (绩效目标) of both tables. (kind, rule, earlier, later)
UNDERTAKINGS = {
    ("lineage", "lineage/fund-year", "督审总队信息化运维经费-2023中央", "督审总队信息化运维项目-2024中央"),
    ("lineage", "lineage/fund-year", "法制总队信息化运维经费50%款项-2023中央", "法制总队信息化运维项目-2024中央"),
    ("lineage", "lineage/fund-year", "禁毒总队信息化运维经费50%款项-2023中央", "禁毒总队信息化运维项目-2024中央"),
    ("lineage", "lineage/fund-year", "科信总队信息化运维经费60%款项-2023中央", "科信总队信息化运维项目-2024中央"),
    ("lineage", "lineage/fund-year", "治安管理总队信息化运维经费-2023中央", "治安管理总队信息化运维项目-2024中央"),
    ("lineage", "lineage/fund-year", "治安管理总队信息化运维经费50%款项-2023中央",
     "治安管理总队信息化运维项目-2024中央"),
    # 人口总队 is 人口管理总队 abbreviated (served-unit alias)
    ("lineage", "lineage/fund-year", "人口管理总队信息化运维经费-2023中央", "人口总队信息化运维项目-2024中央"),
    ("lineage", "lineage/fund-year", "监管总队信息化运维经费-2023中央", "监管总队信息化运维项目-2024中央"),
    ("lineage", "lineage/fund-year", "监管总队被监管人员医疗费项目-2023中央", "监管总队被监管人员医疗费项目-2024中央"),
    ("lineage", "lineage/fund-year", "特警总队信息化运维经费50%款项-2023中央", "特警总队信息化运维项目-2024中央"),
    # same goals word for word (lines 4165/4247 of 004: 侦办各类刑事案件 …)
    ("lineage", "lineage/fund-year", "办案业务费-2023中央", "全局办案业务费-2024中央"),
    ("lineage", "lineage/fund-year", "教育训练经费-2023中央", "全局教育训练经费 -2024中央"),
    # 保障2023年 / 保障2024年公交分局办案业务经费，支持案件侦破…: the goal text confirms the names
    ("lineage", "lineage/fund-year", "公交分局办案业务费-2023中央", "公交分局办案经费项目-2024中央"),
    # both: 加强公安队伍正规划化建设，规范公安机关人民警察着装管理 …
    ("lineage", "lineage/fund-year", "民警被装购置费进度款-2023中央", "警服被装购置费-2024中央"),
    # PDT 加密卡 of 350兆警用数字集群 in all three
    ("lineage", "lineage/fund-year", "天津市公安局警用数字集群通信装备建设项目80%款项-2023中央",
     "天津市公安局警用数字集群(PDT)通信装备建设项目-2024中央"),
    ("lineage", "lineage/fund-year", "天津市公安局警用数字集群通信装备建设项目90%款项-2023一般债",
     "天津市公安局警用数字集群(PDT)通信装备建设项目-2024中央"),
    ("lineage", "lineage/fund-year", "学校思想政治工作补助项目（原2023年项目）", "学校思想政治工作补助项目（2024年）"),
    ("lineage", "lineage/fund-year", "沿海保卫总队业务工作经费-2023中央", "沿海安全保卫总队业务工作费-2024中央"),
    ("lineage", "lineage/funding-source", "沿海保卫总队业务工作经费-2023中央", "沿海安全保卫总队业务工作费"),
    ("lineage", "lineage/funding-source", "沿海安全保卫总队业务工作费", "沿海安全保卫总队业务工作费-2024中央"),
    ("lineage", "lineage/funding-source", "指挥中心业务经费-2024中央", "指挥中心业务经费"),
    # 中央直达资金 part and the rest of one student-aid scheme (same goals: 资助困难学生 …)
    ("lineage", "lineage/funding-source", "学生资助补助经费-01中央直达资金", "学生资助政策体系"),
    ("tranche", "tranche/final+partial", "执法办案管理中心和案管室装备建设80%款项-2023中央",
     "执法办案管理中心和案管室装备建设（尾款）-2024中央"),
    ("tranche", "tranche/partial", "天津市公安局警用数字集群通信装备建设项目80%款项-2023中央",
     "天津市公安局警用数字集群通信装备建设项目90%款项-2023一般债"),
    ("tranche", "tranche/partial+principal", "治安管理总队信息化运维经费-2023中央",
     "治安管理总队信息化运维经费50%款项-2023中央"),
    ("tranche", "tranche/interest+principal", "天津公安警官职业学院安保实训基地项目-2023年专项债券",
     "天津公安警官职业学院安保实训基地（专项债券利息）"),
    ("tranche", "tranche/interest+principal", "天津公安警官职业学院安保实训基地项目-2023年专项债券",
     "天津公安警官职业学院安保实训基地-2024年专项债券利息"),
    ("tranche", "tranche/interest", "天津公安警官职业学院安保实训基地（专项债券利息）",
     "天津公安警官职业学院安保实训基地-2024年专项债券利息"),
    ("tranche", "tranche/interest", "市级政府投资项目（公安）-2024债券利息",
     "市级政府投资项目（公安）地方政府一般债券利息"),
}


def test_lineage_and_tranche_links_are_exactly_the_hand_checked_ones(linked: GraphStore) -> None:
    got = set(rows(linked, """
        SELECT ?kind ?rule ?a ?b WHERE {
          VALUES (?cls ?kind) { (bk:LineageLink "lineage") (bk:TrancheLink "tranche") }
          ?l a ?cls ; bk:rule ?rule ; bk:fromProject/rdfs:label ?a ; bk:toProject/rdfs:label ?b }"""))
    assert got == UNDERTAKINGS


def test_different_served_units_are_never_one_undertaking(linked: GraphStore) -> None:
    assert not rows(linked, """
        SELECT ?l WHERE { ?l bk:fromProject ?a ; bk:toProject ?b . ?a bk:servesUnit ?u . ?b bk:servesUnit ?v .
                          FILTER(?u != ?v) VALUES ?c { bk:LineageLink bk:TrancheLink } ?l a ?c }""")


def test_lineage_links_carry_their_evidence(linked: GraphStore) -> None:
    (row,) = rows(linked, """
        SELECT ?score ?name ?goal ?token WHERE {
          ?l a bk:LineageLink ; bk:score ?score ; bk:nameScore ?name ; bk:goalTextScore ?goal ; bk:matchedToken ?token ;
             bk:fromProject/rdfs:label "督审总队信息化运维经费-2023中央"@zh }""")
    assert row[0] == "1" and row[1] == "1" and row[3] == "信息化运维"


def test_an_undertaking_is_what_its_links_reach_both_ways(linked: GraphStore) -> None:
    """bk:inUndertaking names the projects the path (next|^next)+ reaches, and each project has at most one."""
    reached = set(rows(linked, """
        SELECT DISTINCT ?p ?m WHERE { ?p a bk:Project ; (bk:nextInUndertaking|^bk:nextInUndertaking)+ ?m
                                      FILTER(?p != ?m) }"""))
    kept = set(rows(linked, """
        SELECT DISTINCT ?p ?m WHERE { ?p bk:inUndertaking ?u . ?m bk:inUndertaking ?u FILTER(?p != ?m) }"""))
    assert reached and kept == reached
    assert not rows(linked, "SELECT ?p WHERE { ?p bk:inUndertaking ?u , ?v FILTER(?u != ?v) }")
    counted = rows(linked, """
        SELECT ?u ?n (COUNT(?p) AS ?members) WHERE { ?u a bk:Undertaking ; bk:memberCount ?n . ?p bk:inUndertaking ?u }
        GROUP BY ?u ?n""")
    assert counted and all(int(n) == int(members) >= 2 for _, n, members in counted)


@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))))
def test_undertakings_are_the_connected_components_of_their_links(graph: tuple[int, list[tuple[int, int]]]) -> None:
    import networkx as nx

    from kg.links.graph import _Components

    n, edges = graph
    components = _Components(n)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for a, b in edges:
        components.join(a, b)
        g.add_edge(a, b)
    expected = sorted((sorted(c) for c in nx.connected_components(g) if len(c) > 1), key=lambda c: c[0])
    assert components.groups() == expected


def test_core_names() -> None:
    assert core_name("公交分局办案经费项目", "公交分局") == "办案"
    assert core_name("学校思想政治工作补助项目") == "学校思想政治工作补助"
    assert core_name("考核中心2024年天津市数字化城市管理系统运维项目") == "考核中心天津市数字化城市管理系统运维"


# -- served units --------------------------------------------------------------------------


def test_served_units(linked: GraphStore) -> None:
    got = dict(rows(linked, """
        SELECT ?name ?unit WHERE { ?p rdfs:label ?name ; bk:servesUnit ?u .
          OPTIONAL { ?u a bk:ServedUnit ; rdfs:label ?l }
          BIND(COALESCE(?l, REPLACE(STR(?u), "^.*/", "")) AS ?unit) }"""))
    assert got["督审总队信息化运维项目-2024中央"] == "督审总队"
    assert got["法制总队信息化运维经费50%款项-2023中央"] == "法制总队"
    assert got["人口总队信息化运维项目-2024中央"] == "人口管理总队"  # abbreviation → the longer name
    assert got["公交分局办案业务费-2023中央"] == "341112"  # 天津市公安局公共交通治安分局
    assert got["监管总队信息化运维项目-2024中央"] == "341107"  # 天津市公安局监所管理总队
    assert got["出入境管理总队业务费-2023中央"] == "341105"
    assert got["沿海保卫总队业务工作经费-2023中央"] == "341143"  # 沿海安全保卫总队
    assert got["警航基地业务经费-2024中央"] == "警航基地"  # 警务航空总队 is not an abbreviation of it
    assert len(got) == 50
    (alias,) = rows(linked, "SELECT ?a WHERE { ?u a bk:ServedUnit ; rdfs:label '人口管理总队'@zh ; skos:altLabel ?a }")
    assert alias == ("人口总队",)


def test_abbreviations() -> None:
    assert is_abbreviation("沿海保卫总队", "沿海安全保卫总队")
    assert not is_abbreviation("法制总队", "督审总队")
    assert not is_abbreviation("政治部", "政治部")


# -- indicator concepts and shared goals ---------------------------------------------------


def _concept_of(store: GraphStore, label: str) -> str:
    (row,) = rows(store, f"SELECT DISTINCT ?c WHERE {{ ?t a bk:IndicatorTerm ; skos:prefLabel '{label}'@zh ; "
                         "skos:exactMatch|skos:closeMatch ?c }")
    return row[0]


def test_wordings_of_one_indicator_form_one_concept(linked: GraphStore) -> None:
    c = _concept_of(linked, "系统使用人员满意度")
    assert _concept_of(linked, "使用人员满意度") == c
    assert _concept_of(linked, "系统验收合格率") == _concept_of(linked, "验收合格率")
    assert _concept_of(linked, "服务对象满意度") != c  # another population
    assert _concept_of(linked, "维修费支出金额") != _concept_of(linked, "租赁费支出金额")  # another cost


def test_concept_matches_are_explained(linked: GraphStore) -> None:
    (row,) = rows(linked, """
        SELECT ?rel ?score WHERE { ?m a bk:ConceptMatch ; bk:matchedTerm/skos:prefLabel '使用人员满意度'@zh ;
          bk:mappingRelation ?rel ; bk:score ?score }""")
    assert row[0].endswith("exactMatch") and 0.8 <= float(row[1]) < 1


def test_concept_weight_falls_with_the_projects_that_carry_it(linked: GraphStore) -> None:
    got = [(int(n), float(w)) for n, w in rows(linked, """
        SELECT ?n ?w WHERE { ?c a bk:IndicatorConcept ; bk:projectCount ?n ; bk:conceptWeight ?w }""")]
    for (n1, w1), (n2, w2) in zip(sorted(got), sorted(got)[1:], strict=False):
        assert n1 == n2 or w1 > w2


def test_satisfaction_and_cost_are_never_shared_goals(linked: GraphStore) -> None:
    cats = {c for (c,) in rows(linked, """
        SELECT DISTINCT ?cat WHERE { ?l a bk:SharedGoalLink ; bk:sharedConcept/bk:conceptCategory ?cat }""")}
    assert BK + "category/satisfaction" not in cats and BK + "category/cost" not in cats
    assert not rows(linked, """
        SELECT ?l WHERE { ?l a bk:SharedGoalLink ; bk:sharedConcept ?c . ?c bk:informative false }""")
    # a satisfaction concept carried by many projects is not informative
    (row,) = rows(linked, "SELECT ?i ?n WHERE { ?c skos:prefLabel '系统使用人员满意度'@zh ; a bk:IndicatorConcept ; "
                          "bk:informative ?i ; bk:projectCount ?n }")
    assert row[0] == "false" and int(row[1]) > 30


def test_shared_goal_links_have_endpoints_score_rule_and_evidence(linked: GraphStore) -> None:
    incomplete = rows(linked, """
        SELECT ?l WHERE { ?l a bk:SharedGoalLink .
          FILTER NOT EXISTS { ?l bk:fromProject ?a ; bk:toProject ?b ; bk:score ?s ; bk:rule ?r ;
                                 bk:sharedConcept ?c } }""")
    assert incomplete == []
    (row,) = rows(linked, """
        SELECT ?score WHERE { ?l a bk:SharedGoalLink ; bk:score ?score ;
          bk:fromProject/rdfs:label "督审总队信息化运维经费-2023中央"@zh ;
          bk:toProject/rdfs:label "督审总队信息化运维项目-2024中央"@zh }""")
    assert float(row[0]) > 0.9


def _informative_concepts(store: GraphStore, ls: LinkSettings) -> tuple[list, list[set[int]], dict[int, float]]:
    """The projects, each one's informative concepts and the concepts' weights, as refresh_links finds them."""
    from kg.links import cluster_terms, read_terms
    from kg.similarity import idf

    projects = read_projects(store)
    index = {p.iri: i for i, p in enumerate(projects)}
    concepts = cluster_terms(read_terms(store, index), ls)
    weights = {k: idf(len(c.projects), len(projects)) for k, c in enumerate(concepts)}
    sets: list[set[int]] = [set() for _ in projects]
    for k, c in enumerate(concepts):
        if not c.is_weak(ls) and 1 < len(c.projects) <= ls.max_concept_share * len(projects):
            for p in c.projects:
                sets[p].add(k)
    return projects, sets, weights


def test_the_index_finds_what_comparing_all_pairs_finds(linked: GraphStore) -> None:
    """On the seeds the inverted index loses no link against an exhaustive comparison of all pairs."""
    ls = LinkSettings()
    projects, sets, weights = _informative_concepts(linked, ls)
    indexed, _ = shared_goals(projects, sets, weights, ls)
    # no feature cut and no block limit: every pair that shares an informative concept (the only pairs
    # that can be linked) is scored
    exhaustive, scored = shared_goals(projects, sets, weights, LinkSettings(index_features=10_000, block_size=10_000))
    sharing = sum(1 for i in range(len(sets)) for j in range(i + 1, len(sets)) if sets[i] & sets[j])
    assert scored == sharing
    assert {(g.a, g.b) for g in indexed} == {(g.a, g.b) for g in exhaustive}


#: Goal-text characters: few, so that texts share long runs; function words and punctuation split them.
_GOAL_CHARS = "系统运维保障正常的和ab1，（ "


@settings_hypothesis(max_examples=200, deadline=None)
@given(st.text(_GOAL_CHARS, max_size=40), st.text(_GOAL_CHARS, max_size=40),
       st.sets(st.text("系统运维的a1", min_size=1, max_size=2), max_size=12),
       st.sets(st.text("系统运维的a1", min_size=1, max_size=2), max_size=12))
@example("运维保障，系统正常运行良好", "运维保障。系统正常运行良好", {"运维", "保障", "系统"}, {"运维", "保障", "系统"})
def test_goal_evidence_from_masks_of_the_places_is_goal_evidence(a: str, b: str, ka: set[str], kb: set[str]) -> None:
    """shared_goals finds a link's phrases on numbered bigrams: what scanning the whole text finds.

    ``ka`` and ``kb`` are the texts' keywords, the link's are those they share (the example: more
    keywords come first, then longer phrases).
    """
    from kg.links.goals import _GoalText, goal_evidence
    from kg.similarity import char_ngrams

    numbers: dict[str, int] = {}
    ta, tb = _GoalText(a, ka, numbers), _GoalText(b, kb, numbers)
    common, keywords = set(char_ngrams(ta.text)) & set(char_ngrams(tb.text)), ka & kb
    assert ta.evidence(tb, keywords) == goal_evidence(ta.text, common, keywords)
    assert ta.evidence(tb, keywords, limit=2, longest=3) == goal_evidence(ta.text, common, keywords, 2, 3)


def test_a_concept_of_weight_zero_is_still_shared() -> None:
    """Two projects share two concepts even when one of them is everywhere (idf 0, max_concept_share 1)."""
    from kg.links.inputs import Project

    projects = [Project(f"http://ex.org/p{i}", "n", "341101", 2024, "n") for i in range(3)]
    links, _ = shared_goals(projects, [{0, 1}, {0, 1}, {0}], {0: 0.0, 1: 1.0}, LinkSettings(max_concept_share=1.0))
    assert [(g.a, g.b, g.concepts) for g in links] == [(0, 1, [0, 1])]  # no goal text: two concepts are needed


def test_bulk_scoring_gives_the_links_the_rule_defines(linked: GraphStore) -> None:
    """shared_goals (sparse, chunked, vectorised) against the rule written out pair by pair in Python."""
    import math

    from kg.links.goals import _goal_vectors

    ls = LinkSettings(index_features=10_000, block_size=10_000)  # every pair sharing a concept is scored
    projects, sets, weights = _informative_concepts(linked, ls)
    goals = _goal_vectors(projects, ls)

    def norm(v: dict) -> float:
        return math.sqrt(sum(w * w for w in v.values()))

    passing: dict[tuple[int, int], float] = {}
    for a in range(len(projects)):
        for b in range(a + 1, len(projects)):
            shared = sets[a] & sets[b]
            if len(shared) < max(1, ls.min_shared_concepts):
                continue
            cs = sum(weights[c] ** 2 for c in shared) / (norm({c: weights[c] for c in sets[a]})
                                                         * norm({c: weights[c] for c in sets[b]}))
            ga, gb = goals[a], goals[b]
            gs = sum(w * gb[g] for g, w in ga.items() if g in gb) / (norm(ga) * norm(gb)) if ga and gb else 0.0
            score = ls.concept_weight * cs + (1 - ls.concept_weight) * gs
            if (len(shared) >= 2 or gs >= ls.single_concept_min_goal) and score >= ls.min_score:
                passing[(a, b)] = score
    best: dict[int, list[tuple[float, int]]] = {}
    for (a, b), score in passing.items():
        best.setdefault(a, []).append((-score, b))
        best.setdefault(b, []).append((-score, a))
    want = {(min(a, b), max(a, b)) for a, ranked in best.items() for _, b in sorted(ranked)[:ls.max_links_per_project]}
    links, _ = shared_goals(projects, sets, weights, ls)
    assert want and {(g.a, g.b) for g in links} == want
    assert all(abs(g.score - passing[(g.a, g.b)]) < 1e-9 for g in links)


# -- the links graph -----------------------------------------------------------------------


def test_links_graph_has_no_blank_nodes_and_is_deterministic(linked: GraphStore, settings: Settings, manifest) -> None:
    graph = Iris(settings.base_iri).links_graph
    assert not any(isinstance(t, BlankNode) for q in linked.quads(graph) for t in (q.subject, q.object))
    first = linked.dump_sorted_nquads(graph)
    refresh_links(linked, settings)
    assert linked.dump_sorted_nquads(graph) == first
    other = EmbeddedStore(None)
    build(other, list(reversed(manifest.entries)), settings, manifest=manifest)
    refresh_links(other, settings)
    assert other.dump_sorted_nquads(graph) == first


def test_a_build_links_what_it_parsed_as_reading_the_store_would(settings: Settings, manifest) -> None:
    store = EmbeddedStore(None)
    report = build(store, manifest.entries, settings, manifest=manifest)
    assert report.links is not None and report.links.inputs == "documents" and report.links.shared_goal_links > 0
    from_store = LinkInputs.read(store)
    from_documents = LinkInputs()
    for entry in manifest.entries:
        from_documents.add_document(document_links(parse_document(entry), Iris(settings.base_iri)))
    assert not from_documents.repeated
    for inputs in (from_store, from_documents):
        for p in inputs.projects.values():
            p.goals.sort()
    assert from_documents.project_list() == from_store.project_list()
    index = {p.iri: i for i, p in enumerate(from_store.project_list())}
    assert from_documents.terms(index) == from_store.terms(index)
    again = refresh_links(store, settings)  # read back from the store: the same links, nothing to change
    assert again.inputs == "store" and (again.quads_removed, again.quads_added) == (0, 0)


def test_a_partial_build_reads_the_other_documents_from_the_store(settings: Settings, manifest) -> None:
    store = EmbeddedStore(None)
    build(store, manifest.entries, settings, manifest=manifest)
    report = build(store, manifest.entries[:1], settings, manifest=manifest)
    assert report.links is not None and report.links.inputs == "store" and report.links.projects == 138
    assert (report.links.quads_removed, report.links.quads_added) == (0, 0)


def test_a_revised_project_is_linked_once_as_the_store_holds_it(tmp_path: Path, settings: Settings,
                                                                 manifest) -> None:
    """A re-publication declared as a revision: its projects are linked once, from what was parsed."""
    first = Path(manifest.entries[0].path)
    twin = tmp_path / ("twin-" + first.name)
    twin.write_bytes(first.read_bytes())
    entries = [manifest.entries[0], adhoc_entry(twin, manifest.entries[0].budget_year, revises=(first.name,))]
    store = EmbeddedStore(None)
    report = build(store, entries, settings, manifest=manifest)
    assert report.links is not None and report.links.inputs == "documents"
    assert [(d.file, d.projects, d.superseded) for d in report.documents] == [(twin.name, 3, 0), (first.name, 0, 3)]
    again = refresh_links(store, settings)
    assert (again.quads_removed, again.quads_added) == (0, 0)


def test_refresh_on_the_seeds(linked: GraphStore, settings: Settings) -> None:
    # (its cost is measured by bench/bench_links.py and bench/bench_graph.py)
    report = refresh_links(linked, settings)
    assert report.projects == 138
    assert report.shared_goal_links > 0 and report.cross_agency_links > 0
    assert (report.lineage_links, report.tranche_links, report.served_unit_links) == (22, 7, 50)


def test_refresh_applies_only_the_difference(linked: GraphStore, settings: Settings) -> None:
    graph = Iris(settings.base_iri).links_graph
    same = refresh_links(linked, settings)
    assert (same.quads_removed, same.quads_added) == (0, 0)  # a rebuild that changes nothing writes nothing
    changed = refresh_links(linked, settings, LinkSettings(min_score=0.5))
    assert changed.quads_removed > 0
    want, _ = compute_links(linked, settings, LinkSettings(min_score=0.5))
    assert sorted(map(str, linked.quads(graph))) == sorted(map(str, want))
    refresh_links(linked, settings)


def test_a_large_change_is_swapped_in_atomically(linked: GraphStore, settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import kg.links.graph

    graph = Iris(settings.base_iri).links_graph
    before = linked.dump_sorted_nquads(graph)
    monkeypatch.setattr(kg.links.graph, "DIFF_LIMIT", 0)
    report = refresh_links(linked, settings, LinkSettings(min_score=0.5))  # too large to compare: staged and moved
    assert report.rewritten and (report.quads_removed, report.quads_added) == (0, 0)
    want, _ = compute_links(linked, settings, LinkSettings(min_score=0.5))
    assert sorted(map(str, linked.quads(graph))) == sorted(map(str, want))

    def broken_swap(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(linked, "swap", broken_swap)
    with pytest.raises(OSError):
        refresh_links(linked, settings)
    monkeypatch.undo()
    assert linked.dump_sorted_nquads(graph) != before  # still the min_score=0.5 links: unchanged by the failure
    assert not [g for g in linked.raw.named_graphs() if g.value.startswith(STAGING_PREFIX)]
    refresh_links(linked, settings)
    assert linked.dump_sorted_nquads(graph) == before


def test_settings_come_from_the_environment_and_are_checked() -> None:
    s = LinkSettings.from_env({"BUDGETKG_LINK_MIN_SCORE": "0.5", "BUDGETKG_LINK_MAX_LINKS_PER_PROJECT": "3"},
                              concept_close=0.7)
    assert (s.min_score, s.max_links_per_project, s.concept_close) == (0.5, 3, 0.7)
    assert "min_score=0.5" in s.as_text()
    with pytest.raises(ValueError):
        LinkSettings.from_env({"BUDGETKG_LINK_MIN_SCORE": "high"})
    with pytest.raises(ValueError):
        LinkSettings(min_score=1.5)
    with pytest.raises(ValueError):
        LinkSettings(tokenizer="words")


def test_stricter_settings_give_fewer_links(linked: GraphStore, settings: Settings) -> None:
    _, loose = compute_links(linked, settings, LinkSettings(min_score=0.3))
    _, strict = compute_links(linked, settings, LinkSettings(min_score=0.6))
    assert 0 < strict.shared_goal_links < loose.shared_goal_links


def test_empty_store_has_no_links_graph(settings: Settings) -> None:
    store = EmbeddedStore(None)
    report = refresh_links(store, settings)
    assert report.projects == 0 and not store.has_graph(Iris(settings.base_iri).links_graph)


# -- ontology ------------------------------------------------------------------------------

ANALYTICS_TTL = ROOT / "ontology" / "analytics.ttl"


@pytest.fixture(scope="module")
def ontology() -> Graph:
    g = Graph()
    for f in sorted((ROOT / "ontology").glob("*.ttl")):
        g.parse(f, format="turtle")
    return g


def test_analytics_terms_are_labelled_and_commented() -> None:
    g = Graph().parse(ANALYTICS_TTL, format="turtle")
    terms = {s for s in g.subjects(RDF.type, None) if str(s).startswith(BK)}
    assert len(terms) > 40
    for s in terms:
        langs = {o.language for o in g.objects(s, RDFS.label) if isinstance(o, Literal)}
        assert {"zh", "en"} <= langs, s
        assert any(True for _ in g.objects(s, RDFS.comment)), s


def test_every_term_the_links_and_contracts_use_is_declared(linked: GraphStore, ontology: Graph) -> None:
    declared = {str(s) for s in ontology.subjects(RDF.type, None)}
    used = {t.value for q in linked.quads(Iris(Settings().base_iri).links_graph)
            for t in (q.predicate, q.object) if isinstance(t, NamedNode) and t.value.startswith(BK)
            and not t.value.startswith((BK + "category/", BK + "unit/"))}
    src = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "kg" / "contracts").glob("*.py")))
    assert "BK.Contract" in src
    import re

    used |= {BK + m for m in re.findall(r"\bBK\.([A-Za-z0-9]+)", src)}
    assert sorted(used - declared) == []


def test_ontology_is_consistent_with_a_sample_of_links(linked: GraphStore, ontology: Graph) -> None:
    import owlrl

    g = Graph()
    for t in ontology:
        g.add(t)
    data = linked.dump_sorted_nquads(Iris(Settings().base_iri).links_graph).decode("utf-8").splitlines()
    sample = Graph()
    sample.parse(data="\n".join(line.rsplit(" ", 2)[0] + " ." for line in data[::40]), format="nt")
    for t in sample:
        g.add(t)
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(g)
    err = URIRef("http://www.daml.org/2002/03/agents/agent-ont#ErrorMessage")
    assert not list(g.subjects(RDF.type, err))
    assert not list(g.subjects(RDF.type, OWL.Nothing))


# -- named queries and goldens -------------------------------------------------------------

ALL = queries.load_all(QUERIES_DIR)

#: golden file → (query, parameters). The golden CSVs start with ``#`` lines naming the rows checked.
GOLDENS = {
    "shared_goals_across_agencies": ("shared_goals_across_agencies", {}),
    "agencies_by_shared_goals": ("agencies_by_shared_goals", {}),
    "funding_mix_by_department": ("funding_mix_by_department", {}),
    "funding_mix_central_341": ("funding_mix_by_department", {"funding": "中央", "department": "341"}),
    "projects_by_threshold": ("projects_by_threshold", {}),
    "project_lineage_pdt": ("project_lineage", {"project": "天津市公安局警用数字集群(PDT)通信装备建设项目-2024中央"}),
}


def check_golden(store: GraphStore, name: str, query: str, params: dict[str, str]) -> None:
    got = ALL[query].run(store, params).serialize(format=QueryResultsFormat.CSV).decode("utf-8")
    path = ANALYTICS / f"{name}.csv"
    if os.environ.get("BUDGETKG_WRITE_GOLDEN"):
        comments = read_golden(path)[0] if path.exists() else ["# hand-checked rows: (write which)"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(comments) + "\n" + got.replace("\r\n", "\n"), encoding="utf-8")
    comments, want = read_golden(path)
    assert comments, f"{path.name} must say in '#' lines which rows were checked by hand"
    assert canonical_csv(got) == want


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_named_query_matches_golden(linked: GraphStore, name: str) -> None:
    query, params = GOLDENS[name]
    check_golden(linked, name, query, params)


@pytest.mark.parametrize("name", ["shared_goals_across_agencies", "agencies_by_shared_goals",
                                  "funding_mix_by_department", "projects_by_threshold", "project_lineage",
                                  "shared_vendors"])
def test_analytics_queries_have_the_three_filters_or_their_own(name: str) -> None:
    q = ALL[name]
    assert q.title_zh and q.title_en and q.description
    names = {p.name for p in q.params}
    assert names, name
    for p in q.params:
        assert p.name in q.sparql.split("WHERE")[0], f"{name}: {p.name} must be projected"
    assert "BOUND(?" + "agency" not in q.sparql


def test_query_filters_work(linked: GraphStore) -> None:
    q = ALL["shared_goals_across_agencies"]
    every = list(q.run(linked))
    assert every and all(float(s["score"].value) >= 0.35 for s in every)
    assert 0 < len(list(q.run(linked, {"agency": "325"}))) < len(every)
    assert len(list(q.run(linked, {"min_score": "0.6"}))) < len(every)
    bonds = [s["link"] for s in q.run(linked, {"funding": "general-bond"})]
    assert bonds and bonds == [s["link"] for s in q.run(linked, {"funding": "一般债券"})]
    uptime = ALL["projects_by_threshold"]
    assert len(list(uptime.run(linked, {"min_value": "99"}))) < len(list(uptime.run(linked)))
    money = list(uptime.run(linked, {"indicator": "采购成本", "unit": "http://qudt.org/vocab/currency/CNY",
                                      "min_value": "1000000"}))
    assert money and all(float(s["value"].value) >= 1_000_000 for s in money)


def test_jieba_tokens_can_be_the_goal_features(linked: GraphStore, settings: Settings) -> None:
    quads, report = compute_links(linked, settings, LinkSettings(tokenizer="jieba"))
    assert report.shared_goal_links > 0 and report.lineage_links == 22
    tokens = {q.object.value for q in quads if q.predicate.value == BK + "matchedToken"}
    assert "安全保障" in tokens or "运维" in tokens  # whole words, not bigram fragments


@settings_hypothesis(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_the_links_graph_writes_any_text_as_a_valid_literal(text: str) -> None:
    from kg.links.ntriples import zh

    (triple,) = parse(f"<http://e.org/s> <http://e.org/p> {zh(text)} .\n".encode(), format=RdfFormat.N_TRIPLES)
    assert triple.object == PyLiteral(text, language="zh")
