"""``budgetkg validate``: check the store, or an RDF file, against the SHACL shapes of ``shapes/``.

Prints the findings grouped by severity and rule, each with its budget unit, project, source file
and line and its message in Chinese and English; optionally writes the standard
``sh:ValidationReport`` (Turtle) and a JSON report. Validating the store also rewrites its findings
graph (``--no-record`` leaves it alone).

Exit codes: 0 no violation (warnings and info may be listed), 1 at least one sh:Violation,
2 could not run (no store, unreadable file, broken shapes).

The shapes, the audit and the store are imported when the command runs (rdflib, httpx): ``budgetkg --help``
loads none of them.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from budgetkg.options import StoreOpt, err, fail, load_settings, out
from kg.errors import BudgetKGError, DamagedStore, StoreError

if TYPE_CHECKING:  # imported by the command when it runs
    from kg.settings import Settings
    from kg.shapes import Finding, ValidationReport
    from kg.store import GraphStore

_STYLE = {"Violation": "bold red", "Warning": "yellow", "Info": "cyan"}


class Format(StrEnum):
    table = "table"
    json = "json"


class MinSeverity(StrEnum):
    violation = "violation"
    warning = "warning"
    info = "info"


class EngineName(StrEnum):
    sparql = "sparql"
    pyshacl = "pyshacl"


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to ``app``."""
    app.command("validate")(validate_command)




def validate_command(
    file: Annotated[Path | None, typer.Argument(
        help="An RDF file (.ttl .nt .nq .trig .rdf) to check instead of the store; the ontology is added to it.")
    ] = None,
    store: StoreOpt = None,
    report_ttl: Annotated[Path | None, typer.Option("--report-ttl", help="Write the sh:ValidationReport (Turtle).")
                          ] = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Write the report as JSON.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output: a readable table, or JSON.")] = Format.table,
    severity: Annotated[MinSeverity, typer.Option("--severity", help="Report findings of this severity or worse.")
                        ] = MinSeverity.info,
    engine: Annotated[EngineName, typer.Option("--engine", help="sparql (fast, compiled to Oxigraph) or pyshacl "
                                                                "(the reference).")] = EngineName.sparql,
    shapes: Annotated[list[str] | None, typer.Option("--shapes", help="Shapes files to check (structure, quality); "
                                                                      "default: all of shapes/.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Findings listed per rule in the table (0: all).")] = 20,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Rewrite the store's findings graph with the "
                                                                      "data-quality findings.")] = True,
) -> None:
    """Check the store (or an RDF FILE) against the SHACL shapes: structure and data quality.

    Exit 1: a structural violation (the graph is broken), or a fact stored in two graphs (totals would count it twice).

    Exit 0: none; data-quality warnings and info (about the tables) are listed, and recorded for the store.

    Exit 2: it could not run (no store, unreadable file, broken shapes).
    """
    from kg import integrity  # the store's modules (httpx)
    from kg.audit import AUDIT_KINDS, refresh_findings
    from kg.shapes import load_shapes, validate  # rdflib

    try:
        settings = load_settings(store=store)
        shape_set = load_shapes(settings.shapes_dir, shapes or None)
    except (BudgetKGError, ValueError) as exc:
        raise fail(exc) from None
    recorded: int | None = None
    duplicated: list[integrity.DuplicateFact] = []
    try:
        if file is not None:
            if not file.is_file():
                raise fail(f"{file}: no such file")
            from kg.ontology import ontology_quads  # pyoxigraph: loaded when a file is validated

            report = validate(file, shape_set, engine=engine.value, extra=ontology_quads(settings))
        else:
            kg_store = _open(settings, record)
            if not kg_store.graphs():
                raise fail(f"the store {settings.store} is empty: run 'budgetkg build' first")
            report = validate(kg_store, shape_set, engine=engine.value)
            duplicated = integrity.shared_projects(kg_store) + integrity.duplicated_facts(kg_store)
            if record and not kg_store.read_only and set(AUDIT_KINDS) <= set(shape_set.kinds):
                recorded = refresh_findings(kg_store, settings, report=report)
    except BudgetKGError as exc:
        raise fail(exc) from None
    shown = report.at_least(severity.value.capitalize())
    try:
        if report_ttl is not None:
            report_ttl.write_bytes(shown.to_turtle())
        if report_json is not None:
            report_json.write_text(shown.to_json() + "\n", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write the report: {exc}") from None
    if fmt is Format.json:
        data = shown.as_dict()
        data["recorded_findings"] = recorded
        data["duplicated_facts"] = [{"subject": d.subject, "predicate": d.predicate, "object": d.object,
                                     "graphs": sorted(d.graphs)} for d in duplicated]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    else:
        _print(shown, report, shape_set.kinds, limit, recorded)
        for d in duplicated:
            out.print(f"[bold red]Violation[/] fact in two graphs (totals over it would count it twice): "
                      f"{escape(str(d))}", highlight=False)
    if report.violations or duplicated:
        raise typer.Exit(1)


def _open(settings: Settings, record: bool) -> GraphStore:
    from kg.store import is_remote, open_store  # httpx (a remote store)

    if not (settings.query_url or is_remote(settings.store)) and not Path(settings.store).exists():
        raise fail(f"no store at {settings.store}: run 'budgetkg build' first")
    if record:
        try:
            return open_store(settings)
        except DamagedStore as exc:
            raise fail(exc) from None
        except StoreError as exc:
            err.print(f"[yellow]warning:[/] findings not recorded: {exc}", highlight=False)
    try:
        return open_store(settings, read_only=True)
    except BudgetKGError as exc:
        raise fail(exc) from None


def _print(shown: ValidationReport, full: ValidationReport, kinds: list[str], limit: int,
           recorded: int | None) -> None:
    from kg.shapes import SEVERITIES  # rdflib: loaded with the validation this prints

    counts = full.counts()
    summary = ", ".join(f"{counts[s]} {s.lower()}{'s' if counts[s] != 1 and s != 'Info' else ''}" for s in SEVERITIES)
    out.print(f"[bold]{full.source}[/]: checked against shapes/{{{','.join(kinds)}}}.ttl with {full.engine} "
              f"in {full.seconds:.2f} s — {summary}", highlight=False)
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in shown.findings:
        groups[(f.severity, f.rule)].append(f)
    from rich.table import Table  # rich's tables: loaded when one is printed

    order = sorted(groups, key=lambda k: (SEVERITIES.index(k[0]), -len(groups[k]), k[1]))
    for sev, rule_iri in order:
        items = groups[(sev, rule_iri)]
        rule = shown.rules.get(rule_iri)
        label = f"{rule.label_zh} / {rule.label_en}" if rule else rule_iri
        name = rule.name if rule else rule_iri
        t = Table(title=f"[{_STYLE[sev]}]{sev}[/] {name} — {label} ({len(items)})", title_justify="left",
                  show_lines=False, expand=False)
        t.add_column("file:line", no_wrap=True)
        for col in ("budget unit", "project", "row", "message (zh / en)"):
            t.add_column(col, overflow="fold")
        for f in items[: limit or None]:
            unit = " ".join(x for x in (f.unit_code, f.unit_name) if x)
            row = f.detail if f.detail and f.detail != f.project_name else (f.path or "")
            t.add_row(f.where(), unit, f.project_name or "", row or "", f"{f.message_zh}\n{f.message_en}")
        out.print(t)
        if limit and len(items) > limit:
            out.print(f"  … and {len(items) - limit} more (--limit 0 shows all, --format json lists them)",
                      highlight=False)
    if not shown.findings:
        out.print("[green]no findings[/]" if full.conforms else "no findings at this severity", highlight=False)
    if recorded is not None:
        out.print(f"{recorded} data-quality findings recorded in the findings graph", highlight=False)
