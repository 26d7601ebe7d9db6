"""The network page in a real browser: ``budgetkg serve`` on 127.0.0.1 and headless Debian chromium.

Chromium is driven over the DevTools protocol (a websocket): the test opens ``/graph``, waits until
the page says it has drawn (``#graph-status[data-state=ready]``), asks cytoscape how many nodes are
visible, compares that with what ``/api/graph`` returns for the page's own request, exercises hover,
filters and search, and keeps a screenshot in ``tests/artifacts/graph.png``.

Needs /usr/bin/chromium (``scripts/setup-assets.sh --with-chromium``) and the cytoscape.js assets
(``scripts/setup-assets.sh``). Without chromium the test is skipped, except under CI=true.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kg.settings import Settings
from kg.store import GraphStore
from server.app import STATIC_DIR
from server.graph import VENDOR_SCRIPTS
from tests.helpers import Chromium, linked_copy, require_chromium, running_server, write_disk_store

ALL = "agency,project,funding,concept,vendor"


@pytest.fixture(scope="module")
def graph_server(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore, settings: Settings) -> Iterator[str]:
    """The seeds with links and the example contracts, served by ``budgetkg serve``."""
    store = write_disk_store(linked_copy(seed_store, settings), tmp_path_factory.mktemp("graph") / "store")
    with running_server(store) as url:
        yield url


# -- the API on the real server ------------------------------------------------------------------


def test_api_graph_on_the_real_server(graph_server: str) -> None:
    # (how long building the seed network takes is measured by bench/bench_graph.py, not asserted here)
    r = httpx.get(f"{graph_server}/api/graph", params={"node_types": ALL}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers.get("content-encoding") == "gzip"  # httpx asks for it and decodes it
    doc = r.json()
    assert doc["meta"]["nodes"] == len(doc["elements"]["nodes"]) == 283
    assert doc["meta"]["edges"] == len(doc["elements"]["edges"]) == 708
    assert "build" in doc["meta"]["seconds"]  # the build's own timings are part of the body
    # built once per store generation: the same bytes again, the first build's timings included (a second
    # build would have measured its own)
    again = httpx.get(f"{graph_server}/api/graph", params={"node_types": ALL}, timeout=30)
    assert again.content == r.content
    # the whole seed network, not cached (another max_nodes), built afresh
    fresh = httpx.get(f"{graph_server}/api/graph", params={"node_types": ALL, "max_nodes": 1499}, timeout=30)
    assert fresh.json()["meta"]["nodes"] == 283
    filtered = httpx.get(f"{graph_server}/api/graph", params={"node_types": ALL, "department": "341"}, timeout=30)
    assert filtered.status_code == 200 and filtered.json()["meta"]["options"]["department"] == "341"
    proj = httpx.get(f"{graph_server}/api/graph", params={"view": "agency", "min_weight": 2}, timeout=30).json()
    assert proj["meta"]["view"] == "agency" and all(e["data"]["weight"] >= 2 for e in proj["elements"]["edges"])
    for params, message in (({"node_types": "planet"}, "unknown node type"), ({"view": "galaxy"}, "view must be"),
                            ({"department": "x"}, "department must be"), ({"max_nodes": 0}, "")):
        bad = httpx.get(f"{graph_server}/api/graph", params=params, timeout=30)
        assert bad.status_code in (400, 422) and message in bad.text
    cut = httpx.get(f"{graph_server}/api/graph", params={"node_types": ALL, "max_nodes": 40}, timeout=30).json()
    assert cut["meta"]["truncated"] and cut["meta"]["nodes"] == 40 and cut["meta"]["total_nodes"] == 283


def test_the_page_loads_its_data_from_the_api_only(graph_server: str) -> None:
    html = httpx.get(f"{graph_server}/graph", timeout=30).text
    assert 'data-api="' + graph_server + '/api/graph"' in html
    assert '"elements"' not in html and "application/json" not in html  # no inline data
    for name in VENDOR_SCRIPTS:
        assert f"/static/vendor/{name}?v=" in html
    assert "cdn" not in html.lower()


# -- chromium over the DevTools protocol ------------------------------------------------------


class Browser(Chromium):
    """Chromium on the network page, which says in ``#graph-status`` when it has drawn."""

    def wait_ready(self, timeout: float = 45) -> dict:
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            status = self.js("(() => { const s = document.getElementById('graph-status'); "
                             "return s ? Object.assign({text: s.textContent}, s.dataset) : null; })()") or {}
            if status.get("state") in ("ready", "error"):
                break
            time.sleep(0.1)
        assert status.get("state") == "ready", f"the graph was not drawn: {status}"
        return status


@pytest.fixture
def browser(graph_server: str, tmp_path: Path) -> Iterator[Browser]:
    require_chromium(STATIC_DIR, VENDOR_SCRIPTS)
    b = Browser(tmp_path / "profile", width=1600, height=1100)
    try:
        yield b
    finally:
        b.close()


def api_count(url: str) -> tuple[int, int]:
    doc = httpx.get(url, timeout=30).json()
    assert doc["meta"]["nodes"] == len(doc["elements"]["nodes"])
    return len(doc["elements"]["nodes"]), len(doc["elements"]["edges"])


def test_the_page_draws_every_node_of_the_api_and_keeps_a_screenshot(graph_server: str, browser: Browser) -> None:
    browser.send("Page.navigate", url=f"{graph_server}/graph?node_types={ALL}")
    status = browser.wait_ready()
    assert status["source"] == f"{graph_server}/api/graph?node_types=" + ALL.replace(",", "%2C")
    nodes, edges = api_count(status["source"])
    assert (nodes, edges) == (283, 708)
    drawn = browser.js("budgetkgGraph.cy().nodes(':visible').length")
    assert drawn == nodes == int(status["nodes"]) == int(status["apiNodes"])
    assert browser.js("budgetkgGraph.cy().edges(':visible').length") == edges
    assert status["layout"] == "fcose"
    # laid out: the nodes are spread over the drawing, not piled up at the origin
    box = browser.js("(() => { const b = budgetkgGraph.cy().nodes().renderedBoundingBox(); return [b.w, b.h]; })()")
    assert box[0] > 400 and box[1] > 300
    # node size follows the chosen metric
    assert browser.js("(() => { const ns = budgetkgGraph.cy().nodes().sort((a, b) => "
                      "b.data('weighted_degree') - a.data('weighted_degree')); "
                      "return ns[0].data('_size') > ns[ns.length - 1].data('_size'); })()")
    assert browser.screenshot("graph").stat().st_size > 50_000


def test_hover_filters_and_search(graph_server: str, browser: Browser) -> None:
    browser.send("Page.navigate", url=f"{graph_server}/graph?node_types={ALL}")
    browser.wait_ready()
    # hover: the details panel names the agency, its linked-data page and whom it is connected to through what
    html = browser.js("(() => { const cy = budgetkgGraph.cy(); "
                      "const n = cy.nodes().filter(n => n.data('label') === '天津市公安局')[0]; n.emit('mouseover'); "
                      "return document.getElementById('graph-details').innerHTML; })()")
    assert "天津市公安局" in html and f'href="{graph_server}/agency/341"' in html
    assert "上级部门" in html and "sub-organization" in html and "w=1" in html
    faded = browser.js("budgetkgGraph.cy().nodes('.faded').length")
    assert faded > 200  # everything but the neighbourhood steps back
    # the linked-data page the click opens exists
    assert httpx.get(f"{graph_server}/agency/341", headers={"Accept": "text/html"}, timeout=30).status_code == 200
    # a department filter asks the server again
    browser.js("(() => { const s = document.getElementById('f-department'); s.value = '325'; "
               "s.dispatchEvent(new Event('change')); })()")
    time.sleep(0.2)
    status = browser.wait_ready()
    assert "department=325" in status["source"]
    assert int(status["nodes"]) == api_count(status["source"])[0] == browser.js(
        "budgetkgGraph.cy().nodes(':visible').length")
    assert browser.js("location.search").endswith("department=325")
    # edge kinds and weight act on the drawing at once
    browser.js("(() => { const s = document.getElementById('f-department'); s.value = ''; "
               "s.dispatchEvent(new Event('change')); })()")
    time.sleep(0.2)
    browser.wait_ready()
    browser.js("(() => { const box = document.querySelector('#edge-kinds input[value=has-concept]'); "
               "box.checked = false; box.dispatchEvent(new Event('change', {bubbles: true})); })()")
    visible_types = browser.js("[...new Set(budgetkgGraph.cy().nodes(':visible').map(n => n.data('type')))].sort()")
    assert "concept" not in visible_types and "project" in visible_types
    assert browser.js("budgetkgGraph.cy().edges(':visible').filter(e => e.data('kind') === 'has-concept').length") == 0
    browser.js("(() => { const w = document.getElementById('f-weight'); w.value = '0.8'; "
               "w.dispatchEvent(new Event('change')); })()")
    # the page may redraw after the change event returns (a loaded machine): wait for it, up to 15 s
    light = "budgetkgGraph.cy().edges(':visible').filter(e => e.data('weight') < 0.8).length"
    deadline = time.monotonic() + 15
    while browser.js(light) and time.monotonic() < deadline:
        time.sleep(0.1)
        browser.wait_ready()
    assert browser.js(light) == 0
    # search by name
    browser.js("(() => { const s = document.getElementById('f-search'); s.value = '中央'; "
               "s.dispatchEvent(new Event('input')); })()")
    time.sleep(0.5)
    assert browser.js("budgetkgGraph.cy().nodes('.match').length") >= 1
    assert "匹配" in browser.js("document.getElementById('search-count').textContent")


def test_the_projection_view(graph_server: str, browser: Browser) -> None:
    browser.send("Page.navigate", url=f"{graph_server}/graph?view=agency")
    status = browser.wait_ready()
    assert "view=agency" in status["source"]
    nodes, edges = api_count(status["source"])
    assert int(status["nodes"]) == nodes == 18 and int(status["edges"]) == edges
    assert browser.js("document.getElementById('f-node-types').disabled") is True
