"""The analytics graph: what analysts aggregate, computed once per build, as RDF they can query too.

Some named queries aggregate the whole store on every request: the budget of every department,
unit and funding source (``budget_by_agency``, ``funding_sources``), every shared-goal link with the labels
of its concepts (``shared_goals_across_agencies``), the agencies ranked by such links
(``agencies_by_shared_goals``). Their answers only change when the store does, so the build's analytics
step (:class:`kg.pipeline.AnalyticsStep`, after the links, before the summaries) writes what they
aggregate into one graph,
:attr:`kg.iris.Iris.analytics_graph`:

* **The budget cube** (the W3C Data Cube shape OpenBudgets.eu uses): one ``qb:Observation``
  (``bk:BudgetObservation``) per department, budget unit and funding source, with the unit subtotals,
  the department totals and the grand total as observations of their own level (``bk:aggregationLevel``
  ``source``/``unit``/``department``/``total``). The dimensions are ``bk:departmentDimension``,
  ``bk:budgetUnitDimension`` (with ``bk:budgetUnitNameDimension``) and ``bk:fundingDimension``; the
  measures ``bk:projectsMeasure``, ``bk:budgetMeasure``, ``bk:fiscalFundsMeasure`` and
  ``bk:otherFundsMeasure`` (万元). They are the rows the plain
  ``budget_by_agency`` query answers over the whole store (it is run once, here): an observation
  holds exactly the terms the query returned, so reading it answers exactly what the query would.

* **Whole answers** of some named queries with every parameter at its "all" value (:data:`ANSWERS`:
  ``funding_sources``, ``funding_mix_by_department``, ``findings_by_agency``, ``agencies_by_shared_goals``
  with ``min_score`` 0): a ``bk:KeptAnswer`` with what its fast form's ``#+ when:`` needs (the smallest
  link score), and each row a ``bk:AnswerRow``
  (``bk:answerOf`` the query's name, ``bk:rowNumber`` its place in the answer) with one ``bkcol:<variable>``
  per column, holding the term the query returned.

* **Budget unit code prefixes**: every prefix of each project's budget unit code (``bk:unitCodePrefix``:
  ``""``, ``"3"``, ``"34"`` … ``"341101"``), so the projects of a department or unit code prefix are one
  lookup (``projects_of_agency``).

What the links step writes for the same purpose is in the links graph itself (written with the links,
so never out of step with them): every cross-agency bk:SharedGoalLink carries its concept labels and
matched goal phrases as one text each (``bk:sharedConceptLabels``, ``bk:matchedPhrases``, sorted, separated
by " | ").
SPARQL leaves the order of a ``GROUP_CONCAT`` undefined; these texts are sorted, so the same store always
answers the same text.

**The rule** is the summaries' (:mod:`kg.summaries`): the graph is written in the build's transaction,
and a named query reads it (its ``queries/fast/NAME.rq`` form) only when the summaries stamp says the
store is at the generation the build published (:func:`kg.summaries.current`). After any other write
(``/update``, ``budgetkg link``, a contracts import) the named queries answer from the plain text in
``queries/NAME.rq`` until the next build, slower but never stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pyoxigraph import Literal, NamedNode, Quad, QuerySolutions

from . import queries
from .iris import Iris, digest
from .namespaces import BK, COLUMN, QB, RDF, XSD, sparql_prefixes
from .store import GraphStore, Transaction, joined, solutions
from .store.protocol import Object

#: Named queries whose whole answer (every parameter at its "all" value, "") the build keeps: their fast
#: forms choose rows from it where the parameters only choose rows, and read it as it is where they
#: would change it (then only for the "all" values: ``#+ all:`` in the fast form, kg.queries.NamedQuery.fast_all).
ANSWERS: dict[str, dict[str, Literal]] = {
    "funding_sources": {}, "funding_mix_by_department": {}, "findings_by_agency": {},
    # every link counts when min_score is 0 (and when it is at most the smallest score: the fast form's ASK)
    "agencies_by_shared_goals": {"min_score": Literal("0", datatype=XSD.decimal)},
}
#: Columns of a kept answer that list values (GROUP_CONCAT, column → separator). SPARQL leaves the order inside such
#: a list to the engine, so a kept list is sorted: the analytics graph is the same whichever engine built it.
LISTS: dict[str, dict[str, str]] = {"findings_by_agency": {"rules": ", "}}
#: Facts about a kept answer that its fast form's ``#+ when:`` ASK reads: (property, SELECT of ``?value``).
ANSWER_FACTS: dict[str, list[tuple[NamedNode, str]]] = {
    "agencies_by_shared_goals": [(BK.smallestScore, sparql_prefixes(["bk"]) + """
        SELECT (MIN(?score) AS ?value) WHERE { ?link a bk:SharedGoalLink ; bk:crossAgency true ; bk:score ?score }""")],
}
#: The columns of budget_by_agency's rows an observation keeps (the parameter column aside).
CUBE_COLUMNS = {
    "level": BK.aggregationLevel, "dept": BK.departmentDimension, "unit_code": BK.budgetUnitDimension,
    "unit_name": BK.budgetUnitNameDimension, "funding": BK.fundingDimension, "projects": BK.projectsMeasure,
    "budget_wanyuan": BK.budgetMeasure, "fiscal_wanyuan": BK.fiscalFundsMeasure, "other_wanyuan": BK.otherFundsMeasure,
}


def _budget_rows(store: GraphStore, queries_dir: Path) -> list[dict[str, Object]]:
    q = queries.get(queries_dir, "budget_by_agency")  # the named query defines the cube's rows
    result = store.query(q.sparql, name="analytics", substitutions={"department": Literal("")})
    assert isinstance(result, QuerySolutions)
    names = [v.value for v in result.variables]
    return [{n: sol[n] for n in names if sol[n] is not None} for sol in result]


def cube_quads(rows: list[dict[str, Object]], iris: Iris, graph: NamedNode) -> Iterator[Quad]:
    """The budget cube's observations for ``rows`` of budget_by_agency (department = all)."""
    cube = iris.budget_cube
    yield Quad(cube, RDF.type, QB.DataSet, graph)
    yield Quad(cube, QB.structure, BK.BudgetCubeStructure, graph)
    for row in rows:
        key = "\x1f".join(str(row.get(c, "")) for c in ("level", "dept", "unit_code", "unit_name", "funding"))
        obs = iris.observation(digest(key, 20))
        yield Quad(obs, RDF.type, BK.BudgetObservation, graph)
        yield Quad(obs, QB.dataSet, cube, graph)
        for column, prop in CUBE_COLUMNS.items():
            term = row.get(column)
            if term is not None:
                yield Quad(obs, prop, term, graph)


def answer_quads(store: GraphStore, iris: Iris, graph: NamedNode, queries_dir: Path) -> Iterator[Quad]:
    """The whole answers of the :data:`ANSWERS` queries, one bk:AnswerRow per row, in the query's order."""
    for name, values in ANSWERS.items():
        q = queries.get(queries_dir, name)
        everything = {p.name: values.get(p.name, Literal("")) for p in q.params}
        answer = iris.answer(name)
        yield Quad(answer, RDF.type, BK.KeptAnswer, graph)
        yield Quad(answer, BK.answerOf, Literal(name), graph)
        for prop, sparql in ANSWER_FACTS.get(name, []):
            fact = solutions(store.query(sparql, name="analytics"), "analytics")
            value = next(iter(fact))["value"] if fact else None
            if value is not None:
                yield Quad(answer, prop, value, graph)
        result = store.query(q.sparql, name="analytics", substitutions=everything)
        assert isinstance(result, QuerySolutions)
        columns = [v.value for v in result.variables if v.value not in everything]
        for number, sol in enumerate(result, start=1):
            row = iris.answer_row(name, number)
            yield Quad(row, RDF.type, BK.AnswerRow, graph)
            yield Quad(row, BK.answerOf, Literal(name), graph)
            yield Quad(row, BK.rowNumber, Literal(str(number), datatype=XSD.integer), graph)
            for column in columns:
                term = sol[column]
                separator = LISTS.get(name, {}).get(column)
                if separator is not None and isinstance(term, Literal):
                    items = sorted(term.value.split(separator)) if term.value else []
                    term = Literal(separator.join(items), datatype=term.datatype) if term.language is None \
                        else Literal(separator.join(items), language=term.language)
                if term is not None:
                    yield Quad(row, COLUMN[column], term, graph)


def prefix_quads(store: GraphStore, graph: NamedNode) -> Iterator[Quad]:
    """Every prefix of every project's budget unit code, the empty one and the whole code included."""
    projects = {q.subject for q in store.match(None, RDF.type, BK.Project)}
    for q in store.match(None, BK.budgetUnitCode, None):
        if q.subject in projects and isinstance(q.object, Literal):
            code = q.object.value
            for prefix in dict.fromkeys(code[:n] for n in range(len(code) + 1)):
                yield Quad(q.subject, BK.unitCodePrefix, Literal(prefix), graph)


def quads(store: GraphStore, iris: Iris, graph: NamedNode, queries_dir: Path) -> Iterator[Quad]:
    """The whole analytics graph of ``store`` as it is now."""
    yield from cube_quads(_budget_rows(store, queries_dir), iris, graph)
    yield from answer_quads(store, iris, graph, queries_dir)
    yield from prefix_quads(store, graph)


def refresh(store: GraphStore, iris: Iris, queries_dir: Path, tx: Transaction | None = None) -> int:
    """Rewrite the analytics graph from the published graphs (part of ``tx``, a build's); its size."""
    graph = iris.analytics_graph
    with joined(store, tx) as t:
        return t.replace(graph, lambda target: list(quads(store, iris, target, queries_dir)))
