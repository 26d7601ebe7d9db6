"""A store's generations: the number a reader compares to know whether the store changed.

Every write marks the store changed; when the outermost write (a :meth:`Generations.hold` block:
``store.batch()``, ``store.transaction()``, ``with store:``) ends, the store *publishes* a new
generation: a number kept in the file :data:`GENERATION_FILE` beside RocksDB's own files, advanced
by one and replaced atomically (``os.replace``) after the data is flushed. Only the process holding
the write lock writes it. A command publishes once, at its end: a whole build, import, link or
validation is one generation. A store in memory, or on a remote endpoint, counts in memory.

From a writer's first write until it publishes, the file :data:`WRITING_FILE` holds the writer's
pid: a reader that opens meanwhile may see part of what is being written, and a server
(:mod:`server.workers`) waits rather than open a new worker then (:meth:`GenerationWatch.writing`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import StoreError

#: The file in an on-disk store's directory that holds its generation (a decimal number); RocksDB
#: ignores files whose names it does not use.
GENERATION_FILE = "budgetkg-generation"
#: Present (holding the writer's pid) from a writer's first write until it publishes: a reader that
#: opens meanwhile may see part of what is being written (see :class:`GenerationWatch`).
WRITING_FILE = "budgetkg-writing"


def is_remote(location: object) -> bool:
    """Whether a ``--store`` value names a remote endpoint (``http(s)://…``) rather than a path.

    >>> is_remote("http://127.0.0.1:7878"), is_remote("./budgetkg-store")
    (True, False)
    """
    return isinstance(location, str) and urlsplit(location).scheme in ("http", "https") and "//" in location


def read_generation(path: str | Path) -> int:
    """The generation of the on-disk store at ``path`` (0: never written since generations were kept).

    >>> import tempfile
    >>> read_generation(tempfile.mkdtemp())
    0
    """
    try:
        return int((Path(path) / GENERATION_FILE).read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def write_generation(path: Path, generation: int) -> None:
    """Record ``generation`` for the store at ``path``: readers see the old number or the new one, never a torn file."""
    target = path / GENERATION_FILE
    tmp = path / f"{GENERATION_FILE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{generation}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


class GenerationWatch:
    """Cheap polling of a store's generation: one ``stat`` per call, a read only when the file changed.

    A location that is no on-disk store (a remote endpoint, ``None``) stays at generation 0.

    >>> import tempfile
    >>> GenerationWatch(tempfile.mkdtemp()).current()
    0
    """

    def __init__(self, location: str | Path | None) -> None:
        self.file = Path(location) / GENERATION_FILE if location is not None and not is_remote(location) else None
        self._seen: tuple[int, int, int] | None = None
        self._generation = 0

    def writing(self) -> bool:
        """Whether a writer (a live process) has begun writing and not yet published its generation."""
        if self.file is None:
            return False
        try:
            pid = int((self.file.parent / WRITING_FILE).read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return False
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False  # a writer that died: what it left is cleaned by the next writer
        except PermissionError:
            return True
        return True

    def current(self) -> int:
        """The generation the store has published (at least what was seen before)."""
        if self.file is None:
            return 0
        try:
            st = os.stat(self.file)
        except OSError:
            return self._generation  # not written yet (or being replaced: os.replace never leaves it absent)
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig != self._seen:
            self._seen = sig
            self._generation = max(self._generation, read_generation(self.file.parent))
        return self._generation


class Generations:
    """One open store's generation bookkeeping: held blocks, whether anything changed, publishing.

    ``path`` is the on-disk store's directory (``None``: count in memory). ``flush``, given to the
    methods that may publish, makes the data durable before a new number is published (a reader
    that sees the new number must see the new data); it is not kept, so that this object holds no
    reference back to its store (dropping a store releases its lock at once). A store calls
    :meth:`changed` before each write and holds a block around each write method, so writes
    outside any block publish one by one.

    >>> g = Generations(None, 0)
    >>> with g.hold(lambda: None):
    ...     g.changed(); g.changed()
    >>> g.current
    1
    """

    def __init__(self, path: Path | None, start: int) -> None:
        self.path = path
        self.current = start
        self.held = 0
        self.dirty = False
        self._marked = False

    @contextlib.contextmanager
    def hold(self, flush: Callable[[], None]) -> Iterator[None]:
        """Make the writes inside the block one generation, published when the outermost block ends."""
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1
            if self.held == 0:
                self.release(flush)

    def release(self, flush: Callable[[], None]) -> None:
        """Publish what was written (unless a block still holds it), and drop the writing marker."""
        if self.held:
            return
        try:
            self.publish(flush)
        finally:
            self.end_writing()

    def changed(self) -> None:
        """Called before every write: the next publish advances the generation; marks the store being written."""
        self.dirty = True
        if self._marked or self.path is None:
            return
        try:
            (self.path / WRITING_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
        except OSError as exc:
            raise StoreError(f"cannot mark the store at {self.path} as being written: {exc}") from None
        self._marked = True

    def end_writing(self) -> None:
        """Remove the writing marker (:data:`WRITING_FILE`), if this store set it."""
        if self._marked and self.path is not None:
            with contextlib.suppress(OSError):
                (self.path / WRITING_FILE).unlink()
        self._marked = False

    def publish(self, flush: Callable[[], None]) -> None:
        """Advance the generation if anything was written since it was last published."""
        if not self.dirty:
            return
        self.dirty = False
        if self.path is None:
            self.current += 1
            return
        try:
            flush()  # the data first: a reader that sees the new number must see the new data
            generation = max(self.current, read_generation(self.path)) + 1
            write_generation(self.path, generation)
        except OSError as exc:
            raise StoreError(f"cannot record the new generation of the store at {self.path}: {exc}") from None
        self.current = generation
