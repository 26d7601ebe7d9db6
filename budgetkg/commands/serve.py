"""``budgetkg serve``: the SPARQL endpoint, named queries and linked data over HTTP (see docs/server.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from budgetkg.options import BaseOpt, StoreOpt, fail, load_settings


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``budgetkg`` command line."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        store: StoreOpt = None,
        base_iri: BaseOpt = None,
        workers: Annotated[int | None, typer.Option(help="Query worker processes (default: CPUs + 2).")] = None,
        timeout: Annotated[float | None, typer.Option(help="Seconds a query may run (env BUDGETKG_QUERY_TIMEOUT, "
                                                           "default 10).")] = None,
        max_rows: Annotated[int | None, typer.Option(help="Most result rows (env BUDGETKG_MAX_ROWS).")] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the store read-only: SPARQL at /sparql, the query editor at /, linked data for every IRI.

        SPARQL Update at /update is enabled only by BUDGETKG_UPDATE_TOKEN; SERVICE and LOAD only for
        hosts in BUDGETKG_SERVICE_ALLOWLIST.
        """
        import uvicorn

        from kg.errors import BudgetKGError
        from kg.store import open_store
        from server.app import create_app

        try:
            settings = load_settings(store=store, base_iri=base_iri, query_timeout=timeout, max_rows=max_rows)
            open_store(settings, read_only=True).close()  # fail now, with the hint, if there is no store
        except (ValueError, BudgetKGError) as exc:
            raise fail(exc) from None
        application = create_app(settings, workers=workers)
        typer.echo(f"budgetkg: serving {settings.store} at http://{host}:{port}/ (SPARQL at /sparql)", err=True)
        uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)
