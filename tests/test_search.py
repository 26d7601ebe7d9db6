"""Full-text search (kg/search.py, /search, budgetkg search, bk:search) on the seeds.

Expected hits are computed from the source text with plain substring search over each table's
lines, never from a list written down here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kg import search
from kg.build import parse_document
from kg.iris import Iris
from kg.pipeline import build
from kg.rdf import project_iris
from kg.settings import Settings
from kg.sources import load_manifest
from kg.store import EmbeddedStore

from .helpers import ROOT, run_build, spawn_build

TERMS = ("视频监控", "信息化")


class Killed(BaseException):
    """Stands for SIGKILL: no except clause of the build sees it, so nothing is cleaned up."""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An on-disk store of the seeds (with its search index), closed again."""
    path = tmp_path_factory.mktemp("search") / "store"
    settings = Settings(store=str(path))
    manifest = load_manifest(settings.manifest)
    with EmbeddedStore(path) as store:
        build(store, manifest.entries, settings, manifest=manifest)
    return settings


@pytest.fixture(scope="module")
def index(built: Settings):
    with EmbeddedStore(built.store, read_only=True) as store, search.SearchIndex.open(store, built) as ix:
        yield ix


@pytest.fixture(scope="module")
def tables(built: Settings) -> dict[str, tuple[str, str, list[tuple[int, str]]]]:
    """Project IRI → (file, name, its table's source lines)."""
    out = {}
    iris = Iris(built.base_iri)
    for entry in load_manifest(built.manifest).entries:
        parsed = parse_document(entry)
        lines = Path(entry.path).read_text(encoding="utf-8").splitlines()
        for rec, node in zip(parsed.records, project_iris(parsed, iris), strict=True):
            out[node.value] = (entry.file, rec.name,
                               [(n, lines[n - 1]) for n in range(rec.span.start, rec.span.end + 1)])
    return out


def _all(ix: search.SearchIndex, q: str) -> list[search.Hit]:
    return ix.search(q, limit=search.MAX_HITS, kinds=["project"]).hits


@pytest.mark.parametrize("term", TERMS)
def test_every_table_holding_the_term_is_found(index, tables, term) -> None:
    expected = {iri for iri, (_, _, lines) in tables.items() if any(term in text for _, text in lines)}
    found = {h.iri for h in _all(index, term)}
    assert expected, f"the seeds hold {term}"
    assert expected <= found
    # and nothing else: every hit's table holds the term once white space is set aside
    for iri in found:
        assert term in search.squeeze("\n".join(t for _, t in tables[iri][2]))


@pytest.mark.parametrize("term", TERMS)
def test_name_matches_rank_first(index, term) -> None:
    hits = _all(index, term)
    in_name = [term in h.label for h in hits]
    assert any(in_name) and not all(in_name)
    assert in_name == sorted(in_name, reverse=True), "a hit whose name holds the term came after one whose does not"
    assert all(h.in_name == (term in h.label) for h in hits)


@pytest.mark.parametrize("term", TERMS)
def test_snippets_and_lines_show_the_term(index, tables, term) -> None:
    for h in _all(index, term):
        assert search.MARK_START + term + search.MARK_END in h.snippet
        file, _, lines = tables[h.iri]
        assert h.file == file
        text = dict(lines)[h.line]
        assert term in search.squeeze(text), f"{h.where} does not hold {term}"


def test_two_character_words_are_found(index, tables) -> None:
    for term in ("视频", "监控"):
        expected = {iri for iri, (_, _, lines) in tables.items() if any(term in t for _, t in lines)}
        assert expected and expected <= {h.iri for h in _all(index, term)}


def test_every_word_of_a_query_must_occur(index, tables) -> None:
    found = {h.iri for h in _all(index, "信息化 运维")}
    expected = {iri for iri, (_, _, lines) in tables.items()
                if all(any(w in search.squeeze(t) for _, t in lines) for w in ("信息化", "运维"))}
    assert found == expected


def test_a_one_character_term_is_refused(index) -> None:
    with pytest.raises(search.SearchError):
        index.search("视")


def test_budget_units_are_found(index) -> None:
    hits = index.search("执法总队", kinds=["unit"]).hits
    assert [h.unit_code for h in hits] == ["326105"]


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_substring_of_a_table_finds_it(index, tables, data) -> None:
    """The recall rule: any string of two or more characters from a table's text finds that table."""
    iri = data.draw(st.sampled_from(sorted(tables)))
    lines = [search.squeeze(t) for _, t in tables[iri][2]]
    line = data.draw(st.sampled_from([x for x in lines if len(x) >= 2]))
    start = data.draw(st.integers(0, len(line) - 2))
    length = data.draw(st.integers(2, min(8, len(line) - start)))
    term = line[start:start + length]
    assert iri in {h.iri for h in _all(index, term)}, term


# -- consistency with the store ----------------------------------------------------------------
@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A copy of the seeds (so a test may edit a document) with its manifest."""
    out = tmp_path / "docs"
    shutil.copytree(ROOT / "seeds", out)
    return out


def _settings(tmp_path: Path, corpus: Path) -> Settings:
    return Settings(store=str(tmp_path / "store"), manifest=corpus / "manifest.toml")


def _build(settings: Settings, files: list[str] | None = None) -> None:
    manifest = load_manifest(settings.manifest)
    entries = [e for e in manifest.entries if files is None or e.file in files]
    with EmbeddedStore(settings.store) as store:
        build(store, entries, settings, manifest=manifest)


def _rename(corpus: Path, old: str, new: str) -> None:
    path = corpus / "000_98710193955fe7ef.txt"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


OLD, NEW = "建设工程视频监控智能平台运行维护", "建设工程视频监控智能平台升级维护"


def _names(settings: Settings, q: str, writable: bool = False) -> set[str]:
    with EmbeddedStore(settings.store, read_only=not writable) as store, \
            search.SearchIndex.open(store, settings, writable=writable) as ix:
        return {h.label for h in ix.search(q, limit=1000, kinds=["project"]).hits}


def _store_names(settings: Settings) -> set[str]:
    with EmbeddedStore(settings.store, read_only=True) as store:
        return {s["n"].value for s in store.query(
            "SELECT ?n WHERE { ?p a <https://budgetkg.example.org/def/Project> ; "
            "<http://www.w3.org/2000/01/rdf-schema#label> ?n }")}


def test_a_build_killed_after_the_graph_write_is_repaired(tmp_path, corpus, monkeypatch) -> None:
    settings = _settings(tmp_path, corpus)
    _build(settings)
    _rename(corpus, OLD, NEW)

    def killed(self) -> None:
        raise Killed

    monkeypatch.setattr(search.Indexer, "commit", killed)  # graphs written, index rows still pending
    with pytest.raises(Killed):
        _build(settings, ["000_98710193955fe7ef.txt"])
    monkeypatch.undo()
    assert NEW in _store_names(settings) and OLD not in _store_names(settings)
    for writable in (False, True):  # a reader answers right; a writer repairs the index for good
        names = _names(settings, "智能平台", writable)
        assert NEW in names and OLD not in names


def test_a_build_killed_before_the_graph_write_leaves_the_old_hits(tmp_path, corpus, monkeypatch) -> None:
    settings = _settings(tmp_path, corpus)
    _build(settings)
    _rename(corpus, OLD, NEW)

    def killed(self, *args, **kwargs) -> None:
        raise Killed

    monkeypatch.setattr(EmbeddedStore, "stage", killed)  # index rows pending, the graph never written
    with pytest.raises(Killed):
        _build(settings, ["000_98710193955fe7ef.txt"])
    monkeypatch.undo()
    assert OLD in _store_names(settings)
    for writable in (False, True):
        names = _names(settings, "智能平台", writable)
        assert OLD in names and NEW not in names


def test_a_document_the_index_never_saw_is_indexed_on_open(tmp_path, corpus, monkeypatch) -> None:
    settings = _settings(tmp_path, corpus)
    monkeypatch.setattr(search.Indexer, "add", lambda self, *a: None)
    monkeypatch.setattr(search.Indexer, "commit", lambda self: None)
    _build(settings)  # the index was lost entirely
    monkeypatch.undo()
    with EmbeddedStore(settings.store, read_only=True) as store, search.SearchIndex.open(store, settings) as ix:
        result = ix.search("视频监控", kinds=["project"])
        assert result.repaired and OLD in {h.label for h in result.hits}
    assert OLD in _names(settings, "视频监控", writable=True)
    with EmbeddedStore(settings.store, read_only=True) as store, search.SearchIndex.open(store, settings) as ix:
        assert not ix.search("视频监控").repaired  # repaired for good


def test_a_removed_document_is_not_found(tmp_path, corpus) -> None:
    settings = _settings(tmp_path, corpus)
    _build(settings)
    with EmbeddedStore(settings.store) as store:
        store.remove_graph(Iris(settings.base_iri).graph("000_98710193955fe7ef.txt"))
    assert OLD not in _names(settings, "视频监控")


def test_an_in_memory_store_is_searched(seed_store, settings) -> None:
    with search.SearchIndex.open(seed_store, settings) as ix:
        assert OLD in {h.label for h in ix.search("视频监控").hits}


# -- interfaces --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(built: Settings):
    from server.app import create_app

    store = EmbeddedStore(built.store, read_only=True)
    with TestClient(create_app(built, store=store)) as c:
        yield c
    store.close()


def test_search_page(client, index) -> None:
    r = client.get("/search", params={"q": "视频监控"})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "<mark>视频监控</mark>" in r.text
    assert "000_98710193955fe7ef.txt:1" in r.text
    first = index.search("视频监控").hits[0]
    assert first.iri.removeprefix("https://budgetkg.example.org/id/") in r.text  # linked to its page
    assert "agency/325220" in r.text  # and to its budget unit


def test_search_json_and_paging(client, index) -> None:
    r = client.get("/search", params={"q": "信息化", "per_page": 5, "page": 2}, headers={"Accept": "application/json"})
    body = r.json()
    expected = index.search("信息化", limit=5, offset=5)
    assert body["total"] == expected.total and [h["iri"] for h in body["hits"]] == [h.iri for h in expected.hits]
    assert all("[信息化]" in h["snippet"] and h["where"] for h in body["hits"])
    assert client.get("/search", params={"q": "信息化", "format": "json"}).json()["total"] == expected.total
    assert client.get("/search", params={"q": "视", "format": "json"}).status_code == 400


def test_sparql_bk_search(client, index) -> None:
    query = ('PREFIX bk: <https://budgetkg.example.org/def/> SELECT ?p ?s WHERE { ?p bk:search ("视频监控" ?s) . '
             '?p a bk:Project } ORDER BY DESC(?s)')
    r = client.get("/sparql", params={"query": query}, headers={"Accept": "application/sparql-results+json"})
    rows = r.json()["results"]["bindings"]
    assert [b["p"]["value"] for b in rows] == [h.iri for h in index.search("视频监控", kinds=["project"]).hits]


def test_cli_search(built: Settings, index) -> None:
    from budgetkg.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["search", "视频监控", "--store", built.store, "--format", "json"])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["hits"]
    assert [h["iri"] for h in hits] == [h.iri for h in index.search("视频监控").hits]
    r = runner.invoke(app, ["search", "信息化", "--store", built.store, "--format", "csv", "--limit", "3"])
    assert r.exit_code == 0 and len(r.stdout.strip().splitlines()) == 4
    assert runner.invoke(app, ["search", "视", "--store", built.store]).exit_code == 2


def test_cli_query_rewrites_bk_search(built: Settings, index) -> None:
    from budgetkg.cli import app

    r = CliRunner().invoke(app, ["query", 'SELECT ?p WHERE { ?p bk:search "视频监控" . ?p a bk:Project }',
                                 "--store", built.store, "--format", "csv"])
    assert r.exit_code == 0, r.output
    got = set(r.stdout.split()[1:])
    assert got == {h.iri for h in index.search("视频监控", kinds=["project"]).hits}


def test_vendors_are_found_after_a_contracts_import(tmp_path, corpus) -> None:
    from kg.contracts import import_files, remove_imports

    settings = _settings(tmp_path, corpus)
    _build(settings)
    with EmbeddedStore(settings.store) as store:
        import_files(store, [ROOT / "examples" / "contracts" / "example_contracts.csv"], settings)
    with EmbeddedStore(settings.store, read_only=True) as store, search.SearchIndex.open(store, settings) as ix:
        assert not ix.repaired  # the import refreshed the index itself
        hits = ix.search("示例科技", kinds=["vendor"]).hits
        assert hits and all("示例科技" in h.label for h in hits)
        assert ix.search("91120000EXAMPLE01N", kinds=["vendor"]).hits  # by credit code too
    with EmbeddedStore(settings.store) as store:
        remove_imports(store, ["example_contracts.csv"], settings)
    with EmbeddedStore(settings.store, read_only=True) as store, search.SearchIndex.open(store, settings) as ix:
        assert not ix.search("示例科技", kinds=["vendor"]).hits


# -- SIGKILL at random points of a real build ----------------------------------------------------
KILL_TERMS = ("视频监控", "影像监控")
_CONTAINS = """PREFIX bk: <https://budgetkg.example.org/def/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT DISTINCT ?p WHERE {
  GRAPH ?g { ?p a bk:Project .
    { ?p rdfs:label ?t } UNION { ?p bk:useOfFunds ?t } UNION { ?p bk:hasGoal/bk:goalText ?t }
    UNION { ?p bk:hasIndicator ?i . { ?i bk:indicatorName ?t } UNION { ?i dcterms:description ?t }
            UNION { ?i bk:target/bk:rawValue ?t } }
    FILTER(CONTAINS(?t, ?term)) }
}"""


def _version_b(folder: Path) -> None:
    """The seeds with 视频监控 written 影像监控 everywhere (names, and so project IRIs, change too)."""
    for f in folder.glob("*.txt"):
        f.write_text(f.read_text(encoding="utf-8").replace("视频监控", "影像监控"), encoding="utf-8")


def _check_against_store(settings: Settings, writable: bool) -> None:
    """Every hit is a project of the store, and every project whose text holds the term is a hit."""
    from pyoxigraph import Literal

    with EmbeddedStore(settings.store, read_only=not writable) as store, \
            search.SearchIndex.open(store, settings, writable=writable) as ix:
        projects = {s["p"].value for s in store.query("SELECT ?p WHERE { ?p a <https://budgetkg.example.org/def/"
                                                      "Project> }")}
        for term in KILL_TERMS:
            hits = {h.iri for h in ix.search(term, limit=search.MAX_HITS, kinds=["project"]).hits}
            holding = {s["p"].value for s in store.query(_CONTAINS, substitutions={"term": Literal(term)})}
            assert hits <= projects, f"{term}: hits for projects the store does not hold"
            assert holding <= hits, f"{term}: projects the store holds were missed"


@pytest.mark.slow
def test_sigkill_during_a_build_never_leaves_the_index_disagreeing(tmp_path) -> None:
    import random

    rng = random.Random()
    folders = {}
    for v in "AB":
        folders[v] = tmp_path / v
        shutil.copytree(ROOT / "seeds", folders[v])
    _version_b(folders["B"])
    store = tmp_path / "store"
    _, full = run_build(spawn_build(store, folders["A"] / "manifest.toml", "--no-audit"), None)
    kills, rounds, version = 0, 0, "B"
    while kills < 6 and rounds < 20:
        rounds += 1
        child = spawn_build(store, folders[version] / "manifest.toml", "--no-audit")
        alive, _ = run_build(child, rng.uniform(0.0, full * 0.95))
        kills += alive
        version = "A" if version == "B" else "B"
        settings = Settings(store=str(store), manifest=folders[version] / "manifest.toml")
        _check_against_store(settings, writable=False)  # a reader, before anyone repairs
        _check_against_store(settings, writable=True)  # the next writer
    assert kills >= 3


def test_rows_read_back_from_the_store_hold_the_tables_text(seed_store, tables) -> None:
    """The repair path when no source file is at hand: name, use of funds, goals and indicators, with lines."""
    graph = Iris(Settings().base_iri).graph("000_98710193955fe7ef.txt").value
    rows = search.rows_from_store(seed_store, graph, "000_98710193955fe7ef.txt")
    assert rows and {r.iri for r in rows} <= set(tables)
    for row in rows:
        recs = tables[row.iri][2]
        first, last = recs[0][0], recs[-1][0]
        assert all(first <= line <= last for line, _ in row.segments)
        assert "视频监控" not in row.text() or "视频监控" in search.squeeze("".join(t for _, t in recs))
    assert any("视频监控" in r.text() for r in rows)


def test_the_tokens_a_build_worker_makes_are_those_the_index_would_make(built: Settings) -> None:
    """A build worker makes each row's index tokens (``search.prepare``) so that the build's writer only stores
    them; they are the tokens of the same row made where it is indexed (a repair, a reindex)."""
    iris = Iris(built.base_iri)
    checked = 0
    for entry in load_manifest(built.manifest).entries:
        parsed = parse_document(entry)
        prepared = search.prepare(parsed, [n.value for n in project_iris(parsed, iris)], iris)
        plain, _ = search.document_rows(entry, "", base_iri=built.base_iri)
        assert [r.iri for r in prepared.rows] == [r.iri for r in plain]
        for made, row in zip(prepared.rows, plain, strict=True):
            assert row.made_tokens is None and made.made_tokens == row.tokens()
            name, body = row.tokens()
            assert name.split() == search.bigrams(search.squeeze(row.name))
            checked += bool(body)
    assert checked > 100


# -- a remote store ------------------------------------------------------------------------------
@pytest.mark.parametrize("kept", [True, False], ids=["index-in-BUDGETKG_SEARCH_DIR", "index-in-memory"])
def test_a_remote_store_is_searched_and_rewritten(oxigraph_url, index, tmp_path, monkeypatch, kept) -> None:
    from budgetkg.cli import app
    from kg.store import open_store

    if kept:
        monkeypatch.setenv("BUDGETKG_SEARCH_DIR", str(tmp_path / "search"))
    settings = Settings(store=oxigraph_url)
    manifest = load_manifest(settings.manifest)
    with open_store(settings) as store:
        build(store, manifest.entries, settings, manifest=manifest)
    assert (tmp_path / "search" / "index.sqlite").is_file() == kept
    expected = [h.iri for h in index.search("视频监控", kinds=["project"]).hits]
    runner = CliRunner()
    r = runner.invoke(app, ["search", "视频监控", "--store", oxigraph_url, "--format", "json", "--kind", "project"])
    assert r.exit_code == 0, r.output
    assert [h["iri"] for h in json.loads(r.stdout)["hits"]] == expected
    r = runner.invoke(app, ["query", 'SELECT ?p WHERE { ?p bk:search "视频监控" . ?p a bk:Project }',
                            "--store", oxigraph_url, "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert set(r.stdout.split()[1:]) == set(expected)


def test_a_revision_is_found_once_in_the_revising_document(tmp_path, corpus) -> None:
    """A 调整预算 revising 000: every project it shares is found once, at its lines in the revision."""
    import dataclasses

    settings = _settings(tmp_path, corpus)
    _build(settings)
    manifest = load_manifest(settings.manifest)
    old = next(e for e in manifest.entries if e.file.startswith("000"))
    text = Path(old.path).read_text(encoding="utf-8")  # the same tables, published again
    (corpus / "revision.txt").write_text(text, encoding="utf-8")
    revision = dataclasses.replace(old, file="revision.txt", path=str(corpus / "revision.txt"), sha256=None,
                                   revises=(old.file,), description="")
    with EmbeddedStore(settings.store) as store:
        build(store, [revision], settings, manifest=manifest)
    with EmbeddedStore(settings.store, read_only=True) as store, search.SearchIndex.open(store, settings) as ix:
        assert not ix.repaired
        hits = [h for h in ix.search("建设工程", limit=100, kinds=["project"]).hits if h.unit_code == "325220"]
        assert len({h.iri for h in hits}) == len(hits) == 3
        assert {h.file for h in hits} == {"revision.txt"}


def test_search_answers_from_a_sandboxed_worker_process(tmp_path) -> None:
    """Worker processes are confined to the store (Landlock): the index's readers may still take their lock file."""
    from typer.testing import CliRunner

    from budgetkg.cli import app as cli
    from server.app import create_app as make_app

    store = tmp_path / "store"
    assert CliRunner().invoke(cli, ["build", "--store", str(store), "-q", "--no-audit"]).exit_code == 0
    settings = Settings.from_env(env={}, store=str(store))
    with TestClient(make_app(settings, workers=1)) as client:
        r = client.get("/search", params={"q": "视频监控", "format": "json"})
        assert r.status_code == 200, r.text
        assert r.json()["total"] > 0
        assert client.get("/health").json()["sandbox"]["files"] in ("landlock", "open")


def test_a_hit_leaves_its_worker_without_its_index_row() -> None:
    """A hit answered from memory carries the row its snippet is read from; the page gets the hit only."""
    import pickle

    row = search.ProjectRow("p", "g", "f.txt", "视频监控", "341101", "单位", 3, 9, [(3, "视频监控" * 1000)])
    hit = search.Hit("p", "project", "视频监控", 1.0, True, unit_code="341101")
    hit.source = row
    back = pickle.loads(pickle.dumps(hit))
    assert back == hit and back.source is None and hit.source is row
    assert "source" not in hit.as_dict()
