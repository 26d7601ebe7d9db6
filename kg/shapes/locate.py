"""Where a finding is in the source documents: its project, budget unit, file, line and row."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from pyoxigraph import NamedNode

from ..namespaces import BK, DCTERMS, PROV, RDF, RDFS
from ..rdf import term_value
from .data import Dataset
from .report import Finding, Term

#: The value properties whose owner (a project, or a funding row of one) a value node is located at.
_AMOUNTS = ("budget", "fiscalFunds", "otherFunds", "totalFunding", "amount", "amountReceived")
#: What :class:`Locator` reads of a node: the objects of these predicates …
_OUT = (RDF.type, BK.ofProject, BK.target, PROV.wasDerivedFrom, DCTERMS.identifier, BK.lineStart, RDFS.label,
        BK.budgetUnit, BK.budgetUnitCode, BK.budgetUnitName, BK.level1Label, BK.level2Label, BK.indicatorName,
        BK.rawValue, BK.goalText, BK.fundingLabel, BK.agencyCode)
#: … and the subjects that point at it by these.
_IN = (BK.target, BK.hasGoal, BK.hasFundingAllocation, *(BK[p] for p in _AMOUNTS))
#: Where it goes from a node (besides the subjects of :data:`_IN`): its project, target and document.
_ONWARD = (BK.ofProject, BK.target, PROV.wasDerivedFrom)


class Locator:
    """Where a node is in the source documents: its project, row (indicator, goal, funding row) and line.

    Index look-ups, memoised: a finding costs a few dozen of them, where one SPARQL query over many
    focus nodes (``VALUES``) made Oxigraph scan whole predicates. On a remote store, where each look-up
    is a request, :meth:`prefetch` reads them in bulk first.
    """

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self._place: dict[Term, tuple[Term | None, Term | None]] = {}
        self._projects: dict[Term, dict[str, Any]] = {}
        self._rows: dict[Term, dict[str, Any]] = {}

    def obj(self, s: Term, p: NamedNode) -> Any:
        return next(iter(self.data.objects(s, p)), None)

    def subj(self, p: NamedNode, o: Term) -> Any:
        return next(iter(self.data.subjects(p, o)), None)

    def prefetch(self, nodes: list[Term]) -> None:
        """Read what locating ``nodes`` reads, in bulk (:meth:`Dataset.prefetch`; nothing on a local store): the
        nodes' facts, then those of the nodes they lead to (projects, rows, targets, documents), round by round
        until no new node: a few rounds of requests, however many findings there are."""
        if not self.data.bulk:
            return
        seen: set[Term] = set()
        todo = list(dict.fromkeys(n for n in nodes if isinstance(n, NamedNode)))
        while todo:
            self.data.prefetch(todo, _OUT, _IN)
            seen.update(todo)
            onward = [o for n in todo for p in _ONWARD for o in self.data.objects(n, p)]
            onward += [s for n in todo for p in _IN for s in self.data.subjects(p, n)]
            todo = [n for n in dict.fromkeys(onward) if isinstance(n, NamedNode) and n not in seen]

    def place(self, node: Term) -> tuple[Term | None, Term | None]:
        """(project, row) of a node; row is None for a project itself."""
        if node in self._place:
            return self._place[node]
        project = row = None
        if isinstance(node, NamedNode):
            if BK.Project in self.data.objects(node, RDF.type):
                project = node
            elif (p := self.obj(node, BK.ofProject)) is not None:
                project, row = p, node
            elif (r := self.subj(BK.target, node)) is not None:
                project, row = self.obj(r, BK.ofProject), r
            elif (p := self.subj(BK.hasGoal, node) or self.subj(BK.hasFundingAllocation, node)) is not None:
                project, row = p, node
            else:
                for prop in _AMOUNTS:
                    if (owner := self.subj(BK[prop], node)) is not None:
                        if prop.startswith("amount"):
                            project, row = self.subj(BK.hasFundingAllocation, owner), owner
                        else:
                            project = owner
                        break
        self._place[node] = (project, row)
        return project, row

    def project(self, node: Term) -> dict[str, Any]:
        if node not in self._projects:
            doc = self.obj(node, PROV.wasDerivedFrom)
            self._projects[node] = {
                "name": self.obj(node, RDFS.label), "unit": self.obj(node, BK.budgetUnit),
                "code": self.obj(node, BK.budgetUnitCode), "uname": self.obj(node, BK.budgetUnitName),
                "doc": doc, "file": self.obj(doc, DCTERMS.identifier) if doc is not None else None,
                "line": self.obj(node, BK.lineStart),
            }
        return self._projects[node]

    def row(self, node: Term) -> dict[str, Any]:
        if node not in self._rows:
            doc = self.obj(node, PROV.wasDerivedFrom)
            file = self.obj(doc, DCTERMS.identifier) if doc is not None else None
            if doc is None and BK.SourceDocument in self.data.objects(node, RDF.type):
                doc, file = node, self.obj(node, DCTERMS.identifier)
            text = None
            if (l1 := self.obj(node, BK.level1Label)) is not None:
                target = self.obj(node, BK.target)
                raw = self.obj(target, BK.rawValue) if target is not None else None
                name = self.obj(node, BK.indicatorName)
                level2 = self.obj(node, BK.level2Label)
                text = " / ".join(t.value for t in (l1, level2, name) if t is not None)
                text += f" = {raw.value}" if raw is not None else ""
            else:
                for prop in ("goalText", "fundingLabel", "agencyCode"):
                    if (t := self.obj(node, BK[prop])) is not None:
                        text = t.value
                        break
            self._rows[node] = {"line": self.obj(node, BK.lineStart), "doc": doc, "file": file, "text": text}
        return self._rows[node]


def locate(data: Dataset, findings: list[Finding]) -> list[Finding]:
    """Fill in project, budget unit, document, file, line and detail of each finding."""
    where = Locator(data)
    where.prefetch([*(f.focus for f in findings), *(f.value for f in findings if isinstance(f.value, NamedNode))])
    out = []
    for f in findings:
        project, row_node = where.place(f.focus)
        p = where.project(project) if project is not None else {}
        row = where.row(row_node if row_node is not None else f.focus) if isinstance(f.focus, NamedNode) else {}
        # a value that is a row of the same project (the repeated indicator) is where to look
        if isinstance(f.value, NamedNode) and project is not None:
            v_project, v_row = where.place(f.value)
            if v_project == project and v_row is not None:
                row = where.row(v_row)
        line = row.get("line") or p.get("line")
        unit = p.get("unit")
        if unit is None and isinstance(f.focus, NamedNode) and re.search(r"/agency/\d{6}$", f.focus.value):
            unit = f.focus
        out.append(replace(
            f, project=project, project_name=term_value(p.get("name")), budget_unit=unit,
            unit_code=term_value(p.get("code")), unit_name=term_value(p.get("uname")),
            document=p.get("doc") or row.get("doc"), file=term_value(p.get("file") or row.get("file")),
            line=_line(line),
            detail=row.get("text") or term_value(p.get("name"))))
    return out


def _line(term: object) -> int | None:
    """A finding's line: its row's ``bk:lineStart`` when that is a whole number (a malformed one, which a rule
    reports, locates nothing rather than failing the report).

    >>> from pyoxigraph import Literal
    >>> _line(Literal("12")), _line(Literal("第12行")), _line(None)
    (12, None, None)
    """
    value = getattr(term, "value", None)
    try:
        return int(value) if isinstance(value, str) else None
    except ValueError:
        return None
