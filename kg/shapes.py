"""SHACL shapes (``shapes/*.ttl``): load them, validate data against them, report typed findings.

Two engines give the same results:

- ``"pyshacl"``, the reference: pySHACL over an rdflib copy of the data.
- ``"sparql"``, the fast path: every shape is compiled once to SPARQL SELECT queries (one per
  constraint) that Oxigraph runs over the store itself. SHACL Core constraints become graph patterns
  and filters; SHACL-SPARQL constraints (``sh:sparql``) run as sub-queries joined with the shape's
  targets, so a rule runs once for the whole graph instead of once per focus node.

The compiler covers the part of SHACL the shapes use (targets, property paths, cardinality, value
type, value range, string, property-pair and logical constraints, qualified counts of 1, SPARQL
constraints on node shapes) and refuses anything else with :class:`ShapesError`, so a new shape can
never be silently skipped by the fast path. Tests run both engines on the seeds and on a fixture of
every rule and compare their results.

Every result becomes a :class:`Finding` that names its rule, the project, budget unit, source file
and line it concerns, with its message in Chinese and English::

    shapes = load_shapes(settings.shapes_dir)
    report = validate(store, shapes)                  # a GraphStore, an Oxigraph Store, quads or a file
    for f in report.findings:
        print(f.severity, f.rule_name, f.file, f.line, f.message_en)

:func:`structural_check` is the check ``kg.build.build`` runs on each document before committing it.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from typing import Literal as TypingLiteral

import rdflib
from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Quad, RdfFormat, Store, serialize
from rdflib import RDF, BNode, URIRef
from rdflib.collection import Collection
from rdflib.plugins.sparql import prepareQuery

from .errors import BudgetKGError, ValidationError
from .model import ParsedDocument
from .namespaces import ONTOLOGY_IRI, PREFIXES, Namespace
from .settings import Settings
from .store import STAGING_PREFIX, EmbeddedStore, GraphStore

#: IRIs of the shapes themselves (bksh:ProjectShape, bksh:CostLowerBound …).
BKSH = Namespace(ONTOLOGY_IRI + "shapes/")
_SH = "http://www.w3.org/ns/shacl#"
_RDFS = "http://www.w3.org/2000/01/rdf-schema#"
_XSD = "http://www.w3.org/2001/XMLSchema#"

SEVERITIES = ("Violation", "Warning", "Info")
Severity = TypingLiteral["Violation", "Warning", "Info"]
Engine = TypingLiteral["sparql", "pyshacl"]
#: Display prefixes: the project's, plus the shapes namespace.
DISPLAY_PREFIXES: dict[str, str] = {**PREFIXES, "bksh": str(BKSH)}
_NUMERIC_TYPES = {_XSD + t for t in ("decimal", "integer", "double", "float", "long", "int", "short", "byte",
                                     "nonNegativeInteger", "positiveInteger", "negativeInteger",
                                     "nonPositiveInteger", "unsignedLong", "unsignedInt")}


class ShapesError(BudgetKGError):
    """The shapes cannot be loaded or use a SHACL feature the fast path does not compile."""


class RDFInputError(BudgetKGError):
    """An RDF file given for validation cannot be read or parsed."""


class StructureViolation(ValidationError):
    """A document's quads violate the structural shapes; ``findings`` holds every violation."""

    def __init__(self, source: str, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__(source, [f.short() for f in findings])


def sh(name: str) -> URIRef:
    return URIRef(_SH + name)


# ---------------------------------------------------------------------------------------------
# Findings and reports
# ---------------------------------------------------------------------------------------------

Term = NamedNode | BlankNode | Literal


def _canonical(term: Term | None) -> str:
    """A term as N-Triples, numbers by their value: 487.50 and 487.5 are one sum.

    >>> _canonical(Literal("487.50", datatype=NamedNode(_XSD + "decimal")))
    '487.5'
    """
    if term is None:
        return ""
    if isinstance(term, Literal) and term.datatype.value in _NUMERIC_TYPES:
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
    project: NamedNode | None = None
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
        rdf_type = NamedNode(str(RDF.type))
        report = BlankNode("report")
        out = [Quad(report, rdf_type, NamedNode(_SH + "ValidationReport"), g),
               Quad(report, NamedNode(_SH + "conforms"), _bool(self.conforms), g)]
        for n, f in enumerate(self.findings):
            r = BlankNode(f"r{n}")
            out.append(Quad(report, NamedNode(_SH + "result"), r, g))
            out.append(Quad(r, rdf_type, NamedNode(_SH + "ValidationResult"), g))
            out.append(Quad(r, NamedNode(_SH + "focusNode"), f.focus, g))
            out.append(Quad(r, NamedNode(_SH + "resultSeverity"), NamedNode(_SH + f.severity), g))
            out.append(Quad(r, NamedNode(_SH + "sourceConstraintComponent"), NamedNode(_SH + f.component), g))
            out.append(Quad(r, NamedNode(_SH + "sourceShape"), NamedNode(f.reported_shape), g))
            if f.path_iri:
                out.append(Quad(r, NamedNode(_SH + "resultPath"), NamedNode(f.path_iri), g))
            if f.value is not None:
                out.append(Quad(r, NamedNode(_SH + "value"), f.value, g))
            out.append(Quad(r, NamedNode(_SH + "resultMessage"), Literal(f.message_zh, language="zh"), g))
            out.append(Quad(r, NamedNode(_SH + "resultMessage"), Literal(f.message_en, language="en"), g))
        return out

    def to_turtle(self) -> bytes:
        triples = [q.triple for q in self.to_quads()]
        return serialize(triples, format=RdfFormat.TURTLE, prefixes=DISPLAY_PREFIXES) or b""


def _bool(x: bool) -> Literal:
    return Literal("true" if x else "false", datatype=NamedNode(_XSD + "boolean"))


# ---------------------------------------------------------------------------------------------
# Shapes and their compiled form
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """One constraint of one shape, compiled to a SELECT of ``?this`` (and ``?value``, …)."""

    rule: Rule
    source_shape: rdflib.term.Node
    component: str
    sparql: str
    severity: Severity
    messages: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    path_iri: str | None = None
    has_value: bool = False
    sparql_inline: str = ""  # the same query with the target patterns inline (few focus nodes)
    target: str = ""  # counts the focus nodes of the rule

    @property
    def shape_id(self) -> str:
        return _node_id(self.source_shape)


def _node_id(node: rdflib.term.Node) -> str:
    return f"_:{node}" if isinstance(node, BNode) else str(node)


@dataclass
class Shapes:
    """Shapes loaded from ``shapes/*.ttl``: the rdflib graph (for pySHACL) and its compiled form."""

    graph: rdflib.Graph
    files: list[Path]
    rules: dict[str, Rule]
    constraints: list[Constraint]
    _by_shape: dict[tuple[str, str], Constraint] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for c in self.constraints:
            self._by_shape.setdefault((c.shape_id, c.component), c)

    @property
    def kinds(self) -> list[str]:
        return [f.stem for f in self.files]

    def constraint_for(self, shape_id: str, component: str) -> Constraint | None:
        return self._by_shape.get((shape_id, component))


def load_shapes(directory: Path, kinds: Iterable[str] | None = None) -> Shapes:
    """Load ``directory/*.ttl`` (or only the files named by ``kinds``, e.g. ``["structure"]``).

    Raises :class:`ShapesError` if a file is not valid Turtle or a shape uses a SHACL feature the
    SPARQL compiler does not support.
    """
    wanted = None if kinds is None else list(kinds)
    files = sorted(directory.glob("*.ttl"))
    if wanted is not None:
        missing = [k for k in wanted if not (directory / f"{k}.ttl").is_file()]
        if missing:
            raise ShapesError(f"no shapes file {', '.join(m + '.ttl' for m in missing)} in {directory}")
        files = [directory / f"{k}.ttl" for k in wanted]
    if not files:
        raise ShapesError(f"no shapes (*.ttl) in {directory}")
    graph = rdflib.Graph()
    origin: dict[rdflib.term.Node, str] = {}
    for f in files:
        part = rdflib.Graph()
        try:
            part.parse(f, format="turtle")
        except Exception as exc:  # rdflib raises many kinds of parser errors
            raise ShapesError(f"{f}: not valid Turtle: {exc}") from None
        for s in part.subjects(RDF.type, sh("NodeShape")):
            origin.setdefault(s, f.stem)
        for s in part.subjects(RDF.type, sh("PropertyShape")):
            origin.setdefault(s, f.stem)
        for t in part:
            graph.add(t)
    compiler = _Compiler(graph)
    rules: dict[str, Rule] = {}
    constraints: list[Constraint] = []
    for shape in compiler.top_level_shapes():
        rule = compiler.rule(shape, origin.get(shape, "shapes"))
        rules[rule.iri] = rule
        constraints.extend(compiler.compile_top(shape, rule))
    return Shapes(graph, files, rules, constraints)


# ---------------------------------------------------------------------------------------------
# The SHACL → SPARQL compiler
# ---------------------------------------------------------------------------------------------

_TARGETS = ("targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf", "target")
_UNSUPPORTED = ("closed", "xone", "qualifiedMaxCount", "rule", "expression")
_NODE_KINDS = {
    "IRI": "isIRI({v})", "BlankNode": "isBlank({v})", "Literal": "isLiteral({v})",
    "BlankNodeOrIRI": "!isLiteral({v})", "BlankNodeOrLiteral": "!isIRI({v})", "IRIOrLiteral": "!isBlank({v})",
}
_COMPARISONS = {"minInclusive": ">=", "maxInclusive": "<=", "minExclusive": ">", "maxExclusive": "<"}


@dataclass
class _Branch:
    """One constraint in SPARQL.

    ``top`` has solutions iff the focus ``x`` violates the constraint, written for the group of a
    query where ``x`` is a variable bound by the same group (anti-joins as ``MINUS``, counts as
    aggregates); ``nested`` says the same where ``x`` is bound from outside (inside ``FILTER EXISTS``,
    where ``MINUS`` would see no shared variable). ``conform`` / ``conform_top`` list patterns that all
    hold iff ``x`` conforms: triple patterns that bind ``x`` where possible (so the optimiser can join on
    them), filters otherwise.

    Oxigraph evaluates ``FILTER (NOT) EXISTS`` once per solution but ``MINUS`` and aggregates once per
    query, so the top-level forms are what keeps whole-store validation fast.
    """

    top: str
    nested: str
    conform: list[str]
    conform_top: list[str]
    component: str
    params: dict[str, str]
    value: str | None  # the variable holding the value node, if the result has one


def _positive(parts: list[str]) -> bool:
    return any(not p.startswith("FILTER") for p in parts)


class _Compiler:
    def __init__(self, g: rdflib.Graph) -> None:
        self.g = g
        self.n = 0

    # -- reading the shapes graph ---------------------------------------------------------
    def fresh(self, stem: str = "v") -> str:
        self.n += 1
        return f"?_{stem}{self.n}"

    def one(self, s: rdflib.term.Node, p: str) -> rdflib.term.Node | None:
        return self.g.value(s, sh(p))

    def all(self, s: rdflib.term.Node, p: str) -> list[rdflib.term.Node]:
        return sorted(self.g.objects(s, sh(p)), key=str)

    def items(self, node: rdflib.term.Node) -> list[rdflib.term.Node]:
        return list(Collection(self.g, node))

    def top_level_shapes(self) -> list[rdflib.term.Node]:
        found = {s for t in _TARGETS for s in self.g.subjects(sh(t), None)}
        return sorted((s for s in found if not self._deactivated(s)), key=str)

    def _deactivated(self, s: rdflib.term.Node) -> bool:
        d = self.one(s, "deactivated")
        return d is not None and str(d).lower() == "true"

    def rule(self, shape: rdflib.term.Node, kind: str) -> Rule:
        if not isinstance(shape, URIRef):
            raise ShapesError("a shape with targets must have an IRI (it names the rule of its findings)")

        def text(p: URIRef, lang: str) -> str:
            vals = [o for o in self.g.objects(shape, p) if isinstance(o, rdflib.Literal) and o.language == lang]
            return str(vals[0]) if vals else ""

        label, comment = URIRef(_RDFS + "label"), URIRef(_RDFS + "comment")
        return Rule(str(shape), kind, self.severity(shape), text(label, "zh") or shape.split("/")[-1],
                    text(label, "en") or shape.split("/")[-1], text(comment, "en"), text(comment, "zh"))

    def severity(self, shape: rdflib.term.Node) -> Severity:
        sev = self.one(shape, "severity")
        name = str(sev).rsplit("#", 1)[-1] if sev is not None else "Violation"
        if name not in SEVERITIES:
            raise ShapesError(f"{shape}: unknown severity {sev}")
        return name  # type: ignore[return-value]

    def messages(self, *nodes: rdflib.term.Node | None) -> dict[str, str]:
        for node in nodes:
            if node is None:
                continue
            msgs = {o.language or "": str(o) for o in self.g.objects(node, sh("message"))
                    if isinstance(o, rdflib.Literal)}
            if msgs:
                return msgs
        return {}

    # -- terms and paths ---------------------------------------------------------------------
    def term(self, node: rdflib.term.Node) -> str:
        if isinstance(node, URIRef):
            return f"<{node}>"
        if isinstance(node, rdflib.Literal):
            return node.n3()
        raise ShapesError(f"a blank node ({node}) cannot be a constant in a constraint")

    def path(self, node: rdflib.term.Node, compact: bool = False) -> str:
        if isinstance(node, URIRef):
            return compact_iri(str(node)) if compact else f"<{node}>"
        if (node, RDF.first, None) in self.g:
            return "(" + "/".join(self.path(p, compact) for p in self.items(node)) + ")"
        for key, fmt in (("inversePath", "^{}"), ("zeroOrMorePath", "{}*"), ("oneOrMorePath", "{}+"),
                         ("zeroOrOnePath", "{}?")):
            inner = self.one(node, key)
            if inner is not None:
                text = self.path(inner, compact)
                return fmt.format(text if text.startswith("(") or isinstance(inner, URIRef) else f"({text})")
        alt = self.one(node, "alternativePath")
        if alt is not None:
            return "(" + "|".join(self.path(p, compact) for p in self.items(alt)) + ")"
        raise ShapesError(f"unsupported property path {node}")

    # -- targets -----------------------------------------------------------------------------
    def targets(self, shape: rdflib.term.Node) -> tuple[str, str, list[tuple[str, str]]]:
        """Patterns binding ``?this`` to the focus nodes of ``shape``, and the prefixes they need.

        Two forms: a ``SELECT DISTINCT`` sub-query (Oxigraph hash-joins it with the constraint: best
        when the focus nodes are many) and the same patterns inline (Oxigraph looks the constraint up
        from each focus node: best when they are few); :func:`_run_sparql` picks one per shape.
        """
        parts, prefixes = [], []
        for c in self.all(shape, "targetClass"):
            parts.append(f"?this <{RDF.type}>/<{_RDFS}subClassOf>* {self.term(c)} .")
        nodes = self.all(shape, "targetNode")
        if nodes:
            parts.append("VALUES ?this { " + " ".join(self.term(n) for n in nodes) + " }")
        for p in self.all(shape, "targetSubjectsOf"):
            parts.append(f"?this {self.term(p)} [] .")
        for p in self.all(shape, "targetObjectsOf"):
            parts.append(f"[] {self.term(p)} ?this .")
        for t in self.all(shape, "target"):  # SHACL-AF SPARQL-based targets
            select = self.one(t, "select")
            if select is None or self._deactivated(t):
                raise ShapesError(f"{shape}: only SPARQL-based targets (sh:SPARQLTarget with sh:select) are supported")
            parts.append("{ " + str(select) + " }")
            prefixes.extend(self.prefixes(t))
        body = " UNION ".join("{ " + p + " }" for p in parts)
        inline = parts[0] if len(parts) == 1 and not parts[0].startswith("{") else body
        return "{ SELECT DISTINCT ?this WHERE { " + body + " } }", inline, prefixes

    # -- constraints ---------------------------------------------------------------------------
    def compile_top(self, shape: rdflib.term.Node, rule: Rule) -> list[Constraint]:
        target, inline, target_prefixes = self.targets(shape)
        out = []
        for source, branch in self.shape_branches(shape, "?this"):
            value = f" BIND({branch.value} AS ?value)" if branch.value else ""
            head = "SELECT DISTINCT ?this ?value" if branch.value else "SELECT DISTINCT ?this"
            sparql = f"{_prologue(target_prefixes)}{head} WHERE {{ {target} {branch.top}{value} }}"
            sparql_inline = f"{_prologue(target_prefixes)}{head} WHERE {{ {inline} {branch.top}{value} }}"
            out.append(replace(self._constraint(rule, source, branch, sparql, shape), sparql_inline=sparql_inline,
                               target=f"{_prologue(target_prefixes)}SELECT (COUNT(*) AS ?n) WHERE {{ {target} }}"))
        for sparql_node in self.all(shape, "sparql"):
            if self._deactivated(sparql_node):
                continue
            if self.one(shape, "path") is not None:
                raise ShapesError(f"{shape}: sh:sparql is compiled on node shapes only")
            select = self.one(sparql_node, "select")
            if select is None:
                raise ShapesError(f"{shape}: sh:sparql without sh:select")
            text = str(select)
            if re.search(r"[$?](currentShape|shapesGraph|PATH)\b", text):
                raise ShapesError(f"{shape}: $currentShape, $shapesGraph and $PATH are not supported")
            prologue = _prologue(target_prefixes + self.prefixes(sparql_node))
            sparql = f"{prologue}SELECT * WHERE {{ {target} {{ {text} }} }}"
            # the result's value is ?value when the query selects one, else the focus node (SHACL 5.3.2)
            out.append(Constraint(rule, shape, "SPARQLConstraintComponent", sparql, self.severity(shape),
                                  self.messages(sparql_node, shape), {}, None, None, True))
        return out

    def prefixes(self, node: rdflib.term.Node) -> list[tuple[str, str]]:
        out = []
        for holder in self.all(node, "prefixes"):
            for decl in self.all(holder, "declare"):
                prefix, ns = self.one(decl, "prefix"), self.one(decl, "namespace")
                if prefix is None or ns is None:
                    raise ShapesError(f"{holder}: sh:declare needs sh:prefix and sh:namespace")
                out.append((str(prefix), str(ns)))
        return out

    def _constraint(self, rule: Rule, source: rdflib.term.Node, branch: _Branch, sparql: str,
                    top: rdflib.term.Node) -> Constraint:
        path_node = self.one(source, "path")
        path = self.path(path_node, compact=True) if path_node is not None else None
        return Constraint(rule, source, branch.component, sparql, self.severity(source),
                          self.messages(source, top if source == top else None), branch.params, path,
                          str(path_node) if isinstance(path_node, URIRef) else None, branch.value is not None)

    def shape_branches(self, shape: rdflib.term.Node, x: str) -> list[tuple[rdflib.term.Node, _Branch]]:
        """Each constraint of ``shape`` and of its sh:property shapes, with the shape declaring it."""
        out = [(shape, b) for b in self.branches(shape, x)]
        for ps in self.all(shape, "property"):
            if self._deactivated(ps):
                continue
            if self.one(ps, "path") is None:
                raise ShapesError(f"{shape}: a sh:property shape without sh:path")
            if self.all(ps, "property"):
                raise ShapesError(f"{ps}: sh:property inside a property shape is not supported")
            out.extend((ps, b) for b in self.branches(ps, x))
        return out

    def violates(self, shape: rdflib.term.Node, x: str) -> str | None:
        """A pattern with solutions iff ``x`` (bound outside) does not conform to ``shape``."""
        if self._deactivated(shape):
            return None
        if self.all(shape, "sparql"):
            raise ShapesError(f"{shape}: sh:sparql is compiled on top-level shapes only")
        parts = [b.nested for _, b in self.shape_branches(shape, x)]
        if not parts:
            return None
        return " UNION ".join("{ " + p + " }" for p in parts)

    def conforms(self, shape: rdflib.term.Node, x: str, top: bool = False) -> list[str]:
        """Patterns that all hold iff ``x`` conforms to ``shape``.

        ``top``: ``x`` is bound in the same group (not from outside an ``EXISTS``), so anti-joins can be
        ``MINUS``.
        """
        if self._deactivated(shape):
            return []
        if self.all(shape, "sparql"):
            raise ShapesError(f"{shape}: sh:sparql is compiled on top-level shapes only")
        parts = [p for _, b in self.shape_branches(shape, x) for p in (b.conform_top if top else b.conform)]
        return sorted(parts, key=lambda p: p.startswith(("FILTER", "MINUS")))  # joins first, then filters

    def branches(self, shape: rdflib.term.Node, x: str) -> list[_Branch]:
        for name in _UNSUPPORTED:
            if self.one(shape, name) is not None:
                raise ShapesError(f"{shape}: sh:{name} is not supported by the SPARQL compiler")
        path_node = self.one(shape, "path")
        prop = path_node is not None

        def t(s: str, o: str) -> str:  # the path of this property shape from s to o, as triple patterns
            return self.triples(s, path_node, o)

        if prop:
            v = self.fresh()
            vp = t(x, v)
        else:
            v, vp = x, ""
        out: list[_Branch] = []

        def add(component: str, nested: str, params: dict[str, str] | None = None, value: str | None = v, *,
                top: str | None = None, conform: list[str] | None = None,
                conform_top: list[str] | None = None) -> None:
            if conform is None:
                conform = [f"FILTER NOT EXISTS {{ {nested} }}"]
                # a property shape's violation pattern binds x itself: at the top level, an anti-join
                conform_top = conform_top or ([f"MINUS {{ {nested} }}"] if prop else conform)
            out.append(_Branch(top if top is not None else nested, nested, conform, conform_top or conform,
                               component + "ConstraintComponent", params or {}, value))

        def value_filter(component: str, expr: str, params: dict[str, str]) -> None:
            """A constraint on each value node: violated by a value for which ``expr`` holds."""
            conform = [f"FILTER(!({expr}))"] if not prop else None
            add(component, f"{vp} FILTER({expr})", params, conform=conform)

        for c in self.all(shape, "class"):
            ct = self.term(c)
            instance = f"{v} <{RDF.type}>/<{_RDFS}subClassOf>* {ct}"
            # direct type first: the common case needs no walk up the class hierarchy
            nested = (f"{vp} FILTER(NOT EXISTS {{ {v} <{RDF.type}> {ct} }} && "
                      f"NOT EXISTS {{ {v} <{RDF.type}>/<{_RDFS}subClassOf>+ {ct} }})")
            add("Class", nested, {"class": compact_iri(str(c))}, top=f"{vp} MINUS {{ {instance} }}",
                conform=None if prop else [instance + " ."])
        for d in self.all(shape, "datatype"):
            test = f"!isLiteral({v}) || DATATYPE({v}) != {self.term(d)}"
            if str(d) in _NUMERIC_TYPES:
                test += f" || !isNumeric({v})"
            value_filter("Datatype", test, {"datatype": compact_iri(str(d))})
        for k in self.all(shape, "nodeKind"):
            expr = _NODE_KINDS.get(str(k).rsplit("#", 1)[-1])
            if expr is None:
                raise ShapesError(f"{shape}: unknown sh:nodeKind {k}")
            value_filter("NodeKind", f"!({expr.format(v=v)})", {"nodeKind": compact_iri(str(k))})
        for key, op in _COMPARISONS.items():
            for lit in self.all(shape, key):
                value_filter(key[0].upper() + key[1:], f"!COALESCE({v} {op} {self.term(lit)}, false)", {key: str(lit)})
        for key, op in (("minLength", "<"), ("maxLength", ">")):
            for lit in self.all(shape, key):
                value_filter(key[0].upper() + key[1:], f"isBlank({v}) || STRLEN(STR({v})) {op} {int(lit)}",
                             {key: str(lit)})
        for pat in self.all(shape, "pattern"):
            flags = self.one(shape, "flags")
            args = rdflib.Literal(str(pat)).n3() + (", " + rdflib.Literal(str(flags)).n3() if flags else "")
            value_filter("Pattern", f"isBlank({v}) || !REGEX(STR({v}), {args})", {"pattern": str(pat)})
        for langs in self.all(shape, "languageIn"):
            tags = [str(t) for t in self.items(langs)]
            test = " || ".join(f"langMatches(LANG({v}), {rdflib.Literal(t).n3()})" for t in tags) or "false"
            value_filter("LanguageIn", f"!COALESCE({test}, false)", {"languageIn": ", ".join(tags)})
        for lst in self.all(shape, "in"):
            members = self.items(lst)
            test = " || ".join(f"sameTerm({v}, {self.term(m)})" for m in members) or "false"
            value_filter("In", f"!({test})", {"in": ", ".join(compact_iri(str(m)) for m in members)})
        for hv in self.all(shape, "hasValue"):
            ht = self.term(hv)
            if prop:
                add("HasValue", f"FILTER NOT EXISTS {{ {t(x, ht)} }}", {"hasValue": _show(hv)}, None,
                    top=f"MINUS {{ {t(x, ht)} }}", conform=[t(x, ht)])
            else:
                add("HasValue", f"FILTER(!sameTerm({x}, {ht}))", {"hasValue": _show(hv)},
                    conform=[f"FILTER(sameTerm({x}, {ht}))"])
        for key in ("equals", "disjoint", "lessThan", "lessThanOrEquals"):
            for q in self.all(shape, key):
                if not prop:
                    raise ShapesError(f"{shape}: sh:{key} is compiled on property shapes only")
                qt, w = self.term(q), self.fresh("w")
                if key == "equals":
                    nested = (f"{{ {vp} FILTER NOT EXISTS {{ {x} {qt} {v} }} }} UNION "
                              f"{{ {x} {qt} {v} FILTER NOT EXISTS {{ {vp} }} }}")
                    top = f"{{ {vp} MINUS {{ {x} {qt} {v} }} }} UNION {{ {x} {qt} {v} MINUS {{ {t(x, v)} }} }}"
                elif key == "disjoint":
                    nested = top = f"{vp} {x} {qt} {v} ."
                else:
                    op = "<" if key == "lessThan" else "<="
                    nested = top = f"{vp} {x} {qt} {w} . FILTER(!COALESCE({v} {op} {w}, false))"
                add(key[0].upper() + key[1:], nested, {key: compact_iri(str(q))}, top=top)
        if prop:
            for n in self.all(shape, "minCount"):
                k = int(n)
                if k == 1:
                    add("MinCount", f"FILTER NOT EXISTS {{ {t(x, '[]')} }}", {"minCount": "1"}, None,
                        top=f"MINUS {{ {t(x, '[]')} }}", conform=[t(x, "[]")])
                elif k > 1:
                    tuple_ = self._distinct(x, t, k)
                    add("MinCount", f"FILTER NOT EXISTS {{ {tuple_} }}", {"minCount": str(k)}, None,
                        top=f"MINUS {{ {self._counted(x, t, f'>= {k}')} }}", conform=[f"FILTER EXISTS {{ {tuple_} }}"],
                        conform_top=[f"{self._counted(x, t, f'>= {k}')}"])
            for n in self.all(shape, "maxCount"):
                k = int(n)
                add("MaxCount", self._distinct(x, t, k + 1), {"maxCount": str(k)}, None,
                    top=self._counted(x, t, f"> {k}"))
            for u in self.all(shape, "uniqueLang"):
                if str(u).lower() == "true":
                    a, b = self.fresh("a"), self.fresh("b")
                    c = self.fresh("c")
                    top = (f"{{ SELECT {x} WHERE {{ {t(x, c)} FILTER(LANG({c}) != \"\") }} "
                           f"GROUP BY {x} (LCASE(LANG({c}))) HAVING (COUNT(DISTINCT {c}) > 1) }}")
                    add("UniqueLang", f"{t(x, a)} {t(x, b)} FILTER(!sameTerm({a}, {b}) && LANG({a}) != \"\" && "
                        f"LCASE(LANG({a})) = LCASE(LANG({b})))", {}, None, top=top)
            for q in self.all(shape, "qualifiedValueShape"):
                if self.one(shape, "qualifiedValueShapesDisjoint") is not None:
                    raise ShapesError(f"{shape}: sh:qualifiedValueShapesDisjoint is not supported")
                for m in self.all(shape, "qualifiedMinCount"):
                    if int(m) > 1:
                        raise ShapesError(f"{shape}: sh:qualifiedMinCount above 1 is not supported")
                    if int(m) == 1:
                        y = self.fresh("q")
                        some = t(x, y) + " " + " ".join(self.conforms(q, y))
                        some_top = t(x, y) + " " + " ".join(self.conforms(q, y, top=True))
                        add("QualifiedMinCount", f"FILTER NOT EXISTS {{ {some} }}", {"qualifiedMinCount": "1"}, None,
                            top=f"MINUS {{ {some_top} }}", conform=[some], conform_top=[some_top])
        else:
            for key in ("minCount", "maxCount", "uniqueLang", "qualifiedValueShape"):
                if self.one(shape, key) is not None:
                    raise ShapesError(f"{shape}: sh:{key} on a node shape")
        for s in self.all(shape, "node"):
            inner = self.violates(s, v)
            if inner:
                add("Node", f"{vp} FILTER EXISTS {{ {inner} }}", {"node": _show(s)},
                    conform=None if prop else self.conforms(s, v),
                    conform_top=None if prop else self.conforms(s, v, top=True))
        for s in self.all(shape, "not"):
            # a value violates sh:not S when it conforms to S
            inner = self.violates(s, v)
            add("Not", f"{vp} {' '.join(self.conforms(s, v))}".strip() or "FILTER(true)", {"not": _show(s)},
                top=f"{vp} {' '.join(self.conforms(s, v, top=True))}".strip() or "FILTER(true)",
                conform=None if prop else ([f"FILTER EXISTS {{ {inner} }}"] if inner else ["FILTER(false)"]))
        for lst in self.all(shape, "and"):
            members = self.items(lst)
            inners = [i for i in (self.violates(m, v) for m in members) if i]
            if inners:
                add("And", f"{vp} FILTER EXISTS {{ {' UNION '.join('{ ' + i + ' }' for i in inners)} }}", {},
                    conform=None if prop else [c for m in members for c in self.conforms(m, v)],
                    conform_top=None if prop else [c for m in members for c in self.conforms(m, v, top=True)])
        for lst in self.all(shape, "or"):
            members = self.items(lst)
            inners = [self.violates(m, v) for m in members]
            if inners and all(inners):
                conj = [self.conforms(m, v) for m in members]
                if prop:
                    conform = None
                elif all(_positive(c) for c in conj):
                    conform = [" UNION ".join("{ " + " ".join(c) + " }" for c in conj)]
                else:
                    conform = ["FILTER(" + " || ".join("EXISTS { " + " ".join(c) + " }" for c in conj) + ")"]
                # violated iff every member is; when each member is one constraint, that is a join of their
                # top-level violations (v is bound in the same group)
                singles = [self.shape_branches(m, v) for m in members]
                top = None
                if all(len(b) == 1 for b in singles):
                    top = f"{vp} " + " ".join(b[0][1].top for b in singles)
                add("Or", f"{vp} FILTER({' && '.join('EXISTS { ' + str(i) + ' }' for i in inners)})", {},
                    conform=conform, top=top)
        return out

    def _distinct(self, x: str, t: Callable[[str, str], str], k: int) -> str:
        """A pattern matching ``k`` pairwise different values of the path ``t`` from ``x``."""
        if k > 4:
            raise ShapesError("cardinalities above 3 are not supported by the SPARQL compiler")
        vs = [self.fresh("c") for _ in range(k)]
        pattern = " ".join(t(x, v) for v in vs)
        diffs = [f"!sameTerm({a}, {b})" for i, a in enumerate(vs) for b in vs[i + 1:]]
        return pattern + (f" FILTER({' && '.join(diffs)})" if diffs else "")

    def _counted(self, x: str, t: Callable[[str, str], str], test: str) -> str:
        """A sub-query of the ``x`` whose number of distinct values of the path ``t`` passes ``test``."""
        c = self.fresh("c")
        return f"{{ SELECT {x} WHERE {{ {t(x, c)} }} GROUP BY {x} HAVING (COUNT(DISTINCT {c}) {test}) }}"

    def triples(self, s: str, path: rdflib.term.Node | None, o: str) -> str:
        """``s path o`` as triple patterns: sequences and inverses of IRIs become joins the optimiser can
        reorder (Oxigraph evaluates a property path as one operator), other paths stay paths."""
        if path is None:
            raise ShapesError("a property shape without sh:path")
        if isinstance(path, URIRef):
            return f"{s} <{path}> {o} ."
        inverse = self.one(path, "inversePath")
        if isinstance(inverse, URIRef) and len(list(self.g.predicate_objects(path))) == 1:
            return f"{o} <{inverse}> {s} ."
        if (path, RDF.first, None) in self.g:
            steps = self.items(path)
            nodes = [s, *(self.fresh("s") for _ in steps[1:]), o]
            return " ".join(self.triples(nodes[i], step, nodes[i + 1]) for i, step in enumerate(steps))
        return f"{s} {self.path(path)} {o} ."


def _prologue(prefixes: list[tuple[str, str]]) -> str:
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in dict(prefixes).items())


def _show(node: rdflib.term.Node) -> str:
    if isinstance(node, URIRef):
        return compact_iri(str(node))
    if isinstance(node, rdflib.Literal):
        return str(node)
    return "[shape]"


# ---------------------------------------------------------------------------------------------
# Data: what the engines read
# ---------------------------------------------------------------------------------------------


class Dataset:
    """Data to validate: a GraphStore (its published graphs), or an Oxigraph store (all its graphs)."""

    def __init__(self, store: EmbeddedStore | Store, name: str = "") -> None:
        self.store = store
        self.name = name or (str(store.path) if isinstance(store, EmbeddedStore) and store.path else "(memory)")
        # Oxigraph evaluates "all graphs" several times faster than an explicit list of graphs; the list
        # is only needed to hide the staging graphs of a build that is running.
        self._graph_list = isinstance(store, EmbeddedStore) and any(
            isinstance(g, NamedNode) and g.value.startswith(STAGING_PREFIX) for g in store.store.named_graphs())

    def query(self, sparql: str) -> Any:
        if isinstance(self.store, EmbeddedStore):
            if self._graph_list:
                return self.store.query(sparql, name="shapes")
            return self.store.store.query(sparql, use_default_graph_as_union=True)
        return self.store.query(sparql, use_default_graph_as_union=True)

    def quads(self) -> Iterable[Quad]:
        return self.store.quads() if isinstance(self.store, EmbeddedStore) else iter(self.store)

    def _pattern(self, s: Term | None, p: NamedNode, o: Term | None) -> Iterable[Quad]:
        raw = self.store.store if isinstance(self.store, EmbeddedStore) else self.store
        for q in raw.quads_for_pattern(s, p, o, None):
            g = q.graph_name
            if not (isinstance(g, NamedNode) and g.value.startswith(STAGING_PREFIX)):
                yield q

    def objects(self, s: Term, p: NamedNode) -> list[Term]:
        return [q.object for q in self._pattern(s, p, None)]  # type: ignore[misc]

    def subjects(self, p: NamedNode, o: Term) -> list[Term]:
        return [q.subject for q in self._pattern(None, p, o)]  # type: ignore[misc]

    @classmethod
    def of(cls, source: GraphStore | Store | Path | str | Iterable[Quad], extra: Iterable[Quad] = ()) -> Dataset:
        """Wrap a store, or load a file or quads (plus ``extra``, e.g. the ontology) into a new one."""
        if isinstance(source, EmbeddedStore | Store):
            return cls(source)
        store = Store()
        name = ""
        if isinstance(source, str | Path):
            path = Path(source)
            name = str(path)
            fmt = _rdf_format(path)
            try:
                store.bulk_load(path=str(path), format=fmt, to_graph=NamedNode(path.resolve().as_uri())
                                if fmt not in (RdfFormat.N_QUADS, RdfFormat.TRIG) else None)
            except (OSError, SyntaxError, ValueError) as exc:
                raise RDFInputError(f"{path}: cannot read it as {fmt.name}: {exc}") from None
        else:
            store.extend(source)
        extra = list(extra)
        if extra:
            store.extend(extra)
        return cls(store, name)


def _rdf_format(path: Path) -> RdfFormat:
    name = path.name.lower()
    for ext, fmt in ((".ttl", RdfFormat.TURTLE), (".nt", RdfFormat.N_TRIPLES), (".nq", RdfFormat.N_QUADS),
                     (".trig", RdfFormat.TRIG), (".rdf", RdfFormat.RDF_XML), (".xml", RdfFormat.RDF_XML),
                     (".owl", RdfFormat.RDF_XML), (".n3", RdfFormat.N3)):
        if name.endswith(ext):
            return fmt
    raise RDFInputError(f"{path}: unknown RDF format (use .ttl, .nt, .nq, .trig, .rdf or .n3)")


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validate(source: GraphStore | Store | Path | str | Iterable[Quad] | Dataset, shapes: Shapes, *,
             engine: Engine = "sparql", extra: Iterable[Quad] = ()) -> ValidationReport:
    """Validate ``source`` against ``shapes`` and return the findings, located in the source documents.

    ``source`` is a :class:`GraphStore` (its published graphs), an Oxigraph ``Store``, an RDF file or
    quads; ``extra`` quads (typically the ontology graph, for its concept schemes) are added to a
    file or to quads. The default graph of every query is the union of all graphs.
    """
    started = time.perf_counter()
    data = source if isinstance(source, Dataset) else Dataset.of(source, extra)
    if engine == "sparql":
        raw = _run_sparql(data, shapes)
    elif engine == "pyshacl":
        raw = _run_pyshacl(data, shapes)
    else:
        raise ShapesError(f"unknown validation engine {engine!r} (sparql or pyshacl)")
    findings = _locate(data, _dedupe(raw))
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.rule, f.file or "", f.line or 0, str(f.focus),
                                 f.component, f.path or "", str(f.value)))
    return ValidationReport(findings, dict(shapes.rules), engine, time.perf_counter() - started,
                            len({f.focus for f in findings}), data.name)


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[tuple[str, ...], Finding] = {}
    for f in findings:
        seen.setdefault((*f.key, f.source_shape), f)
    return list(seen.values())


#: A rule whose focus nodes are fewer than this share of the typed nodes runs with its targets inline.
INLINE_SHARE = 0.04


def _run_sparql(data: Dataset, shapes: Shapes) -> list[Finding]:
    out: list[Finding] = []
    typed = _count(data, "SELECT (COUNT(*) AS ?n) WHERE { ?s a ?o }")
    few: dict[str, bool] = {}
    for c in shapes.constraints:
        if c.target and c.target not in few:
            few[c.target] = _count(data, c.target) < INLINE_SHARE * typed
        try:
            rows = data.query(c.sparql_inline if c.sparql_inline and few.get(c.target) else c.sparql)
        except (BudgetKGError, SyntaxError, OSError) as exc:
            raise ShapesError(f"{c.rule.name} ({c.component}): the compiled query failed: {exc}") from None
        names = [v.value for v in rows.variables]
        for row in rows:
            bindings = {n: row[n] for n in names if row[n] is not None}
            focus = bindings.get("this")
            if focus is None:
                continue
            value = bindings.get("value") if c.has_value else None
            if c.component == "SPARQLConstraintComponent" and value is None:
                value = focus
            zh, en = _messages(c, bindings, value)
            out.append(Finding(c.rule.iri, c.severity, focus, c.component, c.shape_id, zh, en, c.path, c.path_iri,
                               value))
    return out


def _count(data: Dataset, sparql: str) -> int:
    try:
        return int(next(iter(data.query(sparql)))["n"].value)
    except (BudgetKGError, SyntaxError, OSError, StopIteration) as exc:
        raise ShapesError(f"counting focus nodes failed: {exc}") from None


class _CachedGraph(rdflib.Graph):
    """An rdflib graph that parses each SPARQL text once: pySHACL sends the same query per focus node."""

    def __init__(self) -> None:
        super().__init__()
        self._prepared: dict[str, Any] = {}

    def query(self, query_object: Any, processor: Any = "sparql", result: Any = "sparql", initNs: Any = None,
              initBindings: Any = None, use_store_provided: bool = True, **kwargs: Any) -> Any:
        if isinstance(query_object, str):
            prepared = self._prepared.get(query_object)
            if prepared is None:
                prepared = self._prepared[query_object] = prepareQuery(query_object, initNs=initNs or {})
            query_object, initNs = prepared, None
        return super().query(query_object, processor, result, initNs, initBindings, use_store_provided, **kwargs)


def to_rdflib(quads: Iterable[Quad]) -> rdflib.Graph:
    """The triples of ``quads`` (graphs merged) as an rdflib graph, blank-node ids kept."""
    g = _CachedGraph()
    cache: dict[Any, Any] = {}

    def conv(t: Any) -> Any:
        r = cache.get(t)
        if r is None:
            if isinstance(t, NamedNode):
                r = URIRef(t.value)
            elif isinstance(t, BlankNode):
                r = BNode(t.value)
            elif t.language:
                r = rdflib.Literal(t.value, lang=t.language)
            elif t.datatype.value == _XSD + "string":  # rdflib tells "a" from "a"^^xsd:string; RDF 1.1 does not
                r = rdflib.Literal(t.value)
            else:
                r = rdflib.Literal(t.value, datatype=URIRef(t.datatype.value))
            cache[t] = r
        return r

    g.addN((conv(q.subject), conv(q.predicate), conv(q.object), g) for q in quads)
    return g


def from_rdflib(term: Any) -> Term:
    if isinstance(term, URIRef):
        return NamedNode(str(term))
    if isinstance(term, BNode):
        return BlankNode(str(term))
    if term.language:
        return Literal(str(term), language=term.language)
    return Literal(str(term), datatype=NamedNode(str(term.datatype or _XSD + "string")))


def _run_pyshacl(data: Dataset, shapes: Shapes) -> list[Finding]:
    import pyshacl  # the reference engine; slow to import, so only when asked for

    graph = to_rdflib(data.quads())
    # advanced: SHACL-AF SPARQL-based targets; inplace: the graph is a private copy, no need to clone it
    _, results, _ = pyshacl.validate(graph, shacl_graph=shapes.graph, inference="none", advanced=True, inplace=True,
                                     allow_infos=True, allow_warnings=True)
    out = []
    for r in results.subjects(RDF.type, sh("ValidationResult")):
        source = results.value(r, sh("sourceShape"))
        component = str(results.value(r, sh("sourceConstraintComponent"))).rsplit("#", 1)[-1]
        severity = str(results.value(r, sh("resultSeverity"))).rsplit("#", 1)[-1]
        focus = from_rdflib(results.value(r, sh("focusNode")))
        value_node = results.value(r, sh("value"))
        value = from_rdflib(value_node) if value_node is not None else None
        shape_id = _node_id(source)
        c = shapes.constraint_for(shape_id, component)
        if c is None:
            raise ShapesError(f"pySHACL reported {component} of {shape_id}, which the compiler does not know")
        if not c.has_value:
            value = None
        if c.component == "SPARQLConstraintComponent":
            zh, en = _recover_messages(c, [str(m) for m in results.objects(r, sh("resultMessage"))], value)
        else:
            zh, en = _messages(c, {"this": focus}, value)
        out.append(Finding(c.rule.iri, severity, focus, component, shape_id, zh, en, c.path,  # type: ignore[arg-type]
                           c.path_iri, value))
    return out


# -- messages ---------------------------------------------------------------------------------------

_GENERATED: dict[str, tuple[str, str]] = {
    "MinCount": ("{path}至少应有 {minCount} 个值", "{path}: expected at least {minCount} value(s)"),
    "MaxCount": ("{path}最多只能有 {maxCount} 个值", "{path}: expected at most {maxCount} value(s)"),
    "Datatype": ("{path}的值 {value} 不是 {datatype} 类型", "{path}: {value} is not of datatype {datatype}"),
    "Class": ("{path}的值 {value} 不是 {class} 的实例", "{path}: {value} is not an instance of {class}"),
    "NodeKind": ("{path}的值 {value} 不是 {nodeKind}", "{path}: {value} is not a {nodeKind}"),
    "In": ("{path}的值 {value} 不在允许的取值（{in}）中", "{path}: {value} is not one of {in}"),
    "HasValue": ("{path}缺少值 {hasValue}", "{path}: does not have the value {hasValue}"),
    "Pattern": ("{path}的值 {value} 不符合格式 {pattern}", "{path}: {value} does not match {pattern}"),
    "MinInclusive": ("{path}的值 {value} 小于 {minInclusive}", "{path}: {value} is less than {minInclusive}"),
    "MaxInclusive": ("{path}的值 {value} 大于 {maxInclusive}", "{path}: {value} is greater than {maxInclusive}"),
    "MinExclusive": ("{path}的值 {value} 应大于 {minExclusive}", "{path}: {value} is not greater than {minExclusive}"),
    "MaxExclusive": ("{path}的值 {value} 应小于 {maxExclusive}", "{path}: {value} is not less than {maxExclusive}"),
    "MinLength": ("{path}的值 {value} 短于 {minLength} 个字符", "{path}: {value} is shorter than {minLength}"),
    "MaxLength": ("{path}的值 {value} 长于 {maxLength} 个字符", "{path}: {value} is longer than {maxLength}"),
    "LanguageIn": ("{path}的值 {value} 的语言不在 {languageIn} 中", "{path}: {value} is not in {languageIn}"),
    "UniqueLang": ("{path}同一语言有多个值", "{path}: more than one value in the same language"),
    "Equals": ("{path}的值与 {equals} 不一致：{value}", "{path}: values differ from {equals}: {value}"),
    "Disjoint": ("{path}与 {disjoint} 有相同的值 {value}", "{path}: shares the value {value} with {disjoint}"),
    "LessThan": ("{path}的值 {value} 不小于 {lessThan}", "{path}: {value} is not less than {lessThan}"),
    "LessThanOrEquals": ("{path}的值 {value} 大于 {lessThanOrEquals}",
                         "{path}: {value} is greater than {lessThanOrEquals}"),
    "Node": ("{path}的值 {value} 不符合形状 {node}", "{path}: {value} does not conform to {node}"),
    "Not": ("{value} 符合了不应符合的形状 {not}", "{value} conforms to {not}, which it must not"),
    "And": ("{value} 不符合所有条件", "{value} does not conform to all of the shapes"),
    "Or": ("{value} 不符合任一备选条件", "{value} conforms to none of the alternatives"),
    "QualifiedMinCount": ("{path}中符合条件的值少于 {qualifiedMinCount} 个",
                          "{path}: fewer than {qualifiedMinCount} value(s) conform"),
    "SPARQL": ("违反 SPARQL 约束", "SPARQL constraint violated"),
}
_PLACEHOLDER = re.compile(r"\{[?$]([A-Za-z_][A-Za-z0-9_]*)\}")


def _messages(c: Constraint, bindings: dict[str, Any], value: Term | None) -> tuple[str, str]:
    """The zh and en message of a result: the shape's sh:message, else one made from the component."""
    shown = {k: term_text(t) for k, t in bindings.items()}
    if value is not None:
        shown.setdefault("value", term_text(value))

    def fill(template: str) -> str:
        return _PLACEHOLDER.sub(lambda m: shown.get(m.group(1), m.group(0)), template)

    if c.messages:
        zh = c.messages.get("zh") or c.messages.get("") or c.messages.get("en", "")
        en = c.messages.get("en") or c.messages.get("") or zh
        return fill(zh), fill(en)
    zh_t, en_t = _GENERATED.get(c.component.removesuffix("ConstraintComponent"), _GENERATED["SPARQL"])
    params = _Missing({**c.params, "value": shown.get("value", "")})
    zh_t = zh_t.replace("{path}", f"{c.path} " if c.path else "")
    en_t = en_t.replace("{path}: ", f"{c.path}: " if c.path else "")
    return zh_t.format_map(params).strip(), en_t.format_map(params).strip()


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _recover_messages(c: Constraint, texts: list[str], value: Term | None) -> tuple[str, str]:
    """pySHACL drops the language of substituted SPARQL messages; match each text to its template."""
    out = {}
    for lang, template in c.messages.items():
        parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, …
        pattern = "".join(re.escape(p) if i % 2 == 0 else "(.*?)" for i, p in enumerate(parts))
        hit = next((t for t in texts if re.fullmatch(pattern, t, re.DOTALL)), None)
        if hit is not None:
            out[lang] = hit
    if "zh" in out and "en" in out:
        return out["zh"], out["en"]
    return _messages(c, {}, value)


# -- where a finding is in the source documents ------------------------------------------------------

_BKNS = "https://budgetkg.example.org/def/"
_TYPE = NamedNode(str(RDF.type))
_PROV_DERIVED = NamedNode("http://www.w3.org/ns/prov#wasDerivedFrom")
_DC_IDENTIFIER = NamedNode("http://purl.org/dc/terms/identifier")
_LABEL = NamedNode(_RDFS + "label")


def _bk(name: str) -> NamedNode:
    return NamedNode(_BKNS + name)


class _Locator:
    """Where a node is in the source documents: its project, row (indicator, goal, funding row) and line.

    Index look-ups, memoised: a finding costs a few dozen of them, where one SPARQL query over many
    focus nodes (``VALUES``) made Oxigraph scan whole predicates.
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

    def place(self, node: Term) -> tuple[Term | None, Term | None]:
        """(project, row) of a node; row is None for a project itself."""
        if node in self._place:
            return self._place[node]
        project = row = None
        if isinstance(node, NamedNode):
            if _bk("Project") in self.data.objects(node, _TYPE):
                project = node
            elif (p := self.obj(node, _bk("ofProject"))) is not None:
                project, row = p, node
            elif (r := self.subj(_bk("target"), node)) is not None:
                project, row = self.obj(r, _bk("ofProject")), r
            elif (p := self.subj(_bk("hasGoal"), node) or self.subj(_bk("hasFundingAllocation"), node)) is not None:
                project, row = p, node
            else:
                for prop in ("budget", "fiscalFunds", "otherFunds", "totalFunding", "amount", "amountReceived"):
                    if (owner := self.subj(_bk(prop), node)) is not None:
                        if prop.startswith("amount"):
                            project, row = self.subj(_bk("hasFundingAllocation"), owner), owner
                        else:
                            project = owner
                        break
        self._place[node] = (project, row)
        return project, row

    def project(self, node: Term) -> dict[str, Any]:
        if node not in self._projects:
            doc = self.obj(node, _PROV_DERIVED)
            self._projects[node] = {
                "name": self.obj(node, _LABEL), "unit": self.obj(node, _bk("budgetUnit")),
                "code": self.obj(node, _bk("budgetUnitCode")), "uname": self.obj(node, _bk("budgetUnitName")),
                "doc": doc, "file": self.obj(doc, _DC_IDENTIFIER) if doc is not None else None,
                "line": self.obj(node, _bk("lineStart")),
            }
        return self._projects[node]

    def row(self, node: Term) -> dict[str, Any]:
        if node not in self._rows:
            doc = self.obj(node, _PROV_DERIVED)
            file = self.obj(doc, _DC_IDENTIFIER) if doc is not None else None
            if doc is None and _bk("SourceDocument") in self.data.objects(node, _TYPE):
                doc, file = node, self.obj(node, _DC_IDENTIFIER)
            text = None
            if (l1 := self.obj(node, _bk("level1Label"))) is not None:
                target = self.obj(node, _bk("target"))
                raw = self.obj(target, _bk("rawValue")) if target is not None else None
                name = self.obj(node, _bk("indicatorName"))
                level2 = self.obj(node, _bk("level2Label"))
                text = " / ".join(t.value for t in (l1, level2, name) if t is not None)
                text += f" = {raw.value}" if raw is not None else ""
            else:
                for prop in ("goalText", "fundingLabel", "agencyCode"):
                    if (t := self.obj(node, _bk(prop))) is not None:
                        text = t.value
                        break
            self._rows[node] = {"line": self.obj(node, _bk("lineStart")), "doc": doc, "file": file, "text": text}
        return self._rows[node]


def _locate(data: Dataset, findings: list[Finding]) -> list[Finding]:
    """Fill in project, budget unit, document, file, line and detail of each finding."""
    where = _Locator(data)
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
            f, project=project, project_name=_text(p.get("name")), budget_unit=unit,
            unit_code=_text(p.get("code")), unit_name=_text(p.get("uname")),
            document=p.get("doc") or row.get("doc"), file=_text(p.get("file") or row.get("file")),
            line=int(line.value) if line is not None else None,
            detail=row.get("text") or _text(p.get("name"))))
    return out


def _text(term: Any) -> str | None:
    return None if term is None else term.value


# ---------------------------------------------------------------------------------------------
# The structural check of `budgetkg build`
# ---------------------------------------------------------------------------------------------


class StructuralCheck:
    """The check ``kg.build.build(..., check=...)`` runs on each document before it is written.

    The structural shapes are loaded and compiled once, and the ontology graph (whose concept schemes
    the indicator categories, comparators and units must come from) once; each document's quads are
    checked together with it in a scratch store. Raises :class:`StructureViolation` (a
    :class:`~kg.errors.ValidationError`) naming file, line and rule of every violation. It pickles as
    its settings, so a build's worker processes each load their own copy.
    """

    def __init__(self, settings: Settings, engine: Engine = "sparql") -> None:
        from .ontology import ontology_quads

        self.settings = settings
        self.engine: Engine = engine
        self.shapes = load_shapes(settings.shapes_dir, ["structure"])
        self.vocabulary = ontology_quads(settings)

    def __call__(self, parsed: ParsedDocument, quads: list[Quad]) -> None:
        store = Store()
        store.extend(self.vocabulary)
        store.extend(quads)
        report = validate(Dataset(store, parsed.source.file), self.shapes, engine=self.engine)
        violations = report.violations
        if violations:
            raise StructureViolation(parsed.source.file, violations)

    def __reduce__(self) -> tuple[object, ...]:
        return (StructuralCheck, (self.settings, self.engine))


def structural_check(settings: Settings, *, engine: Engine = "sparql") -> StructuralCheck:
    """The structural check of every document a build writes (see :class:`StructuralCheck`)."""
    return StructuralCheck(settings, engine)


__all__ = [
    "BKSH", "SEVERITIES", "Constraint", "Dataset", "Finding", "RDFInputError", "Rule", "Shapes", "ShapesError",
    "StructuralCheck", "StructureViolation", "ValidationReport", "load_shapes", "structural_check", "validate",
]

