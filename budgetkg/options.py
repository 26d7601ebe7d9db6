"""What every ``budgetkg`` command shares: its consoles and the store and base-IRI options."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

#: Width of tables written to a file or a pipe (``budgetkg validate > report.txt``): wide enough that
#: no column is folded into a few characters; a terminal gets its own width.
PIPE_WIDTH = 400

out = Console(soft_wrap=True, emoji=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
err = Console(stderr=True, soft_wrap=True, emoji=False, width=None if sys.stderr.isatty() else PIPE_WIDTH)

StoreOpt = Annotated[str | None, typer.Option("--store", help="Store folder, or http://HOST:PORT of a SPARQL server "
                                              "(env BUDGETKG_STORE).", show_default="budgetkg-store")]
BaseOpt = Annotated[str | None, typer.Option("--base-iri", help="Base IRI of minted data (env BUDGETKG_BASE_IRI).")]


def fail(message: object, code: int = 2) -> typer.Exit:
    """Print ``error: message`` (as plain text: file names with brackets stay as they are) and exit ``code``."""
    err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False)
    return typer.Exit(code)
