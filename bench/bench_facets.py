"""Time of the faceted-browsing pages (``/projects``, ``/indicators``) on a built store, step by step.

Runs :class:`server.catalogue.CatalogueJob` in this process against the store opened read-only (what a
worker does for one page) for a few views, counted both ways: with SPARQL (``table=False``) and from
the store generation's facet table (:mod:`kg.facets`). Each is run twice (the second run is the warm
one a user sees after the first) and the seconds of the counts and totals, of the page's order, of
the facet values' labels and of the page's rows are printed; then what getting the table cost (the
file the build kept beside the store, else reading the store)::

    python -m bench.bench_facets --store /tmp/p10k-store [--table-only]

A script, not a test; docs/portal.md keeps its latest numbers.
"""

from __future__ import annotations

import argparse
import time

from kg import facets
from kg.settings import Settings
from kg.store import EmbeddedStore
from server.catalogue import FACETS, CatalogueJob, Selection
from server.jobs import Context

VIEWS = [
    ("projects", {}),
    ("projects", {"department": ["341"]}),
    ("projects", {"department": ["341"], "funding": ["central"]}),
    ("projects", {"level1": ["output"], "rule": ["TimelinessAsRate"]}),
    ("projects", {"funding": ["none"], "sort": ["name"], "page": ["3"]}),
    ("indicators", {}),
    ("indicators", {"department": ["341"], "level2": ["output-cost"]}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--table-only", action="store_true", help="time the facet-table path only")
    args = ap.parse_args()
    settings = Settings.from_env()
    store = EmbeddedStore(args.store, read_only=True)
    started = time.perf_counter()
    kept = facets.stored(store)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    facets.read(store)
    read = time.perf_counter() - started
    print(f"facet table: loaded from the build's file in {loaded:.3f} s" if kept else "facet table: no file kept",
          f"; read from the store in {read:.2f} s")
    ctx = Context(store, settings)
    print("| page | view | things | path | counts s | page order s | labels s | rows s | page s (warm) |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for kind, params in VIEWS:
        sel = Selection.from_params(params, kind)
        for table in (False, True):
            if args.table_only and not table:
                continue
            job = CatalogueJob(sel, settings.base_iri, table=table)
            job.run(ctx)
            started = time.perf_counter()
            view = job.run(ctx)
            wall = time.perf_counter() - started
            s = view.seconds
            counts = s["total"] + sum(s.get(f, 0.0) for f in FACETS)
            print(f"| /{kind} | `{sel.query_string() or '(all)'}` | {view.total} | {'table' if table else 'SPARQL'} "
                  f"| {counts:.3f} | {s['page']:.3f} | {s['labels']:.3f} | {s['rows']:.3f} | {wall:.3f} |")


if __name__ == "__main__":
    main()
