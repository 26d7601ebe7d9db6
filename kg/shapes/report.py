"""The validation report (SHACL 3.6): rules, typed findings located in the source documents, and the report.

A :class:`Finding` is one ``sh:ValidationResult`` with where it is in the source documents; a
:class:`ValidationReport` holds them with the rules that were checked, and gives them back as
JSON or as the standard ``sh:ValidationReport`` in RDF.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from typing import Literal as TypingLiteral

from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Quad, RdfFormat, serialize

from ..namespaces import ONTOLOGY_IRI, PREFIXES, RDF, SH, XSD, Namespace

#: IRIs of the shapes themselves (bksh:ProjectShape, bksh:CostLowerBound …).
BKSH = Namespace(ONTOLOGY_IRI + "shapes/")


Severity = TypingLiteral["Violation", "Warning", "Info"]
SEVERITIES: tuple[Severity, ...] = ("Violation", "Warning", "Info")


def severity_named(name: str) -> Severity | None:
    """The severity whose local name (in ``sh:``) is ``name``, or None.

    >>> severity_named("Warning"), severity_named("Fatal")
    ('Warning', None)
    """
    return next((s for s in SEVERITIES if s == name), None)

Engine = TypingLiteral["sparql", "pyshacl"]
#: Display prefixes: the project's, plus the shapes namespace.
DISPLAY_PREFIXES: dict[str, str] = {**PREFIXES, "bksh": str(BKSH)}
#: The numeric datatypes: a value of one is compared by its number (487.50 is 487.5).
NUMERIC_TYPES = {XSD[t].value for t in ("decimal", "integer", "double", "float", "long", "int", "short", "byte",
                                     "nonNegativeInteger", "positiveInteger", "negativeInteger",
                                     "nonPositiveInteger", "unsignedLong", "unsignedInt")}


Term = NamedNode | BlankNode | Literal


def _canonical(term: Term | None) -> str:
    """A term as N-Triples, numbers by their value: 487.50 and 487.5 are one sum.

    >>> _canonical(Literal("487.50", datatype=XSD.decimal))
    '487.5'
    """
    if term is None:
        return ""
    if isinstance(term, Literal) and term.datatype.value in NUMERIC_TYPES:
        try:
            number = Decimal(term.value)
        except InvalidOperation:
            return str(term)
        return format(number.normalize(), "f")
    return str(term)


def term_text(term: Term | None, compact: bool = True) -> str:
    """A term for people: a literal's text, an IRI shortened by the project prefixes.

    >>> term_text(NamedNode("https://budgetkg.example.org/def/Project"))
    'bk:Project'
    >>> term_text(Literal("≥90%"))
    '≥90%'
    """
    if term is None:
        return ""
    if isinstance(term, Literal):
        return term.value
    if isinstance(term, BlankNode):
        return f"_:{term.value}"
    return compact_iri(term.value) if compact else term.value


def compact_iri(iri: str) -> str:
    """``bk:Project`` for a known namespace (the longest that matches), else the IRI itself."""
    best = ""
    for prefix, ns in DISPLAY_PREFIXES.items():
        if iri.startswith(ns) and len(ns) > len(DISPLAY_PREFIXES.get(best, "")):
            local = iri[len(ns):]
            if re.fullmatch(r"[A-Za-z0-9_.-]*", local):
                best = prefix
    return f"{best}:{iri[len(DISPLAY_PREFIXES[best]):]}" if best else iri


@dataclass(frozen=True)
class Rule:
    """A top-level shape: a structural shape or a data-quality rule."""

    iri: str
    kind: str  # the shapes file it comes from: structure, quality …
    severity: Severity
    label_zh: str
    label_en: str
    comment_en: str = ""
    comment_zh: str = ""

    @property
    def name(self) -> str:
        return self.iri.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


@dataclass(frozen=True)
class Finding:
    """One validation result, with where it is in the source documents."""

    rule: str  # IRI of the rule (top-level shape)
    severity: Severity
    focus: Term
    component: str  # local name, e.g. MinCountConstraintComponent
    source_shape: str  # IRI, or _:id of a property shape
    message_zh: str
    message_en: str
    path: str | None = None  # compact SPARQL property path
    path_iri: str | None = None  # when the path is one predicate
    value: Term | None = None
    project: Term | None = None
    project_name: str | None = None
    budget_unit: NamedNode | None = None
    unit_code: str | None = None
    unit_name: str | None = None
    document: NamedNode | None = None
    file: str | None = None
    line: int | None = None
    detail: str | None = None

    @property
    def rule_name(self) -> str:
        return self.rule.rsplit("/", 1)[-1]

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What identifies a result across engines: rule, component, path, focus, value (numbers by value)."""
        return (self.rule, self.component, self.path or "", str(self.focus), _canonical(self.value))

    @property
    def reported_shape(self) -> str:
        """The source shape to report: a property shape's blank node means nothing outside the shapes
        graph (and changes every time it is parsed), so its rule stands in for it."""
        return self.rule if self.source_shape.startswith("_:") else self.source_shape

    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or term_text(self.focus)

    def short(self) -> str:
        """``file:line: message (rule)`` — the line a build error shows."""
        return f"{self.where()}: {self.message_en} [{self.rule_name}]"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["source_shape"] = self.reported_shape
        for k in ("focus", "value", "project", "budget_unit", "document"):
            out[k] = None if getattr(self, k) is None else term_text(getattr(self, k), compact=False)
        out["rule_name"] = self.rule_name
        out["message"] = {"zh": out.pop("message_zh"), "en": out.pop("message_en")}
        return out


@dataclass
class ValidationReport:
    """What a validation found, with the rules that were checked."""

    findings: list[Finding]
    rules: dict[str, Rule]
    engine: str
    seconds: float = 0.0
    focus_nodes: int = 0
    source: str = ""

    @property
    def conforms(self) -> bool:
        """True when nothing was found at all (SHACL's ``sh:conforms``)."""
        return not self.findings

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "Violation"]

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in SEVERITIES}

    def by_rule(self) -> dict[str, int]:
        return dict(Counter(f.rule for f in self.findings))

    def at_least(self, severity: str) -> ValidationReport:
        """Only findings of ``severity`` or more severe (Violation > Warning > Info)."""
        keep = set(SEVERITIES[: SEVERITIES.index(severity) + 1])
        return replace(self, findings=[f for f in self.findings if f.severity in keep])

    def only(self, kinds: Iterable[str]) -> ValidationReport:
        """Only the findings (and rules) of the given shapes files (``structure``, ``quality`` …)."""
        wanted = set(kinds)
        rules = {k: r for k, r in self.rules.items() if r.kind in wanted}
        return replace(self, rules=rules, findings=[f for f in self.findings if f.rule in rules])

    def as_dict(self) -> dict[str, Any]:
        per_rule = self.by_rule()
        return {
            "source": self.source, "engine": self.engine, "seconds": round(self.seconds, 3),
            "conforms": self.conforms, "violations": len(self.violations), "counts": self.counts(),
            "rules": [{"rule": r.iri, "name": r.name, "kind": r.kind, "severity": r.severity,
                       "label": {"zh": r.label_zh, "en": r.label_en}, "findings": per_rule.get(r.iri, 0)}
                      for r in sorted(self.rules.values(), key=lambda r: (SEVERITIES.index(r.severity), r.iri))],
            "findings": [f.as_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=1)

    def to_quads(self, graph: NamedNode | None = None) -> list[Quad]:
        """The standard ``sh:ValidationReport`` (one ``sh:ValidationResult`` per finding) as quads."""
        g = graph or DefaultGraph()
        report = BlankNode("report")
        out = [Quad(report, RDF.type, SH.ValidationReport, g),
               Quad(report, SH.conforms, _bool(self.conforms), g)]
        for n, f in enumerate(self.findings):
            r = BlankNode(f"r{n}")
            out.append(Quad(report, SH.result, r, g))
            out.append(Quad(r, RDF.type, SH.ValidationResult, g))
            out.append(Quad(r, SH.focusNode, f.focus, g))
            out.append(Quad(r, SH.resultSeverity, SH[f.severity], g))
            out.append(Quad(r, SH.sourceConstraintComponent, SH[f.component], g))
            out.append(Quad(r, SH.sourceShape, NamedNode(f.reported_shape), g))
            if f.path_iri:
                out.append(Quad(r, SH.resultPath, NamedNode(f.path_iri), g))
            if f.value is not None:
                out.append(Quad(r, SH.value, f.value, g))
            out.append(Quad(r, SH.resultMessage, Literal(f.message_zh, language="zh"), g))
            out.append(Quad(r, SH.resultMessage, Literal(f.message_en, language="en"), g))
        return out

    def to_turtle(self) -> bytes:
        triples = [q.triple for q in self.to_quads()]
        return serialize(triples, format=RdfFormat.TURTLE, prefixes=DISPLAY_PREFIXES) or b""


def _bool(x: bool) -> Literal:
    return Literal("true" if x else "false", datatype=XSD.boolean)
