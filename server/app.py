"""The FastAPI application: a thin HTTP adapter over :mod:`kg`.

``create_app(settings)`` serves the on-disk store at ``settings.store`` through worker processes
(:class:`server.workers.ProcessPool`); ``create_app(settings, store=...)`` serves a store object (an
in-memory one, in tests) through threads. Handlers get the :class:`~server.runtime.Runtime` —
settings, the executor, the parsed named queries — through the FastAPI dependencies of
:mod:`server.runtime`; nothing lives in module globals.

This module only assembles: it imports every router at the top and includes them; no router
imports it back (they share :mod:`server.runtime`). See docs/architecture.md.

Routes (see docs/server.md): ``/`` the SPARQL editor, ``/sparql`` SPARQL 1.1 Protocol,
``/update`` SPARQL Update (token), ``/store`` Graph Store Protocol reads, ``/queries`` and
``/queries/{name}`` named queries, ``/dataset`` VoID/DCAT, ``/dumps/…`` downloads,
``/context.jsonld``, ``/resource?iri=`` any IRI of the store, ``/health``, and every entity IRI
``<base IRI><path>`` at ``/<path>``. Every response carries ``X-Budgetkg-Generation``
(:data:`~server.runtime.GENERATION_HEADER`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from kg.errors import BudgetKGError
from kg.settings import Settings
from kg.store import GraphStore

from . import browse, errors, graph, linked, named, pages, search, sparql, void
from .runtime import GENERATION_HEADER, STATIC_DIR, GenerationHeader, Runtime
from .workers import Executor, ProcessPool, ThreadPool

#: What clients of the application use besides :func:`create_app`: the header and the static files' directory.
__all__ = ["GENERATION_HEADER", "STATIC_DIR", "create_app"]

log = logging.getLogger("budgetkg.server")


def create_app(settings: Settings, store: GraphStore | None = None, *, workers: int | None = None,
               executor: Executor | None = None) -> FastAPI:
    """The budgetkg HTTP application.

    ``store``: serve this store object through threads (an in-memory store); by default the store
    at ``settings.store`` is served by ``workers`` processes (default: CPUs + 2).
    """
    if executor is None:
        executor = ThreadPool(store, settings, workers) if store is not None else ProcessPool(settings, workers)
    try:
        runtime = Runtime(settings, executor)
    except BudgetKGError as exc:
        raise SystemExit(f"error: {exc}") from None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await executor.start()
        log.info("budgetkg serving %s (%s mode, %s workers), base IRI %s", settings.store, executor.mode,
                 executor.status().get("workers"), settings.base_iri)
        try:
            yield
        finally:
            await executor.close()

    app = FastAPI(
        title="budgetkg",
        summary="SPARQL endpoint and linked data for Tianjin budget performance-target tables (预算项目支出绩效目标表)",
        description="SPARQL 1.1 Protocol at `/sparql`, named queries at `/queries/{name}`, linked data for every "
                    "entity IRI, VoID/DCAT at `/dataset`. See docs/server.md.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs is served by server.pages with swagger-ui from /static/vendor/, no CDN
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.add_middleware(GenerationHeader, runtime=runtime)
    errors.install(app)

    app.include_router(pages.router)
    app.include_router(sparql.router)
    named.register(app, runtime)
    app.include_router(void.router)  # /dataset, /dumps, /context.jsonld
    app.include_router(graph.router)  # /graph, /api/graph (docs/graph.md)
    app.include_router(browse.router)  # /projects, /indicators (docs/portal.md)
    app.include_router(search.router)  # /search (docs/search.md)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.include_router(linked.router)  # last: /{path} catches every entity IRI
    return app
