"""Counts of what the store holds, per document graph and overall (``budgetkg stats``).

They are read from the summaries graph the build keeps (:mod:`kg.summaries`) when it describes the
store's current generation: a few small reads, whatever the size of the store. A store with no summary
of its generation (built before summaries were kept, or written since by ``budgetkg link``, a contracts
import or ``/update``) is counted instead, and :attr:`Stats.counted` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from . import summaries
from .iris import Iris
from .settings import Settings
from .store import GraphStore


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
    #: Published quads (the summaries graph's own included).
    quads: int
    #: Where the counts come from: ``"summary"`` (the summaries graph) or ``"counted"`` (the store was counted:
    #: no summary describes its generation).
    counted: str = "summary"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def note(self) -> str:
        """A sentence for people when the store had to be counted, else ``""``."""
        if self.counted == "summary":
            return ""
        return ("counted from the store: no summary of its current generation (written since the last build, or "
                "built before summaries were kept); `budgetkg build` records one")


def _money(x: Decimal) -> str:
    return f"{x.quantize(Decimal('0.01'))}"


def compute(store: GraphStore, base_iri: str | None = None) -> Stats:
    """Per-document and overall counts; budgets are sums of 预算数 in 万元.

    ``base_iri``: the base of the store's IRIs (where its summaries graph is); by default the settings'.
    """
    iris = Iris(base_iri if base_iri is not None else Settings.from_env().base_iri)
    counts = summaries.read(store, iris)
    counted = "summary"
    if counts is None:
        counts = summaries.measure(store, iris, partitions=False)
        counted = "counted"
    docs = [DocumentStats(d.document, d.graph, d.projects, d.indicators, d.budget_units, _money(d.budget_wanyuan))
            for d in counts.documents]
    return Stats(documents=docs, projects=counts.projects, indicators=counts.indicators, agencies=counts.agencies,
                 budget_units=counts.budget_units, departments=counts.departments,
                 budget_wanyuan=_money(counts.budget_wanyuan), quads=counts.quads + summaries.size(store, iris),
                 counted=counted)
