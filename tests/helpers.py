"""What several test modules (and some of bench/) share: the repository's folders, a served store, a
remote Oxigraph server, a Virtuoso server, a build child to kill, headless chromium, and a listener that
records connections.

Test modules import from here, never from one another; pytest fixtures built on these live in
``tests/conftest.py``.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import gc
import io
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, NoReturn

import httpx
import pytest
import rdflib
from pyoxigraph import NamedNode

from kg.settings import Settings
from kg.store import EmbeddedStore, GraphStore

ROOT = Path(__file__).resolve().parent.parent
#: The top-level source folder the bundled seeds come from (kg.bundled links to it).
SEEDS = ROOT / "seeds"
DATA = ROOT / "tests" / "data"
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = ROOT / "examples" / "contracts"
#: Screenshots and other files a test keeps for people to look at.
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
HOST = "127.0.0.1"
#: Where owlrl records inconsistencies: ``[] a err:ErrorMessage ; err:error "…"`` (owlrl.Closure).
OWLRL_ERRORS = "http://www.daml.org/2002/03/agents/agent-ont#"

#: Starts ``budgetkg serve`` exactly as the command line does, through the command's own register().
LAUNCH = ("import typer\nfrom budgetkg.commands.serve import register\napp = typer.Typer()\n"
          "@app.callback()\ndef main() -> None:\n    pass\nregister(app)\napp()")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def checkout_env(**env: str) -> dict[str, str]:
    """This process's environment with the checkout first on PYTHONPATH, for a child that imports budgetkg."""
    path = os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH", "")) if x)
    return {**os.environ, "PYTHONPATH": path, **env}


# -- golden files and OWL checks ----------------------------------------------------------------


def read_golden(path: Path) -> tuple[list[str], list[list[str]]]:
    """A golden CSV's ``#`` comment lines (which rows were checked by hand) and its rows (:func:`canonical_csv`)."""
    text = path.read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return comments, canonical_csv(body)


def canonical_csv(csv_text: str) -> list[list[str]]:
    """CSV rows with ``a | b`` cells (GROUP_CONCAT, whose order SPARQL leaves open) sorted."""
    return [[" | ".join(sorted(c.split(" | "))) if " | " in c else c for c in row]
            for row in csv.reader(io.StringIO(csv_text)) if row]


def owl_inconsistencies(g: rdflib.Graph) -> list[str]:
    """Expand ``g`` (in place) with the OWL-RL closure and return what makes it inconsistent.

    owlrl reports a violated rule (cax-dw, cls-nothing2, prp-irp, dt-not-type …) by adding
    ``[] a err:ErrorMessage ; err:error "…"`` to the graph; an individual typed owl:Nothing is
    inconsistent too, whether or not a message was recorded for it.
    """
    import owlrl
    from rdflib.namespace import OWL, RDF

    err = rdflib.Namespace(OWLRL_ERRORS)
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics).expand(g)
    problems = [str(m) for msg in g.subjects(RDF.type, err.ErrorMessage) for m in g.objects(msg, err.error)]
    problems += [f"{s} rdf:type owl:Nothing" for s in g.subjects(RDF.type, OWL.Nothing)]
    return sorted(problems)


# -- a served store ----------------------------------------------------------------------------


def write_disk_store(source: GraphStore, path: Path) -> Path:
    """Copy a store's published graphs into an on-disk store at ``path`` and release its lock."""
    from pyoxigraph import Store

    disk = Store(str(path))  # a scratch store of this copy's own, closed below
    disk.extend(source.quads())
    disk.flush()
    del disk
    gc.collect()
    return path


@contextmanager
def running_server(store: Path, **env: str) -> Iterator[str]:
    """``budgetkg serve`` on a free loopback port; yields its base URL and stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "serve", "--store", str(store), "--host", HOST,
                             "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            env=checkout_env(**env), cwd=ROOT)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"budgetkg serve exited with {proc.returncode}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("budgetkg serve did not start within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        stop(proc, signal.SIGINT, 15)


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 10) -> None:
    """Send ``sig`` and wait ``grace`` seconds; a process still running then is killed."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def copy_store(source: GraphStore, keep: Callable[[NamedNode], bool] = lambda graph: True) -> EmbeddedStore:
    """A writable in-memory copy of ``source``'s published graphs (those ``keep`` accepts), written through
    the store's interface (tests that write must not touch a session store)."""
    out = EmbeddedStore(None)
    with out.transaction() as tx:
        for graph in source.graphs():
            if keep(graph):
                tx.replace(graph, list(source.quads(graph)))
    return out


def linked_copy(seed_store: GraphStore, settings: Settings) -> GraphStore:
    """The seeds with links (budgetkg link) and the fictional example contracts imported."""
    from kg.contracts import import_files
    from kg.links import refresh_links

    store = copy_store(seed_store)
    refresh_links(store, settings)
    import_files(store, [EXAMPLES / "example_contracts.csv", EXAMPLES / "example_ocds.json"], settings)
    return store


# -- a remote store ----------------------------------------------------------------------------


@contextmanager
def oxigraph_server(location: Path) -> Iterator[str]:
    """``oxigraph serve`` (the binary of the PyPI package ``oxigraph``, a test extra) on a free loopback
    port over an empty folder; yields its base URL. Skipped where the binary is missing, failed under CI."""
    binary = shutil.which("oxigraph") or str(Path(sys.executable).parent / "oxigraph")
    if not Path(binary).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("the oxigraph server binary is needed in CI: pip install -e '.[test]' installs it")
        pytest.skip("the oxigraph server binary (pip install oxigraph) is not installed")
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--location", str(location), "--bind", f"{HOST}:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/query", params={"query": "ASK {}"}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"oxigraph serve did not start on {url}")
            time.sleep(0.1)
        yield url
    finally:
        stop(proc)


#: The ini template of the Virtuoso instance :func:`virtuoso_server` starts.
VIRTUOSO_INI = DATA / "virtuoso.ini"


@dataclass(frozen=True)
class Virtuoso:
    """A running Virtuoso: its HTTP root, the dba account (a fresh password each run) and its log."""

    url: str
    user: str
    password: str
    log: Path

    @property
    def sparql(self) -> str:
        """The anonymous SPARQL endpoint (queries only)."""
        return f"{self.url}/sparql"

    @property
    def sparql_auth(self) -> str:
        """The SPARQL endpoint behind digest authentication: queries and updates as dba."""
        return f"{self.url}/sparql-auth"

    @property
    def gsp_auth(self) -> str:
        """The Graph Store Protocol endpoint behind digest authentication."""
        return f"{self.url}/sparql-graph-crud-auth"

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log (its ErrorLogFile and what it printed), for a failure message."""
        text = "".join(p.read_text(errors="replace") for p in (self.log, self.log.with_name("stdout.log"))
                       if p.exists())
        return "\n".join(text.splitlines()[-lines:])


def _missing_virtuoso(what: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is needed in CI: run scripts/setup-virtuoso.sh (make test does) as root")
    pytest.skip(f"{what} is not installed (scripts/setup-virtuoso.sh installs Debian's virtuoso-opensource)")


def require_virtuoso() -> None:
    """Skip (fail under CI) where ``virtuoso-t`` or ``isql-vt`` is missing."""
    for command in ("virtuoso-t", "isql-vt"):
        if shutil.which(command) is None:
            _missing_virtuoso(command)


@contextmanager
def virtuoso_server(folder: Path) -> Iterator[Virtuoso]:
    """``virtuoso-t`` in the foreground on free loopback ports, with its own ini (:data:`VIRTUOSO_INI`) and
    database in ``folder``; the dba password is set to a fresh random one. Yields a :class:`Virtuoso` once
    /sparql answers and stops the server afterwards. Skipped where Virtuoso is missing, failed under CI."""
    binary, isql = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    if binary is None or isql is None:
        _missing_virtuoso("virtuoso-t" if binary is None else "isql-vt")
    folder.mkdir(parents=True, exist_ok=True)
    sql_port, http_port = free_port(), free_port()
    ini = folder / "virtuoso.ini"
    ini.write_text(Template(VIRTUOSO_INI.read_text(encoding="utf-8")).substitute(
        data=str(folder), host=HOST, sql_port=sql_port, http_port=http_port), encoding="utf-8")
    server = Virtuoso(f"http://{HOST}:{http_port}", "dba", secrets.token_urlsafe(18), folder / "virtuoso.log")
    with open(folder / "stdout.log", "wb") as out:
        proc = subprocess.Popen([binary, "-f", "-c", str(ini)], cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(server.sparql, params={"query": "ASK {}"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"virtuoso-t did not start on {server.url} (exit {proc.poll()}); its log:\n"
                            f"{server.log_tail()}")
            time.sleep(0.2)
        done = subprocess.run([isql, f"{HOST}:{sql_port}", "dba", "dba",
                               f"EXEC=USER_SET_PASSWORD('dba', '{server.password}');"],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            pytest.fail(f"isql-vt could not set the dba password: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        yield server
    finally:
        stop(proc, signal.SIGTERM, 20)


# -- a build to kill ---------------------------------------------------------------------------

#: The child: imports the command line first and says READY (so a random delay falls inside the build,
#: not in Python's start-up, and the next child can start while the store is being checked), waits for
#: GO, then runs ``budgetkg build --quiet --no-check --store STORE --manifest MANIFEST [FLAGS]`` exactly
#: as the console script does.
BUILD_DRIVER = ("import sys\nfrom budgetkg.cli import main\nprint('READY', flush=True)\nsys.stdin.readline()\n"
                "sys.argv = ['budgetkg', 'build', '--quiet', '--no-check', '--store', sys.argv[1], "
                "'--manifest', sys.argv[2], *sys.argv[3:]]\nmain()\n")


def spawn_build(store: Path, manifest: Path, *flags: str) -> subprocess.Popen[str]:
    """A child ready to run ``budgetkg build`` on ``manifest`` once told GO (:func:`run_build`)."""
    return subprocess.Popen([sys.executable, "-c", BUILD_DRIVER, str(store), str(manifest), *flags],
                            cwd=ROOT, env=checkout_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_build(proc: subprocess.Popen[str], kill_after: float | None) -> tuple[bool, float]:
    """Start the build of a :func:`spawn_build` child; SIGKILL it ``kill_after`` s into the build.

    Returns whether it was still running when killed, and the seconds from GO to its exit (a delay
    for the next kill is drawn within a full build's duration; nothing asserts on it)."""
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "READY"
        proc.stdin.write("GO\n")
        proc.stdin.flush()
        started = time.perf_counter()
        if kill_after is None:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            return False, time.perf_counter() - started
        time.sleep(kill_after)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        return alive, time.perf_counter() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- headless chromium -------------------------------------------------------------------------


def require_chromium(static: Path, vendor: tuple[str, ...]) -> None:
    """Skip without /usr/bin/chromium (fail under CI=true); fail when the pages' npm assets are missing."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing: run scripts/setup-assets.sh --with-chromium")
        pytest.skip("headless chromium is not installed at /usr/bin/chromium "
                    "(scripts/setup-assets.sh --with-chromium installs Debian's package)")
    missing = [n for n in vendor if not (static / "vendor" / n).is_file()]
    if missing:
        pytest.fail(f"assets missing from server/static/vendor/ ({', '.join(missing)}): run scripts/setup-assets.sh")


class Chromium:
    """Headless chromium with one page, driven over the DevTools protocol (a websocket).

    Records the URL of every request the page makes (``requests``); screenshots go to
    ``tests/artifacts/<prefix><name>.png``.
    """

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000, prefix: str = "") -> None:
        from websockets.sync.client import connect

        self.prefix = prefix
        self.proc = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.stack = contextlib.ExitStack()
        try:
            port = self._port()
            deadline = time.monotonic() + 30
            pages: list[dict] = []
            while not pages and time.monotonic() < deadline:
                pages = [t for t in httpx.get(f"http://{HOST}:{port}/json/list", timeout=5).json()
                         if t.get("type") == "page"]
                time.sleep(0.1)
            assert pages, "chromium opened no page"
            self.ws = self.stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"],
                                                       max_size=64 * 1024 * 1024, open_timeout=30))
            self.ids = itertools.count(1)
            self.requests: list[str] = []
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send("Network.enable")
        except BaseException:
            self.close()
            raise

    def _port(self) -> int:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode("utf-8", "replace")
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                return int(m.group(1))
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError("chromium did not open its DevTools port")

    def _event(self, msg: dict) -> None:
        if msg.get("method") == "Network.requestWillBeSent":
            self.requests.append(msg["params"]["request"]["url"])

    def send(self, method: str, **params: Any) -> dict:
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=90))
            if msg.get("id") == n:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]
            self._event(msg)

    def js(self, expression: str) -> Any:
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise AssertionError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def open(self, url: str, ready: str = "document.readyState === 'complete'", timeout: float = 60) -> None:
        """Navigate to ``url`` and wait until the JavaScript expression ``ready`` is true."""
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if self.js(f"(() => {{ try {{ return !!({ready}); }} catch (e) {{ return false; }} }})()"):
                return
        raise AssertionError(f"{url}: never ready ({ready})")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = self.send("Page.captureScreenshot", format="png")
        path = ARTIFACTS / f"{self.prefix}{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            self.stack.close()
        finally:
            self.proc.kill()
            self.proc.wait(10)


# -- a listener that records connections -------------------------------------------------------


class Trap:
    """A loopback listener that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(1)
            try:
                self.hits.append(conn.recv(4096) or b"<connected>")
            except OSError:
                self.hits.append(b"<connected>")
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def built_seeds(folder: Path, settings: Settings, manifest: Any, **build_options: Any) -> EmbeddedStore:
    """The bundled seeds built into a new embedded store under ``folder`` (``build_options`` go to the build)."""
    from kg.pipeline import build

    store = EmbeddedStore(folder / "store")
    build(store, manifest.entries, settings, manifest=manifest, **build_options)
    return store


def bound_values(store: GraphStore, q: Any, values: dict[str, str | None]) -> dict:
    """A named query's bindings for ``values``, its look-ups (labels to IRIs) answered by ``store``."""
    from kg import queries

    bindings = q.bindings(values)
    return queries.resolve(q.lookups(bindings), bindings, lambda s: store.query(s))
