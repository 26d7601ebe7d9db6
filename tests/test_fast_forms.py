"""The fast forms of the named queries (``queries/fast/``) answer what their plain text answers, and only
while the build's analytics describe the store (kg.analytics, kg.summaries.current)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pyoxigraph import Literal, QueryResultsFormat

from kg import answers, queries, summaries
from kg.iris import Iris
from kg.links.graph import SEPARATOR
from kg.namespaces import BK, QB, RDF
from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest
from kg.store import EmbeddedStore

ALL = queries.load_all(Settings.from_env(env={}).queries_dir)
FAST = sorted(name for name, q in ALL.items() if q.fast_forms)
#: Parameters beyond the defaults, chosen to narrow each query (values of the seeds).
CASES: list[tuple[str, dict[str, str | None]]] = [
    ("budget_by_agency", {"department": "341"}),
    ("budget_by_agency", {"department": "公安局"}),
    ("shared_goals_across_agencies", {"min_score": "0.5"}),
    ("shared_goals_across_agencies", {"agency": "341", "funding": "中央", "min_score": "0"}),
    ("agencies_by_shared_goals", {"min_score": "0.6"}),
    ("agencies_by_shared_goals", {"agency": "341", "min_score": "0"}),
    ("agencies_by_shared_goals", {"agency": "341", "min_score": "0.35"}),
    ("findings_by_agency", {"rule": "CostNotMonetary"}),
    ("shared_goals_across_agencies", {"agency": "341"}),
    ("shared_goals_across_agencies", {"agency": "341101", "min_score": "0"}),
    ("shared_goals_across_agencies", {"agency": "32", "funding": "中央", "min_score": "0"}),
    ("projects_by_threshold", {"agency": "341"}),
    ("projects_by_threshold", {"agency": "341", "indicator": "", "category": "满意度指标", "min_value": "90"}),
    ("funding_mix_by_department", {"department": "341"}),
    ("funding_mix_by_department", {"funding": "中央"}),
    ("funding_mix_by_department", {"funding": "unstated", "department": "341"}),
    ("projects_by_category", {"category": "时效指标"}),
    ("projects_by_category", {"category": "满意度指标"}),
    ("projects_of_agency", {"code": "341"}),
    ("projects_of_agency", {"code": "3411"}),
    ("projects_of_agency", {"code": "公安局"}),
]


@pytest.fixture(scope="module")
def disk_store(tmp_path_factory: pytest.TempPathFactory, settings: Settings,
               manifest: Manifest) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path_factory.mktemp("fast") / "store")
    build(store, manifest.entries, settings, manifest=manifest)
    yield store
    store.close()


def _unordered(data: bytes) -> list[tuple[str, ...]]:
    """CSV rows, each " | "-separated list sorted (SPARQL leaves GROUP_CONCAT's order undefined)."""
    rows = csv.reader(data.decode("utf-8").splitlines())
    return [tuple(SEPARATOR.join(sorted(cell.split(SEPARATOR))) for cell in row) for row in rows]


def _resolved(store: EmbeddedStore, name: str, values: dict[str, str | None]) -> dict:
    q = ALL[name]
    return queries.resolve(q.lookups(q.bindings(values)), q.bindings(values), lambda s: store.query(s))


def _answers(store: EmbeddedStore, name: str, values: dict[str, str | None], text: str | queries.FastForm) -> bytes:
    """The answer of a text, or of a table form (from the answer table the build kept), as CSV."""
    bindings = _resolved(store, name, values)
    if isinstance(text, queries.FastForm):
        table = answers.stored(store)
        assert table is not None, "a table form is chosen only while its table is kept"
        solved = answers.solve(table, name, bindings)
        assert solved is not None
        return solved.serialize(format=QueryResultsFormat.CSV) or b""
    result = store.query(text, substitutions=queries.with_zh(text, bindings))
    return result.serialize(format=QueryResultsFormat.CSV) or b""


def test_the_heavy_aggregates_have_fast_forms() -> None:
    assert {"budget_by_agency", "shared_goals_across_agencies", "agencies_by_shared_goals", "funding_sources",
            "funding_mix_by_department", "projects_by_category", "findings_by_agency",
            "projects_of_agency"} <= set(FAST)


def test_a_category_no_indicator_has_answers_nothing_either_way(disk_store: EmbeddedStore) -> None:
    q = ALL["projects_by_category"]
    assert q.fast is not None
    for text in (q.fast, q.sparql):
        assert _answers(disk_store, "projects_by_category", {"category": "没有这个类别"}, text).count(b"\n") == 1


def test_a_fast_form_for_all_values_only_runs_for_them(disk_store: EmbeddedStore) -> None:
    q = ALL["findings_by_agency"]
    assert [f.when is not None for f in q.fast_forms] == [True]
    assert q.text_for(disk_store, q.bindings({})) is q.fast_forms[0].sparql
    assert q.text_for(disk_store, q.bindings({"rule": "CostNotMonetary"})) is q.sparql
    assert q.text_for(disk_store, q.bindings({"severity": "Warning"})) is q.sparql


def test_a_build_leaves_its_analytics_current(disk_store: EmbeddedStore) -> None:
    assert summaries.current(disk_store)
    for name in FAST:  # with their defaults, the forms that say when they answer may decline
        q = ALL[name]
        chosen = q.text_for(disk_store)
        assert chosen in q.fast_forms or chosen in {f.sparql for f in q.fast_forms} or all(f.when for f in q.fast_forms)


@pytest.mark.parametrize(("name", "values"), [(n, {}) for n in FAST] + CASES,
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
def test_the_fast_form_answers_as_the_plain_text(disk_store: EmbeddedStore, name: str,
                                                 values: dict[str, str | None]) -> None:
    q = ALL[name]
    chosen = q.text_for(disk_store, _resolved(disk_store, name, values))
    forms = {f.sparql: f for f in q.fast_forms}
    assert chosen in q.fast_forms or chosen in forms or all(f.when is not None for f in q.fast_forms), \
        "only fast forms that say when they answer decline"
    fast = _answers(disk_store, name, values, chosen)
    plain = _answers(disk_store, name, values, q.sparql)
    assert fast.count(b"\n") > 1, "a case that answers nothing shows nothing"
    if "GROUP_CONCAT" in q.sparql:  # its order is SPARQL's to choose; the fast forms' lists are sorted
        assert _unordered(fast) == _unordered(plain)
    else:  # the same rows in the same order (rows the ORDER BY ties may come in either order)
        assert fast == plain or sorted(fast.splitlines()) == sorted(plain.splitlines())


@pytest.mark.parametrize(("name", "values"), [(n, v) for n, v in [(n, {}) for n in answers.FORMS] + CASES
                                              if n in answers.FORMS],
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
def test_the_texts_behind_a_table_form_answer_as_the_plain_text(disk_store: EmbeddedStore, name: str,
                                                                 values: dict[str, str | None]) -> None:
    # where the build keeps no answer table (a store it cannot answer exactly), these texts answer
    q = ALL[name]
    assert q.fast_forms[0].table == name
    plain = _answers(disk_store, name, values, q.sparql)
    bindings = _resolved(disk_store, name, values)
    for form in q.fast_forms[1:]:
        if form.when is None or bool(disk_store.query(form.when, substitutions=dict(bindings))):
            fast = _answers(disk_store, name, values, form.sparql)
            if "GROUP_CONCAT" in q.sparql:  # its order is SPARQL's to choose; the fast forms' lists are sorted
                assert _unordered(fast) == _unordered(plain)
            else:
                assert fast == plain


def test_a_kept_answer_over_every_link_answers_only_thresholds_that_keep_every_link(
        disk_store: EmbeddedStore) -> None:
    q = ALL["agencies_by_shared_goals"]
    scores = disk_store.query("PREFIX bk: <https://budgetkg.example.org/def/> SELECT ?s WHERE { "
                              "?l a bk:SharedGoalLink ; bk:crossAgency true ; bk:score ?s }")
    smallest = min(Decimal(row["s"].value) for row in scores)
    assert q.text_for(disk_store, _resolved(disk_store, q.name, {"min_score": str(smallest)})) is q.fast_forms[0].sparql
    above = str(smallest + Decimal("0.0001"))
    assert q.text_for(disk_store, _resolved(disk_store, q.name, {"min_score": above})) is q.sparql


def test_the_budget_cube_is_a_data_cube(disk_store: EmbeddedStore, settings: Settings) -> None:
    iris = Iris(settings.base_iri)
    graph = iris.analytics_graph
    observations = {q.subject for q in disk_store.match(None, RDF.type, BK.BudgetObservation, graph)}
    assert observations
    assert {q.subject for q in disk_store.match(None, QB.dataSet, iris.budget_cube, graph)} == observations
    # one grand total, equal to the projects' 预算数 summed in SPARQL here
    totals = [q.subject for q in disk_store.match(None, BK.aggregationLevel, None, graph) if q.object.value == "total"]
    assert len(totals) == 1
    measured = next(disk_store.match(totals[0], BK.budgetMeasure, None, graph)).object.value
    summed = next(iter(disk_store.query(
        "PREFIX bk: <https://budgetkg.example.org/def/> SELECT (SUM(?y / 10000) AS ?w) "
        "WHERE { ?p a bk:Project ; bk:budgetUnitName ?n ; bk:budget ?b . ?b bk:amountInYuan ?y }")))["w"].value
    assert Decimal(measured) == Decimal(summed)


def test_after_a_write_outside_a_build_the_plain_text_answers(tmp_path: Path, settings: Settings,
                                                            manifest: Manifest) -> None:
    store = EmbeddedStore(tmp_path / "store")
    build(store, manifest.entries, settings, manifest=manifest)
    q = ALL["budget_by_agency"]
    before = q.run(store).serialize(format=QueryResultsFormat.CSV) or b""
    # one project's 预算数 doubled by hand: the cube no longer says what the store holds
    store.update("""PREFIX bk: <https://budgetkg.example.org/def/>
        DELETE { GRAPH ?g { ?b bk:amountInYuan ?y } } INSERT { GRAPH ?g { ?b bk:amountInYuan ?z } }
        WHERE { { SELECT ?g ?b ?y WHERE { GRAPH ?g { ?p a bk:Project ; bk:budget ?b . ?b bk:amountInYuan ?y } }
                  ORDER BY DESC(?y) LIMIT 1 }
                BIND(?y * 2 AS ?z) }""")
    assert not summaries.current(store)
    assert q.text_for(store) is q.sparql
    after = q.run(store).serialize(format=QueryResultsFormat.CSV) or b""
    assert after != before
    assert after == store.query(q.sparql, substitutions={"department": Literal("")}).serialize(
        format=QueryResultsFormat.CSV)
    # the next build makes the analytics current again, from what the store then holds
    build(store, manifest.entries, settings, manifest=manifest)
    assert summaries.current(store) and q.text_for(store) is q.fast
    plain = store.query(q.sparql, substitutions={"department": Literal("")}).serialize(format=QueryResultsFormat.CSV)
    assert q.run(store).serialize(format=QueryResultsFormat.CSV) == plain
    store.close()


def test_a_store_without_a_stamp_runs_the_plain_text(seed_store) -> None:
    # an in-memory store (or one behind an endpoint) keeps no stamp: never the fast form
    assert not summaries.current(seed_store)
    assert all(ALL[name].text_for(seed_store) is ALL[name].sparql for name in FAST)


def test_a_variant_for_one_agency_answers_first_and_only_for_an_agency(disk_store: EmbeddedStore) -> None:
    # the texts behind the table form, as they answer where the table does not
    q = ALL["shared_goals_across_agencies"]
    texts = [f for f in q.fast_forms if f.table is None]
    by_agency = next(f for f in texts if f.file.endswith(".by-agency.rq"))
    assert texts[0] is by_agency

    def chosen(values: dict[str, str | None]) -> str | queries.FastForm:
        return queries.choose(q.sparql, texts, _resolved(disk_store, q.name, values), disk_store.query, disk_store)

    assert chosen({"agency": "341"}) is by_agency.sparql
    assert chosen({}) is q.fast
