"""What every route shares: the :class:`Runtime`, the FastAPI dependencies that hand it out, page rendering.

Routers (:mod:`server.pages`, :mod:`server.sparql`, …) import this module, and :mod:`server.app`
imports the routers: imports go one way, so no router ever imports the application back. The
application keeps its one :class:`Runtime` in ``app.state``; handlers get it through
:data:`RuntimeDep` (or the settings through :data:`SettingsDep`), so tests can build an app over an
in-memory store and nothing lives in module globals.

Every response carries ``X-Budgetkg-Generation`` (:data:`GENERATION_HEADER`): the store generation
its answer was computed from (the oldest, when a request ran several jobs; for a response that read
nothing from the store, the newest generation the server has seen). :class:`GenerationHeader` adds
it; :meth:`Runtime.run` and :meth:`Runtime.cached` note the generation of each job they run. See
:mod:`server.workers` for why it never goes back.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kg import queries as named_queries
from kg.bundled import package_folder
from kg.namespaces import PREFIXES
from kg.settings import Settings

from . import safety
from .workers import Executor

# Where the page templates and static assets are: the two names every module reads them through.
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


def environment(directory: Path) -> jinja2.Environment:
    """The Jinja2 environment of the pages: autoescaped, block tags leave no blank lines behind."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)


def asset_url(root: str, name: str) -> str:
    """URL of a static file, versioned by its modification time so browsers never run a stale copy.

    >>> asset_url("http://127.0.0.1:8000/", "no-such-file.js")
    'http://127.0.0.1:8000/static/no-such-file.js?v=0'
    """
    path = STATIC_DIR / name
    version = int(path.stat().st_mtime) if path.is_file() else 0
    return f"{root}static/{name}?v={version}"


def vendor_present(*names: str) -> bool:
    """Whether the vendored scripts ``names`` (default: YASGUI) were installed by ``scripts/setup-assets.sh``."""
    return all((STATIC_DIR / "vendor" / name).is_file() for name in (names or ("yasgui.min.js",)))


class Runtime:
    """What every request handler needs: settings, the executor, named queries, caches, templates."""

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
        self._templates: jinja2.Environment | None = None

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
    def templates(self) -> jinja2.Environment:
        """The page templates, loaded on the first page asked for (an API-only client never reads them)."""
        if self._templates is None:
            self._templates = environment(TEMPLATES_DIR)
        return self._templates

    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        """An HTML page from ``template``.

        Every template gets ``root`` (this server's URL), ``asset`` (a static file's versioned URL) and
        ``vendor`` (whether YASGUI is installed); ``ctx`` may override them (the graph page's ``vendor``).
        """
        root = self.root(request)

        def asset(name: str) -> str:
            return asset_url(root, name)

        html = self.templates.get_template(template).render({"root": root, "vendor": vendor_present(),
                                                             "asset": asset, **ctx})
        return HTMLResponse(html, status_code=status, headers={"Vary": "Accept"})

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
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    """FastAPI dependency: the :class:`~kg.settings.Settings` the app was created with."""
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
