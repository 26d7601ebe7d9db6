"""``budgetkg``: build, inspect, query and export the budget performance-target knowledge graph.

Exit codes: 0 ok; 1 the data does not conform (validation); 2 usage or input error (bad
file, bad query, unknown name, store locked, store damaged: the message says what to do).

A command imports the parts of ``kg`` it runs (the store, the pipeline, the shapes, the named queries) when
it runs: they load httpx, rdflib, numpy and scipy, which ``budgetkg --help`` and the other commands never need.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from budgetkg.options import BaseOpt, StoreOpt, diagnose_damage, err, fail, load_settings, out
from kg.errors import BudgetKGError, ValidationError

if TYPE_CHECKING:  # the store, the named queries and pyoxigraph are imported by the commands that use them
    from pyoxigraph import RdfFormat

    from kg.queries import NamedQuery
    from kg.settings import Settings
    from kg.store import GraphStore

app = typer.Typer(
    name="budgetkg",
    help="A knowledge graph of Tianjin budget performance-target tables (预算项目支出绩效目标表).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"


class GraphFormat(StrEnum):
    nquads = "nquads"
    trig = "trig"
    turtle = "turtle"
    ntriples = "ntriples"
    rdfxml = "rdfxml"
    jsonld = "jsonld"


def _rdf_formats() -> dict[str, RdfFormat]:
    from pyoxigraph import RdfFormat  # pyoxigraph: loaded by the commands that write RDF, not for --help

    return {"nquads": RdfFormat.N_QUADS, "trig": RdfFormat.TRIG, "turtle": RdfFormat.TURTLE,
            "ntriples": RdfFormat.N_TRIPLES, "rdfxml": RdfFormat.RDF_XML}




def _open(settings: Settings, read_only: bool = False) -> GraphStore:
    from kg.store import open_store  # httpx (a remote store): loaded by the commands that open a store only

    try:
        return open_store(settings, read_only=read_only)
    except BudgetKGError as exc:
        raise fail(exc) from None


def _emit_rows(header: list[str], rows: list[list[str]], fmt: TableFormat, title: str | None = None) -> None:
    if fmt is TableFormat.json:
        out.print_json(json.dumps([dict(zip(header, r, strict=True)) for r in rows], ensure_ascii=False))
    elif fmt in (TableFormat.csv, TableFormat.tsv):
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="," if fmt is TableFormat.csv else "\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        sys.stdout.write(buf.getvalue())
    else:
        from budgetkg.tables import draw  # rich's tables: loaded when one is printed

        draw(out, header, rows, title)


@app.command()
def build(
    files: Annotated[list[Path] | None,
                     typer.Argument(help="Documents to build (default: every manifest entry).")] = None,
    store: StoreOpt = None,
    base_iri: BaseOpt = None,
    manifest: Annotated[Path | None, typer.Option(help="Source manifest (env BUDGETKG_MANIFEST).")] = None,
    year: Annotated[int | None, typer.Option(help="Budget year for FILES that are in no manifest.")] = None,
    revises: Annotated[list[str] | None, typer.Option(
        help="FILES revise this earlier document (调整预算, a correction): their version of every project both "
             "hold supersedes its version. Repeatable; adds to the manifest's 'revises'.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No report; only warnings and errors.")] = False,
    check: Annotated[bool, typer.Option(help="Check each document against the structural shapes before "
                                              "writing it.")] = True,
    audit: Annotated[bool, typer.Option(help="Record data-quality findings in the findings graph "
                                              "after the build.")] = True,
    workers: Annotated[int | None, typer.Option(min=0, help="Processes that parse, convert and check documents "
                                                           "(env BUDGETKG_WORKERS; 0: one per CPU for "
                                                           "large sources).")] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Report format.")] = TableFormat.table,
) -> None:
    """Parse documents and (re)build their graphs in the store, each one atomically.

    Without FILES, builds every document of the manifest (the bundled seeds by default). A file
    not in the manifest needs --year. Any unreadable document stops the build and leaves the
    store as it was.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kg.pipeline import build as run_build  # numpy and scipy (the links step)
    from kg.pipeline import default_steps
    from kg.shapes import structural_check  # rdflib
    from kg.sources import Manifest, adhoc_entry, load_manifest

    settings = load_settings(store=store, base_iri=base_iri, manifest=manifest, workers=workers)
    try:
        man: Manifest = load_manifest(settings.manifest)
    except BudgetKGError as exc:
        if files and year is not None:
            man = Manifest(settings.manifest, [], {})
        else:
            raise fail(exc) from None
    entries = []
    for f in files or []:
        entry = man.entry_for(f)
        if entry is not None and Path(entry.path).resolve() != f.resolve():
            entry = None
        if entry is None:
            local = f.parent / "manifest.toml"
            if local.is_file() and local.resolve() != man.path.resolve():
                try:
                    entry = load_manifest(local).entry_for(f)
                except BudgetKGError as exc:
                    raise fail(exc) from None
        if entry is None:
            if year is None:
                raise fail(f"{f}: not in the manifest {settings.manifest}; add an entry there or pass --year")
            if not f.is_file():
                raise fail(f"{f}: no such file")
            entry = adhoc_entry(f, year)
        entries.append(entry)
    if not files:
        if revises:
            raise fail("--revises applies to the FILES named on the command line; name them, or declare "
                        "'revises' in the manifest")
        entries = man.entries
    if revises:
        extra = tuple(Path(r).name for r in revises)
        bad = [e.file for e in entries if e.file in extra]
        if bad:
            raise fail(f"{bad[0]} cannot revise itself")
        entries = [dataclasses.replace(e, revises=tuple(dict.fromkeys((*e.revises, *extra)))) for e in entries]
    kg_store = _open(settings)
    show = not quiet and fmt is TableFormat.table
    try:
        with kg_store, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=err, disable=not show or len(entries) < 2,
                                transient=True) as bar:
            task = bar.add_task("building", total=len(entries))
            report = run_build(kg_store, entries, settings, manifest=man,
                               check=structural_check(settings) if check else None,
                               progress=lambda name, i, n: bar.update(task, completed=i, description=name),
                               steps=default_steps(findings=audit))  # the pipeline's derived steps
            findings = report.findings
    except BudgetKGError as exc:
        # not raised from here: the error's traceback would keep the store (and its lock) open
        failed = (f"{exc}\nthe store was not changed", 1 if isinstance(exc, ValidationError) else 2)
    else:
        failed = None
    if failed is not None:
        raise fail(*failed)
    if fmt is TableFormat.json:
        sys.stdout.write(json.dumps({
            "store": settings.store, "seconds": round(report.seconds, 3), "quads": report.quads,
            "documents": [{"file": d.file, "graph": d.graph, "projects": d.projects, "indicators": d.indicators,
                           "quads": d.quads, "replaced": d.replaced, "superseded": d.superseded}
                          for d in report.documents],
            "warnings": [str(w) for w in report.warnings], "findings": findings,
        }, ensure_ascii=False, indent=1) + "\n")
        return
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    if quiet:
        return
    rows = [[d.file, str(d.projects), str(d.indicators), str(d.quads), "replaced" if d.replaced else "new"]
            for d in report.documents]
    if fmt is TableFormat.table:
        _emit_rows(["document", "projects", "indicators", "quads", "graph"], rows, fmt,
                   title=f"built into {settings.store}")
        for d in report.documents:
            if d.superseded:
                out.print(f"{d.file}: {d.superseded} of its projects are described by a revising document "
                          "(kept as superseded versions)", highlight=False)
        audit_note = f"; {findings} data-quality findings (budgetkg validate)" if findings is not None else ""
        out.print(f"{report.projects} projects, {report.quads} quads in {report.seconds:.2f} s; "
                  f"{len(report.warnings)} warnings{audit_note}", highlight=False)
    else:
        _emit_rows(["document", "projects", "indicators", "quads", "graph"], rows, fmt)


@app.command()
def stats(
    store: StoreOpt = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table,
) -> None:
    """Projects, indicators, agencies and total budget (万元), per document and overall."""
    from kg.stats import compute  # the store's modules (httpx)

    settings = load_settings(store=store)
    with _open(settings, read_only=True) as kg_store:
        s = compute(kg_store, settings.base_iri)
    if fmt is TableFormat.json:
        sys.stdout.write(json.dumps(s.as_dict(), ensure_ascii=False, indent=1) + "\n")
        return
    rows = [[d.document, str(d.projects), str(d.indicators), str(d.budget_units), d.budget_wanyuan]
            for d in s.documents]
    rows.append(["(all)", str(s.projects), str(s.indicators), str(s.budget_units), s.budget_wanyuan])
    _emit_rows(["document", "projects", "indicators", "budget units", "budget (万元)"], rows, fmt,
               title=f"{settings.store}: {s.agencies} agencies ({s.departments} departments), {s.quads} quads")


def _term_text(term: object) -> str:
    return "" if term is None else getattr(term, "value", str(term))


@app.command()
def query(
    sparql: Annotated[str, typer.Argument(help="SPARQL text, a .rq file, or the name of a named query.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE for a named query.")] = None,
    store: StoreOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, tsv, json (SPARQL JSON), xml; for graphs: "
                                                       "turtle, ntriples, nquads, rdfxml.")] = "table",
    allow_service: Annotated[bool, typer.Option("--allow-service", help="Let SERVICE fetch from other endpoints "
                                                                        "(refused by default).")] = False,
) -> None:
    """Run a SPARQL query (default graph: the union of all document graphs).

    A query never fetches anything from the network or from files (SERVICE, LOAD) unless
    ``--allow-service`` is given; such a query is refused with exit code 2.
    """
    from kg import queries as named_queries  # the store's modules (httpx)
    from kg.namespaces import PREFIXES
    from kg.search import expand as expand_search  # the search index (sqlite3)

    settings = load_settings(store=store)
    kg_store = _open(settings, read_only=True)
    values: dict[str, str | None] = {}
    for p in param or []:
        k, sep, v = p.partition("=")
        if not sep:
            raise fail(f"--param {p!r}: expected NAME=VALUE")
        values[k] = v
    try:
        path = Path(sparql)
        nq = None
        if sparql.endswith(".rq") and path.is_file():
            nq = named_queries.parse_header(path.stem, path, path.read_text(encoding="utf-8"))
            _refuse_outbound(nq.sparql, settings, allow_service)
            result = nq.run(kg_store, values)
        elif len(sparql) < 64 and named_queries._NAME.match(sparql):
            nq = named_queries.get(settings.queries_dir, sparql)
            _refuse_outbound(nq.sparql, settings, allow_service)
            result = nq.run(kg_store, values)
        else:
            if values:
                raise fail("--param applies to named queries only")
            _refuse_outbound(sparql, settings, allow_service)
            # bk:search patterns become VALUES blocks; prefixes predeclared: error positions are the user's
            result = kg_store.query(expand_search(sparql, kg_store, settings), prefixes=PREFIXES)
        _print_result(result, fmt, nq, values)
    except BudgetKGError as exc:
        raise fail(exc) from None
    finally:
        kg_store.close()


def _refuse_outbound(text: str, settings: Settings, allow_service: bool) -> None:
    """Refuse a query that would fetch something (SERVICE, LOAD) unless ``--allow-service``, and one past the
    server's size limits, which would overflow Oxigraph's parser (the same checks as ``budgetkg serve``)."""
    from kg.namespaces import PREFIXES
    from server import safety

    try:
        safety.check(text, (), PREFIXES, max_depth=settings.max_query_depth, max_terms=settings.max_query_terms)
        safety.verify(text, (), PREFIXES)
    except safety.RefusedOperation as exc:
        if not allow_service:
            raise fail(f"{exc} (pass --allow-service to let the query fetch it)") from None
    except safety.TooComplex as exc:
        raise fail(exc) from None


def _print_result(result: object, fmt: str, named: NamedQuery | None = None,
                  values: dict[str, str | None] | None = None) -> None:
    from pyoxigraph import QueryBoolean, QueryResultsFormat, QuerySolutions, QueryTriples, RdfFormat, serialize

    from kg.namespaces import PREFIXES

    if isinstance(result, QueryBoolean):
        if fmt == "json":
            sys.stdout.write(json.dumps({"head": {}, "boolean": bool(result)}) + "\n")
        else:
            out.print("true" if result else "false")
        return
    if isinstance(result, QueryTriples):
        rdf = {"table": RdfFormat.TURTLE, **_rdf_formats()}.get(fmt)
        if rdf is None:
            raise fail(f"--format {fmt}: a graph result can be turtle, ntriples, nquads or rdfxml")
        sys.stdout.buffer.write(serialize(result, format=rdf, prefixes=PREFIXES) if rdf is RdfFormat.TURTLE
                                else serialize(result, format=rdf))
        return
    assert isinstance(result, QuerySolutions)
    results_formats = {"json": QueryResultsFormat.JSON, "xml": QueryResultsFormat.XML,
                       "csv": QueryResultsFormat.CSV, "tsv": QueryResultsFormat.TSV}
    if fmt in results_formats:
        sys.stdout.buffer.write(result.serialize(format=results_formats[fmt]))
        return
    if fmt != "table":
        raise fail(f"--format {fmt}: a SELECT result can be table, csv, tsv, json or xml")
    names = [v.value for v in result.variables]
    if named is not None:  # a table for people: no column that only repeats an empty parameter; zh headers
        hidden = named.echoes(values or {})
        names = [n for n in names if n not in hidden]
    rows = [[_term_text(sol[n]) for n in names] for sol in result]
    header = [named.column_label(n) for n in names] if named is not None else names
    _emit_rows(header, rows, TableFormat.table, title=f"{len(rows)} rows")


@app.command()
def export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (.gz compresses); "
                                                                        "default stdout.")] = None,
    fmt: Annotated[GraphFormat, typer.Option("--format", help="Serialisation.")] = GraphFormat.nquads,
    graph: Annotated[str | None, typer.Option(help="Only this named graph (IRI).")] = None,
    sort: Annotated[bool, typer.Option(help="Sort N-Quads lines (a byte-stable dump).")] = True,
    store: StoreOpt = None,
) -> None:
    """Dump the store (all published graphs, or one) as RDF."""
    from pyoxigraph import NamedNode, serialize

    from kg.namespaces import PREFIXES

    settings = load_settings(store=store)
    kg_store = _open(settings, read_only=True)
    g = NamedNode(graph) if graph else None
    if g is not None and g not in kg_store.graphs():
        kg_store.close()
        raise fail(f"no graph {graph} in the store")
    if fmt is GraphFormat.jsonld:
        import rdflib

        ds = rdflib.Dataset()
        ds.parse(data=kg_store.dump_sorted_nquads(g), format="nquads")
        data = ds.serialize(format="json-ld", context={k: v for k, v in PREFIXES.items()}).encode("utf-8")
    elif fmt is GraphFormat.nquads and sort:
        data = kg_store.dump_sorted_nquads(g)
    elif fmt in (GraphFormat.nquads, GraphFormat.trig):
        data = serialize(kg_store.quads(g), format=_rdf_formats()[fmt.value],
                         **({"prefixes": PREFIXES} if fmt is GraphFormat.trig else {})) or b""
    else:
        triples = (q.triple for q in kg_store.quads(g))
        data = serialize(triples, format=_rdf_formats()[fmt.value],
                         **({"prefixes": PREFIXES} if fmt is GraphFormat.turtle else {})) or b""
    kg_store.close()
    if output is None:
        sys.stdout.buffer.write(data)
        return
    if output.suffix == ".gz":
        with gzip.GzipFile(output, "wb", mtime=0) as fh:
            fh.write(data)
    else:
        output.write_bytes(data)
    err.print(f"wrote {output} ({len(data)} bytes before compression)", highlight=False)


@app.command("queries")
def list_queries(fmt: Annotated[TableFormat, typer.Option("--format")] = TableFormat.table) -> None:
    """List the named queries of queries/ with their parameters."""
    from kg import queries as named_queries  # the store's modules (httpx)

    settings = load_settings()
    try:
        qs = named_queries.load_all(settings.queries_dir)
    except BudgetKGError as exc:
        raise fail(exc) from None
    rows = [[q.name, q.title_zh, q.title_en,
             ", ".join(f"{p.name}:{p.type}" + (f"={p.default}" if p.default else "") for p in q.params)]
            for q in qs.values()]
    _emit_rows(["name", "title (zh)", "title (en)", "params"], rows, fmt)


@app.command()
def parse(
    file: Annotated[Path, typer.Argument(help="A document to parse (nothing is stored).")],
    year: Annotated[int | None, typer.Option(help="Budget year, to date months given without a year.")] = None,
) -> None:
    """Parse one document and print its records as JSON (a dry run of build)."""
    from kg.build import check_size  # the store's modules (httpx)

    try:
        check_size(file, str(file), load_settings().max_document_mb)
        from kg.parse import parse_file  # the parser (regular expressions, names): loaded when it runs

        records, warnings = parse_file(file, year)
    except BudgetKGError as exc:
        raise fail(exc) from None
    for w in warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    from kg.model import to_plain

    sys.stdout.write(json.dumps([to_plain(r) for r in records], ensure_ascii=False, indent=1) + "\n")


@app.command("check-store")
def check_store(
    store: StoreOpt = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Report format.")] = TableFormat.table,
) -> None:
    """Verify the store: open it, read every index in full (RocksDB checks each block's checksum), count
    each graph's quads, look for a killed writer's leftovers and the write-ahead log's size.

    Exit 0 healthy, 2 damaged (with what to do).
    """
    from kg.errors import DamagedStore
    from kg.store import WAL_WARN_BYTES, check, is_remote

    settings = load_settings(store=store)
    if is_remote(settings.store) or settings.query_url:
        raise fail("check-store verifies an embedded store folder, not a SPARQL endpoint")
    if not Path(settings.store).exists():
        raise fail(f"no store at {settings.store}")
    result = check(settings.store)
    notes = []
    if result.leftovers:
        notes.append(f"{len(result.leftovers)} graph(s) left by a killed writer (hidden from readers; the next "
                     "writer removes them)")
    if result.wal_bytes > WAL_WARN_BYTES:
        notes.append(f"write-ahead log of {result.wal_bytes / 1048576:.0f} MB (replayed on every open; any "
                     "budgetkg write flushes it)")
    if fmt is TableFormat.json:
        sys.stdout.write(json.dumps({"store": result.path, "healthy": result.healthy, "problem": result.problem,
                                     "graphs": result.graphs, "index_quads": result.index_quads,
                                     "leftovers": result.leftovers, "wal_bytes": result.wal_bytes,
                                     "notes": notes}, ensure_ascii=False, indent=1) + "\n")
    elif result.healthy:
        _emit_rows(["graph", "quads"], [[g, str(n)] for g, n in sorted(result.graphs.items())], fmt,
                   title=f"{settings.store}: healthy")
        for note in notes:
            out.print(f"note: {note}", highlight=False)
    if not result.healthy:
        raise fail(DamagedStore(settings.store, result.problem or ""))
    if fmt is TableFormat.table:
        out.print(f"{sum(result.graphs.values())} quads in {len(result.graphs)} graphs; every index read, "
                  f"{len(result.index_quads)} orders agree", highlight=False)


@app.command()
def restore(
    dump: Annotated[Path, typer.Argument(help="A dump made with 'budgetkg export' (N-Quads, .nq or .nq.gz).")],
    store: StoreOpt = None,
) -> None:
    """Load a dump into a new, empty store folder (after a store was damaged)."""
    from pyoxigraph import RdfFormat, Store
    from pyoxigraph import parse as parse_rdf

    settings = load_settings(store=store)
    target = Path(settings.store)
    if target.exists() and any(target.iterdir()):
        raise fail(f"{target} is not empty: restore into a new folder")
    if not dump.is_file():
        raise fail(f"{dump}: no such file")
    try:
        with (gzip.open(dump, "rb") if dump.suffix == ".gz" else dump.open("rb")) as fh:
            raw = Store(str(target))
            raw.bulk_extend(parse_rdf(fh, format=RdfFormat.N_QUADS))  # keeps blank node labels
            raw.flush()
            n = len(raw)
            del raw
    except (OSError, SyntaxError) as exc:
        raise fail(f"{dump}: cannot restore: {exc}") from None
    out.print(f"restored {n} quads into {target}", highlight=False)


def _register_commands() -> None:
    from budgetkg.commands.analytics import register as register_analytics
    from budgetkg.commands.graph import register as register_graph
    from budgetkg.commands.search import register as register_search
    from budgetkg.commands.serve import register as register_serve
    from budgetkg.commands.validate import register as register_validate

    register_serve(app)
    register_validate(app)
    register_analytics(app)
    register_graph(app)
    register_search(app)
    for info in app.registered_commands:
        info.callback = diagnose_damage(info.callback)
    for group in app.registered_groups:
        for info in group.typer_instance.registered_commands if group.typer_instance else ():
            info.callback = diagnose_damage(info.callback)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    import sys

    limit_memory(sys.argv[1:])
    app()


#: Commands that write the store, so never read beside a writer: their default limit is the machine's memory.
WRITERS = frozenset({"build"})


#: A command's address space at most (``BUDGETKG_CLI_MEMORY_MB``; default two thirds of the machine's memory,
#: 0 for none): a read beside a writer, which RocksDB leaves undefined, or a runaway query then fails in this
#: process instead of taking the machine (docs/reliability.md). ``budgetkg build`` is the writer: its memory grows
#: with the corpus (about 17 GB of address space at 100,000 tables), and its default limit is the machine's memory.
def limit_memory(argv: list[str] | None = None) -> int:
    import os
    import resource

    raw = os.environ.get("BUDGETKG_CLI_MEMORY_MB", "")
    command = next((a for a in argv or [] if not a.startswith("-")), None)
    share = (1, 1) if command in WRITERS else (2, 3)
    try:
        machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        mb = int(raw) if raw else machine * share[0] // share[1] >> 20
    except (ValueError, OSError):
        mb = 0
    if mb > 0:
        cap = mb << 20
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return mb


if __name__ == "__main__":
    main()
