"""Throughput and latency of the budgetkg SPARQL server next to ``oxigraph serve-read-only``.

Both servers run on loopback over the same data (the budgetkg store, and for Oxigraph a copy of its
files, or, for a store given by URL, its quads loaded with ``oxigraph load``), and are driven in
the same run by the same client: ``--concurrency`` keep-alive connections sending the named queries
round-robin for ``--duration`` seconds each, after a warm-up, the targets taking turns in slices of
``--slice`` seconds so that other load on the machine weighs on each alike. Printed per target:
requests/s, p50 and p99 latency (ms), errors, and the ratio of budgetkg's throughput to Oxigraph's::

    python -m bench.bench_endpoint [--store PATH] [--duration 10] [--concurrency 8] [--workers N]

Targets:

* ``budgetkg /queries`` — the named-query route (``/queries/<name>``, parameters bound by the
  server, :func:`kg.store.with_values`);
* ``budgetkg /sparql`` — the same query text as Oxigraph gets, through the SPARQL protocol;
* ``oxigraph /query`` — the named query with its default parameters written into the query as the
  same ``VALUES`` block (the SPARQL protocol has no parameter binding), ``--union-default-graph`` so that the
  default graph is, as in budgetkg, the union of the graphs.

Needs the ``oxigraph`` command (``pip install oxigraph``). All traffic goes to 127.0.0.1; every
loop is bounded in time; both servers are stopped at the end. A script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
RESULTS_JSON = "application/sparql-results+json"
#: The analyst's basic named queries (the default workload).
BASICS = ("projects_of_agency", "budget_by_agency", "funding_sources", "indicators_of_project",
          "projects_by_category", "special_bond_funding")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def oxigraph_command() -> str:
    found = shutil.which("oxigraph") or str(Path(sys.executable).parent / "oxigraph")
    if not Path(found).exists():
        sys.exit("bench_endpoint: the 'oxigraph' command is missing: pip install oxigraph")
    return found


def wait_for(port: int, path: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until ``GET path`` answers on ``port`` (or the process exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench_endpoint: server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                if s.recv(12).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"bench_endpoint: server on port {port} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- a small HTTP/1.1 keep-alive client: cheap per request, so the servers are what is measured --
@dataclass
class Target:
    name: str
    port: int
    requests: list[bytes]
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _client(target: Target, offset: int, until: float, record: bool) -> None:
    reader, writer = await asyncio.open_connection(HOST, target.port)
    i = offset
    try:
        while time.perf_counter() < until:
            req = target.requests[i % len(target.requests)]
            i += 1
            t0 = time.perf_counter()
            writer.write(req)
            status = await _read_response(reader)
            if record:
                target.latencies.append(time.perf_counter() - t0)
                if status != 200:
                    target.errors += 1
    finally:
        writer.close()


async def drive(target: Target, concurrency: int, seconds: float, record: bool) -> None:
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(*(_client(target, k, until, record) for k in range(concurrency)))
    if record:
        target.elapsed += time.perf_counter() - start


def get(path: str, port: int, accept: str = RESULTS_JSON) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: {accept}\r\n"
            f"Connection: keep-alive\r\n\r\n").encode()


def check_same_answers(names: list[str], texts: dict[str, str], bk_port: int, ox_port: int) -> None:
    """Both servers must give the same number of rows for every query, or the comparison means nothing."""
    import urllib.request

    limit = float(os.environ.get("BUDGETKG_QUERY_TIMEOUT") or 10) + 30  # the server's own limit, then some

    def rows(url: str) -> int:
        req = urllib.request.Request(url, headers={"Accept": RESULTS_JSON})
        with urllib.request.urlopen(req, timeout=limit) as r:
            return len(json.load(r)["results"]["bindings"])

    for n in names:
        ours = rows(f"http://{HOST}:{bk_port}/queries/{n}")
        theirs = rows(f"http://{HOST}:{ox_port}/query?" + urlencode({"query": texts[n]}, quote_via=quote))
        if ours != theirs:
            sys.exit(f"bench_endpoint: {n}: budgetkg gives {ours} rows, oxigraph {theirs}")
        print(f"  {n}: {ours} rows from both", file=sys.stderr)


def report(targets: list[Target]) -> dict[str, dict[str, float]]:
    out = {}
    print(f"\n{'target':24s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'requests':>9s} {'errors':>7s}")
    for t in targets:
        lat = sorted(t.latencies)
        n = len(lat)
        rps = n / t.elapsed if t.elapsed else 0.0
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p99 = lat[min(n - 1, int(n * 0.99))] * 1000 if lat else float("nan")
        out[t.name] = {"rps": rps, "p50_ms": p50, "p99_ms": p99, "requests": n, "errors": t.errors}
        print(f"{t.name:24s} {rps:9.1f} {p50:8.2f} {p99:8.2f} {n:9d} {t.errors:7d}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", help="budgetkg store to serve (default: build the bundled seeds into a temp dir)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of measurement per target")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target")
    ap.add_argument("--slice", type=float, default=2.0, help="targets take turns for this many seconds")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent keep-alive connections")
    ap.add_argument("--workers", type=int, default=None, help="budgetkg query worker processes (default: CPUs)")
    ap.add_argument("--queries", nargs="*", help=f"named queries to use (default: {', '.join(BASICS)})")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from kg import queries as named_queries
    from kg.settings import Settings
    from server.pages import editor_example

    oxigraph = oxigraph_command()
    tmp = Path(tempfile.mkdtemp(prefix="budgetkg-bench-"))
    procs: list[subprocess.Popen] = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x),
           "BUDGETKG_MAX_ROWS": "100000000",  # no row cap: Oxigraph has none, both must return every row
           # the workload repeats the same requests: with the result cache every repeat would be a hit, and the
           # comparison with Oxigraph (which has no cache) is of query evaluation; BUDGETKG_BENCH_CACHE_MB measures it
           "BUDGETKG_RESULT_CACHE_MB": os.environ.get("BUDGETKG_BENCH_CACHE_MB", "0")}
    try:
        store = args.store
        if store is None:
            store = str(tmp / "store")
            print(f"building the seeds into {store} …", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "budgetkg", "build", "--store", store, "--quiet"], check=True,
                           env=env, cwd=ROOT)
        oxi_store = tmp / "oxigraph"
        if (Path(store) / "CURRENT").is_file():  # a RocksDB folder: Oxigraph gets a copy of the same files
            shutil.copytree(store, oxi_store, ignore=shutil.ignore_patterns("LOCK"))
        else:
            dump = tmp / "dump.nq"
            subprocess.run([sys.executable, "-m", "budgetkg", "export", "--store", store, "--output", str(dump)],
                           check=True, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
            subprocess.run([oxigraph, "load", "--location", str(oxi_store), "--file", str(dump)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        settings = Settings.from_env(store=store)
        qs = named_queries.load_all(settings.queries_dir)
        names = args.queries or [n for n in BASICS if n in qs]
        unknown = [n for n in names if n not in qs]
        if unknown:
            sys.exit(f"bench_endpoint: no named query {', '.join(unknown)}")

        bk_port, ox_port = free_port(), free_port()
        launcher = ("import sys, uvicorn\nfrom kg.settings import Settings\nfrom server.app import create_app\n"
                    "w = int(sys.argv[3]) or None\n"
                    "uvicorn.run(create_app(Settings.from_env(store=sys.argv[1]), workers=w), host='127.0.0.1', "
                    "port=int(sys.argv[2]), log_level='warning', access_log=False)")
        procs.append(subprocess.Popen([sys.executable, "-c", launcher, store, str(bk_port), str(args.workers or 0)],
                                      env=env, cwd=ROOT))
        procs.append(subprocess.Popen([oxigraph, "serve-read-only", "--location", str(oxi_store),
                                       "--bind", f"{HOST}:{ox_port}", "--union-default-graph"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(bk_port, "/health", procs[0])
        wait_for(ox_port, "/query?query=ASK%7B%7D", procs[1])

        texts = {n: editor_example(qs[n]) for n in names}
        check_same_answers(names, texts, bk_port, ox_port)
        targets = [
            Target("budgetkg /queries", bk_port, [get(f"/queries/{n}", bk_port) for n in names]),
            Target("budgetkg /sparql", bk_port,
                   [get("/sparql?" + urlencode({"query": texts[n]}, quote_via=quote), bk_port) for n in names]),
            Target("oxigraph /query", ox_port,
                   [get("/query?" + urlencode({"query": texts[n]}, quote_via=quote), ox_port) for n in names]),
        ]
        print(f"{len(names)} named queries ({', '.join(names)}), {args.concurrency} connections, "
              f"{args.duration:g} s per target after {args.warmup:g} s warm-up; {os.cpu_count()} CPUs",
              file=sys.stderr)
        for t in targets:
            asyncio.run(drive(t, args.concurrency, args.warmup, record=False))
        # interleaved slices, so that other load on the machine weighs on every target alike
        rounds = max(1, round(args.duration / args.slice))
        for _ in range(rounds):
            for t in targets:
                asyncio.run(drive(t, args.concurrency, args.duration / rounds, record=True))
        numbers = report(targets)
        ox = numbers["oxigraph /query"]["rps"]
        for name in ("budgetkg /queries", "budgetkg /sparql"):
            ratio = numbers[name]["rps"] / ox if ox else float("nan")
            numbers[name]["ratio_to_oxigraph"] = ratio
            print(f"{name} / oxigraph throughput: {ratio:.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps(numbers, indent=1) + "\n", encoding="utf-8")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
