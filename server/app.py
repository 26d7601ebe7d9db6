"""The FastAPI application: a thin HTTP adapter over :mod:`kg`.

``create_app(settings)`` serves the on-disk store at ``settings.store`` through worker processes
(:class:`server.workers.ProcessPool`); ``create_app(settings, store=KGStore(None))`` serves an
in-memory store through threads (tests). Handlers get the :class:`Runtime` — settings, the
executor, the parsed named queries — through the FastAPI dependencies :func:`get_runtime` and
:func:`get_settings`; nothing lives in module globals.

Routes (see docs/server.md): ``/`` the SPARQL editor, ``/sparql`` SPARQL 1.1 Protocol,
``/update`` SPARQL Update (token), ``/store`` Graph Store Protocol reads, ``/queries`` and
``/queries/{name}`` named queries, ``/dataset`` VoID/DCAT, ``/dumps/…`` downloads,
``/context.jsonld``, ``/resource?iri=`` any IRI of the store, ``/health``, and every entity IRI
``<base IRI><path>`` at ``/<path>``.

Every response carries ``X-Budgetkg-Generation``: the store generation its answer was computed
from (the oldest, when a request ran several jobs; for a response that read nothing from the store,
the newest generation the server has seen). See :mod:`server.workers` for why it never goes back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kg import queries as named_queries
from kg.bundled import package_folder
from kg.errors import BudgetKGError
from kg.namespaces import PREFIXES
from kg.settings import Settings
from kg.store import KGStore

from . import errors, safety
from .workers import Executor, ProcessPool, ThreadPool

log = logging.getLogger("budgetkg.server")

STATIC_DIR = package_folder("server", "static")
TEMPLATES_DIR = package_folder("server", "templates")

#: The response header that names the store generation an answer was computed from.
GENERATION_HEADER = "X-Budgetkg-Generation"


class _Answered:
    """The generations the jobs of one request were answered from."""

    __slots__ = ("generation",)

    def __init__(self) -> None:
        self.generation: int | None = None

    def note(self, generation: int) -> None:
        if self.generation is None or generation < self.generation:
            self.generation = generation


#: Set per request by :class:`GenerationHeader` (a mutable holder: handlers run in copies of the context).
_ANSWERED: ContextVar[_Answered | None] = ContextVar("budgetkg_answered", default=None)


class Runtime:
    """What every request handler needs: settings, the executor, named queries, caches."""

    def __init__(self, settings: Settings, executor: Executor) -> None:
        self.settings = settings
        self.executor = executor
        # parsed once: a request for a named query costs no file reading or header parsing
        self.queries: dict[str, named_queries.NamedQuery] = named_queries.load_all(settings.queries_dir)
        self.refused: dict[str, safety.RefusedOperation] = {}
        for name, nq in self.queries.items():
            try:
                safety.check(nq.sparql, settings.service_allowlist, PREFIXES)
            except safety.RefusedOperation as exc:
                self.refused[name] = exc
        #: The JSON-LD context published at /context.jsonld and used by JSON-LD responses.
        self.context: dict[str, str] = dict(PREFIXES)
        #: (generation seen when asked, key) → (result, generation it was computed from)
        self._cache: dict[tuple[int, str], tuple[Any, int]] = {}
        self._templates: Any = None

    async def run(self, job: Any, timeout: float | None = None) -> Any:
        """Run a job of :mod:`server.jobs` under the time limit."""
        result, generation = await self.executor.run(job, timeout or self.settings.query_timeout)
        self._answered(generation)
        return result

    async def cached(self, key: str, job: Any, timeout: float | None = None) -> Any:
        """Run ``job`` once per store generation (dumps, counts), and keep its result until the store advances."""
        seen = self.executor.observe()
        k = (seen, key)
        if k not in self._cache:
            for old in [c for c in self._cache if c[0] != seen]:
                del self._cache[old]
            result, generation = await self.executor.run(job, timeout or self.settings.query_timeout)
            if self.executor.generation == seen:  # else it is already out of date: not kept
                self._cache[k] = (result, generation)
            self._answered(generation)
            return result
        result, generation = self._cache[k]
        self._answered(generation)
        return result

    @staticmethod
    def _answered(generation: int) -> None:
        holder = _ANSWERED.get()
        if holder is not None:
            holder.note(generation)

    @property
    def templates(self) -> Any:
        if self._templates is None:
            from .pages import environment

            self._templates = environment(TEMPLATES_DIR)
        return self._templates

    # -- IRIs and the server's own URLs ----------------------------------------------------
    @staticmethod
    def root(request: Request) -> str:
        """The server's own root URL as the client sees it (``http://127.0.0.1:8000/``)."""
        return str(request.base_url)

    def iri_for_path(self, path: str) -> str:
        """The entity IRI a server path names: ``agency/341101`` → ``<base IRI>agency/341101``."""
        return self.settings.base_iri + path

    def local_url(self, request: Request, iri: str) -> str:
        """Where this server shows ``iri``: its own route for IRIs under the base IRI, /resource otherwise."""
        base = self.settings.base_iri
        if iri.startswith(base) and len(iri) > len(base):
            return self.root(request) + quote(iri[len(base):], safe="/:@!$&'()*+,;=-._~%")
        return self.root(request) + "resource?iri=" + quote(iri, safe="")


class GenerationHeader:
    """ASGI middleware: ``X-Budgetkg-Generation`` on every HTTP response (see the module docstring)."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder = _Answered()
        token = _ANSWERED.set(holder)

        async def send_with_generation(message: Message) -> None:
            if message["type"] == "http.response.start":
                generation = holder.generation
                if generation is None:
                    generation = self.runtime.executor.observe()
                MutableHeaders(scope=message)[GENERATION_HEADER] = str(generation)
            await send(message)

        try:
            await self.app(scope, receive, send_with_generation)
        finally:
            _ANSWERED.reset(token)


def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the application's :class:`Runtime`."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    """FastAPI dependency: the :class:`~kg.settings.Settings` the app was created with."""
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def create_app(settings: Settings, store: KGStore | None = None, *, workers: int | None = None,
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

    from . import browse, dataset, graph, linked, named, pages, search, sparql

    app.include_router(pages.router)
    app.include_router(sparql.router)
    named.register(app, runtime)
    app.include_router(dataset.router)
    app.include_router(graph.router)  # /graph, /api/graph (docs/graph.md)
    app.include_router(browse.router)  # /projects, /indicators (docs/portal.md)
    app.include_router(search.router)  # /search (docs/search.md)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.include_router(linked.router)  # last: /{path} catches every entity IRI
    return app
