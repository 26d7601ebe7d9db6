"""Chinese full-text search over projects, budget units and vendors (tantivy over character bigrams).

**What is indexed.** One row per project (``bk:Project``): its name, and its table's text as the
parser read it — every line of the table (white space removed, so ``财政    资金`` reads ``财政资金``)
plus each field (name, use of funds, goals, indicator names, descriptions and values) as one
piece, so a term broken over two lines is still found. Budget units and departments (``graph/agencies``)
and vendors (``graph/vendors``) are matched by label, code and other names.

**How.** Text is cut into overlapping character bigrams (``视频监控`` → 视频 频监 监控), each written as
an ASCII token (the two code points in hex, ``89c6x9891``) so that tantivy's ``whitespace`` tokenizer
keeps punctuation such as ``≥`` and ``%``; a query term of n ≥ 2 characters is the *phrase* of its
n − 1 bigrams, which matches exactly the rows holding the term as a substring. Two-character words
(视频, 监控) are one bigram: answered by the index like any other. Hits are ranked name matches first,
then by BM25 (the name field boosted 10×), with a highlighted snippet and the file:line of the first
line that holds the term. SQLite beside the tantivy index keeps the rows (text, lines) and what was
indexed. docs/search.md compares this with SQLite FTS5 (bigram and trigram) on 100k tables.

**Consistency with the store.** The index lives in ``<store>/search/`` (a remote store's in
``BUDGETKG_SEARCH_DIR``, else in memory) and records, for each document graph, the sha256 of the
source it indexed and of its project IRIs. A build adds a document's rows as a *pending* version
before its graph is written and makes them current after every graph is in (:class:`Indexer`).
Whoever opens the index (:meth:`SearchIndex.open`) checks it against the store's document graphs
(their ``bk:sha256`` and project IRIs, two queries): a committed version that the store holds is
made current, others are dropped, and a document the index does not hold as the store does is
indexed again — from its source when the manifest names it with the same sha256, else from the
store's own facts. A reader that may not write keeps those rows in memory. So a search never
returns a project the store does not hold and never misses one it does, even after a build was
killed between the two writes.

>>> bigrams("视频监控")
['89c6x9891', '9891x76d1', '76d1x63a7']
>>> terms('视频监控  信息化 x')
['视频监控', '信息化', 'x']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from pyoxigraph import NamedNode

from .errors import BudgetKGError, QueryError, StoreError
from .iris import Iris, is_staging
from .model import SourceEntry
from .namespaces import BK, sparql_prefixes
from .searchtext import (
    BOOKMARK,
    MARK_END,
    MARK_START,
    EntityRow,
    Prepared,
    ProjectRow,
    best_segment,
    bigrams,
    document_rows,
    entities_from_store,
    prepare,
    rows_from_records,
    rows_from_store,
    snippet,
    solutions,
    squeeze,
    terms,
    value_of,
)
from .settings import Settings

if TYPE_CHECKING:  # tantivy and the store are imported where they are used (an import costs 0.1 s)
    import tantivy

    from .store import GraphStore

__all__ = ["MARK_END", "MARK_START", "EntityRow", "Hit", "Indexer", "Prepared", "ProjectRow", "SearchError",
           "SearchIndex", "SearchResult", "bigrams", "document_rows", "entities_from_store", "expand", "has_search",
           "prepare", "refresh", "reindex", "rewrite", "rows_from_records", "rows_from_store", "snippet", "squeeze",
           "terms"]

#: Version of the index layout; an index of another version is rebuilt from the store.
SCHEMA_VERSION = 1
#: Name weight in BM25 (the body weighs 1).
NAME_WEIGHT = 10.0
#: The most hits a search ranks (more are counted, not returned).
MAX_HITS = 10_000

SEARCH_IRI = BK.search.value



class SearchError(QueryError):
    """A search query cannot be answered (a one-character term, no terms)."""

    def __init__(self, message: str) -> None:
        super().__init__("search", message)


_STORE_DOCS = sparql_prefixes(["bk", "dcterms"]) + """
SELECT ?g ?file ?sha WHERE {
  GRAPH ?g { ?d a bk:SourceDocument . OPTIONAL { ?d dcterms:identifier ?file } OPTIONAL { ?d bk:sha256 ?sha } }
}"""

_STORE_PROJECTS = sparql_prefixes(["bk"]) + """
SELECT ?g ?p WHERE { GRAPH ?g { ?d a bk:SourceDocument . ?p a bk:Project } }"""

# -- hits ------------------------------------------------------------------------------------
@dataclass
class Hit:
    """One search result. ``snippet`` marks the terms with :data:`MARK_START`/:data:`MARK_END`."""

    iri: str
    kind: str  # project | unit | department | vendor
    label: str
    score: float
    in_name: bool
    snippet: str = ""
    file: str | None = None
    line: int | None = None
    unit_code: str = ""
    unit_name: str = ""
    unit_iri: str | None = None
    #: Where the hit's text is read back for its snippet: its row id in the index, or the row itself
    #: when it was answered from memory (see :attr:`SearchIndex.extra`). Not part of the answer.
    source: int | ProjectRow | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""

    def __getstate__(self) -> dict[str, object]:
        """Pickled without :attr:`source`: a hit goes from a query worker to the server without its index row."""
        return {**self.__dict__, "source": None}

    def as_dict(self) -> dict[str, object]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        d["snippet"] = self.snippet.replace(MARK_START, "[").replace(MARK_END, "]")
        d["where"] = self.where
        return d


@dataclass
class SearchResult:
    query: str
    terms: list[str]
    total: int
    offset: int
    hits: list[Hit]
    #: Documents whose index rows were out of date and answered from the store (see the module docstring).
    repaired: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.offset + len(self.hits) < self.total


# -- the index -------------------------------------------------------------------------------
def index_path(store: object, settings: Settings) -> Path | None:
    """Where the index of ``store`` lives: ``<store>/search/index.sqlite``, or under ``BUDGETKG_SEARCH_DIR``.

    A remote store (``http://…``) has no directory here: its index is kept in ``BUDGETKG_SEARCH_DIR``
    when that is set, else in memory, made from the store (and the manifest's sources) when it is
    opened. So is an in-memory store's (``None``). ``store`` is read for its ``path`` only, so a
    sandboxed worker asks with a stand-in that has just that (server.workers).
    """
    explicit = os.environ.get("BUDGETKG_SEARCH_DIR")
    path = getattr(store, "path", None)
    if path is None and type(store).__name__ != "RemoteStore":
        return None
    if explicit:
        return Path(explicit) / "index.sqlite"
    if path is not None:
        return Path(path) / "search" / "index.sqlite"
    return None


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS versions(
  ver INTEGER PRIMARY KEY AUTOINCREMENT,   -- names the version's documents in the tantivy index
  graph TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
  iris TEXT NOT NULL,                      -- sha256 of the sorted project IRIs it indexed
  state TEXT NOT NULL,                     -- pending | current | deleting
  indexed INTEGER NOT NULL DEFAULT 0);     -- 1 once its tantivy documents are committed
CREATE INDEX IF NOT EXISTS versions_graph ON versions(graph);
CREATE TABLE IF NOT EXISTS projects(
  id INTEGER PRIMARY KEY, ver INTEGER NOT NULL, iri TEXT NOT NULL, file TEXT NOT NULL, name TEXT NOT NULL,
  unit_code TEXT NOT NULL, unit_name TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
  segments TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS projects_ver ON projects(ver);
CREATE TABLE IF NOT EXISTS entities(iri TEXT PRIMARY KEY, kind TEXT, label TEXT, code TEXT, text TEXT);
INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA_VERSION}');
"""

#: Heap of the tantivy writer (bytes); it flushes a segment when full.
WRITER_HEAP = 64_000_000
#: Documents a build indexes between two tantivy commits.
COMMIT_EVERY = 200


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The row id an INSERT gave its row (sqlite3 types ``lastrowid`` as optional: None before any INSERT)."""
    if cursor.lastrowid is None:
        raise StoreError("the search index gave an inserted row no id")
    return cursor.lastrowid


class _Counted(Protocol):
    """A tantivy search result counted with ``count=True`` (the stubs of tantivy 0.27 leave ``count`` out)."""

    @property
    def count(self) -> int: ...


def _version(iris: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(iris)).encode("utf-8")).hexdigest()


def _schema() -> tantivy.Schema:
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("id", stored=True, indexed=True)
    sb.add_unsigned_field("ver", stored=False, indexed=True)
    sb.add_text_field("name", tokenizer_name="whitespace", index_option="position")
    sb.add_text_field("body", tokenizer_name="whitespace", index_option="position")
    return sb.build()


class SearchIndex:
    """The search index of one store: SQLite for what it indexed, tantivy for the inverted index.

    ``SearchIndex.open(store, settings)`` checks it against the store and repairs it (when
    ``writable``); :meth:`search` answers queries. Every indexed document version is a row of
    ``versions``; its projects (text, lines) are rows of ``projects``; its tantivy documents carry
    the version number. A hit counts only when its version is current and committed in both.
    """

    def __init__(self, path: Path | None, settings: Settings, *, writable: bool = True) -> None:
        import tantivy

        self.path = path
        self.settings = settings
        self.writable = writable
        #: rows answered from memory: documents whose index rows could not be written (read-only)
        self.extra: list[ProjectRow] = []
        #: graphs whose rows in the index must not be used (the store holds another version)
        self.excluded: set[str] = set()
        self.entities: list[EntityRow] | None = None
        self.repaired: list[str] = []
        self._manifest: dict[str, SourceEntry] | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._unflushed: list[int] = []
        self._live: set[int] | None = None
        self._seen_version: int | None = None
        self.schema = _schema()
        self.db = self._connect()
        if path is None:
            self.tantivy = tantivy.Index(self.schema)
        else:
            tdir = path.parent / "tantivy"
            if self.writable:
                tdir.mkdir(parents=True, exist_ok=True)
            if tdir.is_dir():
                self.tantivy = tantivy.Index(self.schema, path=str(tdir), reuse=True)
            else:  # nothing indexed yet, and read-only: an empty index in memory, repaired from the store
                self.tantivy = tantivy.Index(self.schema)

    def _connect(self) -> sqlite3.Connection:
        if self.path is None:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            db.executescript(_SCHEMA)
            self.writable = True  # its own memory: repaired rows are written to it
        elif self.writable:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._schema(db)
        elif self.path.is_file():
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                 check_same_thread=False)
        else:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            db.executescript(_SCHEMA)
        return db

    def _schema(self, db: sqlite3.Connection) -> None:
        row = None
        with contextlib.suppress(sqlite3.OperationalError):
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is not None and row[0] != str(SCHEMA_VERSION):
            for t in ("meta", "versions", "projects", "entities"):
                db.execute(f"DROP TABLE IF EXISTS {t}")
        db.executescript(_SCHEMA)

    def close(self) -> None:
        self._writer = None  # releases tantivy's writer lock
        self.db.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def open(cls, store: GraphStore, settings: Settings, *, writable: bool | None = None) -> SearchIndex:
        """The index of ``store``, checked against it (see :meth:`reconcile`).

        ``writable`` defaults to whether the store was opened for writing: a read-only reader
        answers out-of-date documents from memory instead of rewriting the index.
        """
        if writable is None:
            writable = not store.read_only
        index = cls(index_path(store, settings), settings, writable=writable)
        try:
            index.reconcile(store)
        except BaseException:
            index.close()
            raise
        return index

    # -- writing ---------------------------------------------------------------------------
    def _tx(self) -> contextlib.AbstractContextManager[None]:
        db = self.db

        @contextlib.contextmanager
        def tx() -> Iterator[None]:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        return tx()

    def writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self.tantivy.writer(heap_size=WRITER_HEAP, num_threads=1)
            except ValueError as exc:  # tantivy's lock: one writer at a time
                raise StoreError(f"cannot write the search index at {self.path} (is a build running?): "
                                 f"{exc}") from None
        return self._writer

    def put(self, graph: str, file: str, sha256: str, rows: list[ProjectRow], state: str = "current",
            flush: bool = True) -> int:
        """Add ``rows`` as a new ``state`` (pending or current) version of ``graph``; returns its number.

        Its tantivy documents are committed by :meth:`flush` (``flush=False``: later, with others);
        until then the version does not count (``indexed`` is 0).
        """
        import tantivy

        with self._tx():
            ver = _inserted(self.db.execute("INSERT INTO versions(graph, file, sha256, iris, state) VALUES (?,?,?,?,?)",
                                            (graph, file, sha256, _version(r.iri for r in rows), state)))
            docs = []
            for r in rows:
                pid = _inserted(self.db.execute(
                    "INSERT INTO projects(ver, iri, file, name, unit_code, unit_name, start, end, segments) "
                    "VALUES (?,?,?,?,?,?,?,?,?)", (ver, r.iri, r.file, r.name, r.unit_code, r.unit_name, r.start,
                                                   r.end, json.dumps(r.segments, ensure_ascii=False))))
                name, body = r.tokens()
                d = tantivy.Document()
                d.add_unsigned("id", pid)
                d.add_unsigned("ver", ver)
                d.add_text("name", name)
                d.add_text("body", body)
                docs.append(d)
        w = self.writer()
        for d in docs:
            w.add_document(d)
        self._unflushed.append(ver)
        if state == "current" and flush:
            self.flush()
            self._retire(graph, keep=ver)
        elif flush:
            self.flush()
        return ver

    def flush(self) -> None:
        """Commit the tantivy documents added so far, then mark their versions indexed."""
        if not self._unflushed:
            return
        self.writer().commit()
        done, self._unflushed = self._unflushed, []
        with self._tx():
            self.db.executemany("UPDATE versions SET indexed=1 WHERE ver=?", [(v,) for v in done])

    def promote(self, graph: str) -> None:
        """Make the pending version of ``graph`` the current one; retire the one it replaces."""
        with self._tx():
            row = self.db.execute("SELECT ver FROM versions WHERE graph=? AND state='pending' AND indexed=1 "
                                  "ORDER BY ver DESC LIMIT 1", (graph,)).fetchone()
            if row is None:
                return
            self.db.execute("UPDATE versions SET state='current' WHERE ver=?", row)
        self._retire(graph, keep=row[0])

    def _retire(self, graph: str, keep: int | None = None) -> None:
        """Remove every version of ``graph`` but ``keep``: marked, deleted from tantivy, then dropped."""
        with self._tx():
            self.db.execute("UPDATE versions SET state='deleting' WHERE graph=? AND ver IS NOT ?", (graph, keep))
        self._purge()

    def _purge(self) -> None:
        vers = [v for (v,) in self.db.execute("SELECT ver FROM versions WHERE state='deleting'")]
        if not vers:
            return
        w = self.writer()
        for v in vers:
            w.delete_documents("ver", v)
        w.commit()
        with self._tx():
            self.db.executemany("DELETE FROM projects WHERE ver=?", [(v,) for v in vers])
            self.db.executemany("DELETE FROM versions WHERE ver=?", [(v,) for v in vers])

    def set_entities(self, rows: list[EntityRow]) -> None:
        self.entities = rows
        if not self.writable:
            return
        with self._tx():
            self.db.execute("DELETE FROM entities")
            self.db.executemany("INSERT INTO entities VALUES (?,?,?,?,?)",
                                [(e.iri, e.kind, e.label, e.code, e.text) for e in rows])

    # -- checking against the store ----------------------------------------------------------
    def reconcile(self, store: GraphStore) -> list[str]:
        """Bring the index in line with ``store``'s document graphs; returns the graphs it had to repair.

        For each document graph the store holds (sha256 of its source, its project IRIs): a
        committed version that matches is made current (a build may have stopped before it did),
        other versions are dropped, and a graph without one is indexed again — from its source
        file when the manifest names it and its sha256 matches, else from the store's own facts.
        """
        docs: dict[str, tuple[str, str]] = {}
        for s in solutions(store, _STORE_DOCS, "search:documents"):
            if not is_staging(s["g"]):
                docs[s["g"].value] = (value_of(s["file"]), value_of(s["sha"]))
        held: dict[str, set[str]] = {g: set() for g in docs}
        for s in solutions(store, _STORE_PROJECTS, "search:projects"):
            if s["g"].value in held:
                held[s["g"].value].add(s["p"].value)
        if self.writable:
            with self._tx():  # versions whose tantivy documents may be missing (a stop before the commit)
                self.db.execute("UPDATE versions SET state='deleting' WHERE indexed=0")
            self._purge()
        versions: dict[str, list[tuple[int, str, str, str, int]]] = {}
        for ver, graph, sha, iris, state, indexed in self.db.execute(
                "SELECT ver, graph, sha256, iris, state, indexed FROM versions ORDER BY ver DESC"):
            versions.setdefault(graph, []).append((ver, sha, iris, state, indexed))
        live: set[int] = set()
        repaired = []
        for graph in sorted(set(versions) - set(docs)):  # documents the store no longer holds
            if self.writable:
                self._retire(graph)
        for graph, (file, sha) in sorted(docs.items()):
            want = (sha, _version(held[graph]))
            good = [v for v, s, i, st, ok in versions.get(graph, []) if (s, i) == want and ok and st != "deleting"]
            if good:
                ver = good[0]
                if self.writable and (len(versions[graph]) > 1 or versions[graph][0][3] != "current"):
                    with self._tx():
                        self.db.execute("UPDATE versions SET state='current' WHERE ver=?", (ver,))
                    self._retire(graph, keep=ver)
                live.add(ver)
                continue
            repaired.append(graph)
            rows = self._source_rows(graph, file, sha, held[graph]) or rows_from_store(store, graph, file)
            if self.writable:
                live.add(self.put(graph, file, sha, rows, "current"))
            else:
                self.excluded.add(graph)
                self.extra += rows
        self._live = live if not self.writable else None
        self.tantivy.reload()
        entities = entities_from_store(store)
        stored = [EntityRow(*r) for r in self.db.execute("SELECT iri, kind, label, code, text FROM entities "
                                                         "ORDER BY iri")]
        if stored != entities:
            self.set_entities(entities)
        else:
            self.entities = stored
        self.repaired = repaired
        return repaired

    def _source_rows(self, graph: str, file: str, sha: str, iris: set[str]) -> list[ProjectRow] | None:
        """Rows from the document's source file, when the manifest names it and it is the one the store holds."""
        from .sources import load_manifest

        if self._manifest is None:
            try:
                self._manifest = {e.file: e for e in load_manifest(self.settings.manifest).entries}
            except (BudgetKGError, OSError):
                self._manifest = {}
        entry = self._manifest.get(file)
        if entry is None or not sha:
            return None
        try:
            rows, got = document_rows(entry, graph, sorted(iris), self.settings.base_iri)
        except (BudgetKGError, OSError):
            return None
        return rows if got == sha and {r.iri for r in rows} == iris else None

    def _current(self) -> set[int]:
        """Versions a hit may come from: current and committed (the reconciled set, for a read-only reader)."""
        if self._live is not None:
            return self._live
        return {v for (v,) in self.db.execute("SELECT ver FROM versions WHERE state='current' AND indexed=1")}

    # -- searching -------------------------------------------------------------------------
    def search(self, query: str, *, limit: int = 20, offset: int = 0, kinds: Sequence[str] | None = None,
               base_iri: str | None = None) -> SearchResult:
        """Projects (then units, departments and vendors) whose text holds every term of ``query``.

        Terms are white-space separated and need two characters or more. Order: projects whose
        name holds every term, units and vendors whose name does, then the rest; by BM25 within.
        """
        qterms = [squeeze(t) for t in terms(query)]
        qterms = list(dict.fromkeys(t for t in qterms if t))
        if not qterms:
            raise SearchError("empty query: give one or more words of two characters or more")
        short = [t for t in qterms if len(t) < 2]
        if short:
            raise SearchError(f"search terms need two characters or more: {', '.join(short)}")
        kinds = tuple(kinds) if kinds else ("project", "unit", "department", "vendor")
        want = offset + limit
        named: list[Hit] = []
        other: list[Hit] = []
        n_named = n_other = 0
        if "project" in kinds:
            (named, n_named), (other, n_other) = self._projects(qterms, want, base_iri)
        ents = [h for h in self._entities(qterms) if h.kind in kinds]
        order = named + [h for h in ents if h.in_name] + other + [h for h in ents if not h.in_name]
        total = n_named + n_other + len(ents)
        page = order[offset:offset + limit]
        for h in page:
            if h.kind == "project" and not h.snippet:
                self._explain(h, qterms)
        return SearchResult(query, qterms, total, offset, page, list(self.repaired))

    def _queries(self, qterms: list[str]) -> tuple[tantivy.Query, tantivy.Query]:
        import tantivy

        def phrase(field: str, t: str) -> tantivy.Query:
            grams: list[str | tuple[int, str]] = list(bigrams(t))
            if len(grams) == 1:
                return tantivy.Query.term_query(self.schema, field, grams[0])
            return tantivy.Query.phrase_query(self.schema, field, grams)

        must, should = tantivy.Occur.Must, tantivy.Occur.Should
        every = tantivy.Query.boolean_query([
            (must, tantivy.Query.boolean_query([(must, phrase("body", t)),
                                                (should, tantivy.Query.boost_query(phrase("name", t), NAME_WEIGHT))]))
            for t in qterms])
        in_name = tantivy.Query.boolean_query([(must, phrase("name", t)) for t in qterms])
        return every, in_name

    def _projects(self, qterms: list[str], want: int, base_iri: str | None
                  ) -> tuple[tuple[list[Hit], int], tuple[list[Hit], int]]:
        import tantivy

        every, in_name = self._queries(qterms)
        rest = tantivy.Query.boolean_query([(tantivy.Occur.Must, every), (tantivy.Occur.MustNot, in_name)])
        current = self._current()
        searcher = self.tantivy.searcher()
        tiers = []
        for q, named in ((tantivy.Query.boolean_query([(tantivy.Occur.Must, every), (tantivy.Occur.Must, in_name)]),
                          True), (rest, False)):
            res = searcher.search(q, min(MAX_HITS, want + 64), count=True)
            scores = {searcher.doc(addr)["id"][0]: score for score, addr in res.hits}
            hits = self._hits(scores, current, named, base_iri)
            hits += self._extra_hits(qterms, named, base_iri)
            hits.sort(key=lambda h: -h.score)
            count = cast(_Counted, res).count
            tiers.append((hits, max(count - (len(scores) - len(hits)), len(hits))))
        return tiers[0], tiers[1]

    def _hits(self, scores: dict[int, float], current: set[int], named: bool, base_iri: str | None) -> list[Hit]:
        if not scores:
            return []
        iris = Iris(base_iri or self.settings.base_iri)
        marks = ",".join("?" * len(scores))
        hits = []
        for pid, ver, iri, name, uc, un, file, start, graph in self.db.execute(
                "SELECT p.id, p.ver, p.iri, p.name, p.unit_code, p.unit_name, p.file, p.start, v.graph FROM projects p "
                f"JOIN versions v ON v.ver = p.ver WHERE p.id IN ({marks})", list(scores)):
            if ver not in current or graph in self.excluded:
                continue
            h = Hit(iri, "project", name, round(float(scores[pid]), 4), named, file=file, line=start,
                    unit_code=uc, unit_name=un, unit_iri=iris.agency(uc).value if uc else None)
            h.source = pid
            hits.append(h)
        return hits

    def _extra_hits(self, qterms: list[str], named: bool, base_iri: str | None) -> list[Hit]:
        iris = Iris(base_iri or self.settings.base_iri)
        hits = []
        for row in self.extra:
            text = row.text()
            in_name = all(t in squeeze(row.name) for t in qterms)
            if in_name == named and all(t in text for t in qterms):
                score = float(sum(text.count(t) for t in qterms)) * (NAME_WEIGHT if in_name else 1.0)
                h = Hit(row.iri, "project", row.name, score, in_name, file=row.file, line=row.start,
                        unit_code=row.unit_code, unit_name=row.unit_name,
                        unit_iri=iris.agency(row.unit_code).value if row.unit_code else None)
                h.source = row
                hits.append(h)
        return hits

    def _explain(self, h: Hit, qterms: list[str]) -> None:
        segs: list[tuple[int, str]]
        if isinstance(h.source, ProjectRow):
            segs = h.source.segments
        else:
            got = self.db.execute("SELECT segments FROM projects WHERE id=?", (h.source,)).fetchone()
            segs = [(int(x[0]), str(x[1])) for x in json.loads(got[0])] if got else []
        seg = best_segment(segs, qterms)
        if seg is not None:
            h.line = seg[0]
            shown = BOOKMARK.sub("", seg[1])  # a title line's anchor is no text a reader wants
            h.snippet = snippet(shown if any(t in shown for t in qterms) else seg[1], qterms)

    def _entities(self, qterms: list[str]) -> list[Hit]:
        hits = []
        for e in self.entities or []:
            if all(t in e.text for t in qterms):
                first = e.text.split("\n", 1)[0]
                in_name = all(t in first for t in qterms)
                hits.append(Hit(e.iri, e.kind, e.label, float(len(qterms)) + (NAME_WEIGHT if in_name else 0.0),
                                in_name, snippet=snippet(e.label + (f" {e.code}" if e.code else ""), qterms),
                                unit_code=e.code))
        return hits


# -- the build's side ------------------------------------------------------------------------
class Indexer:
    """Keeps the index in step with a build: :meth:`add` per document written, :meth:`commit` at the end.

    ``add`` writes the document's rows as *pending* (before its graph is swapped in); ``commit``
    makes them current once every graph is in. A build that stops in between leaves pending rows,
    which the next :meth:`SearchIndex.open` resolves against the store. Indexing never fails a
    build: an error is kept in :attr:`problems` and the next open repairs the document from the store.
    """

    def __init__(self, store: GraphStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.path = index_path(store, settings)
        self.pending: list[str] = []
        self.problems: list[str] = []
        self._index: SearchIndex | None = None

    def _open(self) -> SearchIndex:
        if self._index is None:
            self._index = SearchIndex(self.path, self.settings, writable=True)
        return self._index

    def add(self, entry: SourceEntry, graph: NamedNode | str, prepared: Prepared | None) -> None:
        """Stage ``entry``'s rows (:func:`prepare`, made by the worker that parsed it) as written to ``graph``."""
        if self.path is None or prepared is None:  # an in-memory store: indexed from the store when searched
            return
        g = graph.value if isinstance(graph, NamedNode) else graph
        if prepared.problem:
            self.problems.append(prepared.problem)
            return
        try:
            rows, sha = prepared.rows, prepared.sha256
            for r in rows:
                r.graph = g
            index = self._open()
            index.put(g, entry.file, sha, rows, "pending", flush=False)
            self.pending.append(g)
            if len(self.pending) % COMMIT_EVERY == 0:
                index.flush()
        except Exception as exc:  # indexing never fails a build; the next open repairs it
            self.problems.append(f"{entry.file}: not indexed for search ({exc}); the next search repairs it")

    def commit(self) -> None:
        """Make every staged document current and refresh units and vendors (after the graphs are in)."""
        if self.path is None:
            return
        try:
            index = self._open()
            index.flush()
            for g in self.pending:
                index.promote(g)
            self.pending = []
            index.reconcile(self.store)
        except Exception as exc:  # as in add
            self.problems.append(f"search index not updated ({exc}); the next search repairs it")
        finally:
            self.close()

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def refresh(store: GraphStore, settings: Settings, *, quiet: bool = False) -> list[str]:
    """Check the index against ``store`` and repair it (after a contracts import, or on demand).

    ``quiet``: an index that cannot be written is left for the next search to repair (a write to
    the store never fails because of its search index).
    """
    if index_path(store, settings) is None:
        return []
    try:
        with SearchIndex.open(store, settings, writable=True) as index:
            return index.repaired
    except Exception:  # quiet: a store write never fails because of its search index
        if not quiet:
            raise
        return []


def reindex(store: GraphStore, settings: Settings) -> int:
    """Rebuild the index from scratch from the store; returns the number of projects indexed."""
    import shutil

    path = index_path(store, settings)
    if path is not None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(str(path) + suffix).unlink()
        shutil.rmtree(path.parent / "tantivy", ignore_errors=True)
    with SearchIndex.open(store, settings, writable=True) as index:
        return index.db.execute("SELECT COUNT(*) FROM projects").fetchone()[0]


# -- bk:search in SPARQL -----------------------------------------------------------------------
_STRING = r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
_PRED = r"(?:bk:search|<" + re.escape(SEARCH_IRI) + r">)"
_PATTERN = re.compile(
    r"(?P<var>[?$]\w+)\s+" + _PRED + r"\s+(?:(?P<q1>" + _STRING + r")(?:@[A-Za-z-]+)?|\(\s*(?P<q2>" + _STRING
    + r")(?:@[A-Za-z-]+)?\s+(?P<score>[?$]\w+)\s*\))\s*(?P<end>\.|(?=\}))")


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def has_search(sparql: str) -> bool:
    """Whether a query uses ``bk:search`` (cheap test before :func:`rewrite`)."""
    return _PATTERN.search(sparql) is not None


def rewrite(sparql: str, index: SearchIndex, limit: int = MAX_HITS) -> str:
    """Replace each ``?x bk:search "words"`` (or ``?x bk:search ("words" ?score)``) by a VALUES block.

    The block lists the IRIs of the hits (and their scores), so the query runs on any store.

    >>> class Fake:
    ...     def search(self, q, limit, offset=0):
    ...         return SearchResult(q, [q], 1, 0, [Hit("http://e/p1", "project", "x", 2.5, True)])
    >>> rewrite('SELECT ?p WHERE { ?p bk:search "视频" . ?p ?x ?y }', Fake())
    'SELECT ?p WHERE { VALUES ?p { <http://e/p1> } ?p ?x ?y }'
    >>> rewrite('SELECT * { ?p bk:search ("视频" ?s) }', Fake())
    'SELECT * { VALUES (?p ?s) { (<http://e/p1> 2.5) } }'
    """
    def replace(m: re.Match[str]) -> str:
        var = m["var"]
        words = _unquote(m["q1"] or m["q2"])
        try:
            hits = index.search(words, limit=limit).hits
        except SearchError as exc:
            raise QueryError("bk:search", str(exc)) from None
        if m["score"]:
            body = " ".join(f"({NamedNode(h.iri)} {float(h.score)!r})" for h in hits)
            values = f"VALUES ({var} {m['score']}) {{ {body} }}"
        else:
            values = f"VALUES {var} {{ {' '.join(str(NamedNode(h.iri)) for h in hits)} }}"
        return values + ("" if m["end"] else " ")  # a pattern ending the group: keep the brace apart

    return _PATTERN.sub(replace, sparql)


def iter_rows(hits: Iterable[Hit]) -> Iterator[list[str]]:
    """Hits as table rows: kind, label, where, score, snippet (terms in [brackets]), IRI."""
    for h in hits:
        d = h.as_dict()
        yield [h.kind, h.label, h.where, f"{h.score:.2f}", str(d["snippet"]), h.iri]


def expand(sparql: str, store: GraphStore, settings: Settings) -> str:
    """``sparql`` with its ``bk:search`` patterns rewritten (:func:`rewrite`) against ``store``'s index.

    A query without ``bk:search`` is returned as it is, without opening the index.
    """
    if not has_search(sparql):
        return sparql
    with SearchIndex.open(store, settings) as index:
        return rewrite(sparql, index)
