"""The structural check of ``budgetkg build`` finds what validating every constraint finds.

The check runs in a scratch store of its own and skips the rules whose targets have no focus node
(:func:`kg.shapes.sparql_engine.run_sparql` with ``private``); these tests compare its findings, every
field of them, with those of running every constraint, on the structural fixtures, on the seed
documents and on seed documents broken at random (quads dropped, nodes retyped, values replaced).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, parse

from kg.build import convert
from kg.iris import Iris
from kg.namespaces import RDF
from kg.shapes import StructuralCheck, structural_check

from .helpers import DATA

FIXTURES = DATA / "shapes" / "structure"
BK = "https://budgetkg.example.org/def/"
#: Classes the structural shapes target (and two they do not), for retyping nodes.
CLASSES = [NamedNode(BK + c) for c in (
    "Agency", "AuditFinding", "AuditRule", "BudgetUnit", "Comparator", "Contract", "Department",
    "FundingAllocation", "Goal", "Indicator", "IndicatorCategory", "MonetaryAmount", "Project", "SourceDocument",
    "SpecialBondProject", "SupersededVersion", "Target", "Vendor", "ValueKind", "Link")]
LINE_START = NamedNode(BK + "lineStart")
XSD = "http://www.w3.org/2001/XMLSchema#"
#: Values put in place of others: wrong datatypes, languages, signs, nodes.
VALUES = [Literal("-1", datatype=NamedNode(XSD + "decimal")), Literal("x", language="en"), Literal("2"),
          Literal("3", datatype=NamedNode(XSD + "integer")), Literal("ab", datatype=NamedNode(XSD + "decimal")),
          NamedNode("http://example.org/elsewhere"), NamedNode(BK + "Project")]


@pytest.fixture(scope="module")
def check(settings) -> StructuralCheck:
    return structural_check(settings)


@pytest.fixture(scope="module")
def seeds(settings, manifest) -> list[tuple[str, list[Quad]]]:
    iris = Iris(settings.base_iri)
    out = []
    for entry in manifest.entries:
        _, quads = convert(entry, iris, iris.graph(entry.file), None)
        out.append((entry.file, quads))
    return out


def assert_same(check: StructuralCheck, quads: list[Quad], name: str) -> None:
    fast = check.report(quads, name)
    full = check.report(quads, name, private=False)
    assert fast.findings == full.findings
    assert fast.focus_nodes == full.focus_nodes


@pytest.mark.parametrize("name", ["valid", "bad-unit-code", "bad-category"])
def test_the_check_finds_what_every_constraint_finds_on_the_fixtures(check, name: str) -> None:
    quads = list(parse(path=str(FIXTURES / f"{name}.ttl"), format=RdfFormat.TURTLE))
    assert_same(check, quads, name)
    if name != "valid":
        assert check.report(quads, name).violations


def test_the_check_finds_what_every_constraint_finds_on_the_seeds(check, seeds) -> None:
    for name, quads in seeds:
        assert_same(check, quads, name)


@st.composite
def broken(draw: st.DrawFn, seeds: list[tuple[str, list[Quad]]]) -> tuple[str, list[Quad]]:
    """A seed document with some quads dropped, some nodes retyped or typed twice, some values replaced."""
    name, quads = draw(st.sampled_from(seeds))
    quads = list(quads)
    n = len(quads)
    index = st.integers(0, n - 1)
    for i in sorted(set(draw(st.lists(index, max_size=40))), reverse=True):
        del quads[i]
    typed = [i for i, q in enumerate(quads) if q.predicate == RDF.type]
    for i in draw(st.lists(st.sampled_from(typed), max_size=6)):
        q = quads[i]
        quads[i] = Quad(q.subject, q.predicate, draw(st.sampled_from(CLASSES)), q.graph_name)
    for i in draw(st.lists(st.integers(0, len(quads) - 1), max_size=6)):
        q = quads[i]
        quads.append(Quad(q.subject, RDF.type, draw(st.sampled_from(CLASSES)), q.graph_name))
    for i in draw(st.lists(st.integers(0, len(quads) - 1), max_size=8)):
        q = quads[i]
        if q.predicate not in (RDF.type, LINE_START):  # a finding is located at its bk:lineStart, read as a number
            quads[i] = Quad(q.subject, q.predicate, draw(st.sampled_from(VALUES)), q.graph_name)
    return name, quads


def test_the_check_finds_what_every_constraint_finds_on_broken_documents(check, seeds) -> None:
    @hsettings(max_examples=30, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(broken(seeds))
    def same(doc: tuple[str, list[Quad]]) -> None:
        name, quads = doc
        assert_same(check, quads, name)

    same()


def test_a_document_of_one_class_skips_the_rules_of_the_others(check, seeds) -> None:
    """Retyping every project as a superseded version (a rule with no focus node in any seed) is found."""
    name, quads = seeds[0]
    retyped = [Quad(q.subject, q.predicate, NamedNode(BK + "SupersededVersion"), q.graph_name)
               if q.predicate == RDF.type and q.object == NamedNode(BK + "Project") else q for q in quads]
    report = check.report(retyped, name)
    assert "SupersededVersionShape" in {f.rule_name for f in report.findings}
    assert_same(check, retyped, name)


def test_the_check_pickles_and_still_checks(check, seeds) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(check))
    name, quads = seeds[0]
    assert copy.report(quads, name).findings == check.report(quads, name).findings
    assert Path(copy.settings.shapes_dir) == Path(check.settings.shapes_dir)


def test_a_line_that_is_no_number_is_reported_not_raised(check: StructuralCheck,
                                                         seeds: list[tuple[str, list[Quad]]]) -> None:
    """A ``bk:lineStart`` that is no whole number is a finding of the check (located on no line), not a crash of it."""
    name, quads = seeds[0]
    at = next(i for i, q in enumerate(quads) if q.predicate == LINE_START)
    q = quads[at]
    broken = [*quads[:at], Quad(q.subject, q.predicate, Literal("第七行"), q.graph_name), *quads[at + 1:]]
    report = check.report(broken, name)
    about = [f for f in report.violations if f.focus == q.subject and f.path_iri == LINE_START.value]
    assert about and all(f.line is None for f in about)
    assert_same(check, broken, name)
