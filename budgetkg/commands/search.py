"""``budgetkg search``: full-text search over projects, budget units and vendors (see docs/search.md).

Prints the hits ranked (name matches first), each with its file:line and a snippet whose matched
terms are in [brackets]. ``--refresh`` checks the index against the store and repairs it;
``--reindex`` rebuilds it from scratch. Exit codes: 0 ok (also when nothing matched), 2 a bad query
(a one-character term) or no store.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from budgetkg.options import StoreOpt, err, fail, load_settings, out
from kg.errors import BudgetKGError

if TYPE_CHECKING:  # the search index (sqlite3, the tokenizer) is imported when a search runs, not for --help
    from kg import search as fulltext

#: The most hits one search prints (:data:`kg.search.MAX_HITS`; tests/test_cli.py checks they agree).
MAX_HITS = 10_000


class SearchFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def register(app: typer.Typer) -> None:
    """Add the ``search`` command to ``app``."""
    app.command("search")(search_command)


def search_command(
    query: Annotated[str | None, typer.Argument(help="Words to find (two characters or more each; all must "
                                                     "occur), e.g. 视频监控 or '信息化 运维'.")] = None,
    store: StoreOpt = None,
    fmt: Annotated[SearchFormat, typer.Option("--format", help="table, json or csv.")] = SearchFormat.table,
    limit: Annotated[int, typer.Option(min=1, max=MAX_HITS, help="Most hits to print.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many hits (paging).")] = 0,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds: project, unit, department, vendor "
                                                        "(repeatable).")] = None,
    refresh: Annotated[bool, typer.Option(help="Check the index against the store and repair it first "
                                               "(opens the store for writing).")] = False,
    reindex: Annotated[bool, typer.Option(help="Rebuild the index from the store first.")] = False,
) -> None:
    """Find projects, budget units and vendors by Chinese words in their names, uses of funds, goals and
    indicators; hits are ranked name matches first, with file:line and a highlighted snippet.
    """
    from kg import search as fulltext
    from kg.store import open_store  # httpx (a remote store): loaded when a search runs, not for --help

    settings = load_settings(store=store)
    if query is None and not (refresh or reindex):
        raise fail("give words to search for (or --refresh / --reindex)")
    try:
        if refresh or reindex:
            with open_store(settings) as kg_store:
                if reindex:
                    n = fulltext.reindex(kg_store, settings)
                    err.print(f"indexed {n} projects", highlight=False)
                else:
                    fixed = fulltext.refresh(kg_store, settings)
                    err.print(f"index checked: {len(fixed)} documents re-indexed", highlight=False)
        if query is None:
            return
        with open_store(settings, read_only=True) as kg_store, \
                fulltext.SearchIndex.open(kg_store, settings) as index:
            result = index.search(query, limit=limit, offset=offset, kinds=kind or None,
                                  base_iri=settings.base_iri)
    except BudgetKGError as exc:
        raise fail(exc) from None
    emit(result, fmt)


def emit(result: fulltext.SearchResult, fmt: SearchFormat) -> None:
    """Print a result as a table (snippets highlighted), JSON or CSV."""
    from kg import search as fulltext
    if result.repaired:
        err.print(f"note: {len(result.repaired)} documents were not indexed as the store holds them; they were "
                  "searched from the store (run 'budgetkg search --refresh' to update the index)", highlight=False)
    if fmt is SearchFormat.json:
        sys.stdout.write(json.dumps({"query": result.query, "terms": result.terms, "total": result.total,
                                     "offset": result.offset, "truncated": result.truncated,
                                     "hits": [h.as_dict() for h in result.hits]}, ensure_ascii=False, indent=1)
                         + "\n")
        return
    if fmt is SearchFormat.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["kind", "label", "where", "score", "snippet", "iri"])
        w.writerows(fulltext.iter_rows(result.hits))
        sys.stdout.write(buf.getvalue())
        return
    shown = f"{result.offset + 1}–{result.offset + len(result.hits)}" if result.hits else "0"
    from rich.table import Table  # rich's tables: loaded when one is printed

    t = Table(title=f"{result.total} hits for {escape(result.query)} (showing {shown})", show_lines=False)
    for h in ("kind", "name", "where", "snippet"):
        t.add_column(h, overflow="fold")
    for h in result.hits:
        snip = escape(h.snippet).replace(fulltext.MARK_START, "[bold yellow]").replace(fulltext.MARK_END, "[/]")
        t.add_row(h.kind, escape(h.label), h.where, snip)
    out.print(t)
