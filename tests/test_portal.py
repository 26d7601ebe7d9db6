"""The pages analysts read: faceted browsing, exports, project and agency pages, /docs offline.

In process against the session's seed store; each number a page shows is checked against SPARQL
run on the same store. tests/test_portal_browser.py loads the same pages in headless chromium.
"""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from kg.namespaces import PREFIXES
from kg.settings import Settings
from kg.store import GraphStore
from server.app import create_app
from server.display import wan

HTML = {"Accept": "text/html"}
PROJECT = "project/2024/341101/667910cc7727"


@pytest.fixture(scope="module")
def client(settings: Settings, seed_store: GraphStore):
    with TestClient(create_app(settings, store=seed_store)) as c:
        yield c


def scalar(store: GraphStore, sparql: str) -> str:
    row = next(iter(store.query(sparql, prefixes=PREFIXES)))
    return row[0].value


def facet_count(html: str, facet: str, value: str) -> int:
    block = html.split(f'data-facet="{facet}"', 1)[1].split("</section>", 1)[0]
    m = re.search(rf'data-value="{re.escape(value)}">.*?data-count="(\d+)"', block, re.S)
    assert m, f"{facet}={value} not offered"
    return int(m.group(1))


def test_facet_counts_equal_sparql_counts(client: TestClient, seed_store: GraphStore) -> None:
    html = client.get("/projects").text
    n341 = int(scalar(seed_store, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a bk:Project ; bk:budgetUnit ?u . "
                                  "?u org:subOrganizationOf <https://budgetkg.example.org/id/agency/341> }"))
    assert facet_count(html, "department", "341") == n341 == 121
    central = int(scalar(seed_store, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a bk:Project ; "
                                     "bk:fundingSource bkfund:central }"))
    assert facet_count(html, "funding", "central") == central
    # every project once per category: the 产出指标 count is the number of projects, not of indicators
    assert facet_count(html, "level1", "output") == 138
    chosen = client.get("/projects?department=341&funding=central").text
    total = re.search(r'data-total="(\d+)"', chosen)
    both = int(scalar(seed_store, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a bk:Project ; bk:budgetUnit ?u ; "
                                  "bk:fundingSource bkfund:central . ?u org:subOrganizationOf "
                                  "<https://budgetkg.example.org/id/agency/341> }"))
    assert total and int(total.group(1)) == both
    budget = Decimal(scalar(seed_store, "SELECT (SUM(?b) AS ?s) WHERE { ?p a bk:Project ; bk:budgetUnit ?u ; "
                                        "bk:fundingSource bkfund:central ; bk:budget/bk:amountInYuan ?b . ?u "
                                        "org:subOrganizationOf <https://budgetkg.example.org/id/agency/341> }"))
    assert f'id="budget-total">{wan(budget / 10000)}<' in chosen
    # the other departments stay offered with their counts under the funding choice
    assert facet_count(chosen, "funding", "general-bond") > 0 and "permalink" in chosen


def facet_entry(html: str, facet: str, value: str) -> str:
    block = html.split(f'data-facet="{facet}"', 1)[1].split("</section>", 1)[0]
    m = re.search(rf'data-value="{re.escape(value)}">(.*?)</a>', block, re.S)
    assert m, f"{facet}={value} not offered"
    return m.group(1)


def test_facet_values_show_the_stores_labels(client: TestClient, seed_store: GraphStore) -> None:
    """A department is offered by its name (its code beside it), a funding source in Chinese and English."""
    html = client.get("/projects").text
    department = scalar(seed_store, "SELECT ?l WHERE { <https://budgetkg.example.org/id/agency/341> "
                                    "skos:prefLabel|rdfs:label ?l FILTER(LANG(?l) = 'zh') } LIMIT 1")
    entry = facet_entry(html, "department", "341")
    assert department in entry and "<small>341</small>" in entry
    zh = scalar(seed_store, "SELECT ?l WHERE { bkfund:central skos:prefLabel ?l FILTER(LANG(?l) = 'zh') }")
    en = scalar(seed_store, "SELECT ?l WHERE { bkfund:central skos:prefLabel ?l FILTER(LANG(?l) = 'en') }")
    entry = facet_entry(html, "funding", "central")
    assert zh in entry and f'<span class="en">{en}</span>' in entry


def test_unstated_funding_and_paging(client: TestClient) -> None:
    html = client.get("/projects?funding=none&size=25&page=2").text
    n = int(re.search(r'data-total="(\d+)"', html).group(1))  # type: ignore[union-attr]
    assert n == 40 and "第 2 / 2 页" in html
    assert client.get("/projects?sort=nonsense").status_code == 400
    assert client.get("/projects?department=34").status_code == 400


def test_exports_hold_every_row_of_the_view(client: TestClient) -> None:
    r = client.get("/projects?department=341&format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + 121 and rows[0][0].startswith("名称")
    x = client.get("/indicators?level1=cost&format=xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet.max_row > 1 and sheet.cell(1, 1).value.startswith("项目")


def test_project_page_opens_with_its_summary(client: TestClient, seed_store: GraphStore) -> None:
    html = client.get("/" + PROJECT, headers=HTML).text
    yuan = Decimal(scalar(seed_store, f"SELECT ?b WHERE {{ <https://budgetkg.example.org/id/{PROJECT}> "
                                      "bk:budget/bk:amountInYuan ?b }"))
    assert f'id="budget">{wan(yuan / 10000)}<' in html
    assert html.index("project-summary") < html.index('id="indicators"') < html.index('id="source-lines"')
    positions = [int(p) for p in re.findall(r'data-position="(\d+)"', html)]
    assert positions == list(range(1, len(positions) + 1))  # source order
    assert "<details id=\"source-lines\">" in html


def test_agency_page_has_totals_and_no_project_lines(client: TestClient, seed_store: GraphStore) -> None:
    html = client.get("/agency/341", headers=HTML).text
    yuan = Decimal(scalar(seed_store, "SELECT (SUM(?b) AS ?s) WHERE { ?p a bk:Project ; bk:budgetUnit ?u ; "
                                      "bk:budget/bk:amountInYuan ?b . ?u org:subOrganizationOf "
                                      "<https://budgetkg.example.org/id/agency/341> }"))
    assert f'id="agency-budget">{wan(yuan / 10000)}<' in html
    assert 'id="by-funding"' in html and 'id="by-year"' in html and 'id="source-lines"' not in html


def test_docs_are_served_from_this_server(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "cdn" not in html.lower() and "/static/vendor/swagger-ui-bundle.js" in html


def test_an_empty_contracts_answer_says_it_needs_imported_contracts(client: TestClient, seed_store: GraphStore) -> None:
    """The seeds have no procurement data: shared_vendors is empty and says why, not just "0 rows"."""
    assert scalar(seed_store, "PREFIX bk: <https://budgetkg.example.org/def/> "
                              "SELECT (COUNT(*) AS ?n) WHERE { ?c a bk:Contract }") == "0"
    page = client.get("/queries/shared_vendors", headers={"Accept": "text/html"}).text
    assert 'id="needs-contracts"' in page and "budgetkg contracts import" in page
    assert 'id="needs-contracts"' not in client.get("/queries/funding_sources", headers={"Accept": "text/html"}).text


def test_a_name_that_fits_several_projects_is_answered_with_links_to_each(client: TestClient) -> None:
    """The page, not a line of text: the form, what matched several things, and one link per candidate."""
    r = client.get("/queries/indicators_of_project?name=信息化&format=html")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert 'id="no-such-value"' in r.text and "<form" in r.text
    links = re.findall(r'<ul class="choices">(.*?)</ul>', r.text, re.S)[0]
    names = re.findall(r'<a href="[^"]*">([^<]+)</a>', links)
    assert len(names) > 1 and all("信息化" in n for n in names)
    first = html.unescape(re.findall(r'<a href="([^"]*)">', links)[0])
    chosen = client.get(first)
    assert chosen.status_code == 200 and names[0] in chosen.text
    # a name that matches nothing offers the nearest; a machine format still gets the plain 404
    assert 'id="no-such-value"' in client.get("/queries/indicators_of_project?name=没有这个项目&format=html").text
    plain = client.get("/queries/indicators_of_project?name=信息化&format=csv")
    assert plain.status_code == 404 and "matches more than one project" in plain.text
