"""Time of the faceted-browsing pages (``/projects``, ``/indicators``) on a built store, step by step.

Runs :class:`server.catalogue.CatalogueJob` in this process against the store opened read-only (what a
worker does for one page) for a few views, twice each (the second run is the warm one a user sees
after the first), and prints the seconds of the totals, of each facet's counts and of the page's rows::

    python -m bench.bench_facets --store /tmp/p10k-store

A script, not a test; docs/portal.md keeps its latest numbers.
"""

from __future__ import annotations

import argparse
import time

from kg.settings import Settings
from kg.store import EmbeddedStore
from server.catalogue import CatalogueJob, Selection
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
    args = ap.parse_args()
    settings = Settings.from_env()
    ctx = Context(EmbeddedStore(args.store, read_only=True), settings)
    print("| page | view | things | total s | facets s (slowest) | rows s | page s (warm) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for kind, params in VIEWS:
        sel = Selection.from_params(params, kind)
        job = CatalogueJob(sel, settings.base_iri)
        job.run(ctx)
        started = time.perf_counter()
        view = job.run(ctx)
        wall = time.perf_counter() - started
        facets = {k: v for k, v in view.seconds.items() if k not in ("total", "rows")}
        slowest = max(facets, key=facets.__getitem__)
        print(f"| /{kind} | `{sel.query_string() or '(all)'}` | {view.total} | {view.seconds['total']:.2f} | "
              f"{sum(facets.values()):.2f} ({slowest} {facets[slowest]:.2f}) | {view.seconds['rows']:.2f} "
              f"| {wall:.2f} |")


if __name__ == "__main__":
    main()
