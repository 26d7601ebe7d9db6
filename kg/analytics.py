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

**The same rows as columns.** The graph is written from the queries' solutions as the engine spelled them
(:func:`solve`, :class:`Solved`); the build keeps those solutions, with projects_of_agency over every project, as
columns beside an on-disk store (:mod:`kg.kept`), and the named queries answer from them wherever their fast forms
would read this graph.

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

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyoxigraph import Literal, NamedNode, Quad

from . import answers, kept, queries
from .answers import UNBOUND, Column, TableAnswer
from .iris import Iris, digest
from .namespaces import BK, COLUMN, DCTERMS, PROV, QB, RDF, RDFS, SH, SKOS, XSD, sparql_prefixes
from .store import EmbeddedStore, GraphStore, Transaction, joined
from .store.protocol import Object

#: Named queries whose whole answer (every parameter at its "all" value, "") the build keeps: their fast
#: forms choose rows from it where the parameters only choose rows, and read it as it is where they
#: would change it (then only for the "all" values: ``#+ all:`` in the fast form, kg.queries.NamedQuery.fast_all).
ANSWERS: dict[str, dict[str, Literal]] = {
    "funding_sources": {}, "funding_mix_by_department": {}, "findings_by_agency": {},
    # every link counts when min_score is 0 (and when it is at most the smallest score: the fast form's ASK)
    "agencies_by_shared_goals": {"min_score": Literal("0", datatype=XSD.decimal)},
}
#: Every predicate :func:`solve` and :func:`prefix_quads` read (the queries' triple patterns, the prefixes' match):
#: the build's analytics step reads them from its in-memory projection (:mod:`kg.store.projection`;
#: ``tests/test_projection.py`` checks the list against the queries).
READS = frozenset({
    RDF.type, RDFS.label, SKOS.notation, SKOS.prefLabel, PROV.wasDerivedFrom, DCTERMS.identifier, SH.resultSeverity,
    BK.agencyCode, BK.amountInYuan, BK.auditRule, BK.budget, BK.budgetUnitCode, BK.budgetUnitName,
    BK.concernsBudgetUnit, BK.concernsProject, BK.crossAgency, BK.fiscalFunds, BK.fromProject, BK.fundingSource,
    BK.otherFunds, BK.score, BK.toProject,
})
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


@dataclass
class Solved:
    """What the analytics graph is written from: the whole answers of named queries over the store (every parameter
    at its "all" value, terms as the engine spells them in TSV: :func:`kg.kept.whole`), with the facts of
    :data:`ANSWER_FACTS`; kept in memory by the build for :mod:`kg.kept`."""

    #: By query name: budget_by_agency (the cube's rows), the :data:`ANSWERS` (lists sorted, :data:`LISTS`) and,
    #: when asked for, projects_of_agency (every project).
    wholes: dict[str, TableAnswer]
    #: By query name: each fact's property and value (TSV spelling).
    facts: dict[str, list[tuple[NamedNode, str]]]


def _sorted_lists(name: str, answer: TableAnswer) -> TableAnswer:
    """``answer`` with each list of :data:`LISTS` sorted (one term per distinct list, spelled by the engine)."""
    separators = LISTS.get(name, {})
    columns = list(answer.columns)
    for k, variable in enumerate(answer.variables):
        separator = separators.get(variable)
        if separator is None:
            continue
        column = columns[k]
        found = answers.terms(column.terms)
        again = []
        for term in found:
            if isinstance(term, Literal):
                items = sorted(term.value.split(separator)) if term.value else []
                term = Literal(separator.join(items), datatype=term.datatype) if term.language is None \
                    else Literal(separator.join(items), language=term.language)
            again.append(term)
        spelled = kept.spelled({f"t{i}": t for i, t in enumerate(again) if t is not None})
        columns[k] = Column.of([spelled[f"t{i}"] if t is not None else UNBOUND for i, t in enumerate(again)]
                               ).take(column.codes.astype(np.int64))
    return TableAnswer(answer.variables, tuple(columns))


#: Queries :func:`solve` runs at once on an embedded store (pyoxigraph evaluates without Python's lock): the cores
#: of a small machine, not more (each query holds its own intermediate results).
SOLVERS = 2


def solve(store: GraphStore, queries_dir: Path, *, projects: bool = False) -> Solved:
    """Run the named queries the analytics graph (and the kept answers) hold, over the whole store as it is now;
    ``projects``: projects_of_agency too (only the kept answers hold it).

    The queries are independent: on an embedded store :data:`SOLVERS` of them run at a time, in threads (one after
    the other on a remote store, whose client is not shared between threads); what they answer is the same."""
    asked: dict[str, tuple[str, dict[str, Literal]]] = {}
    q = queries.get(queries_dir, "budget_by_agency")  # the named query defines the cube's rows
    asked[q.name] = (q.sparql, {"department": Literal("")})
    for name, values in ANSWERS.items():
        q = queries.get(queries_dir, name)
        asked[name] = (q.sparql, {p.name: values.get(p.name, Literal("")) for p in q.params})
        for k, (_prop, sparql) in enumerate(ANSWER_FACTS.get(name, [])):
            asked[f"{name}\x1ffact{k}"] = (sparql, {})
    if projects:
        q = queries.get(queries_dir, "projects_of_agency")
        asked[q.name] = (q.sparql, {"code": Literal("")})  # every project's code starts with ""
    # the slowest first, so that the others share the second thread
    order = sorted(asked, key=lambda n: n != "agencies_by_shared_goals")
    if isinstance(store, EmbeddedStore) and SOLVERS > 1:
        with ThreadPoolExecutor(SOLVERS, thread_name_prefix="solve") as pool:
            running = {n: pool.submit(kept.whole, store, *asked[n]) for n in order}
        answered = {n: running[n].result() for n in asked}
    else:
        answered = {n: kept.whole(store, *asked[n]) for n in order}
    wholes: dict[str, TableAnswer] = {}
    facts: dict[str, list[tuple[NamedNode, str]]] = {}
    wholes["budget_by_agency"] = answered["budget_by_agency"]
    for name in ANSWERS:
        facts[name] = []
        for k, (prop, _sparql) in enumerate(ANSWER_FACTS.get(name, [])):
            fact = answered[f"{name}\x1ffact{k}"]
            value = fact.columns[0].terms[fact.columns[0].codes[0]] if len(fact) else UNBOUND
            if value != UNBOUND:
                facts[name].append((prop, value))
        wholes[name] = _sorted_lists(name, answered[name])
    if projects:
        wholes["projects_of_agency"] = answered["projects_of_agency"]
    return Solved(wholes, facts)


def _rows(answer: TableAnswer) -> Iterator[dict[str, Object]]:
    """Each row of ``answer`` as its bound variables' terms (each distinct spelling parsed once)."""
    found = [answers.terms(c.terms) for c in answer.columns]
    for r in range(len(answer)):
        row = {}
        for variable, column, terms in zip(answer.variables, answer.columns, found, strict=True):
            term = terms[column.codes[r]]
            if term is not None:
                row[variable] = term
        yield row


def cube_quads(rows: Iterable[dict[str, Object]], iris: Iris, graph: NamedNode) -> Iterator[Quad]:
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


def answer_quads(solved: Solved, iris: Iris, graph: NamedNode, queries_dir: Path) -> Iterator[Quad]:
    """The whole answers of the :data:`ANSWERS` queries, one bk:AnswerRow per row, in the query's order."""
    for name, values in ANSWERS.items():
        q = queries.get(queries_dir, name)
        everything = {p.name: values.get(p.name, Literal("")) for p in q.params}
        answer = iris.answer(name)
        yield Quad(answer, RDF.type, BK.KeptAnswer, graph)
        yield Quad(answer, BK.answerOf, Literal(name), graph)
        for prop, value in solved.facts.get(name, []):
            term = answers.terms([value])[0]
            if term is not None:
                yield Quad(answer, prop, term, graph)
        for number, row in enumerate(_rows(solved.wholes[name]), start=1):
            subject = iris.answer_row(name, number)
            yield Quad(subject, RDF.type, BK.AnswerRow, graph)
            yield Quad(subject, BK.answerOf, Literal(name), graph)
            yield Quad(subject, BK.rowNumber, Literal(str(number), datatype=XSD.integer), graph)
            for column, term in row.items():
                if column not in everything:
                    yield Quad(subject, COLUMN[column], term, graph)


def prefix_quads(store: GraphStore, graph: NamedNode) -> Iterator[Quad]:
    """Every prefix of every project's budget unit code, the empty one and the whole code included."""
    projects = {q.subject for q in store.match(None, RDF.type, BK.Project)}
    for q in store.match(None, BK.budgetUnitCode, None):
        if q.subject in projects and isinstance(q.object, Literal):
            code = q.object.value
            for prefix in dict.fromkeys(code[:n] for n in range(len(code) + 1)):
                yield Quad(q.subject, BK.unitCodePrefix, Literal(prefix), graph)


def quads(store: GraphStore, iris: Iris, graph: NamedNode, queries_dir: Path,
          solved: Solved | None = None) -> Iterator[Quad]:
    """The whole analytics graph of ``store`` as it is now (from ``solved``, :func:`solve` of it, if given)."""
    solved = solved if solved is not None else solve(store, queries_dir)
    yield from cube_quads(_rows(solved.wholes["budget_by_agency"]), iris, graph)
    yield from answer_quads(solved, iris, graph, queries_dir)
    yield from prefix_quads(store, graph)


def refresh(store: GraphStore, iris: Iris, queries_dir: Path, tx: Transaction | None = None,
            solved: Solved | None = None) -> int:
    """Rewrite the analytics graph from the published graphs (part of ``tx``, a build's); its size. ``solved``:
    :func:`solve` of the store as it is (else solved here)."""
    graph = iris.analytics_graph
    solved = solved if solved is not None else solve(store, queries_dir)
    with joined(store, tx) as t:
        return t.replace(graph, lambda target: list(quads(store, iris, target, queries_dir, solved)))
