"""Reading a shapes graph (SHACL 2): shapes, their parameters, severities, messages and prefix declarations.

:class:`ShapesGraph` is what every part of the compiler reads the rdflib graph through; it also
hands out the fresh SPARQL variables of one compilation.
"""

from __future__ import annotations

import rdflib
from rdflib import URIRef
from rdflib.collection import Collection

from ..namespaces import RDFS, SH
from .errors import ShapesError
from .report import Rule, Severity, severity_named

#: The parameters that make a shape a top-level shape (a rule): it has focus nodes of its own.
TARGETS = ("targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf", "target")


def sh(name: str) -> URIRef:
    """A term of the SHACL vocabulary as rdflib spells it."""
    return URIRef(SH[name].value)


class ShapesGraph:
    """The shapes graph, read for compiling: ``one``/``all`` values of a SHACL parameter, lists, terms."""

    def __init__(self, g: rdflib.Graph) -> None:
        self.g = g
        self.n = 0

    def fresh(self, stem: str = "v") -> str:
        """A SPARQL variable no other part of the compiled queries uses."""
        self.n += 1
        return f"?_{stem}{self.n}"

    def one(self, s: rdflib.term.Node, p: str) -> rdflib.term.Node | None:
        return self.g.value(s, sh(p))

    def all(self, s: rdflib.term.Node, p: str) -> list[rdflib.term.Node]:
        return sorted(self.g.objects(s, sh(p)), key=str)

    def items(self, node: rdflib.term.Node) -> list[rdflib.term.Node]:
        return list(Collection(self.g, node))

    def top_level_shapes(self) -> list[rdflib.term.Node]:
        found = {s for t in TARGETS for s in self.g.subjects(sh(t), None)}
        return sorted((s for s in found if not self.deactivated(s)), key=str)

    def deactivated(self, s: rdflib.term.Node) -> bool:
        d = self.one(s, "deactivated")
        return d is not None and str(d).lower() == "true"

    def rule(self, shape: rdflib.term.Node, kind: str) -> Rule:
        if not isinstance(shape, URIRef):
            raise ShapesError("a shape with targets must have an IRI (it names the rule of its findings)")

        def text(p: URIRef, lang: str) -> str:
            vals = [o for o in self.g.objects(shape, p) if isinstance(o, rdflib.Literal) and o.language == lang]
            return str(vals[0]) if vals else ""

        label, comment = URIRef(RDFS.label.value), URIRef(RDFS.comment.value)
        return Rule(str(shape), kind, self.severity(shape), text(label, "zh") or shape.split("/")[-1],
                    text(label, "en") or shape.split("/")[-1], text(comment, "en"), text(comment, "zh"))

    def severity(self, shape: rdflib.term.Node) -> Severity:
        sev = self.one(shape, "severity")
        known = severity_named(str(sev).rsplit("#", 1)[-1] if sev is not None else "Violation")
        if known is None:
            raise ShapesError(f"{shape}: unknown severity {sev}")
        return known

    def messages(self, *nodes: rdflib.term.Node | None) -> dict[str, str]:
        for node in nodes:
            if node is None:
                continue
            msgs = {o.language or "": str(o) for o in self.g.objects(node, sh("message"))
                    if isinstance(o, rdflib.Literal)}
            if msgs:
                return msgs
        return {}

    def term(self, node: rdflib.term.Node) -> str:
        """A constant of a constraint as a SPARQL term."""
        if isinstance(node, URIRef):
            return f"<{node}>"
        if isinstance(node, rdflib.Literal):
            return node.n3()
        raise ShapesError(f"a blank node ({node}) cannot be a constant in a constraint")

    def prefixes(self, node: rdflib.term.Node) -> list[tuple[str, str]]:
        """The ``sh:prefixes`` declarations of a SPARQL-based constraint or target (SHACL 5.2.1)."""
        out = []
        for holder in self.all(node, "prefixes"):
            for decl in self.all(holder, "declare"):
                prefix, ns = self.one(decl, "prefix"), self.one(decl, "namespace")
                if prefix is None or ns is None:
                    raise ShapesError(f"{holder}: sh:declare needs sh:prefix and sh:namespace")
                out.append((str(prefix), str(ns)))
        return out


def integer(node: rdflib.term.Node) -> int:
    """An integer parameter of a constraint (sh:minCount, sh:maxLength …)."""
    if not isinstance(node, rdflib.Literal):
        raise ShapesError(f"expected an integer, not {node}")
    return int(node.toPython())


def prologue(prefixes: list[tuple[str, str]]) -> str:
    """The ``PREFIX`` lines of a compiled query."""
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in dict(prefixes).items())
