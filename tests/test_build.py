"""The build pipeline: converter, store, atomic rebuilds, determinism, stats and provenance."""

from __future__ import annotations

import gc
import os
import pickle
import shutil
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode, Quad, Store

import kg.store.embedded
from kg.build import workers
from kg.errors import BudgetKGError, DocumentTooLarge, SourceParseError
from kg.iris import Iris
from kg.namespaces import BK
from kg.ontology import ONTOLOGY_GRAPH
from kg.pipeline import build
from kg.settings import Settings
from kg.shapes import StructuralCheck, structural_check
from kg.sources import load_manifest
from kg.stats import compute
from kg.store import JOURNAL, WRITING, EmbeddedStore, GraphStore

SEED_COUNTS = {  # document → (projects, indicators, budget units, 预算数 total in 万元), checked by hand
    "000_98710193955fe7ef.txt": (3, 42, 1, "676.00"),  # 64 + 350 + 262
    "001_93173bd42f6175ea.txt": (7, 42, 1, "805.90"),
    "002_46a6982900848d6f.txt": (3, 30, 1, "111.30"),  # 47.30 + 14 + 50
    "003_94c10425b25a6e8c.txt": (4, 48, 1, "614.50"),
    "004_5346273e88d8e34b.txt": (121, 1022, 14, "40466.91"),
}


def copy_seeds(tmp: Path, manifest_src: Path) -> Path:
    """A private copy of the seeds and manifest, for tests that change a document."""
    dest = tmp / "seeds"
    shutil.copytree(manifest_src.parent, dest, ignore=shutil.ignore_patterns("*.md"))
    return dest / "manifest.toml"


def rows(result) -> list[dict[str, str]]:
    names = [v.value for v in result.variables]
    return [{n: (s[n].value if s[n] is not None else None) for n in names} for s in result]


def test_stats_per_document_and_overall(seed_store: GraphStore) -> None:
    s = compute(seed_store)
    got = {d.document: (d.projects, d.indicators, d.budget_units, d.budget_wanyuan) for d in s.documents}
    assert got == SEED_COUNTS
    assert s.projects == 138 and s.indicators == 1184
    assert s.budget_wanyuan == "42674.61"
    assert s.budget_units == 18 and s.departments == 3 and s.agencies == 21


def test_every_term_used_is_declared_in_the_ontology(seed_store: GraphStore) -> None:
    used = rows(seed_store.query("""
        SELECT DISTINCT ?t WHERE {
          { ?s ?t ?o } UNION { ?s a ?t }
          FILTER(STRSTARTS(STR(?t), "https://budgetkg.example.org/def/"))
        }"""))
    declared = {r["t"] for r in rows(seed_store.query(
        "SELECT ?t WHERE { ?t <http://www.w3.org/2000/01/rdf-schema#label> ?l }",
        default_graph=[ONTOLOGY_GRAPH]))}
    missing = sorted(r["t"] for r in used if r["t"] not in declared)
    assert not missing, f"terms used by the converter but not declared: {missing}"


def test_every_concept_used_is_in_its_scheme(seed_store: GraphStore) -> None:
    bad = rows(seed_store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        SELECT DISTINCT ?c WHERE {
          ?s bk:level1|bk:level2|bk:fundingSource|bk:paymentTranche|bk:comparator|bk:valueKind|bk:goalKind ?c .
          FILTER NOT EXISTS { ?c skos:inScheme ?scheme }
        }"""))
    assert bad == []


def test_level1_carried_down_and_both_cost_placements(seed_store: GraphStore) -> None:
    r = rows(seed_store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/>
        SELECT ?l1 ?l2 (COUNT(*) AS ?n) WHERE { ?i bk:level1 ?l1 . ?i bk:level2 ?l2 .
          FILTER(?l2 IN (<https://budgetkg.example.org/def/category/output-cost>,
                         <https://budgetkg.example.org/def/category/cost-economic>)) } GROUP BY ?l1 ?l2"""))
    placements = {(x["l1"].rsplit("/", 1)[1], x["l2"].rsplit("/", 1)[1]) for x in r}
    assert placements == {("output", "output-cost"), ("cost", "cost-economic")}
    carried = rows(seed_store.query(
        "PREFIX bk: <https://budgetkg.example.org/def/> SELECT (COUNT(*) AS ?n) WHERE { ?i bk:level1Carried true }"))
    assert int(carried[0]["n"]) > 500  # most rows repeat the 一级指标 cell above them


def test_provenance_points_at_source_lines(seed_store: GraphStore) -> None:
    r = rows(seed_store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?file ?start ?end ?raw WHERE {
          ?i a bk:Indicator ; bk:indicatorName "系统故障响应时间"@zh ; bk:lineStart ?start ; bk:lineEnd ?end ;
             bk:target/bk:rawValue ?raw ; prov:wasDerivedFrom/dcterms:identifier ?file }"""))
    assert r == [{"file": "000_98710193955fe7ef.txt", "start": "67", "end": "70", "raw": "≤8小时"}]
    lines = (Path(__file__).parent.parent / "seeds" / r[0]["file"]).read_text(encoding="utf-8").split("\n")
    assert lines[69] == "\t≤8小时"  # line 70, 1-based
    missing = rows(seed_store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT (COUNT(?x) AS ?n) WHERE { { ?x a bk:Project } UNION { ?x a bk:Indicator } UNION { ?x a bk:Goal }
          FILTER NOT EXISTS { ?x prov:wasDerivedFrom ?d ; bk:lineStart ?s ; bk:lineEnd ?e } }"""))
    assert missing[0]["n"] == "0"


#: bk:lineCount of each seed, as a text editor numbers the lines (awk 'END{print NR}' agrees). The last
#: line of each file: 000:347, 003:416 and 004:10172 are empty lines ended by the final newline (wc -l
#: gives the same numbers); 001:455 and 002:279 are a single space with no newline after it (wc -l
#: counts newlines only and says 454 and 278).
SEED_LINE_COUNTS = {
    "000_98710193955fe7ef.txt": 347,
    "001_93173bd42f6175ea.txt": 455,
    "002_46a6982900848d6f.txt": 279,
    "003_94c10425b25a6e8c.txt": 416,
    "004_5346273e88d8e34b.txt": 10172,
}


def test_regression_line_count_does_not_count_a_line_after_the_final_newline(seed_store: GraphStore) -> None:
    r = rows(seed_store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?file ?n WHERE { ?d a bk:SourceDocument ; dcterms:identifier ?file ; bk:lineCount ?n }"""))
    assert {x["file"]: int(x["n"]) for x in r} == SEED_LINE_COUNTS
    for file, n in SEED_LINE_COUNTS.items():
        data = (Path(__file__).parent.parent / "seeds" / file).read_bytes()
        newlines = data.count(b"\n")
        assert n == newlines + (0 if data.endswith(b"\n") else 1)  # wc -l, plus an unterminated last line
        last = data.decode("utf-8").split("\n")[n - 1]
        assert last.strip() == ""  # line n exists and is the (blank) last line
        assert len(data.decode("utf-8").split("\n")) == n + (1 if data.endswith(b"\n") else 0)


def _target_on(seed_store: GraphStore, line: int, prop: str) -> list[dict[str, str]]:
    """``prop`` of the target of the 004 indicator row whose last line (its 指标值) is ``line``."""
    return rows(seed_store.query(f"""
        PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX qudt: <http://qudt.org/schema/qudt/>
        PREFIX dcterms: <http://purl.org/dc/terms/>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?raw ?o WHERE {{
          ?i bk:lineEnd {line} ; prov:wasDerivedFrom/dcterms:identifier "004_5346273e88d8e34b.txt" ; bk:target ?t .
          ?t bk:rawValue ?raw . OPTIONAL {{ ?t {prop} ?o }} }}"""))


def test_regression_target_values_keep_period_money_and_each_in_the_graph(seed_store: GraphStore) -> None:
    # 004:1206 每周开展1次: once a week
    assert _target_on(seed_store, 1206, "bk:perPeriod") == [{"raw": "每周开展1次", "o": "P7D"}]
    # 004:588 ≤21.92万 on a 成本指标 row: 万元, normalised to 219200 元
    assert _target_on(seed_store, 588, "qudt:unit") == [
        {"raw": "≤21.92万", "o": "https://budgetkg.example.org/def/unit/TenThousandCNY"}]
    assert _target_on(seed_store, 588, "bk:normalizedValue") == [{"raw": "≤21.92万", "o": "219200"}]
    assert _target_on(seed_store, 588, "bk:normalizedUnit") == [
        {"raw": "≤21.92万", "o": "http://qudt.org/vocab/currency/CNY"}]
    assert _target_on(seed_store, 588, "bk:scale") == [{"raw": "≤21.92万", "o": None}]
    # 004:2950 设备采购完成于2023年12月前: a deadline
    assert _target_on(seed_store, 2950, "bk:deadline") == [{"raw": "设备采购完成于2023年12月前", "o": "2023-12-31"}]
    # 004:8183 EC135、AW139直升机各12个月: 12 months for each of them
    assert _target_on(seed_store, 8183, "bk:eachOf") == [
        {"raw": "EC135、AW139直升机各12个月", "o": "EC135、AW139直升机"}]
    assert _target_on(seed_store, 8183, "qudt:unit") == [
        {"raw": "EC135、AW139直升机各12个月", "o": "http://qudt.org/vocab/unit/MO"}]


def test_special_bond_project(seed_store: GraphStore) -> None:
    r = rows(seed_store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/>
        SELECT ?code ?nature ?start ?total ?rate ?arrived WHERE {
          ?p a bk:SpecialBondProject ; bk:projectCode ?code ; bk:projectNature ?nature ; bk:plannedStart ?start ;
             bk:totalFunding/bk:amountInYuan ?total ; bk:hasFundingAllocation ?f .
          ?f bk:fundingSource <https://budgetkg.example.org/def/funding/special-bond> ;
             bk:interestRatePercent ?rate ; bk:receivedOn ?arrived }"""))
    assert r == [{"code": "12000023P04411210005P", "nature": "续建项目", "start": "2023-04-01",
                  "total": "70000000", "rate": "3.04", "arrived": "2023-12-08"}]


def test_budget_amounts_carry_currency(seed_store: GraphStore) -> None:
    r = rows(seed_store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX qudt: <http://qudt.org/schema/qudt/>
        SELECT ?v ?unit ?yuan WHERE { ?p bk:budgetUnitCode "325220" ; bk:tableNumber 1 ;
          bk:budget [ qudt:numericValue ?v ; qudt:unit ?unit ; bk:amountInYuan ?yuan ] }"""))
    assert r == [{"v": "64", "unit": "https://budgetkg.example.org/def/unit/TenThousandCNY", "yuan": "640000"}]


def test_rebuild_is_deterministic_and_base_iri_configurable(tmp_path: Path, settings: Settings, manifest) -> None:
    a, b = EmbeddedStore(tmp_path / "a"), EmbeddedStore(None)
    build(a, manifest.entries, settings, manifest=manifest)
    build(b, manifest.entries, settings, manifest=manifest)
    build(b, manifest.entries, settings, manifest=manifest)  # a rebuild over itself
    assert a.dump_sorted_nquads() == b.dump_sorted_nquads()
    other = EmbeddedStore(None)
    build(other, manifest.entries[:1], Settings(base_iri="http://data.example.gov.cn/budget"), manifest=manifest)
    dump = other.dump_sorted_nquads().decode()
    assert "<http://data.example.gov.cn/budget/project/2025/325220/" in dump
    assert "budgetkg.example.org/id/" not in dump


def test_stats_come_from_the_summary_of_the_current_generation(tmp_path: Path, settings: Settings, manifest) -> None:
    store = EmbeddedStore(tmp_path / "s")
    build(store, manifest.entries, settings, manifest=manifest)
    summarised = compute(store)
    assert summarised.counted == "summary" and summarised.projects > 0 and not summarised.note
    with store.transaction() as tx:  # any other write leaves the summary a generation behind
        tx.remove(Iris(settings.base_iri).agencies_graph)
    counted = compute(store)
    assert counted.counted == "counted" and "no summary" in counted.note
    assert (counted.agencies, counted.projects) == (0, summarised.projects)
    build(store, manifest.entries, settings, manifest=manifest)
    assert compute(store) == summarised


def test_failed_build_leaves_store_unchanged(tmp_path: Path, settings: Settings) -> None:
    manifest_path = copy_seeds(tmp_path, settings.manifest)
    man = load_manifest(manifest_path)
    store = EmbeddedStore(tmp_path / "store")
    build(store, man.entries, settings, manifest=man)
    before = store.dump_sorted_nquads()
    # a check that rejects the fourth document, after three were staged
    seen = []

    def reject_fourth(parsed, quads):
        seen.append(parsed.source.file)
        if len(seen) == 4:
            raise SourceParseError(parsed.source.file, 1, "a document the check accepts", "a rejected one")

    with pytest.raises(BudgetKGError):
        build(store, man.entries, settings, manifest=man, check=reject_fourth)
    assert store.dump_sorted_nquads() == before
    assert not store.hides_graphs()  # no staging graph left behind
    # a document that became unreadable: the error names file and line; nothing changes
    broken = Path(man.entries[2].path)
    text = broken.read_text(encoding="utf-8").split("\n")
    text[9] = "\tabc"  # line 10 is the 预算数 amount of the first table
    broken.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(SourceParseError) as exc:
        build(store, man.entries, settings, manifest=man)
    assert (exc.value.path, exc.value.line) == (broken.name, 10)
    assert store.dump_sorted_nquads() == before


def test_worker_processes_build_the_same_store(tmp_path: Path, settings: Settings, manifest) -> None:
    check = structural_check(settings)
    serial, parallel = EmbeddedStore(tmp_path / "serial"), EmbeddedStore(tmp_path / "parallel")
    one = build(serial, manifest.entries, replace(settings, workers=1), manifest=manifest, check=check)
    two = build(parallel, manifest.entries, replace(settings, workers=2), manifest=manifest, check=check)
    assert parallel.dump_sorted_nquads() == serial.dump_sorted_nquads()
    assert [(d.file, d.projects, d.indicators, d.quads, [str(w) for w in d.warnings]) for d in two.documents] == \
        [(d.file, d.projects, d.indicators, d.quads, [str(w) for w in d.warnings]) for d in one.documents]
    again = build(parallel, manifest.entries, replace(settings, workers=2), manifest=manifest, check=check)
    assert all(d.replaced for d in again.documents)  # staged by the workers, swapped in by the writer
    assert parallel.dump_sorted_nquads() == serial.dump_sorted_nquads()


def test_worker_errors_name_file_and_line_and_change_nothing(tmp_path: Path, settings: Settings) -> None:
    man = load_manifest(copy_seeds(tmp_path, settings.manifest))
    store = EmbeddedStore(tmp_path / "store")
    build(store, man.entries, settings, manifest=man)
    before = store.dump_sorted_nquads()
    broken = Path(man.entries[3].path)
    text = broken.read_text(encoding="utf-8").split("\n")
    text[9] = "\tabc"
    broken.write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(SourceParseError) as exc:
        build(store, man.entries, replace(settings, workers=2), manifest=man, check=structural_check(settings))
    assert (exc.value.path, exc.value.line) == (broken.name, 10)
    assert "expected" in str(exc.value)
    assert store.dump_sorted_nquads() == before
    assert not store.hides_graphs()


def test_how_many_workers(tmp_path: Path, settings: Settings, manifest) -> None:
    assert workers(settings, manifest.entries) == 1  # the seeds are too small to be worth a process pool
    assert workers(replace(settings, workers=3), manifest.entries[:2]) == 2
    assert workers(replace(settings, workers=1), manifest.entries) == 1
    check = pickle.loads(pickle.dumps(structural_check(settings)))  # what each worker process receives
    assert isinstance(check, StructuralCheck) and check.shapes.constraints


def test_rebuild_replaces_a_document_completely(tmp_path: Path, settings: Settings) -> None:
    man = load_manifest(copy_seeds(tmp_path, settings.manifest))
    store = EmbeddedStore(None)
    build(store, man.entries, settings, manifest=man)
    doc = Path(man.entries[0].path)
    doc.write_text(doc.read_text(encoding="utf-8").replace("\t64.00", "\t65.00"), encoding="utf-8")
    report = build(store, man.entries[:1], settings, manifest=man)
    assert report.documents[0].replaced
    r = rows(store.query("""PREFIX bk: <https://budgetkg.example.org/def/>
        SELECT ?y WHERE { ?p bk:budgetUnitCode "325220" ; bk:tableNumber 1 ; bk:budget/bk:amountInYuan ?y }"""))
    assert r == [{"y": "650000"}]  # the old 640000 is gone, not kept beside it
    assert compute(store).projects == 138


def test_store_reopens_and_cleans_stale_staging(tmp_path: Path, settings: Settings, manifest) -> None:
    store = EmbeddedStore(tmp_path / "s")
    build(store, manifest.entries[:2], settings, manifest=manifest)
    before = store.dump_sorted_nquads()
    tx = store.transaction().__enter__()  # a writer killed between staging and swap
    graph = store.graphs()[0]
    tx.replace(graph, [Quad(NamedNode("http://x"), BK.x, NamedNode("http://x"), graph)])
    del tx, store
    reopened = EmbeddedStore(tmp_path / "s")
    assert reopened.dump_sorted_nquads() == before
    assert not reopened.hides_graphs()


def test_a_new_graph_too_large_for_one_write_is_bulk_loaded_under_the_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Transaction.replace`` of a new graph past the atomic limit (the analytics graph at scale) goes through a
    journaled writer, not one transaction: the graph holds the quads, the projection mirrors them, and a write
    that fails later in the transaction leaves no trace of it."""
    from kg.store.projection import Projection

    monkeypatch.setattr(kg.store.embedded, "ATOMIC_BULK_LIMIT", 10)
    journaled: list[NamedNode] = []
    begin = kg.store.embedded._Journal.begin
    monkeypatch.setattr(kg.store.embedded._Journal, "begin", lambda self, g: journaled.append(g) or begin(self, g))
    store = EmbeddedStore(tmp_path / "s")
    g, small = NamedNode("http://ex.org/graph/analytics"), NamedNode("http://ex.org/graph/small")
    quads = [Quad(NamedNode(f"http://ex.org/s{i}"), BK.x, Literal(str(i)), g) for i in range(50)]
    projection = Projection([BK.x])
    with store.transaction() as tx:
        tx.mirror = projection
        assert tx.replace(g, quads) == 50
        assert tx.replace(small, [Quad(g, BK.x, Literal("x"), small)]) == 1  # small: one atomic write
        assert not tx.writers
        held = sorted(str(x) for x in projection.reader().match(None, BK.x, None, g))
    assert journaled == [g]
    assert sorted(store.quads(g), key=str) == sorted(quads, key=str) and len(list(store.quads(small))) == 1
    assert held == sorted(str(x) for x in quads)
    assert not store.has_graph(JOURNAL) and not store.hides_graphs()
    other = NamedNode("http://ex.org/graph/other")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.replace(other, [Quad(x.subject, x.predicate, x.object, other) for x in quads])
        raise RuntimeError("a later step failed")
    assert not store.has_graph(other) and not store.has_graph(JOURNAL)


def test_graphs_too_large_for_one_write_are_journaled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kg.store.embedded, "ATOMIC_BULK_LIMIT", 10)  # so that 50 quads take the large-graph path
    store = EmbeddedStore(tmp_path / "s")
    g = NamedNode("http://ex.org/graph/links")
    quads = [Quad(NamedNode(f"http://ex.org/s{i}"), BK.x, Literal(str(i)), g) for i in range(50)]

    def overwrite(content: list[Quad]) -> None:
        with store.transaction() as tx, tx.writer(g) as w:
            w.add(content)

    overwrite(quads)
    assert sorted(store.quads(g), key=str) == sorted(quads, key=str)
    overwrite(quads[:20])  # replaces, never adds
    assert len(list(store.quads(g))) == 20
    with store.transaction() as tx:  # given up half-way: nothing of it stays
        writer = tx.writer(g)
        writer.add(quads)
        writer.abort()
    assert not store.has_graph(g)
    with pytest.raises(RuntimeError), store.transaction() as tx, tx.writer(g) as w:
        w.add(quads[:30])
        raise RuntimeError("the computation failed")
    assert not store.has_graph(g)
    overwrite(quads[:20])
    assert not store.has_graph(JOURNAL)
    assert store.graphs() == [g] and not store.hides_graphs()  # no journal graph left behind, even empty
    store.close()
    # a writer killed while writing leaves the mark: the next writer removes the half-written graph
    killed = Store(str(tmp_path / "s"))
    killed.add(Quad(g, WRITING, Literal("50"), JOURNAL))
    del killed
    reopened = EmbeddedStore(tmp_path / "s")
    assert not reopened.has_graph(g) and not reopened.hides_graphs()
    assert not reopened.has_graph(JOURNAL)


def test_regression_a_repeated_fact_whose_object_is_a_blank_node_is_found_not_a_syntax_error() -> None:
    """The duplicate check bound a blank node in a VALUES block (not allowed): copying an ontology axiom
    such as ``rdfs:domain [ owl:unionOf (...) ]`` into a document graph made it fail with a syntax error."""
    from pyoxigraph import BlankNode

    from kg import integrity

    store = EmbeddedStore(None)
    x, p, b = NamedNode("http://ex.org/x"), NamedNode("http://ex.org/p"), BlankNode("union")
    one, two = NamedNode("http://ex.org/g1"), NamedNode("http://ex.org/g2")
    with store.transaction() as tx:
        tx.replace(one, [Quad(x, p, b, one)])
        tx.replace(two, [Quad(x, p, b, two)])
    found = integrity.duplicated_facts(store, [two])
    assert [(d.subject, sorted(d.graphs)) for d in found] == [(x.value, [one.value, two.value])]
    with pytest.raises(integrity.DuplicateFacts):
        integrity.check(store, [two])


def test_agencies_are_described_once(seed_store: GraphStore) -> None:
    r = rows(seed_store.query("""PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX org: <http://www.w3.org/ns/org#>
        SELECT ?d (COUNT(*) AS ?n) WHERE { ?u a bk:BudgetUnit ; org:subOrganizationOf ?d } GROUP BY ?d ORDER BY ?d"""))
    assert [(x["d"].rsplit("/", 1)[1], x["n"]) for x in r] == [("325", "2"), ("326", "2"), ("341", "14")]
    labels = rows(seed_store.query("""PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?l WHERE { <https://budgetkg.example.org/id/agency/341> rdfs:label ?l }"""))
    assert labels == [{"l": "天津市公安局"}]  # stated by the documents; 325 and 326 stay unnamed
    assert rows(seed_store.query("""PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?l WHERE { <https://budgetkg.example.org/id/agency/325> rdfs:label ?l }""")) == []


def test_funding_source_and_tranches_from_names(seed_store: GraphStore) -> None:
    r = rows(seed_store.query("""PREFIX bk: <https://budgetkg.example.org/def/>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?fund ?year ?tranche ?pct WHERE { ?p rdfs:label "法制总队信息化运维经费50%款项-2023中央"@zh ;
          bk:fundingSource ?fund ; bk:fundYear ?year ; bk:paymentTranche ?tranche ; bk:tranchePercent ?pct }"""))
    assert r == [{"fund": "https://budgetkg.example.org/def/funding/central", "year": "2023",
                  "tranche": "https://budgetkg.example.org/def/tranche/partial", "pct": "50"}]


def test_total_budget_equals_sum_of_table_amounts(manifest) -> None:
    from kg.build import parse_document

    for entry in manifest.entries:
        parsed = parse_document(entry)
        total = sum((r.budget or Decimal(0) for r in parsed.records), Decimal(0))
        assert f"{total:.2f}" == SEED_COUNTS[entry.file][3]


def test_converter_output_is_owl_rl_consistent(settings: Settings, manifest) -> None:
    """Real converter output passes OWL-RL with the ontology: all of document 000, and the special-bond
    project of 004 with its goals, indicators, targets and funding rows (kept small so the run is quick)."""
    import owlrl
    import rdflib

    from .helpers import owl_inconsistencies

    store = EmbeddedStore(None)
    build(store, [manifest.entries[0], manifest.entries[4]], settings, manifest=manifest)
    bond = rows(store.query("PREFIX bk: <https://budgetkg.example.org/def/> "
                            "SELECT ?p WHERE { ?p a bk:SpecialBondProject }"))[0]["p"]
    keep = set()
    for q in store.quads():
        g, subj = q.graph_name.value, q.subject.value
        if "/graph/004_" not in g or subj.startswith(bond) or "/document/" in subj:
            keep.add((q.subject, q.predicate, q.object))
    data = "\n".join(f"{s} {p} {o} ." for s, p, o in keep)
    graph = rdflib.Graph().parse(data=data, format="nt")
    assert len(graph) > 2000
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(graph)
    assert owl_inconsistencies(graph) == []


def test_a_document_over_the_size_limit_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from kg.errors import DocumentTooLarge
    from kg.sources import adhoc_entry

    big = tmp_path / "big.txt"
    big.write_bytes(SEEDS_TEXT_FOR_SIZE * 8)
    store = EmbeddedStore(None)
    with pytest.raises(DocumentTooLarge) as info:
        build(store, [adhoc_entry(big, 2025)], Settings(max_document_mb=1))
    message = str(info.value)
    assert "big.txt" in message and "1 MB" in message and "BUDGETKG_MAX_DOCUMENT_MB" in message
    assert store.graphs() == []


SEEDS_TEXT_FOR_SIZE = b"\t" + b"x" * (200 * 1024) + b"\n"


def test_steps_side_by_side_make_what_they_make_one_after_the_other(tmp_path: Path, settings: Settings, manifest,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The facet and answer tables read in two threads, and the analytics step's queries solved two at a time, give
    the store and the tables that one thread gives."""
    from kg import analytics, answers, facets, kept
    from kg.pipeline import Together, default_steps

    side_by_side = EmbeddedStore(tmp_path / "together")
    steps = default_steps()
    assert any(isinstance(s, Together) for s in steps) and analytics.SOLVERS > 1
    build(side_by_side, manifest.entries, settings, manifest=manifest, steps=steps)
    monkeypatch.setattr(analytics, "SOLVERS", 1)
    alone = EmbeddedStore(tmp_path / "alone")
    build(alone, manifest.entries, settings, manifest=manifest,
          steps=[t for s in default_steps() for t in (s.steps if isinstance(s, Together) else (s,))])
    assert side_by_side.dump_sorted_nquads() == alone.dump_sorted_nquads()
    for module in (facets, answers, kept):
        files = [module.file_for(s, s.generation) for s in (side_by_side, alone)]
        assert all(f is not None and f.is_file() for f in files), module.__name__
        assert files[0].read_bytes() == files[1].read_bytes(), module.__name__


def test_only_steps_that_read_the_store_run_side_by_side() -> None:
    from kg.pipeline import FacetsStep, SummariesStep, Together

    with pytest.raises(ValueError, match="summaries"):
        Together((FacetsStep(), SummariesStep()))


@dataclass(frozen=True)
class _GCThresholds:
    """A check that writes, for each document, the garbage collector's thresholds of the process checking it."""

    into: Path

    def __call__(self, parsed: object, quads: object) -> None:
        (self.into / f"{os.getpid()}-{len(list(self.into.iterdir()))}").write_text(repr(gc.get_threshold()))


@pytest.mark.parametrize("processes", [1, 2])
def test_a_build_collects_garbage_less_often_and_puts_the_thresholds_back(
        tmp_path: Path, settings: Settings, manifest, processes: int) -> None:
    """The building process (one) or its workers (two) convert with the build's thresholds; the caller's are put
    back afterwards, also when the build fails."""
    from kg.build import BUILD_GC_THRESHOLDS

    seen = tmp_path / "seen"
    seen.mkdir()
    before = gc.get_threshold()
    assert before != BUILD_GC_THRESHOLDS
    build(EmbeddedStore(tmp_path / "store"), manifest.entries, replace(settings, workers=processes),
          manifest=manifest, check=_GCThresholds(seen))
    found = {p.read_text() for p in seen.iterdir()}
    assert found == {repr(BUILD_GC_THRESHOLDS)} and len(list(seen.iterdir())) == len(manifest.entries)
    assert ({p.name.split("-")[0] for p in seen.iterdir()} == {str(os.getpid())}) == (processes == 1)
    assert gc.get_threshold() == before
    with pytest.raises(DocumentTooLarge):
        build(EmbeddedStore(tmp_path / "other"), manifest.entries, replace(settings, max_document_mb=0.001),
              manifest=manifest)
    assert gc.get_threshold() == before
