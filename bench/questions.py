"""The eight questions of a new analyst, answered from the portal without SPARQL: timed, and photographed.

Serves a built store with ``budgetkg serve`` (a real server process on 127.0.0.1), asks each question's
page twice (the first request is cold, the second is what a user sees after it), checks it answered 200,
and takes a headless-chromium screenshot of each page::

    python -m bench.questions --store /tmp/q10k-store [--out bench/results/questions-10k.md]
        [--shots tests/artifacts/questions]

A script, not a test: the pages' contents are tested in tests/test_portal*.py and tests/test_forgiving.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent

#: (question, path[, status]) — what a new analyst asks, and the page that answers it (200 unless said).
QUESTIONS: list[tuple[str, str] | tuple[str, str, int]] = [
    ("各部门、各预算单位的预算及合计 (budget per department and unit, with totals)",
     "/queries/budget_by_agency"),
    ("专项债项目及金额 (special-bond projects with amounts)", "/projects?" + urlencode({"funding": "special-bond"})),
    ("中央资金项目及金额 (centrally funded projects with amounts)", "/projects?" + urlencode({"funding": "central"})),
    ("跨单位的共同目标 (shared goals across agencies)", "/queries/shared_goals_across_agencies"),
    ("共用供应商 (shared vendors)", "/queries/shared_vendors"),
    ("人口证件工作经费的指标：先输入“人口证件” (the indicators of 人口证件工作经费: a partial name first, answered "
     "with every project it fits as links)", "/queries/indicators_of_project?" + urlencode({"name": "人口证件"}), 404),
    ("人口证件工作经费的指标 (the indicators of 人口证件工作经费, one of those links)",
     "/queries/indicators_of_project?" + urlencode({"name": "人口证件工作经费", "format": "html"})),
    ("满意度目标 ≥ 95 % (satisfaction targets of 95 % or more)",
     "/queries/projects_by_threshold?" + urlencode({"category": "满意度指标", "indicator": "", "min_value": "95"})),
    ("成本上限之和超过预算 (cost caps that do not add up)",
     "/projects?" + urlencode({"rule": "CostCapsExceedBudget"})),
    ("提到视频监控的项目 (every project mentioning 视频监控)", "/search?q=" + quote("视频监控")),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(store: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "budgetkg", "serve", "--store", store, "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def shoot(url: str, path: Path) -> bool:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return False
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                            "--window-size=1400,1000", "--virtual-time-budget=8000", f"--screenshot={path}", url],
                           capture_output=True, timeout=120)
    return r.returncode == 0 and path.exists()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "questions-10k.md")
    ap.add_argument("--shots", type=Path, default=ROOT / "tests" / "artifacts" / "questions")
    args = ap.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    proc, url = serve(args.store)
    rows = []
    try:
        with httpx.Client(base_url=url, timeout=120, headers={"Accept": "text/html"}) as client:
            for k, (question, path, *expected) in enumerate(QUESTIONS, start=1):
                times, status = [], 0
                for _ in range(2):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    times.append(time.perf_counter() - t0)
                    status = r.status_code
                shot = args.shots / f"q{k}.png"
                ok = shoot(url + path, shot)
                shown = shot.resolve()
                rows.append((k, question, path, status, (expected or [200])[0], times[0], times[1],
                             (str(shown.relative_to(ROOT)) if shown.is_relative_to(ROOT) else str(shown)) if ok
                             else "—"))
                print(rows[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    lines = ["# The eight questions, from the portal", "",
             f"Store: `{args.store}`; `python -m bench.questions`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{os.cpu_count()} CPUs. Each page asked twice through a real `budgetkg serve` (cold, then warm).", "",
             "| # | question | page | status | first s | again s | screenshot |", "|---:|---|---|---:|---:|---:|---|"]
    lines += [f"| {k} | {q} | `{p}` | {s}{'' if s == want else f' (expected {want})'} | {a:.2f} | {b:.2f} | {shot} |"
              for k, q, p, s, want, a, b, shot in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if all(r[3] == r[4] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
