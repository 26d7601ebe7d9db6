"""Network building, metrics and exports (kg/network.py, kg/render.py) on the seeds and a synthetic corpus.

    python -m bench.bench_graph [--tables 10000] [--vendors 500] [--contracts 20000] [--out bench/out]

The seeds row times what the /graph page needs (read, build, metrics, Cytoscape JSON) for the whole
seed network with links and the example contracts. For the synthetic corpus (:mod:`bench.synth`) the
documents are built with ``kg.build.build`` into an on-disk store, ``budgetkg link`` is run
(:func:`kg.links.refresh_links`), and a synthetic contracts CSV (``--contracts`` rows over
``--vendors`` invented suppliers, each naming a project by IRI, seeded) is imported, so that every
node type and edge kind is present. Then each step is timed on its own: reading the store
(SPARQL), building the network with every node type and the agency projection, the metrics, and
every export.

The seeds' exports are kept in ``<out>/graph-seeds/``; the synthetic corpus's (hundreds of MB) are
deleted after they are measured.

Betweenness: exact betweenness is O(nodes × edges) (Brandes), hours on a network of 10k+ projects,
so above ``kg.network.BETWEENNESS_WORK`` (nodes × edges) it is estimated from sampled source nodes
drawn with a fixed seed (Brandes–Pich): ``BETWEENNESS_WORK / edges`` of them, or ``--samples``; the
table says which. Prints a markdown table and
writes it to ``<out>/graph.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ALL = "agency,project,funding,concept,vendor"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def synthetic_contracts(store: Any, path: Path, contracts: int, vendors: int, seed: int = 0) -> int:
    """A contracts CSV (budgetkg format) naming projects of ``store`` by IRI; returns the row count."""
    projects = sorted(s["p"].value for s in store.query(
        "SELECT ?p WHERE { ?p a <https://budgetkg.example.org/def/Project> }"))
    rng = random.Random(seed)
    names = [f"合成供应商{i:04d}科技有限公司" for i in range(vendors)]
    # a few vendors win most contracts, as in procurement data
    weights = [1.0 / (1 + i) ** 0.8 for i in range(vendors)]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("# SYNTHETIC contracts for bench.bench_graph. Not real procurement data.\n")
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["contract_id", "project_ref", "project_name", "agency_code", "supplier_name",
                    "supplier_credit_code", "amount_yuan", "date", "title"])
        for i in range(contracts):
            p = rng.choice(projects)
            v = rng.choices(range(vendors), weights)[0]
            w.writerow([f"SYN-{i:06d}", p, "", "", names[v], "", f"{rng.randint(1, 5000) * 100}",
                        f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", ""])
    return contracts


def time_graph(store: Any, label: str, samples: int | None, out_dir: Path, draw: bool) -> list[tuple]:
    """Time read, build, metrics and exports of the full network and the agency projection."""
    from kg.network import (
        NetworkOptions,
        add_metrics,
        build_network,
        build_projection,
        cytoscape_bytes,
        export,
        graph_from_store,
        read_network,
    )

    rows: list[tuple] = []
    data, t = timed(lambda: read_network(store))
    rows.append((label, "read the store (SPARQL)", len(data.projects), "", t))
    for name, opts in (("network, every node type", NetworkOptions.parse(node_types=ALL)),
                       ("agency projection", NetworkOptions.parse(projection="agency"))):
        build = build_projection if opts.projection else build_network
        g, t = timed(lambda opts=opts, build=build: build(data, opts))
        n, m = g.number_of_nodes(), g.number_of_edges()
        rows.append((label, f"{name}: build", n, m, t))
        times, t = timed(lambda g=g: add_metrics(g, betweenness_samples=samples))
        for metric, secs in times.items():
            extra = f" ({g.graph['betweenness']})" if metric == "betweenness" else ""
            rows.append((label, f"{name}: {metric}{extra}", n, m, secs))
        from kg.network import NetworkResult

        result = NetworkResult(g, data, opts, total_nodes=n, total_edges=m)
        stem = "projection" if opts.projection else "network"
        for fmt in ("graphml", "gexf", "cyjs"):
            path = out_dir / f"{stem}.{fmt}"
            _, t = timed(lambda fmt=fmt, path=path, result=result: export(result, fmt, path))
            rows.append((label, f"{name}: export {fmt} ({path.stat().st_size / 1e6:.1f} MB)", n, m, t))
        if draw:
            from kg.render import render

            for fmt in ("png", "svg"):
                path = out_dir / f"{stem}.{fmt}"
                _, t = timed(lambda fmt=fmt, path=path, result=result: render(result, path, fmt))
                rows.append((label, f"{name}: draw {fmt} ({path.stat().st_size / 1e6:.1f} MB)", n, m, t))
    # what /api/graph does for the page: everything from the store to JSON bytes, cut to its limits
    from server.graph import DEFAULT_MAX_EDGES, DEFAULT_MAX_NODES

    for name, opts in (("every node type", NetworkOptions.parse(node_types=ALL)),
                       ("agency projection", NetworkOptions.parse(projection="agency"))):
        body, t = timed(lambda opts=opts: cytoscape_bytes(graph_from_store(
            store, opts, max_nodes=DEFAULT_MAX_NODES, max_edges=DEFAULT_MAX_EDGES, betweenness_samples=samples)))
        meta = json.loads(body)["meta"]
        rows.append((label, f"/api/graph, {name} (≤{DEFAULT_MAX_NODES} nodes, ≤{DEFAULT_MAX_EDGES} edges; "
                            f"{len(body) / 1e6:.1f} MB)", meta["nodes"], meta["edges"], t))
    return rows


def seeds_rows(out_dir: Path, samples: int | None, draw: bool) -> list[tuple]:
    from kg.contracts import import_files
    from kg.links import refresh_links
    from kg.pipeline import build
    from kg.settings import Settings
    from kg.sources import load_manifest
    from kg.store import EmbeddedStore

    settings = Settings.from_env(env={})
    man = load_manifest(settings.manifest)
    store = EmbeddedStore(None)
    build(store, man.entries, settings, manifest=man)
    refresh_links(store, settings)
    examples = ROOT / "examples" / "contracts"
    import_files(store, [examples / "example_contracts.csv", examples / "example_ocds.json"], settings)
    return time_graph(store, "seeds", samples, out_dir, draw)


def synthetic_rows(n: int, work: Path, out_dir: Path, samples: int | None, vendors: int, contracts: int,
                   draw: bool) -> list[tuple]:
    from bench.synth import generate
    from kg.contracts import import_files
    from kg.links import refresh_links
    from kg.pipeline import build
    from kg.settings import Settings
    from kg.sources import load_manifest
    from kg.store import EmbeddedStore

    label = f"{n} tables"
    corpus = work / "corpus"
    _, t_gen = timed(lambda: generate(n, corpus, seed=0))
    man = load_manifest(corpus / "manifest.toml")
    settings = Settings(store=str(work / "store"), manifest=corpus / "manifest.toml")
    store = EmbeddedStore(settings.store)
    report, t_build = timed(lambda: build(store, man.entries, settings, manifest=man))
    links, t_link = timed(lambda: refresh_links(store, settings))
    csv_path = work / "synthetic_contracts.csv"
    synthetic_contracts(store, csv_path, contracts, vendors)
    imported, t_import = timed(lambda: import_files(store, [csv_path], settings))
    print(f"{label}: generated in {t_gen:.1f} s, built {report.projects} projects in {t_build:.1f} s, "
          f"linked in {t_link:.1f} s ({links.shared_goal_links} shared-goal links, {links.indicator_concepts} "
          f"concepts), {imported.linked} contracts / {imported.vendors} vendors imported in {t_import:.1f} s",
          file=sys.stderr)
    rows = [(label, "setup: kg.build.build", report.projects, "", t_build),
            (label, f"setup: budgetkg link ({links.shared_goal_links} shared-goal links)", links.projects, "", t_link),
            (label, f"setup: contracts import ({imported.linked} contracts, {imported.vendors} vendors)",
             imported.linked, "", t_import)]
    rows += time_graph(store, label, samples, out_dir, draw)
    store.close()
    return rows


def machine() -> str:
    import matplotlib
    import networkx

    from bench.bench_build import machine as describe

    return f"{describe()}; networkx {networkx.__version__}, matplotlib {matplotlib.__version__}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", type=int, action="append", help="corpus size (repeatable; default 10000)")
    p.add_argument("--vendors", type=int, default=500, help="synthetic vendors (default 500)")
    p.add_argument("--contracts", type=int, default=20000, help="synthetic contracts (default 20000)")
    p.add_argument("--samples", type=int, default=None,
                   help="sampled sources for betweenness (default: exact up to kg.network.BETWEENNESS_WORK, "
                        "then that divided by the edges)")
    p.add_argument("--no-draw", action="store_true", help="skip the PNG/SVG drawings")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple] = []
    seed_dir = a.out / "graph-seeds"
    seed_dir.mkdir(exist_ok=True)
    rows += seeds_rows(seed_dir, a.samples, not a.no_draw)
    for n in a.tables or [10000]:
        work = Path(tempfile.mkdtemp(prefix=f"bkgraph{n}-"))
        out_dir = work / "exports"  # hundreds of MB at 10k tables: timed and measured, then deleted
        out_dir.mkdir()
        try:
            rows += synthetic_rows(n, work, out_dir, a.samples, a.vendors, a.contracts, not a.no_draw)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    lines = ["| corpus | step | nodes | edges | seconds |", "|---|---|---:|---:|---:|"]
    lines += [f"| {c} | {s} | {n} | {m} | {t:.3f} |" for c, s, n, m, t in rows]
    table = "\n".join(lines)
    text = (f"Graph building and export (`python -m bench.bench_graph`), {time.strftime('%Y-%m-%d')}\n\n"
            f"Machine: {machine()}\n\n{table}\n")
    print(text)
    (a.out / "graph.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
