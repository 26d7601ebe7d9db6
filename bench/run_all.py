"""Every benchmark, per corpus size, in one command, into one markdown table.

    python -m bench.run_all --tables 1000 --tables 10000 [--tables 100000] [--duration 6] [--concurrency 8]

For each size: generate the synthetic corpus (:mod:`bench.synth`), then, each step in a fresh
process so that its peak memory (VmHWM) is its own:

1. **build** it with ``kg.build.build`` into an on-disk store, dump the quads, and ``bulk_load``
   the same quads into another store (:mod:`bench.bench_build`'s phases);
2. **endpoint**: the budgetkg server and ``oxigraph serve-read-only`` on the same data, same
   concurrency, same run (:mod:`bench.bench_endpoint`), while the resident memory of each server's
   process tree (the budgetkg server with its worker processes) is sampled every 0.2 s;
3. **queries**: the first request of every named query on the budgetkg server (result cache off) next to its
   plain SPARQL on ``oxigraph serve-read-only``, answers compared row by row, then the repeated request with
   the cache on (:mod:`bench.bench_named`);
4. **validate**: ``kg.shapes.validate`` of the whole store with every shape (fast path);
5. **link**: ``kg.links.compute_links`` (:mod:`bench.bench_links`'s measurement);
6. **servers**: embedded Oxigraph, ``oxigraph serve`` and Virtuoso side by side (:mod:`bench.bench_servers`):
   loading (the build above, ``oxigraph load``, Virtuoso's bulk loader and ``budgetkg build`` into Virtuoso,
   the last left out by ``--no-virtuoso-build``), the first request of each named query on each, and memory;
7. **cli**: ``budgetkg --help`` and ``budgetkg stats`` on the store, each a fresh process, next to the interpreter
   alone and the interpreter opening the store with pyoxigraph (:mod:`bench.bench_cli`).
8. **pages**: the HTML pages of 10 projects, budget units and departments, each fetched twice from ``budgetkg
   serve`` with ``Cache-Control: no-cache`` (:mod:`bench.bench_pages`).

It writes the table, with the ratios to the targets and the machine, to ``bench/results/latest.md``,
copies it into the README (between ``<!-- bench:start -->`` and ``<!-- bench:end -->``) and prints
it. Steps can be left out with ``--skip endpoint`` etc. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("build", "endpoint", "queries", "validate", "links", "servers", "cli", "pages")
DEFAULT_OUT = ROOT / "bench" / "results" / "latest.md"


# -- phases run in their own process ------------------------------------------------------------
def phase_validate(store_dir: str) -> dict[str, float]:
    from bench.bench_build import _peak_rss_mb
    from kg.settings import Settings
    from kg.shapes import load_shapes, validate
    from kg.store import EmbeddedStore

    shapes = load_shapes(Settings().shapes_dir)
    store = EmbeddedStore(store_dir, read_only=True)
    t = time.perf_counter()
    report = validate(store, shapes)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "findings": len(report.findings), "peak_mb": _peak_rss_mb()}


def phase_links(store_dir: str) -> dict[str, object]:
    from bench.bench_links import _measure

    return _measure(Path(store_dir), use_tracemalloc=False, write=False)


def run_cli(store: str) -> dict:
    from bench.bench_cli import measure

    return measure(store)


def run_pages(store: str) -> dict:
    from bench.bench_pages import measure

    return measure(store, samples=10, workers=2)


def _phase(name: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.run_all", "--phase", name, *args],
                         cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- memory of a process tree -------------------------------------------------------------------
def _tree_rss_mb(root: int) -> dict[str, float]:
    """Resident MB of ``root``'s descendants, summed per kind: the oxigraph server, the budgetkg server."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    sums = {"oxigraph": 0.0, "budgetkg": 0.0}

    def walk(pid: int, kind: str | None) -> None:
        for c in children.get(pid, []):
            k = kind
            if k is None:
                try:
                    cmd = Path(f"/proc/{c}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"serve-read-only" in cmd:
                    k = "oxigraph"
                elif b"uvicorn" in cmd:
                    k = "budgetkg"
            if k is not None:
                try:
                    for line in Path(f"/proc/{c}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            sums[k] += int(line.split()[1]) / 1024
                except OSError:
                    pass
            walk(c, k)

    walk(root, None)
    return sums


def run_endpoint(store: str, duration: float, concurrency: int, workers: int | None, out: Path,
                 query_timeout: float = 10.0) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_endpoint", "--store", store, "--duration", str(duration),
           "--concurrency", str(concurrency), "--json", str(out)]
    if workers:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "BUDGETKG_QUERY_TIMEOUT": str(query_timeout)}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    peaks = {"oxigraph": 0.0, "budgetkg": 0.0}
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            now = _tree_rss_mb(proc.pid)
            samples.append(now["budgetkg"])
            for k, v in now.items():
                peaks[k] = max(peaks[k], v)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    log, _ = proc.communicate()
    done.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"bench_endpoint failed:\n{log}")
    numbers = json.loads(out.read_text(encoding="utf-8"))
    active = [s for s in samples if s > 0]
    # bounded memory: the budgetkg tree's RSS in the last quarter of the run against the first quarter
    q = max(1, len(active) // 4)
    numbers["memory"] = {"budgetkg_peak_mb": peaks["budgetkg"], "oxigraph_peak_mb": peaks["oxigraph"],
                         "budgetkg_first_quarter_mb": max(active[:q], default=0.0),
                         "budgetkg_last_quarter_mb": max(active[-q:], default=0.0)}
    return numbers


def run_queries(store: str, workers: int | None, out: Path, only: list[str] | None = None) -> dict:
    cmd = [sys.executable, "-m", "bench.bench_named", "--store", store, "--json", str(out)]
    cmd += [f"--only={name}" for name in only or ()]
    if workers:
        cmd += ["--workers", str(workers)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench_named failed:\n{done.stdout}{done.stderr}")
    return json.loads(out.read_text(encoding="utf-8"))


def run_servers(store: str, corpus: Path, build: dict | None, out: Path, virtuoso_build: bool,
                only: list[str] | None = None) -> dict:
    """:mod:`bench.bench_servers` on the store, with this run's build time when it measured one."""
    cmd = [sys.executable, "-m", "bench.bench_servers", "--store", store, "--corpus", str(corpus),
           "--json", str(out), "--work", str(out.parent)]
    cmd += [f"--only={name}" for name in only or ()]
    if build:
        cmd += ["--build-seconds", str(build["seconds"]), "--build-peak-mb", str(build["peak_mb"])]
    if not virtuoso_build:
        cmd.append("--no-virtuoso-build")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench_servers failed:\n{done.stdout}{done.stderr[-6000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


# -- the report -----------------------------------------------------------------------------------
def machine() -> str:
    from bench.bench_build import machine as describe

    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
    except OSError:
        pass
    return describe() + mem


def _f(x: object, spec: str = ".2f") -> str:
    return "—" if x is None else format(x, spec)


def render(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"# budgetkg benchmarks — {time.strftime('%Y-%m-%d')}",
        "",
        f"Machine: {machine()}",
        "",
        (f"Merged from {len(args.merged)} runs ({', '.join(f'`{Path(m).name}`' for m in args.merged)}); "
         "how each ran is in docs/scale.md." if getattr(args, "merged", None) else
         f"Command: `python -m bench.run_all {' '.join(f'--tables {n}' for n in args.tables)}"
         f" --duration {args.duration:g} --concurrency {args.concurrency} --query-timeout {args.query_timeout:g}`.")
        + " Synthetic corpora from `bench/synth.py`"
        " (seed 0, 100 tables per document). Each step runs in its own process; peak MB is its VmHWM "
        "(servers: the summed RSS of the server's process tree, sampled every 0.2 s).",
        "",
        "## Build vs `bulk_load` (target: ratio ≥ 0.50 at 100k)",
        "",
        "The build is `budgetkg build`'s: parse, convert and check each document with the structural shapes "
        "(in worker processes), write it atomically, then compute the goal links. `bulk_load` loads the "
        "finished store's N-Quads, links included. The ratio is bulk_load's time over the build's; the "
        "last column leaves the links out of the build.",
        "",
        "| tables | quads | build s | of which links s | triples/s | peak MB | bulk_load s | triples/s | peak MB "
        "| ratio | target met | ratio without links |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:--|---:|",
    ]
    for r in rows:
        b, k = r.get("build"), r.get("bulk")
        if not b:
            continue
        tps, ktps = b["quads"] / b["seconds"], k["quads"] / k["seconds"]
        ratio = k["seconds"] / b["seconds"]
        plain = k["seconds"] / b["load_seconds"] if b.get("load_seconds") else None
        lines.append(f"| {r['n']} | {int(b['quads'])} | {b['seconds']:.1f} | {_f(b.get('links_seconds'), '.1f')} "
                     f"| {tps:,.0f} | {b['peak_mb']:.0f} | {k['seconds']:.1f} | {ktps:,.0f} | {k['peak_mb']:.0f} "
                     f"| {ratio:.2f} | {'yes' if ratio >= 0.5 else 'no'} | {_f(plain)} |")
    for r in rows:
        steps = (r.get("build") or {}).get("step_seconds")
        if steps:
            lines += ["", f"Derived steps of the {r['n']}-table build (s): "
                      + ", ".join(f"{name} {sec:.1f}" for name, sec in steps.items())
                      + f"; the documents before them {_f(r['build'].get('documents_seconds'), '.1f')}"
                      + "".join("; after them: " + ", ".join(f"{name} {sec:.1f}" for name, sec in final.items())
                                for final in [r["build"].get("final_seconds")] if final) + "."]
    lines += ["", "## Endpoint vs `oxigraph serve-read-only` (target: budgetkg req/s ≥ 0.80 × oxigraph)", "",
              "| tables | target | req/s | p50 ms | p99 ms | errors | ratio to oxigraph | peak MB | target met |",
              "|---:|:--|---:|---:|---:|---:|---:|---:|:--|"]
    for r in rows:
        e = r.get("endpoint")
        if not e:
            continue
        m = e["memory"]
        for name in ("budgetkg /queries", "budgetkg /sparql", "oxigraph /query"):
            x = e[name]
            ratio = x.get("ratio_to_oxigraph")
            peak = m["oxigraph_peak_mb"] if name.startswith("oxigraph") else m["budgetkg_peak_mb"]
            met = "" if ratio is None else ("yes" if ratio >= 0.8 else "no")
            lines.append(f"| {r['n']} | {name} | {x['rps']:.2f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} "
                         f"| {x['errors']} | {_f(ratio)} | {peak:.0f} | {met} |")
    lines += ["", "Server memory under load (budgetkg server + workers, max RSS in the first and last quarter "
              "of the run; bounded when the last is not above the first):", "",
              "| tables | first quarter MB | last quarter MB | bounded |", "|---:|---:|---:|:--|"]
    for r in rows:
        e = r.get("endpoint")
        if e:
            m = e["memory"]
            a, b2 = m["budgetkg_first_quarter_mb"], m["budgetkg_last_quarter_mb"]
            lines.append(f"| {r['n']} | {a:.0f} | {b2:.0f} | {'yes' if b2 <= a * 1.1 + 5 else 'no'} |")
    for soak in sorted((ROOT / "bench" / "results").glob("soak-*.json")):  # longer runs of bench.soak
        k = json.loads(soak.read_text(encoding="utf-8"))
        lines += ["", f"Over a longer load (`bench/results/{soak.stem}.md`, `bench.soak`, {k['minutes']:g} minutes, "
                      f"{k['requests']} requests, {k['errors']} errors): the tree went from {k['start_mb']:.0f} MB "
                      f"to at most {k['max_mb']:.0f} MB (cap {k['cap_mb']:.0f} MB); its middle third peaked at "
                      f"{k['middle_third_max_mb']:.0f} MB, its last at {k['last_third_max_mb']:.0f} MB; "
                      f"{k['recycled']} workers were replaced: "
                      f"**{'bounded' if k['bounded'] else 'not shown to be bounded'}**."]
    lines += named_queries(rows)
    lines += servers(rows)
    lines += command_line(rows)
    lines += entity_pages(rows)
    lines += ["", "## Validation and goal linking (target: linking close to linear)", "",
              "`budgetkg link` on the built store: reading its inputs from the store with SPARQL, then computing "
              "the links (not writing them). A build that covers the whole store skips the read (it links what it "
              "has parsed), so the compute columns are what a build's linking scales with.", "",
              "| tables | validate s | tables/s | peak MB | link s | of which read s | compute s | µs/table computed "
              "| × size | × link time | × compute time | peak MB |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    prev = None

    def compute(lk: dict) -> float:
        return sum(v for k, v in lk.get("steps", {}).items() if k != "read")

    for r in rows:
        v, lk = r.get("validate"), r.get("links")
        xs = xt = xc = "—"
        if lk and prev:
            xs, xt = f"{r['n'] / prev['n']:.0f}", f"{lk['seconds'] / prev['links']['seconds']:.1f}"
            xc = f"{compute(lk) / compute(prev['links']):.1f}"
        lines.append(
            f"| {r['n']} | {_f(v and v['seconds'], '.1f')} | {_f(v and r['n'] / v['seconds'], ',.0f')} "
            f"| {_f(v and v['peak_mb'], '.0f')} | {_f(lk and lk['seconds'], '.1f')} "
            f"| {_f(lk and lk.get('steps', {}).get('read'), '.1f')} | {_f(lk and compute(lk), '.1f')} "
            f"| {_f(lk and compute(lk) * 1e6 / max(r['n'], 1), ',.0f')} | {xs} | {xt} | {xc} "
            f"| {_f(lk and lk['peak_rss_mb'], '.0f')} |")
        if lk:
            prev = r
    loads = ", ".join(f"{r['n']}: {r['load']:.1f}" for r in rows if "load" in r)
    lines += ["", f"1-minute load average when each size started ({os.cpu_count()} CPUs): {loads}. Other work on "
              "the machine slows the sequential steps (build, then bulk_load) unequally; the endpoint targets "
              "take turns in short slices, so their ratio is the robust one."]
    failed = [f"- {r['n']} tables, {e}" for r in rows for e in r.get("errors", [])]
    if failed:
        lines += ["", "## Steps that failed", "", *failed]
    return "\n".join(lines) + "\n"


def command_line(rows: list[dict]) -> list[str]:
    """The section of the command line's own times (:mod:`bench.bench_cli`)."""
    measured = [r for r in rows if r.get("cli")]
    if not measured:
        return []
    lines = ["", "## Command line (targets: `budgetkg --help` ≤ 0.3 s; `budgetkg stats` ≤ 1 s at 100k)", "",
             "Each command a fresh process, timed on the wall clock: one run to warm the page cache, then the median "
             "and the slowest of the runs. The peers, timed alike: `python -c pass`, and `python -c` opening the same "
             "store read-only with pyoxigraph and nothing else; × open is `stats` over that.", "",
             "| tables | `--help` s (max) | `python -c pass` s | `stats` s (max) | `stats --format json` s "
             "| pyoxigraph open s | × open | targets met |", "|---:|---:|---:|---:|---:|---:|---:|:--|"]
    for r in measured:
        c = r["cli"]
        h, st, js, op = c["help"], c["stats"], c["stats_json"], c["open"]
        met = h["median"] <= 0.3 and st["median"] <= 1.0
        lines.append(f"| {r['n']} | {h['median']:.3f} ({h['max']:.3f}) | {c['python']['median']:.3f} "
                     f"| {st['median']:.3f} ({st['max']:.3f}) | {js['median']:.3f} | {op['median']:.3f} "
                     f"| {st['median'] / op['median']:.1f} | {'yes' if met else 'no'} |")
    return lines


def entity_pages(rows: list[dict]) -> list[str]:
    """The section of the entity pages' times (:mod:`bench.bench_pages`), one table per size."""
    from bench.bench_pages import TARGET_MS, table_lines

    measured = [r for r in rows if r.get("pages")]
    if not measured:
        return []
    lines = ["", f"## Entity pages (target: p50 ≤ {TARGET_MS:g} ms at 100k)", "",
             "`budgetkg serve` with 2 workers; 10 pages of each kind spread over the store, each fetched twice as HTML "
             "with `Cache-Control: no-cache` (computed each time), one request at a time, timed by the client (ms)."]
    for r in measured:
        x = r["pages"]
        met = ", ".join(f"{kind} {'yes' if k['first']['p50'] <= TARGET_MS and k['warm']['p50'] <= TARGET_MS else 'no'}"
                        for kind, k in x["kinds"].items())
        lines += ["", f"**{r['n']} tables** (target met: {met}; slowest `{x['slowest']['path']}` "
                      f"{x['slowest']['ms']:.0f} ms; load {x['load'][0]:.1f} before, {x['load'][1]:.1f} after)", "",
                  *table_lines(x["kinds"])]
    return lines


def named_queries(rows: list[dict]) -> list[str]:
    """The section of the named queries' first requests (:mod:`bench.bench_named`), one table per size."""
    from bench.bench_named import FIRST_S, P50_S, RATIO, cases_from, table

    measured = [r for r in rows if r.get("queries")]
    if not measured:
        return []
    lines = ["", f"## Named queries vs `oxigraph serve-read-only` (targets: every first request ≤ {FIRST_S:g} s and "
             f"p50 ≤ {P50_S * 1000:g} ms at 100k; summed ≥ {RATIO:g}× faster at 10k and 100k)", "",
             "One first request per case, timed by the client: `GET /queries/NAME?…` (CSV) on `budgetkg serve` with "
             "its result cache off, so every request is computed, and the plain SPARQL (the text a rewritten query "
             "was rewritten from) with the same values bound in a VALUES block, POSTed to `oxigraph serve-read-only` "
             "on a copy of the store. Cases: each named query's defaults, the cases of `bench/bench_queries.py` and "
             "a department, budget unit or project the store holds that no case asks for (new). The answers are "
             "compared row by row. The repeated request is the same request again on a server with the cache on."]
    for r in measured:
        q = r["queries"]
        s, again = q["first_summary"], q["repeated_summary"]
        new = ", ".join(f"{k} {v}" for k, v in q.get("new_values", {}).items()) or "none"

        def met(flag: object) -> str:
            return "yes" if flag else "no"

        lines += ["", f"**{r['n']} tables** ({s['cases']} cases, {s['errors']} failed, {s['skipped']} skipped; "
                      f"new values: {new})", "", *table(cases_from(q["first"])),
                  f"| **sum** | | | {_f(s['budgetkg_sum_s'], '.3f')} | {_f(s['oxigraph_sum_s'], '.3f')} "
                  f"| {_f(s['ratio'], '.1f')} | ratio ≥ {RATIO:g}: {met(s['ratio_met'])} |",
                  f"| **p50** | | | {_f(s['budgetkg_p50_s'], '.3f')} | | | ≤ {P50_S:g} s: {met(s['p50_met'])} |",
                  f"| **max** | | | {_f(s['budgetkg_max_s'], '.3f')} | | "
                  f"| every first request ≤ {FIRST_S:g} s: {met(s['first_within_1s'])} |",
                  f"| **repeated request, sum** (cache on) | | | {_f(again['budgetkg_sum_s'], '.3f')} "
                  f"| {_f(again['oxigraph_sum_s'], '.3f')} | {_f(again['ratio'], '.1f')} "
                  f"| p50 {_f(again['budgetkg_p50_s'], '.3f')} s, max {_f(again['budgetkg_max_s'], '.3f')} s |",
                  "", f"Answers identical or the same rows in every case: {_answered(s, q['first'])} (first request), "
                      f"{_answered(again, q.get('repeated', []))} (repeated request)."]
    return lines


def _answered(summary: dict, cases: list[dict]) -> str:
    """Whether every case's answers compared the same; when not, whether a server failed (named, with its error)
    or an answer differed.

    >>> _answered({"answers_same": False}, [{"query": "q", "error": "ReadTimeout: timed out", "answers": ""}])
    'no: 1 case not compared, a server failed (q: ReadTimeout: timed out)'
    """
    if summary.get("answers_same"):
        return "yes"
    failed = [c for c in cases if c.get("error")]
    different = sum(1 for c in cases if c.get("answers") == "DIFFERENT")
    parts = []
    if different:
        parts.append(f"{different} case{'s' * (different > 1)} DIFFERENT")
    if failed:
        shown = "; ".join(sorted({f"{c['query']}: {c['error'][:60]}" for c in failed}))
        parts.append(f"{len(failed)} case{'s' * (len(failed) > 1)} not compared, a server failed ({shown})")
    return "no: " + ", ".join(parts) if parts else "no"


def servers(rows: list[dict]) -> list[str]:
    """The section of embedded Oxigraph, ``oxigraph serve`` and Virtuoso side by side (:mod:`bench.bench_servers`)."""
    from bench.bench_servers import case_table, summary_table

    measured = [r for r in rows if r.get("servers")]
    if not measured:
        return []
    lines = ["", "## Embedded Oxigraph, `oxigraph serve` and Virtuoso", "",
             "Loading: `budgetkg build` into the embedded store (the build above); `oxigraph load` of the store's "
             "N-Quads into a fresh directory; Virtuoso's bulk loader (`ld_dir`, one `rdf_loader_run()` per dump file "
             "in parallel, `checkpoint`) into a fresh Virtuoso (`bench/virtuoso-bench.ini`); `budgetkg build` of the "
             "corpus into another fresh Virtuoso (one Graph Store PUT per document graph). Each loaded store's quads "
             "are counted per graph against the embedded store's (in brackets). Queries: the cases of the named "
             "queries above, one first request each, timed by the client, every server fresh with no result cache: "
             "`budgetkg serve` on the embedded store, `oxigraph serve-read-only` (the plain text), `budgetkg serve "
             "--store http://…/sparql` in front of the bulk-loaded Virtuoso, and the plain text straight to "
             "Virtuoso's `/sparql`. Answers are compared row by row with the embedded store's. × oxigraph is "
             "oxigraph's summed seconds over this server's, on the cases both answered. Peak MB: VmHWM summed over "
             "the server's process tree (the Virtuoso row: `virtuoso-t` and the budgetkg front with its workers)."]
    for r in measured:
        x = r["servers"]
        stopped = f" ({x['partial']}: the cases after it were not measured)" if x.get("partial") else ""
        for m in x.get("merged_from", []):
            loads = ("loads and all" if m.get("loads", True) else
                     "but not its loads (other work ran on the machine while it loaded: the earlier loads are shown)")
            stopped += (f"; the cases of {', '.join(f'`{q}`' for q in m['queries'])} are from `{m['run']}`, "
                        f"a later run on the same corpus, {loads}")
        lines += ["", f"**{r['n']} tables**{stopped}", "", *summary_table(x), "",
                  "<details><summary>each case</summary>", "", *case_table(x["cases"], x["targets"]), "", "</details>"]
    return lines


def merge_rows(runs: list[list[dict]], labels: list[str] | None = None) -> list[dict]:
    """Rows of several runs as one list, by corpus size; a later run's steps replace an earlier one's, and the
    earlier run's failure of a step ("servers: …") goes with it. The load average kept is that of the run that
    built the store, when one did. A later servers step limited to some named queries
    (``only``) replaces only their cases in the earlier one (:func:`bench.bench_servers.merged`; ``labels`` name
    the runs).

    >>> merge_rows([[{"n": 10, "build": 1, "errors": ["x"]}], [{"n": 10, "validate": 2}, {"n": 5}]])
    [{'n': 5}, {'n': 10, 'build': 1, 'errors': ['x'], 'validate': 2}]
    >>> merge_rows([[{"n": 10, "errors": ["servers: stopped", "links: failed"]}], [{"n": 10, "servers": {}}]])
    [{'n': 10, 'errors': ['links: failed'], 'servers': {}}]
    >>> merge_rows([[{"n": 10, "load": 0.1, "build": 1}], [{"n": 10, "load": 1.5, "cli": 2}]])[0]["load"]
    0.1
    """
    from bench.bench_servers import merged

    by_n: dict[int, dict] = {}
    for k, rows in enumerate(runs):
        for row in rows:
            into = by_n.setdefault(row["n"], {"n": row["n"]})
            if "build" not in row and "load" in into:  # the load shown is the one the build ran under
                row = {k: v for k, v in row.items() if k != "load"}
            if (row.get("servers") or {}).get("only") and into.get("servers"):
                row = {**row, "servers": merged(into["servers"], row["servers"],
                                                labels[k] if labels else f"run {k + 1}")}
            replaced = tuple(f"{step}:" for step in STEPS if step in row)
            errors = [e for e in into.get("errors", []) if not e.startswith(replaced)] + row.get("errors", [])
            into.update(row)
            if errors:
                into["errors"] = errors
            else:
                into.pop("errors", None)
    return [by_n[n] for n in sorted(by_n)]


README = ROOT / "README.md"
_START, _END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(text: str, readme: Path = README) -> bool:
    """Put the benchmark tables (``text`` without its title) between the README's markers."""
    try:
        doc = readme.read_text(encoding="utf-8")
    except OSError:
        return False
    if _START not in doc or _END not in doc:
        return False
    body = text.split("\n", 1)[1].strip()
    body = body.replace("\n## ", "\n#### ")  # under the README's own headings
    head, rest = doc.split(_START, 1)
    tail = rest.split(_END, 1)[1]
    readme.write_text(f"{head}{_START}\nLatest run ({time.strftime('%Y-%m-%d')}, "
                      f"[bench/results/latest.md](bench/results/latest.md)):\n\n{body}\n{_END}{tail}",
                      encoding="utf-8")
    return True


def publish(text: str, out: Path) -> None:
    """Write the table to ``out`` (and, for the default one, into the README) and print it."""
    out.write_text(text, encoding="utf-8")
    if out == DEFAULT_OUT:
        update_readme(text)
    print(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, action="append", help="corpus size (repeatable; default 1000 and 10000)")
    ap.add_argument("--duration", type=float, default=6.0, help="endpoint: seconds of measurement per target")
    ap.add_argument("--concurrency", type=int, default=8, help="endpoint: concurrent connections")
    ap.add_argument("--workers", type=int, default=None, help="endpoint: budgetkg worker processes")
    ap.add_argument("--query-timeout", type=float, default=60.0,
                    help="endpoint: the budgetkg server's query time limit (some named queries take seconds at 10k)")
    ap.add_argument("--skip", action="append", choices=STEPS, default=[], help="leave a step out (repeatable)")
    ap.add_argument("--no-virtuoso-build", action="store_true",
                    help="servers: leave out budgetkg build into Virtuoso (one GSP PUT per document; slow at 100k)")
    ap.add_argument("--only", action="append",
                    help="queries, servers: only this named query (repeatable); rendered after an earlier run, "
                         "its servers cases replace that run's cases of these queries")
    ap.add_argument("--work", type=Path, help="keep corpora and stores here (default: a temporary directory)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="where the table goes (the default one is also copied into README.md)")
    ap.add_argument("--render", type=Path, nargs="+",
                    help="only render the table again from results .json files (steps of one size in several "
                         "files are merged, later files winning)")
    ap.add_argument("--phase", choices=["validate", "links"], help=argparse.SUPPRESS)
    ap.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.phase:
        print(json.dumps({"validate": phase_validate, "links": phase_links}[a.phase](*a.args)))
        return 0
    if a.render:
        rows = merge_rows([json.loads(p.read_text(encoding="utf-8")) for p in a.render], [p.name for p in a.render])
        a.tables = [r["n"] for r in rows]
        a.merged = [str(p) for p in a.render] if len(a.render) > 1 else None
        if a.merged:
            a.out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str) + "\n", encoding="utf-8")
        publish(render(rows, a), a.out)
        return 0
    from bench.bench_build import _run as build_phase
    from bench.synth import generate

    a.tables = a.tables or [1000, 10000]
    rows: list[dict] = []
    for n in a.tables:
        work = a.work / str(n) if a.work else Path(tempfile.mkdtemp(prefix=f"bkall{n}-"))
        work.mkdir(parents=True, exist_ok=True)
        row: dict = {"n": n, "load": os.getloadavg()[0]}
        try:
            corpus, store = work / "corpus", work / "store"
            if not (corpus / "manifest.toml").exists():
                generate(n, corpus, seed=0, tables_per_doc=100)
            if "build" in a.skip and not store.exists():
                sys.exit(f"run_all: no store at {store} to reuse: do not skip the build")
            if "build" not in a.skip:
                shutil.rmtree(store, ignore_errors=True)
                shutil.rmtree(work / "bulk", ignore_errors=True)
                try:
                    row["build"] = build_phase("build", str(corpus), str(store), str(work / "dump.nq"))
                    row["bulk"] = build_phase("bulk", str(work / "dump.nq"), str(work / "bulk"))
                    print(f"{n}: build {row['build']['seconds']:.1f} s, bulk_load {row['bulk']['seconds']:.1f} s",
                          file=sys.stderr, flush=True)
                except RuntimeError as exc:  # report it, go on with the rest
                    row.pop("build", None)
                    row.setdefault("errors", []).append(f"build: {str(exc).strip().splitlines()[-1]}")
                    print(f"{n}: {exc}", file=sys.stderr, flush=True)
                finally:
                    (work / "dump.nq").unlink(missing_ok=True)
                    shutil.rmtree(work / "bulk", ignore_errors=True)
            steps = {
                "endpoint": lambda s=str(store), w=work: run_endpoint(s, a.duration, a.concurrency, a.workers,
                                                                      w / "endpoint.json", a.query_timeout),
                "queries": lambda s=str(store), w=work: run_queries(s, a.workers, w / "named.json", a.only),
                "validate": lambda s=str(store): _phase("validate", s),
                "links": lambda s=str(store): _phase("links", s),
                "servers": lambda s=str(store), w=work, c=corpus, r=row: run_servers(
                    s, c, r.get("build"), w / "servers.json", not a.no_virtuoso_build, a.only),
                "cli": lambda s=str(store): run_cli(s),
                "pages": lambda s=str(store): run_pages(s),
            }
            for step, work_of in steps.items():
                if step in a.skip:
                    continue
                try:
                    row[step] = work_of()
                    print(f"{n}: {step} done", file=sys.stderr, flush=True)
                except (RuntimeError, subprocess.CalledProcessError) as exc:  # report it, go on with the rest
                    detail = getattr(exc, "stderr", None) or str(exc)
                    row.setdefault("errors", []).append(f"{step}: {detail.strip().splitlines()[-1]}")
                    print(f"{n}: {step} failed:\n{detail}", file=sys.stderr, flush=True)
        finally:
            if not a.work:
                shutil.rmtree(work, ignore_errors=True)
        rows.append(row)
        (a.out.parent).mkdir(parents=True, exist_ok=True)
        a.out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str) + "\n", encoding="utf-8")
    publish(render(rows, a), a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
