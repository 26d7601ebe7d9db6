"""Audit findings in the graph: the data-quality results about the tables, as queryable facts.

:func:`refresh_findings` runs the data-quality rules (``shapes/quality.ttl``) over the store with the
fast SPARQL engine and rewrites the graph ``<base>graph/findings`` atomically (like the agencies
graph): one ``bk:AuditFinding`` per result, linked to its rule, the project and budget unit it
concerns, its source document (``prov:wasDerivedFrom``) and line (``bk:lineStart``), with its message
in Chinese and English. The rules themselves are described there too (``bk:AuditRule`` with
``rdfs:label``, ``rdfs:comment`` and ``sh:severity``), so an analyst can ask in SPARQL which agencies
have the most findings of a kind (``queries/findings_by_agency.rq``)::

    SELECT ?unit (COUNT(?f) AS ?n) WHERE {
      ?f a bk:AuditFinding ; bk:auditRule bksh:CostLowerBound ; bk:concernsBudgetUnit ?unit .
    } GROUP BY ?unit ORDER BY DESC(?n)

Finding IRIs are a digest of what the finding says (rule, component, path, focus, value), so the same
data gives the same graph, byte for byte.
"""

from __future__ import annotations

import hashlib

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple

from . import integrity
from .iris import Iris
from .namespaces import BK, PROV, RDF, RDFS, SH, SKOS, XSD
from .settings import Settings
from .shapes import Shapes, ValidationReport, load_shapes, validate
from .store import GraphStore, Transaction, joined, one_generation

#: The shapes files whose results are audit findings.
AUDIT_KINDS = ("quality",)


def findings_graph(settings: Settings) -> NamedNode:
    """``<base>graph/findings``, next to the document graphs and ``graph/agencies``.

    >>> findings_graph(Settings(base_iri="http://ex.org/")).value
    'http://ex.org/graph/findings'
    """
    return Iris(settings.base_iri).findings_graph


def finding_iri(settings: Settings, key: tuple[str, ...]) -> NamedNode:
    digest = hashlib.sha1("\x1f".join(key).encode("utf-8")).hexdigest()[:16]
    return NamedNode(f"{Iris(settings.base_iri).base}finding/{digest}")


def finding_quads(report: ValidationReport, settings: Settings, graph: NamedNode) -> list[Quad]:
    """The findings of ``report`` and the rules that were checked, as quads in ``graph``."""
    out: list[Quad] = []

    def add(s: NamedNode, p: NamedNode, o: object) -> None:
        if isinstance(o, NamedNode | BlankNode | Literal | Triple):  # None: nothing to state
            out.append(Quad(s, p, o, graph))

    for rule in sorted(report.rules.values(), key=lambda r: r.iri):
        node = NamedNode(rule.iri)
        add(node, RDF.type, BK.AuditRule)
        add(node, RDFS.label, Literal(rule.label_zh, language="zh"))
        add(node, RDFS.label, Literal(rule.label_en, language="en"))
        if rule.comment_en:
            add(node, RDFS.comment, Literal(rule.comment_en, language="en"))
        if rule.comment_zh:
            add(node, RDFS.comment, Literal(rule.comment_zh, language="zh"))
        add(node, SH.severity, SH[rule.severity])
        add(node, SKOS.notation, Literal(rule.name))
    for f in report.findings:
        node = finding_iri(settings, f.key)
        add(node, RDF.type, BK.AuditFinding)
        add(node, BK.auditRule, NamedNode(f.rule))
        add(node, SH.resultSeverity, SH[f.severity])
        add(node, SH.sourceConstraintComponent, SH[f.component])
        add(node, SH.resultMessage, Literal(f.message_zh, language="zh"))
        add(node, SH.resultMessage, Literal(f.message_en, language="en"))
        add(node, SH.focusNode, f.focus)
        if f.path_iri:
            add(node, SH.resultPath, NamedNode(f.path_iri))
        add(node, SH.value, f.value)
        add(node, BK.concernsProject, f.project)
        if f.budget_unit is not None and len(f.budget_unit.value.rsplit("/", 1)[-1]) == 6:
            add(node, BK.concernsBudgetUnit, f.budget_unit)
        add(node, PROV.wasDerivedFrom, f.document)
        if f.line:
            add(node, BK.lineStart, Literal(str(f.line), datatype=XSD.positiveInteger))
        if f.detail:
            add(node, BK.findingDetail, Literal(f.detail))
    return out


@one_generation
def refresh_findings(store: GraphStore, settings: Settings, *, report: ValidationReport | None = None,
                     shapes: Shapes | None = None, tx: Transaction | None = None) -> int:
    """Run the data-quality rules over ``store`` and rewrite its findings graph; returns how many findings.

    ``report`` (a validation the caller has already run, e.g. ``budgetkg validate``) is recorded
    instead of running the rules again; only its data-quality findings are kept. The graph is
    replaced in one step (staged, then swapped in), so readers see the old or the new findings.
    ``tx``: the caller's transaction (a build's, which swaps the graph in with its next publish);
    by default the findings graph is a transaction of its own.
    """
    if report is None:
        report = validate(store, shapes or load_shapes(settings.shapes_dir, AUDIT_KINDS), engine="sparql")
    report = report.only(AUDIT_KINDS)
    graph = findings_graph(settings)
    with joined(store, tx) as t:
        t.replace(graph, lambda target: finding_quads(report, settings, target))
    if tx is not None:
        return len(report.findings)  # swapped in and checked with the build's other derived graphs
    store.flush()
    integrity.check(store, [graph])
    return len(report.findings)
