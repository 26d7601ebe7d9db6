"""Memory of the budgetkg server under a long load, on a store you give it.

    .venv/bin/python -m bench.soak --store DIR [--minutes 20] [--concurrency 8] [--workers N]
                                   [--out bench/results/soak.md]

Serves ``DIR`` with budgetkg's server (uvicorn, query worker processes, as ``budgetkg serve`` runs
it) on 127.0.0.1 and keeps ``--concurrency`` keep-alive clients asking the analyst's basic named
queries (:data:`bench.bench_endpoint.BASICS`, defaults, JSON results, no row cap) in turn for
``--minutes``. Every second it samples the resident memory of the server's process tree (the
uvicorn process and its workers). A query worker whose memory passes
``BUDGETKG_WORKER_MAX_RSS_MB`` is replaced after its job; ``/health`` counts those (``recycled``).

The tree is bounded when it stays under the cap the settings imply (workers × the worker limit,
plus the server's own process) and its last third peaks no higher than its middle third, within
5 %. Writes a Markdown table (the maximum per minute) to ``--out`` and the numbers to the same
name with ``.json``. A script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_endpoint import BASICS, HOST, Target, drive, free_port, get, stop, wait_for  # noqa: E402
from bench.run_all import _tree_rss_mb, machine  # noqa: E402


def _health(port: int) -> dict:
    import httpx

    return httpx.get(f"http://{HOST}:{port}/health", timeout=30).json()


def soak(store: str, minutes: float, concurrency: int, workers: int | None) -> dict:
    import subprocess

    from kg import queries as named_queries
    from kg.settings import Settings

    settings = Settings.from_env(store=store)
    qs = named_queries.load_all(settings.queries_dir)
    names = [n for n in BASICS if n in qs]
    limit_mb = settings.worker_max_rss_mb
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x),
           "BUDGETKG_MAX_ROWS": "100000000", "BUDGETKG_QUERY_TIMEOUT": "600"}
    port = free_port()
    launcher = ("import sys, uvicorn\nfrom kg.settings import Settings\nfrom server.app import create_app\n"
                "uvicorn.run(create_app(Settings.from_env(store=sys.argv[1]), workers=int(sys.argv[3]) or None), "
                "host='127.0.0.1', port=int(sys.argv[2]), log_level='warning', access_log=False)")
    proc = subprocess.Popen([sys.executable, "-c", launcher, store, str(port), str(workers or 0)], env=env, cwd=ROOT)
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    try:
        wait_for(port, "/health", proc, timeout=120)
        n_workers = int(_health(port)["workers"])
        started = time.monotonic()

        def sample() -> None:
            while not done.wait(1.0):
                samples.append((time.monotonic() - started, _tree_rss_mb(os.getpid())["budgetkg"]))

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        target = Target("budgetkg /queries", port, [get(f"/queries/{n}", port) for n in names])
        asyncio.run(drive(target, concurrency, minutes * 60, record=True))
        done.set()
        th.join()
        health = _health(port)
    finally:
        done.set()
        stop(proc)
    per_minute: dict[int, float] = {}
    for t, mb in samples:
        per_minute[int(t // 60)] = max(per_minute.get(int(t // 60), 0.0), mb)
    rss = [mb for _, mb in samples]
    third = max(1, len(rss) // 3)
    middle, last = max(rss[third:2 * third], default=0.0), max(rss[-third:], default=0.0)
    cap = n_workers * limit_mb + max(0.0, rss[0] if rss else 0.0)
    return {
        "store": store, "minutes": minutes, "concurrency": concurrency, "workers": n_workers,
        "worker_max_rss_mb": limit_mb, "queries": names, "requests": len(target.latencies),
        "errors": target.errors, "recycled": health.get("recycled"), "start_mb": rss[0] if rss else 0.0,
        "max_mb": max(rss, default=0.0), "middle_third_max_mb": middle, "last_third_max_mb": last,
        "cap_mb": cap, "bounded": bool(rss) and max(rss) <= cap and last <= middle * 1.05,
        "per_minute_max_mb": per_minute,
    }


def render(r: dict) -> str:
    rows = "\n".join(f"| {m + 1} | {mb:.0f} |" for m, mb in sorted(r["per_minute_max_mb"].items()))
    return (
        f"# Server memory under a {r['minutes']:g}-minute load — {time.strftime('%Y-%m-%d')}\n\n"
        f"Machine: {machine()}\n\n"
        f"Command: `python -m bench.soak --store {r['store']} --minutes {r['minutes']:g} "
        f"--concurrency {r['concurrency']} --workers {r['workers']}`; queries: {', '.join(r['queries'])}.\n\n"
        f"{r['requests']} requests, {r['errors']} errors; {r['recycled']} query workers replaced for passing "
        f"{r['worker_max_rss_mb']} MB. Server tree: {r['start_mb']:.0f} MB at the start, at most "
        f"{r['max_mb']:.0f} MB (cap {r['cap_mb']:.0f} MB = {r['workers']} workers × {r['worker_max_rss_mb']} MB "
        f"+ the tree at the start); middle third at most {r['middle_third_max_mb']:.0f} MB, last third at most "
        f"{r['last_third_max_mb']:.0f} MB: **{'bounded' if r['bounded'] else 'not shown to be bounded'}**.\n\n"
        f"| minute | max RSS of the server tree, MB |\n|---:|---:|\n{rows}\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="budgetkg store to serve (built beforehand)")
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=None, help="query worker processes (default: CPUs + 2)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.md")
    a = ap.parse_args(argv)
    r = soak(a.store, a.minutes, a.concurrency, a.workers)
    text = render(r)
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text, encoding="utf-8")
    a.out.with_suffix(".json").write_text(json.dumps(r, indent=1), encoding="utf-8")
    return 0 if r["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
