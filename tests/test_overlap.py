"""Totals under overlapping documents: one version of every project, whatever is loaded.

The property: loading any subset of the seeds, plus copies of them under other names (refused)
or re-publications of some of their tables with changed amounts (declared revisions), leaves
every total — ``budgetkg stats``, every named query, a naive SPARQL SUM — equal to the answer of
a store that holds a single version of each project (the seeds with the revised tables edited
in place).
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyoxigraph import Literal, NamedNode, Quad
from typer.testing import CliRunner

from budgetkg.cli import app
from kg import integrity
from kg import queries as named_queries
from kg.audit import refresh_findings
from kg.build import parse_document
from kg.errors import NoSuchValue
from kg.iris import Iris
from kg.model import SourceEntry
from kg.pipeline import build
from kg.rdf import project_iris
from kg.revisions import DuplicateProject
from kg.settings import Settings
from kg.sources import Manifest
from kg.stats import compute
from kg.store import EmbeddedStore, GraphStore

#: Result columns that say where a fact was read (file, line, document), not what it is.
PROVENANCE_COLUMNS = {"line", "document", "file"}

NAIVE = """
PREFIX bk: <https://budgetkg.example.org/def/>
SELECT (SUM(?y) AS ?total) (COUNT(?p) AS ?rows) (COUNT(DISTINCT ?p) AS ?projects)
WHERE { ?p a bk:Project ; bk:budget/bk:amountInYuan ?y }
"""
NAIVE_INDICATORS = """
PREFIX bk: <https://budgetkg.example.org/def/>
SELECT (COUNT(?i) AS ?rows) (SUM(?n) AS ?sum) WHERE { ?p a bk:Project ; bk:hasIndicator ?i .
  OPTIONAL { ?i bk:target/bk:normalizedValue ?n } }
"""


def _lines(entry: SourceEntry) -> list[str]:
    return Path(entry.path).read_text(encoding="utf-8").split("\n")


def _amount_lines(lines: list[str], start: int, end: int) -> list[int]:
    """Indexes of the 预算数 and 财政资金 amounts of the table on lines ``start``..``end`` (1-based)."""
    out = []
    for k in range(start - 1, min(end, len(lines)) - 1):
        label = re.sub(r"\s+", "", lines[k])
        if label in ("预算数", "其中：财政资金") and re.fullmatch(r"\s*\d+(\.\d+)?\s*", lines[k + 1]):
            out.append(k + 1)
    return out


def _raise(line: str, delta: Decimal) -> str:
    number = Decimal(line.strip())
    return line.replace(line.strip(), f"{number + delta:.2f}")


def _edited(lines: list[str], spans: list[tuple[int, int]], delta: Decimal) -> list[str]:
    out = list(lines)
    for start, end in spans:
        for k in _amount_lines(lines, start, end):
            out[k] = _raise(lines[k], delta)
    return out


def _entry(tmp: Path, name: str, lines: list[str], like: SourceEntry, revises: tuple[str, ...] = ()) -> SourceEntry:
    path = tmp / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return dataclasses.replace(like, file=name, path=str(path), sha256=None, revises=revises, description="")


def _totals(store: GraphStore, settings: Settings) -> dict[str, object]:
    refresh_findings(store, settings)
    s = compute(store)
    out: dict[str, object] = {"stats": (s.projects, s.indicators, s.budget_wanyuan, s.agencies, s.budget_units)}
    for sparql, key in ((NAIVE, "naive"), (NAIVE_INDICATORS, "naive indicators")):
        solutions = store.query(sparql)
        row = next(iter(solutions))  # type: ignore[arg-type]
        out[key] = tuple(row[v].value if row[v] is not None else None for v in solutions.variables)  # type: ignore
    for name, nq in sorted(named_queries.load_all(settings.queries_dir).items()):
        try:
            result = nq.run(store, {})
        except NoSuchValue as exc:  # a default agency that the chosen documents do not have
            out[name] = str(exc)
            continue
        keep = [v for v in result.variables if v.value not in PROVENANCE_COLUMNS]  # type: ignore[union-attr]
        out[name] = sorted(tuple(str(r[v]) if r[v] is not None else "" for v in keep) for r in result)  # type: ignore[union-attr]
    return out


def _tables(entry: SourceEntry, iris: Iris) -> list[tuple[str, int, int]]:
    """(project IRI, first line, last line) of each table that has a 预算数 to change."""
    parsed = parse_document(entry)
    lines = _lines(entry)
    return [(node.value, rec.span.start, rec.span.end)
            for rec, node in zip(parsed.records, project_iris(parsed, iris), strict=True)
            if len(_amount_lines(lines, rec.span.start, rec.span.end)) == 2]


@pytest.fixture(scope="module")
def small(manifest: Manifest) -> list[SourceEntry]:
    """The four small seeds (004, 121 tables, is exercised by the CLI test below)."""
    return [e for e in manifest.entries if not e.file.startswith("004")]


@hsettings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_totals_equal_the_single_version_answer(data, small, settings, tmp_path_factory):
    iris = Iris(settings.base_iri)
    tmp = tmp_path_factory.mktemp("overlap")
    chosen = data.draw(st.lists(st.sampled_from(small), min_size=1, max_size=3, unique_by=lambda e: e.file))
    target = data.draw(st.sampled_from(chosen))
    tables = _tables(target, iris)
    picked = data.draw(st.lists(st.sampled_from(tables), min_size=1, max_size=len(tables), unique=True))
    delta = Decimal(data.draw(st.integers(1, 500)))
    lines = _lines(target)
    spans = [(s, e) for _, s, e in sorted(picked, key=lambda t: t[1])]
    edited = _edited(lines, spans, delta)
    revision = _entry(tmp, "revision.txt", [line for s, e in spans for line in edited[s - 1:e]] + [""], target,
                      revises=(target.file,))
    alias = _entry(tmp, "alias.txt", lines, target)

    # the single version: the revised tables edited in place
    single = EmbeddedStore(None)
    build(single, [e for e in chosen if e is not target] + [_entry(tmp, target.file, edited, target)], settings)
    expected = _totals(single, settings)

    store = EmbeddedStore(None)
    order = data.draw(st.sampled_from(["together", "revision-later", "revision-first"]))
    if order == "together":
        build(store, [*chosen, revision], settings, manifest=Manifest(tmp / "m.toml", [*chosen, revision]))
    elif order == "revision-later":
        build(store, chosen, settings)
        build(store, [revision], settings, manifest=Manifest(tmp / "m.toml", [*chosen, revision]))
    else:
        build(store, [revision], settings)
        build(store, chosen, settings)
    assert _totals(store, settings) == expected
    before = store.dump_sorted_nquads()
    with pytest.raises(DuplicateProject) as refused:
        build(store, [alias], settings)
    # named: the copy, and the document that now holds the project (the original or its revision)
    assert str(refused.value).startswith("alias.txt:")
    assert re.search(rf"is also in ({re.escape(target.file)}|revision\.txt):\d+", str(refused.value))
    assert store.dump_sorted_nquads() == before
    integrity.check(store)


def test_a_units_own_publication_beside_its_departments_is_refused(tmp_path, settings, manifest):
    """The reported case: 000's three tables again under another name must not change any total."""
    store_path = tmp_path / "store"
    seed = manifest.entries[0]
    copy = tmp_path / "325220.txt"
    copy.write_text(Path(seed.path).read_text(encoding="utf-8"), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["build", "--store", str(store_path), "-q"]).exit_code == 0
    before = runner.invoke(app, ["stats", "--store", str(store_path), "--format", "csv"]).stdout
    r = runner.invoke(app, ["build", "--store", str(store_path), str(copy), "--year", "2025"])
    assert r.exit_code == 2
    message = " ".join(r.stderr.split())
    assert "325220.txt:1: project '建设工程视频监控智能平台运行维护' is also in 000_98710193955fe7ef.txt:1" in message
    assert "the store was not changed" in message
    after = runner.invoke(app, ["stats", "--store", str(store_path), "--format", "csv"])
    assert after.stdout == before, (after.exit_code, after.stderr, after.exception)
    assert "(all),138,1184,18,42674.61" in before


def test_a_revision_supersedes_with_provenance(tmp_path, settings, manifest):
    """A 调整预算 of one 004 table: 004 keeps 120 projects, the total changes by exactly the adjustment."""
    seed = next(e for e in manifest.entries if e.file.startswith("004"))
    iris = Iris(settings.base_iri)
    iri, start, end = _tables(seed, iris)[5]
    lines = _lines(seed)
    revision = _entry(tmp_path, "004-adjusted.txt", [*_edited(lines, [(start, end)], Decimal(100))[start - 1:end], ""],
                      seed, revises=(seed.file,))
    store = EmbeddedStore(None)
    build(store, manifest.entries, settings, manifest=manifest)
    total = compute(store).budget_wanyuan
    report = build(store, [revision], settings, manifest=Manifest(manifest.path, [*manifest.entries, revision]))
    assert [(d.file, d.projects, d.superseded) for d in report.documents] == [
        ("004-adjusted.txt", 1, 0), (seed.file, 120, 1)]
    s = compute(store)
    assert (s.projects, Decimal(s.budget_wanyuan)) == (138, Decimal(total) + 100)
    version = iris.superseded_version(seed.file, NamedNode(iri))
    prov = "http://www.w3.org/ns/prov#"
    bk = "https://budgetkg.example.org/def/"
    assert Quad(NamedNode(iri), NamedNode(prov + "wasRevisionOf"), version, iris.graph(seed.file)) in set(
        store.quads(iris.graph(seed.file)))
    row = next(iter(store.query(f"""SELECT ?by ?start ?end ?doc WHERE {{ <{version.value}> a <{bk}SupersededVersion> ;
        <{bk}supersededBy> ?by ; <{bk}lineStart> ?start ; <{bk}lineEnd> ?end ; <{prov}wasDerivedFrom> ?doc .
        ?by <{prov}wasRevisionOf> ?doc }}""")))
    assert (row["by"], int(row["start"].value), int(row["end"].value)) == (
        iris.document("004-adjusted.txt"), start, end)
    # building 004 alone again keeps the revision's version
    build(store, [seed], settings)
    assert compute(store).budget_wanyuan == s.budget_wanyuan
    integrity.check(store)


def test_validate_fails_on_a_fact_in_two_graphs(tmp_path):
    """Whatever put it there, a triple in two published graphs makes ``budgetkg validate`` exit 1."""
    store_path = tmp_path / "store"
    runner = CliRunner()
    assert runner.invoke(app, ["build", "--store", str(store_path), "-q", "--no-audit"]).exit_code == 0
    assert runner.invoke(app, ["validate", "--store", str(store_path), "--no-record"]).exit_code == 0
    with EmbeddedStore(store_path) as store:
        row = next(iter(store.query("PREFIX bk: <https://budgetkg.example.org/def/> "
                                    "SELECT ?p ?y WHERE { ?p a bk:Project ; bk:budget/bk:amountInYuan ?y } LIMIT 1")))
        amount = next(iter(store.query(f"SELECT ?a WHERE {{ <{row['p'].value}> "
                                       "<https://budgetkg.example.org/def/budget> ?a }")))["a"]
        store.raw.add(Quad(amount, NamedNode("https://budgetkg.example.org/def/amountInYuan"), row["y"],
                             NamedNode("https://budgetkg.example.org/id/graph/contracts/extra")))
        assert isinstance(row["y"], Literal)
    r = runner.invoke(app, ["validate", "--store", str(store_path), "--no-record"])
    assert r.exit_code == 1
    assert "fact in two graphs" in r.stdout and "graph/contracts/extra" in r.stdout


def test_a_project_typed_in_two_graphs_is_found_and_a_staging_graph_is_not_counted() -> None:
    from kg.store import STAGING_PREFIX

    store = EmbeddedStore(None)
    project = NamedNode("https://budgetkg.example.org/id/project/2025/325220/x")
    kind = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    cls = NamedNode("https://budgetkg.example.org/def/Project")
    store.raw.extend([Quad(project, kind, cls, NamedNode("http://e/g1")),
                        Quad(project, kind, cls, NamedNode(STAGING_PREFIX + "x"))])
    assert integrity.shared_projects(store) == []  # a build's staging copy is no second version
    store.raw.add(Quad(project, kind, cls, NamedNode("http://e/g2")))
    (found,) = integrity.shared_projects(store)
    assert found.subject == project.value and found.graphs == {"http://e/g1", "http://e/g2"}
    with pytest.raises(integrity.DuplicateFacts, match="stored in two graphs"):
        integrity.check(store, [])


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_fast_check_finds_what_the_plain_join_finds(data, seed_store: GraphStore) -> None:
    """Copy a fact of one graph into another (a document, the agencies, links, findings, a new graph): the whole-
    store check answers exactly as a join of every quad with every other."""
    store = EmbeddedStore(None)
    store.raw.extend(seed_store.raw.quads_for_pattern(None, None, None, None))
    graphs = store.graphs()
    source = data.draw(st.sampled_from(graphs), label="from")
    quads = list(store.raw.quads_for_pattern(None, None, None, source))
    copies = data.draw(st.integers(0, 2), label="copies")
    for _ in range(copies):
        q = data.draw(st.sampled_from(quads), label="fact")
        target = data.draw(st.sampled_from([*(g for g in graphs if g != source), NamedNode("http://e/extra")]),
                           label="to")
        store.raw.add(Quad(q.subject, q.predicate, q.object, target))
    store.invalidate()
    fast = {(d.subject, d.predicate, d.object) for d in integrity.duplicated_facts(store)}
    plain = {(d.subject, d.predicate, d.object) for d in integrity.pairwise_duplicates(store)}
    assert fast == plain
    assert bool(plain) == (copies > 0)  # a copied fact is always in two graphs: the check is never vacuous


@pytest.mark.parametrize("owned", ["document", "project"])
def test_a_documents_or_projects_type_copied_into_another_document_graph_is_found(owned: str,
                                                                                 seed_store: GraphStore) -> None:
    """A document graph that types another graph's document or project "owns" it too, so what it describes is not
    its own alone: the whole-store check compares it quad by quad and finds the copied fact (found by hypothesis)."""
    store = EmbeddedStore(None)
    store.raw.extend(seed_store.raw.quads_for_pattern(None, None, None, None))
    cls = NamedNode(f"https://budgetkg.example.org/def/{'SourceDocument' if owned == 'document' else 'Project'}")
    kind = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    typed = sorted(store.raw.quads_for_pattern(None, kind, cls, None), key=str)
    first = typed[0]
    second = next(q for q in typed if q.graph_name != first.graph_name)  # another document's graph
    copied = Quad(first.subject, kind, cls, second.graph_name)
    store.raw.add(copied)
    store.invalidate()
    found = {(d.subject, d.predicate, d.object) for d in integrity.duplicated_facts(store)}
    assert found == {(d.subject, d.predicate, d.object) for d in integrity.pairwise_duplicates(store)}
    assert (first.subject.value, kind.value, str(cls)) in found
