"""Full-text search in the query workers: the index each worker opens, and the jobs that use it.

The ``/search`` page (:mod:`server.search`) runs a :class:`SearchJob`; every SPARQL query, sent to
``/sparql`` or a named query, has its ``bk:search`` patterns rewritten into ``VALUES`` blocks by
:func:`expand_query` before it runs (docs/search.md). Both read the index a worker opens once and
checks against its view of the store (:mod:`kg.search`), so neither the index nor the store is
touched in the server process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kg import search as fulltext

from .runtime import Runtime

#: Hits on one page unless asked otherwise.
PER_PAGE = 20


def worker_index(ctx: Any) -> fulltext.SearchIndex:
    """The worker's index, opened (and checked against its store) on the first search."""
    index = getattr(ctx, "search_index", None)
    if index is None:
        index = fulltext.SearchIndex.open(ctx.kg, ctx.settings, writable=False)
        ctx.search_index = index
    return index


@dataclass(frozen=True)
class SearchJob:
    """Answer one search in a query worker."""

    query: str
    limit: int = PER_PAGE
    offset: int = 0
    kinds: tuple[str, ...] = ()

    def run(self, ctx: Any) -> fulltext.SearchResult:
        result = worker_index(ctx).search(self.query, limit=self.limit, offset=self.offset,
                                          kinds=self.kinds or None, base_iri=ctx.settings.base_iri)
        for h in result.hits:  # what the page needs, not the index rows behind it
            h.__dict__.pop("_row", None)
            h.__dict__.pop("_id", None)
        return result


@dataclass(frozen=True)
class RewriteJob:
    """Rewrite the ``bk:search`` patterns of a SPARQL query into VALUES blocks (in a query worker)."""

    sparql: str

    def run(self, ctx: Any) -> str:
        return fulltext.rewrite(self.sparql, worker_index(ctx))


async def expand_query(runtime: Runtime, sparql: str) -> str:
    """``sparql`` with its ``bk:search`` patterns rewritten; unchanged (no worker trip) without any."""
    if not fulltext.has_search(sparql):
        return sparql
    rewritten: str = await runtime.run(RewriteJob(sparql))
    return rewritten
