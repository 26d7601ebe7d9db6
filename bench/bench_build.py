"""Build throughput on a synthetic corpus, next to pyoxigraph's own ``bulk_load`` of the same quads.

    python -m bench.bench_build [--tables 10000] [--tables 100000 …] [--out bench/out]

For each size: generate the corpus (:mod:`bench.synth`), build it as ``budgetkg build`` does into
a fresh on-disk store (parse, convert and check every document with the structural shapes, in
worker processes; atomic per-document writes; then the goal links), dump the resulting N-Quads,
then time ``pyoxigraph.Store.bulk_load`` of that dump into another fresh store. The build's time
is reported whole and split into loading (everything before the links) and linking (the build's
own link report, with its steps). Each phase
runs in its own process so peak memory (VmHWM) is per phase. Prints a markdown table with
tables/s, triples/s and the ratio budgetkg / bulk_load, and writes it to ``<out>/build.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def phase_build(corpus: str, store_dir: str, dump: str) -> dict[str, float]:
    from pyoxigraph import RdfFormat, serialize

    from kg.build import workers
    from kg.pipeline import build
    from kg.settings import Settings
    from kg.shapes import structural_check
    from kg.sources import load_manifest
    from kg.store import EmbeddedStore

    man = load_manifest(Path(corpus) / "manifest.toml")
    settings = Settings(store=store_dir)
    store = EmbeddedStore(store_dir)
    t = time.perf_counter()
    report = build(store, man.entries, settings, manifest=man, check=structural_check(settings))
    seconds = time.perf_counter() - t
    links = report.links.seconds if report.links is not None else 0.0
    out = {"seconds": seconds, "load_seconds": seconds - links, "links_seconds": links,
           "links_inputs": report.links.inputs if report.links is not None else "",
           "links_steps": report.links.steps if report.links is not None else {},
           "step_seconds": report.step_seconds, "final_seconds": report.final_seconds,
           "documents_seconds": report.load_seconds,
           "workers": workers(settings, man.entries), "tables": report.projects, "quads": len(store),
           "peak_mb": _peak_rss_mb()}
    print(json.dumps(out), file=sys.stderr, flush=True)  # on record even if the dump below fails
    serialize(store.quads(), output=dump, format=RdfFormat.N_QUADS)  # every published graph, streamed
    return out


def phase_bulk(dump: str, store_dir: str) -> dict[str, float]:
    from pyoxigraph import RdfFormat, Store

    store = Store(store_dir)
    t = time.perf_counter()
    store.bulk_load(path=dump, format=RdfFormat.N_QUADS)
    store.flush()
    seconds = time.perf_counter() - t
    quads = len(store)
    return {"seconds": seconds, "quads": quads, "peak_mb": _peak_rss_mb()}


def _run(phase: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.bench_build", "--phase", phase, *args],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"bench_build --phase {phase} exited with {out.returncode}:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pyoxigraph

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}; "
            f"Python {platform.python_version()}, pyoxigraph {pyoxigraph.__version__}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", type=int, action="append", help="corpus size (repeatable; default 10000)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--phase", choices=["build", "bulk"], help=argparse.SUPPRESS)
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.phase == "build":
        print(json.dumps(phase_build(*a.args)))
        return 0
    if a.phase == "bulk":
        print(json.dumps(phase_bulk(*a.args)))
        return 0
    from bench.synth import generate

    sizes = a.tables or [10000]
    rows = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"bkbench{n}-"))
        try:
            corpus = work / "corpus"
            t = time.perf_counter()
            generate(n, corpus, seed=0)
            gen = time.perf_counter() - t
            b = _run("build", str(corpus), str(work / "store"), str(work / "dump.nq"))
            k = _run("bulk", str(work / "dump.nq"), str(work / "bulk"))
            assert b["quads"] == k["quads"], (b, k)
            rows.append((n, gen, b, k))
            print(f"{n} tables: generated in {gen:.1f} s; budgetkg {b['seconds']:.2f} s, "
                  f"bulk_load {k['seconds']:.2f} s", file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    lines = [
        "| tables | quads | budgetkg build s | of which links s | tables/s | triples/s | peak MB | bulk_load s "
        "| bulk triples/s | bulk peak MB | ratio (budgetkg/bulk_load) | ratio without links |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, _gen, b, k in rows:
        tps = b["quads"] / b["seconds"]
        ktps = k["quads"] / k["seconds"]
        lines.append(f"| {n} | {int(b['quads'])} | {b['seconds']:.2f} | {b['links_seconds']:.2f} "
                     f"| {b['tables'] / b['seconds']:.0f} | {tps:.0f} | {b['peak_mb']:.0f} | {k['seconds']:.2f} "
                     f"| {ktps:.0f} | {k['peak_mb']:.0f} | {k['seconds'] / b['seconds']:.2f} "
                     f"| {k['seconds'] / b['load_seconds']:.2f} |")
    table = "\n".join(lines)
    text = f"Build throughput (`python -m bench.bench_build`), {time.strftime('%Y-%m-%d')}\n\n" \
           f"Machine: {machine()}\n\n{table}\n"
    print(text)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "build.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
