"""The portal in a real browser: ``budgetkg serve`` on 127.0.0.1 and headless Debian chromium.

Chromium is driven over the DevTools protocol (a websocket). Each page is loaded, what it shows is
compared with SPARQL run on the same store through the server's ``/sparql``, every request the page
makes is recorded (``Network.requestWillBeSent``) and must go to 127.0.0.1, and a screenshot is kept
in ``tests/artifacts/portal-<page>.png``.

Needs /usr/bin/chromium (``scripts/setup-assets.sh --with-chromium``) and the vendored assets
(``scripts/setup-assets.sh``). Without chromium the tests are skipped, except under CI=true.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from kg.settings import Settings
from kg.store import GraphStore
from server.app import STATIC_DIR
from server.browse import wan
from tests.test_network import linked_copy
from tests.test_server_clients import running_server, write_disk_store

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
VENDOR = ("yasgui.min.js", "cytoscape.min.js", "chart.umd.js", "swagger-ui-bundle.js", "swagger-ui.css")
BASE = "https://budgetkg.example.org/id/"
PROJECT = "project/2024/341101/667910cc7727"


def _require_browser() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing: run scripts/setup-assets.sh --with-chromium")
        pytest.skip("headless chromium is not installed at /usr/bin/chromium")
    missing = [n for n in VENDOR if not (STATIC_DIR / "vendor" / n).is_file()]
    if missing:
        pytest.fail(f"assets missing from server/static/vendor/ ({', '.join(missing)}): run scripts/setup-assets.sh")


class Page:
    """Headless chromium with one page; records the URL of every request the page makes."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        port = self._port()
        deadline = time.monotonic() + 30
        pages: list[dict] = []
        while not pages and time.monotonic() < deadline:
            pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                     if t.get("type") == "page"]
            time.sleep(0.1)
        assert pages, "chromium opened no page"
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024,
                                                   open_timeout=30))
        self.ids = itertools.count(1)
        self.requests: list[str] = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")

    def _port(self) -> int:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode("utf-8", "replace")
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                return int(m.group(1))
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError("chromium did not open its DevTools port")

    def _event(self, msg: dict) -> None:
        if msg.get("method") == "Network.requestWillBeSent":
            self.requests.append(msg["params"]["request"]["url"])

    def send(self, method: str, **params: Any) -> dict:
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=90))
            if msg.get("id") == n:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]
            self._event(msg)

    def js(self, expression: str) -> Any:
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise AssertionError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def open(self, url: str, ready: str = "document.readyState === 'complete'", timeout: float = 60) -> None:
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if self.js(f"(() => {{ try {{ return !!({ready}); }} catch (e) {{ return false; }} }})()"):
                return
        raise AssertionError(f"{url}: never ready ({ready})")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = self.send("Page.captureScreenshot", format="png")
        path = ARTIFACTS / f"portal-{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            self.stack.close()
        finally:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore, settings: Settings) -> Iterator[str]:
    _require_browser()
    store = write_disk_store(linked_copy(seed_store, settings), tmp_path_factory.mktemp("portal") / "store")
    with running_server(store) as url:
        yield url


@pytest.fixture
def page(portal: str, tmp_path: Path) -> Iterator[Page]:
    p = Page(tmp_path / "profile")
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


def test_projects_with_a_facet_chosen(portal: str, page: Page) -> None:
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


def test_project_page_reads_as_a_summary(portal: str, page: Page) -> None:
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


def test_agency_page_with_totals_and_neighbourhood(portal: str, page: Page) -> None:
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


def test_named_query_page_draws_a_chart(portal: str, page: Page) -> None:
    page.open(f"{portal}/queries/budget_by_agency?format=html",
              ready="document.getElementById('chart').dataset.state === 'drawn'")
    assert page.js("document.getElementById('chart').dataset.type") == "bar"
    assert int(page.js("document.getElementById('chart').dataset.points")) > 0
    page.js("(() => { const s = document.querySelector('#chart select[name=type]'); s.value = 'pie'; "
            "s.dispatchEvent(new Event('change')); })()")
    assert page.js("document.getElementById('chart').dataset.type") == "pie"
    assert page.screenshot("named-chart").stat().st_size > 30_000


def test_editor_shows_simple_values_and_a_chart(portal: str, page: Page) -> None:
    page.open(f"{portal}/?run=budget_by_agency&department=341",
              ready="document.getElementById('status').dataset.runState === 'done'")
    table = page.js("document.querySelector('.yasr_results').innerText")
    assert "天津市公安局" in table and "^^" not in table and "@zh" not in table
    page.js("document.getElementById('chart-panel').open = true")
    assert page.js("document.getElementById('chart').dataset.state") == "drawn"
    assert page.screenshot("editor").stat().st_size > 30_000


def test_docs_work_offline(portal: str, page: Page) -> None:
    page.open(f"{portal}/docs", ready="document.querySelectorAll('.opblock').length > 5")
    assert "budgetkg" in page.js("document.querySelector('.info .title').textContent")
    assert page.screenshot("docs").stat().st_size > 30_000
