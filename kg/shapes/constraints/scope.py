"""What a constraint component compiles into (:class:`Branch`) and what it compiles from (:class:`Scope`)."""

from __future__ import annotations

from dataclasses import dataclass
from types import EllipsisType
from typing import Protocol

import rdflib
from rdflib import URIRef

from ..paths import path_triples
from ..report import compact_iri
from ..shapes_graph import ShapesGraph


@dataclass
class Branch:
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


class Nested(Protocol):
    """How a constraint that refers to other shapes (sh:node, sh:not, sh:and …) compiles them."""

    def violates(self, shape: rdflib.term.Node, x: str) -> str | None:
        """A pattern with solutions iff ``x`` (bound outside) does not conform to ``shape``."""

    def conforms(self, shape: rdflib.term.Node, x: str, top: bool = False) -> list[str]:
        """Patterns that all hold iff ``x`` conforms to ``shape``."""

    def shape_branches(self, shape: rdflib.term.Node, x: str) -> list[tuple[rdflib.term.Node, Branch]]:
        """Each constraint of ``shape`` and of its property shapes."""


class Scope:
    """The constraints of one shape being compiled for the focus variable ``x``.

    For a property shape, ``v`` is a fresh variable for each value node and ``vp`` the path pattern
    from ``x`` to it; for a node shape, ``v`` is ``x`` itself and ``vp`` is empty.
    """

    def __init__(self, sg: ShapesGraph, nested: Nested, shape: rdflib.term.Node, x: str) -> None:
        self.sg = sg
        self.nested = nested
        self.shape = shape
        self.x = x
        self.path_node = sg.one(shape, "path")
        self.prop = self.path_node is not None
        if self.prop:
            self.v = sg.fresh()
            self.vp = self.t(x, self.v)
        else:
            self.v, self.vp = x, ""
        self.out: list[Branch] = []

    def t(self, s: str, o: str) -> str:
        """The path of this property shape from ``s`` to ``o``, as triple patterns."""
        return path_triples(self.sg, s, self.path_node, o)

    def add(self, component: str, nested: str, params: dict[str, str] | None = None,
            value: str | EllipsisType | None = ..., *, top: str | None = None, conform: list[str] | None = None,
            conform_top: list[str] | None = None) -> None:
        """One branch; ``value`` is the value node's variable (by default ``v``), None when results have none."""
        if conform is None:
            conform = [f"FILTER NOT EXISTS {{ {nested} }}"]
            # a property shape's violation pattern binds x itself: at the top level, an anti-join
            conform_top = conform_top or ([f"MINUS {{ {nested} }}"] if self.prop else conform)
        self.out.append(Branch(top if top is not None else nested, nested, conform, conform_top or conform,
                               component + "ConstraintComponent", params or {},
                               self.v if isinstance(value, EllipsisType) else value))

    def value_filter(self, component: str, expr: str, params: dict[str, str]) -> None:
        """A constraint on each value node: violated by a value for which ``expr`` holds."""
        conform = [f"FILTER(!({expr}))"] if not self.prop else None
        self.add(component, f"{self.vp} FILTER({expr})", params, conform=conform)


def shown(node: rdflib.term.Node) -> str:
    """A shape or constant as a message shows it."""
    if isinstance(node, URIRef):
        return compact_iri(str(node))
    if isinstance(node, rdflib.Literal):
        return str(node)
    return "[shape]"
