"""Every named query loads, has a complete header, runs with its defaults; key ones match goldens."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pyoxigraph import QueryResultsFormat, QuerySolutions

from kg import queries
from kg.errors import NoSuchValue, QueryError, UnknownQuery
from kg.settings import QUERIES_DIR

from .helpers import GOLDEN

ALL = queries.load_all(QUERIES_DIR)


def test_there_are_named_queries() -> None:
    assert {"projects_of_agency", "budget_by_agency", "indicators_of_project", "projects_by_category",
            "funding_sources"} <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_runs_with_defaults_and_returns_rows(name: str, seed_store) -> None:
    q = ALL[name]
    assert q.title_zh and q.title_en and q.description
    if "contracts" in q.tags:
        pytest.skip("needs imported procurement data; tests/test_contracts.py runs it on the example file")
    result = q.run(seed_store)
    if q.kind == "SELECT":
        assert isinstance(result, QuerySolutions)
        assert len(list(result)) > 0, f"{name} returns nothing on the seeds with its defaults"


@pytest.mark.parametrize("name", ["funding_sources", "budget_by_agency", "special_bond_funding"])
def test_matches_golden_csv(name: str, seed_store) -> None:
    got = ALL[name].run(seed_store).serialize(format=QueryResultsFormat.CSV).decode("utf-8")
    golden = (GOLDEN / "queries" / f"{name}.csv").read_text(encoding="utf-8")
    assert list(csv.reader(io.StringIO(got))) == list(csv.reader(io.StringIO(golden)))


def test_parameters_are_bound_not_spliced(seed_store) -> None:
    q = ALL["projects_of_agency"]
    hostile = '341" } ; DROP ALL ; SELECT * WHERE { ?s ?p ?o '
    with pytest.raises(NoSuchValue, match="no such agency"):  # a literal that matches no agency code
        q.run(seed_store, {"code": hostile})
    assert list(q.run(seed_store, {"code": "341"}))  # and the data is all there
    with pytest.raises(QueryError):
        q.run(seed_store, {"nope": "1"})


def test_typed_parameters_are_checked() -> None:
    p = queries.Param("min", "decimal", "1", "")
    assert p.bind("2.5", "q").value == "2.5"
    with pytest.raises(QueryError):
        p.bind("abc", "q")
    with pytest.raises(QueryError):
        queries.Param("u", "iri", None, "").bind("not an iri", "q")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-INF", "1e999999", "1E5", "0x1", "1_0", "\u0661", "1.5\n"])
def test_decimals_are_xsd_decimals_not_python_floats(value: str) -> None:
    with pytest.raises(QueryError, match="min"):
        queries.Param("min", "decimal", "1", "").bind(value, "q")
    with pytest.raises(QueryError, match="n"):
        queries.Param("n", "integer", "1", "").bind(value, "q")


def test_an_unknown_agency_is_refused_before_the_query_runs(seed_store) -> None:
    q = ALL["agencies_by_shared_goals"]
    with pytest.raises(NoSuchValue, match="no such agency: '999'"):
        q.run(seed_store, {"agency": "999"})
    assert q.lookups(q.bindings({"agency": ""})) == []  # "" means all: nothing to look up


def test_unknown_query() -> None:
    with pytest.raises(UnknownQuery):
        queries.get(QUERIES_DIR, "../etc/passwd")


def _rows(result) -> list[dict[str, str | None]]:
    names = [v.value for v in result.variables]
    return [{n: (s[n].value if s[n] is not None else None) for n in names} for s in result]


def test_regression_indicators_of_project_keeps_the_scale(seed_store) -> None:
    # 004:2620 ≥145万卡 is 1 450 000 cards; the query once showed "145 卡"
    got = [r for r in _rows(ALL["indicators_of_project"].run(seed_store, {"name": "人口证件工作经费"}))
           if r["line"] == "2616"]
    assert [(r["raw_value"], r["number"], r["scale"], r["unit"], r["normalized_value"]) for r in got] == [
        ("≥145万卡", "145", "10000", "卡", "1450000")]


def test_indicators_of_project_shows_period_money_and_each(seed_store) -> None:
    q = ALL["indicators_of_project"]
    weekly = {r["raw_value"]: r for r in _rows(q.run(seed_store, {"name": "刑侦总队信息化运维项目-2024中央"}))}
    assert weekly["每周开展1次"]["per_period"] == "P7D"  # 004:1206
    assert (weekly["≤98万"]["normalized_value"], weekly["≤98万"]["normalized_unit"]) == (  # 004:1212
        "980000", "http://qudt.org/vocab/currency/CNY")
    each = {r["raw_value"]: r for r in _rows(q.run(seed_store, {"name": "警航基地业务经费-2024中央"}))}
    assert each["EC135、AW139直升机各12个月"]["each"] == "EC135、AW139直升机"  # 004:8183


def test_queries_that_show_a_parsed_number_show_its_scale() -> None:
    # a query that shows qudt:numericValue (as written, before 万) must also show bk:scale or the
    # normalised value, or 145万卡 reads as 145 卡
    for name, q in ALL.items():
        if "numericValue" in q.sparql and "bk:target" in q.sparql:
            assert "bk:scale" in q.sparql or "bk:normalizedValue" in q.sparql, name


PLAIN = Path(__file__).parent / "data" / "plain_queries"


@pytest.mark.parametrize("name", sorted(p.stem for p in PLAIN.glob("*.rq")))
def test_rewritten_queries_answer_as_their_plain_text(name: str, seed_store) -> None:
    # a named query shaped for the indexes (docs/fast-sparql.md) answers exactly what its plain text did
    q = ALL[name]
    bindings = queries.resolve(q.lookups(q.bindings({})), q.bindings({}), lambda s: seed_store.query(s))
    plain = (PLAIN / f"{name}.rq").read_text(encoding="utf-8")
    got = q.run(seed_store).serialize(format=QueryResultsFormat.CSV)
    want = seed_store.query(plain, substitutions=dict(bindings)).serialize(format=QueryResultsFormat.CSV)
    assert got == want and got.count(b"\n") > 1


def test_a_project_named_in_full_or_in_part_is_found(seed_store) -> None:
    q = ALL["indicators_of_project"]
    whole = list(q.run(seed_store, {"name": "督审总队信息化运维经费-2023中央"}))
    assert whole and list(q.run(seed_store, {"name": "督审总队信息化运维经费-2023"})) == whole
    with pytest.raises(NoSuchValue, match="more than one"):
        q.run(seed_store, {"name": "督审总队信息化运维"})
