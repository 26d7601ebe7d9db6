"""The answer table (kg.answers): projects_by_threshold and projects_by_category answer from it exactly what their
plain SPARQL answers (same rows, same order, same terms) for any values, and only while it is the store's;
shared_goals_across_agencies answers byte for byte what its SPARQL fast form answers, and what its plain text
answers but for the order within a GROUP_CONCAT list."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyoxigraph import Literal, QueryResultsFormat

from kg import answers, queries, summaries
from kg.errors import NoSuchValue
from kg.links.graph import SEPARATOR
from kg.pipeline import build, default_steps
from kg.settings import Settings
from kg.sources import Manifest
from kg.store import EmbeddedStore, GraphStore
from server import results
from server.app import create_app
from server.jobs import Answer, QueryJob
from server.workers import ProcessPool
from tests.helpers import bound_values, built_seeds

ALL = queries.load_all(Settings.from_env(env={}).queries_dir)
THRESHOLD, CATEGORY = ALL["projects_by_threshold"], ALL["projects_by_category"]
GOALS = ALL["shared_goals_across_agencies"]
#: A few hundred examples in all: each runs the plain SPARQL once.
EXAMPLES = hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory, settings: Settings, manifest: Manifest) -> Iterator[EmbeddedStore]:
    store = built_seeds(tmp_path_factory.mktemp("answers"), settings, manifest)
    yield store
    store.close()


@pytest.fixture(scope="module")
def seeds_without_table(tmp_path_factory: pytest.TempPathFactory, settings: Settings,
                        manifest: Manifest) -> Iterator[EmbeddedStore]:
    """The seeds built without the answers step: the analytics are current, the fast forms' texts answer."""
    store = built_seeds(tmp_path_factory.mktemp("texts"), settings, manifest,
                        steps=default_steps(leave_out=["answers"]))
    yield store
    store.close()


def _plain(store: GraphStore, q: queries.NamedQuery, bindings: dict, fmt: QueryResultsFormat) -> bytes:
    return store.query(q.sparql, substitutions=queries.with_zh(q.sparql, bindings)).serialize(format=fmt) or b""


def _table(store: GraphStore, q: queries.NamedQuery, bindings: dict, fmt: QueryResultsFormat) -> bytes:
    table = answers.stored(store)
    assert table is not None
    solved = answers.solve(table, q.name, bindings)
    assert solved is not None, "the table answers every value of these types"
    return solved.serialize(format=fmt) or b""


def _same(store: GraphStore, q: queries.NamedQuery, values: dict[str, str | None]) -> int:
    """Assert the table answers ``values`` as the plain text does (CSV byte for byte, JSON rows); the rows."""
    try:
        bindings = bound_values(store, q, values)
    except NoSuchValue:
        return 0  # refused before either path runs
    assert isinstance(q.text_for(store, bindings), queries.FastForm)
    csv_table, csv_plain = (f(store, q, bindings, QueryResultsFormat.CSV) for f in (_table, _plain))
    assert csv_table == csv_plain
    json_table, json_plain = (json.loads(f(store, q, bindings, QueryResultsFormat.JSON)) for f in (_table, _plain))
    assert json_table["results"]["bindings"] == json_plain["results"]["bindings"]
    assert json_table["head"] == json_plain["head"]
    return csv_plain.count(b"\n") - 1


def _texts(store: GraphStore, sparql: str) -> list[str]:
    return sorted({row[0].value for row in store.query(sparql)})


def _vocabulary(store: GraphStore) -> dict[str, list[str]]:
    """What the store holds that the parameters can name: categories, wordings, units, codes, values."""
    bk = "PREFIX bk: <https://budgetkg.example.org/def/> PREFIX skos: <http://www.w3.org/2004/02/skos/core#> "
    categories = _texts(store, bk + "SELECT ?l WHERE { { ?i bk:level1Label ?l } UNION { ?i bk:level2Label ?l } }")
    keys = [k.rsplit("/", 1)[1] for k in _texts(store, bk + "SELECT ?k WHERE { { ?i bk:level1 ?k } UNION "
                                                            "{ ?i bk:level2 ?k } }")]
    names = _texts(store, bk + "SELECT ?n WHERE { ?i bk:indicatorName ?n }")
    concepts = _texts(store, bk + "SELECT ?n WHERE { ?i bk:indicatorConcept/skos:prefLabel ?n }")
    # parts of names and concepts, with both satisfaction wordings
    words = sorted({w[a:a + n] for w in names[::7] + concepts for a in (0, 1) for n in (2, 3, 5)}
                   | {"满意度", "满意率"})
    return {"category": categories + keys, "indicator": words,
            "unit": _texts(store, bk + "SELECT ?u WHERE { ?t bk:normalizedUnit ?u }"),
            "code": _texts(store, bk + "SELECT ?c WHERE { ?p bk:budgetUnitCode ?c }"),
            "value": _texts(store, bk + "SELECT ?v WHERE { ?t bk:normalizedValue ?v }")}


def _values(vocabulary: dict[str, list[str]]) -> st.SearchStrategy[dict[str, str | None]]:
    """Parameters of projects_by_threshold: the store's own values, their neighbours, empty and unknown ones."""
    values = [Decimal(v) for v in vocabulary["value"]]
    boundaries = st.sampled_from(values).flatmap(lambda v: st.sampled_from(
        [str(v), str(v + Decimal("0.001")), str(v - Decimal("0.001")), str(v.quantize(Decimal(1)))]))
    codes = st.sampled_from(vocabulary["code"]).flatmap(lambda c: st.integers(1, len(c)).map(lambda n: c[:n]))
    maybe = {  # None: the parameter's default
        "indicator": st.one_of(st.none(), st.just(""), st.sampled_from(vocabulary["indicator"]), st.just("没有的指标")),
        "unit": st.one_of(st.none(), st.sampled_from(vocabulary["unit"]), st.just("http://qudt.org/vocab/unit/NONE")),
        "min_value": st.one_of(st.none(), boundaries, st.sampled_from(["0", "-1", "100", "1000000", "0.5", "95.00"])),
        "agency": st.one_of(st.none(), st.just(""), codes),
        "category": st.one_of(st.none(), st.just(""), st.sampled_from(vocabulary["category"]), st.just("没有的类别")),
    }
    return st.fixed_dictionaries({}, optional=maybe)


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
def test_a_build_keeps_the_table_of_its_generation(corpus: str, request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    assert answers.kept(store) and summaries.current(store)
    table = answers.stored(store)
    assert table is not None and table.generation == store.generation
    assert len(table.target_order) > 0
    kept = [p.name for p in store.path.glob(f"{answers.FILE_PREFIX}*")]
    assert kept == [f"{answers.FILE_PREFIX}{store.generation}.npz"]
    for q in (THRESHOLD, CATEGORY):
        assert isinstance(q.text_for(store), queries.FastForm)


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
@pytest.mark.parametrize("values", [
    {}, {"indicator": "", "category": "满意度指标", "min_value": "95"}, {"indicator": "满意率", "min_value": "90"},
    {"indicator": "", "category": "satisfaction", "min_value": "0", "agency": "341"},
    {"indicator": "", "unit": "cur:CNY", "min_value": "0"}, {"indicator": "", "min_value": "-1000000"},
    {"min_value": "0.0000000000000000001"}, {"min_value": "1" * 30}, {"agency": "公安局"},
    {"min_value": "95.00"}, {"indicator": "", "min_value": "+007.50"},
], ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "defaults")
def test_thresholds_answer_as_the_plain_text(corpus: str, values: dict[str, str | None],
                                             request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    q, bindings = THRESHOLD, bound_values(store, THRESHOLD, values)
    table = answers.stored(store)
    assert table is not None
    if answers.solve(table, q.name, bindings) is None:  # a bound Oxigraph's decimals do not hold: the text runs
        assert values["min_value"] in ("0.0000000000000000001", "1" * 30)
        assert q.run(store, values).serialize(format=QueryResultsFormat.CSV) == \
            _plain(store, q, bindings, QueryResultsFormat.CSV)
        return
    _same(store, q, values)


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
def test_any_threshold_answers_as_the_plain_text(corpus: str, request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    answered = []

    @EXAMPLES
    @given(values=_values(_vocabulary(store)))
    def check(values: dict[str, str | None]) -> None:
        answered.append(_same(store, THRESHOLD, values))

    check()
    assert any(n > 1 for n in answered), "some cases answer rows"


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
def test_any_category_answers_as_the_plain_text(corpus: str, request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    found = _vocabulary(store)["category"]

    @EXAMPLES
    @given(category=st.one_of(st.sampled_from(found), st.just(""), st.just("没有的类别"), st.text(max_size=4)))
    def check(category: str) -> None:
        _same(store, CATEGORY, {"category": category})

    check()
    for category in found:
        assert _same(store, CATEGORY, {"category": category}) > 0 or category not in found[:1]


def test_after_a_write_the_plain_text_answers_until_the_next_build(tmp_path: Path, settings: Settings,
                                                                   manifest: Manifest) -> None:
    store = EmbeddedStore(tmp_path / "store")
    build(store, manifest.entries, settings, manifest=manifest)
    values = {"indicator": "", "category": "满意度指标", "min_value": "95"}
    before = THRESHOLD.run(store, values).serialize(format=QueryResultsFormat.CSV) or b""
    # every satisfaction target raised to 100 by hand: the kept table no longer says what the store holds
    store.update("""PREFIX bk: <https://budgetkg.example.org/def/>
        DELETE { GRAPH ?g { ?t bk:normalizedValue ?v } } INSERT { GRAPH ?g { ?t bk:normalizedValue 100.0 } }
        WHERE { GRAPH ?g { ?i bk:level1Label "满意度指标"@zh ; bk:target ?t . ?t bk:normalizedValue ?v } }""")
    assert not answers.kept(store) and answers.stored(store) is None
    assert THRESHOLD.text_for(store, bound_values(store, THRESHOLD, values)) is THRESHOLD.sparql
    after = THRESHOLD.run(store, values).serialize(format=QueryResultsFormat.CSV) or b""
    assert after != before and b",100," in after
    assert after == _plain(store, THRESHOLD, bound_values(store, THRESHOLD, values), QueryResultsFormat.CSV)
    build(store, manifest.entries, settings, manifest=manifest)  # the documents again: the table is current
    assert isinstance(THRESHOLD.text_for(store), queries.FastForm)
    assert THRESHOLD.run(store, values).serialize(format=QueryResultsFormat.CSV) == before
    store.close()


def test_a_store_in_memory_keeps_no_table(seed_store: GraphStore) -> None:
    assert not answers.kept(seed_store) and answers.stored(seed_store) is None
    assert THRESHOLD.text_for(seed_store) is THRESHOLD.sparql


def test_a_bound_value_comes_back_as_the_engine_holds_it(seeds: EmbeddedStore) -> None:
    """The answer repeats ``min_value`` as Oxigraph does (95.00 is the decimal 95), not as it was typed."""
    bindings = bound_values(seeds, THRESHOLD, {"min_value": "95.00"})
    solved = _table(seeds, THRESHOLD, bindings, QueryResultsFormat.TSV)
    assert solved.split(b"\n")[1].split(b"\t")[2] == b'"95"^^<http://www.w3.org/2001/XMLSchema#decimal>'
    assert solved == _plain(seeds, THRESHOLD, bindings, QueryResultsFormat.TSV)


#: Literals whose spellings differ from format to format: quotes, separators, line ends, markup, nothing.
AWKWARD = ['a "quoted", text', "two\nlines\r\n", "tab\there", "<b>&amp;</b>", "", " ", "满意度", "\\u0041", "x,y"]


def _awkward(fill: int) -> answers.TableAnswer:
    """An answer of awkward terms in every column: literals of :data:`AWKWARD`, an IRI, a number, a language
    tag, an unbound cell (first in a row too), ``fill`` rows."""
    spellings = [str(Literal(t)) for t in AWKWARD] + [str(Literal(t, language="zh")) for t in AWKWARD[:3]]
    spellings += ["<http://example.org/a?b=1&c=2>", "97.5", '"1"^^<http://www.w3.org/2001/XMLSchema#integer>',
                  '"x"^^<http://example.org/dt>', "_:b0", answers.UNBOUND]
    rng = np.random.default_rng(16)
    columns = tuple(answers.Column.coded(rng.integers(0, len(spellings), fill).astype(np.int32), spellings)
                    for _ in range(3))
    return answers.TableAnswer(("a", "b", "c"), columns)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "xml"])
@pytest.mark.parametrize("width", [1, 3])
def test_an_answer_is_written_from_its_columns_as_from_its_solutions(fmt: str, width: int) -> None:
    """The server writes a table answer from its columns (each distinct term once) byte for byte as it writes the
    same answer's solutions, whatever the terms, with the row cap where it cuts."""
    whole = _awkward(400)
    found = answers.TableAnswer(whole.variables[:width], whole.columns[:width])
    for cap in (0, 1, 7, 400, 10_000):
        assert results.answer_bytes(found, fmt, cap) == results.select_bytes(found.solutions(), fmt, cap)
        assert results.answer_table(found, cap) == results.select_table(found.solutions(), cap)
    empty = found.head(0)
    assert results.answer_bytes(empty, fmt, 5) == results.select_bytes(empty.solutions(), fmt, 5)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "xml"])  # the table keeps CSV and TSV; any format would do
@given(data=st.data())
@hsettings(max_examples=60, deadline=None)
def test_rows_written_ahead_are_sent_as_written_from_the_columns(fmt: str, data: st.DataObject) -> None:
    """An answer whose rows the table keeps written (kg.answers.SpelledRows) is sent byte for byte as the same answer
    written from its columns, and as its solutions: any rows of the kept ones (runs, gaps, any order), any leading
    cells repeated on every row, any cap, any chunk size."""
    kept = _awkward(300)
    lead = data.draw(st.integers(0, 2), label="lead")
    blank = tuple(answers.Column.repeated(answers.UNBOUND, 300) for _ in range(lead))
    whole = answers.TableAnswer(("p", "q")[:lead] + kept.variables, blank + kept.columns)
    spelled = {fmt: answers.spelled_rows(whole, lead, fmt)}
    rows = np.array(data.draw(st.lists(st.integers(0, 299), max_size=120) | st.builds(
        lambda a, b: list(range(a, b)), st.integers(0, 299), st.integers(0, 300)), label="rows"), dtype=np.int64)
    leading = data.draw(st.lists(st.sampled_from(["<http://example.org/p>", '"x,y"@zh', '""', answers.UNBOUND]),
                                 min_size=lead, max_size=lead), label="leading")
    columns = tuple(answers.Column.repeated(t, len(rows)) for t in leading) + tuple(c.take(rows) for c in kept.columns)
    found = answers.TableAnswer(whole.variables, columns, answers.SpelledRows(lead, spelled, rows))
    plain = replace(found, spelled=None)
    cap, size = data.draw(st.integers(0, 130), label="cap"), data.draw(st.integers(1, 50), label="chunk rows")
    chunks, n, cut = results.answer_chunks(found, fmt, cap, rows=size)
    got = b"".join(chunks)
    assert (got, n, cut) == results.answer_bytes(plain, fmt, cap) == results.select_bytes(found.solutions(), fmt, cap)
    assert answers.ROW_MARK not in got


def test_the_table_keeps_every_shared_goal_row_written(seeds: EmbeddedStore) -> None:
    """The saved table holds each shared-goal row, in the query's order, in every format it keeps rows of, and an
    answer of the defaults reads them all."""
    table = answers.stored(seeds)
    assert table is not None and table.goals is not None
    g = table.goals
    assert sorted(g.spelled) == sorted(answers.SPELLED_FORMATS)
    assert all(len(strings) == len(g.order) > 0 for strings in g.spelled.values())
    found = answers.answer(table, GOALS.name, bound_values(seeds, GOALS, {"min_score": "0"}))
    assert found is not None and found.spelled is not None
    assert found.spelled.rows.tolist() == list(range(len(g.order)))


@pytest.mark.parametrize("fmt", ["csv", "json", "html"])
def test_a_capped_answer_from_the_table_says_so_as_the_text_does(seeds: EmbeddedStore, seed_store: GraphStore,
                                                                 settings: Settings, fmt: str) -> None:
    capped = replace(settings, max_rows=5)
    params = {"indicator": "", "category": "满意度指标", "min_value": "95", "format": fmt}
    with TestClient(create_app(capped, store=seeds)) as table, TestClient(create_app(capped, store=seed_store)) \
            as text:
        got, want = (c.get("/queries/projects_by_threshold", params=params) for c in (table, text))
    assert got.status_code == want.status_code == 200
    if fmt == "html":
        assert got.text.count("<tr") == want.text.count("<tr") > 5
        return
    assert got.content == want.content
    assert got.headers["x-truncated"] == want.headers["x-truncated"] == "true"
    assert got.headers["x-result-rows"] == "5" and got.headers["x-row-limit"] == "5"


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "xml", "html"])
@pytest.mark.parametrize(("name", "params"), [
    ("projects_by_threshold", {"indicator": "", "category": "满意度指标", "min_value": "95"}),
    ("projects_by_threshold", {}), ("projects_by_category", {"category": "时效指标"})])
def test_the_server_answers_from_the_table_in_every_format_as_from_the_text(
        seeds: EmbeddedStore, seed_store: GraphStore, settings: Settings, name: str, params: dict[str, str],
        fmt: str) -> None:
    with TestClient(create_app(settings, store=seeds)) as table, TestClient(create_app(settings, store=seed_store)) \
            as text:
        got, want = (c.get(f"/queries/{name}", params={**params, "format": fmt}) for c in (table, text))
    assert got.status_code == want.status_code == 200
    assert got.content == want.content
    assert got.headers["etag"] == want.headers["etag"]
    if fmt != "html":
        assert got.headers["x-result-rows"] == want.headers["x-result-rows"] != "0"


# -- shared_goals_across_agencies ------------------------------------------------------------------

def _fast_text(store: GraphStore, bindings: dict) -> str:
    """The SPARQL the query runs where the table does not answer (a fast form's text while the analytics are
    current)."""
    text = queries.choose(GOALS.sparql, GOALS.fast_forms, bindings, store.query, store, tables=False)
    assert isinstance(text, str) and text != GOALS.sparql
    return text


def _unordered(data: bytes) -> list[tuple[str, ...]]:
    """CSV rows, each " | "-separated list sorted (SPARQL leaves GROUP_CONCAT's order undefined)."""
    rows = csv.reader(data.decode("utf-8").splitlines())
    return [tuple(SEPARATOR.join(sorted(cell.split(SEPARATOR))) for cell in row) for row in rows]


def _same_goals(store: GraphStore, bindings: dict, plain: bool = True) -> int:
    """Assert the table answers ``bindings`` byte for byte as the SPARQL fast form does (CSV, TSV, JSON), and as the
    plain text does but for the order within its lists; the rows."""
    assert isinstance(GOALS.text_for(store, bindings), queries.FastForm)
    fast = _fast_text(store, bindings)
    for fmt in (QueryResultsFormat.CSV, QueryResultsFormat.TSV, QueryResultsFormat.JSON):
        want = store.query(fast, substitutions=bindings).serialize(format=fmt) or b""
        assert _table(store, GOALS, bindings, fmt) == want
    table = answers.stored(store)
    found = answers.answer(table, GOALS.name, bindings) if table is not None else None
    assert found is not None and found.spelled is not None
    for name in answers.SPELLED_FORMATS:  # the rows the table keeps written, as the columns write them
        assert results.answer_bytes(found, name, len(found)) == results.answer_bytes(
            replace(found, spelled=None), name, len(found))
    got = _table(store, GOALS, bindings, QueryResultsFormat.CSV)
    if plain:
        assert _unordered(got) == _unordered(_plain(store, GOALS, bindings, QueryResultsFormat.CSV))
    return got.count(b"\n") - 1


def _scores(store: GraphStore) -> list[Decimal]:
    sparql = ("PREFIX bk: <https://budgetkg.example.org/def/> SELECT ?s WHERE { ?l a bk:SharedGoalLink ; "
              "bk:crossAgency true ; bk:score ?s }")
    return sorted({Decimal(row[0].value) for row in store.query(sparql)})


def _goal_values(store: GraphStore) -> st.SearchStrategy[dict[str, str | None]]:
    """Parameters of shared_goals_across_agencies: the store's scores, codes and funding words, their neighbours,
    the boundaries, empty and unknown values."""
    scores = _scores(store)
    near = st.sampled_from(scores).flatmap(lambda v: st.sampled_from(
        [str(v), str(v + Decimal("0.0001")), str(v - Decimal("0.0001")), f"{v}000"]))
    edges = [str(scores[0]), str(scores[-1]), str(scores[-1] + Decimal("0.001")), "0", "1", "-1", "0.35", "2"]
    codes = _vocabulary(store)["code"]
    prefixes = st.sampled_from(codes).flatmap(lambda c: st.integers(1, len(c)).map(lambda n: c[:n]))
    words = sorted({*queries.FUNDING_KEYS, *queries.FUNDING_WORDS})
    return st.fixed_dictionaries({}, optional={
        "agency": st.one_of(st.none(), st.just(""), prefixes, st.just("9999999"), st.just("公安局")),
        "min_score": st.one_of(st.none(), near, st.sampled_from(edges)),
        "funding": st.one_of(st.none(), st.just(""), st.sampled_from(words), st.just("没有的资金")),
    })


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
@pytest.mark.parametrize("values", [
    {}, {"min_score": "0"}, {"min_score": "0.5"}, {"agency": "341"}, {"agency": "341101", "min_score": "0"},
    {"agency": "32", "funding": "中央", "min_score": "0"}, {"funding": "general-bond"}, {"funding": "一般债券"},
    {"min_score": "0.35000"}, {"min_score": "+0.6"}, {"min_score": "1"},
], ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "defaults")
def test_shared_goals_answer_as_the_fast_form(corpus: str, values: dict[str, str | None],
                                              request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    try:
        bindings = bound_values(store, GOALS, values)
    except NoSuchValue:
        assert corpus == "synthetic"  # a seed's code the synthetic corpus does not have
        return
    _same_goals(store, bindings)


@pytest.mark.parametrize("corpus", ["seeds", "synthetic"])
def test_any_shared_goals_answer_as_the_fast_form(corpus: str, request: pytest.FixtureRequest) -> None:
    store: EmbeddedStore = request.getfixturevalue(corpus)
    answered = []

    @EXAMPLES
    @given(values=_goal_values(store))
    def check(values: dict[str, str | None]) -> None:
        try:
            bindings = bound_values(store, GOALS, values)
        except NoSuchValue:
            return  # refused before either path runs
        answered.append(_same_goals(store, bindings, plain=corpus == "seeds"))

    check()
    assert any(n > 1 for n in answered), "some cases answer rows"


@pytest.mark.parametrize("funding", ["中央", "Central government funds", "central", "bond", "", "中央 ", "x"])
def test_a_funding_source_bound_as_a_label_or_a_key_is_compared_as_sparql_does(seeds: EmbeddedStore,
                                                                              funding: str) -> None:
    """The filter reads a key at the end of the IRI or a label of the source: bound directly, each is answered."""
    bindings = {**bound_values(seeds, GOALS, {"min_score": "0"}), "funding": Literal(funding)}
    assert _same_goals(seeds, bindings) >= 0


def test_the_smallest_and_largest_scores_are_boundaries(synthetic: EmbeddedStore) -> None:
    scores = _scores(synthetic)
    every = _same_goals(synthetic, bound_values(synthetic, GOALS, {"min_score": str(scores[0])}), plain=False)
    assert every == _same_goals(synthetic, bound_values(synthetic, GOALS, {"min_score": "0"}), plain=False) > 1
    above = str(scores[0] + Decimal("0.000001"))
    assert _same_goals(synthetic, bound_values(synthetic, GOALS, {"min_score": above}), plain=False) < every
    top = _same_goals(synthetic, bound_values(synthetic, GOALS, {"min_score": str(scores[-1])}), plain=False)
    assert top >= 1
    assert _same_goals(synthetic, bound_values(synthetic, GOALS, {"min_score": f"{scores[-1]}0001"}), plain=False) == 0


def test_a_score_the_table_cannot_compare_runs_the_texts(seeds: EmbeddedStore) -> None:
    """A bound Oxigraph's decimals do not hold exactly: the table declines and the fast form answers."""
    table = answers.stored(seeds)
    assert table is not None
    for least in ("0.0000000000000000001", "1" * 30):
        bindings = bound_values(seeds, GOALS, {"min_score": least})
        assert answers.solve(table, GOALS.name, bindings) is None
        want = seeds.query(_fast_text(seeds, bindings), substitutions=bindings)
        assert GOALS.run(seeds, {"min_score": least}).serialize(format=QueryResultsFormat.CSV) == \
            want.serialize(format=QueryResultsFormat.CSV)


def test_a_table_without_the_links_leaves_them_to_the_fast_form(seeds: EmbeddedStore) -> None:
    """Links the table cannot answer exactly are left out of it (the others still answer from it): the query then
    runs its fast form, not its plain text."""
    table = answers.stored(seeds)
    path = answers.file_for(seeds, seeds.generation)
    assert table is not None and table.goals is not None and path is not None
    answers.save(replace(table, goals=None), path)
    try:
        bindings = bound_values(seeds, GOALS, {})
        assert answers.solve(answers.stored(seeds) or table, GOALS.name, bindings) is None
        want = seeds.query(_fast_text(seeds, bindings), substitutions=bindings).serialize(format=QueryResultsFormat.CSV)
        assert GOALS.run(seeds).serialize(format=QueryResultsFormat.CSV) == want
        assert _same(seeds, CATEGORY, {"category": "时效指标"}) > 0
    finally:
        answers.save(table, path)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "xml", "html"])
@pytest.mark.parametrize("params", [{}, {"agency": "341", "min_score": "0"}, {"funding": "中央", "min_score": "0.2"},
                                    {"min_score": "0.99"}], ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()))
def test_the_server_answers_shared_goals_from_the_table_as_from_the_fast_form(
        seeds: EmbeddedStore, seeds_without_table: EmbeddedStore, settings: Settings, params: dict[str, str],
        fmt: str) -> None:
    assert not answers.kept(seeds_without_table) and summaries.current(seeds_without_table)
    with TestClient(create_app(settings, store=seeds)) as table, \
            TestClient(create_app(settings, store=seeds_without_table)) as text:
        got, want = (c.get("/queries/shared_goals_across_agencies", params={**params, "format": fmt})
                     for c in (table, text))
    assert got.status_code == want.status_code == 200
    assert got.content == want.content
    if fmt != "html":
        assert got.headers["x-result-rows"] == want.headers["x-result-rows"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "xml"])
def test_an_answer_written_in_chunks_is_the_whole_document(fmt: str) -> None:
    """Chunk after chunk, whatever their size, the document is the one the solutions make, byte for byte."""
    found = _awkward(400)
    for rows in (1, 7, 400, 1000):
        for cap in (0, 5, 400):
            chunks, n, cut = results.answer_chunks(found, fmt, cap, rows=rows)
            assert (b"".join(chunks), n, cut) == results.select_bytes(found.solutions(), fmt, cap)


def test_a_large_answer_comes_whole_from_a_worker_process_in_chunks(synthetic: EmbeddedStore,
                                                                     settings: Settings) -> None:
    """shared_goals_across_agencies with its defaults, answered by a worker process that sends it on chunk by chunk
    (many chunks): every row arrives, as the fast form's text answers them."""
    bindings = bound_values(synthetic, GOALS, {})
    want = synthetic.query(_fast_text(synthetic, bindings), substitutions=bindings).serialize(
        format=QueryResultsFormat.CSV) or b""
    rows = want.count(b"\n") - 1
    assert rows > 100
    job = QueryJob(GOALS.sparql, GOALS.name, tuple(bindings.items()), results_format="csv", max_rows=10 * rows,
                   verify=False, lookups=tuple(GOALS.lookups(bindings)), fast=GOALS.fast_forms, chunk_rows=10)
    assert synthetic.path is not None

    async def run() -> Answer:
        pool = ProcessPool(replace(settings, store=str(synthetic.path)), size=1)
        await pool.start()
        try:
            answer, _ = await pool.run(job, 60)
        finally:
            await pool.close()
        return answer

    answer = asyncio.run(run())
    assert isinstance(answer, Answer) and (answer.rows, answer.truncated) == (rows, False)
    assert answer.body == want
