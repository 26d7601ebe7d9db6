"""The facet table (kg.facets) counts what the SPARQL of faceted browsing counts, page for page.

Every view is run twice through :class:`server.catalogue.CatalogueJob`, counted with SPARQL (the reference)
and from the table, on the seeds built with their findings, in memory and on disk (where the build keeps
the table beside the store); then the store is written and the counts follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from pyoxigraph import NamedNode

from kg import facets
from kg.namespaces import DCTERMS, PREFIXES
from kg.pipeline import build, default_steps
from kg.settings import Settings
from kg.sources import Manifest
from kg.store import EmbeddedStore, GraphStore
from server import catalogue, jobs
from server.catalogue import CatalogueJob, CatalogueView, Selection
from server.jobs import Context, DescribeJob, _agency_by_table, _unit_links, agency_summary, facet_table

VIEWS: list[tuple[str, dict[str, list[str]]]] = [
    ("projects", {}),
    ("projects", {"department": ["341"]}),
    ("projects", {"department": ["341"], "funding": ["central"]}),
    ("projects", {"funding": ["none"], "sort": ["name"], "size": ["25"], "page": ["2"]}),
    ("projects", {"funding": ["none", "central"], "sort": ["unit"]}),
    ("projects", {"level1": ["output"], "rule": ["TimelinessAsRate"]}),
    ("projects", {"level2": ["output-cost", "outcome-social"], "sort": ["budget_asc"]}),
    ("projects", {"year": ["2024"], "unit": ["341101"], "sort": ["name"]}),
    ("projects", {"rule": ["CostNotMonetary", "NameIsCategoryHeading"], "page": ["2"], "size": ["25"]}),
    ("projects", {"q": ["系统"]}),
    ("projects", {"department": ["999"]}),
    ("indicators", {}),
    ("indicators", {"department": ["341"], "level2": ["output-cost"]}),
    ("indicators", {"rule": ["CostNotMonetary"], "sort": ["name"]}),
    ("indicators", {"funding": ["none"], "page": ["3"], "level1": ["output", "cost"]}),
    ("indicators", {"q": ["率"], "year": ["2024"], "sort": ["name"], "page": ["2"]}),
]


def _built(store: GraphStore, settings: Settings, manifest: Manifest) -> GraphStore:
    build(store, manifest.entries, settings, manifest=manifest, steps=default_steps(findings=True))
    return store


@pytest.fixture(scope="module")
def stores(settings: Settings, manifest: Manifest, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[dict[str, GraphStore]]:
    on_disk = EmbeddedStore(tmp_path_factory.mktemp("facets") / "store")
    yield {"memory": _built(EmbeddedStore(None), settings, manifest),
           "disk": _built(on_disk, settings, manifest)}
    on_disk.close()


def both(ctx: Context, sel: Selection, settings: Settings, *, export: bool = False) -> tuple[CatalogueView, ...]:
    by_sparql = CatalogueJob(sel, settings.base_iri, export=export, table=False).run(ctx)
    by_table = CatalogueJob(sel, settings.base_iri, export=export).run(ctx)
    return by_sparql, by_table


def assert_same(a: CatalogueView, b: CatalogueView) -> None:
    assert (a.total, a.projects) == (b.total, b.projects)
    assert a.budget_wanyuan == b.budget_wanyuan and str(a.budget_wanyuan) == str(b.budget_wanyuan)
    assert a.facets == b.facets
    assert a.columns == b.columns and a.rows == b.rows and a.truncated == b.truncated


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_table_counts_pages_and_totals_equal_sparql(stores: dict[str, GraphStore], where: str,
                                                     settings: Settings) -> None:
    ctx = Context(stores[where], settings)
    assert CatalogueJob.facet_table(ctx) is not None  # the table is what the second run counts with
    seen_rules = False
    for kind, params in VIEWS:
        a, b = both(ctx, Selection.from_params(params, kind), settings)
        assert_same(a, b)
        seen_rules |= any(v.count for v in a.facets["rule"])
    assert seen_rules  # the findings were built: the rule facet was compared with counts in it
    a, _ = both(ctx, Selection.from_params({}, "projects"), settings)
    assert any(v.value == "none" and v.count for v in a.facets["funding"])
    assert any(v.count > 1 for v in a.facets["level1"])


@pytest.mark.parametrize("kind,params", [("projects", {"department": ["341"], "sort": ["unit"]}),
                                         ("indicators", {"level1": ["cost"]})])
def test_table_exports_equal_sparql(stores: dict[str, GraphStore], settings: Settings, kind: str,
                                    params: dict[str, list[str]]) -> None:
    ctx = Context(stores["disk"], settings)
    a, b = both(ctx, Selection.from_params(params, kind), settings, export=True)
    assert a.rows and not a.truncated
    assert_same(a, b)


def test_build_keeps_the_table_for_the_generation_it_publishes(stores: dict[str, GraphStore]) -> None:
    store = stores["disk"]
    assert store.path is not None
    kept = facets.stored(store)
    assert kept is not None and kept.generation == store.generation
    kept_files = [p.name for p in store.path.glob(f"{facets.FILE_PREFIX}*")]
    assert kept_files == [f"{facets.FILE_PREFIX}{store.generation}.npz"]
    assert facets.stored(stores["memory"]) is None  # a store in memory keeps none: it is read


def test_facet_value_labels_come_from_the_table(stores: dict[str, GraphStore], settings: Settings,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The labels a page shows beside each facet value are the table's (no labels query per page), and SPARQL's."""
    ctx = Context(stores["disk"], settings)
    table = CatalogueJob.facet_table(ctx)
    assert table is not None and table.labels
    views = [Selection.from_params(params, kind) for kind, params in VIEWS]
    by_sparql = [CatalogueJob(sel, settings.base_iri, table=False).run(ctx) for sel in views]

    def no_query(terms: object) -> str:
        raise AssertionError("a labels query on the facet-table path")

    monkeypatch.setattr(catalogue, "labels_query", no_query)
    for sel, a in zip(views, by_sparql, strict=True):
        assert_same(a, CatalogueJob(sel, settings.base_iri).run(ctx))
    department = next(v for v in by_sparql[0].facets["department"] if v.value == "341")
    assert department.label != "341" and any(v.label_en for f in by_sparql[0].facets.values() for v in f)


def _agencies(store: GraphStore) -> list[NamedNode]:
    rows = store.query("SELECT DISTINCT ?a WHERE { { ?a a bk:BudgetUnit } UNION { ?a a bk:Department } } ORDER BY ?a",
                       prefixes=PREFIXES)
    return [r["a"] for r in rows]


def test_agency_pages_from_the_table_equal_sparql(stores: dict[str, GraphStore], settings: Settings) -> None:
    """Every budget unit's and department's page head: totals, projects listed, findings and partners counted
    from the build's table are what the SPARQL path reads."""
    store = stores["disk"]
    ctx = Context(store, settings)
    table = facet_table(ctx, read=False)
    assert table is not None and table.agencies is not None
    agencies = _agencies(store)
    assert any(a.value.endswith("/341") for a in agencies) and len(agencies) > 5
    seen = {"partners": False, "findings": False, "years": False}
    for node in agencies:
        by_sparql = agency_summary(ctx, node, table=False)
        by_table = agency_summary(ctx, node)
        assert by_table == by_sparql, node
        assert _agency_by_table(ctx, table, type(by_sparql)(), [node], {node.value})
        seen["partners"] |= bool(by_sparql.partners)
        seen["findings"] |= bool(by_sparql.findings)
        seen["years"] |= len(by_sparql.by_year) > 1
    assert all(seen.values()), seen


def test_department_pages_from_what_the_worker_keeps_equal_sparql(stores: dict[str, GraphStore],
                                                                  settings: Settings) -> None:
    """A department's page head, read again (its listed projects read from the table's listing, its partners added up
    from the unit-to-unit link counts kept with the table) and through the entity page's job, is what SPARQL reads."""
    store = stores["disk"]
    ctx = Context(store, settings)
    table = facet_table(ctx, read=False)
    assert table is not None and _unit_links(table) is not None
    departments = [a for a in _agencies(store) if len(a.value.rsplit("/", 1)[-1]) == 3]
    assert departments
    for node in departments:
        by_sparql = agency_summary(ctx, node, table=False)
        assert agency_summary(ctx, node) == by_sparql, node
        assert agency_summary(ctx, node) == by_sparql, node
        page = DescribeJob(node.value).run(ctx)
        assert page.agency == by_sparql, node
    assert any(agency_summary(ctx, node, table=False).partners for node in departments)


def test_entity_page_names_from_the_table_are_the_stores(stores: dict[str, GraphStore], settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The names the build's table keeps for entity pages (budget units, departments, funding sources, categories,
    served units, documents) are what a look-up in the store gives, and a department's page names its units and
    documents from them, no look-up each."""
    store = stores["disk"]
    ctx = Context(store, settings)
    table = facet_table(ctx, read=False)
    assert table is not None and table.page_labels is not None
    named = 0
    for iri in table.page_labels:
        assert (table.page_labels[iri] or None) == jobs._label(store, NamedNode(iri)), iri
        named += bool(table.page_labels[iri])
    assert named > 5 and any(i.endswith("/341") for i in table.page_labels)
    department = NamedNode(settings.base_iri + "agency/341")
    by_lookup = DescribeJob(department.value).run(_no_table(store, settings))
    looked_up: list[str] = []
    real = jobs._label

    def counted(s: GraphStore, term: NamedNode) -> str | None:
        looked_up.append(term.value)
        return real(s, term)

    monkeypatch.setattr(jobs, "_label", counted)
    page = DescribeJob(department.value).run(Context(store, settings))
    assert page.labels == by_lookup.labels
    units = {s for s, p, _ in page.incoming if p == jobs.ORG_SUB.value and s in table.page_labels}  # budget units
    assert len(units) > 3 and not units & set(looked_up)
    documents = {s for s, p, _ in page.incoming if p == DCTERMS.publisher.value}  # the department's documents
    assert documents and documents <= set(table.page_labels) and not documents & set(looked_up)


def test_an_agencys_sub_organizations_in_the_table_are_the_stores(stores: dict[str, GraphStore],
                                                                  settings: Settings) -> None:
    """The table's sub-organizations of every agency (a department's units) are the subjects of
    ``org:subOrganizationOf`` it in the store, and an agency with none has no entry."""
    store = stores["disk"]
    table = facet_table(Context(store, settings), read=False)
    assert table is not None and table.sub_organizations is not None
    with_units = 0
    for node in _agencies(store):
        found = sorted({q.subject.value for q in store.match(None, jobs.ORG_SUB, node)
                        if isinstance(q.subject, NamedNode)})
        assert table.sub_organizations.get(node.value, []) == found, node
        with_units += bool(found)
    assert with_units >= 3 and len(table.sub_organizations) == with_units


def test_a_page_past_the_incoming_limit_counts_the_rest(stores: dict[str, GraphStore], settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Past :data:`~server.jobs.MAX_INCOMING` links a page reads no more of them: it lists the same first ones,
    gives the same total (counted by the engine) and the same agency summary (its units from the table) as reading
    every one."""
    store = stores["disk"]
    departments = [a for a in _agencies(store) if len(a.value.rsplit("/", 1)[-1]) == 3]
    counted = 0
    for node in departments:
        whole = DescribeJob(node.value).run(Context(store, settings))
        assert whole.incoming_total == len(list(store.match(object=node))) and whole.incoming_total < jobs.MAX_INCOMING
        monkeypatch.setattr(jobs, "MAX_INCOMING", 3)
        cut = DescribeJob(node.value).run(Context(store, settings))
        monkeypatch.undo()
        assert cut.incoming == whole.incoming[:3] and cut.incoming_total == whole.incoming_total, node
        assert cut.agency == whole.agency and cut.agency is not None, node
        counted += whole.incoming_total > 3
    assert counted >= 3


def test_an_agency_page_shows_its_own_source_lines(stores: dict[str, GraphStore], settings: Settings) -> None:
    """An agency's page reads only its own source lines and documents: what the nearest projects' lines would add is
    what the page left out before it stopped reading them."""
    store = stores["disk"]
    ctx = Context(store, settings)
    shown = 0
    for node in _agencies(store):
        page = DescribeJob(node.value).run(ctx)
        nearby = jobs.EntityView(page.iri, True, incoming=page.incoming)
        DescribeJob(node.value)._sources(ctx, node, nearby)
        assert page.sources == [s for s in nearby.sources if s[5] is None], node
        assert page.documents == nearby.documents, node
        shown += bool(page.documents or page.sources)
    assert shown > 5


def _no_table(store: GraphStore, settings: Settings) -> Context:
    """A context whose names are all looked up in the store."""
    ctx = Context(store, settings)
    ctx.per_generation("labels", lambda: jobs.KnownLabels(store))
    return ctx


def test_names_are_read_again_after_a_write(settings: Settings) -> None:
    """A worker keeps the names it read for the store's generation only: a write is never answered with the old."""
    store = EmbeddedStore(None)
    store.update('INSERT DATA { GRAPH <http://x.example/g> { <http://x.example/a> rdfs:label "旧"@zh } }',
                 prefixes=PREFIXES)
    ctx = Context(store, settings)
    assert ctx.labels()("http://x.example/a") == "旧"
    assert ctx.labels()("http://x.example/a") == "旧"
    store.update('DELETE DATA { GRAPH <http://x.example/g> { <http://x.example/a> rdfs:label "旧"@zh } } ;'
                 'INSERT DATA { GRAPH <http://x.example/g> { <http://x.example/a> rdfs:label "新"@zh } }',
                 prefixes=PREFIXES)
    assert ctx.labels()("http://x.example/a") == "新"


_LABELS = st.lists(st.tuples(st.sampled_from(["rdfs:label", "skos:prefLabel", "skos:notation"]),
                             st.sampled_from(["zh", "en", "", "fr", "zh-hant"]), st.sampled_from("甲乙ab")),
                   max_size=6)


@settings_(max_examples=60, deadline=None)
@given(_LABELS)
def test_a_name_is_the_same_read_either_way(labels: list[tuple[str, str, str]]) -> None:
    """An entity page's name for a thing is the same looked up quad by quad (a page) and read in bulk with the
    facet labels' query (the build's table): whatever labels, languages and properties it has."""
    store = EmbeddedStore(None)
    thing = "http://x.example/a"
    if labels:
        body = " ".join(f'<{thing}> {p} "{v}"{"@" + lang if lang else ""} .' for p, lang, v in labels)
        store.update(f"INSERT DATA {{ GRAPH <http://x.example/g> {{ {body} }} }}", prefixes=PREFIXES)
    _, page = facets.read_labels(store, [thing])
    assert (page[thing] or None) == jobs._label(store, NamedNode(thing))


def test_agency_pages_after_a_write_read_sparql(settings: Settings, manifest: Manifest,
                                                tmp_path: Path) -> None:
    """A write leaves the build's table behind: agency pages read SPARQL, and say what the store now holds."""
    store = _built(EmbeddedStore(tmp_path / "store"), settings, manifest)
    try:
        ctx = Context(store, settings)
        node = NamedNode(settings.base_iri + "agency/341")
        before = agency_summary(ctx, node)
        assert facet_table(ctx, read=False) is not None
        store.update("DELETE WHERE { GRAPH ?g { ?p bk:fundingSource bkfund:central } }", prefixes=PREFIXES)
        ctx.refresh()
        assert facet_table(ctx, read=False) is None
        after = agency_summary(ctx, node)
        assert after == agency_summary(ctx, node, table=False)
        assert after.total == before.total and after.by_funding != before.by_funding
        assert "中央" in dict(before.by_funding) and "中央" not in dict(after.by_funding)
    finally:
        store.close()


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_a_write_changes_the_counts(stores: dict[str, GraphStore], where: str, settings: Settings) -> None:
    """After a write (a new generation) the counts are the new store's: no table of the old one answers."""
    store = stores[where]
    ctx = Context(store, settings)
    sel = Selection.from_params({"department": ["341"]}, "projects")
    before = CatalogueJob(sel, settings.base_iri).run(ctx)
    central = next(v.count for v in before.facets["funding"] if v.value == "central")
    store.update("DELETE WHERE { GRAPH ?g { ?p bk:fundingSource bkfund:central } }", prefixes=PREFIXES)
    assert facets.stored(store) is None  # the kept table is of the generation before
    ctx.refresh()
    a, b = both(ctx, sel, settings)
    assert_same(a, b)
    assert not any(v.value == "central" and v.count for v in b.facets["funding"])
    unfunded = next((v.count for v in before.facets["funding"] if v.value == "none"), 0)
    assert next(v.count for v in b.facets["funding"] if v.value == "none") > unfunded
    assert central > 0 and b.total == before.total


def test_unsupported_store_is_counted_with_sparql(settings: Settings, manifest: Manifest) -> None:
    """An indicator of two projects cannot be one row: the job counts with SPARQL, and says the same."""
    store = EmbeddedStore(None)
    build(store, manifest.entries[:1], settings, manifest=manifest)
    store.update("INSERT { GRAPH ?g { ?i bk:ofProject ?q } } WHERE { "
                 "{ SELECT ?i ?g WHERE { GRAPH ?g { ?i a bk:Indicator } } ORDER BY ?i LIMIT 1 } "
                 "{ SELECT ?q WHERE { GRAPH ?h { ?q a bk:Project } } ORDER BY DESC(?q) LIMIT 1 } }",
                 prefixes=PREFIXES)
    with pytest.raises(facets.Unsupported):
        facets.read(store)
    ctx = Context(store, settings)
    assert CatalogueJob.facet_table(ctx) is None
    a, b = both(ctx, Selection.from_params({}, "indicators"), settings)
    assert_same(a, b)


def test_kept_table_file_round_trips(stores: dict[str, GraphStore], tmp_path: Path) -> None:
    table = facets.read(stores["memory"])
    facets.save(table, tmp_path / "t.npz")
    again = facets.load(tmp_path / "t.npz")
    assert again.values == table.values and again.project_iris.all() == table.project_iris.all()
    assert again.labels == table.labels and table.labels
    assert table.sub_organizations is not None and again.sub_organizations is not None and table.sub_organizations
    assert dict(again.sub_organizations) == dict(table.sub_organizations)
    assert table.single is not None and again.single is not None and again.single.tolist() == table.single.tolist()
    assert table.agencies is not None and again.agencies is not None
    assert again.agencies.units == table.agencies.units and again.agencies.rules == table.agencies.rules
    assert again.agencies.link_score.tolist() == pytest.approx(table.agencies.link_score.tolist(), nan_ok=True)
    assert again.agencies.link_from.codes.tolist() == table.agencies.link_from.codes.tolist()
    for kind in facets.KINDS:
        for name in facets.ORDERS[kind]:
            assert again.orders[kind][name].tolist() == table.orders[kind][name].tolist()


def test_listed_projects_come_from_the_table(stores: dict[str, GraphStore], settings: Settings,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A department's listed projects (name, unit code and name, year, budget and funding as written) are read from
    the table's listing columns, no SPARQL, and are what SPARQL reads."""
    store = stores["disk"]
    ctx = Context(store, settings)
    table = facet_table(ctx)  # the build's, or read at the store's generation (a test before may have written)
    assert table is not None and table.listing is not None and table.listing.single.all()
    departments = [a for a in _agencies(store) if len(a.value.rsplit("/", 1)[-1]) == 3]
    by_sparql = {node: agency_summary(ctx, node, table=False) for node in departments}

    def no_sparql(*_: object) -> None:
        raise AssertionError("the listed projects were read with SPARQL")

    monkeypatch.setattr(jobs, "_listed_rows", no_sparql)
    for node in departments:
        by_table = agency_summary(ctx, node)
        assert by_table.projects == by_sparql[node].projects and by_table.projects, node
        assert all(p["name"] for p in by_table.projects)
        assert any(p["budget"] and p["unit_code"] and p["unit_name"] and p["year"] for p in by_table.projects)


def test_kept_listing_round_trips(stores: dict[str, GraphStore], tmp_path: Path) -> None:
    table = facets.read(stores["memory"])
    facets.save(table, tmp_path / "t.npz")
    again = facets.load(tmp_path / "t.npz")
    assert table.listing is not None and again.listing is not None
    rows = list(range(len(table.project_iris)))
    assert again.listing.rows(rows) == table.listing.rows(rows)
    assert again.listing.single.tolist() == table.listing.single.tolist()


def test_listed_projects_after_a_write_read_sparql(settings: Settings, manifest: Manifest, tmp_path: Path) -> None:
    """A project renamed, or given a second name: the page lists what the store holds now (the build's table is of
    the generation before; a table read again marks the project with two names, whose row SPARQL reads)."""
    store = _built(EmbeddedStore(tmp_path / "store"), settings, manifest)
    try:
        ctx = Context(store, settings)
        node = NamedNode(settings.base_iri + "agency/341")
        before = agency_summary(ctx, node)
        first = str(before.projects[0]["project"])
        store.update(f"DELETE {{ GRAPH ?g {{ <{first}> rdfs:label ?n }} }} INSERT {{ GRAPH ?g {{ <{first}> rdfs:label "
                     f'"改名的项目"@zh }} }} WHERE {{ GRAPH ?g {{ <{first}> rdfs:label ?n }} }}', prefixes=PREFIXES)
        ctx.refresh()
        assert facet_table(ctx, read=False) is None
        after = agency_summary(ctx, node)
        assert after == agency_summary(ctx, node, table=False)
        assert after.projects[0]["name"] == "改名的项目" and before.projects[0]["name"] != "改名的项目"
        extra = f"{settings.base_iri}graph/extra"
        store.update(f'INSERT DATA {{ GRAPH <{extra}> {{ <{first}> rdfs:label "又一个名字"@zh }} }}', prefixes=PREFIXES)
        ctx.refresh()
        table = facet_table(ctx)  # read from the store at this generation
        assert table is not None and table.listing is not None
        row = table.row_of("projects", f"<{first}>")
        assert row is not None and not table.listing.single[row]
        assert agency_summary(ctx, node) == agency_summary(ctx, node, table=False)
    finally:
        store.close()


def test_a_worker_loads_the_tables_the_build_kept_before_its_first_job(stores: dict[str, GraphStore],
                                                                       settings: Settings, manifest: Manifest,
                                                                       tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """:meth:`server.jobs.Context.load_tables` holds the facet, answer and kept tables of the store's generation, the
    ones the jobs would load; a store in memory, which keeps none, is not read for them."""
    from kg import answers, kept

    with EmbeddedStore(tmp_path / "store") as written:  # built alone: the module's other tests write theirs
        _built(written, settings, manifest)
    built = EmbeddedStore(tmp_path / "store", read_only=True)
    ctx = Context(built, settings)
    assert ctx.kept("facets") is None and ctx.kept("answers") is None and ctx.kept("kept") is None
    ctx.load_tables()
    generation = built.generation
    for name, table in (("facets", ctx.kept("facets")), ("answers", ctx.kept("answers")), ("kept", ctx.kept("kept"))):
        assert table is not None and getattr(table, "generation", None) == generation, name
    counted = ctx.kept("facets")
    assert isinstance(counted, facets.FacetTable) and "unit links" in counted.memo  # the agency pages' partners

    def no_read(store: object) -> None:
        raise AssertionError("the store was read for a facet table")

    monkeypatch.setattr(facets, "current", no_read)
    memory = Context(stores["memory"], settings)
    memory.load_tables()
    assert memory.kept("facets") is None and answers.stored(stores["memory"]) is None
    assert kept.stored(stores["memory"]) is None
