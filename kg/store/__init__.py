"""budgetkg's store: one written interface (:class:`GraphStore`), two implementations, one way to write.

* :mod:`kg.store.protocol` — :class:`GraphStore`, the methods every caller uses.
* :mod:`kg.store.embedded` — :class:`EmbeddedStore`, Oxigraph in this process (on disk or in memory).
* :mod:`kg.store.remote` — :class:`RemoteStore`, a SPARQL 1.1 Query/Update + Graph Store Protocol endpoint.
* :mod:`kg.store.transaction` — :class:`Transaction`: stage → swap → roll back, written once for both.
* :mod:`kg.store.generations` — the generation number readers watch, and the writing marker.
* :mod:`kg.store.damage` — RocksDB's errors converted; ``budgetkg check-store``.
* :mod:`kg.store.parameters` — query parameters bound as RDF terms.

The implementations import only the shared modules, never each other; this module imports them
and chooses one (:func:`open_store`).

>>> store = open_store(None)
>>> isinstance(store, GraphStore), store.path is None
(True, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .remote import Credentials, RemoteStore

from ..errors import StoreError
from ..iris import JOURNAL, STAGING_PREFIX, WRITING
from ..namespaces import DEFAULT_BASE_IRI
from .damage import WAL_WARN_BYTES, StoreCheck, check, damage, store_error
from .embedded import EmbeddedStore
from .generations import GENERATION_FILE, WRITING_FILE, GenerationWatch, is_remote, read_generation
from .parameters import is_iri, with_values
from .protocol import GraphStore, QueryResult, solutions, term_value
from .transaction import GraphWriter, NQuads, Transaction, Writable, joined, one_generation


def __getattr__(name: str) -> object:
    """:class:`RemoteStore` and :class:`Credentials`, imported when first asked for: they bring httpx (0.1 s),
    which a command on an on-disk store never needs."""
    if name in ("RemoteStore", "Credentials"):
        from . import remote

        return getattr(remote, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Seconds a remote request may take when the caller names no limit (builds, validation, linking).
REMOTE_TIMEOUT = 300.0


def credentials(settings: Settings) -> Credentials | None:
    """The credentials settings give for a remote store (``BUDGETKG_STORE_AUTH`` and the rest, docs/scale.md)."""
    scheme = settings.store_auth or ("bearer" if settings.store_token and not settings.store_user else
                                     "basic" if settings.store_user else None)
    if scheme is None:
        return None
    from .remote import Credentials

    if scheme == "bearer":
        if not settings.store_token:
            raise StoreError("BUDGETKG_STORE_AUTH=bearer needs BUDGETKG_STORE_TOKEN")
        return Credentials("bearer", "", settings.store_token)
    if not settings.store_user:
        raise StoreError(f"BUDGETKG_STORE_AUTH={scheme} needs BUDGETKG_STORE_USER (and BUDGETKG_STORE_PASSWORD)")
    return Credentials(scheme, settings.store_user, settings.store_password or "")


def open_store(where: object, read_only: bool = False, *, timeout: float | None = None) -> GraphStore:
    """The store a :class:`~kg.settings.Settings` (or a ``--store`` value) names.

    A path (or ``None``: in memory) gives the :class:`EmbeddedStore`; an ``http(s)://`` URL a
    :class:`RemoteStore` on the server it names (:meth:`RemoteStore.at`: an Oxigraph server's root, a
    budgetkg server's root or ``/sparql``, any SPARQL query endpoint); settings with ``query_url`` (and
    ``update_url``, ``gsp_url``) any SPARQL 1.1 Query/Update + Graph Store Protocol endpoint. Settings
    also give the base IRI whose graphs are budgetkg's and the credentials (``store_auth`` …).
    """
    from ..settings import Settings

    location: object = where
    explicit = None
    base, creds = DEFAULT_BASE_IRI, None
    if isinstance(where, Settings):
        location = where.store
        if where.query_url:
            explicit = (where.query_url, where.update_url, where.gsp_url)
        base, creds = where.base_iri, credentials(where)
    limit = timeout if timeout is not None else REMOTE_TIMEOUT
    if explicit is not None or is_remote(location):
        from .remote import RemoteStore
    if explicit is not None:
        return RemoteStore(*explicit, read_only=read_only, timeout=limit, base=base, credentials=creds)
    if is_remote(location):
        return RemoteStore.at(str(location), read_only=read_only, timeout=limit, base=base, credentials=creds)
    if location is not None and not isinstance(location, str | Path):
        raise TypeError(f"a store is a path, a URL or None, not {location!r}")
    return EmbeddedStore(location, read_only=read_only)


__all__ = [
    "GENERATION_FILE", "JOURNAL", "REMOTE_TIMEOUT", "STAGING_PREFIX", "WAL_WARN_BYTES", "WRITING", "WRITING_FILE",
    "Credentials", "EmbeddedStore", "GenerationWatch", "GraphStore", "GraphWriter", "NQuads", "QueryResult",
    "RemoteStore", "StoreCheck", "Transaction", "Writable", "check", "credentials", "damage", "is_iri", "is_remote",
    "joined", "one_generation", "open_store", "read_generation", "solutions", "store_error", "term_value",
    "with_values",
]
