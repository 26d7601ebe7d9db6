"""The portal in a real browser: ``budgetkg serve`` on 127.0.0.1 and headless Debian chromium.

Chromium is driven over the DevTools protocol (a websocket). Each page is loaded, what it shows is
compared with SPARQL run on the same store through the server's ``/sparql``, every request the page
makes is recorded (``Network.requestWillBeSent``) and must go to 127.0.0.1, and a screenshot is kept
in ``tests/artifacts/portal-<page>.png``.

Needs /usr/bin/chromium (``scripts/setup-assets.sh --with-chromium``) and the vendored assets
(``scripts/setup-assets.sh``). Without chromium the tests are skipped, except under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from kg.settings import Settings
from kg.store import GraphStore
from server.app import STATIC_DIR
from server.browse import wan
from tests.helpers import Chromium, linked_copy, require_chromium, running_server, write_disk_store

VENDOR = ("yasgui.min.js", "cytoscape.min.js", "chart.umd.js", "swagger-ui-bundle.js", "swagger-ui.css")
BASE = "https://budgetkg.example.org/id/"
PROJECT = "project/2024/341101/667910cc7727"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore, settings: Settings) -> Iterator[str]:
    require_chromium(STATIC_DIR, VENDOR)
    store = write_disk_store(linked_copy(seed_store, settings), tmp_path_factory.mktemp("portal") / "store")
    with running_server(store) as url:
        yield url


@pytest.fixture
def page(portal: str, tmp_path: Path) -> Iterator[Chromium]:
    p = Chromium(tmp_path / "profile", prefix="portal-")
    try:
        yield p
        foreign = [u for u in p.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                   and urlparse(u).hostname != "127.0.0.1"]
        assert p.requests and not foreign, f"requests beyond 127.0.0.1: {foreign}"
    finally:
        p.close()


def sparql(url: str, query: str) -> list[dict[str, str]]:
    r = httpx.post(f"{url}/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"},
                   timeout=60)
    r.raise_for_status()
    return [{k: v["value"] for k, v in b.items()} for b in r.json()["results"]["bindings"]]


def test_projects_with_a_facet_chosen(portal: str, page: Chromium) -> None:
    page.open(f"{portal}/projects?department=341&funding=central")
    total = int(page.js("document.getElementById('summary').dataset.total"))
    expected = sparql(portal, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a bk:Project ; bk:budgetUnit ?u ; "
                              f"bk:fundingSource bkfund:central . ?u org:subOrganizationOf <{BASE}agency/341> }}")
    assert total == int(expected[0]["n"])
    shown = page.js("[...document.querySelectorAll('#rows tbody tr')].length")
    assert shown == min(total, 50)
    # the department facet (counted without its own choice) says what SPARQL counts for 341
    count = page.js("document.querySelector('[data-facet=department] a[data-value=\"341\"]')"
                    ".parentElement.querySelector('.n').dataset.count")
    n341 = sparql(portal, "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a bk:Project ; bk:budgetUnit ?u ; "
                          f"bk:fundingSource bkfund:central . ?u org:subOrganizationOf <{BASE}agency/341> }}")
    assert int(count) == int(n341[0]["n"])
    assert page.js("document.getElementById('permalink').href") == page.js("location.href")
    assert page.screenshot("projects").stat().st_size > 30_000


def test_project_page_reads_as_a_summary(portal: str, page: Chromium) -> None:
    page.open(f"{portal}/{PROJECT}")
    yuan = sparql(portal, f"SELECT ?b WHERE {{ <{BASE}{PROJECT}> bk:budget/bk:amountInYuan ?b }}")[0]["b"]
    assert page.js("document.getElementById('budget').textContent.trim()") == wan(Decimal(yuan) / 10000)
    positions = page.js("[...document.querySelectorAll('#indicators tr[data-position]')].map(r => +r.dataset.position)")
    n = sparql(portal, f"SELECT (COUNT(?i) AS ?n) WHERE {{ <{BASE}{PROJECT}> bk:hasIndicator ?i }}")[0]["n"]
    assert positions == list(range(1, int(n) + 1))
    assert page.js("document.getElementById('source-lines').open") is False  # the source text is collapsed
    # the summary is at the top of the page, above the indicators
    assert page.js("document.getElementById('project-summary').getBoundingClientRect().top < "
                   "document.getElementById('indicators').getBoundingClientRect().top")
    assert page.screenshot("project").stat().st_size > 30_000


def test_agency_page_with_totals_and_neighbourhood(portal: str, page: Chromium) -> None:
    page.open(f"{portal}/agency/341101", ready="document.getElementById('neighbourhood').dataset.state === 'ready'")
    yuan = sparql(portal, "SELECT (SUM(?b) AS ?s) WHERE { ?p a bk:Project ; "
                          f"bk:budgetUnit <{BASE}agency/341101> ; bk:budget/bk:amountInYuan ?b }}")[0]["s"]
    assert page.js("document.getElementById('agency-budget').textContent.trim()") == wan(Decimal(yuan) / 10000)
    assert page.js("budgetkgNeighbourhood.nodes().length") > 1
    # sorting the project table by budget puts the smallest first
    page.js("document.querySelector('#project-table th[data-sort=num]').click()")
    first, last = page.js("(() => { const v = [...document.querySelectorAll('#project-table tbody td[data-value]')]"
                          ".map(td => +td.dataset.value); return [v[0], v[v.length - 1]]; })()")
    assert first <= last
    assert page.screenshot("agency").stat().st_size > 30_000


def test_named_query_page_draws_a_chart(portal: str, page: Chromium) -> None:
    page.open(f"{portal}/queries/budget_by_agency?format=html",
              ready="document.getElementById('chart').dataset.state === 'drawn'")
    assert page.js("document.getElementById('chart').dataset.type") == "bar"
    assert int(page.js("document.getElementById('chart').dataset.points")) > 0
    page.js("(() => { const s = document.querySelector('#chart select[name=type]'); s.value = 'pie'; "
            "s.dispatchEvent(new Event('change')); })()")
    assert page.js("document.getElementById('chart').dataset.type") == "pie"
    assert page.screenshot("named-chart").stat().st_size > 30_000


def test_the_chart_shows_a_column_that_varies_not_an_echoed_parameter(portal: str, page: Chromium) -> None:
    """projects_by_threshold echoes min_value in every row; the chart shows the targets themselves."""
    page.open(f"{portal}/queries/projects_by_threshold?format=html&indicator=&category=%E6%BB%A1%E6%84%8F%E5%BA%A6"
              "%E6%8C%87%E6%A0%87&min_value=95", ready="document.getElementById('chart').dataset.state === 'drawn'")
    assert page.js("document.querySelector('#chart select[name=value]').selectedOptions[0].textContent") == "value"


def test_editor_shows_simple_values_and_a_chart(portal: str, page: Chromium) -> None:
    page.open(f"{portal}/?run=budget_by_agency&department=341",
              ready="document.getElementById('status').dataset.runState === 'done'")
    table = page.js("document.querySelector('.yasr_results').innerText")
    assert "天津市公安局" in table and "^^" not in table and "@zh" not in table
    page.js("document.getElementById('chart-panel').open = true")
    assert page.js("document.getElementById('chart').dataset.state") == "drawn"
    assert page.screenshot("editor").stat().st_size > 30_000


def test_docs_work_offline(portal: str, page: Chromium) -> None:
    page.open(f"{portal}/docs", ready="document.querySelectorAll('.opblock').length > 5")
    assert "budgetkg" in page.js("document.querySelector('.info .title').textContent")
    assert page.screenshot("docs").stat().st_size > 30_000
