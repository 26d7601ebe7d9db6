"""Load test on loopback: N concurrent clients against ``budgetkg serve``, while the store is rebuilt.

    .venv/bin/python -m bench.load_test [--duration 60] [--clients 50] [--workers N] [--out bench/results/load.md]

What it does, on a store built from the seeds in a temporary folder:

* starts ``budgetkg serve`` (uvicorn, worker processes) on 127.0.0.1 with an update token;
* runs ``--clients`` keep-alive clients (asyncio + httpx) for ``--duration`` seconds, each picking
  at random a named query with its defaults (60 %) or an entity page (40 %, Turtle or HTML) of a
  project, budget unit, document or indicator;
* from a third of the run to two thirds, rebuilds the store again and again with ``budgetkg build``
  (a separate writer process, as an operator would), alternating between the seeds (A) and a version
  whose every 预算数 is raised by 1 (B), each rebuild followed by a no-op ``/update`` so the workers
  reopen the store and see it;
* meanwhile a probe asks for the total 预算数 of every document, and every answer must be exactly the A
  or the B total of that document (a mix would mean a half-replaced graph was visible);
* reports requests, errors (any status but 200, any transport error), requests/s, p50/p90/p99/max
  latency per kind, the server's RSS (uvicorn process + its workers) at start, middle and end, and
  writes them to ``--out`` (Markdown) and the same name with ``.json``.

Exit status 1 if there was any error or inconsistent answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import LAUNCH, free_port  # noqa: E402
from tests.test_crash import write_version  # noqa: E402  (A/B versions of the seeds)

TOKEN = "load-test-token"
BASE = "https://budgetkg.example.org/id/"
TOTALS = """PREFIX bk: <https://budgetkg.example.org/def/>
PREFIX prov: <http://www.w3.org/ns/prov#>
SELECT ?doc (SUM(?y) AS ?total) (COUNT(?p) AS ?n) WHERE {
  ?p a bk:Project ; prov:wasDerivedFrom ?doc ; bk:budget/bk:amountInYuan ?y }
GROUP BY ?doc ORDER BY ?doc"""
ENTITIES = """PREFIX bk: <https://budgetkg.example.org/def/>
SELECT ?e WHERE { { ?e a bk:Project } UNION { ?e a bk:BudgetUnit } UNION { ?e a bk:SourceDocument }
  UNION { ?e a bk:Indicator } } LIMIT 3000"""


@contextmanager
def serve(store: Path, workers: int | None) -> Iterator[str]:
    """``budgetkg serve`` on a free loopback port (as tests/test_server_clients.py starts it)."""
    port = free_port()
    cmd = [sys.executable, "-c", LAUNCH, "serve", "--store", str(store), "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", *(["--workers", str(workers)] if workers else [])]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "BUDGETKG_UPDATE_TOKEN": TOKEN})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"budgetkg serve exited with {proc.returncode}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def server_pids(url: str) -> list[int]:
    """The uvicorn process (the one listening on the port) and its worker processes."""
    workers = httpx.get(url + "/health", timeout=10).json().get("pids", [])
    parents = set()
    for pid in workers:
        with suppress(OSError):
            parents.add(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))
    return sorted(parents | set(workers))


def totals(rows: list[dict]) -> dict[str, float]:
    return {r["doc"]["value"]: float(r["total"]["value"]) for r in rows}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def build(store: Path, folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "budgetkg", "build", "--quiet", "--no-check", "--store", str(store),
                    "--manifest", str(folder / "manifest.toml")], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    return time.perf_counter() - started


async def drive(url: str, duration: float, clients: int, targets: list[tuple[str, str, dict]],
                expected: dict[str, set[float]], rebuild_window: tuple[float, float], store: Path,
                versions: dict[str, Path], nudge: bool = False) -> dict:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    probes = {"answers": 0, "inconsistent": [], "seen": defaultdict(set), "generations": [],
              "regressions": 0, "mixed": 0}
    by_generation: dict[int, dict] = {}
    rss: dict[str, int] = {}
    rebuilds = {"builds": 0, "updates": 0, "build_seconds": [], "errors": []}
    start = time.perf_counter()
    deadline = start + duration
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                kind, path, params = rng.choice(targets)
                headers = {"Accept": "text/html"} if kind == "entity-html" else {}
                t0 = time.perf_counter()
                try:
                    r = await client.get(path, params=params, headers=headers)
                    ok = r.status_code == 200
                    if not ok:
                        errors.append(f"{kind} {path} {params}: {r.status_code} {r.text[:120]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{kind} {path}: {type(exc).__name__} {exc}")
                latencies[kind].append(time.perf_counter() - t0)

        async def probe() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.get("/sparql", params={"query": TOTALS})
                    latencies["probe"].append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        errors.append(f"probe: {r.status_code} {r.text[:120]}")
                    else:
                        probes["answers"] += 1
                        got = totals(r.json()["results"]["bindings"])
                        # monotonic reads: never an older generation after a newer one, one answer per generation
                        generation = int(r.headers.get("x-budgetkg-generation", "-1"))
                        if probes["generations"] and generation < max(probes["generations"]):
                            probes["regressions"] += 1
                        probes["generations"].append(generation)
                        if by_generation.setdefault(generation, got) != got:
                            probes["mixed"] += 1
                        for doc, total in got.items():
                            probes["seen"][doc].add(total)
                            if total not in expected.get(doc, set()):
                                probes["inconsistent"].append((doc, total))
                        if set(got) != set(expected):
                            probes["inconsistent"].append(("documents", sorted(got)))
                except httpx.HTTPError as exc:
                    errors.append(f"probe: {type(exc).__name__} {exc}")
                await asyncio.sleep(0.05)

        def rebuild_loop() -> None:
            time.sleep(max(0.0, start + rebuild_window[0] - time.perf_counter()))
            version = "B"
            while time.perf_counter() < start + rebuild_window[1]:
                try:
                    rebuilds["build_seconds"].append(build(store, versions[version]))
                    rebuilds["builds"] += 1
                    if nudge:  # the server notices a build by its generation; --nudge adds the old no-op update
                        r = httpx.post(url + "/update", content=b"DROP SILENT GRAPH <urn:budgetkg:load-test:none>",
                                       headers={"Content-Type": "application/sparql-update",
                                                "Authorization": f"Bearer {TOKEN}"}, timeout=60)
                        if r.status_code != 204:
                            rebuilds["errors"].append(f"update: {r.status_code} {r.text[:120]}")
                        rebuilds["updates"] += 1
                except (subprocess.CalledProcessError, httpx.HTTPError) as exc:
                    rebuilds["errors"].append(str(exc))
                version = "A" if version == "B" else "B"
                time.sleep(0.5)

        async def sample_rss() -> None:
            pids = server_pids(url)
            rss["start"] = rss_kb(pids)
            await asyncio.sleep(duration / 2)
            rss["middle"] = rss_kb(server_pids(url))
            await asyncio.sleep(max(0.0, deadline - time.perf_counter() - 1))
            rss["end"] = rss_kb(server_pids(url))

        rebuilder = threading.Thread(target=rebuild_loop, daemon=True)
        rebuilder.start()
        await asyncio.gather(*(worker(i) for i in range(clients)), probe(), sample_rss())
        await asyncio.to_thread(rebuilder.join)
    elapsed = time.perf_counter() - start
    everything = [x for k, v in latencies.items() if k != "probe" for x in v]
    return {
        "clients": clients, "duration_s": round(elapsed, 1), "requests": len(everything),
        "requests_per_s": round(len(everything) / elapsed, 1), "errors": len(errors), "error_samples": errors[:10],
        "latency_ms": {k: {"n": len(v), "p50": round(pct(v, 0.5) * 1000, 1), "p90": round(pct(v, 0.9) * 1000, 1),
                           "p99": round(pct(v, 0.99) * 1000, 1), "max": round(max(v) * 1000, 1),
                           "mean": round(statistics.fmean(v) * 1000, 1)}
                       for k, v in sorted({**latencies, "all": everything}.items()) if v},
        "rss_kb": rss,
        "rebuilds": {**rebuilds, "build_seconds": [round(s, 2) for s in rebuilds["build_seconds"]]},
        "consistency": {"probe_answers": probes["answers"], "inconsistent": probes["inconsistent"][:10],
                        "generations": sorted(set(probes["generations"])),
                        "generation_regressions": probes["regressions"], "mixed_within_a_generation": probes["mixed"],
                        "documents_seen_in_both_versions": sum(len(v) == 2 for v in probes["seen"].values()),
                        "documents": len(probes["seen"])},
    }


def markdown(result: dict, args: argparse.Namespace) -> str:
    lat = result["latency_ms"]
    rows = "\n".join(f"| {k} | {v['n']} | {v['p50']} | {v['p90']} | {v['p99']} | {v['max']} |" for k, v in lat.items())
    rss = result["rss_kb"]
    c = result["consistency"]
    rb = result["rebuilds"]
    return f"""# Load test — latest recorded run

Command: `.venv/bin/python -m bench.load_test --duration {args.duration:g} --clients {args.clients}` \
(loopback, {os.cpu_count()} CPUs, server workers: {args.workers or 'default (CPUs + 2)'}), \
{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.

| | |
|---|---|
| clients | {result['clients']} |
| duration | {result['duration_s']} s |
| requests | {result['requests']} ({result['requests_per_s']} req/s) |
| errors | {result['errors']} |
| p99 latency (all) | {lat['all']['p99']} ms |
| server RSS (uvicorn + workers) start / middle / end | {rss.get('start', 0) // 1024} / {rss.get('middle', 0) // 1024} \
/ {rss.get('end', 0) // 1024} MB |
| rebuilds during the run | {rb['builds']} × `budgetkg build` (A↔B){' + a no-op `/update`' if rb['updates'] else ''}, \
{len(rb['errors'])} errors, \
{rb['build_seconds'][:1]} s each |
| consistency probes | {c['probe_answers']} answers, {len(c['inconsistent'])} inconsistent; \
{c['documents_seen_in_both_versions']} of {c['documents']} documents seen in both versions |
| monotonic reads | generations {c['generations'][:1]}…{c['generations'][-1:]}: {c['generation_regressions']} answers \
from an older generation after a newer one, {c['mixed_within_a_generation']} answers differing within one generation |

| kind | requests | p50 ms | p90 ms | p99 ms | max ms |
|---|---|---|---|---|---|
{rows}

Errors (first 10): {result['error_samples'] or 'none'}
"""


def run(duration: float = 60, clients: int = 50, workers: int | None = None, out: Path | None = None,
        nudge: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="budgetkg-load-") as tmp:
        base = Path(tmp)
        versions = {v: base / v for v in "AB"}
        for v, folder in versions.items():
            write_version(folder, v)
        store = base / "store"
        build(store, versions["A"])
        with serve(store, workers) as url:
            with httpx.Client(base_url=url, timeout=60) as c:
                expected_a = totals(c.get("/sparql", params={"query": TOTALS}).json()["results"]["bindings"])
                counts = {r["doc"]["value"]: int(r["n"]["value"])
                          for r in c.get("/sparql", params={"query": TOTALS}).json()["results"]["bindings"]}
                # B raises every 预算数 by 1 万元 = 10 000 元
                expected = {d: {t, t + 10_000 * counts[d]} for d, t in expected_a.items()}
                named = [("named", q["url"].replace(url, ""), {}) for q in c.get("/queries").json()]
                iris = [b["e"]["value"] for b in c.get("/sparql", params={"query": ENTITIES}).json()
                        ["results"]["bindings"]]
            rng = random.Random(0)
            picks = rng.sample(iris, min(300, len(iris)))
            entities = [(k, "/" + iri[len(BASE):], {}) for iri in picks for k in ("entity-ttl", "entity-html")]
            targets = named * max(1, int(len(entities) * 1.5 / len(named))) + entities  # ~60 % named queries
            result = asyncio.run(drive(url, duration, clients, targets, expected,
                                       (duration / 3, 2 * duration / 3), store, versions, nudge))
    result["named_queries"] = len(named)
    result["entity_pages"] = len(entities)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        ns = argparse.Namespace(duration=duration, clients=clients, workers=workers)
        out.write_text(markdown(result, ns), encoding="utf-8")
        out.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.md")
    ap.add_argument("--nudge", action="store_true", help="after each build, also send a no-op /update (as before "
                                                          "the server watched the store's generation)")
    args = ap.parse_args()
    result = run(args.duration, args.clients, args.workers, args.out, args.nudge)
    print(json.dumps({k: v for k, v in result.items() if k != "latency_ms"}, indent=2, ensure_ascii=False))
    print("p99 ms:", {k: v["p99"] for k, v in result["latency_ms"].items()})
    c = result["consistency"]
    bad = (result["errors"] or c["inconsistent"] or c["generation_regressions"] or c["mixed_within_a_generation"]
           or result["rebuilds"]["errors"])
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
