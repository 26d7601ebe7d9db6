"""First-request time of each named query on `budgetkg serve`, next to its plain SPARQL on `oxigraph serve-read-only`.

Issue 16's targets: every named query answers its first request within 1 s (p50 over the cases ≤ 200 ms), with
its defaults and with parameters never asked before, the same answers as the plain SPARQL on Oxigraph row by
row; summed over the named queries, budgetkg ≥ 10× faster than Oxigraph on the same store::

    python -m bench.bench_named --store /tmp/synth10k-store [--repeat 1] [--json OUT] [--only NAME]

Both servers run on 127.0.0.1 over the same data: ``budgetkg serve --store DIR`` and ``oxigraph serve-read-only``
on a copy of the store's files (``--union-default-graph``, as in :mod:`bench.bench_endpoint`). The cases are, for
each named query not tagged ``contracts``: its defaults, the cases of :data:`bench.bench_queries.CASES`, and, for a
query with an ``agency``, ``code`` or ``department`` parameter, one value no case asks for (the busiest department
of the store after those asked, or its busiest budget unit), and for one with a ``project`` parameter one project
name no case asks for (of a project with a lineage or tranche link), each marked "new". A case whose value the store
does not hold (a default project name of the seeds, in a small corpus) is shown as skipped and left out of the sums.

First pass, the result cache off (``BUDGETKG_RESULT_CACHE_MB=0``): every request is computed. One request per case
to each server, timed by the client (httpx, CSV answers): ``GET /queries/NAME?params`` on budgetkg, and on Oxigraph
the plain text (:func:`bench.bench_queries.plain_text`) with the values budgetkg binds (its lookups resolved,
:func:`kg.queries.resolve`) written in as a VALUES block (:func:`kg.store.with_values`), POSTed to ``/query``. The
answers are compared row by row (:func:`bench.bench_queries.verdict`). Second pass, a budgetkg server with the
result cache on: each request once to fill it, then ``--repeat`` more (best one shown) as "repeated request", next
to as many repeats on Oxigraph (which keeps no results).

Needs the ``oxigraph`` command (``pip install oxigraph``). Every request has a 300 s timeout; both servers are
stopped at the end. A script, not a test.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pyoxigraph import QueryResultsFormat, QuerySolutions, parse_query_results

from bench.bench_endpoint import HOST, RESULTS_JSON, ROOT, free_port, oxigraph_command, stop, wait_for
from bench.bench_queries import CASES, plain_text, verdict
from kg import queries
from kg.errors import BudgetKGError, NoSuchValue
from kg.namespaces import sparql_prefixes
from kg.settings import QUERIES_DIR, Settings
from kg.store import with_values

#: Seconds a request may take, on either server.
TIMEOUT = 300.0
#: Parameters that name a department or a budget unit: each gets a value no case asks for.
CODE_PARAMS = ("agency", "code", "department")
#: Parameters of type ``project`` get a project name no case asks for.
PROJECT_TYPE = "project"
#: The targets of issue 16: first request within 1 s each, p50 within 0.2 s, summed ≥ 10× faster than Oxigraph.
FIRST_S, P50_S, RATIO = 1.0, 0.2, 10.0
_UNITS = sparql_prefixes(["bk"]) + ("SELECT ?code (COUNT(?p) AS ?n) WHERE { ?p a bk:Project ; bk:budgetUnitCode ?code }"
                                    " GROUP BY ?code")
#: Project names with a lineage or tranche link (project_lineage has something to show), first ones by name.
_LINKED = sparql_prefixes(["bk", "rdfs"]) + (
    "SELECT DISTINCT ?name WHERE { VALUES ?cls { bk:LineageLink bk:TrancheLink } ?link a ?cls ; bk:fromProject ?p . "
    "?p rdfs:label ?name } ORDER BY ?name LIMIT 20")


@dataclass
class Case:
    query: str
    params: dict[str, str | None]
    new: bool = False
    rows: int | None = None
    budgetkg_s: float | None = None
    oxigraph_s: float | None = None
    cache: str = ""
    answers: str = ""
    error: str = ""
    skipped: str = ""

    @property
    def shown(self) -> str:
        text = ", ".join(f"{k}={v}" for k, v in self.params.items()) or "(defaults)"
        return f"{text} (new)" if self.new else text

    @property
    def ratio(self) -> float | None:
        if self.budgetkg_s is None or self.oxigraph_s is None:
            return None
        return self.oxigraph_s / max(self.budgetkg_s, 1e-6)


def cases_from(saved: list[dict[str, Any]]) -> list[Case]:
    """The cases of a ``--json`` file, as they were measured."""
    return [Case(**{f.name: d[f.name] for f in fields(Case) if f.name in d}) for d in saved]


def csv_lines(body: bytes) -> list[bytes]:
    """A CSV answer as lines written one way (both servers quote differently), the header first.

    >>> csv_lines(b'a,b\\r\\n"x",1\\r\\n')
    [b'a,b', b'x,1', b'']
    """
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    return out.getvalue().encode("utf-8").split(b"\r\n")


def ask(ox: httpx.Client, sparql: str) -> QuerySolutions:
    """The solutions of a SELECT on Oxigraph (for the values to bind, not timed)."""
    r = ox.post("/query", content=sparql.encode("utf-8"),
                headers={"Content-Type": "application/sparql-query", "Accept": RESULTS_JSON})
    r.raise_for_status()
    found = parse_query_results(r.content, format=QueryResultsFormat.JSON)
    if not isinstance(found, QuerySolutions):
        raise RuntimeError("bench_named: a SELECT answered a boolean")
    return found


def new_values(ox: httpx.Client, asked: set[str]) -> dict[str, str]:
    """A department, a budget unit and a project name of the store that no case asks for: the busiest
    department left, its busiest unit (ties by code), the first linked project name by name."""
    units: dict[str, int] = {}
    for s in ask(ox, _UNITS):
        code, n = s["code"], s["n"]
        if code is not None and n is not None:
            units[code.value] = int(n.value)
    departments: dict[str, int] = {}
    for code, n in units.items():
        departments[code[:3]] = departments.get(code[:3], 0) + n
    out = {}
    dept = next((d for d, _ in sorted(departments.items(), key=lambda x: (-x[1], x[0])) if d not in asked), None)
    if dept is not None:
        out["department"] = dept
    unit = next((u for u, _ in sorted(units.items(), key=lambda x: (-x[1], x[0]))
                 if u not in asked and (dept is None or u.startswith(dept))), None)
    if unit is not None:
        out["unit"] = unit
    names = [s["name"].value for s in ask(ox, _LINKED) if s["name"] is not None]
    project = next((n for n in names if n not in asked), None)
    if project is not None:
        out["project"] = project
    return out


def cases_of(chosen: list[queries.NamedQuery], picked: dict[str, str]) -> list[Case]:
    out = []
    for q in chosen:
        out.append(Case(q.name, {}))
        out += [Case(q.name, dict(v)) for n, v in CASES if n == q.name]
        extra: dict[str, str | None] = {}
        for p in q.params:
            if p.name in CODE_PARAMS or p.type == PROJECT_TYPE:
                value = picked.get("department" if p.name == "department" else
                                   "project" if p.type == PROJECT_TYPE else "unit")
                if value is not None:
                    extra[p.name] = value
        if extra:
            out.append(Case(q.name, extra, new=True))
    return out


def plain_request(q: queries.NamedQuery, values: dict[str, str | None], ox: httpx.Client) -> str:
    """The plain text with the values budgetkg binds for ``values`` (its lookups resolved on Oxigraph)."""
    bindings = q.bindings(values)
    bindings = queries.resolve(q.lookups(bindings), bindings, lambda sparql: ask(ox, sparql))
    return with_values(plain_text(q), dict(bindings))


def timed(send: object) -> tuple[float, httpx.Response]:
    assert callable(send)
    started = time.perf_counter()
    r = send()
    return time.perf_counter() - started, r


def run_case(case: Case, q: queries.NamedQuery, bk: httpx.Client, ox: httpx.Client, repeat: int,
             fill: bool) -> None:
    """Time ``case`` on both servers (``fill``: one untimed budgetkg request first, then the best of ``repeat``)."""
    try:
        text = plain_request(q, case.params, ox)
    except NoSuchValue as exc:
        case.skipped = f"skipped: no {exc.kind} {exc.value!r} in this store"
        return
    except (BudgetKGError, httpx.HTTPError) as exc:
        case.error = f"binding the values: {exc}"
        return
    url = f"/queries/{q.name}" + ("?" + urlencode(case.params) if case.params else "")

    def budgetkg() -> httpx.Response:
        return bk.get(url, headers={"Accept": "text/csv"})

    def oxigraph() -> httpx.Response:
        return ox.post("/query", content=text.encode("utf-8"),
                       headers={"Content-Type": "application/sparql-query", "Accept": "text/csv"})

    try:
        if fill:
            budgetkg()
        runs = [timed(budgetkg) for _ in range(repeat)]
        case.budgetkg_s, got = min(t for t, _ in runs), runs[-1][1]
        case.cache = got.headers.get("x-budgetkg-cache", "")
        runs = [timed(oxigraph) for _ in range(repeat)]
        case.oxigraph_s, want = min(t for t, _ in runs), runs[-1][1]
    except httpx.HTTPError as exc:
        case.error = f"{type(exc).__name__}: {exc}"
        return
    for side, r in (("budgetkg", got), ("oxigraph", want)):
        if r.status_code != 200:
            case.error = f"{side} answered {r.status_code}: {r.text[:200]}"
            return
    ours, theirs = csv_lines(got.content), csv_lines(want.content)
    case.rows = max(len(ours) - 2, 0)
    case.answers = verdict(ours, theirs)


def summary(every: list[Case]) -> dict[str, Any]:
    cases = [c for c in every if not c.skipped]
    done = [c for c in cases if not c.error and c.budgetkg_s is not None and c.oxigraph_s is not None]
    bk = [c.budgetkg_s for c in done if c.budgetkg_s is not None]
    ox_sum = sum(c.oxigraph_s for c in done if c.oxigraph_s is not None)
    bk_sum = sum(bk)
    complete = len(done) == len(cases) and bool(cases)
    p50 = statistics.median(bk) if bk else None
    worst = max(bk) if bk else None
    ratio = ox_sum / bk_sum if bk_sum else None
    return {"cases": len(cases), "errors": len(cases) - len(done), "skipped": len(every) - len(cases),
            "budgetkg_sum_s": bk_sum, "oxigraph_sum_s": ox_sum,
            "ratio": ratio, "budgetkg_p50_s": p50, "budgetkg_max_s": worst,
            "first_within_1s": complete and worst is not None and worst <= FIRST_S,
            "p50_met": complete and p50 is not None and p50 <= P50_S,
            "ratio_met": complete and ratio is not None and ratio >= RATIO,
            "answers_same": complete and all(c.answers != "DIFFERENT" for c in done)}


def _s(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def _yes(flag: object) -> str:
    return "yes" if flag else "no"


def table(cases: list[Case], with_cache: bool = False) -> list[str]:
    head = "| query | parameters | rows | budgetkg s |" + (" cache |" if with_cache else "")
    lines = [head + " oxigraph s | × faster | answers |",
             "|---|---|---:|---:|" + ("---|" if with_cache else "") + "---:|---:|---|"]
    for c in cases:
        cache = f" {c.cache} |" if with_cache else ""
        lines.append(f"| {c.query} | {c.shown} | {_s(c.rows, 'd')} | {_s(c.budgetkg_s)} |{cache} {_s(c.oxigraph_s)} "
                     f"| {_s(c.ratio, '.1f')} | {c.skipped or c.error or c.answers} |")
    return lines


def summary_lines(s: dict[str, Any], first: bool) -> list[str]:
    out = [f"- sum over {s['cases']} cases ({s['errors']} failed, {s['skipped']} skipped): "
           f"budgetkg {_s(s['budgetkg_sum_s'])} s, oxigraph {_s(s['oxigraph_sum_s'])} s, ratio {_s(s['ratio'], '.1f')}"
           + (f" (target ≥ {RATIO:g}: {_yes(s['ratio_met'])})" if first else ""),
           f"- budgetkg p50 {_s(s['budgetkg_p50_s'])} s" + (f" (target ≤ {P50_S:g} s: {_yes(s['p50_met'])})"
                                                             if first else ""),
           f"- budgetkg max {_s(s['budgetkg_max_s'])} s" + (f" (target: every first request ≤ {FIRST_S:g} s: "
                                                             f"{_yes(s['first_within_1s'])})" if first else ""),
           f"- answers identical or the same rows everywhere: {_yes(s['answers_same'])}"]
    return out


def start_budgetkg(store: str, port: int, env: dict[str, str], workers: int | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "budgetkg", "serve", "--store", store, "--port", str(port), "--host", HOST,
           "--timeout", str(TIMEOUT), "--max-rows", "100000000", "--log-level", "warning"]
    if workers:
        cmd += ["--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="a built budgetkg store (a RocksDB folder)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="repeated requests per case in the cache-on pass (best shown)")
    ap.add_argument("--workers", type=int, default=None,
                    help="budgetkg query worker processes (default: the server's)")
    ap.add_argument("--only", action="append", help="only this named query (repeatable)")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    if not (Path(args.store) / "CURRENT").is_file():
        sys.exit(f"bench_named: {args.store} is no store folder")

    chosen = [q for name, q in sorted(queries.load_all(QUERIES_DIR).items())
              if "contracts" not in q.tags and q.kind == "SELECT" and (not args.only or name in args.only)]
    # every value a case or a default asks for: the "new" ones are none of these
    asked = {v for _, values in CASES for v in values.values() if v is not None}
    asked |= {p.default for q in chosen for p in q.params if p.default is not None}

    oxigraph = oxigraph_command()
    tmp = Path(tempfile.mkdtemp(prefix="budgetkg-named-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x),
           "BUDGETKG_RESULT_CACHE_MB": "0"}
    cached_env = {k: v for k, v in env.items() if k != "BUDGETKG_RESULT_CACHE_MB"}  # the server's default cache
    procs: dict[str, subprocess.Popen] = {}
    limits = httpx.Timeout(TIMEOUT, connect=10.0)
    try:
        oxi_store = tmp / "oxigraph"
        shutil.copytree(args.store, oxi_store, ignore=shutil.ignore_patterns("LOCK"))
        bk_port, ox_port = free_port(), free_port()
        procs["oxigraph"] = subprocess.Popen([oxigraph, "serve-read-only", "--location", str(oxi_store),
                                              "--bind", f"{HOST}:{ox_port}", "--union-default-graph"],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs["budgetkg"] = start_budgetkg(args.store, bk_port, env, args.workers)
        wait_for(ox_port, "/query?query=ASK%7B%7D", procs["oxigraph"])
        wait_for(bk_port, "/health", procs["budgetkg"])
        ox = httpx.Client(base_url=f"http://{HOST}:{ox_port}", timeout=limits)
        picked = new_values(ox, asked)
        cases = cases_of(chosen, picked)
        by_name = {q.name: q for q in chosen}

        print(f"{len(chosen)} named queries (those tagged contracts left out), {len(cases)} cases; new values: "
              f"{', '.join(f'{k} {v}' for k, v in picked.items()) or 'none in the store'}; {os.cpu_count()} CPUs.")
        print("\n## First request (budgetkg result cache off, BUDGETKG_RESULT_CACHE_MB=0: every request is computed)\n")
        with httpx.Client(base_url=f"http://{HOST}:{bk_port}", timeout=limits) as bk:
            bk.get("/health")  # the connection and the server's start-up are not the query's
            for case in cases:
                run_case(case, by_name[case.query], bk, ox, repeat=1, fill=False)
                print(table([case])[-1], file=sys.stderr, flush=True)
        first = summary(cases)
        print("\n".join([*table(cases), "", *summary_lines(first, first=True)]))

        stop(procs.pop("budgetkg"))
        bk_port = free_port()
        procs["budgetkg"] = start_budgetkg(args.store, bk_port, cached_env, args.workers)
        wait_for(bk_port, "/health", procs["budgetkg"])
        repeated = [Case(c.query, c.params, c.new) for c in cases]
        cache_mb = f"{Settings.from_env(cached_env).result_cache_mb:g}"
        print(f"\n## Repeated request (budgetkg result cache on, {cache_mb} MB: each request once to fill it, then the "
              f"best of {args.repeat}; Oxigraph keeps no results, its column is the best of {args.repeat} repeats)\n")
        with httpx.Client(base_url=f"http://{HOST}:{bk_port}", timeout=limits) as bk:
            bk.get("/health")
            for case in repeated:
                run_case(case, by_name[case.query], bk, ox, repeat=args.repeat, fill=True)
                print(table([case], with_cache=True)[-1], file=sys.stderr, flush=True)
        again = summary(repeated)
        print("\n".join([*table(repeated, with_cache=True), "", *summary_lines(again, first=False)]))
        ox.close()
        if args.json:
            args.json.write_text(json.dumps({
                "store": args.store, "cpus": os.cpu_count(), "new_values": picked,
                "targets": {"first_s": FIRST_S, "p50_s": P50_S, "ratio": RATIO},
                "first": [{**asdict(c), "shown": c.shown, "ratio": c.ratio} for c in cases], "first_summary": first,
                "repeated": [{**asdict(c), "shown": c.shown, "ratio": c.ratio} for c in repeated],
                "repeated_summary": again}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    finally:
        for p in procs.values():
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
