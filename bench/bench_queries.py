"""Time of every named query on a built store, next to the plain SPARQL it was rewritten from, row by row.

Some named queries (``queries/*.rq``) are written for Oxigraph's indexes: the entity bound first,
no OPTIONAL whose right side ranges over the whole graph (see docs/fast-sparql.md). The text they
were rewritten from is kept in ``tests/data/plain_queries/`` as the reference: for each named query
and each case below, this runs the named query (as ``budgetkg query NAME`` does: the value lookups,
then the query) and the plain text with the same bound values, on the same store, and prints the
warm seconds of both (best of ``--repeat``) and whether the answers are identical row by row (in
order; "same rows" when only the order of tied rows differs, "lists in another order" when a
" | "-separated list, a GROUP_CONCAT whose order SPARQL leaves undefined, lists the same items in
another order)::

    python -m bench.bench_queries --store /tmp/synth10k-store [--repeat 3] [--only projects_of_agency]

A script, not a test (tests/test_queries.py checks the same equality on the seeds); docs/fast-sparql.md
keeps its latest numbers.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from pyoxigraph import QueryResultsFormat, QuerySolutions

from kg import queries
from kg.links.graph import SEPARATOR
from kg.settings import QUERIES_DIR
from kg.store import EmbeddedStore, GraphStore, QueryResult, solutions

#: The plain text of every rewritten named query (what it answered before it was shaped for the indexes).
PLAIN = Path(__file__).resolve().parent.parent / "tests" / "data" / "plain_queries"

#: Summed seconds of the plain and the named forms over every case run.
TOTALS = [0.0, 0.0]

#: Cases beyond each query's defaults: (query, parameters).
CASES: list[tuple[str, dict[str, str | None]]] = [
    ("projects_of_agency", {"code": "341"}),
    ("budget_by_agency", {"department": "341"}),
    ("projects_by_category", {"category": "时效指标"}),
    ("projects_by_threshold", {"indicator": "", "category": "满意度指标", "min_value": "95"}),
    # a project with lineage and tranche links in the synthetic corpus (bench.synth, seed 0)
    ("project_lineage", {"project": "武清分局特警支队第3大队信息化运维项目-2023中央"}),
]


def rows(result: QueryResult) -> list[bytes]:
    """The answer as CSV lines (the header first); CSV writes every term the same way on both sides."""
    if not isinstance(result, QuerySolutions):
        return [result.serialize() or b""] if hasattr(result, "serialize") else [str(result).encode()]
    data = result.serialize(format=QueryResultsFormat.CSV) or b""
    return data.split(b"\r\n")


def _unordered(line: bytes) -> tuple[str, ...]:
    """A CSV line with every " | "- or ", "-separated list sorted: SPARQL leaves GROUP_CONCAT's order undefined
    (shared_goals' concepts and phrases use " | ", findings_by_agency's rules ", ")."""
    cells = next(csv.reader([line.decode("utf-8")]), [])
    return tuple(SEPARATOR.join(sorted(", ".join(sorted(c.split(", "))).split(SEPARATOR))) for c in cells)


def timed(run: object, repeat: int) -> tuple[float, list[bytes]]:
    assert callable(run)
    best, got = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        got = rows(run())
        best = min(best, time.perf_counter() - started)
    return best, got


def plain_text(q: queries.NamedQuery) -> str:
    """The question as a generic engine gets it: the text a rewritten query was rewritten from, else its own."""
    path = PLAIN / f"{q.name}.rq"
    return path.read_text(encoding="utf-8") if path.is_file() else q.sparql


def verdict(got: list[bytes], want: list[bytes]) -> str:
    """How two answers (CSV lines, the header first) compare: identical row by row, the same rows in another
    order (of tied rows), the same rows with a " | "-list in another order, or DIFFERENT."""
    return ("identical" if got == want else "same rows" if sorted(got) == sorted(want)
            else "same rows, lists in another order" if sorted(map(_unordered, got)) == sorted(map(_unordered, want))
            else "DIFFERENT")


def compare(store: GraphStore, name: str, values: dict[str, str | None], repeat: int) -> str:
    q = queries.get(QUERIES_DIR, name)
    plain_path = PLAIN / f"{name}.rq"
    plain = plain_text(q)
    bindings = queries.resolve(q.lookups(q.bindings(values)), q.bindings(values),
                               lambda s: solutions(store.query(s, name=name), name))
    t_named, got = timed(lambda: q.run(store, values), repeat)
    chosen = q.text_for(store, dict(bindings))
    form = "table" if isinstance(chosen, queries.FastForm) else "fast" if chosen is not q.sparql else "named"
    t_plain, want = timed(lambda: store.query(plain, name=name, substitutions=dict(bindings)), repeat)
    same = verdict(got, want)
    shown = ", ".join(f"{k}={v}" for k, v in values.items()) or "(defaults)"
    rewritten = "yes" if plain_path.is_file() or q.fast_forms else "no"
    TOTALS[0] += t_plain
    TOTALS[1] += t_named
    return (f"| {name} | {shown} | {rewritten} | {form} | {max(len(got) - 2, 0)} | {t_plain:.3f} | {t_named:.3f} "
            f"| {t_plain / max(t_named, 1e-6):.1f} | {same} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each query; the best one is shown")
    ap.add_argument("--only", action="append", help="only this named query (repeatable)")
    ap.add_argument("--skip", action="append", default=[], help="leave this named query out (repeatable)")
    args = ap.parse_args()
    store = EmbeddedStore(args.store, read_only=True)
    chosen = [n for n in sorted(queries.load_all(QUERIES_DIR)) if (not args.only or n in args.only)
              and n not in args.skip]
    print("| query | parameters | rewritten | form run | rows | plain s | named s | × faster | answers |")
    print("|---|---|---|---|---:|---:|---:|---:|---|")
    for name in chosen:
        if "contracts" in queries.get(QUERIES_DIR, name).tags:
            continue
        for values in [{}, *(v for n, v in CASES if n == name)]:
            print(compare(store, name, values, args.repeat), flush=True)
    print(f"| **sum** | | | | | {TOTALS[0]:.3f} | {TOTALS[1]:.3f} | {TOTALS[0] / max(TOTALS[1], 1e-6):.1f} | |")


if __name__ == "__main__":
    main()
