"""SHACL shapes, the data-quality audit and ``budgetkg validate``.

pySHACL is the reference; the compiled SPARQL path (kg/shapes/) must report exactly what it
reports, on the seeds and on a conforming and a violating fixture of every rule
(tests/data/shapes/). The seeds conform to the structural shapes; the data-quality findings on
the seeds are the ones docs/validation.md lists, each checked against the seed text.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import typer
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, parse
from rdflib import RDF, URIRef
from rdflib import Graph as RDFGraph
from typer.testing import CliRunner

from budgetkg.commands.validate import register
from kg import queries
from kg.audit import findings_graph, refresh_findings
from kg.errors import ValidationError
from kg.namespaces import RDFS
from kg.ontology import ontology_quads
from kg.pipeline import build
from kg.shapes import (
    BKSH,
    ShapesError,
    StructureViolation,
    ValidationReport,
    load_shapes,
    structural_check,
    validate,
)
from kg.store import EmbeddedStore, GraphStore

from .helpers import DATA, ROOT

FIXTURES = DATA / "shapes"
QUALITY_RULES = sorted({p.name.split(".")[0] for p in (FIXTURES / "quality").glob("*.ttl")})
SEEDS = ROOT / "seeds"
BAD = "http://example.org/bad"

#: Findings of each data-quality rule on the five seed documents (docs/validation.md).
SEED_HITS = {
    "TimelinessAsRate": 34, "CostNotMonetary": 8, "ValueRepeatsName": 13, "NameIsCategoryHeading": 6,
    "UpperBoundOnAchievementRate": 4, "UnparsedValue": 2, "CostCapsExceedBudget": 1, "CostLowerBound": 1,
    "QualityAsDuration": 1, "DeadlineBeforeBudgetYear": 2,
}


@pytest.fixture(scope="session")
def all_shapes(settings):
    return load_shapes(settings.shapes_dir)


@pytest.fixture(scope="session")
def quality(settings):
    return load_shapes(settings.shapes_dir, ["quality"])


@pytest.fixture(scope="session")
def structure(settings):
    return load_shapes(settings.shapes_dir, ["structure"])


@pytest.fixture(scope="session")
def ontology(settings) -> list[Quad]:
    return ontology_quads(settings)


@pytest.fixture(scope="session")
def seed_reports(seed_store, all_shapes) -> tuple[ValidationReport, ValidationReport]:
    """The seeds validated by the fast path and by pySHACL (the slow part of this module, ~10 s)."""
    return validate(seed_store, all_shapes), validate(seed_store, all_shapes, engine="pyshacl")


def keys(report: ValidationReport) -> set[tuple[str, ...]]:
    return {f.key for f in report.findings}


def seed_line(file: str, line: int, lines: int = 6) -> str:
    text = (SEEDS / file).read_text(encoding="utf-8").splitlines()
    return " ".join(text[line - 1: line - 1 + lines])


# --- the shapes themselves ------------------------------------------------------------------------


def test_shapes_load_and_cover_every_class_of_the_ontology(all_shapes, structure) -> None:
    assert all_shapes.kinds == ["quality", "structure"]
    onto = RDFGraph()
    for name in ("budgetkg.ttl", "vocabularies.ttl", "audit.ttl"):
        onto.parse(ROOT / "ontology" / name, format="turtle")
    owl_class = URIRef("http://www.w3.org/2002/07/owl#Class")
    classes = {c for c in onto.subjects(RDF.type, owl_class) if str(c).startswith("https://budgetkg.example.org/def/")}
    targeted = set(structure.graph.objects(None, URIRef("http://www.w3.org/ns/shacl#targetClass")))
    assert classes and classes <= targeted, sorted(map(str, classes - targeted))
    assert {r.severity for r in structure.rules.values()} == {"Violation"}


def test_every_quality_rule_is_documented_and_has_fixtures(quality) -> None:
    names = {r.name for r in quality.rules.values()}
    assert names == set(QUALITY_RULES)
    docs = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    for rule in quality.rules.values():
        assert rule.severity in ("Warning", "Info"), rule.name
        assert rule.label_zh and rule.label_en and rule.comment_en and rule.comment_zh, rule.name
        assert f"`{rule.name}`" in docs, f"{rule.name} is not in docs/validation.md"
        for kind in ("ok", "bad"):
            assert (FIXTURES / "quality" / f"{rule.name}.{kind}.ttl").is_file()
    for c in quality.constraints:  # every result a rule can give is a warning or info, with zh and en messages
        assert c.severity in ("Warning", "Info"), (c.rule.name, c.component)
        assert {"zh", "en"} <= set(c.messages), (c.rule.name, c.component)


def test_audit_terms_are_labelled_in_both_languages_and_commented() -> None:
    g = RDFGraph().parse(ROOT / "ontology" / "audit.ttl", format="turtle")
    owl = "http://www.w3.org/2002/07/owl#"
    terms = {t for kind in ("Class", "ObjectProperty", "DatatypeProperty")
             for t in g.subjects(RDF.type, URIRef(owl + kind))}
    bk = "https://budgetkg.example.org/def/"
    assert {URIRef(bk + n) for n in ("AuditRule", "auditRule", "concernsProject", "concernsBudgetUnit",
                                      "findingDetail")} <= terms
    label, comment = URIRef(str(RDFS.label.value)), URIRef(str(RDFS.comment.value))
    for t in terms:
        assert {o.language for o in g.objects(t, label)} >= {"zh", "en"}, t
        assert {o.language for o in g.objects(t, comment)} >= {"zh", "en"}, t


def test_an_unsupported_feature_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.ttl").write_text(
        "@prefix sh: <http://www.w3.org/ns/shacl#> .\n"
        "<http://example.org/S> a sh:NodeShape ; sh:targetClass <http://example.org/C> ; sh:closed true .\n",
        encoding="utf-8")
    with pytest.raises(ShapesError, match="closed"):
        load_shapes(tmp_path)


# --- data-quality rules: one conforming and one violating fixture each --------------------------------


@pytest.mark.parametrize("rule", QUALITY_RULES)
def test_rule_fixtures(rule: str, quality) -> None:
    iri = BKSH[rule].value
    ok, bad = FIXTURES / "quality" / f"{rule}.ok.ttl", FIXTURES / "quality" / f"{rule}.bad.ttl"
    expected = {q.subject.value for q in parse(path=str(bad), format=RdfFormat.TURTLE)
                if isinstance(q.subject, NamedNode) and q.subject.value.startswith(BAD)}
    assert expected, f"{bad.name} marks no node as expected (IRIs starting with {BAD})"
    for path in (ok, bad):
        fast, ref = validate(path, quality), validate(path, quality, engine="pyshacl")
        assert keys(fast) == keys(ref), f"{path.name}: the fast path and pySHACL disagree"
        reported = {f.focus.value for f in fast.findings if f.rule == iri}
        assert reported == (expected if path is bad else set()), path.name
        for f in fast.findings:
            assert f.message_zh and f.message_en and "{" not in f.message_en + f.message_zh


# --- the seeds ----------------------------------------------------------------------------------------


def test_seed_store_conforms_to_the_structural_shapes(seed_reports) -> None:
    _, ref = seed_reports
    assert ref.only(["structure"]).findings == []
    assert ref.violations == []


def test_fast_path_reports_what_pyshacl_reports_on_the_seeds(seed_reports) -> None:
    fast, ref = seed_reports
    assert keys(fast) == keys(ref)
    assert {fast.rules[r].name: n for r, n in fast.by_rule().items()} == SEED_HITS


def test_seed_findings_name_project_unit_file_and_line(seed_reports) -> None:
    fast, _ = seed_reports
    for f in fast.findings:
        assert f.project is not None and f.budget_unit is not None and f.file and f.line, f
    by_rule = {}
    for f in fast.findings:
        by_rule.setdefault(f.rule_name, []).append(f)
    (caps,) = by_rule["CostCapsExceedBudget"]
    assert (caps.file, caps.line, caps.unit_code) == ("004_5346273e88d8e34b.txt", 9049, "341202")
    assert "41.28" in caps.message_en and "41.00" in seed_line(caps.file, caps.line, 12)
    (floor,) = by_rule["CostLowerBound"]
    assert floor.line == 9310 and "≥300万元" in seed_line(floor.file, floor.line)
    # 004:2404 (value at 2407) 2023年11月30日前; 004:2947 (value at 2950) 设备采购完成于2023年12月前
    assert [(f.line, f.value.value) for f in sorted(by_rule["DeadlineBeforeBudgetYear"], key=lambda f: f.line)] == [
        (2404, "2023-11-30"), (2947, "2023-12-31")]
    assert "2023年11月30日前" in seed_line("004_5346273e88d8e34b.txt", 2407)
    assert "设备采购完成于2023年12月前" in seed_line("004_5346273e88d8e34b.txt", 2950)
    # a bare 万 on a 成本指标 row is 万元 (004:588 ≤21.92万 … 004:8680 ≤120万): only the rows whose 指标值
    # is not one amount of money are left (002:171 指导价, 004:2188 four amounts in one cell, 004:3093 不超概算 …)
    assert sorted((f.file[:3], f.line) for f in by_rule["CostNotMonetary"]) == [
        ("002", 171), ("004", 2188), ("004", 3093), ("004", 6174), ("004", 6243), ("004", 6536), ("004", 9802),
        ("004", 10125)]
    for f in by_rule["CostNotMonetary"]:
        assert not re.search(r"\d万(?!元)", seed_line(f.file, f.line)), seed_line(f.file, f.line)
    for f in by_rule["UpperBoundOnAchievementRate"]:
        assert "≤" in seed_line(f.file, f.line) and "率" in seed_line(f.file, f.line)
    for f in by_rule["TimelinessAsRate"]:
        text = seed_line(f.file, f.line)
        assert "%" in text or "百分比" in text, text


def test_validating_the_seeds_takes_seconds(seed_reports) -> None:
    fast, _ = seed_reports
    assert fast.seconds < 5


# --- structure ---------------------------------------------------------------------------------------


def test_structural_fixtures(structure, ontology) -> None:
    for name in ("valid", "bad-unit-code", "bad-category"):
        path = FIXTURES / "structure" / f"{name}.ttl"
        fast = validate(path, structure, extra=ontology)
        assert keys(fast) == keys(validate(path, structure, engine="pyshacl", extra=ontology)), name
        if name == "valid":
            assert fast.findings == []
        else:
            assert fast.violations and all(f.severity == "Violation" for f in fast.findings)
    codes = validate(FIXTURES / "structure" / "bad-unit-code.ttl", structure, extra=ontology)
    assert {(f.path, f.component) for f in codes.findings} == {
        ("bk:budgetUnitCode", "PatternConstraintComponent"), ("bk:budgetUnit", "PatternConstraintComponent")}
    category = validate(FIXTURES / "structure" / "bad-category.ttl", structure, extra=ontology)
    assert ("bk:level1", "ClassConstraintComponent") in {(f.path, f.component) for f in category.findings}


def test_labels_in_several_languages_do_not_break_cardinalities(structure, ontology) -> None:
    valid = list(parse(path=str(FIXTURES / "structure" / "valid.ttl"), format=RdfFormat.TURTLE))
    project, indicator = NamedNode("http://example.org/id/p"), NamedNode("http://example.org/id/p-i1")
    english = [Quad(project, RDFS.label, Literal("Video monitoring platform maintenance", language="en")),
               Quad(project, NamedNode("https://budgetkg.example.org/def/budgetUnitName"),
                    Literal("Tianjin construction safety supervision station", language="en")),
               Quad(indicator, RDFS.label, Literal("System fault response time", language="en"))]
    assert validate(valid + english, structure, extra=ontology).findings == []
    second_zh = Quad(project, RDFS.label, Literal("另一个名称", language="zh"))
    report = validate([*valid, *english, second_zh], structure, extra=ontology)
    assert [(f.path, f.component) for f in report.findings] == [("rdfs:label", "UniqueLangConstraintComponent")]
    assert keys(report) == keys(validate([*valid, *english, second_zh], structure, engine="pyshacl",
                                         extra=ontology))


def test_per_period_and_each_of_are_checked(structure, ontology) -> None:
    valid = list(parse(path=str(FIXTURES / "structure" / "valid.ttl"), format=RdfFormat.TURTLE))
    target = NamedNode("http://example.org/id/p-i1-t")
    bk, duration = "https://budgetkg.example.org/def/", NamedNode("http://www.w3.org/2001/XMLSchema#duration")
    weekly = [Quad(target, NamedNode(bk + "perPeriod"), Literal("P7D", datatype=duration)),  # 每周开展1次 (004:1206)
              Quad(target, NamedNode(bk + "eachOf"), Literal("EC135、AW139直升机", language="zh"))]  # 004:8183
    assert validate(valid + weekly, structure, extra=ontology).findings == []
    for wrong, components in ((Literal("P14D", datatype=duration), {"In"}),  # a fortnight is no period of the tables
                              (Literal("每周", language="zh"), {"Datatype", "In"})):
        bad = [*valid, Quad(target, NamedNode(bk + "perPeriod"), wrong)]
        report = validate(bad, structure, extra=ontology)
        assert {(f.path, f.component) for f in report.findings} == {
            ("bk:perPeriod", c + "ConstraintComponent") for c in components}
        assert keys(report) == keys(validate(bad, structure, engine="pyshacl", extra=ontology))


def _corrupt(entry, tmp_path: Path, old: str, new: str):
    """A copy of a seed (same file name, so the same graph) with one cell changed."""
    text = Path(entry.path).read_text(encoding="utf-8")
    assert old in text
    copy = tmp_path / entry.file
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    return dataclasses.replace(entry, path=str(copy), sha256=None)


@pytest.mark.parametrize(("old", "new", "rule"), [
    ("\t产出指标\n", "\t投入指标\n", "IndicatorShape"),  # unknown 一级指标: the parser keeps it, with a warning
    ("\t预算数\n\t64.00\n", "\t预算数\n\t-64.00\n", "MonetaryAmountShape"),  # a negative 预算数
])
def test_a_structural_violation_leaves_the_store_unchanged(old, new, rule, settings, manifest, tmp_path) -> None:
    store = EmbeddedStore(None)
    check = structural_check(settings)
    build(store, manifest.entries[:2], settings, manifest=manifest, check=check)
    before = store.dump_sorted_nquads()
    entry = manifest.entry_for("000_98710193955fe7ef.txt")
    bad = _corrupt(entry, tmp_path, old, new)
    with pytest.raises(StructureViolation) as caught:
        build(store, [bad], settings, manifest=manifest, check=check)
    assert isinstance(caught.value, ValidationError)
    assert {f.rule_name for f in caught.value.findings} == {rule}
    assert "000_98710193955fe7ef.txt:" in str(caught.value)
    assert store.dump_sorted_nquads() == before
    new_doc = dataclasses.replace(bad, file="new_document.txt")  # a document new to the store: not created either
    (tmp_path / "new_document.txt").write_bytes(Path(bad.path).read_bytes())
    new_doc = dataclasses.replace(new_doc, path=str(tmp_path / "new_document.txt"))
    with pytest.raises(StructureViolation):
        build(store, [new_doc], settings, manifest=manifest, check=check)
    assert store.dump_sorted_nquads() == before


def test_the_structural_check_passes_every_seed_document(settings, manifest) -> None:
    # (its cost is measured by bench/bench_build.py, which builds with this check)
    check = structural_check(settings)
    checked = []

    def counted(parsed, quads) -> None:
        check(parsed, quads)  # raises on a structure violation
        checked.append(parsed)

    build(EmbeddedStore(None), manifest.entries, settings, manifest=manifest, check=counted)
    assert len(checked) == 5


# --- findings in the graph -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audited(settings, manifest) -> tuple[GraphStore, int]:
    store = EmbeddedStore(None)
    build(store, manifest.entries, settings, manifest=manifest)
    return store, refresh_findings(store, settings)


def test_findings_land_in_their_graph(audited, settings, structure) -> None:
    store, n = audited
    assert n == sum(SEED_HITS.values())
    graph = findings_graph(settings)
    assert graph in store.graphs()
    rows = list(store.query("""
        PREFIX bk: <https://budgetkg.example.org/def/> PREFIX sh: <http://www.w3.org/ns/shacl#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?f ?rule ?line ?doc ?project ?unit WHERE {
          ?f a bk:AuditFinding ; bk:auditRule ?rule ; bk:lineStart ?line ; prov:wasDerivedFrom ?doc ;
             bk:concernsProject ?project ; bk:concernsBudgetUnit ?unit ;
             sh:resultMessage ?zh , ?en . FILTER(LANG(?zh) = "zh" && LANG(?en) = "en")
          ?rule a bk:AuditRule ; sh:severity sh:Warning .
        }"""))
    assert len({r["f"] for r in rows}) == n - SEED_HITS["TimelinessAsRate"] - SEED_HITS["CostNotMonetary"] \
        - SEED_HITS["DeadlineBeforeBudgetYear"]  # the Info findings are the rest
    # the findings graph itself conforms to the structural shapes (bksh:AuditFindingShape …)
    assert validate(store, structure).findings == []


def test_refreshing_findings_is_idempotent(audited, settings) -> None:
    store, n = audited
    before = store.dump_sorted_nquads(findings_graph(settings))
    assert refresh_findings(store, settings) == n
    assert store.dump_sorted_nquads(findings_graph(settings)) == before


def test_named_query_ranks_agencies_by_findings(audited, settings) -> None:
    store, _ = audited
    q = queries.get(settings.queries_dir, "findings_by_agency")
    rows = [{k: s[k].value if s[k] is not None else None for k in ("unit_code", "findings", "rule")}
            for s in q.run(store)]
    assert rows[0] == {"unit_code": "341101", "findings": "27", "rule": ""}
    assert [int(r["findings"]) for r in rows] == sorted((int(r["findings"]) for r in rows), reverse=True)
    assert {r["unit_code"] for r in rows if r["findings"] == "0"} >= {"325205", "326206"}
    timeliness = [(s["unit_code"].value, int(s["findings"].value)) for s in q.run(store, {"rule": "TimelinessAsRate"})]
    assert timeliness[:2] == [("341101", 11), ("341202", 5)]
    assert sum(n for _, n in timeliness) == SEED_HITS["TimelinessAsRate"]
    warnings = sum(int(s["findings"].value) for s in q.run(store, {"severity": "Warning"}))
    assert warnings == 28


# --- budgetkg validate ----------------------------------------------------------------------------------


runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """budgetkg (test)."""

    register(app)
    return app


@pytest.fixture(scope="module")
def store_dir(settings, manifest, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("validate") / "store"
    store = EmbeddedStore(path)
    build(store, manifest.entries, settings, manifest=manifest)
    del store
    return path


def test_validate_the_seed_store_exits_0_and_writes_reports(store_dir: Path, tmp_path: Path) -> None:
    ttl, js = tmp_path / "report.ttl", tmp_path / "report.json"
    result = runner.invoke(_app(), ["validate", "--store", str(store_dir), "--report-ttl", str(ttl),
                                    "--report-json", str(js), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "0 violations, 28 warnings, 44 info" in result.output
    assert "CostCapsExceedBudget" in result.output and "004_5346273e88d8e34b.txt:9049" in result.output
    assert "72 data-quality findings recorded" in result.output
    report = json.loads(js.read_text(encoding="utf-8"))
    assert report["counts"] == {"Violation": 0, "Warning": 28, "Info": 44}
    assert {f["rule_name"] for f in report["findings"]} == set(SEED_HITS)
    results = [q for q in parse(ttl.read_bytes(), format=RdfFormat.TURTLE)
               if q.predicate.value == "http://www.w3.org/ns/shacl#result"]
    assert len(results) == 72


def test_validate_severity_filter_and_json(store_dir: Path) -> None:
    result = runner.invoke(_app(), ["validate", "--store", str(store_dir), "--severity", "warning",
                                    "--format", "json", "--no-record"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {f["severity"] for f in data["findings"]} == {"Warning"} and len(data["findings"]) == 28
    first = data["findings"][0]
    assert {"zh", "en"} == set(first["message"]) and first["file"] and first["line"] and first["budget_unit"]


def test_validate_a_file_with_violations_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["validate", str(FIXTURES / "structure" / "bad-unit-code.ttl")])
    assert result.exit_code == 1, result.output
    assert "Violation" in result.output and "3252201" in result.output
    ok = runner.invoke(_app(), ["validate", str(FIXTURES / "structure" / "valid.ttl"), "--shapes", "structure"])
    assert ok.exit_code == 0, ok.output


def test_validate_exits_2_when_it_cannot_run(tmp_path: Path) -> None:
    missing = runner.invoke(_app(), ["validate", "--store", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no store" in missing.output
    broken = tmp_path / "broken.ttl"
    broken.write_text("<a> <b> .", encoding="utf-8")
    assert runner.invoke(_app(), ["validate", str(broken)]).exit_code == 2
    assert runner.invoke(_app(), ["validate", str(tmp_path / "absent.ttl")]).exit_code == 2
    unknown = runner.invoke(_app(), ["validate", str(FIXTURES / "structure" / "valid.ttl"), "--shapes", "nope"])
    assert unknown.exit_code == 2 and "nope.ttl" in unknown.output
