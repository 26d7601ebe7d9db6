"""Agency–project networks (kg/network.py, kg/render.py, ``budgetkg graph``) on the seeds.

Node and edge counts are checked against SPARQL counts written independently of the module's own
queries; exports are read back with networkx and lxml; drawings are checked for size and for
Chinese glyphs (matplotlib warns when a glyph is missing from the font).
"""

from __future__ import annotations

import json
import os
import struct
import warnings
from pathlib import Path

import networkx as nx
import pytest
import typer
from typer.testing import CliRunner

from budgetkg.commands.graph import register
from kg import network
from kg.network import (
    NetworkOptionError,
    NetworkOptions,
    cytoscape_bytes,
    cytoscape_json,
    export,
    graph_from_store,
    read_network,
)
from kg.settings import Settings
from kg.store import GraphStore

from .helpers import copy_store, linked_copy, write_disk_store

PREFIXES = ("PREFIX bk: <https://budgetkg.example.org/def/>\nPREFIX org: <http://www.w3.org/ns/org#>\n"
            "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n")
ALL = "agency,project,funding,concept,vendor"


def need(module: str) -> None:
    """Skip without an optional export dependency, except in CI, where it must be installed."""
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {module} is not installed")
        pytest.skip(f"{module} is not installed (pip install {module})")


def bare_copy(seed_store: GraphStore) -> GraphStore:
    """The seeds without what ``budgetkg link`` and contract imports add (graph/links, vendors, contracts)."""
    base = "https://budgetkg.example.org/id/graph/"
    derived = (base + "links", base + "vendors", base + "contracts")
    return copy_store(seed_store, lambda g: not g.value.startswith(derived))


@pytest.fixture(scope="module")
def linked(seed_store: GraphStore, settings: Settings) -> GraphStore:
    return linked_copy(seed_store, settings)


def count(store: GraphStore, sparql: str) -> int:
    return int(next(iter(store.query(PREFIXES + sparql)))[0].value)


def kinds(g: nx.Graph) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, _, k in g.edges(data="kind"):
        out[k] = out.get(k, 0) + 1
    return out


def types(g: nx.Graph) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, t in g.nodes(data="type"):
        out[t] = out.get(t, 0) + 1
    return out


# -- counts ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bare(seed_store: GraphStore) -> GraphStore:
    return bare_copy(seed_store)


def test_the_network_of_the_seeds_has_every_agency_project_and_funding_source(bare: GraphStore) -> None:
    seed_store = bare
    g = graph_from_store(seed_store, NetworkOptions.parse()).graph
    agencies = count(seed_store, "SELECT (COUNT(DISTINCT ?a) AS ?n) WHERE { { ?a a bk:BudgetUnit } UNION "
                                 "{ ?a a bk:Department } }")
    projects = count(seed_store, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a bk:Project }")
    # funding sources a project's name states, or its special-bond funding table allocates money from
    funded = """{ ?p a bk:Project ; bk:fundingSource ?f } UNION
                { ?p a bk:Project ; bk:hasFundingAllocation ?al . ?al bk:fundingSource ?f ;
                  bk:amount/bk:amountInYuan ?y FILTER(?y > 0) }"""
    sources = count(seed_store, f"SELECT (COUNT(DISTINCT ?f) AS ?n) WHERE {{ {funded} }}")
    pairs = count(seed_store, f"SELECT (COUNT(*) AS ?n) WHERE {{ SELECT DISTINCT ?p ?f WHERE {{ {funded} }} }}")
    units = count(seed_store, "SELECT (COUNT(*) AS ?n) WHERE { ?u a bk:BudgetUnit ; org:subOrganizationOf ?d }")
    assert (agencies, projects, sources, units) == (21, 138, 6, 18)
    assert types(g) == {"agency": agencies, "project": projects, "funding": sources}
    assert kinds(g) == {"budget-unit": projects, "sub-organization": units, "funded-by": pairs}
    assert g.graph["view"] == "network"
    # without budgetkg link and contracts there is nothing optional to show, and the data says so
    data = read_network(seed_store)
    assert data.available == {"concept": False, "vendor": False, "links": False, "funding": True}


def test_concepts_vendors_and_links_come_from_the_analytics_graphs(linked: GraphStore) -> None:
    g = graph_from_store(linked, NetworkOptions.parse(node_types=ALL)).graph
    concepts = count(linked, "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?p bk:hasIndicator/bk:indicatorConcept ?c . "
                             "?c bk:informative true }")
    carries = count(linked, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?p ?c WHERE { ?p bk:hasIndicator ?i . "
                            "?i bk:indicatorConcept ?c . ?c bk:informative true } }")
    vendors = count(linked, "SELECT (COUNT(DISTINCT ?v) AS ?n) WHERE { ?c bk:forProject ?p ; bk:vendor ?v }")
    contracted = count(linked, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?p ?v WHERE { ?c bk:forProject ?p ; "
                               "bk:vendor ?v } }")
    links = {k: count(linked, f"SELECT (COUNT(DISTINCT ?l) AS ?n) WHERE {{ ?l a bk:{cls} }}")
             for k, cls in (("shared-goal", "SharedGoalLink"), ("lineage", "LineageLink"),
                            ("tranche", "TrancheLink"))}
    assert (concepts, vendors) == (113, 5) and links == {"shared-goal": 71, "lineage": 22, "tranche": 7}
    t, k = types(g), kinds(g)
    assert (t["concept"], t["vendor"], t["agency"], t["project"]) == (concepts, vendors, 21, 138)
    assert (k["has-concept"], k["contracted"]) == (carries, contracted)
    assert {x: k[x] for x in links} == links
    assert g.number_of_nodes() == 283 and g.number_of_edges() == 708
    # a link keeps its IRI and score; lineage and tranche point from the earlier project to the later
    u, v, d = next((u, v, d) for u, v, d in g.edges(data=True) if d["kind"] == "lineage")
    assert d["link"].startswith("https://budgetkg.example.org/id/link/lineage/") and 0 < d["weight"] <= 1
    assert linked.query(PREFIXES + f"ASK {{ <{d['link']}> bk:fromProject <{u}> ; bk:toProject <{v}> }}")
    everything = graph_from_store(linked, NetworkOptions.parse(node_types=ALL, concepts="all")).graph
    assert types(everything)["concept"] == count(linked, "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE "
                                                         "{ ?p bk:hasIndicator/bk:indicatorConcept ?c }")


def test_the_agency_projection_weights_are_true_of_the_data(linked: GraphStore) -> None:
    g = graph_from_store(linked, NetworkOptions.parse(projection="agency")).graph
    units = count(linked, "SELECT (COUNT(DISTINCT ?u) AS ?n) WHERE { ?p a bk:Project ; bk:budgetUnit ?u }")
    assert g.number_of_nodes() == units == 18
    # shared goals: cross-agency links, counted per pair of units
    cross = count(linked, "SELECT (COUNT(DISTINCT ?l) AS ?n) WHERE { ?l a bk:SharedGoalLink ; bk:fromProject ?a ; "
                          "bk:toProject ?b . ?a bk:budgetUnit ?ua . ?b bk:budgetUnit ?ub FILTER(?ua != ?ub) }")
    goal_pairs = count(linked, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?x ?y WHERE { ?l a bk:SharedGoalLink ; "
                               "bk:fromProject ?a ; bk:toProject ?b . ?a bk:budgetUnit ?ua . ?b bk:budgetUnit ?ub "
                               "FILTER(?ua != ?ub) BIND(IF(STR(?ua) < STR(?ub), ?ua, ?ub) AS ?x) "
                               "BIND(IF(STR(?ua) < STR(?ub), ?ub, ?ua) AS ?y) } }")
    goal = [d for _, _, d in g.edges(data=True) if d["kind"] == "shared-goal"]
    assert len(goal) == goal_pairs and sum(d["weight"] for d in goal) == cross == 19
    # shared vendors: pairs of units whose projects have contracts with one vendor
    vendor_pairs = count(linked, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?ua ?ub WHERE { "
                                 "?c1 bk:vendor ?v ; bk:forProject ?a . ?c2 bk:vendor ?v ; bk:forProject ?b . "
                                 "?a bk:budgetUnit ?ua . ?b bk:budgetUnit ?ub FILTER(STR(?ua) < STR(?ub)) } }")
    assert kinds(g)["shared-vendor"] == vendor_pairs == 8
    # shared funding: pairs of units with projects funded by one source (as stated in project names here)
    funding_pairs = count(linked, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?ua ?ub WHERE { "
                                  "?a bk:fundingSource ?f ; bk:budgetUnit ?ua . ?b bk:fundingSource ?f ; "
                                  "bk:budgetUnit ?ub FILTER(STR(?ua) < STR(?ub)) } }")
    assert kinds(g)["shared-funding"] == funding_pairs
    for u, v, d in g.edges(data=True):
        if d["kind"] == "shared-funding":  # the weight counts the sources named in `via`
            assert d["weight"] == len(d["via"].split("; ")) and u != v
    dept = graph_from_store(linked, NetworkOptions.parse(projection="department")).graph
    assert sorted(d["code"] for _, d in dept.nodes(data=True)) == ["325", "326", "341"]


def test_filters_and_min_weight(linked: GraphStore) -> None:
    data = read_network(linked)
    g = graph_from_store(linked, NetworkOptions.parse(node_types=ALL, department="325"), data=data).graph
    inside = [d for _, d in g.nodes(data=True) if d["in_filter"]]
    assert inside and all(d["code"].startswith("325") for d in inside)
    # nodes outside the filter are only there as the other end of an edge from a project inside it
    for n, d in g.nodes(data=True):
        if not d["in_filter"]:
            assert any(g.nodes[m]["in_filter"] and g.nodes[m]["type"] == "project" for m in nx.all_neighbors(g, n))
    funded = graph_from_store(linked, NetworkOptions.parse(funding="general-bond"), data=data).graph
    projects = [d for _, d in funded.nodes(data=True) if d["type"] == "project" and d["in_filter"]]
    assert len(projects) == count(linked, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p bk:fundingSource "
                                          "<https://budgetkg.example.org/def/funding/general-bond> }") == 9
    assert all("general-bond" in d["funding"].split(";") for d in projects)
    heavy = graph_from_store(linked, NetworkOptions.parse(projection="agency", min_weight=2), data=data).graph
    assert heavy.number_of_edges() > 0 and all(w >= 2 for _, _, w in heavy.edges(data="weight"))
    assert heavy.number_of_nodes() == 18  # agencies stay, only lighter edges go
    strong = graph_from_store(linked, NetworkOptions.parse(node_types="agency,project", min_weight=0.6),
                              data=data).graph
    assert all(d["weight"] >= 0.6 for _, _, d in strong.edges(data=True))
    assert kinds(strong)["budget-unit"] == 138  # structural edges weigh 1
    only = graph_from_store(linked, NetworkOptions.parse(node_types=ALL, edge_kinds="contracted"), data=data).graph
    assert set(kinds(only)) == {"contracted"} and "funding" not in types(only)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"node_types": "agency,planet"}, "unknown node type 'planet'"),
    ({"edge_kinds": "has-concept"}, "needs node type 'concept'"),
    ({"edge_kinds": "shared-vendor"}, "unknown edge kind 'shared-vendor' for the network"),
    ({"projection": "agency", "edge_kinds": "budget-unit"}, "for the projection"),
    ({"department": "34x"}, "department must be a code"),
    ({"funding": "中央 资金"}, "funding must be a funding-source key"),
    ({"min_weight": -1}, "min weight"),
    ({"projection": "planet"}, "unknown projection"),
])
def test_bad_options_say_what_is_known(kwargs: dict, message: str) -> None:
    with pytest.raises(NetworkOptionError, match=message):
        NetworkOptions.parse(**kwargs)


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_are_attached_to_every_node(linked: GraphStore) -> None:
    r = graph_from_store(linked, NetworkOptions.parse(node_types=ALL))
    g = r.graph
    for n, d in g.nodes(data=True):
        assert d["degree"] == g.degree(n)
        assert d["weighted_degree"] == pytest.approx(g.degree(n, weight="weight"), abs=1e-3)
        assert 0 <= d["betweenness"] <= 1 and isinstance(d["community"], int)
    assert g.graph["betweenness"] == "exact" and g.graph["communities"] > 1
    # the 中央 funding source is the hub of the seeds
    hub = max(g.nodes, key=lambda n: g.nodes[n]["betweenness"])
    assert g.nodes[hub]["label"] == "中央"
    # a community is a set of nodes: numbered from the largest
    sizes = [sum(1 for _, c in g.nodes(data="community") if c == k) for k in range(g.graph["communities"])]
    assert sizes == sorted(sizes, reverse=True)


def test_betweenness_is_sampled_on_large_graphs(linked: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    data = read_network(linked)
    monkeypatch.setattr(network, "BETWEENNESS_WORK", 708 * 30)  # as if 283 × 708 steps were too many
    r = graph_from_store(linked, NetworkOptions.parse(node_types=ALL), data=data)
    assert r.graph.graph["betweenness"] == "estimated from 30 sampled sources (seed 0)"
    again = graph_from_store(linked, NetworkOptions.parse(node_types=ALL), data=data)
    assert dict(r.graph.nodes(data="betweenness")) == dict(again.graph.nodes(data="betweenness"))  # seeded
    asked = graph_from_store(linked, NetworkOptions.parse(node_types=ALL), data=data, betweenness_samples=25)
    assert asked.graph.graph["betweenness"] == "estimated from 25 sampled sources (seed 0)"


def test_max_nodes_keeps_the_best_connected_and_max_edges_the_heaviest(linked: GraphStore) -> None:
    r = graph_from_store(linked, NetworkOptions.parse(node_types=ALL), max_nodes=50)
    assert r.truncated and r.graph.number_of_nodes() == 50 and r.total_nodes == 283
    meta = cytoscape_json(r)["meta"]
    assert meta["truncated"] and meta["nodes"] == 50 and meta["total_nodes"] == 283
    full = graph_from_store(linked, NetworkOptions.parse(projection="agency"))
    cut = graph_from_store(linked, NetworkOptions.parse(projection="agency"), max_edges=10)
    assert cut.edges_truncated and cut.graph.number_of_edges() == 10 and cut.total_edges == 74
    lightest_kept = min(w for _, _, w in cut.graph.edges(data="weight"))
    assert sorted((w for _, _, w in full.graph.edges(data="weight")), reverse=True)[9] == lightest_kept
    assert cut.graph.number_of_nodes() == 18  # agencies stay


def test_the_whole_seed_network_renders_to_json(linked: GraphStore) -> None:
    # (how long it takes is measured by bench/bench_graph.py)
    body = cytoscape_bytes(graph_from_store(linked, NetworkOptions.parse(node_types=ALL)))
    doc = json.loads(body)
    assert doc["meta"]["nodes"] == len(doc["elements"]["nodes"]) == 283
    assert doc["meta"]["edges"] == len(doc["elements"]["edges"]) == 708


# -- exports ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full(linked: GraphStore) -> network.NetworkResult:
    return graph_from_store(linked, NetworkOptions.parse(node_types=ALL))


def test_graphml_loads_back(full: network.NetworkResult, tmp_path: Path) -> None:
    need("lxml")
    from lxml import etree

    path = tmp_path / "net.graphml"
    export(full, "graphml", path)
    back = nx.read_graphml(path)
    assert (back.number_of_nodes(), back.number_of_edges()) == (283, 708)
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    doc = etree.parse(str(path))
    assert len(doc.findall(".//g:node", ns)) == 283 and len(doc.findall(".//g:edge", ns)) == 708
    keys = {k.get("attr.name") for k in doc.findall(".//g:key", ns)}
    assert {"label", "type", "kind", "weight", "degree", "betweenness", "community"} <= keys
    labels = {d["label"] for _, d in back.nodes(data=True)}
    assert "天津市公安局" in labels and "中央" in labels
    assert {d["kind"] for _, _, d in back.edges(data=True)} >= {"budget-unit", "shared-goal", "contracted"}


def test_gexf_loads_back_with_colours(full: network.NetworkResult, tmp_path: Path) -> None:
    need("lxml")
    from lxml import etree

    path = tmp_path / "net.gexf"
    export(full, "gexf", path)
    back = nx.read_gexf(path)
    assert (back.number_of_nodes(), back.number_of_edges()) == (283, 708)
    doc = etree.parse(str(path))
    ns = {"x": doc.getroot().nsmap[None]}
    assert len(doc.findall(".//x:nodes/x:node", ns)) == 283 and len(doc.findall(".//x:edges/x:edge", ns)) == 708
    agency = next(n for n, d in back.nodes(data=True) if d["label"] == "天津市公安局")
    assert back.nodes[agency]["viz"]["color"] == {"r": 0x6d, "g": 0x1a, "b": 0x1e, "a": 1.0}  # a department
    assert back.graph.get("mode") == "static"


def test_cytoscape_json_structure(full: network.NetworkResult, tmp_path: Path) -> None:
    path = tmp_path / "net.cyjs"
    export(full, "cyjs", path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    nodes, edges = doc["elements"]["nodes"], doc["elements"]["edges"]
    assert len(nodes) == 283 and len(edges) == 708
    ids = {n["data"]["id"] for n in nodes}
    assert len(ids) == 283 and len({e["data"]["id"] for e in edges}) == 708
    assert all(e["data"]["source"] in ids and e["data"]["target"] in ids for e in edges)
    assert all({"label", "type", "degree", "weighted_degree", "betweenness", "community"} <= n["data"].keys()
               for n in nodes)
    meta = doc["meta"]
    assert meta["nodes"] == 283 and meta["edge_counts"]["shared-goal"] == 71 and not meta["truncated"]
    assert [d["code"] for d in meta["departments"]] == ["325", "326", "341"]
    assert meta["funding_sources"][0]["key"] == "central" and meta["funding_sources"][0]["label"] == "中央"
    assert meta["available"] == {"concept": True, "vendor": True, "links": True, "funding": True}


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_png_and_svg_drawings_with_chinese_labels(full: network.NetworkResult, linked: GraphStore,
                                                  tmp_path: Path) -> None:
    need("matplotlib")
    need("lxml")
    from lxml import etree

    from kg.render import cjk_font, render

    assert cjk_font()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)" for undrawable zh
        png = render(full, tmp_path / "net.png")
        svg = render(full, tmp_path / "net.svg")
        proj = render(graph_from_store(linked, NetworkOptions.parse(projection="agency")), tmp_path / "proj.png")
    assert _png_size(png) == (2400, 1800) and png.stat().st_size > 100_000
    assert proj.stat().st_size > 30_000
    doc = etree.parse(str(svg))
    paths = doc.findall(".//{http://www.w3.org/2000/svg}path")
    assert len(paths) > 283  # glyphs are drawn as paths, so the file shows the same everywhere
    assert svg.stat().st_size > 100_000


def test_drawing_a_format_it_does_not_know_is_an_error(full: network.NetworkResult, tmp_path: Path) -> None:
    need("matplotlib")
    from kg.render import RenderError, render

    with pytest.raises(RenderError, match="png, svg"):
        render(full, tmp_path / "net.pdf")


# -- the command -----------------------------------------------------------------------------


def test_budgetkg_graph_command(linked: GraphStore, tmp_path: Path) -> None:
    store = write_disk_store(linked, tmp_path / "store")
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        pass

    register(app)
    runner = CliRunner()
    out = tmp_path / "net.gexf"
    result = runner.invoke(app, ["graph", "--store", str(store), "--node-types", "all", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "283 nodes, 708 edges" in result.output
    assert nx.read_gexf(out).number_of_nodes() == 283
    result = runner.invoke(app, ["graph", "--store", str(store), "--projection", "agency", "--edge-kinds",
                                 "shared-goal", "--min-weight", "1", "--format", "cyjs"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["meta"]["edge_counts"] == {"shared-goal": doc["meta"]["edges"]} and doc["meta"]["nodes"] == 18
    result = runner.invoke(app, ["graph", "--store", str(store), "--node-types", "planet"])
    assert result.exit_code == 2 and "unknown node type 'planet'" in result.output
    result = runner.invoke(app, ["graph", "--store", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "budgetkg build" in result.output
    result = runner.invoke(app, ["graph", "--store", str(store), "--format", "png"])
    assert result.exit_code == 2 and "needs --output" in result.output
