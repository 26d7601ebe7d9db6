"""A budgetkg store on a remote SPARQL 1.1 Query/Update + Graph Store Protocol endpoint.

:class:`RemoteStore` satisfies :class:`~kg.store.GraphStore` over HTTP with httpx:

* **Queries** are POSTed (form-encoded) to the query URL and their results parsed by pyoxigraph
  (``parse_query_results``), so callers get real ``QuerySolutions``/``QueryBoolean``; a graph result
  (N-Triples) is turned into a real ``QueryTriples`` through a small in-memory store.
* **The published graphs are budgetkg's only**: the ontology's and those under ``<base>graph/``
  (:func:`kg.iris.is_published`), never a staging graph nor a graph of the server's own (Virtuoso keeps
  its system graphs — ``…/DAV/``, ``virtrdf#``, ``ldp#`` … — in the same dataset) or of another dataset.
  :meth:`RemoteStore.graphs` chooses them, in this one place.
* **The default graph is the union of the published graphs**, made explicit on every request:
  with an Oxigraph server (``--store http://HOST:PORT``) that holds no other graph by its
  ``union-default-graph`` parameter; otherwise by one ``default-graph-uri`` and one ``named-graph-uri``
  per published graph (SPARQL 1.1 Protocol §2.1.4), which every server honours. To Virtuoso (its answers'
  ``Server`` header says so) the same dataset goes as ``DEFINE input:default-graph-uri`` /
  ``input:named-graph-uri`` pragmas before the query (:func:`dataset_pragmas`): it echoes every protocol
  parameter back as a response header, too large to read past about 500 graphs.
* **One URL finds the endpoints** (:meth:`RemoteStore.at`): ``http://HOST:PORT`` is an Oxigraph server
  (``/query``, ``/update``, ``/store``), or, when ``/query`` answers 404 or 405, a budgetkg server
  (``/sparql``, ``/store``: read-only); a URL whose path ends in ``/sparql`` is a query endpoint — a
  budgetkg server's (its ``/health`` says so; graphs are read from its ``/store``) or any other
  (Virtuoso's: graphs are read by ``CONSTRUCT``), read-only. A write to a read-only store fails naming it.
* **Authentication** (:class:`Credentials`): basic, digest or bearer, on every request. The secret is never
  part of a repr, a log line or an error message.
* **Answers are never cut**: a server that says it truncated a result (budgetkg's ``X-Truncated``,
  Virtuoso's ``X-SPARQL-MaxRows``) or answered with part of it (Virtuoso's ``X-SQL-State: S1TAT``: stopped at
  its ``MaxQueryExecutionTime``, the rows found so far) makes the request fail with a
  :class:`~kg.errors.StoreError` naming the server's message.
* **A server's error is the user's at once**: a query the server rejects (Virtuoso answers HTTP 500 for
  its own limits, e.g. ``Exceeded 1000000000 bytes in transitive temp memory``) fails as soon as the answer
  comes, with the server's message in the :class:`~kg.errors.StoreError` (the budgetkg server's 503);
  nothing is retried.
* **Writes** are Graph Store Protocol requests: a graph of at most ``write_chunk`` triples (default
  :data:`WRITE_CHUNK`) is written or replaced by **one** ``PUT ?graph=<iri>`` whose body is the whole graph
  as N-Triples — one operation on the server, never one ``INSERT DATA`` per triple. A larger graph is
  POSTed in parts of ``write_chunk`` triples into a fresh staging graph, then swapped in by **one** SPARQL
  Update ``MOVE <staging> TO <graph>`` (a graph with a blank node always goes in one ``PUT``: a server
  names the blank nodes of each request apart). Removal is one ``DELETE``.
* **Graphs are listed** by ``GRAPH ?g {}``, else (Virtuoso answers that with nothing) by a ``GROUP BY ?g``
  over every quad — never ``SELECT DISTINCT ?g``, which Virtuoso 7.2 turns into its
  ``SPARQL_SELECT_KNOWN_GRAPHS`` procedure: minutes at 3.6 million quads, and the list is made again
  after every write.
* **Graphs are read** (dumps, exports, ``/store`` of a budgetkg server in front) by one ``GET ?graph=<iri>``
  (N-Triples; a ``CONSTRUCT`` without a Graph Store URL) up to ``read_chunk`` triples (default
  :data:`READ_CHUNK`); a larger graph in pages of about that many, each a ``CONSTRUCT``: its predicates
  together (``VALUES ?p``), a predicate of more by ranges of ``MD5(STR(?s))`` and one page for its blank-node
  subjects. No page needs an ``ORDER BY`` (``LIMIT``/``OFFSET`` is not stable without one, and Virtuoso sorts
  at most 10,000 rows for it) and a server names a blank node alike in every answer. The server counts the
  graph's triples per predicate first (one ``GROUP BY ?p``); what is read must add up to that, predicate by
  predicate, else :class:`~kg.errors.StoreError` (a write between the pages, a cut answer): never a short
  export. Literals are made canonical as Oxigraph keeps them (Virtuoso keeps ``xsd:positiveInteger`` where
  Oxigraph stores ``xsd:integer``). Virtuoso does not keep ``xsd:duration`` lexical forms (``P1M`` comes back
  as ``1``, ``P7D`` as ``604800.0``): that is lost on the server, not mended here (docs/scale.md).

How atomic a :class:`~kg.store.transaction.Transaction` is here: staged content is kept locally
(a temporary file) until the swap, and each swap is one request the server applies as one: a ``PUT``,
or for a large graph the ``MOVE`` from its staging graph. A graph is never seen half-written: the parts
POSTed before the ``MOVE`` are in a staging graph no budgetkg query reads (:meth:`RemoteStore.graphs`
leaves staging graphs out, and every query then names the published graphs); a reader of the server's
whole dataset (Virtuoso's ``/sparql`` without a dataset) may see the staging graph while it fills. A
failed part removes the staging graph; one left by a killed budgetkg is removed when a store is next
opened for writing (:meth:`RemoteStore.drop_staging`). There is no transaction across requests in the
SPARQL protocols, so a commit swaps graph after graph: a failure (or a killed budgetkg) in the middle of
a commit leaves the graphs swapped so far swapped; a failure before the commit leaves the server as it
was, apart from graphs the transaction created, which the rollback deletes.

Every request has a timeout (``Settings.query_timeout`` for queries, :data:`WRITE_TIMEOUT` for a bulk
write) that bounds the **whole** request, not only each wait for a byte (httpx's own timeouts; a server
that reads or answers a trickle at a time would never trip them): past it the request is given up and
:class:`~kg.errors.StoreError` raised naming the URL, as every failure is.

Example::

    store = RemoteStore.for_oxigraph("http://127.0.0.1:7878")   # /query, /update, /store
    store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
"""

from __future__ import annotations

import contextlib
import io
import itertools
import tempfile
import threading
import uuid
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

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
from ..iris import EMPTY_GRAPH, is_published, is_staging, staging_graph
from ..namespaces import DEFAULT_BASE_IRI
from .generations import Generations
from .parameters import prologue, with_values
from .protocol import GraphName, Object, QueryResult, Subject, sorted_nquads
from .transaction import Journal, NQuads, Transaction, Writable

RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
FORM = "application/x-www-form-urlencoded"
#: Seconds a bulk write (one PUT of a whole document graph, one part of a large graph, one MOVE) may take.
WRITE_TIMEOUT = 600.0
#: Triples a graph is sent in by one request: a larger graph is POSTed in parts of this many triples into
#: a staging graph, then moved in by one SPARQL Update (see the module docstring).
WRITE_CHUNK = 100_000
#: Triples a graph is read in by one request: a larger graph is read in pages of about this many triples, by
#: predicate (see the module docstring). Virtuoso answers no Graph Store GET or CONSTRUCT of more triples than its
#: ``MaxVectorSize`` (1,000,000 by default): "FRVEC: array … over max vector length".
READ_CHUNK = 200_000
#: Seconds a request may outlive its timeout before it is given up (the time httpx takes to notice).
GRACE = 1.0
#: A staged graph is kept in memory up to this many bytes of N-Triples, then on disk.
SPOOL_BYTES = 32 * 1024 * 1024


#: How a server says it cut an answer short: budgetkg's row limit, Virtuoso's ``ResultSetMaxRows``.
TRUNCATED_HEADERS = ("x-truncated", "x-sparql-maxrows")


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to a remote store: ``scheme`` is ``basic``, ``digest`` or ``bearer``.

    ``secret`` is the password (basic, digest) or the token (bearer); it is never shown:

    >>> Credentials("digest", "dba", "s3cret")
    Credentials(scheme='digest', user='dba')
    """

    scheme: str
    user: str = ""
    secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.scheme not in ("basic", "digest", "bearer"):
            raise StoreError(f"unknown authentication {self.scheme!r}: basic, digest or bearer")

    def auth(self) -> httpx.Auth:
        if self.scheme == "basic":
            return httpx.BasicAuth(self.user, self.secret)
        if self.scheme == "digest":
            return httpx.DigestAuth(self.user, self.secret)
        return _Bearer(self.secret)


class _Bearer(httpx.Auth):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "_Bearer()"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def shown(url: str | httpx.URL) -> str:
    """``url`` as messages show it: without a user name or password written into it.

    >>> shown("http://dba:s3cret@127.0.0.1:8890/sparql?x=1")
    'http://127.0.0.1:8890/sparql'
    """
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class _Http:
    """The requests a :class:`RemoteStore` sends: plain methods over httpx, one per protocol operation."""

    def __init__(self, query_url: str, update_url: str | None, gsp_url: str | None, timeout: float,
                 credentials: Credentials | None = None) -> None:
        self.query_url = query_url
        self.update_url = update_url
        self.gsp_url = gsp_url
        self.timeout = timeout
        #: Whether graphs read are passed through Oxigraph (see :meth:`as_quads`); not needed from Oxigraph.
        self.canonical = True
        self._credentials = credentials
        self.client = self._client()
        #: The server's ``Server`` header, from its first answer ("" until then, or when it sends none).
        self.server = ""

    @property
    def virtuoso(self) -> bool:
        """Whether the server says it is Virtuoso (then a dataset is sent as pragmas: :func:`dataset_pragmas`)."""
        return self.server.startswith("Virtuoso/")

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                            headers={"User-Agent": "budgetkg"},
                            auth=self._credentials.auth() if self._credentials is not None else None)

    def close(self) -> None:
        self.client.close()

    def _send(self, method: str, url: str, what: str, **kw: Any) -> httpx.Response:
        """One request, given up (:class:`StoreError`) once it has taken its whole timeout.

        httpx's timeouts bound each wait for the network, not the request: it runs in a thread of its own
        and is abandoned at its deadline (the thread ends when httpx notices; its connection is not reused).
        """
        limit = float(kw.get("timeout", self.timeout))
        outcome: list[httpx.Response | BaseException] = []
        client = self.client

        def run() -> None:
            try:
                outcome.append(client.request(method, url, **kw))
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)

        worker = threading.Thread(target=run, name="budgetkg-request", daemon=True)
        worker.start()
        worker.join(limit + GRACE)
        if not outcome:
            self.client = self._client()  # the abandoned request keeps the old one until it ends
            raise StoreError(f"{what} at {shown(url)} timed out: no complete answer within {limit:.0f} s")
        r = outcome[0]
        if isinstance(r, httpx.TimeoutException):
            raise StoreError(f"{what} at {shown(url)} timed out") from None
        if isinstance(r, httpx.HTTPError):
            raise StoreError(f"{what} at {shown(url)} failed: {r}") from None
        if isinstance(r, BaseException):
            raise r
        if not self.server:
            self.server = r.headers.get("server", "")
        if r.status_code == 200 and (cut := next((h for h in TRUNCATED_HEADERS if h in r.headers), None)):
            raise StoreError(f"{what} at {shown(url)}: the server cut the answer short ({cut}: {r.headers[cut]}); "
                             "raise its row limit (budgetkg: BUDGETKG_MAX_ROWS; Virtuoso: ResultSetMaxRows)")
        return r

    @staticmethod
    def _fail(r: httpx.Response, what: str, name: str | None = None) -> None:
        text = r.text.strip()[:500]
        if r.status_code in (401, 403):  # the store refused us: no query of ours was wrong
            raise StoreError(f"{what} at {shown(r.url)} failed with HTTP {r.status_code}: authentication failed "
                             "or not allowed (see BUDGETKG_STORE_AUTH in docs/scale.md)")
        if name is not None and 400 <= r.status_code < 500:
            raise QueryError(name, f"{shown(r.url)} answered {r.status_code}: {text}")
        raise StoreError(f"{what} at {shown(r.url)} failed with HTTP {r.status_code}: {text}")

    def query(self, sparql: str, form: list[tuple[str, str]], params: dict[str, str], name: str) -> QueryResult:
        """POST ``sparql`` with dataset parameters ``form`` (SPARQL Protocol; to Virtuoso as its pragmas,
        :func:`dataset_pragmas`) and ``params`` (the server's own)."""
        if form and self.virtuoso:
            sparql, form = dataset_pragmas(form) + sparql, []
        body = urlencode([("query", sparql), *form]).encode("utf-8")
        r = self._send("POST", self.query_url, "query", content=body, params=params,
                       headers={"Accept": f"{RESULTS_JSON}, {N_TRIPLES};q=0.9", "Content-Type": FORM})
        if r.status_code != 200:
            self._fail(r, "query", name)
        if state := r.headers.get("x-sql-state"):  # Virtuoso's "anytime" answer: what it found in its time
            raise StoreError(f"query at {shown(self.query_url)}: the server returned part of the answer only "
                             f"({state}: {r.headers.get('x-sql-message', '').strip()[:300]}); raise its "
                             "MaxQueryExecutionTime (Virtuoso) or make the query cheaper")
        kind = r.headers.get("content-type", "").split(";")[0].strip()
        try:
            if kind in (N_TRIPLES, "text/plain"):
                return _as_query_triples(r.content)
            return parse_query_results(r.content, format=QueryResultsFormat.JSON)
        except (SyntaxError, ValueError) as exc:
            raise StoreError(f"cannot read the answer of {shown(self.query_url)} ({kind}): {exc}") from None

    def update(self, sparql: str) -> None:
        if not self.update_url:
            raise StoreError(f"no SPARQL Update URL for {shown(self.query_url)}: set BUDGETKG_UPDATE_URL")
        r = self._send("POST", self.update_url, "update", data={"update": sparql}, timeout=WRITE_TIMEOUT)
        if r.status_code >= 300:
            self._fail(r, "update", "update" if r.status_code == 400 else None)

    def _gsp(self) -> str:
        if not self.gsp_url:
            raise StoreError(f"no Graph Store Protocol URL for {shown(self.query_url)}: set BUDGETKG_GSP_URL")
        return self.gsp_url

    def read_triples(self, graph: NamedNode, where: str | None = None) -> list[Triple]:
        """The triples of ``graph``: every one by a Graph Store Protocol GET (a CONSTRUCT with a query endpoint
        only), or those matching ``where`` (patterns over ``?s ?p ?o``, one page of a large graph) by a CONSTRUCT."""
        if where is None and self.gsp_url is not None:
            r = self._send("GET", self.gsp_url, "reading a graph", params={"graph": graph.value},
                           headers={"Accept": N_TRIPLES}, timeout=WRITE_TIMEOUT)
        else:
            sparql = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph.value}> {{ {where or '?s ?p ?o'} }} }}"
            r = self._send("POST", self.query_url, "reading a graph", content=urlencode({"query": sparql}),
                           headers={"Accept": N_TRIPLES, "Content-Type": FORM}, timeout=WRITE_TIMEOUT)
        if r.status_code == 404:
            return []
        if r.status_code != 200:
            self._fail(r, f"reading graph {graph.value}")
        try:
            return list(parse(r.content, format=RdfFormat.N_TRIPLES))
        except SyntaxError as exc:
            raise StoreError(f"cannot read graph {graph.value} from {shown(r.url)}: {exc}") from None

    def as_quads(self, triples: list[Triple], graph: NamedNode) -> Iterator[Quad]:
        """``triples`` in ``graph``, their literals as Oxigraph keeps them (when :attr:`canonical`): Virtuoso returns
        xsd:positiveInteger (and the other types derived from xsd:integer) as sent, Oxigraph stores xsd:integer."""
        quads = (Quad(t.subject, t.predicate, t.object, graph) for t in triples)
        if not self.canonical:
            yield from quads
            return
        tmp = Store()
        tmp.extend(quads)
        yield from tmp.quads_for_pattern(None, None, None, graph)

    def put_graph(self, graph: NamedNode, body: bytes | IO[bytes]) -> None:
        """Replace ``graph`` with ``body`` (N-Triples) in one Graph Store Protocol PUT."""
        url = self._gsp()
        r = self._send("PUT", url, f"writing graph {graph.value}", params={"graph": graph.value}, content=body,
                       headers={"Content-Type": N_TRIPLES}, timeout=WRITE_TIMEOUT)
        if r.status_code >= 300:
            self._fail(r, f"writing graph {graph.value}")

    def post_graph(self, graph: NamedNode, body: bytes) -> None:
        """Add ``body`` (N-Triples) to ``graph`` in one Graph Store Protocol POST."""
        url = self._gsp()
        r = self._send("POST", url, f"writing graph {graph.value}", params={"graph": graph.value}, content=body,
                       headers={"Content-Type": N_TRIPLES}, timeout=WRITE_TIMEOUT)
        if r.status_code >= 300:
            self._fail(r, f"writing graph {graph.value}")

    def delete_graph(self, graph: NamedNode) -> None:
        url = self._gsp()
        r = self._send("DELETE", url, f"removing graph {graph.value}", params={"graph": graph.value},
                       timeout=WRITE_TIMEOUT)
        if r.status_code >= 300 and r.status_code != 404:
            self._fail(r, f"removing graph {graph.value}")


def dataset_pragmas(form: list[tuple[str, str]]) -> str:
    """A protocol dataset (``default-graph-uri`` and ``named-graph-uri`` pairs) as Virtuoso's own pragmas, one
    ``DEFINE input:default-graph-uri <g>`` or ``DEFINE input:named-graph-uri <g>`` per graph, to go before the
    query's prologue. They mean what the parameters mean (a ``FROM`` in the query wins over both, on Virtuoso).

    Why not the parameters: Virtuoso echoes each one back as a response header (``X-SPARQL-default-graph``,
    ``X-SPARQL-named-graph``; about 190 bytes a graph), so past about 500 graphs the head of its answer is more
    than an HTTP client reads (httpx: 100 KB, "Receive buffer too long"), and the 100,000-table store has more
    than 1,000. Both kinds are always named: Virtuoso reads a missing kind as every graph it holds, its system
    graphs included, where the protocol reads it as none; :data:`EMPTY_GRAPH` stands for none.

    >>> print(dataset_pragmas([("default-graph-uri", "http://x/g")]), end="")
    DEFINE input:default-graph-uri <http://x/g>
    DEFINE input:named-graph-uri <urn:budgetkg:empty>
    """
    kinds: dict[str, list[str]] = {"default-graph-uri": [], "named-graph-uri": []}
    for key, iri in form:
        kinds[key].append(iri)
    return "".join(f"DEFINE input:{key} <{iri}>\n" for key, iris in kinds.items()
                   for iri in iris or [EMPTY_GRAPH.value])


def _as_query_triples(data: bytes) -> QueryResult:
    """N-Triples as pyoxigraph ``QueryTriples`` (what a local CONSTRUCT returns)."""
    tmp = Store()
    tmp.extend(Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in parse(data, format=RdfFormat.N_TRIPLES))
    return tmp.query("CONSTRUCT WHERE { ?s ?p ?o }")


def _ntriples(quads: Writable) -> bytes:
    """``quads`` as N-Triples, their literals as Oxigraph keeps them (``xsd:positiveInteger`` … become
    ``xsd:integer``): the server is sent what the embedded store holds, so a query such as a shape's
    ``DATATYPE(?v) != xsd:integer`` answers the same on both."""
    if isinstance(quads, NQuads):
        quads = quads.quads()
    tmp = Store()
    tmp.extend(Quad(q.subject, q.predicate, q.object, DefaultGraph()) for q in quads)
    return serialize((q.triple for q in tmp.quads_for_pattern(None, None, None, DefaultGraph())),
                     format=RdfFormat.N_TRIPLES) or b""


def _parts(body: bytes, size: int) -> Iterator[bytes]:
    """N-Triples ``body`` (one triple a line) in parts of at most ``size`` triples."""
    lines = io.BytesIO(body)
    while part := b"".join(itertools.islice(lines, size)):
        yield part


@dataclass(frozen=True)
class _Page:
    """One request of a graph read in pages: the patterns it reads (``None``: the whole graph) and the predicates
    whose triples have all been read once it is."""

    where: str | None
    complete: tuple[NamedNode, ...]


def _pages(counts: Mapping[NamedNode, int], size: int) -> list[_Page]:
    """Pages of at most about ``size`` triples for a graph of ``counts`` triples per predicate: predicates together
    (a ``VALUES ?p``) up to ``size``; a predicate of more split by the MD5 of its subjects' IRIs into ranges (and
    one page more for its other subjects, blank nodes), which needs no ``ORDER BY`` (Virtuoso sorts at most 10,000
    rows for a ``LIMIT``/``OFFSET``) and no stable order of the server's.

    >>> p = lambda name: NamedNode(f"http://e/{name}")
    >>> [(x.where, len(x.complete)) for x in _pages({p("a"): 5, p("b"): 4, p("c"): 2}, 8)]
    [('VALUES ?p { <http://e/a> } ?s ?p ?o', 1), ('VALUES ?p { <http://e/b> <http://e/c> } ?s ?p ?o', 2)]
    >>> [x.where.split("?s ?p ?o ")[1] for x in _pages({p("a"): 20}, 8)]  # doctest: +NORMALIZE_WHITESPACE
    ['BIND(MD5(STR(?s)) AS ?h) FILTER(?h < "55555555")',
     'BIND(MD5(STR(?s)) AS ?h) FILTER(?h >= "55555555" && ?h < "aaaaaaaa")',
     'BIND(MD5(STR(?s)) AS ?h) FILTER(?h >= "aaaaaaaa")', 'FILTER(!isIRI(?s))']
    """
    pages: list[_Page] = []
    group: list[NamedNode] = []
    filled = 0

    def values(predicates: list[NamedNode]) -> str:
        return "VALUES ?p { " + " ".join(f"<{q.value}>" for q in predicates) + " } ?s ?p ?o"

    for predicate in sorted(counts, key=lambda q: q.value):
        n = counts[predicate]
        if group and filled + n > size:
            pages.append(_Page(values(group), tuple(group)))
            group, filled = [], 0
        if n <= size:
            group.append(predicate)
            filled += n
            continue
        ranges = -(-n // size)  # the hash spreads subjects about evenly; a page may hold somewhat more than size
        bounds = [f"{(1 << 32) * k // ranges:08x}" for k in range(1, ranges)]
        for lo, hi in zip([None, *bounds], [*bounds, None], strict=True):
            test = " && ".join(t for t in (lo and f'?h >= "{lo}"', hi and f'?h < "{hi}"') if t)
            pages.append(_Page(f"{values([predicate])} BIND(MD5(STR(?s)) AS ?h) FILTER({test})", ()))
        pages.append(_Page(f"{values([predicate])} FILTER(!isIRI(?s))", (predicate,)))
    if group:
        pages.append(_Page(values(group), tuple(group)))
    return pages


def _is_budgetkg(http: _Http, root: str) -> bool:
    """Whether ``root`` is a budgetkg server: its ``/health`` answers JSON with ``ok`` and ``base_iri``."""
    try:
        r = http.client.get(f"{root}/health", headers={"Accept": "application/json"})
        health = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(health, dict) and health.get("ok") is True and "base_iri" in health


def _solutions(result: QueryResult) -> QuerySolutions:
    if not isinstance(result, QuerySolutions):
        raise StoreError("the endpoint did not answer a SELECT query with solutions")
    return result


def _nothing() -> None:
    """What flushing a remote store takes: the server persists each request."""


class RemoteStore:
    """A budgetkg store on a SPARQL endpoint; see the module docstring. ``path`` is ``None``."""

    def __init__(self, query_url: str, update_url: str | None = None, gsp_url: str | None = None, *,
                 read_only: bool = False, timeout: float = 10.0, oxigraph: bool = False,
                 base: str = DEFAULT_BASE_IRI, credentials: Credentials | None = None,
                 writes: str | None = None, write_chunk: int = WRITE_CHUNK,
                 read_chunk: int | None = READ_CHUNK) -> None:
        self.path: Path | None = None
        if write_chunk < 1 or (read_chunk is not None and read_chunk < 1):
            raise StoreError(f"write_chunk and read_chunk must be positive numbers of triples, not {write_chunk} "
                             f"and {read_chunk}")
        #: Triples sent by one request; a larger graph goes in parts and one MOVE (see the module docstring).
        self.write_chunk = write_chunk
        #: Triples read by one request; a larger graph is read in pages (None: in one request, as from a budgetkg
        #: server, whose ``/store`` pages on its side and whose ``/sparql`` answers at most its row limit).
        self.read_chunk = read_chunk
        self.url = query_url
        #: Why this endpoint takes no write whatever was asked (None: it takes them unless ``read_only``).
        self.writes_refused = writes
        self.read_only = read_only or writes is not None
        #: Whether the server is Oxigraph's (which takes ``union-default-graph``).
        self.oxigraph = oxigraph
        #: The base IRI whose graphs are budgetkg's (:func:`kg.iris.is_published`).
        self.base = base
        self._http = _Http(query_url, update_url, gsp_url, timeout, credentials)
        self._http.canonical = not oxigraph
        self._graphs: list[NamedNode] | None = None
        self._hidden: bool | None = None
        self._spools: dict[str, IO[bytes]] = {}
        self._generations = Generations(None, 0)
        try:
            if not self.read_only:
                self.drop_staging()
            else:
                self.graphs()  # fail now, naming the URL, when the server is not there
        except StoreError:
            self._http.close()
            raise

    @classmethod
    def for_oxigraph(cls, root: str, **kw: Any) -> RemoteStore:
        """An Oxigraph server's layout: ``<root>/query``, ``<root>/update``, ``<root>/store``."""
        root = root.rstrip("/")
        return cls(f"{root}/query", f"{root}/update", f"{root}/store", oxigraph=True, **kw)

    @classmethod
    def at(cls, url: str, *, timeout: float = 10.0, credentials: Credentials | None = None,
           **kw: Any) -> RemoteStore:
        """The store one URL names, found by one probe (see the module docstring): an Oxigraph server's
        root, a budgetkg server's root or ``/sparql``, or any SPARQL query endpoint."""
        root, path = url.rstrip("/"), urlsplit(url).path.rstrip("/")
        probe = _Http(url, None, None, min(timeout, 10.0), credentials)
        try:
            if path.endswith("/sparql"):
                root = root[: -len("/sparql")]
                budgetkg = _is_budgetkg(probe, root)
                gsp, why = (f"{root}/store", "a budgetkg server") if budgetkg else (None, "a SPARQL query endpoint")
                if budgetkg:
                    kw.setdefault("read_chunk", None)
                return cls(url.rstrip("/"), None, gsp, credentials=credentials, timeout=timeout,
                           writes=f"{shown(url)} is {why}, read-only", **kw)
            if path:
                return cls(url, None, None, credentials=credentials, timeout=timeout,
                           writes=f"{shown(url)} is a SPARQL query endpoint, read-only", **kw)
            r = probe._send("GET", f"{root}/query", "query", params={"query": "ASK {}"})
        finally:
            probe.close()
        if r.status_code in (404, 405):
            kw.setdefault("read_chunk", None)
            return cls(f"{root}/sparql", None, f"{root}/store", credentials=credentials, timeout=timeout,
                       writes=f"{shown(url)} is a budgetkg server, read-only", **kw)
        return cls.for_oxigraph(root, credentials=credentials, timeout=timeout, **kw)

    def __repr__(self) -> str:
        return f"RemoteStore({shown(self.url)!r})"

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
        return [g for g in self._server_graphs() if is_published(g, self.base) or is_staging(g)]

    def _server_graphs(self) -> list[NamedNode]:
        """Every named graph on the server (``GRAPH ?g {}``, else the graphs that hold a triple)."""
        graphs: list[NamedNode] = []
        # not SELECT DISTINCT ?g: Virtuoso runs that as a procedure that takes minutes on millions of quads
        for q in ("SELECT ?g WHERE { GRAPH ?g {} }", "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"):
            graphs = [g for s in _solutions(self._http.query(q, [], {}, "graphs"))
                      if isinstance(g := s["g"], NamedNode)]
            if graphs:
                break
        return graphs

    def graphs(self) -> list[NamedNode]:
        """budgetkg's published graphs on the server, and whether the server holds any other (staging
        graphs, the server's own, another dataset's): then every query names the published ones."""
        if self._graphs is None:
            every = self._server_graphs()
            self._graphs = sorted((g for g in every if is_published(g, self.base) and not is_staging(g)),
                                  key=lambda g: g.value)
            self._hidden = len(self._graphs) != len(every)
        return self._graphs

    def hides_graphs(self) -> bool:
        self.graphs()
        return bool(self._hidden)

    def invalidate(self) -> None:
        self._graphs = None
        self._hidden = None

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
            # the store's own default graph is empty (budgetkg writes none): naming no graph would be every graph
            defaults = [g.value for g in default_graph or () if isinstance(g, NamedNode)] or [EMPTY_GRAPH.value]
            form += [("default-graph-uri", g) for g in defaults]
            form += [("named-graph-uri", g.value) for g in named_graphs or ()]
        else:
            form, params = self._dataset(union)
        return self._http.query(prologue(prefixes) + sparql, form, params, name)

    def _dataset(self, union: bool) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """The dataset of a query, as protocol parameters: the published graphs as named graphs and, with
        ``union``, as the default graph too (else the store's own default graph, which budgetkg leaves empty).

        Nothing is named where the server holds nothing else (an Oxigraph server: ``union-default-graph``);
        a server that holds other graphs (staging, its own, another dataset's) is always told which graphs
        are budgetkg's: without a dataset, Virtuoso's default graph is every graph it has.
        """
        graphs = self.graphs()
        if self.oxigraph and not self._hidden:
            return [], {"union-default-graph": ""} if union else {}
        named = [("named-graph-uri", g.value) for g in graphs]
        if union and graphs:
            return [*(("default-graph-uri", g.value) for g in graphs), *named], {}
        return [("default-graph-uri", EMPTY_GRAPH.value), *named], {}

    def match(self, subject: Subject | None = None, predicate: NamedNode | None = None,
              object: Object | None = None, graph: GraphName | None = None) -> Iterator[Quad]:
        """Quads matching a pattern, found by a SELECT (a whole graph by one Graph Store Protocol GET)."""
        if isinstance(graph, NamedNode) and subject is None and predicate is None and object is None:
            yield from self._read_graph(graph)
            return
        bound: dict[str, Any] = {k: v for k, v in (("s", subject), ("p", predicate), ("o", object))
                                    if v is not None}
        where = "?s ?p ?o" if isinstance(graph, DefaultGraph) else "GRAPH ?g { ?s ?p ?o }"
        if isinstance(graph, NamedNode):
            bound["g"] = graph
        sparql = with_values(f"SELECT * WHERE {{ {where} }}", bound)
        result = self.query(sparql, name="pattern", union=not isinstance(graph, DefaultGraph))
        for row in _solutions(result):
            s, p, o = row["s"], row["p"], row["o"]
            g = DefaultGraph() if isinstance(graph, DefaultGraph) else row["g"]
            if isinstance(g, NamedNode) and is_staging(g):
                continue
            if isinstance(s, NamedNode | BlankNode | Triple) and isinstance(p, NamedNode) and o is not None:
                yield Quad(s, p, o, g if isinstance(g, NamedNode | DefaultGraph) else DefaultGraph())

    def quads(self, graph: NamedNode | None = None) -> Iterator[Quad]:
        for g in [graph] if graph is not None else self.graphs():
            yield from self._read_graph(g)

    def _predicate_counts(self, graph: NamedNode) -> dict[NamedNode, int]:
        """Triples of ``graph`` per predicate, as the server counts them."""
        sparql = f"SELECT ?p (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph.value}> {{ ?s ?p ?o }} }} GROUP BY ?p"
        counts: dict[NamedNode, int] = {}
        for row in _solutions(self._http.query(sparql, [], {}, "graph size")):
            p, n = row["p"], row["n"]
            if isinstance(p, NamedNode) and n is not None:
                counts[p] = int(n.value)
        return counts

    def _read_graph(self, graph: NamedNode) -> Iterator[Quad]:
        """The quads of ``graph``: one request, or past :attr:`read_chunk` triples in pages (:func:`_pages`). What
        is read must add up to what the server counts, predicate by predicate, else :class:`StoreError`: a graph is
        never read short (a write between the pages, a server that cut an answer)."""
        counts = self._predicate_counts(graph)
        total = sum(counts.values())
        if not total:
            return
        if self.read_chunk is None or total <= self.read_chunk:
            pages = [_Page(None, tuple(counts))]
        else:
            pages = _pages(counts, self.read_chunk)
        read: dict[NamedNode, int] = dict.fromkeys(counts, 0)
        for page in pages:
            triples = self._http.read_triples(graph, page.where)
            for t in triples:
                read[t.predicate] = read.get(t.predicate, 0) + 1
            short = [f"{p.value}: {read.get(p, 0)} of {counts[p]}" for p in page.complete
                     if read.get(p, 0) != counts[p]]
            if short or sum(read.values()) > total:
                raise StoreError(f"graph {graph.value} at {shown(self.url)} did not read as the server counts it "
                                 f"({'; '.join(short) or f'more than {total} triples'}): it changed while it was "
                                 "read, or the server cut an answer; read it again")
            yield from self._http.as_quads(triples, graph)
        if sum(read.values()) != total:
            raise StoreError(f"graph {graph.value} at {shown(self.url)}: {sum(read.values())} triples read in "
                             f"{len(pages)} requests, the server counts {total}; read it again")

    def __iter__(self) -> Iterator[Quad]:
        return self.quads()

    def __len__(self) -> int:
        """Quads in the published graphs, as the server counts them (nothing is read)."""
        return sum(sum(self._predicate_counts(g).values()) for g in self.graphs())

    def dump_sorted_nquads(self, graph: NamedNode | None = None) -> bytes:
        return sorted_nquads(self.quads(graph))

    # -- writing ------------------------------------------------------------------------------
    def transaction(self) -> Transaction:
        """A :class:`~kg.store.transaction.Transaction` over the endpoint (see the module docstring)."""
        self._check_writable()
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
        if self.writes_refused is not None:
            raise StoreError(f"cannot write: {self.writes_refused} (writes need an Oxigraph server's URL, or "
                             "BUDGETKG_QUERY_URL, BUDGETKG_UPDATE_URL and BUDGETKG_GSP_URL)")
        if self.read_only:
            raise StoreError(f"the store at {shown(self.url)} is open read-only")

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
            raise StoreError(f"graph {graph.value} exists already at {shown(self.url)}: stage and swap it instead")
        with self.batch():
            self._generations.changed()
            try:
                self._replace_graph(graph, _ntriples(quads))
            finally:
                self.invalidate()

    def _replace_graph(self, graph: NamedNode, body: bytes) -> None:
        """Make ``graph`` hold ``body`` (N-Triples): one PUT, or past :attr:`write_chunk` triples POSTs into a
        fresh staging graph and one ``MOVE`` (see the module docstring)."""
        if body.count(b"\n") <= self.write_chunk or not self._http.update_url or b"_:" in body:
            self._http.put_graph(graph, body)  # "_:" may be a blank node: its triples must go in one request
            return
        staging = self.staging_graph()
        try:
            for part in _parts(body, self.write_chunk):
                self._http.post_graph(staging, part)
            self._http.update(f"MOVE <{staging.value}> TO <{graph.value}>")
        except BaseException:
            with contextlib.suppress(StoreError):
                self._http.delete_graph(staging)
            raise

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
        """Replace ``graph`` by what was staged in ``staging``: one PUT, or its parts and one MOVE."""
        self._check_writable()
        spool = self._spools.pop(staging.value, None)
        with self.batch():
            self._generations.changed()
            try:
                if spool is None:
                    self._http.put_graph(graph, b"")
                else:
                    spool.seek(0)
                    self._replace_graph(graph, spool.read())
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
