"""Benchmark of the linking step (kg.links.refresh_links) on synthetic corpora of growing size.

For each size the corpus is generated with :func:`bench.synth.generate`, built into an on-disk
store with :func:`kg.build.build` (both are cached under ``--work`` and reused by later runs), and
the linking step is then run in a fresh process so that its time and memory are its own::

    .venv/bin/python -m bench.bench_links                       # 1k, 10k and 100k projects
    .venv/bin/python -m bench.bench_links --sizes 1000,10000    # what you have time for
    .venv/bin/python -m bench.bench_links --sizes 1000 --tracemalloc   # Python-heap peak too (slower)

It prints one row per size: the time of the whole step and of its parts (reading the store with
SPARQL, concepts, shared goals, lineage), candidate pairs scored, links and quads made, the peak
resident memory of the measuring process (and how much it grew while linking), and the ratios to
the previous size, which stay close to the size ratio when growth is near-linear. By default the
quads are made but not stored (the step's own cost); ``--write`` times ``refresh_links`` with its
write, which on large stores is bound by the store's transaction speed and memory. ``--json FILE``
writes the rows as JSON. The 100k corpus takes a while to build
(about half an hour and 25 GB of disk); the sizes actually run are the ones printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (1_000, 10_000, 100_000)


def _rss_mb() -> float:
    """Current resident set size of this process, in MB (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3  # bytes on macOS, KB on Linux


def ensure_corpus(n: int, work: Path, seed: int) -> Path:
    """The synthetic corpus of ``n`` tables (generated unless a run with the same arguments left it)."""
    from bench.synth import generate

    out = work / f"synth_{n}_s{seed}"
    stamp = out / ".complete"
    if not stamp.exists():
        generate(n, out, seed=seed, tables_per_doc=100)
        stamp.write_text(f"{n} {seed}\n")
    return out


def ensure_store(n: int, work: Path, seed: int) -> tuple[Path, float | None]:
    """The on-disk store holding the corpus of ``n`` tables, and the build's seconds when it was built now."""
    corpus = ensure_corpus(n, work, seed)
    store = work / f"store_{n}_s{seed}"
    stamp = work / f"store_{n}_s{seed}.complete"
    if stamp.exists():
        return store, None
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench.bench_links", "--_build", str(corpus), str(store)],
                   cwd=ROOT, check=True)
    stamp.write_text(f"{n} {seed}\n")
    return store, time.perf_counter() - started


def _build(corpus: Path, store_path: Path) -> None:
    from kg.pipeline import build
    from kg.settings import Settings
    from kg.sources import load_manifest
    from kg.store import EmbeddedStore

    manifest = load_manifest(corpus / "manifest.toml")
    settings = Settings.from_env(env={}, store=str(store_path), manifest=corpus / "manifest.toml")
    store = EmbeddedStore(store_path)
    report = build(store, manifest.entries, settings, manifest=manifest,
                   progress=lambda name, i, total: i % 100 == 0 and print(f"  built {i}/{total} documents",
                                                                          file=sys.stderr, flush=True))
    print(f"  {report.projects} projects, {report.quads} quads", file=sys.stderr, flush=True)
    store.flush()


def _measure(store_path: Path, use_tracemalloc: bool, write: bool) -> dict[str, object]:
    """Run the linking step once on the store, in this fresh process, and report time and memory.

    Without ``write`` the links and all their quads are computed (the store is read with SPARQL as
    always) but the quads are dropped as they are made: the step's own cost, not the store's write
    speed. With ``write`` it is ``refresh_links`` itself, writing the links graph.
    """
    from kg.links import LinkSettings, compute_links, refresh_links
    from kg.settings import Settings
    from kg.store import EmbeddedStore

    store = EmbeddedStore(store_path)
    settings = Settings.from_env(env={}, store=str(store_path))
    baseline = _rss_mb()
    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    started = time.perf_counter()
    if write:
        report = refresh_links(store, settings, LinkSettings.from_env(env={}))
    else:
        _, report = compute_links(store, settings, LinkSettings.from_env(env={}), sink=lambda chunk: None)
    seconds = time.perf_counter() - started
    result: dict[str, object] = {
        "projects": report.projects, "seconds": round(seconds, 2), "steps": report.steps, "wrote": write,
        "candidate_pairs": report.candidate_pairs, "shared_goal_links": report.shared_goal_links,
        "lineage_links": report.lineage_links, "tranche_links": report.tranche_links,
        "served_unit_links": report.served_unit_links, "concepts": report.indicator_concepts,
        "quads": report.quads, "baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    if use_tracemalloc:
        import tracemalloc

        result["python_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
        tracemalloc.stop()
    return result


def measure(store: Path, use_tracemalloc: bool, write: bool) -> dict[str, object]:
    cmd = [sys.executable, "-m", "bench.bench_links", "--_measure", str(store)]
    if use_tracemalloc:
        cmd.append("--tracemalloc")
    if write:
        cmd.append("--write")
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, object]]) -> str:
    head = ("projects", "link s", "read s", "concepts s", "shared-goal s", "lineage s", "write s", "µs/project",
            "candidates", "goal links", "lineage+tranche", "quads", "peak RSS MB", "RSS growth MB", "× size",
            "× time", "× memory")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    prev: dict[str, object] | None = None
    for r in rows:
        steps = r["steps"]  # type: ignore[index]
        growth = float(r["peak_rss_mb"]) - float(r["baseline_rss_mb"])  # type: ignore[arg-type]
        ratios = ("", "", "")
        if prev is not None:
            pgrowth = float(prev["peak_rss_mb"]) - float(prev["baseline_rss_mb"])  # type: ignore[arg-type]
            ratios = (f"{int(r['projects']) / int(prev['projects']):.1f}",  # type: ignore[arg-type]
                      f"{float(r['seconds']) / float(prev['seconds']):.1f}",  # type: ignore[arg-type]
                      f"{growth / pgrowth:.1f}" if pgrowth > 0 else "")
        step = steps.get  # type: ignore[union-attr]
        lines.append(" | ".join(str(x) for x in (
            r["projects"], r["seconds"], step("read"), step("concepts"), step("shared-goals"), step("lineage"),
            step("write", "-"), round(float(r["seconds"]) * 1e6 / max(int(r["projects"]), 1)),  # type: ignore[arg-type]
            r["candidate_pairs"], r["shared_goal_links"],
            int(r["lineage_links"]) + int(r["tranche_links"]), r["quads"],  # type: ignore[arg-type]
            r["peak_rss_mb"], round(growth, 1), *ratios)))
        prev = r
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_links", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="comma-separated numbers of projects (tables), e.g. 1000,10000,100000")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "budgetkg-bench-links",
                    help="where corpora and stores are kept between runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tracemalloc", action="store_true", help="also report the Python heap peak (slower)")
    ap.add_argument("--write", action="store_true",
                    help="time refresh_links with its write of the links graph (default: compute only)")
    ap.add_argument("--json", type=Path, help="write the rows to this file as JSON")
    ap.add_argument("--_build", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_measure", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._build:
        _build(*args._build)
        return 0
    if args._measure:
        print(json.dumps(_measure(args._measure, args.tracemalloc, args.write)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        print(f"{n} projects: corpus and store in {args.work} …", file=sys.stderr, flush=True)
        store, built = ensure_store(n, args.work, args.seed)
        if built is not None:
            print(f"  built in {built:.0f} s", file=sys.stderr, flush=True)
        row = measure(store, args.tracemalloc, args.write)
        row["size"] = n
        rows.append(row)
        print(f"  linked in {row['seconds']} s, peak RSS {row['peak_rss_mb']} MB", file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
