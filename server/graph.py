"""The network page: ``GET /graph`` (cytoscape.js, served from /static/vendor/) and its data, ``GET /api/graph``.

``/api/graph`` answers Cytoscape.js JSON built by :mod:`kg.network` from the store, with the
filters of ``budgetkg graph`` as query parameters. The work runs as a job on the query workers
(:class:`NetworkJob`), so it is bounded by the same time limit as a SPARQL query and never blocks the
event loop (it may take :data:`TIMEOUT_FACTOR` times the SPARQL time limit, as it reads the whole
store); the unfiltered views are built once per store generation (:meth:`Runtime.cached`). A graph
larger than ``max_nodes`` keeps its best-connected nodes, one with more than ``max_edges`` edges its
heaviest edges, and says so (``meta.truncated``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from kg.network import (
    CONCEPT_CHOICES,
    PROJECTIONS,
    NetworkOptionError,
    NetworkOptions,
    cytoscape_bytes,
    graph_from_store,
)

from . import formats
from .errors import BadRequest
from .runtime import RuntimeDep, vendor_present

router = APIRouter()

#: Nodes /api/graph returns unless asked for fewer or more (a page stays usable at this size).
DEFAULT_MAX_NODES = 1500
#: The most nodes a client may ask for.
MAX_NODES_LIMIT = 5000
#: Edges /api/graph returns at most unless asked otherwise (the heaviest are kept).
DEFAULT_MAX_EDGES = 15000
#: The most edges a client may ask for.
MAX_EDGES_LIMIT = 50000
#: Building a graph reads the whole store with several queries: it may take this many times the
#: SPARQL time limit (BUDGETKG_QUERY_TIMEOUT) before its worker is stopped (503).
TIMEOUT_FACTOR = 6
#: Vendor files the page loads, in order (copied from npm by scripts/setup-assets.sh).
VENDOR_SCRIPTS = ("cytoscape.min.js", "layout-base.js", "cose-base.js", "cytoscape-fcose.js")
VIEWS = ("network", *PROJECTIONS)


@dataclass(frozen=True)
class NetworkJob:
    """Build the network (or projection) for ``options`` in a query worker and return its JSON bytes."""

    options: NetworkOptions
    max_nodes: int = DEFAULT_MAX_NODES
    max_edges: int = DEFAULT_MAX_EDGES

    def run(self, ctx: Any) -> bytes:
        result = graph_from_store(ctx.kg, self.options, max_nodes=self.max_nodes, max_edges=self.max_edges)
        return cytoscape_bytes(result, {"max_nodes": self.max_nodes, "max_edges": self.max_edges})


def parse_options(view: str, node_types: str | None, edge_kinds: str | None, department: str | None,
                  funding: str | None, min_weight: float, concepts: str | None) -> NetworkOptions:
    """Query parameters → :class:`NetworkOptions`; a bad value is a 400 with the reason."""
    if view not in VIEWS:
        raise BadRequest(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    try:
        return NetworkOptions.parse(node_types=node_types, edge_kinds=edge_kinds, department=department,
                                    funding=funding, min_weight=min_weight,
                                    projection=None if view == "network" else view, concepts=concepts)
    except NetworkOptionError as exc:
        raise BadRequest(str(exc)) from None


@router.get("/api/graph", tags=["graph"], summary="The agency–project network as Cytoscape.js JSON",
            responses={200: {"content": {"application/json": {}}}})
async def graph_data(
    request: Request,
    runtime: RuntimeDep,
    view: Annotated[str, Query(description="network, or the agency / department projection")] = "network",
    node_types: Annotated[str | None, Query(description="network: comma-separated agency, project, funding, "
                                                        "concept, vendor (default agency,project,funding)")] = None,
    edge_kinds: Annotated[str | None, Query(description="comma-separated edge kinds (default: all the view "
                                                        "allows); see docs/graph.md")] = None,
    department: Annotated[str | None, Query(description="department or budget unit code prefix")] = None,
    funding: Annotated[str | None, Query(description="funding-source key (central, general-bond …)")] = None,
    min_weight: Annotated[float, Query(ge=0, description="drop edges lighter than this")] = 0.0,
    concepts: Annotated[str | None, Query(description=f"{' or '.join(CONCEPT_CHOICES)} concepts as "
                                                      "nodes")] = None,
    max_nodes: Annotated[int, Query(ge=1, le=MAX_NODES_LIMIT, description="most nodes returned (best "
                                                                          "connected first)")] = DEFAULT_MAX_NODES,
    max_edges: Annotated[int, Query(ge=1, le=MAX_EDGES_LIMIT, description="most edges returned (heaviest "
                                                                          "first)")] = DEFAULT_MAX_EDGES,
) -> Response:
    opts = parse_options(view, node_types, edge_kinds, department, funding, min_weight, concepts)
    job = NetworkJob(opts, max_nodes, max_edges)
    timeout = runtime.settings.query_timeout * TIMEOUT_FACTOR
    # only the unfiltered views are cached: a bounded set of keys (node types × view × concepts)
    if edge_kinds is None and opts.department is None and opts.funding is None and not opts.min_weight \
            and max_nodes == DEFAULT_MAX_NODES and max_edges == DEFAULT_MAX_EDGES:
        body = await runtime.cached(f"graph:{opts.key()}", job, timeout)
    else:
        body = await runtime.run(job, timeout)
    headers = {"Vary": "Accept-Encoding"}
    if len(body) > 4096 and formats.accepts_gzip(request.headers.get("accept-encoding")):
        body = gzip.compress(body, compresslevel=5, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


@router.get("/graph", response_class=HTMLResponse, tags=["pages", "graph"],
            summary="The agency–project network, interactive (cytoscape.js)")
async def graph_page(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    root = runtime.root(request)
    return runtime.render(request, "graph.html", vendor=vendor_present(*VENDOR_SCRIPTS), vendor_scripts=VENDOR_SCRIPTS,
                          api=f"{root}api/graph", base_iri=runtime.settings.base_iri, views=VIEWS,
                          max_nodes=DEFAULT_MAX_NODES)
