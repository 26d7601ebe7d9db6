"""The kept answers (kg.kept): budget_by_agency, agencies_by_shared_goals, findings_by_agency,
funding_mix_by_department, funding_sources and projects_of_agency answer from the build's columns byte for byte what
their fast forms answer and what their plain texts answer (findings_by_agency: but for the order within its lists),
for the values the fast forms answer; other values, and any store written since the build, run the texts."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyoxigraph import Literal, QueryResultsFormat

from kg import answers, kept, queries, summaries
from kg.errors import NoSuchValue
from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest
from kg.store import EmbeddedStore, GraphStore
from server.app import create_app
from tests.helpers import bound_values, built_seeds

ALL = queries.load_all(Settings.from_env(env={}).queries_dir)
FORMATS = (QueryResultsFormat.CSV, QueryResultsFormat.TSV, QueryResultsFormat.JSON, QueryResultsFormat.XML)
#: A few hundred examples in all: each runs the plain SPARQL once.
EXAMPLES = hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BK = "PREFIX bk: <https://budgetkg.example.org/def/> "


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory, settings: Settings, manifest: Manifest) -> Iterator[EmbeddedStore]:
    store = built_seeds(tmp_path_factory.mktemp("kept"), settings, manifest)
    yield store
    store.close()


@pytest.fixture(scope="module")
def seeds_without_kept(tmp_path_factory: pytest.TempPathFactory, settings: Settings,
                       manifest: Manifest) -> Iterator[EmbeddedStore]:
    """The seeds built, their kept answers removed: the analytics are current, the fast forms' texts answer."""
    store = built_seeds(tmp_path_factory.mktemp("texts"), settings, manifest)
    path = kept.file_for(store, store.generation)
    assert path is not None
    path.unlink()
    yield store
    store.close()


def _query(store: GraphStore, text: str, bindings: dict, fmt: QueryResultsFormat) -> bytes:
    return store.query(text, substitutions=queries.with_zh(text, bindings)).serialize(format=fmt) or b""


def _kept(store: GraphStore, q: queries.NamedQuery, bindings: dict) -> answers.TableAnswer | None:
    chosen = q.text_for(store, bindings)
    assert isinstance(chosen, str)
    return queries.kept_answer(q.name, q.sparql, chosen, bindings, lambda: kept.stored(store))


def _unordered(data: bytes) -> list[tuple[str, ...]]:
    """CSV rows, each ", "-separated list sorted (SPARQL leaves GROUP_CONCAT's order undefined)."""
    rows = csv.reader(data.decode("utf-8").splitlines())
    return [tuple(", ".join(sorted(cell.split(", "))) for cell in row) for row in rows]


def _same(store: GraphStore, name: str, values: dict[str, str | None]) -> int | None:
    """Assert the kept answer of ``values`` is byte for byte the fast form's (every result format), the plain
    text's, and what ``NamedQuery.run`` answers; its rows (``None``: the kept answers decline, or the value is
    refused before either runs)."""
    q = ALL[name]
    try:
        bindings = bound_values(store, q, values)
    except NoSuchValue:
        return None
    found = _kept(store, q, bindings)
    chosen = q.text_for(store, bindings)
    assert isinstance(chosen, str)
    if found is None:
        assert chosen == q.sparql, "where a fast form answers, so do the kept answers"
        return None
    assert chosen != q.sparql, "the kept answers answer only where a fast form would"
    for fmt in FORMATS:
        got = found.solutions().serialize(format=fmt) or b""
        assert got == _query(store, chosen, bindings, fmt), fmt
    got = found.solutions().serialize(format=QueryResultsFormat.CSV) or b""
    plain = _query(store, q.sparql, bindings, QueryResultsFormat.CSV)
    if "GROUP_CONCAT" in q.sparql:  # its order is SPARQL's to choose; the kept lists are sorted
        assert _unordered(got) == _unordered(plain)
    else:
        assert got == plain
    assert q.run(store, values).serialize(format=QueryResultsFormat.CSV) == got
    return got.count(b"\n") - 1


def _texts(store: GraphStore, sparql: str) -> list[str]:
    return sorted({row[0].value for row in store.query(sparql)})


def _codes(store: GraphStore) -> st.SearchStrategy[str]:
    """Prefixes of the store's budget unit codes, and a name of a unit."""
    codes = _texts(store, BK + "SELECT ?c WHERE { ?p bk:budgetUnitCode ?c }")
    return st.one_of(st.sampled_from(codes).flatmap(lambda c: st.integers(1, len(c)).map(lambda n: c[:n])),
                     st.sampled_from(["公安局", "9999999"]))


def _smallest(store: GraphStore) -> Decimal:
    return min(Decimal(s) for s in _texts(store, BK + "SELECT ?s WHERE { ?l a bk:SharedGoalLink ; "
                                                      "bk:crossAgency true ; bk:score ?s }"))


CASES: list[tuple[str, dict[str, str | None]]] = [
    ("budget_by_agency", {}), ("budget_by_agency", {"department": "341"}), ("budget_by_agency", {"department": "326"}),
    ("budget_by_agency", {"department": "公安局"}), ("budget_by_agency", {"department": "34"}),
    ("agencies_by_shared_goals", {}), ("agencies_by_shared_goals", {"agency": "341", "min_score": "0"}),
    ("agencies_by_shared_goals", {"agency": "341101", "min_score": "0.1"}),
    ("agencies_by_shared_goals", {"min_score": "-1"}),
    ("findings_by_agency", {}), ("funding_mix_by_department", {}), ("funding_mix_by_department", {"department": "341"}),
    ("funding_mix_by_department", {"funding": "中央"}), ("funding_mix_by_department", {"funding": "unstated"}),
    ("funding_mix_by_department", {"funding": "未注明", "department": "341"}), ("funding_sources", {}),
    ("projects_of_agency", {}), ("projects_of_agency", {"code": "341"}), ("projects_of_agency", {"code": "3"}),
    ("projects_of_agency", {"code": "3411"}), ("projects_of_agency", {"code": "公安局"}),
]


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
def test_a_build_keeps_the_answers_of_its_generation(corpus: str, request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    assert kept.kept(store) and summaries.current(store)
    table = kept.stored(store)
    assert table is not None and table.generation == store.generation
    assert set(table.answers) == set(kept.FORMS), "no query's rows tie in its ORDER BY here"
    assert all(len(k) > 0 for k in table.answers.values())
    assert table.smallest is not None and Decimal(table.smallest) == _smallest(store)
    assert [p.name for p in store.path.glob(f"{kept.FILE_PREFIX}*")] == [f"{kept.FILE_PREFIX}{store.generation}.npz"]


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
@pytest.mark.parametrize(("name", "values"), CASES,
                         ids=[f"{n}-{','.join(f'{k}={x}' for k, x in v.items()) or 'defaults'}" for n, v in CASES])
def test_the_kept_answer_is_the_fast_forms_and_the_plain_texts(corpus: str, name: str, values: dict[str, str | None],
                                                               request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    rows = _same(store, name, values)
    if corpus == "seeds" and values.get("department") != "34":
        assert rows, "the case answers from the kept columns, with rows"


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
def test_any_department_or_code_answers_as_the_texts(corpus: str, request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    answered: list[int | None] = []
    words = sorted({*queries.FUNDING_KEYS, *queries.FUNDING_WORDS})

    @EXAMPLES
    @given(code=st.one_of(st.just(""), _codes(store)), funding=st.one_of(st.just(""), st.sampled_from(words)))
    def check(code: str, funding: str) -> None:
        answered.append(_same(store, "budget_by_agency", {"department": code}))
        answered.append(_same(store, "projects_of_agency", {"code": code}))
        answered.append(_same(store, "funding_mix_by_department", {"department": code[:3], "funding": funding}))

    check()
    assert any(n is not None and n > 1 for n in answered), "some cases answer rows"


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
def test_any_agency_and_least_score_answer_as_the_texts(corpus: str, request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    smallest = _smallest(store)
    answered: list[int | None] = []

    @EXAMPLES
    @given(agency=st.one_of(st.just(""), _codes(store)),
           least=st.sampled_from(["0", "-1", str(smallest), f"{smallest}000", str(smallest - Decimal("0.0001")),
                                  str(smallest + Decimal("0.0001")), "0.35", "1"]))
    def check(agency: str, least: str) -> None:
        rows = _same(store, "agencies_by_shared_goals", {"agency": agency, "min_score": least})
        if Decimal(least) > smallest:
            assert rows is None, "a least score beyond the smallest link's: the plain text answers"
        answered.append(rows)

    check()
    assert any(n is not None and n > 1 for n in answered), "some cases answer rows"


@pytest.mark.parametrize(("name", "values"), [
    ("findings_by_agency", {"rule": "CostNotMonetary"}), ("findings_by_agency", {"severity": "Warning"}),
    ("agencies_by_shared_goals", {"min_score": "0.6"}), ("agencies_by_shared_goals", {"min_score": "1" * 30}),
])
def test_values_the_kept_answers_decline_run_the_texts(seeds: EmbeddedStore, name: str,
                                                      values: dict[str, str | None]) -> None:
    q = ALL[name]
    bindings = bound_values(seeds, q, values)
    table = kept.stored(seeds)
    assert table is not None and kept.answer(table, name, bindings) is None
    chosen = q.text_for(seeds, bindings)
    assert isinstance(chosen, str)
    assert q.run(seeds, values).serialize(format=QueryResultsFormat.CSV) == \
        _query(seeds, chosen, bindings, QueryResultsFormat.CSV)


def test_values_the_texts_would_not_bind_so_are_declined(seeds: EmbeddedStore) -> None:
    """A value bound directly (not by the named query's parameter types) that is no plain string: the texts run."""
    table = kept.stored(seeds)
    assert table is not None
    for name, bindings in [("projects_of_agency", {"code": Literal("341", language="zh")}),
                           ("budget_by_agency", {"department": Literal("341", datatype=queries.XSD.integer)}),
                           ("agencies_by_shared_goals", {"agency": Literal(""), "min_score": Literal("0")}),
                           ("funding_sources", {"extra": Literal("")})]:
        assert kept.answer(table, name, bindings) is None


def test_after_a_write_the_texts_answer_until_the_next_build(tmp_path: Path, settings: Settings,
                                                              manifest: Manifest) -> None:
    store = EmbeddedStore(tmp_path / "store")
    build(store, manifest.entries, settings, manifest=manifest)
    q = ALL["projects_of_agency"]
    before = q.run(store, {"code": "341"}).serialize(format=QueryResultsFormat.CSV) or b""
    assert _kept(store, q, bound_values(store, q, {"code": "341"})) is not None
    # one project's 预算数 doubled by hand: the kept answers no longer say what the store holds
    store.update("""PREFIX bk: <https://budgetkg.example.org/def/>
        DELETE { GRAPH ?g { ?b bk:amountInYuan ?y } } INSERT { GRAPH ?g { ?b bk:amountInYuan ?z } }
        WHERE { { SELECT ?g ?b ?y WHERE { GRAPH ?g { ?p a bk:Project ; bk:budget ?b ; bk:budgetUnitCode ?c .
                                                     ?b bk:amountInYuan ?y FILTER(STRSTARTS(?c, "341")) } }
                  ORDER BY DESC(?y) LIMIT 1 }
                BIND(?y * 2 AS ?z) }""")
    assert not kept.kept(store) and kept.stored(store) is None
    bindings = bound_values(store, q, {"code": "341"})
    assert q.text_for(store, bindings) is q.sparql
    assert queries.kept_answer(q.name, q.sparql, q.sparql, bindings, lambda: kept.stored(store)) is None
    after = q.run(store, {"code": "341"}).serialize(format=QueryResultsFormat.CSV) or b""
    assert after != before
    assert after == _query(store, q.sparql, bindings, QueryResultsFormat.CSV)
    build(store, manifest.entries, settings, manifest=manifest)  # the documents again: the kept answers are current
    assert kept.kept(store)
    assert q.run(store, {"code": "341"}).serialize(format=QueryResultsFormat.CSV) == before
    store.close()


def test_a_store_in_memory_keeps_no_answers(seed_store: GraphStore) -> None:
    assert not kept.kept(seed_store) and kept.stored(seed_store) is None


def test_rows_that_tie_in_the_order_by_are_not_kept() -> None:
    """Two projects of one unit with one budget and one name: their order is the engine's, so the code prefix's
    answer might not be in the kept order; projects_of_agency is left to its texts."""
    spellings = {"code": ['""'] * 3, "unit_code": ['"341101"'] * 3, "unit_name": ['"单位"'] * 3,
                 "project": ["<http://e/p1>", "<http://e/p1>", "<http://e/p2>"], "name": ['"项目"@zh'] * 3,
                 "budget": ["12.5", "12.5", "3"], "fiscal": ["", "", ""], "other": ["", "", ""],
                 "funding": ['"中央"@zh', '"市级"@zh', ""], "document": ['"d"'] * 3}
    whole = answers.TableAnswer(tuple(spellings), tuple(answers.Column.of(c) for c in spellings.values()))
    assert "projects_of_agency" not in kept.of({"projects_of_agency": whole}, None).answers
    spellings["project"][1] = "<http://e/p0>"
    whole = answers.TableAnswer(tuple(spellings), tuple(answers.Column.of(c) for c in spellings.values()))
    table = kept.of({"projects_of_agency": whole}, None)
    found = kept.answer(table, "projects_of_agency", {"code": Literal("3411")})
    assert found is not None and len(found) == 3
    assert list(found.columns[3].objects[found.columns[3].codes]) == spellings["project"]
    none = kept.answer(table, "projects_of_agency", {"code": Literal("35")})
    assert none is not None and len(none) == 0


def test_the_kept_answers_survive_their_file(seeds: EmbeddedStore, tmp_path: Path) -> None:
    table = kept.stored(seeds)
    assert table is not None
    path = tmp_path / f"{kept.FILE_PREFIX}{table.generation}.npz"
    kept.save(table, path)
    again = kept.load(path)
    assert again.smallest == table.smallest and set(again.answers) == set(table.answers)
    for name, k in table.answers.items():
        assert again.answers[name].variables == k.variables
        for v, column in k.columns.items():
            assert list(again.answers[name].columns[v].objects[again.answers[name].columns[v].codes]) == \
                list(column.objects[column.codes])
            assert np.array_equal(again.answers[name].columns[v].codes, column.codes)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "xml", "html"])
@pytest.mark.parametrize(("name", "params"), [
    ("budget_by_agency", {}), ("budget_by_agency", {"department": "341"}), ("agencies_by_shared_goals", {}),
    ("agencies_by_shared_goals", {"agency": "341", "min_score": "0"}), ("findings_by_agency", {}),
    ("funding_mix_by_department", {"funding": "中央"}), ("funding_sources", {}), ("projects_of_agency", {}),
    ("projects_of_agency", {"code": "341"})], ids=lambda v: v if isinstance(v, str) else
    ",".join(f"{k}={x}" for k, x in v.items()) or "defaults")
def test_the_server_answers_from_the_kept_columns_in_every_format_as_from_the_fast_form(
        seeds: EmbeddedStore, seeds_without_kept: EmbeddedStore, settings: Settings, name: str,
        params: dict[str, str], fmt: str) -> None:
    assert not kept.kept(seeds_without_kept) and summaries.current(seeds_without_kept) and kept.kept(seeds)
    with TestClient(create_app(settings, store=seeds)) as table, \
            TestClient(create_app(settings, store=seeds_without_kept)) as text:
        got, want = (c.get(f"/queries/{name}", params={**params, "format": fmt}) for c in (table, text))
    assert got.status_code == want.status_code == 200
    assert got.content == want.content
    assert got.headers["etag"] == want.headers["etag"]
    if fmt != "html":
        assert got.headers["x-result-rows"] == want.headers["x-result-rows"] != "0"
    if fmt == "json":
        assert json.loads(got.content)["results"]["bindings"]
