"""The query page in a real browser: headless Debian chromium runs a named query in the YASGUI editor.

``/?run=<name>&<param>=<value>`` opens the named query's tab with those parameters and runs it on
load; chromium's ``--dump-dom`` (after a virtual-time budget that covers the fetch) gives the page
as the user sees it: the results table rendered by YASR, the run state, and the truncation warning.

Needs /usr/bin/chromium (``scripts/setup-assets.sh --with-chromium``) and the YASGUI assets
(``scripts/setup-assets.sh``). Without chromium the test is skipped, except under CI=true.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.store import GraphStore
from server.app import STATIC_DIR
from tests.helpers import CHROMIUM, require_chromium, running_server, write_disk_store


@pytest.fixture(scope="module")
def browser_server(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore) -> Iterator[str]:
    require_chromium(STATIC_DIR, ("yasgui.min.js",))
    store = write_disk_store(seed_store, tmp_path_factory.mktemp("browser") / "store")
    with running_server(store, BUDGETKG_MAX_ROWS="3") as url:
        yield url


def page_after_run(url: str, profile: Path) -> str:
    """The DOM once the page's query has been answered (chromium retried with more time if needed)."""
    dom = ""
    for budget in (15000, 40000):
        done = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget}", "--dump-dom", url],
            capture_output=True, timeout=90, check=False)
        dom = done.stdout.decode("utf-8", errors="replace")
        if 'data-run-state="done"' in dom:
            return dom
    raise AssertionError(f"the query never finished in the page; status: {_status(dom)!r}")


def _status(dom: str) -> str:
    m = re.search(r'<div id="status"[^>]*>', dom)
    return m.group(0) if m else "(no status element)"


def test_a_named_query_runs_in_the_editor_and_shows_its_results(browser_server: str, tmp_path: Path) -> None:
    dom = page_after_run(f"{browser_server}/?run=projects_of_agency&code=325220", tmp_path / "profile")
    status = _status(dom)
    assert 'data-rows="3"' in status and 'data-truncated="false"' in status
    assert 'data-tab="某预算单位（或主管部门）的项目"' in status
    # YASR's results table, as the user sees it
    table = dom.split('class="yasr_results"', 1)[1] if 'class="yasr_results"' in dom else dom
    for name in ("建设工程执法检查", "市建设工程安全质量监督总站业务管理工作经费", "建设工程视频监控智能平台运行维护"):
        assert name in table
    # the editor holds the named query with its parameter as a VALUES block
    assert "325220" in dom and "VALUES" in dom


def test_truncated_results_are_flagged_in_the_editor(browser_server: str, tmp_path: Path) -> None:
    dom = page_after_run(f"{browser_server}/?run=special_bond_funding", tmp_path / "profile")
    assert 'data-truncated="true"' in _status(dom) and 'data-rows="3"' in _status(dom)
    warning = re.search(r'<div id="truncation"[^>]*>([^<]*)</div>', dom)
    assert warning is not None and "hidden" not in warning.group(0)
    assert "结果已截断" in warning.group(1) and "3" in warning.group(1)
