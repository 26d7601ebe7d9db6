"""SPARQL-based constraints (SHACL 5): sh:sparql on a node shape, run as a sub-query joined with its targets.

A rule runs once for the whole graph instead of once per focus node; the result's value is
``?value`` when the query selects one, else the focus node (SHACL 5.3.2). A default for an unbound variable
(``COALESCE(?f, 0)``) is written as every engine evaluates it alike (:func:`kg.shapes.defaults.bound_defaults`).
"""

from __future__ import annotations

import re

import rdflib

from ..compiled import Constraint
from ..defaults import bound_defaults
from ..errors import ShapesError
from ..report import Rule
from ..shapes_graph import ShapesGraph, prologue


def sparql_constraints(sg: ShapesGraph, shape: rdflib.term.Node, rule: Rule, target: str,
                       target_prefixes: list[tuple[str, str]]) -> list[Constraint]:
    out = []
    for sparql_node in sg.all(shape, "sparql"):
        if sg.deactivated(sparql_node):
            continue
        if sg.one(shape, "path") is not None:
            raise ShapesError(f"{shape}: sh:sparql is compiled on node shapes only")
        select = sg.one(sparql_node, "select")
        if select is None:
            raise ShapesError(f"{shape}: sh:sparql without sh:select")
        text = bound_defaults(str(select))
        if re.search(r"[$?](currentShape|shapesGraph|PATH)\b", text):
            raise ShapesError(f"{shape}: $currentShape, $shapesGraph and $PATH are not supported")
        sparql = f"{prologue(target_prefixes + sg.prefixes(sparql_node))}SELECT * WHERE {{ {target} {{ {text} }} }}"
        out.append(Constraint(rule, shape, "SPARQLConstraintComponent", sparql, sg.severity(shape),
                              sg.messages(sparql_node, shape), {}, None, None, True))
    return out
