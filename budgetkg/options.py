"""What every ``budgetkg`` command shares: its consoles, the store and base-IRI options, its settings, failing."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # the settings bring pyoxigraph (kg.namespaces): loaded when a command runs, not for --help
    from kg.settings import Settings

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


def load_settings(**options: Any) -> Settings:
    """A command's settings: defaults, then ``BUDGETKG_*`` variables, then its options (None: not given).

    A value that does not parse (``BUDGETKG_MAX_ROWS=many``) is a usage error: exit 2 with the
    variable named, never a traceback.
    """
    from kg.settings import Settings

    try:
        return Settings.from_env(**options)
    except ValueError as exc:
        raise fail(exc) from None


def diagnose_damage(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that RocksDB's report of a damaged store (raised while results are read) becomes
    :class:`kg.errors.DamagedStore`'s message and exit 2, never a traceback."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (RuntimeError, OSError) as exc:
            from kg.errors import DamagedStore
            from kg.settings import Settings
            from kg.store import damage

            if not damage(exc):
                raise
            store = kwargs.get("store") or os.environ.get("BUDGETKG_STORE") or Settings.store
            raise fail(DamagedStore(store, str(exc))) from None

    return run
