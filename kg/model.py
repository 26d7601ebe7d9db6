"""Records read from the source documents: plain dataclasses, no RDF.

The parser (:mod:`kg.parse`) produces these; the converter (:mod:`kg.rdf`) turns them into
quads. Every record keeps the source span it was read from so each fact stays traceable to
its file and lines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Span:
    """Lines ``start``..``end`` (1-based, inclusive) of a source file."""

    path: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.path}:{self.start}" if self.start == self.end else f"{self.path}:{self.start}-{self.end}"


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """An oddity that could be read and was kept (an unparseable value, a swapped field …)."""

    path: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of measure a target value can carry.

    ``iri`` is a QUDT unit or currency where one exists, else a budgetkg unit; counts (台, 人次 …)
    share ``unit:NUM`` and keep their Chinese ``label``. ``multiplier`` converts to ``base``.
    """

    key: str
    iri: str
    label: str
    dimension: str  # percent | currency | duration | count | area | length | mass | data | volume
    multiplier: Decimal = Decimal(1)
    base_iri: str | None = None


@dataclass(frozen=True, slots=True)
class TargetValue:
    """A parsed 指标值 (target value). ``raw`` is always the text as written."""

    raw: str
    kind: str  # numeric | date | qualitative | unparsed | empty
    comparator: str | None = None  # ≥ ≤ > < = ≈
    number: Decimal | None = None  # as written, before any 万 multiplier
    unit: Unit | None = None
    unit_label: str | None = None  # the unit text as written (百分比, 件套, 万元 …)
    scale: Decimal = Decimal(1)  # 万 inside a count (24万件) or 万元
    per: str | None = None  # denominator of a rate as written: 次/月 → 月, 元/人 → 人
    per_period: str | None = None  # period of a frequency, an xsd:duration: 每周开展1次 and 1次/周 → P7D
    each: str | None = None  # what the value holds for one by one: EC135、AW139直升机各12个月 → EC135、AW139直升机
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    year_inferred: bool = False
    qualifier: str | None = None  # words around the number (合规率, 投入使用后, 完成 …)
    text: str | None = None  # qualitative text
    problem: str | None = None  # why a value is 'unparsed'

    @property
    def normalized(self) -> Decimal | None:
        """The number in the unit's base unit (万元 → 元, 24万件 → 240000 件)."""
        if self.number is None:
            return None
        factor = self.scale * (self.unit.multiplier if self.unit else Decimal(1))
        return self.number * factor


@dataclass(slots=True)
class Indicator:
    """One row of the indicator table (一级/二级/三级指标, 绩效指标描述, 指标值)."""

    position: int
    level1: str
    level2: str
    name: str
    description: str | None
    value: TargetValue
    span: Span
    level1_carried: bool = False  # the 一级指标 cell was empty and carried down


@dataclass(slots=True)
class Goal:
    """A numbered goal (绩效目标, or 总体目标/当年目标 in the special-bond table)."""

    ordinal: int
    text: str
    kind: str  # performance | overall | annual
    span: Span


@dataclass(slots=True)
class FundingLine:
    """A row of the special-bond funding table (项目资金来源及落实情况), amounts in 元."""

    label: str
    parent: str | None
    amount: Decimal | None
    rate_percent: Decimal | None
    share_percent: Decimal | None
    received: Decimal | None
    received_on: dt.date | None
    collateral: str | None
    span: Span


@dataclass(slots=True)
class BondDetails:
    """The fields only the special-bond project table has."""

    project_code: str | None
    nature: str | None
    supervising_code: str | None
    supervising_name: str | None
    planned_start: dt.date | None
    planned_end: dt.date | None
    period_years: Decimal | None
    revenue_date: dt.date | None
    total: Decimal | None
    funding: list[FundingLine] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NameInfo:
    """What a project name says beyond the project: funding source, fund year, tranche, sub-unit."""

    base_name: str
    funding_source: str | None = None  # key of the funding-source scheme
    fund_year: int | None = None
    tranche: str | None = None  # key of the tranche scheme
    tranche_percent: Decimal | None = None
    served_unit: str | None = None  # 督审总队, 法制总队 … where the name starts with one


@dataclass(slots=True)
class ProjectRecord:
    """One performance-target table: one project of one budget unit."""

    document: str  # source file name (its identity)
    table_no: int  # 1-based position of the table in its document
    title_no: int | None  # the N. of the title line, when there is one
    title: str | None
    layout: str  # standard | special-bond
    unit_code: str
    unit_name: str
    name: str
    budget: Decimal | None  # 万元
    fiscal: Decimal | None  # 万元
    other: Decimal | None  # 万元
    use_of_funds: str | None
    goals: list[Goal]
    indicators: list[Indicator]
    span: Span
    name_info: NameInfo
    bond: BondDetails | None = None
    unit_span: Span | None = None

    @property
    def department_code(self) -> str:
        return self.unit_code[:3]


@dataclass(slots=True)
class SourceEntry:
    """A manifest entry: one source document and what is known of it."""

    file: str
    path: str
    budget_year: int
    department: str
    units: list[str]
    description: str
    publisher: str | None = None
    sha256: str | None = None
    #: Files of earlier documents this one revises (a 调整预算, a corrected re-publication): where both
    #: hold a project, this document's version supersedes theirs (see :mod:`kg.revisions`).
    revises: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedDocument:
    """Everything read from one source document."""

    source: SourceEntry
    records: list[ProjectRecord]
    warnings: list[ParseWarning]
    line_count: int
    #: Projects (IRI → IRI of the revising document) whose version in this document a revision
    #: supersedes: they are recorded as superseded versions, not as projects.
    superseded: dict[str, str] = field(default_factory=dict)


def to_plain(obj: object) -> object:
    """A record as JSON-ready plain data: Decimals and dates as strings, dataclasses as dicts.

    >>> to_plain(Span("a.txt", 1, 2))
    {'path': 'a.txt', 'start': 1, 'end': 2}
    """
    from dataclasses import fields, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_plain(getattr(obj, f.name)) for f in fields(obj)}
        if isinstance(obj, TargetValue):
            out["normalized"] = to_plain(obj.normalized)
        return out
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, list | tuple):
        return [to_plain(x) for x in obj]
    return obj
