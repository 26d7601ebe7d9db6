"""The result cache and HTTP validation: answers kept per store generation, ETag and 304, never a stale answer.

Most tests serve a writable in-memory copy of the seeds through threads, with an executor that counts the
jobs it runs: a cache hit is proved by ``X-Budgetkg-Cache: hit`` *and* by no job having run, never by a
timing. The last test serves an on-disk store through worker processes while another process writes it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import Response
from fastapi.testclient import TestClient

from kg.iris import Iris
from kg.settings import Settings
from kg.store import GraphStore
from server.app import GENERATION_HEADER, create_app
from server.jobs import UpdateJob
from server.runtime import CACHE_HEADER, ResultCache
from server.workers import ThreadPool

from .helpers import EXAMPLES, ROOT, checkout_env, copy_store, write_disk_store

TOKEN = "cache-t0ken"
IRIS = Iris(Settings.from_env(env={}).base_iri)
PREFIX = "PREFIX bk: <https://budgetkg.example.org/def/>\n"
PROJECTS = PREFIX + "SELECT (COUNT(?p) AS ?n) WHERE { ?p a bk:Project }"
CONTRACTS = PREFIX + "SELECT (COUNT(?c) AS ?n) WHERE { ?c a bk:Contract }"
NEW_PROJECT = (PREFIX + "INSERT DATA { GRAPH <http://test.example/g> { <http://test.example/p> a bk:Project ; "
               "<http://www.w3.org/2000/01/rdf-schema#label> \"缓存测试项目\"@zh } }")


class CountingExecutor:
    """An executor that runs everything through ``inner`` and counts the jobs (updates apart) it was given."""

    def __init__(self, inner: ThreadPool) -> None:
        self.inner = inner
        self.mode = inner.mode
        self.jobs = 0

    @property
    def generation(self) -> int:
        return self.inner.generation

    def observe(self) -> int:
        return self.inner.observe()

    async def start(self) -> None:
        await self.inner.start()

    async def run(self, job: Any, timeout: float) -> tuple[Any, int]:
        self.jobs += 1
        return await self.inner.run(job, timeout)

    async def update(self, job: UpdateJob, timeout: float) -> Any:
        return await self.inner.update(job, timeout)

    async def close(self) -> None:
        await self.inner.close()

    def status(self) -> dict[str, object]:
        return self.inner.status()


Served = tuple[TestClient, CountingExecutor]


@pytest.fixture
def served(settings: Settings, seed_store: GraphStore) -> Iterator[Served]:
    """A client of the application over a writable copy of the seeds, and the executor that counts its jobs."""
    settings = replace(settings, update_token=TOKEN)
    executor = CountingExecutor(ThreadPool(copy_store(seed_store), settings, 2))
    with TestClient(create_app(settings, executor=executor)) as client:
        yield client, executor


def update(client: TestClient, text: str) -> None:
    r = client.post("/update", content=text.encode("utf-8"), headers={"Content-Type": "application/sparql-update",
                                                                       "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 204, r.text
    assert CACHE_HEADER not in r.headers and "ETag" not in r.headers  # a write is never cached


def twice(client: TestClient, executor: CountingExecutor, url: str, **kwargs: Any) -> tuple[Any, Any]:
    """Ask ``url`` twice: the first answer is computed, the second is the same bytes and runs no job."""
    first = client.get(url, **kwargs)
    assert first.status_code == 200, first.text
    assert first.headers[CACHE_HEADER] == "miss"
    jobs = executor.jobs
    second = client.get(url, **kwargs)
    assert second.status_code == 200 and second.headers[CACHE_HEADER] == "hit", (url, second.headers)
    assert executor.jobs == jobs, url
    assert second.content == first.content and second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers[GENERATION_HEADER] == first.headers[GENERATION_HEADER]
    assert second.headers["Cache-Control"] == "no-cache"
    return first, second


# -- hits ---------------------------------------------------------------------------------------
def test_a_second_identical_request_is_served_from_the_cache_without_running_a_job(served: Served) -> None:
    client, executor = served
    twice(client, executor, "/sparql", params={"query": PROJECTS})
    twice(client, executor, "/queries/projects_of_agency", params={"code": "341101"})
    twice(client, executor, "/queries/projects_of_agency", params={"code": "341101", "format": "html"})
    twice(client, executor, "/agency/341101")  # Turtle
    twice(client, executor, "/agency/341101", headers={"Accept": "text/html"})
    twice(client, executor, "/projects", params={"department": "341", "funding": "central"})
    twice(client, executor, "/projects", params={"department": "341", "format": "csv"})
    twice(client, executor, "/dataset.ttl")
    twice(client, executor, "/store", params={"graph": IRIS.agencies_graph.value})
    # the same text with blank space around it, and the same query POSTed, are the same entry
    jobs = executor.jobs
    assert client.get("/sparql", params={"query": f"\n  {PROJECTS}  \n"}).headers[CACHE_HEADER] == "hit"
    posted = client.post("/sparql", data={"query": PROJECTS})
    assert posted.headers[CACHE_HEADER] == "hit" and "ETag" not in posted.headers
    assert executor.jobs == jobs
    health = client.get("/health").json()["cache"]
    assert health["hits"] == 11 and health["entries"] == 9 and 0 < health["bytes"] <= health["max_bytes"]


def test_a_view_asked_in_another_order_is_the_same_entry(served: Served) -> None:
    client, executor = served
    client.get("/projects?department=341&funding=central")
    jobs = executor.jobs
    r = client.get("/projects?funding=central&department=341")  # the same view: its canonical query string
    assert r.headers[CACHE_HEADER] == "hit" and executor.jobs == jobs


# -- validation -----------------------------------------------------------------------------------
def test_if_none_match_with_the_current_tag_is_304_without_a_body_or_a_job(served: Served) -> None:
    client, executor = served
    for url, params in (("/sparql", {"query": PROJECTS}), ("/agency/341101", {}), ("/projects", {}),
                        ("/queries/projects_of_agency", {"code": "341"}), ("/dataset", {}),
                        ("/dumps/budgetkg.ttl", {}), ("/context.jsonld", {})):
        first = client.get(url, params=params)
        tag = first.headers["ETag"]
        assert tag.startswith(f'"{first.headers[GENERATION_HEADER]}-') and tag.endswith('"')
        jobs = executor.jobs
        for given in (tag, "W/" + tag, f'"0-nothing", {tag}'):
            r = client.get(url, params=params, headers={"If-None-Match": given})
            assert r.status_code == 304 and r.content == b"", (url, given)
            assert r.headers["ETag"] == tag and r.headers["Cache-Control"] == "no-cache"
            assert r.headers[GENERATION_HEADER] == first.headers[GENERATION_HEADER]
        assert executor.jobs == jobs, url
        other = client.get(url, params=params, headers={"If-None-Match": '"0-nothing"'})
        assert other.status_code == 200 and other.content == first.content


def test_a_client_that_asks_for_no_cache_gets_the_answer_computed_again(served: Served) -> None:
    client, executor = served
    client.get("/sparql", params={"query": PROJECTS})
    jobs = executor.jobs
    r = client.get("/sparql", params={"query": PROJECTS}, headers={"Cache-Control": "no-cache"})
    assert r.headers[CACHE_HEADER] == "miss" and executor.jobs == jobs + 1


# -- writes ---------------------------------------------------------------------------------------
def test_after_an_update_the_same_request_gets_a_new_tag_and_the_new_answer(served: Served) -> None:
    client, executor = served
    before = client.get("/sparql", params={"query": PROJECTS})
    page = client.get("/resource", params={"iri": "http://test.example/p"}, headers={"Accept": "text/html"})
    assert page.status_code == 404  # not cached: asked again below, it is found
    browse = client.get("/projects", params={"format": "csv"})
    update(client, NEW_PROJECT)
    jobs = executor.jobs
    after = client.get("/sparql", params={"query": PROJECTS}, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers[CACHE_HEADER] == "miss" and executor.jobs == jobs + 1
    assert after.headers["ETag"] != before.headers["ETag"]
    assert int(after.headers[GENERATION_HEADER]) == int(before.headers[GENERATION_HEADER]) + 1
    n = int(after.json()["results"]["bindings"][0]["n"]["value"])
    assert n == int(before.json()["results"]["bindings"][0]["n"]["value"]) + 1
    page = client.get("/resource", params={"iri": "http://test.example/p"}, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "缓存测试项目" in page.text
    new_browse = client.get("/projects", params={"format": "csv"})
    assert new_browse.headers[CACHE_HEADER] == "miss" and "缓存测试项目" in new_browse.text
    assert "缓存测试项目" not in browse.text
    # the old generation's entries are gone, not only unreachable
    assert client.get("/health").json()["cache"]["generation"] == int(after.headers[GENERATION_HEADER])


# -- keys -----------------------------------------------------------------------------------------
def test_each_format_is_its_own_entry_and_formats_negotiated_alike_share_one(served: Served) -> None:
    client, executor = served
    as_json = client.get("/sparql", params={"query": PROJECTS}, headers={"Accept": "application/sparql-results+json"})
    as_csv = client.get("/sparql", params={"query": PROJECTS}, headers={"Accept": "text/csv"})
    assert as_csv.headers[CACHE_HEADER] == "miss" and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["ETag"] != as_json.headers["ETag"] and as_csv.content != as_json.content
    # */* and no Accept both negotiate JSON: the same entry, the same tag
    jobs = executor.jobs
    star = client.get("/sparql", params={"query": PROJECTS}, headers={"Accept": "*/*"})
    assert star.headers[CACHE_HEADER] == "hit" and star.content == as_json.content and executor.jobs == jobs
    # a tag of one format does not validate another
    r = client.get("/sparql", params={"query": PROJECTS}, headers={"Accept": "text/csv",
                                                                  "If-None-Match": as_json.headers["ETag"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    turtle = client.get("/agency/341101")
    ntriples = client.get("/agency/341101.nt")
    assert ntriples.headers[CACHE_HEADER] == "miss" and ntriples.content != turtle.content


def test_a_parameter_never_asked_before_is_computed_not_taken_from_a_neighbour(served: Served) -> None:
    client, executor = served
    unit = client.get("/queries/projects_of_agency", params={"code": "341101", "format": "csv"})
    jobs = executor.jobs
    department = client.get("/queries/projects_of_agency", params={"code": "326", "format": "csv"})
    assert department.headers[CACHE_HEADER] == "miss" and executor.jobs > jobs
    assert department.content != unit.content and "326" in department.text
    graph = IRIS.agencies_graph.value
    everything = client.get("/sparql", params={"query": PROJECTS})
    in_one = client.get("/sparql", params={"query": PROJECTS, "default-graph-uri": graph})
    assert in_one.headers[CACHE_HEADER] == "miss" and in_one.json() != everything.json()
    inner_space = client.get("/sparql", params={"query": PROJECTS.replace("COUNT(?p)", "COUNT( ?p )")})
    assert inner_space.headers[CACHE_HEADER] == "miss"  # the text inside is never rewritten
    assert client.get("/projects", params={"page": "2"}).headers[CACHE_HEADER] == "miss"


def test_errors_are_never_kept(served: Served) -> None:
    client, executor = served
    for _ in range(2):
        jobs = executor.jobs
        r = client.get("/sparql", params={"query": "SELECT ?x WHERE { ?x ?y }"})
        assert r.status_code == 400 and executor.jobs == jobs + 1 and "ETag" not in r.headers
    assert client.get("/agency/999999").status_code == 404
    assert "ETag" not in client.get("/agency/999999").headers


# -- the bound --------------------------------------------------------------------------------------
def test_an_answer_larger_than_the_cache_is_not_kept_and_a_small_one_is(settings: Settings,
                                                                        seed_store: GraphStore) -> None:
    settings = replace(settings, result_cache_mb=4096 / 2**20)  # 4 KB
    executor = CountingExecutor(ThreadPool(seed_store, settings, 2))
    with TestClient(create_app(settings, executor=executor)) as client:
        big = client.get("/queries/projects_of_agency", params={"code": "3", "format": "csv"})
        assert len(big.content) > 4096
        again = client.get("/queries/projects_of_agency", params={"code": "3", "format": "csv"})
        assert again.headers[CACHE_HEADER] == "miss" and again.content == big.content
        assert again.headers["ETag"] == big.headers["ETag"]  # validation does not need the entry
        assert client.get("/queries/projects_of_agency", params={"code": "3", "format": "csv"},
                          headers={"If-None-Match": big.headers["ETag"]}).status_code == 304
        client.get("/sparql", params={"query": PROJECTS})
        assert client.get("/sparql", params={"query": PROJECTS}).headers[CACHE_HEADER] == "hit"
        cache = client.get("/health").json()["cache"]
        assert cache["refused"] >= 2 and cache["bytes"] <= cache["max_bytes"] == 4096


def test_the_least_recently_used_entries_leave_first_and_the_bytes_stay_under_the_bound() -> None:
    cache = ResultCache(max_bytes=3 * 1000)
    body = b"x" * 700
    for key in ("a", "b", "c"):
        assert cache.put(1, key, Response(body))
    assert len(cache) == 3 and cache.bytes <= 3000
    assert cache.get(1, "a") is not None  # a is now the most recently used
    assert cache.put(1, "d", Response(body))  # b leaves
    assert cache.get(1, "b") is None and cache.get(1, "a") is not None and cache.get(1, "d") is not None
    assert cache.bytes <= 3000 and cache.evicted == 1
    assert not cache.put(1, "huge", Response(b"x" * 3001)) and cache.get(1, "a") is not None
    assert not cache.put(0, "old", Response(body))  # computed from an older generation: refused
    assert cache.get(2, "a") is None and len(cache) == 0 and cache.bytes == 0  # a newer one empties it
    assert not ResultCache(max_bytes=0).put(1, "a", Response(b""))


# -- a write by another process ------------------------------------------------------------------
def test_a_write_by_another_process_is_seen_by_the_cache(tmp_path: Path, seed_store: GraphStore) -> None:
    path = write_disk_store(seed_store, tmp_path / "store")
    settings = Settings.from_env(env={}, store=str(path), query_timeout=20.0)
    with TestClient(create_app(settings, workers=1)) as client:
        before = client.get("/sparql", params={"query": CONTRACTS})
        assert before.json()["results"]["bindings"][0]["n"]["value"] == "0"
        tag = before.headers["ETag"]
        assert client.get("/sparql", params={"query": CONTRACTS}).headers[CACHE_HEADER] == "hit"
        assert client.get("/sparql", params={"query": CONTRACTS}, headers={"If-None-Match": tag}).status_code == 304
        child = subprocess.run([sys.executable, "-m", "budgetkg", "contracts", "import",
                                str(EXAMPLES / "example_contracts.csv"), "--store", str(path)],
                               cwd=ROOT, env=checkout_env(), capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr
        after = client.get("/sparql", params={"query": CONTRACTS}, headers={"If-None-Match": tag})
        assert after.status_code == 200 and after.headers[CACHE_HEADER] == "miss"
        assert after.json()["results"]["bindings"][0]["n"]["value"] == "12"
        assert after.headers["ETag"] != tag
        assert int(after.headers[GENERATION_HEADER]) > int(before.headers[GENERATION_HEADER])
