"""Time of the entity pages people read — a project's, a budget unit's, a department's — on a built store.

Starts ``budgetkg serve`` on 127.0.0.1 over ``--store`` (read-only, ``--workers`` processes), picks
``--samples`` projects, budget units and departments spread over the store (every k-th IRI in order,
by SPARQL on the store opened read-only; departments: all of them when there are fewer), and fetches
each one's HTML page twice with httpx, one client, one request at a time. Every request says
``Cache-Control: no-cache``, so the server computes the page each time (the result cache would
otherwise answer the second fetch); the second fetch is the warm one a reader sees. Prints p50, p90
and max (ms) per page kind, for the first and the second fetch, and the slowest page::

    python -m bench.bench_pages --store /tmp/p10k-store --samples 20 [--out bench/results/pages-10k.md]

``--out`` also writes the table as Markdown, with the machine, the store and the load average before and after
the run (a shared machine's load shows in the times). A script, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.bench_endpoint import HOST, free_port, stop, wait_for
from kg.namespaces import BK, PREFIXES
from kg.settings import Settings
from kg.store import EmbeddedStore

ROOT = Path(__file__).resolve().parent.parent

#: A 1-minute load average above which the written table says other work ran beside the run (2 CPUs: the server's
#: workers and this client take about one).
BUSY = 1.5

KINDS = (("project", BK.Project), ("budget unit", BK.BudgetUnit), ("department", BK.Department))


def spread(items: list[str], n: int) -> list[str]:
    """``n`` items evenly spaced over ``items`` (all of them when there are fewer).

    >>> spread(list("abcdefghij"), 3)
    ['a', 'd', 'g']
    """
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def pick(store_path: str, n: int) -> dict[str, list[str]]:
    """IRIs of each kind of page, spread over the store."""
    store = EmbeddedStore(store_path, read_only=True)
    try:
        picked = {}
        for kind, cls in KINDS:
            rows = store.query("SELECT ?s WHERE { ?s a ?class } ORDER BY ?s", prefixes=PREFIXES,
                               substitutions={"class": cls}, union=True)
            picked[kind] = spread([r["s"].value for r in rows], n)
        return picked
    finally:
        store.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


#: The target of issue "Interactive at province scale": an entity page's p50 at 100,000 tables, in ms.
TARGET_MS = 30.0


def measure(store: str, samples: int = 10, workers: int = 2, echo: bool = False) -> dict:
    """Serve ``store`` and fetch ``samples`` pages of each kind twice; the times (ms) per kind and fetch (``first``,
    ``warm``: p50, p90, max), the slowest page and the load average before and after. ``echo``: print each row."""
    base_iri = Settings.from_env().base_iri
    load_before = os.getloadavg()[0]
    picked = pick(store, samples)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "budgetkg", "serve", "--store", store, "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL if not echo else None)
    kinds: dict[str, dict] = {}
    slowest = (0.0, "")
    try:
        wait_for(port, "/health", proc)
        headers = {"Accept": "text/html", "Cache-Control": "no-cache"}
        with httpx.Client(base_url=f"http://{HOST}:{port}", headers=headers, timeout=120) as client:
            for kind, _ in KINDS:
                times: list[list[float]] = [[], []]
                for iri in picked[kind]:
                    path = "/" + iri[len(base_iri):] if iri.startswith(base_iri) else "/resource?iri=" + iri
                    for attempt in (0, 1):
                        t0 = time.perf_counter()
                        response = client.get(path)
                        ms = (time.perf_counter() - t0) * 1000
                        if response.status_code != 200:
                            raise RuntimeError(f"bench_pages: {path} answered {response.status_code}")
                        times[attempt].append(ms)
                        slowest = max(slowest, (ms, path))
                if times[0]:
                    kinds[kind] = {"pages": len(times[0]), **{
                        fetch: {"p50": statistics.median(t), "p90": percentile(t, 0.9), "max": max(t)}
                        for fetch, t in zip(("first", "warm"), times, strict=True)}}
                    if echo:
                        print(table_lines({kind: kinds[kind]})[-1], flush=True)
    finally:
        stop(proc)
    return {"kinds": kinds, "slowest": {"ms": slowest[0], "path": slowest[1]}, "samples": samples,
            "workers": workers, "load": [load_before, os.getloadavg()[0]]}


def table_lines(kinds: dict[str, dict]) -> list[str]:
    """The Markdown table of :func:`measure`'s ``kinds``."""
    lines = ["| page | pages | first p50 | first p90 | first max | warm p50 | warm p90 | warm max |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, k in kinds.items():
        cells = [f"{k[fetch][stat]:.1f}" for fetch in ("first", "warm") for stat in ("p50", "p90", "max")]
        lines.append(f"| {kind} | {k['pages']} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--samples", type=int, default=20, help="pages of each kind")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the server")
    ap.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = ap.parse_args()
    print("\n".join(table_lines({})))
    try:
        numbers = measure(args.store, args.samples, args.workers, echo=True)
    except RuntimeError as exc:
        sys.exit(str(exc))
    slowest = (numbers["slowest"]["ms"], numbers["slowest"]["path"])
    print(f"slowest: {slowest[1]} {slowest[0]:.0f} ms")
    if args.out:
        write(args.out, args, table_lines(numbers["kinds"]), slowest, tuple(numbers["load"]))


def write(out: Path, args: argparse.Namespace, lines: list[str], slowest: tuple[float, str],
          load: tuple[float, float]) -> None:
    """The table as Markdown, with how it was measured."""
    from bench.bench_build import machine

    text = [f"# Entity pages — {time.strftime('%Y-%m-%d')}", "",
            f"Machine: {machine()}; 1-minute load average {load[0]:.1f} before the run, {load[1]:.1f} after"
            + (" (other work ran beside it: the times are pessimistic)." if max(load) > BUSY else "."), "",
            f"`python -m bench.bench_pages --store {args.store} --samples {args.samples} --workers {args.workers}`: "
            "each page fetched twice as HTML with `Cache-Control: no-cache` (computed each time), times in ms "
            "as the client saw them. The second fetch may reach the other worker process.", "",
            *lines, "", f"Slowest: `{slowest[1]}` {slowest[0]:.0f} ms.", ""]
    out.write_text("\n".join(text), encoding="utf-8")


if __name__ == "__main__":
    main()
