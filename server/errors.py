"""HTTP-side errors and the one table that maps every error type to an HTTP status.

Library errors (:mod:`kg.errors`) and the server's own (below) are raised where they arise and
turned into responses only here, by :func:`install`: a plain-text body with the message (the
parser's message for a SPARQL syntax error), so ``curl`` and SPARQL clients show it as it is.

>>> status_of(UnacceptableFormat("a SELECT result", ["text/csv"]))
406
>>> from kg.errors import QueryError
>>> status_of(QueryError("q", "syntax error: ..."))
400
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kg.errors import (
    BudgetKGError,
    ManifestError,
    NoSuchValue,
    QueryError,
    StoreError,
    UnknownQuery,
    ValidationError,
)

from .safety import RefusedOperation, TooComplex

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("budgetkg.server")


class ServerError(BudgetKGError):
    """Base of the errors the HTTP layer raises itself."""


class BadRequest(ServerError):
    """The request is malformed (missing ``query``, two ``query`` parameters, …)."""


class NotFound(ServerError):
    """No such entity, graph, dump or route."""


class UnacceptableFormat(ServerError):
    """No format the client accepts can carry this result."""

    def __init__(self, what: str, offers: list[str]) -> None:
        self.what = what
        self.offers = offers
        super().__init__(f"cannot send {what} in any format the Accept header allows; available: {', '.join(offers)}")


class UnsupportedMediaType(ServerError):
    """A POST body in a content type the endpoint does not read."""


class PayloadTooLarge(ServerError):
    """The request body (or query text) is larger than ``max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request larger than {limit} bytes (BUDGETKG_MAX_BODY_BYTES)")


class QueryTimeout(ServerError):
    """The query ran longer than ``query_timeout`` and was stopped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"query stopped after {seconds:g} s (BUDGETKG_QUERY_TIMEOUT); its worker was replaced")


class Busy(ServerError):
    """Every query worker stayed busy for the whole time limit."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"every query worker stayed busy for {seconds:g} s; try again")


class Unauthorized(ServerError):
    """An update without a bearer token."""


class Forbidden(ServerError):
    """Updates are disabled, or the bearer token is wrong."""


class MethodNotAllowed(ServerError):
    """A write to the read-only Graph Store Protocol endpoint."""


class WorkerFailure(ServerError):
    """A job failed in its worker with an unexpected error (a bug)."""


class WorkerLost(ServerError):
    """The query worker answering a request went away (killed for memory, crashed, replaced), twice."""

    def __init__(self, limit_mb: int = 0) -> None:
        self.limit_mb = limit_mb
        cause = (f" (most likely the request needs more memory than a query worker may use: "
                 f"BUDGETKG_WORKER_MEMORY_MB = {limit_mb} MB; narrow the query, or ask the operator to raise it)"
                 if limit_mb > 0 else "")
        super().__init__("the query worker answering this request went away, and so did the one that retried it"
                         f"{cause}; try again")


class StoreChanged(ServerError):
    """The store advanced to a newer generation each time the request was answered."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(f"the store changed while the request was answered ({attempts} times); try again")


class OverMemory(ServerError):
    """A request needed more memory than a worker may use (``BUDGETKG_WORKER_MEMORY_MB``).

    >>> str(OverMemory(2048)).split(";")[0]
    'the request needed more memory than a query worker may use (BUDGETKG_WORKER_MEMORY_MB = 2048 MB)'
    """

    def __init__(self, limit_mb: int) -> None:
        self.limit_mb = limit_mb
        super().__init__(f"the request needed more memory than a query worker may use (BUDGETKG_WORKER_MEMORY_MB = "
                         f"{limit_mb} MB); narrow the query (LIMIT, fewer OPTIONALs, no ORDER BY over a cross "
                         "product) or ask the operator to raise the setting")


#: Error type → HTTP status. The first matching class in this order wins (subclasses first).
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (BadRequest, 400),
    (TooComplex, 400),
    (QueryError, 400),
    (UnknownQuery, 404),
    (NoSuchValue, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (RefusedOperation, 403),
    (NotFound, 404),
    (MethodNotAllowed, 405),
    (UnacceptableFormat, 406),
    (QueryTimeout, 503),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (ValidationError, 422),
    (Busy, 503),
    (WorkerLost, 503),
    (StoreChanged, 503),
    (OverMemory, 503),
    (StoreError, 503),
    (WorkerFailure, 500),
    (ManifestError, 500),
    (BudgetKGError, 500),
)


def status_of(exc: BaseException) -> int:
    """The HTTP status for an error (500 for anything not in :data:`STATUS`: a bug)."""
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def headers_of(exc: BaseException) -> dict[str, str]:
    """Extra response headers an error calls for."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="budgetkg update"'}
    if isinstance(exc, Busy | QueryTimeout | StoreError | WorkerLost | StoreChanged | OverMemory):
        return {"Retry-After": "1"}
    if isinstance(exc, MethodNotAllowed):
        return {"Allow": "GET, HEAD"}
    return {}


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into responses on a FastAPI app."""
    # the query workers import this module (through server.jobs) for the error types alone: the web
    # framework is loaded where a response is made, so a worker starts without it
    from fastapi import Request
    from fastapi.responses import PlainTextResponse

    async def handle(request: Request, exc: Exception) -> PlainTextResponse:
        if isinstance(exc, WorkerLost) and not exc.limit_mb:
            exc = WorkerLost(request.app.state.runtime.settings.worker_memory_mb)  # name the likely cause
        if isinstance(exc, WorkerFailure) and "died" in str(exc):
            # a worker that reaches its address-space limit inside the store's native code is stopped
            # by the allocator (abort): its reply never comes, and the likely cause is that limit
            limit = request.app.state.runtime.settings.worker_memory_mb
            if limit > 0:
                exc = OverMemory(limit)
        code = status_of(exc)
        if code == 500:
            log.exception("error answering %s %s", request.method, request.url.path, exc_info=exc)
        return PlainTextResponse(str(exc) + "\n", status_code=code, headers=headers_of(exc))

    app.add_exception_handler(BudgetKGError, handle)
