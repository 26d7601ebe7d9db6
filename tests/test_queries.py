"""Every named query loads, has a complete header, runs with its defaults; key ones match goldens."""

from __future__ import annotations

import csv
import io

import pytest
from pyoxigraph import QueryResultsFormat, QuerySolutions

from kg import queries
from kg.errors import NoSuchValue, QueryError, UnknownQuery
from kg.settings import QUERIES_DIR

from .conftest import GOLDEN

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
