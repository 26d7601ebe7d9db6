"""``budgetkg graph``: export the agency–project network (or an agency projection) for Gephi, Cytoscape or reports.

Registered on the main app by ``register(app)``. See docs/graph.md for what nodes, edges and weights
mean. Exit codes as everywhere: 0 ok, 2 usage or input error (unknown node type or edge kind, no
store, no CJK font for a drawing).
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from budgetkg.options import StoreOpt, fail, load_settings


class GraphExport(StrEnum):
    graphml = "graphml"
    gexf = "gexf"
    cyjs = "cyjs"
    png = "png"
    svg = "svg"


class Projection(StrEnum):
    agency = "agency"
    department = "department"


class Concepts(StrEnum):
    informative = "informative"
    all = "all"


def register(app: typer.Typer) -> None:
    """Add the ``graph`` command to the ``budgetkg`` command line."""

    @app.command()
    def graph(
        fmt: Annotated[GraphExport | None, typer.Option("--format", help="graphml, gexf (Gephi), cyjs (Cytoscape), "
                                                                         "png or svg (default: from --output's "
                                                                         "suffix, else graphml).")] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; graphml, gexf and cyjs "
                                                                           "go to stdout without it.")] = None,
        store: StoreOpt = None,
        node_types: Annotated[str | None, typer.Option(help="Comma-separated: agency, project, funding, concept, "
                                                            "vendor, or all.", show_default="agency,project,"
                                                                                           "funding")] = None,
        edge_kinds: Annotated[str | None, typer.Option(help="Comma-separated. Network: budget-unit, "
                                                            "sub-organization, funded-by, has-concept, contracted, "
                                                            "shared-goal, lineage, tranche. Projection: "
                                                            "shared-goal, shared-vendor, shared-funding.",
                                                       show_default="every kind the node types allow")] = None,
        department: Annotated[str | None, typer.Option(help="Department or budget unit code (prefix): its agencies "
                                                            "and projects and what they link to.")] = None,
        funding: Annotated[str | None, typer.Option(help="Only projects funded by this source (key: central, "
                                                         "general-bond …).")] = None,
        min_weight: Annotated[float, typer.Option(help="Drop edges lighter than this (structural edges weigh 1, "
                                                       "project links their score, projections a count).")] = 0.0,
        projection: Annotated[Projection | None, typer.Option(help="Weighted agency–agency (or department–"
                                                                   "department) projection instead of the "
                                                                   "network.")] = None,
        concepts: Annotated[Concepts, typer.Option(help="Which indicator concepts become nodes.")] = \
            Concepts.informative,
        betweenness_samples: Annotated[int | None, typer.Option(help="Sampled sources for betweenness on graphs "
                                                                     "over 1000 nodes (default 200).")] = None,
        size_by: Annotated[str, typer.Option(help="png/svg: node size by this metric (weighted_degree, degree, "
                                                  "betweenness, budget_wanyuan).")] = "weighted_degree",
        labels: Annotated[int, typer.Option(help="png/svg: how many of the largest nodes are labelled.")] = 20,
    ) -> None:
        """Export the agency–project network, or a weighted agency projection, as GraphML, GEXF, Cytoscape.js
        JSON, PNG or SVG, with degree, weighted degree, betweenness and community on every node.

        Reads the store with SPARQL: indicator concepts and project links appear after 'budgetkg link',
        vendors after 'budgetkg contracts import'. See docs/graph.md.
        """
        from kg.errors import BudgetKGError
        from kg.network import NetworkOptions, export, graph_from_store
        from kg.store import open_store

        chosen = fmt.value if fmt is not None else None
        if chosen is None:
            suffix = output.suffix.lstrip(".").lower() if output is not None else ""
            chosen = suffix if suffix in GraphExport.__members__ else "graphml"
        if chosen in ("png", "svg") and output is None:
            raise fail(f"--format {chosen} needs --output FILE")
        try:
            opts = NetworkOptions.parse(node_types=node_types, edge_kinds=edge_kinds, department=department,
                                        funding=funding, min_weight=min_weight,
                                        projection=projection.value if projection else None, concepts=concepts.value)
            settings = load_settings(store=store)
            started = time.perf_counter()
            with open_store(settings, read_only=True) as kg_store:
                result = graph_from_store(kg_store, opts, betweenness_samples=betweenness_samples)
            target = output if output is not None else Path("/dev/stdout")
            if chosen in ("png", "svg"):
                from kg.render import render

                render(result, target, chosen, size_by=size_by, labels=labels)
            elif output is None:
                import tempfile

                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / f"graph.{chosen}"
                    export(result, chosen, path)
                    sys.stdout.buffer.write(path.read_bytes())
                    sys.stdout.flush()
            else:
                export(result, chosen, output)
        except (ValueError, BudgetKGError) as exc:
            raise fail(exc) from None
        g = result.graph
        missing = [k for k, v in result.data.available.items() if not v and k in ("concept", "vendor", "links")]
        note = f"; the store has no {', '.join(missing)} (see docs/graph.md)" if missing else ""
        typer.echo(f"{'wrote ' + str(output) if output else chosen}: {g.number_of_nodes()} nodes, "
                   f"{g.number_of_edges()} edges ({opts.projection or 'network'}; betweenness "
                   f"{g.graph.get('betweenness', '')}; {g.graph.get('communities', 0)} communities) in "
                   f"{time.perf_counter() - started:.2f} s{note}", err=True)
