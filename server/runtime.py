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

Answers are cached by :meth:`Runtime.respond`: a finished response is kept in a :class:`ResultCache`
(least recently used first out, bounded in bytes by ``Settings.result_cache_mb``) under the store
generation it was computed from and a request key (what the answer depends on: the normalised query
text, the dataset, the parameters, the negotiated format, the server's root URL). Only an entry of the
generation the executor sees now is ever served, so a write — by this server or any other process —
makes every older entry unreachable. Each cacheable GET answer carries an ``ETag`` derived from the same
(generation, key) and ``Cache-Control: no-cache``; ``If-None-Match`` with the current tag is a 304.
``X-Budgetkg-Cache`` (:data:`CACHE_HEADER`) says ``hit``, ``miss`` or ``revalidated`` (docs/server.md).

>>> cache = ResultCache(max_bytes=1000)
>>> cache.put(7, "k", Response(b"answer"))
True
>>> cache.get(7, "k").body, cache.get(8, "k"), cache.get(7, "k")
(b'answer', None, None)
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
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
#: The response header that says whether an answer came from the result cache: ``hit``, ``miss``, ``revalidated``.
CACHE_HEADER = "X-Budgetkg-Cache"
#: What every cacheable answer says to HTTP caches: keep it, but ask again before using it (a write can
#: happen at any time, and the ETag tells whether it did).
CACHE_CONTROL = "no-cache"

#: Bytes counted for an entry besides its body, headers and key (the objects that hold them).
ENTRY_OVERHEAD = 200


def request_key(*parts: object) -> str:
    """An unambiguous text for what an answer depends on (JSON of ``parts``).

    >>> request_key("sparql", "ASK {}", None, "json")
    '["sparql", "ASK {}", null, "json"]'
    """
    return json.dumps(parts, ensure_ascii=False)


def entity_tag(generation: int, key: str) -> str:
    """The strong ETag of the answer to ``key`` at store ``generation``: the generation, then a digest of the key.

    >>> entity_tag(3, "k")
    '"3-8254c329a92850f6d539dd376f4816ee"'
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f'"{generation}-{digest}"'


def listed_tags(header: str | None) -> set[str]:
    """The entity tags of an ``If-None-Match`` header, compared weakly (``W/`` dropped), as RFC 9110 says.

    >>> sorted(listed_tags('W/"1-a", "2-b"'))
    ['"1-a"', '"2-b"']
    """
    if not header:
        return set()
    tags = set()
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag:
            tags.add(tag)
    return tags


@dataclass(frozen=True)
class Stored:
    """A finished response as it was sent: status, headers and body, and the generation it was computed from."""

    generation: int
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    size: int

    def response(self) -> Response:
        response = Response(self.body, status_code=self.status)
        response.raw_headers = list(self.headers)
        return response


class ResultCache:
    """Finished responses of one store generation, least recently used out first, at most ``max_bytes``.

    An entry's size is its body, its headers and its key (plus :data:`ENTRY_OVERHEAD`); one larger than
    ``max_bytes`` is not kept. The cache holds a single generation: an entry for a newer one empties it,
    and an answer computed from an older one is refused, so nothing of an older generation is ever served.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self.generation = -1
        self.bytes = 0
        self.hits = self.misses = self.evicted = self.refused = 0
        self._entries: OrderedDict[str, Stored] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _advance(self, generation: int) -> None:
        if generation > self.generation:
            self._entries.clear()
            self.bytes = 0
            self.generation = generation

    def get(self, generation: int, key: str) -> Stored | None:
        """The entry for ``key`` at ``generation``, or None (a miss)."""
        self._advance(generation)
        entry = self._entries.get(key) if generation == self.generation else None
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, generation: int, key: str, response: Response) -> bool:
        """Keep ``response`` (with its whole body) as the answer to ``key`` at ``generation``; False if not kept."""
        self._advance(generation)
        body = getattr(response, "body", None)
        if generation != self.generation or not isinstance(body, bytes):
            return False
        headers = tuple(response.raw_headers)
        size = len(body) + len(key.encode("utf-8")) + sum(len(k) + len(v) for k, v in headers) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            self.refused += 1
            return False
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        while self._entries and self.bytes + size > self.max_bytes:
            _, out = self._entries.popitem(last=False)
            self.bytes -= out.size
            self.evicted += 1
        self._entries[key] = Stored(generation, response.status_code, headers, body, size)
        self.bytes += size
        return True

    def status(self) -> dict[str, int]:
        """What ``/health`` shows of it."""
        return {"generation": self.generation, "entries": len(self._entries), "bytes": self.bytes,
                "max_bytes": self.max_bytes, "hits": self.hits, "misses": self.misses, "evicted": self.evicted,
                "refused": self.refused}


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
        #: Finished answers of the current generation (see :meth:`respond`).
        self.results = ResultCache(int(settings.result_cache_mb * 1024 * 1024))
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

    async def respond(self, request: Request, key: str, compute: Callable[[], Awaitable[Response]], *,
                      keep: bool = True) -> Response:
        """The answer to ``request``, whose content depends only on ``key`` (:func:`request_key`) and the store.

        A GET or HEAD whose ``If-None-Match`` names the current tag is a 304, with nothing run. Otherwise an
        entry of the generation the executor sees now is served (``X-Budgetkg-Cache: hit``), or ``compute()``
        runs (``miss``) and its 200 is kept if ``keep`` and the store did not advance meanwhile. A request
        with ``Cache-Control: no-cache`` or ``no-store`` (or ``Pragma: no-cache``) is always computed; its
        answer replaces the entry (``no-store``: is not kept). Errors propagate and are never kept.

        ``keep=False`` is for answers kept elsewhere already (the dumps, by :meth:`cached`): they still get
        their ETag and 304s. Only GET and HEAD answers carry an ETag; a POST query is served from, and
        kept in, the cache all the same.
        """
        seen = self.executor.observe()
        key = request_key(self.root(request), key)
        conditional = request.method in ("GET", "HEAD")
        tags = listed_tags(request.headers.get("if-none-match")) if conditional else set()
        if entity_tag(seen, key) in tags:
            self._answered(seen)
            return self._not_modified(entity_tag(seen, key))
        directives = {d.strip().lower() for d in request.headers.get("cache-control", "").split(",")}
        fresh = bool(directives & {"no-cache", "no-store"}) or "no-cache" in request.headers.get("pragma", "").lower()
        stored = None if fresh else self.results.get(seen, key)
        if stored is not None:
            self._answered(stored.generation)
            generation = stored.generation
            response = stored.response()
            response.headers[CACHE_HEADER] = "hit"
        else:
            response = await compute()
            holder = _ANSWERED.get()
            generation = seen if holder is None or holder.generation is None else holder.generation
            if (keep and "no-store" not in directives and response.status_code == 200
                    and generation == seen == self.executor.generation):
                self.results.put(seen, key, response)
            response.headers[CACHE_HEADER] = "miss"
        if response.status_code != 200 or not conditional:
            return response
        tag = entity_tag(generation, key)
        if tag in tags or "*" in tags:
            return self._not_modified(tag)
        response.headers["ETag"] = tag
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response

    @staticmethod
    def _not_modified(tag: str) -> Response:
        return Response(status_code=304, headers={"ETag": tag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept",
                                                  CACHE_HEADER: "revalidated"})

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
        return self.root(request) + self.local_path(iri)

    def local_path(self, iri: str) -> str:
        """:meth:`local_url` after the server's root (a page linking hundreds of IRIs reads the root once)."""
        base = self.settings.base_iri
        if iri.startswith(base) and len(iri) > len(base):
            return quote(iri[len(base):], safe="/:@!$&'()*+,;=-._~%")
        return "resource?iri=" + quote(iri, safe="")


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
