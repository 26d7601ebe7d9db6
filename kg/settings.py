"""One settings object, read from the environment (``BUDGETKG_*``) and overridden by CLI options.

No module keeps mutable global state: code that needs settings is handed a :class:`Settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import bundled
from .iris import normalise_base
from .namespaces import DEFAULT_BASE_IRI

# The defaults are the folders the package ships (kg.bundled), wherever it is installed.
SEEDS_DIR = bundled.folder("seeds")
ONTOLOGY_DIR = bundled.folder("ontology")
QUERIES_DIR = bundled.folder("queries")
SHAPES_DIR = bundled.folder("shapes")


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0 (true or false), not {raw!r}")


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None


#: The ways budgetkg can authenticate to a remote store (``BUDGETKG_STORE_AUTH``).
STORE_AUTH = ("basic", "digest", "bearer")


@dataclass(frozen=True)
class Settings:
    """Where the store is, how IRIs are minted, and the limits the server enforces.

    >>> Settings(store="s", base_iri="http://x.org/data").base_iri
    'http://x.org/data/'
    """

    store: str = "budgetkg-store"
    base_iri: str = DEFAULT_BASE_IRI
    manifest: Path = SEEDS_DIR / "manifest.toml"
    ontology_dir: Path = ONTOLOGY_DIR
    queries_dir: Path = QUERIES_DIR
    shapes_dir: Path = SHAPES_DIR
    #: Seconds a SPARQL query may run before it is stopped (server).
    query_timeout: float = 10.0
    #: Most result rows a SELECT returns through the server before it says it truncated.
    max_rows: int = 10000
    #: Largest SPARQL request body (and query or update text) accepted, in bytes.
    max_body_bytes: int = 1_000_000
    #: Deepest nesting of ``{ ( [ <<`` a query or update may have (Oxigraph's parser recurses once a level).
    max_query_depth: int = 200
    #: Most tokens a query or update may have outside VALUES and INSERT/DELETE DATA blocks (Oxigraph's
    #: planner recurses over them: about 8 000 patterns, paths, UNIONs or operators overflow its stack).
    max_query_terms: int = 5000
    #: Bearer token that enables SPARQL Update at /update (unset: updates are refused).
    update_token: str | None = None
    #: Hosts SERVICE may call and URLs LOAD may fetch (empty: none).
    service_allowlist: tuple[str, ...] = field(default_factory=tuple)
    #: A remote store's SPARQL Query URL, for servers without Oxigraph's layout (``store`` may instead be
    #: ``http://HOST:PORT``, an Oxigraph server: ``/query``, ``/update``, ``/store``). See docs/scale.md.
    query_url: str | None = None
    #: Its SPARQL Update URL (writes: links, findings, /update).
    update_url: str | None = None
    #: Its Graph Store Protocol URL (``?graph=<iri>``: loading, dumps).
    gsp_url: str | None = None
    #: How budgetkg authenticates to a remote store: ``basic``, ``digest`` or ``bearer`` (None: basic when
    #: ``store_user`` is set, bearer when ``store_token`` is, else no authentication). See docs/scale.md.
    store_auth: str | None = None
    #: The remote store's user name (basic and digest authentication).
    store_user: str | None = None
    #: Its password (basic, digest); never shown in a repr, a log line or an error message.
    store_password: str | None = field(default=None, repr=False)
    #: The bearer token a remote store takes (``Authorization: Bearer …``); never shown either.
    store_token: str | None = field(default=None, repr=False)
    #: A server's query worker using more resident memory than this (MB) is replaced after its job (0: never).
    worker_max_rss_mb: int = 768
    #: Processes that parse, convert and check documents during a build (0: one per CPU when the
    #: sources are large, else one).
    workers: int = 0
    #: Largest source document a build reads, in MB. Up to ~4.6 MB a document stays under the atomic bulk
    #: load (no write-ahead log, ~300 MB per MB of text); a 20 MB one took 296 s and 7 GB (docs/reliability.md).
    max_document_mb: int = 4
    #: Address space a server query or update worker may use, in MB (0: unlimited). A query that needs
    #: more fails (503) instead of taking the machine's memory. See docs/reliability.md for the sizing.
    worker_memory_mb: int = 2048
    #: Whether an on-disk build keeps in memory what its derived steps read (:mod:`kg.store.projection`): faster, at
    #: the cost of memory (about 6 GB at 100,000 tables). It is given up, and the steps read the store, when the
    #: process's address space nears its limit (``BUDGETKG_CLI_MEMORY_MB``, ``ulimit -v``).
    build_projection: bool = True
    #: Memory the server's result cache may hold, in MB (0: keep nothing; answers still carry an ETag).
    #: Entries belong to one store generation and are dropped when it advances. See docs/server.md.
    result_cache_mb: float = 64.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_iri", normalise_base(self.base_iri))
        if self.store_auth is not None and self.store_auth not in STORE_AUTH:
            raise ValueError(f"BUDGETKG_STORE_AUTH must be one of {', '.join(STORE_AUTH)}, not {self.store_auth!r}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``BUDGETKG_*`` variables; keyword overrides (CLI options) win when not None."""
        e = dict(os.environ if env is None else env)
        s = cls(
            store=e.get("BUDGETKG_STORE") or cls.store,
            base_iri=e.get("BUDGETKG_BASE_IRI") or DEFAULT_BASE_IRI,
            manifest=Path(e["BUDGETKG_MANIFEST"]) if e.get("BUDGETKG_MANIFEST") else SEEDS_DIR / "manifest.toml",
            query_timeout=_float(e, "BUDGETKG_QUERY_TIMEOUT", 10.0),
            max_rows=_int(e, "BUDGETKG_MAX_ROWS", 10000),
            max_body_bytes=_int(e, "BUDGETKG_MAX_BODY_BYTES", 1_000_000),
            max_query_depth=_int(e, "BUDGETKG_MAX_QUERY_DEPTH", 200),
            max_query_terms=_int(e, "BUDGETKG_MAX_QUERY_TERMS", 5000),
            update_token=e.get("BUDGETKG_UPDATE_TOKEN") or None,
            service_allowlist=tuple(x for x in (e.get("BUDGETKG_SERVICE_ALLOWLIST") or "").split(",") if x),
            query_url=e.get("BUDGETKG_QUERY_URL") or None,
            update_url=e.get("BUDGETKG_UPDATE_URL") or None,
            gsp_url=e.get("BUDGETKG_GSP_URL") or None,
            store_auth=(e.get("BUDGETKG_STORE_AUTH") or "").strip().lower() or None,
            store_user=e.get("BUDGETKG_STORE_USER") or None,
            store_password=e.get("BUDGETKG_STORE_PASSWORD") or None,
            store_token=e.get("BUDGETKG_STORE_TOKEN") or None,
            workers=_int(e, "BUDGETKG_WORKERS", 0),
            worker_max_rss_mb=_int(e, "BUDGETKG_WORKER_MAX_RSS_MB", 768),
            max_document_mb=_int(e, "BUDGETKG_MAX_DOCUMENT_MB", 4),
            worker_memory_mb=_int(e, "BUDGETKG_WORKER_MEMORY_MB", 2048),
            result_cache_mb=_float(e, "BUDGETKG_RESULT_CACHE_MB", 64.0),
            build_projection=_bool(e, "BUDGETKG_BUILD_PROJECTION", True),
        )
        # overrides are typed by the dataclass's own fields; replace() checks their names
        chosen: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return replace(s, **chosen) if chosen else s
