"""Shapes in compiled form: each constraint a SPARQL SELECT of the focus nodes (and values) that violate it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import rdflib
from rdflib import BNode

from .report import Rule, Severity


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
        return node_id(self.source_shape)


def node_id(node: rdflib.term.Node) -> str:
    """A shape as findings name it: its IRI, or ``_:id`` for a blank node."""
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
