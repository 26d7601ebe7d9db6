"""A budgetkg store on a remote SPARQL 1.1 Query/Update + Graph Store Protocol endpoint.

:class:`RemoteStore` satisfies :class:`~kg.store.GraphStore` over HTTP with httpx:

* **Queries** are POSTed (form-encoded) to the query URL and their results parsed by pyoxigraph
  (``parse_query_results``), so callers get real ``QuerySolutions``/``QueryBoolean``; a graph result
  (N-Triples) is turned into a real ``QueryTriples`` through a small in-memory store.
* **The default graph is the union of the published graphs**, made explicit on every request:
  with an Oxigraph server (``--store http://HOST:PORT``) by its ``union-default-graph`` parameter;
  with explicitly configured URLs (any other server) by one ``default-graph-uri`` and one
  ``named-graph-uri`` per published graph (SPARQL 1.1 Protocol §2.1.4), which every server honours.
* **Writes** are Graph Store Protocol requests: a graph is written or replaced by **one**
  ``PUT ?graph=<iri>`` whose body is the whole graph as N-Triples — one operation on the server,
  never one ``INSERT DATA`` per triple. Removal is one ``DELETE``.
* **Dumps** GET each graph (``GET ?graph=<iri>``, N-Triples).

How atomic a :class:`~kg.store.transaction.Transaction` is here: staged content is kept locally
(a temporary file, never a server-side staging graph) and each swap is one ``PUT``, which the
server applies as one request: a graph is never seen half-written. There is no transaction across
requests in the SPARQL protocols, so a commit swaps graph after graph: a failure (or a killed
budgetkg) in the middle of a commit leaves the graphs swapped so far swapped; a failure before the
commit leaves the server as it was, apart from graphs the transaction created, which the rollback
deletes. There is no journal: a large graph is one large ``PUT``.

Every request has a timeout (``Settings.query_timeout`` for queries, longer for bulk writes) and
failures raise :class:`~kg.errors.StoreError` naming the URL.

Example::

    store = RemoteStore.for_oxigraph("http://127.0.0.1:7878")   # /query, /update, /store
    store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import httpx
from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    NamedNode,
    Quad,
    QueryResultsFormat,
    QuerySolutions,
    RdfFormat,
    Store,
    Triple,
    parse,
    parse_query_results,
    serialize,
)

from ..errors import QueryError, StoreError
from ..iris import is_staging, staging_graph
from .generations import Generations
from .parameters import prologue, with_values
from .protocol import GraphName, Object, QueryResult, Subject, sorted_nquads
from .transaction import Journal, NQuads, Transaction, Writable

RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
FORM = "application/x-www-form-urlencoded"
#: Seconds a bulk write (one PUT of a whole document graph) may take.
WRITE_TIMEOUT = 600.0
#: A staged graph is kept in memory up to this many bytes of N-Triples, then on disk.
SPOOL_BYTES = 32 * 1024 * 1024


class _Http:
    """The requests a :class:`RemoteStore` sends: plain methods over httpx, one per protocol operation."""

    def __init__(self, query_url: str, update_url: str | None, gsp_url: str | None, timeout: float) -> None:
        self.query_url = query_url
        self.update_url = update_url
        self.gsp_url = gsp_url
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                   headers={"User-Agent": "budgetkg"})

    def close(self) -> None:
        self.client.close()

    def _send(self, method: str, url: str, what: str, **kw: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kw)
        except httpx.TimeoutException:
            raise StoreError(f"{what} at {url} timed out") from None
        except httpx.HTTPError as exc:
            raise StoreError(f"{what} at {url} failed: {exc}") from None

    @staticmethod
    def _fail(r: httpx.Response, what: str, name: str | None = None) -> None:
        text = r.text.strip()[:500]
        if name is not None and 400 <= r.status_code < 500:
            raise QueryError(name, f"{r.url} answered {r.status_code}: {text}")
        raise StoreError(f"{what} at {r.url} failed with HTTP {r.status_code}: {text}")

    def query(self, sparql: str, form: list[tuple[str, str]], params: dict[str, str], name: str) -> QueryResult:
        """POST ``sparql`` with dataset parameters ``form`` (SPARQL Protocol) and ``params`` (the server's own)."""
        body = urlencode([("query", sparql), *form]).encode("utf-8")
        r = self._send("POST", self.query_url, "query", content=body, params=params,
                       headers={"Accept": f"{RESULTS_JSON}, {N_TRIPLES};q=0.9", "Content-Type": FORM})
        if r.status_code != 200:
            self._fail(r, "query", name)
        kind = r.headers.get("content-type", "").split(";")[0].strip()
        try:
            if kind in (N_TRIPLES, "text/plain"):
                return _as_query_triples(r.content)
            return parse_query_results(r.content, format=QueryResultsFormat.JSON)
        except (SyntaxError, ValueError) as exc:
            raise StoreError(f"cannot read the answer of {self.query_url} ({kind}): {exc}") from None

    def update(self, sparql: str) -> None:
        if not self.update_url:
            raise StoreError(f"no SPARQL Update URL for {self.query_url}: set BUDGETKG_UPDATE_URL")
        r = self._send("POST", self.update_url, "update", data={"update": sparql}, timeout=WRITE_TIMEOUT)
        if r.status_code >= 300:
            self._fail(r, "update", "update" if r.status_code == 400 else None)

    def _gsp(self) -> str:
        if not self.gsp_url:
            raise StoreError(f"no Graph Store Protocol URL for {self.query_url}: set BUDGETKG_GSP_URL")
        return self.gsp_url

    def get_graph(self, graph: NamedNode) -> Iterator[Quad]:
        url = self._gsp()
        r = self._send("GET", url, "reading a graph", params={"graph": graph.value},
                       headers={"Accept": N_TRIPLES}, timeout=WRITE_TIMEOUT)
        if r.status_code == 404:
            return
        if r.status_code != 200:
            self._fail(r, f"reading graph {graph.value}")
        for t in parse(r.content, format=RdfFormat.N_TRIPLES):
            yield Quad(t.subject, t.predicate, t.object, graph)

    def put_graph(self, graph: NamedNode, body: bytes | IO[bytes]) -> None:
        """Replace ``graph`` with ``body`` (N-Triples) in one Graph Store Protocol PUT."""
        url = self._gsp()
        r = self._send("PUT", url, f"writing graph {graph.value}", params={"graph": graph.value}, content=body,
                       headers={"Content-Type": N_TRIPLES}, timeout=WRITE_TIMEOUT)
        if r.status_code >= 300:
            self._fail(r, f"writing graph {graph.value}")

    def delete_graph(self, graph: NamedNode) -> None:
        url = self._gsp()
        r = self._send("DELETE", url, f"removing graph {graph.value}", params={"graph": graph.value},
                       timeout=WRITE_TIMEOUT)
        if r.status_code >= 300 and r.status_code != 404:
            self._fail(r, f"removing graph {graph.value}")


def _as_query_triples(data: bytes) -> QueryResult:
    """N-Triples as pyoxigraph ``QueryTriples`` (what a local CONSTRUCT returns)."""
    tmp = Store()
    tmp.extend(Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in parse(data, format=RdfFormat.N_TRIPLES))
    return tmp.query("CONSTRUCT WHERE { ?s ?p ?o }")


def _ntriples(quads: Writable) -> bytes:
    if isinstance(quads, NQuads):
        quads = quads.quads()
    return serialize((q.triple for q in quads), format=RdfFormat.N_TRIPLES) or b""


def _solutions(result: QueryResult) -> QuerySolutions:
    if not isinstance(result, QuerySolutions):
        raise StoreError("the endpoint did not answer a SELECT query with solutions")
    return result


def _nothing() -> None:
    """What flushing a remote store takes: the server persists each request."""


class RemoteStore:
    """A budgetkg store on a SPARQL endpoint; see the module docstring. ``path`` is ``None``."""

    def __init__(self, query_url: str, update_url: str | None = None, gsp_url: str | None = None, *,
                 read_only: bool = False, timeout: float = 10.0, oxigraph: bool = False) -> None:
        self.path: Path | None = None
        self.url = query_url
        self.read_only = read_only
        #: Whether the server is Oxigraph's (which takes ``union-default-graph``).
        self.oxigraph = oxigraph
        self._http = _Http(query_url, update_url, gsp_url, timeout)
        self._graphs: list[NamedNode] | None = None
        self._staging: bool | None = None
        self._spools: dict[str, IO[bytes]] = {}
        self._generations = Generations(None, 0)
        try:
            if not read_only:
                self.drop_staging()
            else:
                self.graphs()  # fail now, naming the URL, when the server is not there
        except StoreError:
            self._http.close()
            raise

    @classmethod
    def for_oxigraph(cls, base: str, **kw: Any) -> RemoteStore:
        """An Oxigraph server's layout: ``<base>/query``, ``<base>/update``, ``<base>/store``."""
        base = base.rstrip("/")
        return cls(f"{base}/query", f"{base}/update", f"{base}/store", oxigraph=True, **kw)

    def __repr__(self) -> str:
        return f"RemoteStore({self.url!r})"

    @property
    def location(self) -> str:
        return self.url

    @property
    def gsp_url(self) -> str | None:
        return self._http.gsp_url

    @property
    def generation(self) -> int:
        """Writes this object has committed (a remote server keeps no generation file)."""
        return self._generations.current

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return self._generations.hold(_nothing)

    def close(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()
        self._generations.held = 0
        self._generations.release(_nothing)
        self._http.close()

    def __enter__(self) -> RemoteStore:
        self._generations.held += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- graphs -------------------------------------------------------------------------------
    def _named_graphs(self) -> list[NamedNode]:
        """Every named graph on the server (``GRAPH ?g {}``, else the graphs that hold a triple)."""
        graphs: list[NamedNode] = []
        for q in ("SELECT ?g WHERE { GRAPH ?g {} }", "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"):
            graphs = [g for s in _solutions(self._http.query(q, [], {}, "graphs"))
                      if isinstance(g := s["g"], NamedNode)]
            if graphs:
                break
        return graphs

    def graphs(self) -> list[NamedNode]:
        if self._graphs is None:
            every = self._named_graphs()
            self._graphs = sorted((g for g in every if not is_staging(g)), key=lambda g: g.value)
            self._staging = len(self._graphs) != len(every)
        return self._graphs

    def hides_graphs(self) -> bool:
        self.graphs()
        return bool(self._staging)

    def invalidate(self) -> None:
        self._graphs = None
        self._staging = None

    def has_graph(self, graph: NamedNode) -> bool:
        result = self._http.query(f"ASK WHERE {{ GRAPH <{graph.value}> {{ ?s ?p ?o }} }}", [], {}, "graphs")
        return bool(result)

    # -- reading ------------------------------------------------------------------------------
    def query(self, sparql: str, *, name: str = "query", substitutions: Mapping[str, object] | None = None,
              union: bool = True, prefixes: dict[str, str] | None = None,
              default_graph: Sequence[NamedNode | DefaultGraph] | None = None,
              named_graphs: Sequence[NamedNode] | None = None) -> QueryResult:
        """Run SPARQL remotely with the union of the published graphs as default graph (see the module docstring)."""
        if substitutions:
            sparql = with_values(sparql, substitutions)
        form: list[tuple[str, str]] = []
        params: dict[str, str] = {}
        if default_graph is not None or named_graphs is not None:
            form += [("default-graph-uri", g.value) for g in default_graph or () if isinstance(g, NamedNode)]
            form += [("named-graph-uri", g.value) for g in named_graphs or ()]
        elif union:
            graphs = self.graphs()
            if self._staging or not self.oxigraph:
                form += [("default-graph-uri", g.value) for g in graphs]
                form += [("named-graph-uri", g.value) for g in graphs]
            else:
                params["union-default-graph"] = ""
        return self._http.query(prologue(prefixes) + sparql, form, params, name)

    def match(self, subject: Subject | None = None, predicate: NamedNode | None = None,
              object: Object | None = None, graph: GraphName | None = None) -> Iterator[Quad]:
        """Quads matching a pattern, found by a SELECT (a whole graph by one Graph Store Protocol GET)."""
        if isinstance(graph, NamedNode) and subject is None and predicate is None and object is None:
            yield from self._http.get_graph(graph)
            return
        bound: dict[str, Any] = {k: v for k, v in (("s", subject), ("p", predicate), ("o", object))
                                    if v is not None}
        where = "?s ?p ?o" if isinstance(graph, DefaultGraph) else "GRAPH ?g { ?s ?p ?o }"
        if isinstance(graph, NamedNode):
            bound["g"] = graph
        sparql = with_values(f"SELECT * WHERE {{ {where} }}", bound)
        result = self._http.query(sparql, [], {}, "pattern") if isinstance(graph, DefaultGraph) else \
            self.query(sparql, name="pattern")
        for row in _solutions(result):
            s, p, o = row["s"], row["p"], row["o"]
            g = DefaultGraph() if isinstance(graph, DefaultGraph) else row["g"]
            if isinstance(g, NamedNode) and is_staging(g):
                continue
            if isinstance(s, NamedNode | BlankNode | Triple) and isinstance(p, NamedNode) and o is not None:
                yield Quad(s, p, o, g if isinstance(g, NamedNode | DefaultGraph) else DefaultGraph())

    def quads(self, graph: NamedNode | None = None) -> Iterator[Quad]:
        for g in [graph] if graph is not None else self.graphs():
            yield from self._http.get_graph(g)

    def __iter__(self) -> Iterator[Quad]:
        return self.quads()

    def __len__(self) -> int:
        return sum(1 for _ in self.quads())

    def dump_sorted_nquads(self, graph: NamedNode | None = None) -> bytes:
        return sorted_nquads(self.quads(graph))

    # -- writing ------------------------------------------------------------------------------
    def transaction(self) -> Transaction:
        """A :class:`~kg.store.transaction.Transaction` over the endpoint (see the module docstring)."""
        return Transaction(self)

    def update(self, sparql: str, *, prefixes: dict[str, str] | None = None) -> None:
        """Apply a SPARQL Update (one request)."""
        self._check_writable()
        with self.batch():
            self._generations.changed()
            try:
                self._http.update(prologue(prefixes) + sparql)
            finally:
                self.invalidate()

    def flush(self) -> None:
        """Nothing to flush: every write is a finished request. Publishes unless a block holds it."""
        self._generations.release(_nothing)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store at {self.url} is open read-only")

    # -- the steps of a transaction (kg.store.transaction.Staging) -----------------------------------
    def drop_staging(self) -> int:
        """Remove staging graphs an older budgetkg left on the server; returns how many."""
        stale = [g for g in self._named_graphs() if is_staging(g)]
        for g in stale:
            self._http.delete_graph(g)
        self.invalidate()
        return len(stale)

    def staging_graph(self) -> NamedNode:
        """A fresh staging graph name (its content never leaves this process before the swap)."""
        return staging_graph(uuid.uuid4().hex)

    def write_new(self, graph: NamedNode, quads: Writable) -> None:
        """Create ``graph`` with ``quads`` in one Graph Store Protocol PUT."""
        self._check_writable()
        if self.has_graph(graph):
            raise StoreError(f"graph {graph.value} exists already at {self.url}: stage and swap it instead")
        with self.batch():
            self._generations.changed()
            try:
                self._http.put_graph(graph, _ntriples(quads))
            finally:
                self.invalidate()

    def stage(self, quads: Writable) -> None:
        """Keep the content of a staging graph locally until :meth:`swap` PUTs it (nothing is sent now)."""
        self._check_writable()
        by_graph: dict[str, list[Quad]] = {}
        for q in quads.quads() if isinstance(quads, NQuads) else quads:
            name = q.graph_name
            by_graph.setdefault(name.value if isinstance(name, NamedNode) else "", []).append(q)
        for key, qs in by_graph.items():
            spool = self._spools.get(key)
            if spool is None:
                spool = self._spools[key] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
            spool.write(_ntriples(qs))

    def swap(self, graph: NamedNode, staging: NamedNode) -> None:
        """Replace ``graph`` by what was staged in ``staging``: one PUT of the whole graph."""
        self._check_writable()
        spool = self._spools.pop(staging.value, None)
        with self.batch():
            self._generations.changed()
            try:
                if spool is None:
                    self._http.put_graph(graph, b"")
                else:
                    spool.seek(0)
                    self._http.put_graph(graph, spool.read())
            finally:
                if spool is not None:
                    spool.close()
                self.invalidate()

    def remove_graph(self, graph: NamedNode) -> bool:
        """Remove ``graph`` (one DELETE), or drop what was staged under that name; whether there was one."""
        spool = self._spools.pop(graph.value, None)
        if spool is not None:  # a staged graph that was never sent
            spool.close()
            return True
        if not self.has_graph(graph):
            return False
        self._check_writable()
        with self.batch():
            self._generations.changed()
            self._http.delete_graph(graph)
            self.invalidate()
        return True

    def journal(self) -> Journal | None:
        """None: the protocols have no way to write one graph in several hidden steps."""
        return None
