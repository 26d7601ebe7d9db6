"""The store package: the GraphStore interface, and what a transaction guarantees (kg.store.transaction)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Quad

from kg.errors import StoreError
from kg.store import EmbeddedStore, GraphStore, open_store, solutions

S, P = NamedNode("http://ex.org/s"), NamedNode("http://ex.org/p")


def fact(graph: NamedNode, value: str) -> Quad:
    return Quad(S, P, Literal(value), graph)


def values(store: GraphStore, graph: NamedNode) -> list[str]:
    return sorted(q.object.value for q in store.quads(graph) if isinstance(q.object, Literal))


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(None if request.param == "memory" else tmp_path / "store")


def test_both_stores_are_graph_stores(tmp_path: Path) -> None:
    assert isinstance(open_store(None), GraphStore) and isinstance(open_store(tmp_path / "s"), GraphStore)


def test_a_failed_transaction_leaves_the_store_as_it_was(store: EmbeddedStore) -> None:
    kept, replaced, new = (NamedNode(f"http://ex.org/graph/{n}") for n in ("kept", "replaced", "new"))
    with store.transaction() as tx:
        tx.replace(kept, [fact(kept, "1")])
        tx.replace(replaced, [fact(replaced, "1")])
    before, generation = store.dump_sorted_nquads(), store.generation
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.replace(new, [fact(new, "2")])  # written straight in: removed again by the rollback
        tx.replace(replaced, lambda target: [fact(target, "2")])  # staged: never swapped in
        tx.remove(kept)  # done at commit only
        assert store.has_graph(new) and values(store, replaced) == ["1"] and store.has_graph(kept)
        raise RuntimeError("a step failed")
    assert store.dump_sorted_nquads() == before
    assert not store.hides_graphs()  # nothing staged is left in the database
    assert store.generation <= generation + 1  # what was undone may count as one generation, never more


def test_a_committed_transaction_is_one_generation(store: EmbeddedStore) -> None:
    a, b = NamedNode("http://ex.org/graph/a"), NamedNode("http://ex.org/graph/b")
    with store.transaction() as tx:
        tx.replace(a, [fact(a, "1")])
    generation = store.generation
    with store.transaction() as tx:
        tx.replace(a, [fact(a, "2")])  # exists: staged, swapped in at commit
        tx.replace(b, [fact(b, "1")])
        assert values(store, a) == ["1"]
        tx.remove(a)  # a removal overrides the replacement made before it
        tx.replace(a, [fact(a, "3")])  # ... and a replacement the removal
    assert values(store, a) == ["3"] and values(store, b) == ["1"]
    assert store.generation == generation + 1
    with store.transaction() as tx:
        assert tx.remove(b) and not tx.remove(NamedNode("http://ex.org/graph/none"))
    assert store.graphs() == [a]


def test_a_read_only_store_refuses_a_transaction(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path / "s").close()
    with pytest.raises(StoreError, match="read-only"):
        EmbeddedStore(tmp_path / "s", read_only=True).transaction()


def test_match_and_queries_see_published_graphs_only(store: EmbeddedStore) -> None:
    g = NamedNode("http://ex.org/graph/g")
    with store.transaction() as tx:
        tx.replace(g, [fact(g, "1")])
    staging = store.staging_graph()  # a writer at work with blank-node content keeps a staging graph
    store.write_new(staging, [fact(staging, "staged")])
    assert store.hides_graphs()
    assert [q.object for q in store.match(S, P)] == [Literal("1")]
    assert [q.graph_name for q in store.match(object=Literal("1"))] == [g]
    assert not list(store.match(graph=DefaultGraph()))
    rows = solutions(store.query("SELECT ?o WHERE { ?s ?p ?o }"))
    assert [r["o"] for r in rows] == [Literal("1")]
    store.remove_graph(staging)
    assert not store.hides_graphs() and len(store) == 1


_NODES = [NamedNode(f"http://ex.org/n{i}") for i in range(3)]
_GRAPHS = [DefaultGraph(), *(NamedNode(f"http://ex.org/graph/{i}") for i in range(3))]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["iri", "blank"]), st.integers(0, 2), st.integers(0, 2), st.integers(0, 3)),
                max_size=30),
       st.booleans())
def test_a_count_is_what_match_yields(picked: list[tuple[str, int, int, int]], staged: bool) -> None:
    """``count`` is the number of quads ``match`` yields for the same pattern (the same quad in two graphs counts
    twice, the default graph's and those of blank nodes count, a writer's staging graph does not)."""
    store = EmbeddedStore(None)
    quads = [Quad(_NODES[s] if kind == "iri" else BlankNode(f"b{s}"), P, _NODES[o], _GRAPHS[g])
             for kind, s, o, g in picked]
    store.raw.extend(quads)
    if staged:
        staging = store.staging_graph()
        store.write_new(staging, [Quad(_NODES[0], P, _NODES[1], staging), Quad(BlankNode(), P, _NODES[1], staging)])
        store.invalidate()
        assert store.hides_graphs()
    for pattern in [(None, None, None), (None, P, None), *((None, None, n) for n in _NODES), (_NODES[0], None, None)]:
        assert store.count(*pattern) == len(list(store.match(*pattern))), pattern


class _Spy:
    """A pyoxigraph store that records how each load parses (``lenient`` or not)."""

    def __init__(self, raw: object, calls: list[tuple[str, bool]]) -> None:
        self._raw, self._calls = raw, calls

    def __getattr__(self, name: str) -> object:
        return getattr(self._raw, name)

    def bulk_load(self, *args: object, **kw: object) -> None:
        self._calls.append(("bulk_load", bool(kw.get("lenient"))))
        self._raw.bulk_load(*args, **kw)  # type: ignore[attr-defined]

    def load(self, *args: object, **kw: object) -> None:
        self._calls.append(("load", bool(kw.get("lenient"))))
        self._raw.load(*args, **kw)  # type: ignore[attr-defined]


def test_text_pyoxigraph_made_is_loaded_unchecked_and_text_made_by_hand_is_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """N-Quads that pyoxigraph serialized from terms it had checked (a worker's output) are parsed leniently; text
    made by hand (the links graph's lines) is checked, so a malformed IRI is refused and nothing is written."""
    from kg.links.ntriples import LinkQuads
    from kg.store import NQuads
    from kg.store.embedded import BULK_MIN

    store = EmbeddedStore(tmp_path / "s")
    calls: list[tuple[str, bool]] = []
    spy = _Spy(store.raw, calls)
    monkeypatch.setattr(EmbeddedStore, "raw", property(lambda self: spy))
    p = NamedNode("http://e/p")
    big, small, bad, made = (NamedNode(f"http://e/{n}") for n in ("big", "small", "bad", "made"))
    with store.transaction() as tx:
        many = [Quad(NamedNode(f"http://e/s{i}"), p, Literal(str(i)), big) for i in range(BULK_MIN)]
        tx.replace(big, NQuads.of(many))
        tx.replace(small, NQuads.of([Quad(small, p, Literal("x"), small)]))
        hand = LinkQuads(made)
        hand.add("<http://e/s>", p, '"x"')
        tx.replace(made, hand.batch())
    assert calls == [("bulk_load", True), ("load", True), ("load", False)]
    assert len(list(store.quads(big))) == BULK_MIN and len(list(store.quads(made))) == 1
    calls.clear()
    malformed = NQuads(f'<http://e/a b> <{p.value}> "x" <{bad.value}> .\n'.encode(), 1)
    with pytest.raises((StoreError, SyntaxError)), store.transaction() as tx:
        tx.replace(bad, malformed)
    assert calls == [("load", False)] and not store.has_graph(bad)


def test_only_batches_pyoxigraph_made_are_marked_checked() -> None:
    from kg.links.ntriples import LinkQuads
    from kg.store import NQuads
    from kg.store.transaction import GraphWriter

    g, p = NamedNode("http://e/g"), NamedNode("http://e/p")
    made = NQuads.of([Quad(g, p, g, g)])
    first = NQuads.of([Quad(g, p, g, g)], first=frozenset([p]))
    hand = LinkQuads(g)
    hand.add("<http://e/s>", p, '"x"')
    assert made.checked and first.checked and not hand.batch().checked
    writer = GraphWriter.__new__(GraphWriter)  # only what joins batches
    writer.buffer, writer.buffered = [made, first], 2
    assert writer._take().checked
    writer.buffer, writer.buffered = [made, hand.batch()], 2
    assert not writer._take().checked
