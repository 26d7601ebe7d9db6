"""Counts of what the store holds, per document graph and overall (``budgetkg stats``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from pyoxigraph import QuerySolutions

from .namespaces import sparql_prefixes
from .store import GraphStore

_PER_GRAPH = sparql_prefixes(["bk", "rdf", "dcterms"]) + """
SELECT ?g ?file
       (COUNT(DISTINCT ?p) AS ?projects)
       (COUNT(DISTINCT ?i) AS ?indicators)
       (COUNT(DISTINCT ?unit) AS ?units)
WHERE {
  GRAPH ?g {
    ?doc a bk:SourceDocument ; dcterms:identifier ?file .
    OPTIONAL { ?p a bk:Project ; bk:budgetUnit ?unit . OPTIONAL { ?p bk:hasIndicator ?i } }
  }
}
GROUP BY ?g ?file ORDER BY ?g
"""
_BUDGET = sparql_prefixes(["bk", "qudt"]) + """
SELECT ?g (SUM(?wan) AS ?budget) (COUNT(?b) AS ?with_budget)
WHERE { GRAPH ?g { ?p bk:budget ?b . ?b bk:amountInYuan ?yuan . BIND(?yuan / 10000 AS ?wan) } }
GROUP BY ?g
"""
_AGENCIES = sparql_prefixes(["bk"]) + """
SELECT (COUNT(DISTINCT ?a) AS ?n) (COUNT(DISTINCT ?u) AS ?units) (COUNT(DISTINCT ?d) AS ?departments)
WHERE { { ?a a bk:BudgetUnit . BIND(?a AS ?u) } UNION { ?a a bk:Department . BIND(?a AS ?d) } }
"""
_TOTALS = sparql_prefixes(["bk"]) + """
SELECT (COUNT(DISTINCT ?p) AS ?projects) (COUNT(DISTINCT ?i) AS ?indicators)
WHERE { ?p a bk:Project . OPTIONAL { ?p bk:hasIndicator ?i } }
"""


@dataclass
class DocumentStats:
    document: str
    graph: str
    projects: int
    indicators: int
    budget_units: int
    budget_wanyuan: str


@dataclass
class Stats:
    documents: list[DocumentStats]
    projects: int
    indicators: int
    agencies: int
    budget_units: int
    departments: int
    budget_wanyuan: str
    quads: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _rows(result: object) -> list[dict[str, str]]:
    assert isinstance(result, QuerySolutions)
    names = [v.value for v in result.variables]
    return [{n: (sol[n].value if sol[n] is not None else "") for n in names} for sol in result]


def _money(x: Decimal) -> str:
    return f"{x.quantize(Decimal('0.01'))}"


def compute(store: GraphStore) -> Stats:
    """Per-document and overall counts; budgets are sums of 预算数 in 万元."""
    budgets = {r["g"]: Decimal(r["budget"] or "0") for r in _rows(store.query(_BUDGET, union=False))}
    docs = []
    for r in _rows(store.query(_PER_GRAPH, union=False)):
        docs.append(DocumentStats(
            document=r["file"], graph=r["g"], projects=int(r["projects"]),
            indicators=int(r["indicators"]), budget_units=int(r["units"]),
            budget_wanyuan=_money(budgets.get(r["g"], Decimal(0))),
        ))
    ag = _rows(store.query(_AGENCIES))[0]
    tot = _rows(store.query(_TOTALS))[0]
    return Stats(
        documents=docs, projects=int(tot["projects"]), indicators=int(tot["indicators"]),
        agencies=int(ag["n"]), budget_units=int(ag["units"]), departments=int(ag["departments"]),
        budget_wanyuan=_money(sum(budgets.values(), Decimal(0))), quads=len(store),
    )
