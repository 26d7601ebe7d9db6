"""Where queries run, so that a time limit really stops them.

pyoxigraph cannot cancel a query: it runs to its end in the thread that started it. So the server
runs every job of :mod:`server.jobs` in a **worker process** that has opened the store read-only
(:class:`ProcessPool`). The event loop sends a pickled job down a pipe and waits for the reply
without a thread (``loop.add_reader``); a job that outlives ``query_timeout`` gets its worker
killed (SIGKILL) and replaced, and the client a 503, while the other workers and the event loop
go on answering. A replacement worker is a fresh interpreter, ready in a fraction of a second.

A worker whose resident memory has grown past ``Settings.worker_max_rss_mb`` (RocksDB's caches and
the allocator's arenas fill as it meets new queries) is replaced after the job that took it there,
the same way, so the server's memory is bounded: at most its own plus ``size`` times the limit
(plus what one query needs while it runs).

**Generations.** A read-only store sees the data as it was when it was opened, so every write
(``budgetkg build``, ``contracts import``, ``link``, ``validate``, SPARQL Update) advances the store's
*generation* (a number in a file beside the store, see :mod:`kg.store`) when it has committed, and
the pool watches it: before each job (one ``stat``), it notes the newest generation seen, and a
worker is only given a job if it was started at that generation or a newer one; older workers are
retired (killed, and replaced by workers that open the store afresh) rather than used. A worker's
generation is read just before it starts, so what it opens is at least that generation. A reply
that comes back after a newer generation was seen is not sent: the job runs again on a newer
worker (at most :data:`STALE_RERUNS` times, then 503). So once the server has answered from
generation N, no later answer comes from an older one.

SPARQL Update (enabled by a token) runs in a short-lived writer process that opens the store for
writing only for that update (RocksDB lets one writer and any number of read-only readers share a
path); it advances the generation like any writer.

A worker that goes away while answering (killed for memory by the operating system, crashed,
killed by hand) costs the request nothing when another worker can answer: the job is sent once
more, to another worker; if that one goes too the client gets 503 with ``Retry-After``. Only a job
that ran past the time limit is not retried.

A large answer of the answer table comes in chunks (:class:`server.results.Streamed`): the worker sends each on
as it is written, so a worker never holds the whole document, nor a pickled copy of it, under its memory limit.
An answer that has ended by :data:`WHOLE_BYTES` is handed over whole, as an :class:`~server.jobs.Answer` (it
can be kept in the result cache); a larger one as a :class:`Streaming`, whose chunks the server sends on to the
client as they come (:func:`server.protocol.result_response`), the worker busy with it until its last chunk.
The job's time limit covers the whole stream. Once the first chunk has gone to the client the status (200) and
headers are sent: a failure after that (the worker's error while writing, the time limit, the worker gone) is
raised from the iteration, so the HTTP connection is cut before the end of the body (no last chunk of the
chunked transfer) and the client sees an incomplete answer, never a complete-looking one; the worker is then
replaced. A stream the server stops reading (the client went away) also replaces its worker.

An in-memory store (tests, embedding) cannot be shared between processes; :class:`ThreadPool`
runs its jobs in threads instead. A query that times out there is answered 503 at once but its
thread runs on to its end, holding one of the pool's ``size`` slots: at most ``size`` runaway
queries exist at a time, and further requests wait at most ``query_timeout`` for a slot (503 Busy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from kg.errors import BudgetKGError, StoreError
from kg.search import index_path
from kg.settings import Settings
from kg.store import GenerationWatch, GraphStore, is_remote, open_store

from . import limits
from .errors import Busy, OverMemory, QueryTimeout, StoreChanged, WorkerFailure, WorkerLost
from .jobs import Answer, Context, UpdateJob
from .results import Streamed
from .sandbox import Confinement, confine

log = logging.getLogger("budgetkg.server")


#: How many times a job is run again because a newer store generation was seen while it ran.
STALE_RERUNS = 3
#: A result written in chunks that ends within this many bytes is handed over whole; a longer one is streamed.
WHOLE_BYTES = 1 << 20


class Executor(Protocol):
    """Runs jobs of :mod:`server.jobs` with a time limit."""

    mode: str

    @property
    def generation(self) -> int:
        """The newest store generation seen: no answer comes from an older one."""
        ...

    def observe(self) -> int:
        """Look at the store's generation now (cheap); returns :attr:`generation`."""
        ...

    async def start(self) -> None: ...

    async def run(self, job: Any, timeout: float) -> tuple[Any, int]:
        """The job's result, and the store generation it was computed from."""
        ...

    async def update(self, job: UpdateJob, timeout: float) -> Any: ...

    async def close(self) -> None: ...

    def status(self) -> dict[str, object]: ...


def _pack(exc: BaseException) -> tuple[type[BaseException], tuple, dict]:
    return type(exc), exc.args, dict(exc.__dict__)


def _unpack(packed: tuple[type[BaseException], tuple, dict]) -> BaseException:
    """Rebuild an error sent by a worker (kg's errors take keyword-less constructors, so no pickle)."""
    cls, args, state = packed
    exc = cls.__new__(cls)
    BaseException.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


def worker_main(conn: Any, settings: Settings, writable: bool, sandbox: Confinement | None = None) -> None:
    """A worker process: open the store, then answer jobs from ``conn`` until it closes.

    ``sandbox`` is what :func:`server.sandbox.confine` achieved before (kept for :class:`~server.sandbox.ProbeJob`).
    """
    limits.limit_memory(settings)  # before anything grows (docs/reliability.md)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which ends its workers
    try:
        ctx = Context(open_store(settings, read_only=not writable, timeout=settings.query_timeout + 1), settings)
    except BudgetKGError as exc:
        conn.send_bytes(pickle.dumps(("error", _pack(exc))))
        return
    ctx.sandbox = sandbox
    try:
        ctx.load_tables()
    except Exception:  # a job that needs a table meets the same error, and reports it as it would have
        log.exception("loading the tables kept beside the store failed")
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            job = pickle.loads(data)
            result = job.run(ctx)
            out: tuple[str, object] = ("ok", result)
        except BudgetKGError as exc:
            out = ("error", _pack(exc))
        except Exception:
            out = ("bug", traceback.format_exc())
        try:
            if isinstance(out[1], Streamed):
                _stream(conn, out[1], settings)
            else:
                conn.send_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            return


def _stream(conn: Any, result: Streamed, settings: Settings) -> None:
    """Send a result written in chunks as they are written: ``("stream", (format, rows, truncated))``, then each
    chunk as it is (a message of its bytes, no pickle), then an empty message and how the writing ended (``("ok",
    None)``, or the error raised while writing). The worker holds one chunk at a time, never the whole document."""
    conn.send_bytes(pickle.dumps(("stream", (result.format, result.rows, result.truncated))))
    try:
        for chunk in result.chunks:
            if chunk:
                conn.send_bytes(chunk)
        end: tuple[str, object] = ("ok", None)
    except MemoryError:
        end = ("error", _pack(OverMemory(settings.worker_memory_mb)))
    except BudgetKGError as exc:
        end = ("error", _pack(exc))
    except Exception:
        end = ("bug", traceback.format_exc())
    conn.send_bytes(b"")
    conn.send_bytes(pickle.dumps(end))


def _decode(reply: tuple[str, Any]) -> Any:
    kind, payload = reply
    if kind == "ok":
        return payload
    if kind == "error":
        raise _unpack(payload)
    log.error("query worker failed:\n%s", payload)
    raise WorkerFailure("the query worker failed (a bug; see the server log)")


_HEADER = struct.Struct("!Q")  # every message: 8-byte length, then a pickle


class _Lost(Exception):
    """The worker's end of the socket closed: the process is gone."""


class _Worker:
    """The server's end of one worker process: a stream socket carrying length-prefixed pickles."""

    __slots__ = ("generation", "label", "pid", "proc", "reader", "writer")

    def __init__(self, proc: subprocess.Popen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 generation: int, opened_mid_write: int = 0) -> None:
        self.proc = proc
        self.reader = reader
        self.writer = writer
        self.generation = generation
        #: What it shows, in order: (generation, 0), or (generation, k) for the k-th worker opened while a
        #: writer was writing (it may see part of the next generation; a later one sees at least as much).
        self.label = (generation, opened_mid_write)
        self.pid: int | None = proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    async def _roundtrip(self, payload: bytes | None) -> bytes:
        if payload is not None:
            self.writer.write(_HEADER.pack(len(payload)))
            self.writer.write(payload)
            await self.writer.drain()
        (size,) = _HEADER.unpack(await self.reader.readexactly(_HEADER.size))
        return await self.reader.readexactly(size)

    async def call(self, payload: bytes | None, timeout: float) -> bytes:
        """Send ``payload`` (None: just wait for a message) and await the reply, at most ``timeout`` s."""
        try:
            return await asyncio.wait_for(self._roundtrip(payload), timeout)
        except TimeoutError:  # an OSError too: let it through as what it is
            raise
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            raise _Lost from None

    async def _answer(self, payload: bytes, whole: int) -> tuple[str, Any]:
        kind, result = pickle.loads(await self._roundtrip(payload))
        if kind != "stream":
            return kind, result
        fmt, rows, truncated = result
        chunks = []  # a streamed result (see _stream): its chunks, until an empty message
        size = 0
        while chunk := await self._roundtrip(None):
            chunks.append(chunk)
            size += len(chunk)
            if size > whole:  # more to come: the rest is read while the client is sent what came
                return "stream", (fmt, rows, truncated, chunks)
        kind, result = pickle.loads(await self._roundtrip(None))
        if kind != "ok":
            return kind, result
        body = b"".join(chunks)
        chunks.clear()
        return "ok", Answer(body, fmt, rows, truncated)

    async def next_chunk(self, timeout: float) -> bytes | tuple[str, Any]:
        """The next message of a result being streamed: a chunk, or (the stream's end) how its writing ended."""
        try:
            chunk = await asyncio.wait_for(self._roundtrip(None), timeout)
            if chunk:
                return chunk
            end: tuple[str, Any] = pickle.loads(await asyncio.wait_for(self._roundtrip(None), timeout))
            return end
        except TimeoutError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            raise _Lost from None

    async def job(self, payload: bytes, timeout: float, whole: int | None = None) -> tuple[str, Any]:
        """Send a pickled job and await its outcome, ``(kind, payload)``, at most ``timeout`` s in all. A result
        streamed in chunks is read to its end (an :class:`~server.jobs.Answer`), or with ``whole`` until it is
        longer than ``whole`` bytes: then ``("stream", (format, rows, truncated, the chunks so far))``, the rest
        to be read with :meth:`next_chunk`."""
        try:
            return await asyncio.wait_for(self._answer(payload, (1 << 62) if whole is None else whole), timeout)
        except TimeoutError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            raise _Lost from None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.writer.close()


class _Channel:
    """The worker's end: blocking reads and writes of length-prefixed messages."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.file = self.sock.makefile("rb")

    def recv_bytes(self) -> bytes:
        head = self.file.read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise EOFError
        (size,) = _HEADER.unpack(head)
        data = self.file.read(size)
        if len(data) < size:
            raise EOFError
        return data

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(_HEADER.pack(len(data)))
        self.sock.sendall(data)


#: What an HTTP client reads besides its packages: TLS settings and certificates, and name resolution.
REMOTE_CLIENT_FILES = tuple(p for p in ("/etc/ssl", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
                                        "/etc/gai.conf", "/etc/host.conf") if Path(p).exists())


def _child() -> None:
    """Entry point of a worker process (``python -c 'from server.workers import _child; _child()' FD``)."""
    conn = _Channel(int(sys.argv[1]))
    settings, writable = pickle.loads(conn.recv_bytes())
    # first, while the process is single-threaded (a user namespace and Landlock need that): after
    # this it reaches no network and no file but the store's (server.sandbox)
    remote = bool(settings.query_url) or is_remote(settings.store)  # the store itself is across the network
    # the search index's readers take a lock file (tantivy) and SQLite's shared-memory file: they write there
    index = index_path(SimpleNamespace(path=None if remote else Path(settings.store)), settings)
    if index is not None:
        with contextlib.suppress(OSError):
            index.parent.mkdir(parents=True, exist_ok=True)
    sandbox = confine(settings.store if not remote else Path.cwd() / ".budgetkg-no-store", writable=writable and
                      not remote, network=bool(settings.service_allowlist) or remote,
                      read=[Path(settings.manifest).resolve().parent, *(REMOTE_CLIENT_FILES if remote else ())],
                      why_network="the store is a remote endpoint" if remote else "BUDGETKG_SERVICE_ALLOWLIST is set",
                      write=[index.parent] if index is not None else [])
    worker_main(conn, settings, writable, sandbox)


def _start_process(settings: Settings, writable: bool) -> tuple[subprocess.Popen, socket.socket]:
    """Start a worker as a fresh interpreter joined by a socket pair.

    A plain subprocess rather than :mod:`multiprocessing`: spawn and forkserver re-import the
    parent's ``__main__`` (an unguarded script, a test runner), and fork would copy the event loop.
    """
    ours, theirs = socket.socketpair()
    # the worker imports the same installed packages as this process (or PYTHONPATH's, inherited),
    # never a folder of the working directory that happens to be named kg or server
    env = dict(os.environ, PYTHONSAFEPATH="1")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from server.workers import _child; _child()", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal goes to the server, which ends its workers
        )
    finally:
        theirs.close()
    hello = pickle.dumps((settings, writable))
    ours.sendall(_HEADER.pack(len(hello)) + hello)
    return proc, ours


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (``None``: it has gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class Streaming:
    """A result written in chunks, longer than :data:`WHOLE_BYTES`, handed over while its worker still writes it:
    ``chunks`` gives each chunk as it comes, and raises if the answer cannot be finished (see the module)."""

    format: str
    rows: int
    truncated: bool
    chunks: AsyncIterable[bytes]


class _Stream:
    """The chunks of a result its worker is still sending: those read already, then each as it comes, within the
    job's deadline. Its worker goes back to the pool after the last chunk, and is replaced when the stream fails
    or is left unread (the worker would otherwise still be writing into its socket)."""

    def __init__(self, pool: ProcessPool, worker: _Worker, first: list[bytes], deadline: float,
                 timeout: float) -> None:
        self.pool, self.worker, self.first = pool, worker, first
        self.deadline, self.timeout = deadline, timeout
        self.finished = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ended = False
        try:
            while self.first:
                yield self.first.pop(0)
            while True:
                left = self.deadline - loop.time()
                if left <= 0:
                    raise TimeoutError
                message = await self.worker.next_chunk(left)
                if isinstance(message, bytes):
                    yield message
                    continue
                ended = True
                self._finish(ok=message[0] == "ok")
                _decode(message)  # raises the error the worker met while writing
                return
        except TimeoutError:
            self.pool.timeouts += 1
            log.warning("query over %.1f s while its answer was sent: killing worker %s", self.timeout,
                        self.worker.pid)
            raise QueryTimeout(self.timeout) from None
        except _Lost:
            raise WorkerLost from None
        finally:
            if not ended:
                self._finish(ok=False)

    def _finish(self, *, ok: bool) -> None:
        """Hand the worker back (``ok``: the stream ended as written) or replace it."""
        if self.finished:
            return
        self.finished = True
        self.pool._busy.discard(self.worker)
        if ok:
            self.pool._release(self.worker)
        else:
            self.pool._replace(self.worker)

    def __del__(self) -> None:
        if not self.finished:  # never read (a 304 made of a fresh answer, a client gone before the body)
            self.finished = True
            self.worker.kill()
            self.pool._busy.discard(self.worker)
            with contextlib.suppress(RuntimeError):  # no event loop left (the server is stopping)
                self.pool._replace(self.worker)


class ProcessPool:
    """``size`` worker processes over the on-disk store at ``settings.store``."""

    mode = "process"

    def __init__(self, settings: Settings, size: int | None = None, spawn_timeout: float = 60.0,
                 whole_bytes: int = WHOLE_BYTES) -> None:
        self.settings = settings
        #: A result written in chunks that ends within this many bytes is handed over whole, a longer one streamed.
        self.whole_bytes = whole_bytes
        # a few more workers than cores: replies travelling back and requests being decoded leave a
        # core idle otherwise, and one runaway query does not halve the capacity (~50 MB each)
        self.size = max(1, size or (os.cpu_count() or 1) + 2)
        self.spawn_timeout = spawn_timeout
        #: The newest store generation seen (see the module docstring).
        self.generation = 0
        #: The newest worker label served (see :attr:`_Worker.label`): no job goes to an older worker.
        self.label = (0, 0)
        self._mid_write = 0
        self.restarts = 0
        self.timeouts = 0
        self.recycled = 0
        #: Workers replaced because the store advanced past their generation.
        self.retired = 0
        #: Jobs sent to a second worker after the first went away.
        self.retries = 0
        self._watch = GenerationWatch(None if settings.query_url else settings.store)
        # the idle workers, the one that finished last on top: one request at a time always reaches the same
        # worker, whose caches (RocksDB's blocks, the names it has read) are warm from the requests before; a
        # FIFO queue sent every other request to a worker that had not seen its pages (a department's page
        # 33 → 24 ms at 100,000 tables). Under load every idle worker is taken as before.
        self._idle: asyncio.LifoQueue[_Worker] | None = None
        self._all: set[_Worker] = set()
        self._busy: set[_Worker] = set()
        self._tasks: set[asyncio.Task] = set()
        self._started = False
        self._closed = False
        self._start_lock: asyncio.Lock | None = None
        self._update_lock: asyncio.Lock | None = None

    async def start(self) -> None:
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            self._idle = asyncio.LifoQueue()
            self._update_lock = asyncio.Lock()
            workers = await asyncio.gather(*(self._spawn() for _ in range(self.size)), return_exceptions=True)
            errors = [w for w in workers if isinstance(w, BaseException)]
            for w in workers:
                if isinstance(w, _Worker):
                    self._idle.put_nowait(w)
            if errors:
                await self.close()
                raise errors[0]
            self._started = True

    async def _spawn(self, writable: bool = False) -> _Worker:
        generation = self.observe()  # read before the worker opens the store: it sees at least this one
        mid_write = 0
        if not writable and self._watch.writing():  # it may see part of what is being written
            self._mid_write += 1
            mid_write = self._mid_write
        proc, sock = await asyncio.get_running_loop().run_in_executor(None, _start_process, self.settings, writable)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        w = _Worker(proc, reader, writer, generation, mid_write)
        self._all.add(w)
        try:
            kind, payload = pickle.loads(await w.call(None, self.spawn_timeout))
        except (TimeoutError, _Lost):
            self._discard(w)
            raise StoreError(f"a query worker could not open the store at {self.settings.store}") from None
        if kind != "ready":
            self._discard(w)
            raise _unpack(payload)
        w.pid = payload
        if w.label > self.label:  # opened mid-write: the workers opened before it must not answer after it
            self._advance(w.label)
        return w

    def _discard(self, w: _Worker) -> None:
        w.kill()
        self._all.discard(w)
        self._background(asyncio.get_running_loop().run_in_executor(None, w.proc.wait))

    def _background(self, aw: Any) -> None:
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _replace(self, w: _Worker) -> None:
        """Kill ``w`` and start another in the background."""
        self._discard(w)
        self.restarts += 1
        if not self._closed:
            self._background(self._respawn())

    def _retire(self, w: _Worker) -> None:
        """Replace ``w``, whose store is older than the newest generation seen."""
        self.retired += 1
        self._discard(w)
        if not self._closed:
            self._background(self._respawn())

    def observe(self) -> int:
        """Note the store's generation (one ``stat``); when it advanced, retire the idle workers it left behind."""
        g = self._watch.current()
        if g > self.generation:
            log.info("store generation %d (was %d): replacing the query workers", g, self.generation)
            self.generation = g
            self._advance((g, 0))
        return self.generation

    def _advance(self, label: tuple[int, int]) -> None:
        """Serve from ``label`` on: retire the idle workers below it (busy ones when their job ends)."""
        self.label = max(self.label, label)
        if self._idle is not None:
            self._sweep()

    def _serving(self) -> int:
        """Live workers at the newest label."""
        return sum(1 for w in self._all if w.label == self.label and w.alive())

    async def _respawn(self) -> None:
        # while a writer writes, a new worker could see part of its work: wait for it to publish, as
        # long as another worker can answer meanwhile (monotonic reads: docs/server.md)
        while not self._closed and self._watch.writing() and self._serving() > 0:
            await asyncio.sleep(0.2)
            self.observe()
        delay = 0.5
        while not self._closed:
            try:
                w = await self._spawn()
            except BudgetKGError as exc:
                log.error("cannot start a query worker: %s (retrying in %.1f s)", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if self._closed:
                self._discard(w)
            elif w.label < self.label:  # the store advanced while it was starting
                self._discard(w)
                continue
            else:
                assert self._idle is not None
                self._idle.put_nowait(w)
            return

    def _release(self, w: _Worker) -> None:
        limit = self.settings.worker_max_rss_mb
        if limit > 0 and w.pid and (rss_mb(w.pid) or 0.0) > limit:
            log.info("query worker %s uses over %d MB: replacing it", w.pid, limit)
            self.recycled += 1
            self._discard(w)
            self._background(self._respawn())
        elif w.label < self.label:
            self._retire(w)
        else:
            assert self._idle is not None
            self._idle.put_nowait(w)

    def _sweep(self) -> None:
        """Take out of the idle stack the workers that cannot answer: those below the newest label are retired, those
        gone away (killed, crashed) replaced. Done when the label advances, before a job takes a worker and before the
        status lists them: the worker that finished last is taken first, so one gone at the bottom of the stack would
        otherwise not be noticed until every other was busy."""
        assert self._idle is not None
        kept = []
        while not self._idle.empty():
            w = self._idle.get_nowait()
            if w.label < self.label:
                self._retire(w)
            elif not w.alive():
                self._replace(w)
            else:
                kept.append(w)
        for w in reversed(kept):  # in the order they were in
            self._idle.put_nowait(w)

    async def _take(self, deadline: float, timeout: float) -> _Worker:
        """An idle worker, alive and at the newest generation seen, by ``deadline`` (else :class:`Busy`)."""
        assert self._idle is not None
        self._sweep()
        loop = asyncio.get_running_loop()
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                w = await asyncio.wait_for(self._idle.get(), left)
            except TimeoutError:
                raise Busy(timeout) from None
            if not w.alive():  # it died while idle
                self._replace(w)
            elif w.label < self.label:
                self._retire(w)
            else:
                return w

    async def run(self, job: Any, timeout: float) -> tuple[Any, int]:
        if not self._started:
            await self.start()
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        loop = asyncio.get_running_loop()
        lost = stale = 0
        while True:
            self.observe()
            w = await self._take(loop.time() + timeout, timeout)
            self._busy.add(w)
            deadline = loop.time() + timeout
            try:
                reply = await w.job(payload, timeout, self.whole_bytes)
            except TimeoutError:
                self.timeouts += 1
                log.warning("query over %.1f s: killing worker %s", timeout, w.pid)
                self._replace(w)
                raise QueryTimeout(timeout) from None
            except _Lost:
                self._replace(w)
                lost += 1
                if lost > 1:
                    raise WorkerLost from None
                self.retries += 1
                log.warning("query worker %s went away while answering: sending the job to another", w.pid)
                continue
            except BaseException:  # cancelled: the worker is still busy with a job nobody waits for
                self._replace(w)
                raise
            finally:
                self._busy.discard(w)
            self.observe()
            if w.label < self.label:  # the store advanced while it answered: not sent
                self._retire(w)
                stale += 1
                if stale > STALE_RERUNS:
                    raise StoreChanged(stale)
                continue
            if reply[0] == "stream":  # the worker stays busy until the stream's end (Streaming)
                fmt, rows, truncated, chunks = reply[1]
                self._busy.add(w)
                return Streaming(fmt, rows, truncated, _Stream(self, w, chunks, deadline, timeout)), w.generation
            self._release(w)
            return _decode(reply), w.generation

    async def update(self, job: UpdateJob, timeout: float) -> Any:
        """Run an update in a writer process, then replace every reader so that it sees the new data."""
        if not self._started:
            await self.start()
        assert self._update_lock is not None and self._idle is not None
        async with self._update_lock:
            w = await self._spawn(writable=True)
            try:
                reply = await w.job(pickle.dumps(job), timeout)
            except TimeoutError:
                self.timeouts += 1
                raise QueryTimeout(timeout) from None
            except _Lost:
                raise WorkerLost from None
            finally:
                self._discard(w)
            result = _decode(reply)
            self.observe()  # the writer advanced the generation: the next job goes to a new worker
            return result

    async def close(self) -> None:
        """Stop every worker: close its socket (it exits on end of input), kill it if it has not gone in 2 s."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        workers = list(self._all)
        self._all.clear()
        for w in workers:
            with contextlib.suppress(Exception):
                w.writer.close()
        loop = asyncio.get_running_loop()

        async def finish(w: _Worker) -> None:
            try:
                await asyncio.wait_for(loop.run_in_executor(None, w.proc.wait), 2)
            except TimeoutError:
                w.kill()
                await loop.run_in_executor(None, w.proc.wait)

        await asyncio.gather(*(finish(w) for w in workers), return_exceptions=True)

    def status(self) -> dict[str, object]:
        if self._idle is not None:
            self._sweep()  # the pids listed are live ones
        return {
            "mode": self.mode, "workers": self.size, "idle": self._idle.qsize() if self._idle else 0,
            "pids": sorted(w.pid for w in self._all if w.pid), "busy": sorted(w.pid for w in self._busy if w.pid),
            "restarts": self.restarts,
            "timeouts": self.timeouts, "recycled": self.recycled, "retired": self.retired, "retries": self.retries,
            "generation": self.observe(), "label": list(self.label), "writing": self._watch.writing(),
        }


def _whole(result: Any) -> Any:
    """``result``, a result written in chunks joined into an :class:`~server.jobs.Answer`."""
    if isinstance(result, Streamed):
        return Answer(result.body(), result.format, result.rows, result.truncated)
    return result


class ThreadPool:
    """Jobs in threads over one store object (an in-memory store; see the module docstring)."""

    mode = "thread"

    def __init__(self, store: GraphStore, settings: Settings, size: int | None = None) -> None:
        self.store = store
        self.settings = settings
        self.size = max(1, size or os.cpu_count() or 1)
        self.timeouts = 0
        self._ctx: Context | None = None
        self._ctx_generation = -1
        self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="budgetkg-query")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="budgetkg-update")
        self._slots: asyncio.Semaphore | None = None
        self._ctx_lock = threading.Lock()

    @property
    def generation(self) -> int:
        """The store's own generation: the threads share the store object, so they see every write at once."""
        return self.store.generation

    def observe(self) -> int:
        return self.store.generation

    def _context(self) -> Context:
        with self._ctx_lock:
            g = self.store.generation
            if self._ctx is None:
                self._ctx = Context(self.store, self.settings)
            elif g != self._ctx_generation:  # written since: graphs may have come or gone
                self._ctx.refresh()
            self._ctx_generation = g
            return self._ctx

    async def start(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)

    async def run(self, job: Any, timeout: float) -> tuple[Any, int]:
        await self.start()
        assert self._slots is not None
        slots = self._slots
        try:
            await asyncio.wait_for(slots.acquire(), timeout)
        except TimeoutError:
            raise Busy(timeout) from None
        loop = asyncio.get_running_loop()
        generation = self.store.generation  # what the job reads is at least this generation
        fut = loop.run_in_executor(self._pool, lambda: _whole(job.run(self._context())))
        fut.add_done_callback(lambda _f: slots.release())  # the slot is free only when the thread is
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout), generation
        except TimeoutError:
            self.timeouts += 1
            fut.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
            raise QueryTimeout(timeout) from None

    async def update(self, job: UpdateJob, timeout: float) -> Any:
        await self.start()
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._writer, lambda: job.run(self._context()))
        try:
            result = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            self.timeouts += 1
            raise QueryTimeout(timeout) from None
        return result

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._writer.shutdown(wait=False, cancel_futures=True)

    def status(self) -> dict[str, object]:
        return {"mode": self.mode, "workers": self.size, "restarts": 0, "timeouts": self.timeouts,
                "generation": self.generation, "pids": [os.getpid()]}
