"""``budgetkg link`` and ``budgetkg contracts …``: cross-agency analytics (see docs/analytics.md).

Registered on the main app by ``register(app)``. Exit codes as everywhere: 0 ok, 2 usage or input
error (a malformed contracts file, with file and line; the store is then unchanged).

Each command imports the analytics it runs when it runs (numpy and scipy for the links, httpx with the store):
``budgetkg --help`` loads none of them.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from budgetkg.options import BaseOpt, StoreOpt, err, fail, load_settings, out
from kg.errors import BudgetKGError

if TYPE_CHECKING:  # imported by the commands that run them
    from kg.contracts import ImportReport
    from kg.links import LinkReport
    from kg.settings import Settings
    from kg.store import GraphStore

T = TypeVar("T")


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class InputFormat(StrEnum):
    auto = "auto"
    ocds = "ocds"
    csv = "csv"




def _run(settings: Settings, work: Callable[[GraphStore], T], failed: str = "") -> T:
    """Open the store, do ``work`` and let the store go (its lock too) before any error is reported."""
    from kg.store import open_store  # httpx (a remote store): loaded by the commands that open a store only

    opened: list[GraphStore] = []  # the only reference to the store, so that it can be let go
    try:
        opened.append(open_store(settings))
    except BudgetKGError as exc:
        raise fail(exc) from None
    message = ""
    try:
        return work(opened[0])
    except BudgetKGError as exc:
        message = str(exc)  # not the exception: its traceback would keep the store (and its lock) alive
    finally:
        opened.clear()  # an in-process caller (tests) may open the store again at once
    raise fail(f"{message}{failed}") from None


def _rows(header: list[str], rows: list[list[str]], fmt: ReportFormat, title: str | None = None) -> None:
    if fmt is ReportFormat.json:
        sys.stdout.write(json.dumps([dict(zip(header, r, strict=True)) for r in rows], ensure_ascii=False,
                                    indent=1) + "\n")
    elif fmt is ReportFormat.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        sys.stdout.write(buf.getvalue())
    else:
        from rich.table import Table  # rich's tables: loaded when one is printed

        t = Table(title=title)
        for h in header:
            t.add_column(h, overflow="fold")
        for r in rows:
            t.add_row(*r)
        out.print(t)


def link(
    store: StoreOpt = None,
    base_iri: BaseOpt = None,
    min_score: Annotated[float | None, typer.Option(help="Least score of a shared-goal link (0.35).")] = None,
    concept_close: Annotated[float | None, typer.Option(help="Least similarity for a wording to join a concept "
                                                             "(0.65).")] = None,
    concept_exact: Annotated[float | None, typer.Option(help="Similarity from which a wording is an exact match "
                                                             "(0.85).")] = None,
    max_concept_share: Annotated[float | None, typer.Option(help="Concepts on more than this share of projects are "
                                                                 "ubiquitous (0.25).")] = None,
    min_shared_concepts: Annotated[int | None, typer.Option(help="Least informative concepts two linked projects "
                                                                 "share (1).")] = None,
    max_links: Annotated[int | None, typer.Option("--max-links", help="Most shared-goal links a project keeps "
                                                                      "(10).")] = None,
    lineage_min_score: Annotated[float | None, typer.Option(help="Least score of a lineage or tranche link "
                                                                 "(0.7).")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="bigram (default), jieba or both.")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Report format.")] = ReportFormat.table,
) -> None:
    """Compute indicator concepts, shared-goal, lineage, tranche and served-unit links into graph/links.

    Thresholds default to the BUDGETKG_LINK_* environment variables, then to the documented
    defaults (docs/analytics.md). The links graph is replaced atomically.
    """
    from kg import integrity  # the store's modules (httpx)
    from kg.iris import Iris
    from kg.links import LinkSettings, refresh_links  # numpy and scipy (shared goals)

    settings = load_settings(store=store, base_iri=base_iri)
    try:
        ls = LinkSettings.from_env(min_score=min_score, concept_close=concept_close, concept_exact=concept_exact,
                                   max_concept_share=max_concept_share, min_shared_concepts=min_shared_concepts,
                                   max_links_per_project=max_links, lineage_min_score=lineage_min_score,
                                   tokenizer=tokenizer)
    except ValueError as exc:
        raise fail(exc) from None
    def link_and_check(store: GraphStore) -> LinkReport:
        done = refresh_links(store, settings, ls)
        integrity.check(store, [Iris(settings.base_iri).links_graph])
        return done

    report = _run(settings, link_and_check)
    _print_link_report(report, fmt)


def _print_link_report(report: LinkReport, fmt: ReportFormat) -> None:
    if fmt is ReportFormat.json:
        sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=1) + "\n")
        return
    rows = [[k, str(v)] for k, v in report.as_dict().items() if k not in ("steps", "graph")]
    _rows(["what", "count"], rows, fmt, title=f"links in {report.graph}")
    if fmt is ReportFormat.table:
        steps = ", ".join(f"{k} {v:.2f} s" for k, v in report.steps.items())
        out.print(f"{report.seconds:.2f} s ({steps})", highlight=False)


contracts_app = typer.Typer(name="contracts", help="Import procurement data (OCDS or CSV) and link it to projects.",
                            no_args_is_help=True)


@contracts_app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="OCDS JSON or budgetkg-format CSV files.")],
    input_format: Annotated[InputFormat, typer.Option("--format", help="Input format (auto: by suffix, "
                                                                       "then content).")] = InputFormat.auto,
    min_confidence: Annotated[float | None, typer.Option(help="Least name similarity to link a contract to a "
                                                              "project of its buyer by name (0.6).")] = None,
    report_format: Annotated[ReportFormat, typer.Option("--report", help="Format of the unlinked-rows "
                                                                         "report.")] = ReportFormat.table,
    store: StoreOpt = None,
    base_iri: BaseOpt = None,
) -> None:
    """Import contracts into graph/contracts/<file> (re-importing a file replaces it) and print unlinked rows.

    Every file is read and checked first: a malformed one stops the import with its file and line
    (exit 2) and the store is not changed.
    """
    from kg.contracts import ContractSettings, import_files  # the store's modules (httpx)

    settings = load_settings(store=store, base_iri=base_iri)
    cs = ContractSettings() if min_confidence is None else ContractSettings(min_confidence=min_confidence)
    report = _run(settings, lambda store: import_files(store, files, settings, input_format.value, cs),
                  "\nthe store was not changed")
    _print_import_report(report, report_format)


def _print_import_report(report: ImportReport, fmt: ReportFormat) -> None:
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    rows = [[u.where, u.contract_id, u.supplier, u.project_name, u.agency_code, u.buyer_name, u.reason]
            for u in report.unlinked]
    header = ["where", "contract", "supplier", "project name", "agency", "buyer", "reason"]
    if fmt is not ReportFormat.table:
        _rows(header, rows, fmt)
        return
    for f in report.files:
        out.print(f"{f.file} ({f.format}): {f.contracts} contracts, {f.linked} linked → {f.graph}"
                  f"{' (replaced)' if f.replaced else ''}", highlight=False)
    out.print(f"{report.vendors} vendors from {report.vendor_mentions} supplier mentions", highlight=False)
    if rows:
        _rows(header, rows, fmt, title=f"{len(rows)} contracts could not be linked to a project")
    else:
        out.print("every contract was linked to a project", highlight=False)


@contracts_app.command("remove")
def remove(
    files: Annotated[list[str], typer.Argument(help="File names imported before (e.g. example_contracts.csv).")],
    store: StoreOpt = None,
    base_iri: BaseOpt = None,
) -> None:
    """Remove what earlier imports of these files put in the store (and refresh the vendors)."""
    from kg.contracts import remove_imports  # the store's modules (httpx)

    settings = load_settings(store=store, base_iri=base_iri)
    n = _run(settings, lambda store: remove_imports(store, [Path(f).name for f in files], settings))
    out.print(f"removed {n} imported file graph(s)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``link`` and the ``contracts`` sub-app to the ``budgetkg`` app."""
    app.command("link")(link)
    app.add_typer(contracts_app, name="contracts")
