"""The build's projection (kg.store.projection): the derived steps that read it read only predicates it holds, and a
build that reads it makes what a build that reads the store makes."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyoxigraph import Literal, NamedNode, Quad, QueryResultsFormat
from rdflib.paths import AlternativePath, InvPath, MulPath, NegatedPath, SequencePath
from rdflib.plugins.sparql.algebra import translateGroupGraphPattern, translateQuery
from rdflib.plugins.sparql.parser import parseQuery
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import URIRef

from bench.synth import generate
from kg import answers, facets, kept, queries
from kg import build as kbuild
from kg.build import Step
from kg.namespaces import PREFIXES
from kg.pipeline import build, default_steps
from kg.settings import Settings
from kg.sources import Manifest, load_manifest
from kg.store import EmbeddedStore, term_value
from kg.store.projection import ProjectedStore, Projection
from kg.store.transaction import NQuads
from tests.helpers import bound_values

PROLOGUE = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())


def _predicates(sparql: str) -> tuple[set[str], list[str]]:
    """The predicates ``sparql``'s triple patterns and paths name, and what else stands there (a variable, a negated
    property set), read from rdflib's algebra of it."""
    try:
        algebra = translateQuery(parseQuery(sparql)).algebra
    except Exception:  # a text that relies on the store's prefixes
        algebra = translateQuery(parseQuery(PROLOGUE + sparql)).algebra
    named: set[str] = set()
    other: list[str] = []

    def path(p: object) -> None:
        if isinstance(p, URIRef):
            named.add(str(p))
        elif isinstance(p, SequencePath | AlternativePath):
            for a in p.args:
                path(a)
        elif isinstance(p, InvPath):
            path(p.arg)
        elif isinstance(p, MulPath):
            path(p.path)
        elif isinstance(p, NegatedPath):
            other.append(f"!{p}")
        else:
            other.append(f"{type(p).__name__} {p}")

    def walk(node: object) -> None:
        if isinstance(node, CompValue):
            if node.name in ("GroupGraphPatternSub", "GroupGraphPatternSubUnion"):  # an EXISTS, left as parsed
                node = translateGroupGraphPattern(node)
            if node.name == "BGP":
                for _s, p, _o in node.triples:
                    path(p)
            for key in list(node.keys()):  # node[key], not values(): an EXISTS's pattern is translated on access
                walk(node[key])
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)

    walk(algebra)
    return named, other


def test_the_predicate_reader_sees_variables_and_paths() -> None:
    named, other = _predicates("PREFIX bk: <https://e/> SELECT * WHERE { ?s bk:a/^bk:b ?o . ?o ?p ?x . "
                               "OPTIONAL { ?x bk:c* ?y } FILTER NOT EXISTS { ?y bk:d ?z } }")
    assert named == {"https://e/a", "https://e/b", "https://e/c", "https://e/d"}
    assert other == ["Variable p"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    root = tmp_path_factory.mktemp("projection")
    generate(200, root / "docs", seed=23, tables_per_doc=40, bond_every=50)
    return load_manifest(root / "docs" / "manifest.toml")


def _build(folder: Path, corpus: Manifest, settings: Settings, steps: list[Step]) -> EmbeddedStore:
    store = EmbeddedStore(folder)
    build(store, corpus.entries, settings, manifest=corpus, steps=steps)
    return store


def test_every_query_sent_to_the_projection_names_only_what_it_holds(
        tmp_path: Path, corpus: Manifest, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SPARQL text the steps send to the projection (a build with the audit, so with findings; then a build
    of the same store again), read by rdflib: each triple pattern names a predicate the projection holds."""
    sent: list[str] = []
    held: list[frozenset[NamedNode]] = []
    plain_query = EmbeddedStore.query

    def query(self: EmbeddedStore, sparql: str, **kw: Any) -> Any:
        if isinstance(self, ProjectedStore):
            sent.append(sparql)
            held.append(self.predicates)
        return plain_query(self, sparql, **kw)

    monkeypatch.setattr(EmbeddedStore, "query", query)
    store = _build(tmp_path / "store", corpus, settings, default_steps(findings=True))
    first = len(sent)
    build(store, corpus.entries, settings, manifest=corpus, steps=default_steps(findings=True))
    assert first > 20 and len(sent) > first  # both builds read their projection
    for sparql, predicates in zip(sent, held, strict=True):
        named, other = _predicates(sparql)
        assert not other, sparql
        assert named <= {p.value for p in predicates}, (sorted(named - {p.value for p in predicates}), sparql)


def _facet_view(table: facets.FacetTable) -> dict[object, object]:
    """What the facet table answers, by IRI and value (not by its row numbers, which follow the engine's scans)."""
    out: dict[object, object] = {}
    for kind in facets.KINDS:
        t = facets.tally(table, kind, {})
        out[kind] = (t.things, t.projects, t.budget_fen,
                     {f: {table.values[f][c]: n for c, n in t.counts[f].items()} for f in t.counts})
        every = np.ones(table.rows(kind), dtype=bool)
        for order in table.orders[kind]:
            out[kind, order] = facets.page(table, kind, order, every, 0, None)
        for facet, values in table.values.items():
            for value in sorted(values)[:6]:
                code = table.code(facet, value)
                assert code is not None
                chosen = facets.tally(table, kind, {facet: [code]})
                out[kind, facet, value] = (chosen.things, chosen.budget_fen, facets.page(
                    table, kind, next(iter(table.orders[kind])), chosen.mask, 0, 20))
    return out


def _answers(store: EmbeddedStore, table: answers.AnswerTable) -> list[bytes]:
    all_queries = queries.load_all(Settings.from_env(env={}).queries_dir)
    out = []
    for name, values in [("projects_by_threshold", {}), ("projects_by_threshold", {"min_value": "90"}),
                         ("projects_by_category", {}), ("projects_by_category", {"category": "满意度指标"}),
                         ("shared_goals_across_agencies", {}),
                         ("shared_goals_across_agencies", {"min_score": "0.5", "agency": "341"})]:
        q = all_queries[name]
        bindings = bound_values(store, q, dict(values))
        solved = answers.solve(table, name, bindings)
        assert solved is not None, (name, values)
        out.append(solved.serialize(format=QueryResultsFormat.CSV) or b"")
    return out


def test_a_build_reading_its_projection_makes_what_reading_the_store_makes(
        tmp_path: Path, corpus: Manifest, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same store byte for byte, the same kept answers byte for byte, and facet and answer tables that answer
    alike (their rows are numbered in the order the engine scans, which is not the same in memory). The projected
    build converts in two worker processes, which put the kept predicates' lines first, as the links graph's writer
    does: the projection takes those lines as they are."""
    taken: list[bool] = []
    lines_of = NQuads.lines_of

    def spied(self: NQuads, predicates: frozenset[NamedNode]) -> bytes | None:
        found = lines_of(self, predicates)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(NQuads, "lines_of", spied)
    projected = _build(tmp_path / "projected", corpus, replace(settings, workers=2), default_steps(findings=True))
    # every document's kept lines as its worker put them first, and the links graph's as its writer did
    assert taken == [True] * (len(corpus.entries) + 1)
    plain = _build(tmp_path / "plain", corpus, replace(settings, build_projection=False), default_steps(findings=True))
    assert projected.dump_sorted_nquads() == plain.dump_sorted_nquads()
    files = [kept.file_for(s, s.generation) for s in (projected, plain)]
    assert files[0] is not None and files[1] is not None
    assert files[0].read_bytes() == files[1].read_bytes()
    tables = [facets.stored(s) for s in (projected, plain)]
    assert tables[0] is not None and tables[1] is not None
    assert _facet_view(tables[0]) == _facet_view(tables[1])
    found = [answers.stored(s) for s in (projected, plain)]
    assert found[0] is not None and found[1] is not None
    assert _answers(projected, found[0]) == _answers(plain, found[1])


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kind of store each step's ``ctx.reader`` gives it, in the order asked."""
    found: list[str] = []
    plain_reader = kbuild.BuildContext.reader

    def reader(self: kbuild.BuildContext, step: Step) -> Any:
        given = plain_reader(self, step)
        found.append(type(given).__name__)
        return given

    monkeypatch.setattr(kbuild.BuildContext, "reader", reader)
    return found


def test_a_build_of_some_documents_reads_the_store(tmp_path: Path, corpus: Manifest, settings: Settings,
                                                   readers: list[str]) -> None:
    """Documents the build does not write would have to be copied into memory: the steps read the store instead,
    and make what they make from it."""
    store = _build(tmp_path / "store", corpus, settings, default_steps())
    assert set(readers) == {"ProjectedStore"}
    readers.clear()
    build(store, corpus.entries[:1], settings, manifest=corpus, steps=default_steps())
    assert readers and set(readers) == {"EmbeddedStore"}
    again = _build(tmp_path / "again", corpus, replace(settings, build_projection=False), default_steps())
    assert store.dump_sorted_nquads() == again.dump_sorted_nquads()


def test_a_sparql_update_in_the_build_leaves_the_projection_unread() -> None:
    """A change the projection cannot follow makes it stale: the steps read the store."""
    g, p = NamedNode("http://e/g"), NamedNode("http://e/p")
    store = EmbeddedStore(None)
    projection = Projection([p])
    with store.transaction() as tx:
        tx.mirror = projection
        tx.replace(g, [Quad(g, p, Literal("1"), g)])
        assert [term_value(q.object) for q in projection.reader().match(None, p)] == ["1"]
        tx.update("INSERT DATA { GRAPH <http://e/g> { <http://e/g> <http://e/p> '2' } }")
    assert projection.stale
    assert not projection.complete(store, lambda graphs: True)


def test_the_projection_follows_replaced_and_removed_graphs() -> None:
    """A graph replaced in the transaction shows its new content once swapped in, a removed one is gone, and only
    the kept predicates are held."""
    g, h, p, q = (NamedNode(f"http://e/{x}") for x in "ghpq")
    store = EmbeddedStore(None)
    with store.transaction() as tx:
        tx.replace(g, [Quad(g, p, Literal("old"), g)])
        tx.replace(h, [Quad(h, p, Literal("h"), h)])
    projection = Projection([p])
    assert projection.complete(store, lambda graphs: True)
    with store.transaction() as tx:
        tx.mirror = projection
        tx.replace(g, lambda target: [Quad(g, p, Literal("new"), target), Quad(g, q, Literal("x"), target)])
        staged = sorted(term_value(x.object) for x in projection.reader().match(None, p))
        assert staged == ["h", "old"]  # staged, not yet swapped in
        tx.remove(h)
        tx.publish()
        assert [term_value(x.object) for x in projection.reader().match(None, p)] == ["new"]
    assert sorted(term_value(x.object) for x in store.match(None, p)) == ["new"]
    with pytest.raises(Exception, match="holds no http://e/q"):
        list(projection.reader().match(None, q))


@given(st.lists(st.tuples(st.sampled_from(["new", "replace", "remove"]), st.integers(0, 3), st.integers(1, 30)),
                max_size=25))
@hsettings(max_examples=40, deadline=None, derandomize=True)
def test_loads_in_the_loading_thread_never_reorder_what_the_build_wrote(steps: list[tuple[str, int, int]]) -> None:
    """New graphs are loaded into the projection by a thread of its own while the build goes on (slowed down here, so
    that loads are queued): whatever the build writes, replaces and removes in between, the projection then holds
    exactly the store's quads of its predicates, and every load ran in that thread."""
    import time

    from kg.store import projection as module

    p, q = NamedNode("http://e/p"), NamedNode("http://e/q")
    graphs = [NamedNode(f"http://e/g{k}") for k in range(4)]
    projection = Projection([p])
    threads: list[str] = []
    load = Projection._load

    def slow(self: Projection, kept: Any) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(0.002)
        load(self, kept)

    store = EmbeddedStore(None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Projection, "_load", slow)
        mp.setattr(module, "QUEUED", 2)
        with store.transaction() as tx:
            tx.mirror = projection
            for n, (kind, k, size) in enumerate(steps):
                g = graphs[k]
                made = [Quad(g, p if i % 3 else q, Literal(f"{n}.{i}"), g) for i in range(size)]
                if kind == "remove":
                    tx.remove(g)
                elif kind == "new" and not store.has_graph(g) and g not in tx.created:
                    tx.replace(g, made)
                else:
                    tx.replace(g, lambda target, made=made: [Quad(x.subject, x.predicate, x.object, target)
                                                             for x in made])
                    tx.publish()
            held = sorted(str(x) for x in projection.reader().match(None, p))
    assert held == sorted(str(x) for x in store.match(None, p))
    assert all(name.startswith("projection") for name in threads)
    projection.close()


@pytest.mark.parametrize("split", ["every batch", "one batch not"])
def test_a_journaled_graph_reaches_the_projection_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         split: str) -> None:
    """A graph written in journaled batches (the links graph at scale) is mirrored batch by batch: the batches a
    writer made with the kept predicates first are taken as they are, another is filtered line by line, and the
    projection holds exactly the store's quads of its predicates."""
    from kg.links.ntriples import LinkQuads
    from kg.store import embedded, transaction

    monkeypatch.setattr(embedded, "ATOMIC_BULK_LIMIT", 3)
    monkeypatch.setattr(transaction, "JOURNALED_BATCH", 3)
    g, p, q = NamedNode("http://e/links"), NamedNode("http://e/p"), NamedNode("http://e/q")
    projection = Projection([p])
    store = EmbeddedStore(tmp_path / "store")
    taken: list[bool] = []
    lines_of = NQuads.lines_of
    monkeypatch.setattr(NQuads, "lines_of", lambda self, ps: taken.append(self.split >= 0) or lines_of(self, ps))
    with store.transaction() as tx:
        tx.mirror = projection
        writer = tx.writer(g)
        made = LinkQuads(g, sink=writer.add, chunk=2, first=writer.first)
        for i in range(9):
            made.add(f"<http://e/s{i}>", p if i % 3 else q, f'"{i}"')
            if split == "one batch not" and i == 4:
                writer.add(NQuads.of([Quad(NamedNode("http://e/x"), p, Literal("x"), g)]))  # in no order
        made.flush()
        writer.commit()
        held = sorted(str(x) for x in projection.reader().match(None, p))
    assert writer.journaled and taken and all(taken) == (split == "every batch")
    assert held == sorted(str(x) for x in store.match(None, p, None, g))
    assert len(held) == 6 + (split == "one batch not")
    store.close()


def test_the_projection_gives_way_when_the_address_space_runs_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Near the process's address-space limit the projection frees itself; the steps then read the store."""
    g, p = NamedNode("http://e/g"), NamedNode("http://e/p")
    projection = Projection([p])
    monkeypatch.setattr(Projection, "address_space", staticmethod(lambda: (70, 100)))
    store = EmbeddedStore(None)
    with store.transaction() as tx:
        tx.mirror = projection
        tx.replace(g, [Quad(g, p, Literal("1"), g)])
    assert projection.stale and len(projection.reader().raw) == 0
    assert not projection.complete(store, lambda graphs: True)
    roomy = Projection([p])
    monkeypatch.setattr(Projection, "address_space", staticmethod(lambda: (10, None)))
    assert roomy.complete(store, lambda graphs: True) and not roomy.stale


def test_a_build_short_of_memory_reads_the_store(tmp_path: Path, corpus: Manifest, settings: Settings,
                                                 readers: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Projection, "address_space", staticmethod(lambda: (1 << 40, 1 << 40)))
    short = _build(tmp_path / "short", corpus, settings, default_steps())
    assert readers and set(readers) == {"EmbeddedStore"}
    plain = _build(tmp_path / "plain", corpus, replace(settings, build_projection=False), default_steps())
    assert short.dump_sorted_nquads() == plain.dump_sorted_nquads()
