"""A large answer of the answer table goes to the client as its worker writes it (server.workers.Streaming).

Over HTTP, against a real uvicorn: the streamed answer is the whole answer byte for byte in every format, with the
same status and headers (an ETag of the generation and the request, a 304 for it) but ``Content-Length``; an answer
that fails after its headers were sent ends the connection before the body's end, so it never looks complete.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from kg.errors import QueryError
from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest
from kg.store import EmbeddedStore
from server import workers
from server.app import create_app
from server.jobs import Answer
from server.workers import ProcessPool, Streaming, UpdateJob
from tests.helpers import HOST, free_port

FORMATS = ("csv", "tsv", "json", "xml")
QUERY = "/queries/projects_by_threshold"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory, settings: Settings, manifest: Manifest) -> Iterator[Path]:
    """The seeds built on disk, with their answer table."""
    path = tmp_path_factory.mktemp("streaming") / "store"
    store = EmbeddedStore(path)
    build(store, manifest.entries, settings, manifest=manifest)
    store.close()
    yield path


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_streamed_answer_is_the_whole_answer_in_every_format(store_path: Path, settings: Settings) -> None:
    """The same request answered whole and streamed (the pool's threshold lowered): the same bytes, status and
    headers, sent in chunks; its ETag answers 304 as the whole answer's does."""
    pool = ProcessPool(replace(settings, store=str(store_path)), size=1)
    app = create_app(settings, executor=pool)
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        for fmt in FORMATS:
            fresh = {"Cache-Control": "no-cache"}
            pool.whole_bytes = workers.WHOLE_BYTES
            whole = client.get(QUERY, params={"format": fmt}, headers=fresh)
            pool.whole_bytes = 64  # longer than the document's head: the rest is streamed
            streamed = client.get(QUERY, params={"format": fmt}, headers=fresh)
            assert whole.status_code == streamed.status_code == 200
            assert len(whole.content) > 1000 and streamed.content == whole.content, fmt
            assert "content-length" in whole.headers and "content-length" not in streamed.headers
            assert streamed.headers.get("transfer-encoding") == "chunked"
            for name in ("content-type", "etag", "cache-control", "vary", "x-result-rows", "x-budgetkg-generation"):
                assert streamed.headers.get(name) == whole.headers.get(name), name
            assert streamed.headers["x-budgetkg-cache"] == "miss"
            again = client.get(QUERY, params={"format": fmt}, headers={"If-None-Match": streamed.headers["etag"]})
            assert again.status_code == 304 and not again.content
        assert pool.status()["busy"] == []  # each worker went back once its answer was sent


class _Failing:
    """An executor whose answers are streamed and fail after their first chunks (as a worker's error does)."""

    mode = "process"
    generation = 1

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def observe(self) -> int:
        return self.generation

    async def start(self) -> None: ...

    async def run(self, job: Any, timeout: float) -> tuple[Any, int]:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"?x\n"
            for i in range(200):
                yield b"".join(b'"%d"\n' % (i * 100 + k) for k in range(100))
                await asyncio.sleep(0)
            if self.fail:
                raise QueryError("query", "evaluation failed while the answer was written")
            yield b'"last"\n'

        return Streaming("tsv", 20_001, False, chunks()), self.generation

    async def update(self, job: UpdateJob, timeout: float) -> Any:
        return Answer(b"", "none")

    async def close(self) -> None: ...

    def status(self) -> dict[str, object]:
        return {"mode": self.mode, "workers": 1, "generation": self.generation}


def test_a_stream_that_fails_midway_does_not_look_complete(settings: Settings) -> None:
    """After the status and headers have gone, a failure cuts the connection before the chunked body's end: the
    client reads an incomplete answer (an error), never a 200 that ends as a whole answer does."""
    query = {"query": "SELECT ?x WHERE { ?x a <https://budgetkg.example.org/def/Project> }", "format": "tsv"}
    with serving(create_app(settings, executor=_Failing(fail=False))) as url:
        complete = httpx.get(url + "/sparql", params=query, timeout=30)
        assert complete.status_code == 200 and complete.content.endswith(b'"last"\n')
    with serving(create_app(settings, executor=_Failing(fail=True))) as url, \
            httpx.stream("GET", url + "/sparql", params=query, timeout=30) as response:
        assert response.status_code == 200
        got = b""
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_bytes():
                got += chunk
        assert got.startswith(b"?x\n") and not got.endswith(b'"last"\n')


class _Worker:
    """A worker's end for :class:`server.workers._Stream`: chunks, then how the writing ended."""

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.pid = 0

    async def next_chunk(self, timeout: float) -> Any:
        return self.messages.pop(0)


class _Pool:
    def __init__(self) -> None:
        self._busy: set[object] = set()
        self.released: list[object] = []
        self.replaced: list[object] = []
        self.timeouts = 0

    def _release(self, w: object) -> None:
        self.released.append(w)

    def _replace(self, w: object) -> None:
        self.replaced.append(w)


def _read(stream: Any) -> list[bytes]:
    async def run() -> list[bytes]:
        return [chunk async for chunk in stream]

    return asyncio.run(run())


def test_the_error_a_worker_meets_while_writing_is_raised_and_the_worker_replaced() -> None:
    """The stream ends as the worker's writing did: its error raised (the worker replaced), or its last chunk."""
    pool, deadline = _Pool(), 1e12
    worker = _Worker([b"b", ("error", workers._pack(QueryError("query", "evaluation failed")))])
    stream = workers._Stream(pool, worker, [b"a"], deadline, 60)
    with pytest.raises(QueryError):
        _read(stream)
    assert pool.replaced == [worker] and not pool.released
    done = _Worker([b"b", ("ok", None)])
    assert _read(workers._Stream(pool, done, [b"a"], deadline, 60)) == [b"a", b"b"]
    assert pool.released == [done]
