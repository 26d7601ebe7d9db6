"""Embedded Oxigraph, ``oxigraph serve`` and Virtuoso side by side on one machine: loading, each named query, memory.

    python -m bench.bench_servers --store /tmp/synth10k-store --corpus /tmp/synth10k \\
        [--build-seconds S --build-peak-mb MB] [--no-virtuoso-build] [--no-virtuoso-plain] [--json OUT] [--only NAME]

Given a built embedded store and the corpus it was built from, in one run:

* **Loading.** The store's quads (every published graph) are dumped to N-Quads, in ``--loaders`` files of about
  equal size (not timed). Then, each into a fresh directory or a fresh server: ``oxigraph load`` of the files
  (one process, the files in parallel); Virtuoso's bulk loader (``ld_dir`` of the files, one ``rdf_loader_run()``
  per file in parallel through ``isql-vt``, then ``checkpoint``: Virtuoso's documented fastest path); and
  ``budgetkg build`` of the corpus into Virtuoso, the way a user fills it (one Graph Store Protocol PUT per document
  graph to ``/sparql-graph-crud-auth``, digest auth as dba, the derived steps through SPARQL), unless
  ``--no-virtuoso-build`` (it is the slow one). The embedded store's own ``budgetkg build`` time is
  ``--build-seconds`` when the caller measured it (:mod:`bench.run_all` does). Every loaded store's quads are
  counted per published graph against the embedded store's: a graph that differs is a failure, shown.
* **Each named query**: the cases of :mod:`bench.bench_named` (its case list and new values), first request, timed
  by the client (httpx, CSV), every server fresh and with no result cache: ``budgetkg serve`` on the embedded store
  (``GET /queries/NAME``), ``oxigraph serve-read-only`` on the ``oxigraph load`` directory (the plain text with the
  values bound written in, as bench_named sends it), ``budgetkg serve --store http://…/sparql`` in front of the
  bulk-loaded Virtuoso (``GET /queries/NAME``: the plain text, as on every remote store), and, unless
  ``--no-virtuoso-plain``, the same plain text POSTed straight to Virtuoso's ``/sparql`` with the published graphs
  named as budgetkg names them to Virtuoso (``DEFINE input:default-graph-uri`` and ``input:named-graph-uri``
  pragmas; JSON results, turned into CSV after the clock stops). ``oxigraph serve-read-only`` runs with
  ``--timeout-s`` at the client's timeout, so a query the client gave up on does not keep running. Every answer
  is compared row by row with the embedded store's (:func:`bench.bench_queries.verdict`); a failed or different
  case is shown as such. With ``--json OUT``, the cases measured so far are in ``OUT.partial.json`` (the same
  numbers) until the run ends: a run stopped before its end keeps them.
* **Memory**: peak RSS (VmHWM, summed over the process tree: budgetkg's server with its workers, the front with
  its workers, ``virtuoso-t``) of each server during the queries, sampled every 0.2 s, and of each loader.

Needs ``oxigraph`` (``pip install oxigraph``), ``virtuoso-t`` and ``isql-vt`` (scripts/setup-virtuoso.sh).
Virtuoso runs from :data:`VIRTUOSO_INI` on free loopback ports with its data in a temporary folder. Every request
has a 300 s timeout; every server is stopped at the end. A script, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlencode

import httpx
from pyoxigraph import NamedNode, QueryResultsFormat, QuerySolutions, RdfFormat, parse_query_results, serialize

from bench.bench_endpoint import HOST, RESULTS_JSON, ROOT, free_port, oxigraph_command, stop, wait_for
from bench.bench_named import CASES, TIMEOUT, cases_of, csv_lines, new_values, plain_request, start_budgetkg
from bench.bench_queries import verdict
from kg import queries
from kg.errors import BudgetKGError, NoSuchValue
from kg.iris import is_published
from kg.settings import QUERIES_DIR, Settings
from kg.store import EmbeddedStore
from kg.store.remote import dataset_pragmas

#: The ini template of the benchmark's Virtuoso (sized for the 24 GiB benchmark machine).
VIRTUOSO_INI = ROOT / "bench" / "virtuoso-bench.ini"
#: The query servers, in the order they are asked and shown.
TARGETS = ("embedded", "oxigraph", "virtuoso", "virtuoso_plain")
LABELS = {"embedded": "budgetkg serve (embedded Oxigraph)", "oxigraph": "oxigraph serve-read-only",
          "virtuoso": "budgetkg serve --store Virtuoso", "virtuoso_plain": "Virtuoso /sparql (plain text)"}
_PER_GRAPH = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"


# -- memory of process trees ----------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def tree_hwm_mb(root: int, children: dict[int, list[int]] | None = None) -> float:
    """VmHWM (peak resident MB) of ``root`` and its descendants, summed."""
    kids = _children() if children is None else children
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo += kids.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


class Peaks:
    """Samples, every 0.2 s while it runs, the summed VmHWM of named process trees, keeping each one's maximum."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots, self.peak = roots, dict.fromkeys(roots, 0.0)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        kids = _children()
        for name, pid in self.roots.items():
            self.peak[name] = max(self.peak[name], tree_hwm_mb(pid, kids))

    def _run(self) -> None:
        while not self._done.wait(0.2):
            self._sample()

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self._done.set()
        self._thread.join()


# -- a Virtuoso of its own ------------------------------------------------------------------------
@dataclass
class Virtuoso:
    """A ``virtuoso-t`` in the foreground from :data:`VIRTUOSO_INI`, its database in ``folder``."""

    folder: Path
    dirs: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    sql_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def start(self, first: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        ini = self.folder / "virtuoso.ini"
        ini.write_text(Template(VIRTUOSO_INI.read_text(encoding="utf-8")).substitute(
            data=str(self.folder), host=HOST, sql_port=self.sql_port, http_port=self.http_port, dirs=str(self.dirs)),
            encoding="utf-8")
        with open(self.folder / "stdout.log", "ab") as out:
            self.proc = subprocess.Popen([_need("virtuoso-t"), "-f", "-c", str(ini)], cwd=self.folder, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/sparql", params={"query": "ASK {}"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"virtuoso-t did not start on {self.url} (exit {self.proc.poll()}):\n{self.log()}")
            time.sleep(0.2)
        if first:
            self.isql(f"USER_SET_PASSWORD('dba', '{self.password}')", password="dba")

    def isql(self, *statements: str, password: str | None = None) -> str:
        done = subprocess.run([_need("isql-vt"), f"{HOST}:{self.sql_port}", "dba", password or self.password,
                               *(f"EXEC={s};" for s in statements)],
                              capture_output=True, text=True, timeout=24 * 3600, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or "*** Error" in done.stdout:
            raise RuntimeError(f"isql-vt {statements}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done.stdout

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def log(self) -> str:
        text = "".join(p.read_text(errors="replace") for p in (self.folder / "virtuoso.log",
                                                                 self.folder / "stdout.log") if p.exists())
        return "\n".join(text.splitlines()[-40:])

    def env(self) -> dict[str, str]:
        """What points ``budgetkg build`` at this server's authenticated endpoints as dba."""
        return {"BUDGETKG_QUERY_URL": f"{self.url}/sparql-auth", "BUDGETKG_UPDATE_URL": f"{self.url}/sparql-auth",
                "BUDGETKG_GSP_URL": f"{self.url}/sparql-graph-crud-auth", "BUDGETKG_STORE_AUTH": "digest",
                "BUDGETKG_STORE_USER": "dba", "BUDGETKG_STORE_PASSWORD": self.password}


def _need(command: str) -> str:
    found = shutil.which(command)
    if found is None:
        sys.exit(f"bench_servers: {command} is missing (scripts/setup-virtuoso.sh installs Virtuoso)")
    return found


# -- loading --------------------------------------------------------------------------------------
def counts_of(solutions: QuerySolutions, base: str) -> dict[str, int]:
    """Quads per published graph (IRI → count) of a ``_PER_GRAPH`` answer."""
    out = {}
    for s in solutions:
        g, n = s["g"], s["n"]
        if isinstance(g, NamedNode) and n is not None and is_published(g, base):
            out[g.value] = int(n.value)
    return out


def remote_counts(url: str, base: str, graphs: list[str] | None = None) -> dict[str, int]:
    r = httpx.post(url, data={"query": _PER_GRAPH}, headers={"Accept": RESULTS_JSON}, timeout=TIMEOUT)
    r.raise_for_status()
    found = parse_query_results(r.content, format=QueryResultsFormat.JSON)
    assert isinstance(found, QuerySolutions)
    return counts_of(found, base)


def compare_counts(want: dict[str, int], got: dict[str, int], unchecked: tuple[str, ...] = ()) -> str:
    """"" when ``got`` holds as many quads as ``want`` in every graph, else what differs (graphs ending in one of
    ``unchecked`` are left out).

    >>> compare_counts({"a": 1, "b/findings": 5}, {"a": 1, "b/findings": 2}, ("findings",))
    ''
    >>> compare_counts({"a": 1, "b": 2}, {"a": 3})
    'a: 3 quads, not 1; b: 0 quads, not 2'
    """
    out = [f"{g}: {got.get(g, 0)} quads, not {n}" for g, n in sorted((dict.fromkeys(got, 0) | want).items())
           if not g.endswith(unchecked) and got.get(g, 0) != want.get(g, 0)]
    return "; ".join(out)


def dump(store_dir: str, folder: Path, parts: int) -> tuple[list[Path], dict[str, int]]:
    """The store's published graphs as N-Quads in ``parts`` files of about equal size, and its quads per graph."""
    folder.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(store_dir, read_only=True)
    try:
        found = store.query(_PER_GRAPH)
        assert isinstance(found, QuerySolutions)
        counts = counts_of(found, Settings().base_iri)
        files = [folder / f"part{i}.nq" for i in range(parts)]
        sizes = [0] * parts
        with contextlib.ExitStack() as stack:
            handles = [stack.enter_context(open(f, "wb")) for f in files]
            for graph in store.graphs():
                i = sizes.index(min(sizes))
                sizes[i] += counts.get(graph.value, 0)
                serialize(store.quads(graph), output=handles[i], format=RdfFormat.N_QUADS)
    finally:
        store.close()
    return [f for f, n in zip(files, sizes, strict=True) if n], counts


def timed_process(cmd: list[str], env: dict[str, str] | None = None,
                  also: Callable[[], int | None] | None = None) -> dict[str, Any]:
    """Run ``cmd`` to its end: seconds, peak MB of its tree (plus ``also``'s tree, a server it talks to)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    roots = {"client": proc.pid}
    server = also() if also else None
    if server is not None:
        roots["server"] = server
    with Peaks(roots) as peaks:
        log, _ = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} … exited with {proc.returncode}:\n{log[-3000:]}")
    return {"seconds": seconds, "peak_mb": peaks.peak["client"], "server_peak_mb": peaks.peak.get("server")}


def load_oxigraph(files: list[Path], into: Path) -> dict[str, Any]:
    cmd = [oxigraph_command(), "load", "--location", str(into)]
    for f in files:
        cmd += ["--file", str(f)]
    return timed_process(cmd)


def load_virtuoso(v: Virtuoso, files: list[Path]) -> dict[str, Any]:
    """Virtuoso's bulk loader: register the files, one loader per file in parallel, then a checkpoint."""
    assert v.proc is not None
    started = time.perf_counter()
    with Peaks({"server": v.proc.pid}) as peaks:
        v.isql(f"ld_dir('{files[0].parent}', '*.nq', 'urn:budgetkg:bench:unused')")
        loaders = [threading.Thread(target=v.isql, args=("rdf_loader_run()",)) for _ in files]
        for t in loaders:
            t.start()
        for t in loaders:
            t.join()
        v.isql("checkpoint")
    seconds = time.perf_counter() - started
    failed = v.isql("SELECT ll_file, ll_error FROM DB.DBA.LOAD_LIST WHERE ll_error IS NOT NULL OR ll_state <> 2")
    if "0 Rows." not in failed:
        raise RuntimeError(f"Virtuoso's bulk loader left files unloaded:\n{failed[-2000:]}")
    return {"seconds": seconds, "peak_mb": peaks.peak["server"], "loaders": len(files)}


def build_virtuoso(v: Virtuoso, corpus: Path) -> dict[str, Any]:
    env = {**os.environ, **v.env(), "PYTHONPATH": os.pathsep.join(
        x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x)}
    env.pop("BUDGETKG_STORE", None)
    # --no-audit: the embedded build it is compared with (bench.bench_build) records no data-quality findings
    cmd = [sys.executable, "-m", "budgetkg", "build", "--quiet", "--no-audit", "--manifest",
           str(corpus / "manifest.toml")]
    out = timed_process(cmd, env=env, also=lambda: v.proc.pid if v.proc else None)
    client, server = out["peak_mb"], out.pop("server_peak_mb") or 0.0
    out.update(peak_mb=client + server, client_peak_mb=client, server_peak_mb=server)
    return out


# -- the named queries ----------------------------------------------------------------------------
@dataclass
class Answer:
    seconds: float | None = None
    rows: int | None = None
    answers: str = ""
    error: str = ""


@dataclass
class Case:
    query: str
    params: dict[str, str | None]
    new: bool = False
    skipped: str = ""
    results: dict[str, Answer] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        text = ", ".join(f"{k}={v}" for k, v in self.params.items()) or "(defaults)"
        return f"{text} (new)" if self.new else text


def _as_csv(body: bytes) -> bytes:
    """A JSON results answer as the CSV Oxigraph writes (Virtuoso's CSV writes terms its own way)."""
    found = parse_query_results(body, format=QueryResultsFormat.JSON)
    assert isinstance(found, QuerySolutions)
    return found.serialize(format=QueryResultsFormat.CSV) or b""


def run_case(case: Case, q: queries.NamedQuery, clients: dict[str, httpx.Client], graphs: list[str]) -> None:
    ox = clients["oxigraph"]
    try:
        text = plain_request(q, case.params, ox)
    except NoSuchValue as exc:
        case.skipped = f"skipped: no {exc.kind} {exc.value!r} in this store"
        return
    except (BudgetKGError, httpx.HTTPError) as exc:
        case.skipped = f"binding the values failed: {exc}"
        return
    url = f"/queries/{q.name}" + ("?" + urlencode(case.params) if case.params else "")
    # as budgetkg names them to Virtuoso: pragmas, not protocol parameters (kg.store.remote.dataset_pragmas)
    pragmas = dataset_pragmas([("default-graph-uri", g) for g in graphs] + [("named-graph-uri", g) for g in graphs])
    sends: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "embedded": lambda c: c.get(url, headers={"Accept": "text/csv"}),
        "oxigraph": lambda c: c.post("/query", content=text.encode("utf-8"),
                                     headers={"Content-Type": "application/sparql-query", "Accept": "text/csv"}),
        "virtuoso": lambda c: c.get(url, headers={"Accept": "text/csv"}),
        "virtuoso_plain": lambda c: c.post("/sparql", content=urlencode([("query", pragmas + text)]),
                                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                                    "Accept": RESULTS_JSON}),
    }
    reference: list[bytes] | None = None
    for target, client in clients.items():
        a = case.results[target] = Answer()
        started = time.perf_counter()
        try:
            r = sends[target](client)
            a.seconds = time.perf_counter() - started
        except httpx.HTTPError as exc:
            a.error = f"{type(exc).__name__} after {time.perf_counter() - started:.1f} s: {exc}"
            continue
        if r.status_code != 200:
            a.error = f"answered {r.status_code}: {r.text[:200]}"
        elif target == "virtuoso_plain" and "x-sparql-maxrows" in r.headers:
            a.error = f"cut at X-SPARQL-MaxRows {r.headers['x-sparql-maxrows']}"
        if a.error:
            continue
        lines = csv_lines(_as_csv(r.content) if target == "virtuoso_plain" else r.content)
        a.rows = max(len(lines) - 2, 0)
        if target == "embedded":
            reference, a.answers = lines, "reference"
        else:
            a.answers = "no reference" if reference is None else verdict(lines, reference)


def summary(cases: list[Case], target: str) -> dict[str, Any]:
    asked = [c for c in cases if not c.skipped and target in c.results]
    done = [c.results[target] for c in asked if c.results[target].seconds is not None and not c.results[target].error]
    seconds = [a.seconds for a in done if a.seconds is not None]
    both = [c for c in asked if not c.results[target].error and c.results[target].seconds is not None
            and "oxigraph" in c.results and c.results["oxigraph"].seconds is not None
            and not c.results["oxigraph"].error]
    mine = sum(c.results[target].seconds or 0.0 for c in both)
    theirs = sum(c.results["oxigraph"].seconds or 0.0 for c in both)
    return {"cases": len(asked), "failed": len(asked) - len(done),
            "different": sum(1 for a in done if a.answers == "DIFFERENT"),
            "sum_s": sum(seconds), "p50_s": statistics.median(seconds) if seconds else None,
            "max_s": max(seconds) if seconds else None,
            "oxigraph_over_this": theirs / mine if mine else None}


def _s(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def _cell(text: str, limit: int = 240) -> str:
    """A server's message as one table cell: one line, no ``|``, at most ``limit`` characters.

    >>> _cell("Error TN...: Exceeded memory.\\n\\nSPARQL query:\\nDEFINE | x", 40)
    'Error TN...: Exceeded memory. SPARQL qu…'
    """
    text = " ".join(text.replace("|", "/").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def case_table(cases: list[dict[str, Any]], targets: list[str]) -> list[str]:
    """Per case: rows, then each server's seconds and how its answer compares with the embedded store's."""
    lines = ["| query | parameters | rows | " + " | ".join(f"{LABELS[t]} s" for t in targets) + " | answers |",
             "|---|---|---:|" + "---:|" * len(targets) + "---|"]
    for c in cases:
        res = c["results"]
        rows = res.get("embedded", {}).get("rows")
        notes = [f"{t}: {_cell(res[t]['error']) or res[t]['answers']}" for t in targets
                 if t in res and t != "embedded" and (res[t]["error"] or res[t]["answers"] not in ("identical",))]
        if res.get("embedded", {}).get("error"):
            notes.insert(0, f"embedded: {_cell(res['embedded']['error'])}")
        cells = " | ".join(_s(res[t]["seconds"]) if t in res and not res[t]["error"] else ("failed" if t in res
                                                                                         else "—") for t in targets)
        lines.append(f"| {c['query']} | {c['shown']} | {_s(rows, 'd')} | {cells} | "
                     f"{c['skipped'] or '; '.join(notes) or 'identical'} |")
    return lines


def summary_table(numbers: dict[str, Any]) -> list[str]:
    """One row per server: how it was loaded, seconds, peak MB; the named queries summed, p50, max, failures."""
    load, s, mem = numbers["load"], numbers["summary"], numbers["memory"]
    lines = ["| server | loaded by | load s | load peak MB | queries: sum s | × oxigraph (its s / this s) | p50 s "
             "| max s | failed | different | server peak MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    loaders = {"embedded": [("budgetkg build", load.get("budgetkg_build"))],
               "oxigraph": [("oxigraph load", load.get("oxigraph_load"))],
               "virtuoso": [("bulk loader (ld_dir, rdf_loader_run)", load.get("virtuoso_bulk")),
                            ("budgetkg build (GSP PUT)", load.get("virtuoso_build"))],
               "virtuoso_plain": [("(the bulk-loaded server)", None)]}
    for t in numbers["targets"]:
        x = s[t]
        for i, (how, ld) in enumerate(loaders[t]):
            if ld is None and how.startswith("budgetkg build"):
                ld = {"check": "not run" + (" (--no-virtuoso-build)" if t == "virtuoso" else "")}
            ld = ld or {}
            check = f" ({_cell(ld.get('error', '')[-200:]) or ld['check']})" if ld.get("check") else ""
            head = (f"| {LABELS[t] if i == 0 else ''} | {how}{check} | {_s(ld.get('seconds'), '.1f')} "
                    f"| {_s(ld.get('peak_mb'), '.0f')} |")
            if i == 0:
                lines.append(f"{head} {_s(x['sum_s'])} | {_s(x['oxigraph_over_this'], '.2f')} | {_s(x['p50_s'])} "
                             f"| {_s(x['max_s'])} | {x['failed']} | {x['different']} | {_s(mem.get(t), '.0f')} |")
            else:
                lines.append(f"{head} | | | | | | |")
    return lines


def memory_of(peak: dict[str, float]) -> dict[str, float]:
    """Each target's peak MB from the sampled process trees (Virtuoso through budgetkg: both trees)."""
    return {"embedded": peak["embedded"], "oxigraph": peak["oxigraph"],
            "virtuoso": peak["virtuoso"] + peak["virtuoso_server"], "virtuoso_server": peak["virtuoso_server"],
            "virtuoso_front": peak["virtuoso"], "virtuoso_plain": peak["virtuoso_server"]}


def numbers_of(store: str, targets: list[str], picked: dict, load: dict, memory: dict[str, float],
               cases: list[Case], only: list[str] | None = None) -> dict[str, Any]:
    """What a run records (``--json``, :mod:`bench.run_all`'s servers step) of the cases measured; ``only``: the
    named queries the run was limited to (``--only``), whose cases :func:`merged` puts into an earlier run's."""
    out = {"store": store, "cpus": os.cpu_count(), "targets": targets, "new_values": picked, "load": load,
           "memory": memory, "summary": {t: summary(cases, t) for t in targets},
           "cases": [{**asdict(c), "shown": c.shown} for c in cases]}
    if only:
        out["only"] = sorted(only)
    return out


def case_of(recorded: dict[str, Any]) -> Case:
    """A case as :func:`numbers_of` recorded it."""
    return Case(recorded["query"], recorded["params"], recorded.get("new", False), recorded.get("skipped", ""),
                {t: Answer(**a) for t, a in recorded["results"].items()})


def merged(earlier: dict[str, Any], later: dict[str, Any], label: str) -> dict[str, Any]:
    """An earlier run's numbers with the cases of a later run limited to some named queries (``only``) put in:
    each of those queries' cases is the later run's (the earlier run's cases of them are dropped), the others stay,
    in query order. The summary is computed again over the merged cases, for the servers both runs measured. The
    loads are the later run's (it loaded the store it queried), unless it says they were disturbed
    (``load_disturbed``: other work ran on the machine while it loaded): then the earlier run's stay. The peak memory
    is the larger of the two runs'. ``merged_from`` says which queries came from which run (``label``: the later
    run's).
    """
    only = set(later["only"])
    targets = [t for t in earlier["targets"] if t in later["targets"]]
    kept = [c for c in earlier["cases"] if c["query"] not in only]
    cases = [{**c, "results": {t: a for t, a in c["results"].items() if t in targets}}  # the inputs stay as read
             for c in sorted(kept + list(later["cases"]), key=lambda c: c["query"])]  # stable: each run's order kept
    memory = {k: max(v, later["memory"].get(k, 0.0)) for k, v in earlier["memory"].items()}
    load = earlier["load"] if later.get("load_disturbed") else later["load"]
    out = {**earlier, "targets": targets, "load": load, "memory": memory, "cases": cases,
           "summary": {t: summary([case_of(c) for c in cases], t) for t in targets},
           "merged_from": [*earlier.get("merged_from", []),
                           {"run": label, "queries": sorted(only), "loads": not later.get("load_disturbed")}]}
    if "partial" in earlier and all(q in only for q in _unmeasured(earlier)):
        out.pop("partial")  # the later run measured what the earlier one had left
        out.pop("unmeasured", None)
    if "partial" in later:  # and what it left is unmeasured still
        out["partial"] = f"{label} was stopped after {later['partial']}"
        out["unmeasured"] = _unmeasured(later)
    return out


def _unmeasured(numbers: dict[str, Any]) -> list[str]:
    """The named queries a stopped run did not reach (``unmeasured``, when it recorded them)."""
    return list(numbers.get("unmeasured", []))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="a built budgetkg store (a RocksDB folder)")
    ap.add_argument("--corpus", type=Path, required=True, help="the corpus it was built from (its manifest.toml)")
    ap.add_argument("--build-seconds", type=float, help="the embedded store's budgetkg build time, if measured")
    ap.add_argument("--build-peak-mb", type=float, help="that build's peak MB")
    ap.add_argument("--loaders", type=int, default=max(2, os.cpu_count() or 2),
                    help="dump files, loaded in parallel by both bulk loaders (default: CPUs, at least 2)")
    ap.add_argument("--no-virtuoso-build", action="store_true",
                    help="leave out budgetkg build into Virtuoso (GSP PUT per document; slow at 100k)")
    ap.add_argument("--no-virtuoso-plain", action="store_true", help="leave out the plain text on Virtuoso's /sparql")
    ap.add_argument("--only", action="append", help="only this named query (repeatable)")
    ap.add_argument("--work", type=Path, help="temporary files here (default: the system's temporary folder)")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    if not (Path(args.store) / "CURRENT").is_file():
        sys.exit(f"bench_servers: {args.store} is no store folder")
    if not (args.corpus / "manifest.toml").is_file():
        sys.exit(f"bench_servers: {args.corpus} has no manifest.toml")
    for command in ("virtuoso-t", "isql-vt"):
        _need(command)
    base = Settings().base_iri
    chosen = [q for name, q in sorted(queries.load_all(QUERIES_DIR).items())
              if "contracts" not in q.tags and q.kind == "SELECT" and (not args.only or name in args.only)]
    asked = {v for _, values in CASES for v in values.values() if v is not None}
    asked |= {p.default for q in chosen for p in q.params if p.default is not None}
    targets = [t for t in TARGETS if not (t == "virtuoso_plain" and args.no_virtuoso_plain)]

    tmp = Path(tempfile.mkdtemp(prefix="budgetkg-servers-", dir=args.work))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x),
           "BUDGETKG_RESULT_CACHE_MB": "0"}
    procs: dict[str, subprocess.Popen] = {}
    bulk = Virtuoso(tmp / "virtuoso-bulk", tmp / "dump")
    built = Virtuoso(tmp / "virtuoso-build", tmp / "dump")
    limits = httpx.Timeout(TIMEOUT, connect=10.0)
    load: dict[str, Any] = {}
    try:
        # -- loading ----------------------------------------------------------------------------
        t = time.perf_counter()
        files, want = dump(args.store, tmp / "dump", args.loaders)
        print(f"dumped {sum(want.values())} quads in {len(want)} graphs to {len(files)} files "
              f"({time.perf_counter() - t:.1f} s, not counted)", file=sys.stderr, flush=True)
        if args.build_seconds is not None:
            load["budgetkg_build"] = {"seconds": args.build_seconds, "peak_mb": args.build_peak_mb}
        load["oxigraph_load"] = load_oxigraph(files, tmp / "oxigraph")
        print(f"oxigraph load {load['oxigraph_load']['seconds']:.1f} s", file=sys.stderr, flush=True)
        bulk.start(first=True)
        load["virtuoso_bulk"] = load_virtuoso(bulk, files)
        load["virtuoso_bulk"]["check"] = compare_counts(want, remote_counts(f"{bulk.url}/sparql", base)) or "same quads"
        bulk.stop()
        print(f"virtuoso bulk load {load['virtuoso_bulk']['seconds']:.1f} s", file=sys.stderr, flush=True)
        if not args.no_virtuoso_build:
            built.start(first=True)
            try:
                load["virtuoso_build"] = x = build_virtuoso(built, args.corpus)
                x["check"] = compare_counts(want, remote_counts(f"{built.url}/sparql", base)) or "same quads"
            except RuntimeError as exc:
                load["virtuoso_build"] = {"error": str(exc)[-2000:], "check": "failed"}
            finally:
                built.stop()
                shutil.rmtree(built.folder, ignore_errors=True)
            print(f"budgetkg build into virtuoso {load['virtuoso_build'].get('seconds', 0):.1f} s",
                  file=sys.stderr, flush=True)

        # -- the servers, fresh ---------------------------------------------------------------------
        ports = {t: free_port() for t in ("embedded", "oxigraph", "virtuoso")}
        procs["oxigraph"] = subprocess.Popen(
            [oxigraph_command(), "serve-read-only", "--location", str(tmp / "oxigraph"),
             "--bind", f"{HOST}:{ports['oxigraph']}", "--union-default-graph", "--timeout-s", f"{TIMEOUT:.0f}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs["embedded"] = start_budgetkg(args.store, ports["embedded"], env, None)
        bulk.start(first=False)
        assert bulk.proc is not None
        procs["virtuoso"] = start_budgetkg(f"{bulk.url}/sparql", ports["virtuoso"], env, None)
        wait_for(ports["oxigraph"], "/query?query=ASK%7B%7D", procs["oxigraph"])
        for t in ("embedded", "virtuoso"):
            wait_for(ports[t], "/health", procs[t])
        urls = {t: f"http://{HOST}:{p}" for t, p in ports.items()} | {"virtuoso_plain": bulk.url}
        clients = {t: httpx.Client(base_url=urls[t], timeout=limits) for t in targets}
        got = remote_counts(f"{urls['oxigraph']}/query", base)
        load["oxigraph_load"]["check"] = compare_counts(want, got) or "same quads"
        for t in ("embedded", "virtuoso"):
            clients[t].get("/health")  # the connection and the server's start-up are not the query's
        picked = new_values(clients["oxigraph"], asked)
        cases = [Case(c.query, c.params, c.new) for c in cases_of(chosen, picked)]
        by_name = {q.name: q for q in chosen}
        graphs = sorted(want)
        print(f"{len(chosen)} named queries, {len(cases)} cases; {os.cpu_count()} CPUs", file=sys.stderr, flush=True)
        roots = {"embedded": procs["embedded"].pid, "oxigraph": procs["oxigraph"].pid,
                 "virtuoso": procs["virtuoso"].pid, "virtuoso_server": bulk.proc.pid}
        with Peaks(roots) as peaks:
            for done, case in enumerate(cases, 1):
                run_case(case, by_name[case.query], clients, graphs)
                print(case_table([{**asdict(case), "shown": case.shown}], targets)[-1], file=sys.stderr, flush=True)
                if args.json and done < len(cases):  # what is measured so far survives a run stopped before its end
                    partial = numbers_of(args.store, targets, picked, load, memory_of(peaks.peak), cases[:done],
                                         args.only)
                    partial["partial"] = f"{done} of {len(cases)} cases"
                    partial["unmeasured"] = sorted({c.query for c in cases[done:]})
                    args.json.with_suffix(".partial.json").write_text(
                        json.dumps(partial, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        for c in clients.values():
            c.close()
        numbers = numbers_of(args.store, targets, picked, load, memory_of(peaks.peak), cases, args.only)
        if args.json:
            args.json.with_suffix(".partial.json").unlink(missing_ok=True)
        print("\n".join(["", *summary_table(numbers), "", *case_table(numbers["cases"], targets)]))
        if args.json:
            args.json.write_text(json.dumps(numbers, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    finally:
        for p in procs.values():
            stop(p)
        bulk.stop()
        built.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
