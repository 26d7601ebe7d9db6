"""Fault runs, with their figures recorded in ``bench/results/faults.md`` (see docs/reliability.md).

    python -m bench.faults [--kills 10] [--parts kill,damage,bigdoc,query] [--big-tables 12500]

- ``kill``: a store built from the seeds; ``budgetkg build`` of the raised-budget version (tests/test_crash.py)
  killed with SIGKILL at random moments. After each kill, as a reader opens it: the graphs ``GRAPH ?g``
  lists, projects per graph, whether it reads through the union default graph, and the time of a
  query against the same query on a clean store.
- ``damage``: a copy of the seed store damaged five ways; ``stats``, ``query``, ``build`` and
  ``check-store`` on each: exit status and message.
- ``bigdoc``: one document of ``--big-tables`` synthetic tables (bench.synth's documents concatenated,
  ~3.9 MB for the default 2 500, ~20 MB for 12 500) built in a child process: seconds, peak RSS
  (the process and its children), the write-ahead log left, and how long ``budgetkg stats`` then takes; a document over
  ``BUDGETKG_MAX_DOCUMENT_MB`` is refused.
- ``query``: ``budgetkg serve`` with its default ``BUDGETKG_WORKER_MEMORY_MB``; the worst queries of the
  fault report (ORDER BY over a cross product; nine nested OPTIONALs): status, seconds, the worker's
  address space at idle, after a normal query, and its peak.

Every child runs under a 10 GB address-space cap and a watchdog, so a run cannot take the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CAP = 10 << 30


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> tuple[int, str, str, float]:
    t = time.perf_counter()
    p = subprocess.run([PY, "-m", "budgetkg", *args], cwd=ROOT, env={**ENV, **(env or {})}, capture_output=True,
                       text=True, timeout=timeout, preexec_fn=_capped)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t


def status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("VmPeak", "VmSize", "VmRSS", "VmHWM")):
                    out[line.split(":")[0]] = int(line.split()[1]) // 1024
    except OSError:
        pass
    return out


# -- kill -----------------------------------------------------------------------------------------------------
PROJECTS = """PREFIX bk: <https://budgetkg.example.org/def/>
SELECT ?g (COUNT(DISTINCT ?p) AS ?n) WHERE { GRAPH ?g { ?p a bk:Project } } GROUP BY ?g"""
TIMED = """PREFIX bk: <https://budgetkg.example.org/def/>
SELECT ?unit (SUM(?b) AS ?total) WHERE { ?p a bk:Project ; bk:budgetUnitCode ?unit ; bk:budget ?b } GROUP BY ?unit"""


def reader_view(store: Path) -> dict[str, object]:
    from kg.store import STAGING_PREFIX, EmbeddedStore

    r = EmbeddedStore(store, read_only=True)
    try:
        graphs = [s["g"].value for s in r.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")]
        per = {s["g"].value: int(s["n"].value) for s in r.query(PROJECTS)}
        t = time.perf_counter()
        for _ in range(5):
            list(r.query(TIMED))
        seconds = (time.perf_counter() - t) / 5
        return {"graphs": len(graphs), "staging": sum(g.startswith(STAGING_PREFIX) for g in graphs),
                "projects": sum(per.values()), "union": not r.hides_graphs(), "query_s": seconds}
    finally:
        r.close()


def part_kill(kills: int, work: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.test_crash import write_version

    for v in "AB":
        write_version(work / v, v)
    store = work / "store"
    rc, _, err, full = cli("build", "--quiet", "--no-check", "--store", str(store), "--manifest",
                           str(work / "A" / "manifest.toml"))
    assert rc == 0, err
    clean = reader_view(store)
    rng = random.Random(1)
    rows, version = [], "B"
    for i in range(kills):
        delay = rng.uniform(0.3, full * 0.9)
        p = subprocess.Popen([PY, "-m", "budgetkg", "build", "--quiet", "--no-check", "--store", str(store),
                              "--manifest", str(work / version / "manifest.toml")], cwd=ROOT, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_capped)
        time.sleep(delay)
        alive = p.poll() is None
        p.send_signal(signal.SIGKILL)
        p.wait()
        v = reader_view(store)
        rows.append(f"| {i + 1} | {delay:.2f} s{'' if alive else ' (had ended)'} | {v['graphs']} | {v['staging']} | "
                    f"{v['projects']} | {'union' if v['union'] else '**graph list**'} | "
                    f"{v['query_s'] * 1000:.1f} ms ({v['query_s'] / clean['query_s']:.2f}×) |")
        version = "A" if version == "B" else "B"
    head = [f"Clean store: {clean['graphs']} graphs, {clean['projects']} projects, "
            f"query {clean['query_s'] * 1000:.1f} ms; a full build {full:.2f} s (its start-up included).", "",
            "| kill | after | graphs (GRAPH ?g) | staging | projects | reader plan | query (vs clean) |",
            "|---:|---|---:|---:|---:|---|---|"]
    return head + rows


# -- damage ---------------------------------------------------------------------------------------------------
def part_damage(work: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.test_store_damage import damage

    clean = work / "clean"
    rc, _, err, _ = cli("build", "--quiet", "--store", str(clean))
    assert rc == 0, err
    rows = ["| damage | command | exit | message (first line) |", "|---|---|---:|---|"]
    for kind in ("truncated sst", "deleted sst", "empty MANIFEST", "deleted CURRENT", "scribbled sst"):
        store = work / kind.replace(" ", "-")
        shutil.copytree(clean, store, ignore=shutil.ignore_patterns("LOCK"))
        damage(kind, store)
        for cmd in (["check-store"], ["stats"], ["query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"],
                    ["build", "--quiet"]):
            rc, _, err, _ = cli(*cmd, "--store", str(store), timeout=300)
            first = " ".join(err.split()).replace(str(work) + "/", "")
            first = first.split(" nothing was read")[0][:230] or "(no message: it read what it needed)"
            rows.append(f"| {kind} | {cmd[0]} | {rc} | {first.replace('|', '/')} |")
    return rows


# -- bigdoc ---------------------------------------------------------------------------------------------------
def watch(cmd: list[str], env: dict[str, str], limit_mb: int = 9000) -> tuple[int, float, int, str]:
    """Run ``cmd``; returns exit status, seconds, peak RSS (MB, the process and its children), stderr tail."""
    t = time.perf_counter()
    err = tempfile.TemporaryFile()  # noqa: SIM115 (read after the child has gone)
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_capped)
    peak = 0
    while p.poll() is None:
        pids = [p.pid] + [int(x) for x in subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                                                         text=True).stdout.split()]
        rss = sum(status(x).get("VmRSS", 0) for x in pids)
        peak = max(peak, rss)
        if rss > limit_mb:
            p.kill()
        time.sleep(0.2)
    err.seek(0)
    return p.returncode, time.perf_counter() - t, peak, err.read().decode()[-600:]


def part_bigdoc(tables: int, work: Path) -> list[str]:
    corpus = work / "synth"
    subprocess.run([PY, "-m", "bench.synth", "--tables", str(tables), "--out", str(corpus)], cwd=ROOT, env=ENV,
                   check=True, capture_output=True)
    big = work / "big.txt"
    with big.open("wb") as out:
        for f in sorted(corpus.glob("synth_*.txt")):
            out.write(f.read_bytes())
    size = big.stat().st_size / 1048576
    store = work / "bigstore"
    rc, secs, peak, err = watch([PY, "-m", "budgetkg", "build", "--quiet", "--year", "2024", "--store", str(store),
                                 str(big)], ENV)
    wal = sum(f.stat().st_size for f in store.glob("*.log")) / 1048576 if store.exists() else 0
    rc2, _, _, stats_s = cli("stats", "--store", str(store))
    over = work / "over.txt"
    over.write_bytes(big.read_bytes() + big.read_bytes()[: 2 << 20])
    rc3, _, err3, _ = cli("build", "--quiet", "--year", "2024", "--store", str(work / "overstore"), str(over))
    return [f"| document | {size:.1f} MB, {tables} tables |", "|---|---|",
            f"| build | exit {rc}, {secs:.0f} s, peak RSS {peak} MB{'' if rc == 0 else ': ' + err[-200:]} |",
            f"| write-ahead log left | {wal:.1f} MB |",
            f"| `budgetkg stats` afterwards | exit {rc2}, {stats_s:.1f} s |",
            f"| a {over.stat().st_size / 1048576:.1f} MB document | exit {rc3}: {' '.join(err3.split())[:200]} |"]


# -- query ----------------------------------------------------------------------------------------------------
HUNGRY = {
    "ORDER BY over a cross product": "SELECT ?a ?b WHERE { ?a ?p ?x . ?b ?q ?y } ORDER BY ?x ?y LIMIT 1",
    "nine nested OPTIONALs": "SELECT * WHERE { ?s ?p ?o " + "".join(f"OPTIONAL {{ ?s{i} ?p{i} ?o{i} " for i in range(9))
                             + "}" * 9 + " } LIMIT 10",
}


def part_query(work: Path) -> list[str]:
    import httpx

    from kg.settings import Settings

    store = work / "qstore"
    rc, _, err, _ = cli("build", "--quiet", "--store", str(store))
    assert rc == 0, err
    port = 8700 + random.randrange(200)
    p = subprocess.Popen([PY, "-m", "budgetkg", "serve", "--store", str(store), "--port", str(port), "--workers", "1",
                          "--log-level", "warning"], cwd=ROOT, env={**ENV, "BUDGETKG_QUERY_TIMEOUT": "30"})
    url = f"http://127.0.0.1:{port}"
    rows = [f"Default limit: {Settings.from_env().worker_memory_mb} MB (BUDGETKG_WORKER_MEMORY_MB), time limit 30 s.",
            "",
            "| query | status | seconds | body |", "|---|---:|---:|---|"]
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)

        def worker() -> dict[str, int]:
            pids = httpx.get(url + "/health").json()["pids"]
            return status(pids[0]) if pids else {}

        idle = worker()
        httpx.get(url + "/queries/funding_sources", timeout=60)
        normal = worker()
        for name, q in HUNGRY.items():
            t = time.perf_counter()
            r = httpx.post(url + "/sparql", data={"query": q}, timeout=120)
            rows.append(f"| {name} | {r.status_code} | {time.perf_counter() - t:.1f} | {r.text[:120].strip()} |")
        after = httpx.get(url + "/queries/funding_sources", timeout=60).status_code
        rows += ["", f"Worker at idle: address space {idle.get('VmSize')} MB (peak {idle.get('VmPeak')}), RSS "
                 f"{idle.get('VmRSS')} MB; after a named query: {normal.get('VmSize')} MB, "
                 f"RSS {normal.get('VmRSS')} MB. "
                 f"The next request: {after}."]
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(20)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--big-tables", type=int, default=2500)
    ap.add_argument("--parts", default="kill,damage,bigdoc,query")
    args = ap.parse_args()
    parts = args.parts.split(",")
    out = [f"# Fault runs — latest results\n\n`python -m bench.faults --parts {args.parts}` on {os.cpu_count()} CPUs, "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n"]
    with tempfile.TemporaryDirectory(prefix="budgetkg-faults-") as tmp:
        work = Path(tmp)
        for name, run in (("kill", lambda: part_kill(args.kills, work / "kill")),
                          ("damage", lambda: part_damage(work / "damage")),
                          ("bigdoc", lambda: part_bigdoc(args.big_tables, work / "bigdoc")),
                          ("query", lambda: part_query(work / "query"))):
            if name in parts:
                (work / name).mkdir()
                t = time.perf_counter()
                rows = run()
                out += [f"## {name} ({time.perf_counter() - t:.0f} s)\n", *rows, ""]
                print("\n".join(out[-len(rows) - 2:]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "faults.md").write_text("\n".join(out) + "\n", encoding="utf-8")
    json.dumps(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
