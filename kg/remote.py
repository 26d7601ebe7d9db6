"""A budgetkg store on a remote SPARQL 1.1 Query/Update + Graph Store Protocol endpoint.

:class:`RemoteStore` has :class:`kg.store.KGStore`'s interface (it is a subclass, so code typed
for a ``KGStore`` takes it), over HTTP with httpx:

* **Queries** are POSTed (form-encoded) to the query URL and their results parsed by pyoxigraph
  (``parse_query_results``), so callers get real ``QuerySolutions``/``QueryBoolean``; a graph result
  (N-Triples) is turned into a real ``QueryTriples`` through a small in-memory store.
* **The default graph is the union of the published graphs**, made explicit on every request:
  with an Oxigraph server (``--store http://HOST:PORT``) by its ``union-default-graph`` parameter;
  with explicitly configured URLs (any other server) by one ``default-graph-uri`` and one
  ``named-graph-uri`` per published graph (SPARQL 1.1 Protocol §2.1.4), which every server honours.
* **Writes** are Graph Store Protocol requests: a document graph is written or replaced by **one**
  ``PUT ?graph=<iri>`` whose body is the whole graph as N-Triples — one operation on the server,
  never one ``INSERT DATA`` per triple. :meth:`stage` spools the new content locally (a temporary
  file, not server-side staging graphs), :meth:`swap` PUTs it. A failed build therefore leaves
  the server as it was for every graph not yet swapped; each swap replaces a graph at once.
* **Dumps** GET each graph (``GET ?graph=<iri>``, N-Triples).

Every request has a timeout (``Settings.query_timeout`` for queries, longer for bulk writes) and
failures raise :class:`StoreError` naming the URL.

Example::

    store = RemoteStore.for_oxigraph("http://127.0.0.1:7878")   # /query, /update, /store
    store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any
from urllib.parse import urlencode

import httpx
from pyoxigraph import (
    DefaultGraph,
    NamedNode,
    Quad,
    QueryResultsFormat,
    RdfFormat,
    Store,
    parse,
    parse_query_results,
    serialize,
)

from .errors import QueryError, StoreError
from .store import STAGING_PREFIX, KGStore, NQuads, QueryResult, Writable, is_remote, with_values

RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
FORM = "application/x-www-form-urlencoded"
#: Seconds a bulk write (one PUT of a whole document graph) may take.
WRITE_TIMEOUT = 600.0
#: A staged graph is kept in memory up to this many bytes of N-Triples, then on disk.
SPOOL_BYTES = 32 * 1024 * 1024



def _prologue(prefixes: dict[str, str] | None) -> str:
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in (prefixes or {}).items())


class RemoteEndpoint:
    """The raw remote store: the subset of pyoxigraph ``Store``'s API that budgetkg uses, over HTTP.

    It is what ``RemoteStore.store`` holds, as ``KGStore.store`` holds a pyoxigraph ``Store``.
    """

    def __init__(self, query_url: str, update_url: str | None, gsp_url: str | None, *, oxigraph: bool = False,
                 timeout: float = 10.0) -> None:
        self.query_url = query_url
        self.update_url = update_url
        self.gsp_url = gsp_url
        self.oxigraph = oxigraph
        self.timeout = timeout
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                   headers={"User-Agent": "budgetkg"})
        #: published graphs to name when the server has no union-default-graph switch
        self.union_graphs: list[NamedNode] | None = None

    def close(self) -> None:
        self.client.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _send(self, method: str, url: str, what: str, **kw: Any) -> httpx.Response:
        try:
            r = self.client.request(method, url, **kw)
        except httpx.TimeoutException:
            raise StoreError(f"{what} at {url} timed out") from None
        except httpx.HTTPError as exc:
            raise StoreError(f"{what} at {url} failed: {exc}") from None
        return r

    def _fail(self, r: httpx.Response, what: str, name: str | None = None) -> None:
        text = r.text.strip()[:500]
        if name is not None and 400 <= r.status_code < 500:
            raise QueryError(name, f"{r.url} answered {r.status_code}: {text}")
        raise StoreError(f"{what} at {r.url} failed with HTTP {r.status_code}: {text}")

    # -- queries ------------------------------------------------------------------------------
    def query(self, sparql: str, *, substitutions: dict[Any, Any] | None = None,
              prefixes: dict[str, str] | None = None, use_default_graph_as_union: bool = False,
              default_graph: Iterable[Any] | None = None, named_graphs: Iterable[Any] | None = None,
              name: str = "query") -> QueryResult:
        """Run a query remotely; the dataset options mean what they mean for pyoxigraph's ``Store.query``."""
        if substitutions:
            sparql = with_values(sparql, {getattr(k, "value", k): v for k, v in substitutions.items()})
        form: list[tuple[str, str]] = [("query", _prologue(prefixes) + sparql)]
        params: dict[str, str] = {}
        if default_graph is not None or named_graphs is not None:
            form += [("default-graph-uri", g.value) for g in default_graph or () if isinstance(g, NamedNode)]
            form += [("named-graph-uri", g.value) for g in named_graphs or () if isinstance(g, NamedNode)]
        elif use_default_graph_as_union:
            if self.oxigraph:
                params["union-default-graph"] = ""
            else:
                graphs = self.union_graphs if self.union_graphs is not None else self.named_graphs()
                form += [("default-graph-uri", g.value) for g in graphs]
                form += [("named-graph-uri", g.value) for g in graphs]
        r = self._send("POST", self.query_url, "query", content=urlencode(form).encode("utf-8"), params=params,
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

    def update(self, sparql: str, *, prefixes: dict[str, str] | None = None) -> None:
        if not self.update_url:
            raise StoreError(f"no SPARQL Update URL for {self.query_url}: set BUDGETKG_UPDATE_URL")
        r = self._send("POST", self.update_url, "update", data={"update": _prologue(prefixes) + sparql},
                       timeout=WRITE_TIMEOUT)
        if r.status_code >= 300:
            self._fail(r, "update", "update" if r.status_code == 400 else None)

    def named_graphs(self) -> list[NamedNode]:
        """Every named graph on the server (``GRAPH ?g {}``, else the graphs that hold a triple)."""
        graphs: list[NamedNode] = []
        for q in ("SELECT ?g WHERE { GRAPH ?g {} }", "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"):
            result = self.query(q, name="graphs")
            graphs = [s["g"] for s in result if isinstance(s["g"], NamedNode)]  # type: ignore[union-attr]
            if graphs:
                break
        return graphs

    def contains_named_graph(self, graph: NamedNode) -> bool:
        result = self.query(f"ASK WHERE {{ GRAPH <{graph.value}> {{ ?s ?p ?o }} }}", name="graphs")
        return bool(result)

    def quads_for_pattern(self, s: Any, p: Any, o: Any, g: Any = None) -> Iterator[Quad]:
        """Quads matching a pattern (``None``: any), as pyoxigraph's ``Store.quads_for_pattern``."""
        if isinstance(g, NamedNode) and s is None and p is None and o is None:
            yield from self.graph_quads(g)
            return
        bound = {k: v for k, v in (("s", s), ("p", p), ("o", o)) if v is not None}
        if isinstance(g, DefaultGraph):
            where = "?s ?p ?o"
        else:
            where = "GRAPH ?g { ?s ?p ?o }"
            if isinstance(g, NamedNode):
                bound["g"] = g
        result = self.query(with_values(f"SELECT * WHERE {{ {where} }}", bound), name="pattern")
        for row in result:  # type: ignore[union-attr]
            yield Quad(row["s"], row["p"], row["o"], DefaultGraph() if isinstance(g, DefaultGraph) else row["g"])

    # -- Graph Store Protocol ----------------------------------------------------------------
    def _gsp(self) -> str:
        if not self.gsp_url:
            raise StoreError(f"no Graph Store Protocol URL for {self.query_url}: set BUDGETKG_GSP_URL")
        return self.gsp_url

    def graph_quads(self, graph: NamedNode) -> Iterator[Quad]:
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

    def remove_graph(self, graph: NamedNode) -> None:
        url = self._gsp()
        r = self._send("DELETE", url, f"removing graph {graph.value}", params={"graph": graph.value},
                       timeout=WRITE_TIMEOUT)
        if r.status_code >= 300 and r.status_code != 404:
            self._fail(r, f"removing graph {graph.value}")

    def flush(self) -> None:
        """Nothing to do: the server persists each request."""


def _as_query_triples(data: bytes) -> QueryResult:
    """N-Triples as pyoxigraph ``QueryTriples`` (what a local CONSTRUCT returns)."""
    tmp = Store()
    tmp.extend(Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in parse(data, format=RdfFormat.N_TRIPLES))
    return tmp.query("CONSTRUCT WHERE { ?s ?p ?o }")


def _ntriples(quads: Writable) -> bytes:
    if isinstance(quads, NQuads):
        quads = quads.quads()
    return serialize((q.triple for q in quads), format=RdfFormat.N_TRIPLES) or b""


class RemoteStore(KGStore):
    """A budgetkg store on a SPARQL endpoint; see the module docstring. ``path`` is ``None``."""

    def __init__(self, query_url: str, update_url: str | None = None, gsp_url: str | None = None, *,
                 read_only: bool = False, timeout: float = 10.0, oxigraph: bool = False) -> None:
        self.path = None
        self.url = query_url
        self.read_only = read_only
        self.store = RemoteEndpoint(query_url, update_url, gsp_url, oxigraph=oxigraph,  # type: ignore[assignment]
                                    timeout=timeout)
        self._graphs: list[NamedNode] | None = None
        self._staging = None
        self._spools: dict[str, IO[bytes]] = {}
        try:
            if not read_only:
                self.drop_staging()
            else:
                self.graphs()  # fail now, naming the URL, when the server is not there
        except StoreError:
            self.store.close()  # type: ignore[attr-defined]
            raise

    @classmethod
    def for_oxigraph(cls, base: str, **kw: Any) -> RemoteStore:
        """An Oxigraph server's layout: ``<base>/query``, ``<base>/update``, ``<base>/store``."""
        base = base.rstrip("/")
        return cls(f"{base}/query", f"{base}/update", f"{base}/store", oxigraph=True, **kw)

    def __repr__(self) -> str:
        return f"RemoteStore({self.url!r})"

    @property
    def endpoint(self) -> RemoteEndpoint:
        return self.store  # type: ignore[return-value]

    def close(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()
        if self.store is not None:
            self.endpoint.close()
        self.store = None  # type: ignore[assignment]

    # -- graphs ------------------------------------------------------------------------
    def graphs(self) -> list[NamedNode]:
        if self._graphs is None:
            every = self.endpoint.named_graphs()
            self._graphs = sorted((g for g in every if not g.value.startswith(STAGING_PREFIX)), key=lambda g: g.value)
            self._staging = len(self._graphs) != len(every)
            self.endpoint.union_graphs = self._graphs
        return self._graphs

    def has_graph(self, graph: NamedNode) -> bool:
        return self.endpoint.contains_named_graph(graph)

    def drop_staging(self) -> int:
        stale = [g for g in self.endpoint.named_graphs() if g.value.startswith(STAGING_PREFIX)]
        for g in stale:
            self.endpoint.remove_graph(g)
        self.invalidate()
        return len(stale)

    def write_new(self, graph: NamedNode, quads: Writable) -> None:
        """Create ``graph`` with ``quads`` in one Graph Store Protocol PUT."""
        self._check_writable()
        if self.has_graph(graph):
            raise StoreError(f"graph {graph.value} exists already at {self.url}: stage and swap it instead")
        try:
            self.endpoint.put_graph(graph, _ntriples(quads))
        finally:
            self.invalidate()

    def stage(self, quads: Writable) -> None:
        """Keep the content of a staging graph locally until :meth:`swap` PUTs it (nothing is sent now)."""
        self._check_writable()
        by_graph: dict[str, list[Quad]] = {}
        for q in quads.quads() if isinstance(quads, NQuads) else quads:
            by_graph.setdefault(q.graph_name.value, []).append(q)  # type: ignore[union-attr]
        for g, qs in by_graph.items():
            spool = self._spools.get(g)
            if spool is None:
                spool = self._spools[g] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
            spool.write(_ntriples(qs))

    def swap(self, graph: NamedNode, staging: NamedNode) -> None:
        """Replace ``graph`` by what was staged in ``staging``: one PUT of the whole graph."""
        self._check_writable()
        spool = self._spools.pop(staging.value, None)
        try:
            if spool is None:
                self.endpoint.put_graph(graph, b"")
            else:
                spool.seek(0)
                self.endpoint.put_graph(graph, spool.read())
        finally:
            if spool is not None:
                spool.close()
            self.invalidate()

    def remove_graph(self, graph: NamedNode) -> bool:
        spool = self._spools.pop(graph.value, None)
        if spool is not None:  # a staged graph that was never sent
            spool.close()
            return True
        if not self.has_graph(graph):
            return False
        self._check_writable()
        self.endpoint.remove_graph(graph)
        self.invalidate()
        return True

    def flush(self) -> None:
        """Nothing to flush: every write is a finished request."""

    # -- reading ----------------------------------------------------------------------
    def query(self, sparql: str, *, name: str = "query", substitutions: dict[str, object] | None = None,
              union: bool = True, use_default_graph_as_union: bool = False,
              prefixes: dict[str, str] | None = None) -> QueryResult:
        """Run SPARQL remotely with the union of the published graphs as default graph (see module doc)."""
        opts: dict[str, Any] = {}
        if union or use_default_graph_as_union:
            graphs = self.graphs()
            if self._staging or not self.endpoint.oxigraph:
                opts = {"default_graph": graphs, "named_graphs": graphs}
            else:
                opts = {"use_default_graph_as_union": True}
        return self.endpoint.query(sparql, substitutions=substitutions, name=name, prefixes=prefixes, **opts)

    def quads(self, graph: NamedNode | None = None) -> Iterator[Quad]:
        for g in [graph] if graph is not None else self.graphs():
            yield from self.endpoint.graph_quads(g)

    def __iter__(self) -> Iterator[Quad]:
        return self.quads()



__all__ = ["RemoteEndpoint", "RemoteStore", "is_remote", "with_values"]
