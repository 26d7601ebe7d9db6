"""What every ``budgetkg`` command shares: its consoles and the store and base-IRI options."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True)

StoreOpt = Annotated[str | None, typer.Option("--store", help="Store folder, or http://HOST:PORT of a SPARQL server "
                                              "(env BUDGETKG_STORE).", show_default="budgetkg-store")]
BaseOpt = Annotated[str | None, typer.Option("--base-iri", help="Base IRI of minted data (env BUDGETKG_BASE_IRI).")]
