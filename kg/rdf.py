"""Records → RDF quads (pyoxigraph terms, no rdflib on this path).

IRIs are deterministic functions of the source content under a configurable base IRI, so a
rebuild mints the same IRIs and the sorted N-Quads dump is byte-identical. Each document's
facts go to its own named graph; every project, goal and indicator is
``prov:wasDerivedFrom`` its document with ``bk:lineStart``/``bk:lineEnd``.

>>> iris = Iris("http://ex.org/")
>>> iris.agency("341101").value
'http://ex.org/agency/341101'
>>> iris.graph("004_5346273e88d8e34b.txt").value
'http://ex.org/graph/004_5346273e88d8e34b'
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pyoxigraph import BlankNode, Literal, NamedNode, Quad

from .iris import Iris
from .model import FundingLine, ParsedDocument, ProjectRecord, TargetValue
from .namespaces import (
    BK,
    BKUNIT,
    CATEGORY,
    COMPARATOR,
    CUR,
    DCTERMS,
    FUNDING,
    GOALKIND,
    ORG,
    PROV,
    QUDT,
    RDF,
    RDFS,
    SKOS,
    TRANCHE,
    VALUEKIND,
    XSD,
)

#: (一级指标, 二级指标) → concept of the indicator-category scheme. 成本指标 has two placements:
#: level 1 (with 经济/社会/生态环境成本指标 under it) and level 2 under 产出指标.
LEVEL1_KEYS = {"产出指标": "output", "效益指标": "outcome", "满意度指标": "satisfaction", "成本指标": "cost",
               "偿债指标": "debt-service"}
LEVEL2_KEYS = {
    ("产出指标", "数量指标"): "output-quantity",
    ("产出指标", "质量指标"): "output-quality",
    ("产出指标", "时效指标"): "output-timeliness",
    ("产出指标", "成本指标"): "output-cost",
    ("效益指标", "经济效益指标"): "outcome-economic",
    ("效益指标", "社会效益指标"): "outcome-social",
    ("效益指标", "生态效益指标"): "outcome-ecological",
    ("效益指标", "可持续影响指标"): "outcome-sustainability",
    ("满意度指标", "服务对象满意度指标"): "satisfaction-service-recipient",
    ("成本指标", "经济成本指标"): "cost-economic",
    ("成本指标", "社会成本指标"): "cost-social",
    ("成本指标", "生态环境成本指标"): "cost-ecological",
    ("偿债指标", "预期收益实现时间"): "debt-revenue-date",
    ("偿债指标", "预期收益金额"): "debt-revenue-amount",
    ("偿债指标", "偿债倍率"): "debt-coverage",
}
#: Rows of the special-bond funding table → funding-source concept.
FUNDING_LABELS = {"中央": "central", "市级": "municipal", "专项债券资金": "special-bond", "专项债券": "special-bond",
                  "一般债券资金": "general-bond", "自有资金": "own-funds", "其他资金": "other", "银行贷款": "bank-loan",
                  "其他融资资金": "other-financing", "财政拨款": "fiscal"}
COMPARATOR_KEYS = {"≥": "ge", "≤": "le", ">": "gt", "<": "lt", "=": "eq", "≈": "approx"}

_DEC = XSD.decimal
_INT = XSD.integer
_POSINT = XSD.positiveInteger
_DATE = XSD.date
_DURATION = XSD.duration
_GYEAR = XSD.gYear
_BOOL = XSD.boolean
_TYPE = RDF.type
_WANYUAN = BKUNIT.TenThousandCNY
_CNY = CUR.CNY


def decimal_literal(x: Decimal | float) -> Literal:
    """``x`` as an ``xsd:decimal`` in canonical form: no exponent, no trailing zeros, no trailing point.

    The one writer of decimals for every graph (documents, contracts, vendors), so the same number is
    the same literal everywhere and a dump does not change with the path that wrote it.

    >>> decimal_literal(Decimal("487.50")).value, decimal_literal(Decimal("1E+2")).value, decimal_literal(0.9).value
    ('487.5', '100', '0.9')
    """
    text = format(x if isinstance(x, Decimal) else Decimal(str(x)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".") or "0"
    return Literal(text, datatype=_DEC)


def term_value(term: NamedNode | BlankNode | Literal | None) -> str | None:
    """The lexical value of an RDF term (a literal's text, an IRI), or None for an unbound variable.

    >>> term_value(Literal("公安局")), term_value(None)
    ('公安局', None)
    """
    return None if term is None else term.value


def _int(x: int, positive: bool = False) -> Literal:
    return Literal(str(x), datatype=_POSINT if positive and x > 0 else _INT)


def _date(x: dt.date) -> Literal:
    return Literal(x.isoformat(), datatype=_DATE)


def _zh(text: str) -> Literal:
    return Literal(text, language="zh")


def _str(text: str) -> Literal:
    return Literal(text)


def _bool(x: bool) -> Literal:
    return Literal("true" if x else "false", datatype=_BOOL)


class _Emitter:
    """Collects quads for one graph."""

    __slots__ = ("g", "quads")

    def __init__(self, graph: NamedNode) -> None:
        self.g = graph
        self.quads: list[Quad] = []

    def add(self, s: NamedNode, p: NamedNode, o: NamedNode | Literal | None) -> None:
        if o is not None:
            self.quads.append(Quad(s, p, o, self.g))

    def provenance(self, s: NamedNode, doc: NamedNode, start: int, end: int) -> None:
        self.add(s, PROV.wasDerivedFrom, doc)
        self.add(s, BK.lineStart, _int(start, positive=True))
        self.add(s, BK.lineEnd, _int(end, positive=True))


def _amount(e: _Emitter, node: NamedNode, value: Decimal, unit: NamedNode, yuan: Decimal) -> None:
    e.add(node, _TYPE, BK.MonetaryAmount)
    e.add(node, QUDT.numericValue, decimal_literal(value))
    e.add(node, QUDT.unit, unit)
    e.add(node, BK.amountInYuan, decimal_literal(yuan))


def _target(e: _Emitter, node: NamedNode, v: TargetValue) -> None:
    e.add(node, _TYPE, BK.Target)
    e.add(node, BK.rawValue, _str(v.raw))
    e.add(node, BK.valueKind, VALUEKIND[v.kind])
    if v.comparator:
        e.add(node, BK.comparator, COMPARATOR[COMPARATOR_KEYS[v.comparator]])
    if v.number is not None:
        e.add(node, QUDT.numericValue, decimal_literal(v.number))
        if v.scale != 1:
            e.add(node, BK.scale, decimal_literal(v.scale))
        norm = v.normalized
        if norm is not None:
            e.add(node, BK.normalizedValue, decimal_literal(norm))
    if v.unit is not None:
        e.add(node, QUDT.unit, NamedNode(v.unit.iri))
        e.add(node, BK.normalizedUnit, NamedNode(v.unit.base_iri or v.unit.iri))
        e.add(node, BK.unitLabel, _zh(v.unit_label or v.unit.label))
    elif v.unit_label:
        e.add(node, BK.unitLabel, _zh(v.unit_label))
    if v.per:
        e.add(node, BK.perUnitLabel, _zh(v.per))
    if v.per_period:
        e.add(node, BK.perPeriod, Literal(v.per_period, datatype=_DURATION))
    if v.each:
        e.add(node, BK.eachOf, _zh(v.each))
    if v.period_start:
        e.add(node, BK.periodStart, _date(v.period_start))
    if v.period_end:
        e.add(node, BK.periodEnd, _date(v.period_end))
        if v.kind == "date" and v.comparator == "≤":
            e.add(node, BK.deadline, _date(v.period_end))
    if v.year_inferred:
        e.add(node, BK.yearInferred, _bool(True))
    if v.qualifier:
        e.add(node, BK.qualifier, _zh(v.qualifier))
    if v.text:
        e.add(node, BK.qualitativeText, _zh(v.text))
    if v.problem:
        e.add(node, BK.parseProblem, _str(v.problem))


def _funding_line(e: _Emitter, proj: NamedNode, k: int, fl: FundingLine, doc: NamedNode) -> None:
    node = NamedNode(f"{proj.value}/funding/{k}")
    e.add(proj, BK.hasFundingAllocation, node)
    e.add(node, _TYPE, BK.FundingAllocation)
    e.add(node, BK.fundingLabel, _zh(fl.label))
    if fl.parent:
        e.add(node, BK.parentFundingLabel, _zh(fl.parent))
    key = FUNDING_LABELS.get(fl.label)
    if key:
        e.add(node, BK.fundingSource, FUNDING[key])
    if fl.amount is not None:
        amt = NamedNode(f"{node.value}/amount")
        e.add(node, BK.amount, amt)
        _amount(e, amt, fl.amount, _CNY, fl.amount)
    if fl.received is not None:
        rec = NamedNode(f"{node.value}/received")
        e.add(node, BK.amountReceived, rec)
        _amount(e, rec, fl.received, _CNY, fl.received)
    if fl.rate_percent is not None:
        e.add(node, BK.interestRatePercent, decimal_literal(fl.rate_percent))
    if fl.share_percent is not None:
        e.add(node, BK.sharePercent, decimal_literal(fl.share_percent))
    if fl.received_on:
        e.add(node, BK.receivedOn, _date(fl.received_on))
    if fl.collateral:
        e.add(node, BK.collateralStatus, _zh(fl.collateral))
    e.provenance(node, doc, fl.span.start, fl.span.end)


def _superseded_version(e: _Emitter, node: NamedNode, proj: NamedNode, rec: ProjectRecord, doc: NamedNode,
                        reviser: NamedNode) -> None:
    """A project's table in a document that a revision superseded: where it was, and what replaced it.

    The project itself is described only by the revising document (one version of every fact);
    this keeps the earlier version traceable (PROV: the project ``prov:wasRevisionOf`` this).
    """
    e.add(node, _TYPE, BK.SupersededVersion)
    e.add(node, RDFS.label, _zh(rec.name))
    e.add(node, BK.versionOf, proj)
    e.add(node, BK.supersededBy, reviser)
    e.add(proj, PROV.wasRevisionOf, node)
    e.provenance(node, doc, rec.span.start, rec.span.end)


def agency_quads(units: list[tuple[str, str | None, str]], departments: dict[str, str], iris: Iris,
                 graph: NamedNode) -> list[Quad]:
    """The agencies graph: budget units ``(code, name, document IRI)`` and their departments.

    Agencies are shared by documents, so they live in one graph of their own (a fact in two
    document graphs would come back twice from union-default-graph queries).
    """
    e = _Emitter(graph)
    names: dict[str, set[str]] = {}
    docs: dict[str, set[str]] = {}
    for code, name, doc in units:
        names.setdefault(code, set())
        docs.setdefault(code, set()).add(doc)
        if name:
            names[code].add(name)
        if len(code) == 6:
            names.setdefault(code[:3], set())
            docs.setdefault(code[:3], set())
    for code in sorted(names):
        node = iris.agency(code)
        e.add(node, _TYPE, BK.BudgetUnit if len(code) == 6 else BK.Department)
        e.add(node, BK.agencyCode, _str(code))
        e.add(node, SKOS.notation, _str(code))
        labels = sorted(names[code]) or ([departments[code]] if code in departments else [])
        for label in labels:
            e.add(node, RDFS.label, _zh(label))
        if len(code) == 6:
            e.add(node, ORG.subOrganizationOf, iris.agency(code[:3]))
        for doc in sorted(docs[code]):
            e.add(node, PROV.wasDerivedFrom, NamedNode(doc))
    return e.quads


def project_iris(parsed: ParsedDocument, iris: Iris) -> list[NamedNode]:
    """The IRI of each record, salted where one unit has two tables of the same name and year."""
    seen: dict[str, int] = {}
    out = []
    for rec in parsed.records:
        node = iris.project(rec, parsed.source.budget_year)
        n = seen.get(node.value, 0)
        seen[node.value] = n + 1
        out.append(iris.project(rec, parsed.source.budget_year, salt=n) if n else node)
    return out


def document_quads(parsed: ParsedDocument, iris: Iris, graph: NamedNode | None = None) -> list[Quad]:
    """All quads of one document, in its own named graph (or in ``graph``, for staging)."""
    src = parsed.source
    g = graph or iris.graph(src.file)
    e = _Emitter(g)
    doc = iris.document(src.file)
    year_lit = Literal(str(src.budget_year), datatype=_GYEAR)

    e.add(doc, _TYPE, BK.SourceDocument)
    e.add(doc, DCTERMS.identifier, _str(src.file))
    e.add(doc, RDFS.label, _str(src.file))
    if src.description:
        e.add(doc, DCTERMS.description, _str(src.description))
    e.add(doc, BK.budgetYear, year_lit)
    e.add(doc, DCTERMS.format, _str("text/plain; charset=utf-8"))
    e.add(doc, BK.lineCount, _int(parsed.line_count))
    if src.sha256:
        e.add(doc, BK.sha256, _str(src.sha256))
    dept_code = src.department or (parsed.records[0].unit_code[:3] if parsed.records else "")
    if dept_code:
        e.add(doc, DCTERMS.publisher, iris.agency(dept_code))
    for earlier in src.revises:
        e.add(doc, PROV.wasRevisionOf, iris.document(earlier))

    for rec, proj in zip(parsed.records, project_iris(parsed, iris), strict=True):
        reviser = parsed.superseded.get(proj.value)
        if reviser is not None:
            _superseded_version(e, iris.superseded_version(src.file, proj), proj, rec, doc, NamedNode(reviser))
            continue
        unit = iris.agency(rec.unit_code)
        e.add(proj, _TYPE, BK.Project)
        if rec.layout == "special-bond":
            e.add(proj, _TYPE, BK.SpecialBondProject)
        e.add(proj, RDFS.label, _zh(rec.name))
        e.add(proj, BK.budgetUnit, unit)
        e.add(proj, BK.budgetUnitCode, _str(rec.unit_code))
        e.add(proj, BK.budgetUnitName, _zh(rec.unit_name))
        e.add(proj, BK.budgetYear, year_lit)
        e.add(proj, BK.tableNumber, _int(rec.table_no))
        if rec.title_no is not None:
            e.add(proj, BK.titleNumber, _int(rec.title_no))
        e.provenance(proj, doc, rec.span.start, rec.span.end)
        for prop, value in ((BK.budget, rec.budget), (BK.fiscalFunds, rec.fiscal), (BK.otherFunds, rec.other)):
            if value is not None:
                node = NamedNode(f"{proj.value}/amount/{prop.value.rsplit('/', 1)[1]}")
                e.add(proj, prop, node)
                _amount(e, node, value, _WANYUAN, value * 10000)
        if rec.use_of_funds:
            e.add(proj, BK.useOfFunds, _zh(rec.use_of_funds))
        info = rec.name_info
        e.add(proj, BK.baseName, _zh(info.base_name))
        if info.funding_source:
            e.add(proj, BK.fundingSource, FUNDING[info.funding_source])
        if info.fund_year:
            e.add(proj, BK.fundYear, Literal(str(info.fund_year), datatype=_GYEAR))
        if info.tranche:
            e.add(proj, BK.paymentTranche, TRANCHE[info.tranche])
        if info.tranche_percent is not None:
            e.add(proj, BK.tranchePercent, decimal_literal(info.tranche_percent))
        if info.served_unit:
            e.add(proj, BK.servedUnitName, _zh(info.served_unit))
        if rec.bond:
            b = rec.bond
            if b.project_code:
                e.add(proj, BK.projectCode, _str(b.project_code))
            if b.nature:
                e.add(proj, BK.projectNature, _zh(b.nature))
            if b.supervising_code:
                e.add(proj, BK.supervisingDepartment, iris.agency(b.supervising_code))
                if b.supervising_name:
                    e.add(proj, BK.supervisingDepartmentName, _zh(b.supervising_name))
            for prop, d in ((BK.plannedStart, b.planned_start), (BK.plannedEnd, b.planned_end),
                            (BK.revenueDate, b.revenue_date)):
                if d:
                    e.add(proj, prop, _date(d))
            if b.period_years is not None:
                e.add(proj, BK.implementationPeriodYears, decimal_literal(b.period_years))
            if b.total is not None:
                node = NamedNode(f"{proj.value}/amount/totalFunding")
                e.add(proj, BK.totalFunding, node)
                _amount(e, node, b.total, _CNY, b.total)
            for k, fl in enumerate(b.funding, start=1):
                _funding_line(e, proj, k, fl, doc)
        for goal in rec.goals:
            node = NamedNode(f"{proj.value}/goal/{goal.kind}-{goal.ordinal}")
            e.add(proj, BK.hasGoal, node)
            e.add(node, _TYPE, BK.Goal)
            e.add(node, BK.goalKind, GOALKIND[goal.kind])
            e.add(node, BK.ordinal, _int(goal.ordinal))
            e.add(node, BK.goalText, _zh(goal.text))
            e.provenance(node, doc, goal.span.start, goal.span.end)
        for ind in rec.indicators:
            node = NamedNode(f"{proj.value}/indicator/{ind.position}")
            e.add(proj, BK.hasIndicator, node)
            e.add(node, _TYPE, BK.Indicator)
            e.add(node, BK.ofProject, proj)
            e.add(node, BK.position, _int(ind.position))
            e.add(node, RDFS.label, _zh(ind.name or f"(unnamed indicator {ind.position})"))
            e.add(node, BK.indicatorName, _zh(ind.name))
            if ind.description:
                e.add(node, DCTERMS.description, _zh(ind.description))
            e.add(node, BK.level1Label, _zh(ind.level1))
            e.add(node, BK.level2Label, _zh(ind.level2))
            if ind.level1_carried:
                e.add(node, BK.level1Carried, _bool(True))
            l1 = LEVEL1_KEYS.get(ind.level1)
            if l1:
                e.add(node, BK.level1, CATEGORY[l1])
            l2 = LEVEL2_KEYS.get((ind.level1, ind.level2))
            if l2:
                e.add(node, BK.level2, CATEGORY[l2])
            target = NamedNode(f"{node.value}/target")
            e.add(node, BK.target, target)
            _target(e, target, ind.value)
            e.provenance(node, doc, ind.span.start, ind.span.end)
    return e.quads
