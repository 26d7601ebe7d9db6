"""Which query worker answers (server.workers.ProcessPool): the one that answered last, while it is free.

A worker's caches (RocksDB's blocks, the names it has read, the tables it has loaded) are its own: sending each
request to the worker that finished last keeps one reader's pages warm, where taking turns sent every other request
to a worker that had not seen its pages yet. Under load every free worker is taken.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

from kg.settings import Settings
from kg.store import GraphStore
from server.jobs import Answer, QueryJob
from server.workers import ProcessPool, _Worker
from tests.helpers import write_disk_store

COUNT = QueryJob("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")


def test_one_request_at_a_time_reaches_one_worker_and_concurrent_requests_every_worker(
        tmp_path: Path, seed_store: GraphStore, settings: Settings) -> None:
    pool = ProcessPool(replace(settings, store=str(write_disk_store(seed_store, tmp_path / "store"))), size=2)
    took: list[int | None] = []
    take = pool._take

    async def spied(deadline: float, timeout: float) -> _Worker:
        worker = await take(deadline, timeout)
        took.append(worker.pid)
        return worker

    pool._take = spied  # type: ignore[method-assign]

    async def run() -> tuple[list[int | None], list[int | None], list[object]]:
        try:
            one_by_one = [(await pool.run(COUNT, 60))[0] for _ in range(6)]
            alone = took[:]
            took.clear()
            together = [answer for answer, _ in await asyncio.gather(*(pool.run(COUNT, 60) for _ in range(4)))]
            return alone, took[:], one_by_one + together
        finally:
            await pool.close()

    alone, concurrent, answers = asyncio.run(run())
    assert len(alone) == 6 and len(set(alone)) == 1, alone
    assert len(concurrent) == 4 and len(set(concurrent)) == 2, concurrent
    bodies = {a.body for a in answers if isinstance(a, Answer)}
    assert len(bodies) == 1 and len(answers) == 10 and all(isinstance(a, Answer) for a in answers) and bodies != {b""}


def test_a_worker_gone_while_idle_is_replaced_at_the_next_job(tmp_path: Path, seed_store: GraphStore,
                                                               settings: Settings) -> None:
    """The worker that is not taken (not the one that finished last) is killed while idle: the next job, answered by
    the other, notices it and a new worker takes its place."""
    pool = ProcessPool(replace(settings, store=str(write_disk_store(seed_store, tmp_path / "store"))), size=2)

    async def run() -> tuple[int, list[object], list[object], object]:
        try:
            answer, _ = await pool.run(COUNT, 60)
            pids = pool.status()["pids"]
            assert isinstance(pids, list) and len(pids) == 2
            busy = [w.pid for w in pool._busy]  # none: the job is over
            gone = next(w for w in pool._all if w.pid != _last_pid(pool))
            os.kill(gone.pid, signal.SIGKILL)
            gone.proc.wait()
            again, _ = await pool.run(COUNT, 60)
            for _ in range(100):  # the replacement starts in the background
                if len(pool._all) == 2 and all(w.pid != gone.pid for w in pool._all) and pool._idle.qsize() == 2:
                    break
                await asyncio.sleep(0.05)
            return gone.pid, busy, sorted(w.pid for w in pool._all), (answer, again, pool.status()["restarts"])
        finally:
            await pool.close()

    gone, busy, pids, (answer, again, restarts) = asyncio.run(run())
    assert not busy and gone not in pids and len(pids) == 2 and restarts == 1
    assert isinstance(answer, Answer) and isinstance(again, Answer) and answer.body == again.body


def _last_pid(pool: ProcessPool) -> int | None:
    """The pid of the worker on top of the idle stack (the one the next job goes to), the stack left as it was."""
    assert pool._idle is not None
    top = pool._idle.get_nowait()
    pool._idle.put_nowait(top)
    return top.pid
