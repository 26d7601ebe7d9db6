"""What every ``budgetkg`` command shares: its consoles and the store and base-IRI options."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)

StoreOpt = Annotated[str | None, typer.Option("--store", help="Store folder, or http://HOST:PORT of a SPARQL server "
                                              "(env BUDGETKG_STORE).", show_default="budgetkg-store")]
BaseOpt = Annotated[str | None, typer.Option("--base-iri", help="Base IRI of minted data (env BUDGETKG_BASE_IRI).")]


def fail(message: object, code: int = 2) -> typer.Exit:
    """Print ``error: message`` (as plain text: file names with brackets stay as they are) and exit ``code``."""
    err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False)
    return typer.Exit(code)
