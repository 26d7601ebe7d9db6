"""Importing procurement files into the store, and removing them: the contracts graphs and the vendors graph.

All files are read and checked first; then each becomes one named graph, written new or staged and
swapped in, and the vendors graph is recomputed from every imported contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import NamedNode, Quad

from .. import integrity, search
from ..iris import Iris
from ..namespaces import sparql_prefixes
from ..settings import Settings
from ..store import GraphStore, Transaction, joined, one_generation, solutions, term_value
from .graph import contract_quads, vendor_quads
from .projects import ContractSettings, ProjectMatcher, read_agencies, read_projects
from .read import file_format, read_file
from .records import ContractRecord, ContractsInputError, is_valid_uscc, uscc_check_char
from .vendors import VendorGroup, dedupe_vendors

_MENTIONS = sparql_prefixes(["bk"]) + """
SELECT ?c ?k ?name ?code WHERE {
  ?c a bk:Contract ; bk:supplierMention ?k . ?k bk:supplierName ?name . OPTIONAL { ?k bk:statedCreditCode ?code }
}
"""


@one_generation
def refresh_vendors(store: GraphStore, settings: Settings, tx: Transaction | None = None) -> list[VendorGroup]:
    """Rewrite the vendors graph from every imported contract (staged, then swapped in).

    ``tx`` is the caller's transaction (an import's); by default the vendors graph has its own.
    """
    iris = Iris(settings.base_iri)
    graph = iris.vendors_graph
    mentions = [(term_value(s["c"]), term_value(s["name"]), term_value(s["code"]) if s["code"] is not None else None)
                for s in solutions(store.query(_MENTIONS, name="contracts:mentions"))]
    groups = dedupe_vendors(mentions)
    with joined(store, tx) as t:
        if not groups:
            t.remove(graph)
        else:
            t.replace(graph, lambda target: vendor_quads(groups, iris, target))
    return groups


@dataclass
class Unlinked:
    where: str
    contract_id: str
    supplier: str
    project_name: str
    agency_code: str
    reason: str
    buyer_name: str = ""


@dataclass
class FileReport:
    file: str
    graph: str
    format: str
    contracts: int
    linked: int
    replaced: bool


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    unlinked: list[Unlinked] = field(default_factory=list)
    vendors: int = 0
    vendor_mentions: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def contracts(self) -> int:
        return sum(f.contracts for f in self.files)

    @property
    def linked(self) -> int:
        return sum(f.linked for f in self.files)


@one_generation
def import_files(store: GraphStore, paths: Sequence[str | Path], settings: Settings, fmt: str = "auto",
                 contract_settings: ContractSettings | None = None) -> ImportReport:
    """Import procurement files (see the module docstring); all are read and checked before any is written."""
    cs = contract_settings or ContractSettings()
    iris = Iris(settings.base_iri)
    parsed: list[tuple[Path, str, list[ContractRecord], str]] = []
    seen: dict[str, Path] = {}
    for raw in paths:
        p = Path(raw)
        if not p.is_file():
            raise ContractsInputError(p.name, 0, f"no such file: {p}")
        into = iris.contracts_graph(p.name).value
        if into in seen:
            raise ContractsInputError(p.name, 0, f"imports into the same graph as {seen[into]} (same file name stem)")
        seen[into] = p
        f = file_format(p, fmt)
        records = read_file(p, f)
        parsed.append((p, f, records, hashlib.sha256(p.read_bytes()).hexdigest()))
    matcher = ProjectMatcher(read_projects(store), settings.base_iri, cs, read_agencies(store))
    report = ImportReport()
    tx = store.transaction()
    writes: list[tuple[NamedNode, NamedNode, list[Quad]]] = []
    for p, f, records, sha in parsed:
        matches = [matcher.match(r) for r in records]
        graph = iris.contracts_graph(p.name)
        target = tx.target(graph)  # the graph itself when it is new, else a staging graph swapped in at commit
        replaced = target != graph
        writes.append((graph, target, contract_quads(p, records, matches, iris, target, f, sha)))
        report.files.append(FileReport(p.name, graph.value, f, len(records), sum(1 for m in matches if m.project),
                                       replaced))
        for r, m in zip(records, matches, strict=True):
            if not m.project:
                report.unlinked.append(Unlinked(r.where, r.contract_id, r.suppliers[0].name, r.project_name,
                                                r.agency_code, m.reason, r.buyer_name))
            for s in r.suppliers:
                if s.credit_code and not is_valid_uscc(s.credit_code):
                    report.warnings.append(f"{r.where}: credit code {s.credit_code} of {s.name} has a wrong check "
                                           f"character (expected {uscc_check_char(s.credit_code[:17])})")
    with tx:  # an error rolls back every graph written or staged here (see kg.store.transaction)
        for graph, target, quads in writes:
            tx.replace(graph, quads, target=target)
        tx.publish()  # the contracts are in: the vendors are read from them
        groups = refresh_vendors(store, settings, tx)
        tx.publish()
        # no contract or vendor fact may repeat one of another graph (totals would count it twice)
        integrity.check(store, [*(graph for graph, _, _ in writes), iris.vendors_graph])
    store.flush()
    search.refresh(store, settings, quiet=True)  # vendors become searchable
    report.vendors = len(groups)
    report.vendor_mentions = sum(sum(g.names.values()) for g in groups)
    return report


@one_generation
def remove_imports(store: GraphStore, files: Iterable[str], settings: Settings) -> int:
    """Remove the graphs of previously imported files (by file name) and refresh vendors."""
    iris = Iris(settings.base_iri)
    with store.transaction() as tx:
        n = sum(tx.remove(iris.contracts_graph(f)) for f in files)
        tx.publish()  # the vendors are read from the contracts that remain
        refresh_vendors(store, settings, tx)
    search.refresh(store, settings, quiet=True)
    return n
