"""RocksDB's complaints, told apart and converted; the check of an on-disk store (``budgetkg check-store``).

pyoxigraph reports a missing or corrupt file, a held lock and a bad request all as ``OSError`` or
``RuntimeError``; :func:`damage` says which are damage, and :func:`store_error` converts them at the
boundary into :class:`~kg.errors.DamagedStore` (which says what to do) or
:class:`~kg.errors.StoreError`. :func:`check` reads every index of a store in full, so that damage
is found by the check rather than by a later query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Store, Triple

from ..errors import DamagedStore, StoreError
from ..iris import is_staging

#: A write-ahead log larger than this (bytes, all ``*.log`` files) is reported by :func:`check`: RocksDB
#: replays it on every open. Writers flush it away when they close.
WAL_WARN_BYTES = 256 << 20


def damage(exc: BaseException) -> bool:
    """Whether a pyoxigraph error is RocksDB reporting damaged or missing files (not a lock or a bad request).

    >>> damage(OSError("IO error: No such file or directory: 000012.sst")), damage(OSError("lock hold"))
    (True, False)
    """
    text = str(exc)
    if "lock" in text.lower() and "Corruption" not in text:
        return False
    return any(k in text for k in ("Corruption", "IO error", "checksum mismatch", "Column family not found"))


def store_error(path: Path | None, exc: BaseException, doing: str) -> StoreError:
    """The budgetkg error for a pyoxigraph error about the store at ``path``."""
    if damage(exc):
        return DamagedStore(path if path is not None else "(memory)", str(exc))
    hint = " (is another budgetkg process writing to it?)" if "lock" in str(exc).lower() else ""
    return StoreError(f"{doing} {path}: {exc}{hint}")


@dataclass
class StoreCheck:
    """What :func:`check` found: quads per published graph, leftovers, write-ahead log, damage."""

    path: str
    graphs: dict[str, int]
    #: Index reads, each of which must see every quad once (Oxigraph keeps each quad in several indexes).
    index_quads: dict[str, int]
    leftovers: list[str]
    wal_bytes: int
    problem: str | None = None

    @property
    def healthy(self) -> bool:
        return self.problem is None


def check(path: str | Path) -> StoreCheck:
    """Verify the store at ``path``: open it read-only and read every index in full.

    RocksDB checks each block's checksum as it reads it, so a scribbled or truncated file is found
    here rather than by a later query; the counts of the indexes must agree. Leftovers of a killed
    writer (which a reader never sees) and the write-ahead log's size are reported too. Never raises
    for a damaged store: ``problem`` says what is wrong.
    """
    p = Path(path)
    wal = sum(f.stat().st_size for f in p.glob("*.log")) if p.is_dir() else 0
    result = StoreCheck(str(p), {}, {}, [], wal)
    if not (p / "CURRENT").exists() and not p.is_dir():
        result.problem = f"no store at {p}"
        return result
    try:
        raw = Store.read_only(str(p))
        every = [g for g in raw.named_graphs() if isinstance(g, NamedNode)]
        result.leftovers = sorted(g.value for g in every if is_staging(g))
        subjects: set[NamedNode | BlankNode | Triple] = set()
        predicates: set[NamedNode] = set()
        objects: set[NamedNode | BlankNode | Literal | Triple] = set()
        total = 0
        every_graph: list[NamedNode | DefaultGraph] = [DefaultGraph(), *every]
        for g in every_graph:  # the g-s-p-o and default-graph s-p-o indexes, with their terms
            n = 0
            for q in raw.quads_for_pattern(None, None, None, g):
                n += 1
                subjects.add(q.subject)
                predicates.add(q.predicate)
                objects.add(q.object)
            if isinstance(g, NamedNode) and not is_staging(g):
                result.graphs[g.value] = n
            total += n
        result.index_quads["by graph"] = total
        # the other orders: every quad reached once through its subject, its predicate and its object
        # (pyoxigraph 0.5's object lookup of a number can go on past it: only exact matches count)
        result.index_quads["by subject"] = sum(sum(1 for q in raw.quads_for_pattern(s, None, None, None)
                                                   if q.subject == s) for s in subjects)
        result.index_quads["by predicate"] = sum(sum(1 for q in raw.quads_for_pattern(None, pr, None, None)
                                                     if q.predicate == pr) for pr in predicates)
        result.index_quads["by object"] = sum(sum(1 for q in raw.quads_for_pattern(None, None, o, None)
                                                  if q.object == o) for o in objects)
        by_graph = 0
        for ng in every:  # the graph-first orders by predicate and by object
            ps = {q.predicate for q in raw.quads_for_pattern(None, None, None, ng)}
            by_graph += sum(sum(1 for _ in raw.quads_for_pattern(None, pr, None, ng)) for pr in ps)
        result.index_quads["by graph and predicate"] = by_graph + sum(
            sum(1 for _ in raw.quads_for_pattern(None, pr, None, DefaultGraph())) for pr in predicates)
        del raw
    except (OSError, RuntimeError) as exc:
        result.problem = DamagedStore(p, str(exc)).detail if damage(exc) else str(exc)
        return result
    counts = set(result.index_quads.values())
    if len(counts) > 1:
        result.problem = ("its indexes disagree (" + ", ".join(f"{k}: {v}" for k, v in result.index_quads.items())
                          + " quads): RocksDB lost part of a file")
    return result
