"""Questions that forgive an inexact name: agencies by name, projects by part of a name, funding-source
synonyms, prefixed IRIs, and answers that say what matched nothing and what is near."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from kg import queries as named_queries
from kg.errors import NoSuchValue, UnknownQuery
from kg.settings import Settings
from kg.store import GraphStore
from server.app import create_app


def run(store: GraphStore, settings: Settings, query: str, **values: str) -> list[dict[str, str]]:
    result = named_queries.get(settings.queries_dir, query).run(store, values)
    return [{v.value: (s[v].value if s[v] is not None else "") for v in result.variables} for s in result]


def one(store: GraphStore, sparql: str) -> str:
    return next(iter(store.query(sparql)))[0].value


def test_part_of_a_project_name_that_names_one_project(seed_store: GraphStore, settings: Settings) -> None:
    rows = run(seed_store, settings, "indicators_of_project", name="人口证件")
    names = {r["name"] for r in rows}
    assert len(names) == 1 and "人口证件" in names.pop()
    full = rows[0]["name"]
    count = one(seed_store, f'PREFIX bk: <https://budgetkg.example.org/def/> '
                            f'PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> SELECT (COUNT(?i) AS ?n) WHERE {{ '
                            f'?p rdfs:label "{full}"@zh ; bk:hasIndicator ?i }}')
    assert len(rows) == int(count) > 0
    assert rows == run(seed_store, settings, "indicators_of_project", name=full)


def test_part_of_a_name_that_names_several_projects_lists_them(seed_store: GraphStore, settings: Settings) -> None:
    with pytest.raises(NoSuchValue) as exc:
        run(seed_store, settings, "indicators_of_project", name="信息化运维")
    assert exc.value.ambiguous and exc.value.param == "name"
    assert len(exc.value.nearest) == 5 and all("信息化运维" in n for n in exc.value.nearest)


def test_a_name_that_matches_nothing_offers_the_nearest(seed_store: GraphStore, settings: Settings) -> None:
    with pytest.raises(NoSuchValue) as exc:
        run(seed_store, settings, "indicators_of_project", name="人口证件工作经费2099")
    assert not exc.value.ambiguous and "人口证件工作经费" in exc.value.nearest


def test_an_agency_by_its_name(seed_store: GraphStore, settings: Settings) -> None:
    code = one(seed_store, 'PREFIX bk: <https://budgetkg.example.org/def/> '
                           'PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> SELECT ?c WHERE { '
                           '?a bk:agencyCode ?c ; rdfs:label "天津市公安局特警总队"@zh }')
    by_code = run(seed_store, settings, "projects_of_agency", code=code)
    assert by_code and run(seed_store, settings, "projects_of_agency", code="天津市公安局特警总队") == by_code
    assert run(seed_store, settings, "projects_of_agency", code="公安局 特警总队") == by_code  # spaces, no 天津市
    with pytest.raises(NoSuchValue) as exc:
        run(seed_store, settings, "projects_of_agency", code="公安")
    assert exc.value.ambiguous and all("公安" in n for n in exc.value.nearest)


@pytest.mark.parametrize("code", ["341", "341101", "34", "3411", "999"])
def test_an_agency_code_is_decided_as_by_reading_every_agency(seed_store: GraphStore, settings: Settings,
                                                              code: str) -> None:
    """A code an agency has is answered through the index alone; a prefix or an unknown code reads every agency."""
    q = named_queries.get(settings.queries_dir, "budget_by_agency")
    bindings = q.bindings({"department": code})
    (lookup,) = q.lookups(bindings)
    asked: list[str] = []

    def ask(sparql: str) -> list:
        asked.append(sparql)
        return list(seed_store.query(sparql))

    def decided(lookups: list[named_queries.Lookup]) -> str | NoSuchValue:
        try:
            return named_queries.resolve(lookups, bindings, ask)["department"].value
        except NoSuchValue as exc:
            return exc

    quick = decided([lookup])
    quick_asks = list(asked)
    full = decided([named_queries.Lookup(lookup.param, lookup.type, lookup.value, lookup.sparql, lookup.near)])
    held = bool(list(seed_store.query(f'PREFIX bk: <https://budgetkg.example.org/def/> '
                                      f'SELECT ?a WHERE {{ ?a bk:agencyCode "{code}" }}')))
    assert lookup.exact is not None
    assert quick_asks[0] == lookup.exact
    assert quick_asks == ([lookup.exact] if held else [lookup.exact, lookup.sparql])  # the index alone when held
    if isinstance(full, NoSuchValue):
        assert isinstance(quick, NoSuchValue) and quick.nearest == full.nearest
    else:
        assert quick == full == code


def test_an_agency_name_is_never_looked_up_as_a_code(seed_store: GraphStore, settings: Settings) -> None:
    q = named_queries.get(settings.queries_dir, "budget_by_agency")
    (lookup,) = q.lookups(q.bindings({"department": "天津市公安局"}))
    assert lookup.exact is None


@pytest.mark.parametrize(("word", "key"), [("专项债", "special-bond"), ("专项债券", "special-bond"),
                                           ("中央资金", "central"), ("中央", "central")])
def test_funding_source_synonyms(seed_store: GraphStore, settings: Settings, word: str, key: str) -> None:
    by_key = run(seed_store, settings, "funding_mix_by_department", funding=key)
    assert by_key and run(seed_store, settings, "funding_mix_by_department", funding=word) == by_key


def test_prefixed_iris(seed_store: GraphStore, settings: Settings) -> None:
    full = run(seed_store, settings, "projects_by_threshold", unit="http://qudt.org/vocab/unit/PERCENT")
    assert full and run(seed_store, settings, "projects_by_threshold", unit="unit:PERCENT") == full


def test_an_unknown_query_name_suggests_the_closest(settings: Settings) -> None:
    with pytest.raises(UnknownQuery) as exc:
        named_queries.get(settings.queries_dir, "budget_by_agenc")
    assert "budget_by_agency" in exc.value.suggestions and "did you mean budget_by_agency" in str(exc.value)


def test_the_server_forgives_too(settings: Settings, seed_store: GraphStore) -> None:
    with TestClient(create_app(settings, store=seed_store)) as client:
        ok = client.get("/queries/indicators_of_project", params={"name": "人口证件", "format": "csv"})
        assert ok.status_code == 200 and "人口证件工作经费" in ok.text
        several = client.get("/queries/indicators_of_project", params={"name": "信息化运维", "format": "csv"})
        assert several.status_code == 404 and "matches more than one project" in several.text
        assert "人口总队信息化运维项目-2024中央" in several.text
        unknown = client.get("/queries/budget_by_agenc")
        assert unknown.status_code == 404 and "budget_by_agency" in unknown.text


def test_budget_by_agency_subtotals_add_up(seed_store: GraphStore, settings: Settings) -> None:
    """Each unit's 小计, each department's 部门合计 and the 合计 are the sums of the rows they close."""
    from decimal import Decimal

    rows = run(seed_store, settings, "budget_by_agency")
    cols = ("budget_wanyuan", "fiscal_wanyuan", "other_wanyuan")

    def total(rs: list[dict[str, str]]) -> tuple[Decimal, ...]:
        return tuple(sum((Decimal(r[c]) for r in rs), Decimal(0)) for c in cols)

    source = [r for r in rows if r["level"] == "source"]
    for r in (r for r in rows if r["level"] == "unit"):
        assert total([s for s in source if s["unit_code"] == r["unit_code"]]) == total([r])
    for r in (r for r in rows if r["level"] == "department"):
        assert total([s for s in source if s["dept"] == r["dept"]]) == total([r])
    (grand,) = [r for r in rows if r["level"] == "total"]
    assert total(source) == total([grand])
    naive = one(seed_store, "PREFIX bk: <https://budgetkg.example.org/def/> SELECT (SUM(?y) / 10000 AS ?t) WHERE { "
                            "?p a bk:Project ; bk:budget/bk:amountInYuan ?y }")
    assert Decimal(grand["budget_wanyuan"]) == Decimal(naive)
    assert int(grand["projects"]) == int(one(seed_store, "PREFIX bk: <https://budgetkg.example.org/def/> "
                                                        "SELECT (COUNT(?p) AS ?n) WHERE { ?p a bk:Project }"))


def test_satisfaction_targets_count_every_wording(seed_store: GraphStore, settings: Settings) -> None:
    """满意度 and 满意率 are one wording; the 满意度指标 category finds every satisfaction row whatever its name."""

    def answer(**values: str) -> list[dict[str, str]]:  # without the columns that echo the parameters
        return [{k: v for k, v in r.items() if k not in values}
                for r in run(seed_store, settings, "projects_by_threshold", **values)]

    by_category = answer(category="满意度指标", indicator="", min_value="95")
    direct = one(seed_store, "PREFIX bk: <https://budgetkg.example.org/def/> "
                             "PREFIX unit: <http://qudt.org/vocab/unit/> "
                             "SELECT (COUNT(*) AS ?n) WHERE { ?i bk:level1Label ?l ; bk:target ?t . "
                             "?t bk:normalizedUnit unit:PERCENT ; bk:normalizedValue ?v FILTER(STR(?l) = '满意度指标' "
                             "&& ?v >= 95) }")
    assert len(by_category) == int(direct) > 0
    assert answer(category="satisfaction", indicator="", min_value="95") == by_category
    by_word = answer(indicator="满意度", min_value="95")
    worded = {r["indicator_name"] for r in by_word}
    assert any("满意率" in w for w in worded) and any("满意度" in w for w in worded)
    assert by_word == answer(indicator="满意率", min_value="95")


def test_tables_show_chinese_headers_and_no_echo_of_empty_parameters(tmp_path) -> None:
    from typer.testing import CliRunner

    from budgetkg.cli import app

    runner = CliRunner()
    store = str(tmp_path / "store")
    assert runner.invoke(app, ["build", "--store", store, "-q", "--no-audit"]).exit_code == 0
    table = runner.invoke(app, ["query", "projects_by_threshold", "-p", "category=满意度指标", "-p", "indicator=",
                                "--store", store])
    assert table.exit_code == 0
    header = next(line for line in table.stdout.splitlines() if "unit_code" in line)
    assert "预算单位编码 unit_code" in header and "三级指标 indicator_name" in header
    assert "indicator " not in header.replace("indicator_name", "") and "agency" not in header  # empty: hidden
    assert "指标类别 category" in header  # given: shown
    csv_out = runner.invoke(app, ["query", "projects_by_threshold", "-p", "indicator=", "--store", store,
                                  "--format", "csv"])
    assert csv_out.stdout.splitlines()[0].startswith("indicator,unit,min_value,agency,category")  # CSV: every column


@pytest.mark.parametrize(("url", "said"), [
    ("/?run=projects_by_threshold&min_value=NaN", "parameter 'min_value' expects decimal"),
    ("/?run=budget_by_agenc", "did you mean budget_by_agency"),
])
def test_a_bad_run_parameter_is_said_on_the_editor_page(settings: Settings, seed_store: GraphStore, url: str,
                                                        said: str) -> None:
    with TestClient(create_app(settings, store=seed_store)) as client:
        page = client.get(url, headers={"Accept": "text/html"})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert 'id="problem"' in page.text and said in html.unescape(page.text) and 'id="yasgui"' in page.text


def test_the_result_page_shows_chinese_headers_and_no_echo_of_empty_parameters(settings: Settings,
                                                                               seed_store: GraphStore) -> None:
    with TestClient(create_app(settings, store=seed_store)) as client:
        page = client.get("/queries/projects_by_threshold", params={"category": "满意度指标", "indicator": ""},
                          headers={"Accept": "text/html"})
    assert page.status_code == 200
    head = page.text.split("<thead>")[1].split("</thead>")[0]
    assert "预算单位编码" in head and ">unit_code<" in head and "指标类别" in head
    assert ">agency<" not in head and ">indicator<" not in head  # empty parameters: not shown
