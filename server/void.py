"""The published dataset over HTTP: its description, its dumps and the JSON-LD context of both.

``/dataset`` (and ``/.well-known/void``, the VoID well-known location) describes the dataset in
VoID and DCAT — Turtle, JSON-LD, N-Triples, RDF/XML, or a page for browsers, by Accept header or
suffix (``/dataset.ttl``); ``/dumps/{file}`` serves the whole store (N-Quads gzipped, Turtle, JSON-LD,
TriG), made once per store generation; ``/context.jsonld`` is the context JSON-LD answers use. What
the description says is built by :mod:`server.dataset`. Each answer carries an ETag of its store
generation; the description is kept in the result cache, the dumps by :meth:`server.runtime.Runtime.cached`
(:meth:`server.runtime.Runtime.respond`).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pyoxigraph import Triple

from . import formats
from .dataset import DUMPS, counts, dataset_iri, description_triples, graph_body
from .display import Linker
from .errors import NotFound, UnacceptableFormat
from .jobs import DumpJob
from .runtime import Runtime, RuntimeDep, request_key

router = APIRouter()

_DUMP_BY_FILE = {v[0]: k for k, v in DUMPS.items()}

_DESCRIPTION_FORMATS = (*formats.GRAPH_FORMATS, formats.HTML)


@router.get("/dataset", tags=["dataset"], summary="VoID and DCAT description of the dataset",
            responses={200: {"content": {f.media_type: {} for f in _DESCRIPTION_FORMATS}}})
@router.get("/.well-known/void", tags=["dataset"], summary="VoID description (well-known location)")
async def dataset_description(request: Request, runtime: RuntimeDep) -> Response:
    return await _describe(request, runtime, None)


@router.get("/dataset.{suffix}", include_in_schema=False)
async def dataset_description_suffix(suffix: str, request: Request,
                                     runtime: RuntimeDep) -> Response:
    fmt = formats.SUFFIXES.get("." + suffix)
    if fmt is None:
        raise NotFound(f"no format with suffix .{suffix}")
    return await _describe(request, runtime, fmt)


async def _describe(request: Request, runtime: Runtime, fmt: formats.Format | None) -> Response:
    if fmt is None:
        fmt = formats.choose(request.headers.get("accept"), _DESCRIPTION_FORMATS,
                             request.query_params.getlist("format"))
    if fmt is None:
        raise UnacceptableFormat("the dataset description", [f.media_type for f in _DESCRIPTION_FORMATS])
    chosen = fmt

    async def describe() -> Response:
        triples = await description_triples(request, runtime)
        if chosen is formats.HTML:
            return render_dataset(request, runtime, triples, await counts(runtime))
        return Response(await graph_body(runtime, triples, chosen.name), media_type=chosen.content_type,
                        headers={"Vary": "Accept"})

    return await runtime.respond(request, request_key("dataset", fmt.name), describe)


@router.get("/dumps/{file}", tags=["dataset"], summary="Dumps: budgetkg.nq.gz, budgetkg.ttl, budgetkg.jsonld, "
                                                       "budgetkg.trig")
async def dump(file: str, request: Request, runtime: RuntimeDep) -> Response:
    name = _DUMP_BY_FILE.get(file)
    if name is None:
        raise NotFound(f"no dump {file!r}; available: {', '.join(_DUMP_BY_FILE)}")
    fname, fmt, ctype, _media, _gz = DUMPS[name]

    async def make() -> Response:
        answer = await runtime.cached("dump:" + name, DumpJob(fmt, tuple(runtime.context.items())),
                                      max(runtime.settings.query_timeout, 300.0))
        return Response(answer.body, media_type=ctype,
                        headers={"Content-Disposition": f'attachment; filename="{fname}"'})

    # kept once already, per generation, by runtime.cached: the result cache only validates it
    return await runtime.respond(request, request_key("dump", name), make, keep=False)


@router.get("/context.jsonld", tags=["dataset"], summary="The JSON-LD context of the dumps and JSON-LD responses")
async def context(request: Request, runtime: RuntimeDep) -> Response:
    async def write() -> Response:
        body = json.dumps({"@context": runtime.context}, ensure_ascii=False, indent=1).encode("utf-8")
        return Response(body, media_type="application/ld+json; charset=utf-8")

    return await runtime.respond(request, request_key("context"), write)


def render_dataset(request: Request, runtime: Runtime, triples: list[Triple], totals: dict[str, Any]) -> HTMLResponse:
    """The dataset page: its description grouped by subject, its counts and its dumps."""
    link = Linker(request, runtime)
    subjects: dict[str, dict[str, Any]] = {}
    for t in triples:
        key = str(t.subject)
        if key not in subjects:
            subjects[key] = {"subject": link.pyterm(t.subject), "rows": []}
        subjects[key]["rows"].append({"p": link.iri(t.predicate.value), "o": link.pyterm(t.object)})
    root = runtime.root(request)
    dumps = [{"name": n, "file": v[0], "url": f"{root}dumps/{v[0]}", "media": v[3]} for n, v in DUMPS.items()]
    return runtime.render(request, "dataset.html", subjects=list(subjects.values()), counts=totals, dumps=dumps,
                          iri=dataset_iri(runtime).value)
