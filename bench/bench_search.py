"""Full-text search on a synthetic corpus: index build time, index size and query latency, three engines.

    python -m bench.bench_search --corpus /tmp/s100k [--engines bigram,trigram,tantivy] [--out bench/out]

The corpus is :mod:`bench.synth` output (``python -m bench.synth --tables 100000 --out /tmp/s100k``).
Every document is parsed with :func:`kg.build.parse_document` into the rows budgetkg indexes
(:func:`kg.search.rows_from_records`: each table's lines and fields); no Oxigraph store is built.
Then each engine indexes the same rows and answers the same queries (2-, 3-, 4-character terms and
multi-word queries, every one checked to give the same hits as a plain substring scan):

* ``budgetkg``: budgetkg's index (:class:`kg.search.SearchIndex`: tantivy over character-bigram
  tokens, phrase queries; SQLite for the rows), searched through :meth:`SearchIndex.search` with
  snippets, 20 hits a page — what ``/search`` and ``budgetkg search`` run.
* ``fts5-bigram``: SQLite FTS5 (contentless) over the same bigram tokens, phrase queries.
* ``fts5-trigram``: SQLite FTS5's ``trigram`` tokenizer; a 2-character term is not in a trigram
  index, so it falls back to ``LIKE '%term%'`` (a scan of every row).
* ``tantivy``: tantivy-py alone over the same bigram tokens (``whitespace`` tokenizer, phrase
  queries), storing the rows in tantivy.

Prints a markdown table (and writes ``<out>/search.md`` and ``search.json``). Not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kg.search import MAX_HITS, ProjectRow

#: Query set: (kind, query). Terms of the seeds' vocabulary, common and rare.
QUERIES: list[tuple[str, str]] = [
    ("2-char", "视频"), ("2-char", "监控"), ("2-char", "执法"), ("2-char", "培训"), ("2-char", "维护"),
    ("2-char", "车辆"), ("2-char", "网络"), ("2-char", "档案"),
    ("3-char", "信息化"), ("3-char", "满意度"), ("3-char", "公安局"), ("3-char", "直升机"), ("3-char", "出入境"),
    ("3-char", "数字化"),
    ("4-char", "视频监控"), ("4-char", "运行维护"), ("4-char", "执法装备"), ("4-char", "网络安全"),
    ("4-char", "购买服务"), ("4-char", "办公设备"),
    ("multi-word", "视频 监控"), ("multi-word", "信息化 运维"), ("multi-word", "执法 装备 更新"),
    ("multi-word", "网络 安全 服务"), ("multi-word", "培训 满意度"),
]
#: Terms in (nearly) every table: the worst case for ranking, reported apart.
COMMON: list[tuple[str, str]] = [("every table", "项目"), ("every table", "指标")]


def load_rows(corpus: Path, limit: int | None = None) -> tuple[list[ProjectRow], float]:
    from kg.build import parse_document
    from kg.iris import Iris
    from kg.rdf import project_iris
    from kg.search import rows_from_records
    from kg.sources import load_manifest

    manifest = load_manifest(corpus / "manifest.toml")
    iris = Iris("https://budgetkg.example.org/id/")
    rows: list[ProjectRow] = []
    t = time.perf_counter()
    for entry in manifest.entries[:limit]:
        parsed = parse_document(entry)
        text = Path(entry.path).read_text(encoding="utf-8")
        rows += rows_from_records(parsed, iris.graph(entry.file).value, text,
                                  [n.value for n in project_iris(parsed, iris)])
    return rows, time.perf_counter() - t


def _size(path: Path) -> int:
    if path.is_file():  # an SQLite database: with its write-ahead log
        wal = Path(str(path) + "-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.is_file() else 0)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _expected(rows: list[ProjectRow], query: str) -> set[str]:
    from kg.search import squeeze, terms

    ts = [squeeze(t) for t in terms(query)]
    return {r.iri for r in rows if all(t in r.text() for t in ts)}


# -- engines ------------------------------------------------------------------------------------
def budgetkg_engine(rows: list[ProjectRow], work: Path) -> tuple[Callable[[str], set[str]], Path]:
    """budgetkg's own index (tantivy over bigram tokens, SQLite for rows), searched as users search it."""
    from kg.search import MAX_HITS, SearchIndex
    from kg.settings import Settings

    path = work / "budgetkg" / "index.sqlite"
    index = SearchIndex(path, Settings(store=str(work)), writable=True)
    by_graph: dict[str, list[ProjectRow]] = {}
    for r in rows:
        by_graph.setdefault(r.graph, []).append(r)
    for g, rs in by_graph.items():
        index.put(g, rs[0].file, "", rs, "current", flush=False)
    index.flush()
    with index._tx():
        index.db.execute("UPDATE versions SET state='current'")
    index.writer().wait_merging_threads()  # type: ignore[attr-defined]
    index._writer = None
    index.tantivy.reload()  # type: ignore[attr-defined]
    index.entities = []

    def run(q: str) -> set[str]:
        result = index.search(q, limit=MAX_HITS, kinds=["project"])
        run.total = result.total  # type: ignore[attr-defined]
        return {h.iri for h in result.hits}

    run.page = lambda q: index.search(q, limit=20, kinds=["project"])  # type: ignore[attr-defined]
    return run, path.parent


def fts5_bigram_engine(rows: list[ProjectRow], work: Path) -> tuple[Callable[[str], set[str]], Path]:
    """SQLite FTS5 (contentless) over the same bigram tokens: phrase queries, name matches first, BM25."""
    from kg.search import bigrams, snippet, squeeze, terms
    from kg.searchtext import index_tokens

    path = work / "fts5-bigram.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE docs(id INTEGER PRIMARY KEY, iri TEXT, segments TEXT)")
    db.execute("CREATE VIRTUAL TABLE fts USING fts5(name, body, content='')")
    db.execute("BEGIN")
    for i, r in enumerate(rows, 1):
        db.execute("INSERT INTO docs VALUES (?,?,?)", (i, r.iri, json.dumps(r.segments, ensure_ascii=False)))
        db.execute("INSERT INTO fts(rowid, name, body) VALUES (?,?,?)",
                   (i, index_tokens([squeeze(r.name)]), index_tokens(s for _, s in r.segments)))
    db.execute("COMMIT")
    db.execute("INSERT INTO fts(fts) VALUES('optimize')")

    def page(q: str, limit: int = 20) -> list[str]:
        ts = [squeeze(t) for t in terms(q)]
        match = " AND ".join('"' + " ".join(bigrams(t)) + '"' for t in ts)
        out = db.execute("SELECT d.iri, d.segments FROM fts JOIN docs d ON d.id = fts.rowid WHERE fts MATCH ? "
                         "ORDER BY d.id IN (SELECT rowid FROM fts WHERE fts MATCH ?) DESC, bm25(fts, 10.0, 1.0) "
                         "LIMIT ?", (match, f"name : ({match})", limit)).fetchall()
        for _, segs in out[:20]:  # the same snippet work as budgetkg
            snippet(next((s for _, s in json.loads(segs) if ts[0] in s), ""), ts)
        return [iri for iri, _ in out]

    def run(q: str) -> set[str]:
        return set(page(q, len(rows)))

    run.page = page  # type: ignore[attr-defined]
    return run, path


def trigram_engine(rows: list[ProjectRow], work: Path) -> tuple[Callable[[str], set[str]], Path]:
    from kg.search import squeeze, terms

    path = work / "trigram.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE docs(id INTEGER PRIMARY KEY, iri TEXT, name TEXT, body TEXT)")
    db.execute("CREATE VIRTUAL TABLE fts USING fts5(name, body, content='docs', content_rowid='id', "
               "tokenize='trigram')")
    db.execute("BEGIN")
    for i, r in enumerate(rows, 1):
        body = r.text()
        db.execute("INSERT INTO docs VALUES (?,?,?,?)", (i, r.iri, squeeze(r.name), body))
        db.execute("INSERT INTO fts(rowid, name, body) VALUES (?,?,?)", (i, squeeze(r.name), body))
    db.execute("COMMIT")
    db.execute("INSERT INTO fts(fts) VALUES('optimize')")

    def page(q: str, limit: int = 20) -> list[str]:
        ts = [squeeze(t) for t in terms(q)]
        long = [t for t in ts if len(t) >= 3]
        short = [t for t in ts if len(t) < 3]
        where, args = [], []
        if long:
            where.append("fts MATCH ?")
            args.append(" AND ".join('"' + t + '"' for t in long))
        for t in short:
            where.append("(d.body LIKE ? OR d.name LIKE ?)")  # no trigram: a scan of every row
            args.append(f"%{t}%")
            args.append(f"%{t}%")
        rank = "bm25(fts, 10.0, 1.0)" if long else "d.id"
        sql = (f"SELECT d.iri, d.body FROM fts JOIN docs d ON d.id = fts.rowid WHERE {' AND '.join(where)} "
               f"ORDER BY {rank} LIMIT ?")
        out = db.execute(sql, (*args, limit)).fetchall()
        for _, body in out:  # the same snippet work as the bigram engine
            body.find(ts[0])
        return [iri for iri, _ in out]

    def run(q: str) -> set[str]:
        return set(page(q, len(rows)))

    run.page = page  # type: ignore[attr-defined]
    return run, path


def tantivy_engine(rows: list[ProjectRow], work: Path) -> tuple[Callable[[str], set[str]], Path]:
    import tantivy

    from kg.search import bigrams, squeeze, terms

    path = work / "tantivy"
    path.mkdir(parents=True, exist_ok=True)
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("iri", stored=True, tokenizer_name="raw")
    sb.add_text_field("segments", stored=True, tokenizer_name="raw", index_option="basic")  # for snippets
    sb.add_text_field("name", tokenizer_name="whitespace", index_option="position")
    sb.add_text_field("body", tokenizer_name="whitespace", index_option="position")
    schema = sb.build()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for r in rows:
        body = " z ".join(" ".join(bigrams(s)) for _, s in r.segments if len(s) >= 2)
        writer.add_document(tantivy.Document(iri=r.iri, name=" ".join(bigrams(squeeze(r.name))), body=body,
                                             segments=json.dumps(r.segments, ensure_ascii=False)))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()

    def query(q: str) -> tantivy.Query:
        parts = []
        for t in terms(q):
            grams = bigrams(squeeze(t))
            body = (tantivy.Query.term_query(schema, "body", grams[0]) if len(grams) == 1
                    else tantivy.Query.phrase_query(schema, "body", grams))
            name = (tantivy.Query.term_query(schema, "name", grams[0]) if len(grams) == 1
                    else tantivy.Query.phrase_query(schema, "name", grams))
            parts.append((tantivy.Occur.Must, tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, body), (tantivy.Occur.Should, tantivy.Query.boost_query(name, 10.0))])))
        return tantivy.Query.boolean_query(parts)

    def page(q: str, limit: int = 20) -> list[str]:
        res = searcher.search(query(q), limit)
        out = []
        for _, addr in res.hits:
            doc = searcher.doc(addr)
            json.loads(doc["segments"][0])  # the same snippet work as the bigram engine
            out.append(doc["iri"][0])
        return out

    def run(q: str) -> set[str]:
        return set(page(q, len(rows)))

    run.page = page  # type: ignore[attr-defined]
    return run, path


def _agrees(run: Callable[[str], set[str]], q: str, expected: set[str]) -> bool:
    """Whether an engine's hits are the substring scan's (budgetkg ranks at most MAX_HITS, and counts the rest)."""
    got = run(q)
    total = getattr(run, "total", None)
    if total is None:
        return got == expected
    return total == len(expected) and got <= expected and len(got) == min(len(expected), MAX_HITS)


ENGINES = {"budgetkg": budgetkg_engine, "fts5-bigram": fts5_bigram_engine, "fts5-trigram": trigram_engine,
           "tantivy": tantivy_engine}


def measure(page: Callable[[str], object], queries: list[tuple[str, str]], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        for _, q in queries:
            t = time.perf_counter()
            page(q)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(times[min(len(times) - 1,
                                                                                     int(len(times) * 0.99))], 2),
            "max_ms": round(times[-1], 2), "n": len(times)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_search", description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="a bench.synth output directory")
    ap.add_argument("--engines", default="budgetkg,fts5-bigram,fts5-trigram,tantivy")
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--repeat", type=int, default=5, help="passes over the query set")
    ap.add_argument("--docs", type=int, default=None, help="only the first N documents")
    args = ap.parse_args(argv)
    rows, parse_s = load_rows(args.corpus, args.docs)
    print(f"parsed {len(rows)} tables in {parse_s:.1f} s", file=sys.stderr)
    work = args.out / "search-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    expected = {q: _expected(rows, q) for _, q in QUERIES + COMMON}
    results = {"tables": len(rows), "parse_s": round(parse_s, 1), "engines": {}}
    for name in args.engines.split(","):
        t = time.perf_counter()
        run, path = ENGINES[name](rows, work)
        build_s = time.perf_counter() - t
        wrong = [q for _, q in QUERIES + COMMON if not _agrees(run, q, expected[q])]
        page = run.page  # type: ignore[attr-defined]
        r = {"build_s": round(build_s, 1), "size_mb": round(_size(path) / 1e6, 1), "wrong": wrong,
             "all": measure(page, QUERIES, args.repeat), "common": measure(page, COMMON, args.repeat)}
        for kind in ("2-char", "3-char", "4-char", "multi-word"):
            r[kind] = measure(page, [x for x in QUERIES if x[0] == kind], args.repeat)
        results["engines"][name] = r
        print(name, json.dumps(r, ensure_ascii=False), file=sys.stderr)
    lines = [f"{len(rows)} tables (parsed in {parse_s:.0f} s); a page of 20 ranked hits; "
             f"{args.repeat} passes over {len(QUERIES)} queries", "",
             "| engine | build s | size MB | p50 ms | p99 ms | 2-char p50/p99 | 3-char p50/p99 | 4-char p50/p99 | "
             "multi-word p50/p99 | term in every table p50/p99 | hits = substring scan |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:--|"]
    for name, r in results["engines"].items():
        cells = [f"{r[k]['p50_ms']}/{r[k]['p99_ms']}" for k in ("2-char", "3-char", "4-char", "multi-word", "common")]
        lines.append(f"| {name} | {r['build_s']} | {r['size_mb']} | {r['all']['p50_ms']} | {r['all']['p99_ms']} | "
                     + " | ".join(cells) + f" | {'yes' if not r['wrong'] else 'no: ' + ', '.join(r['wrong'])} |")
    table = "\n".join(lines)
    print(table)
    (args.out / "search.md").write_text(table + "\n", encoding="utf-8")
    (args.out / "search.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
