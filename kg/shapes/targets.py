"""Targets (SHACL 2.1.3, and SHACL-AF SPARQL-based targets): the focus nodes of a shape, as SPARQL patterns."""

from __future__ import annotations

import rdflib

from .defaults import bound_defaults
from .errors import ShapesError
from .paths import instance_of
from .shapes_graph import ShapesGraph


def focus_patterns(sg: ShapesGraph, shape: rdflib.term.Node) -> tuple[str, str, list[tuple[str, str]]]:
    """Patterns binding ``?this`` to the focus nodes of ``shape``, and the prefixes they need.

    Two forms: a ``SELECT DISTINCT`` sub-query (Oxigraph hash-joins it with the constraint: best
    when the focus nodes are many) and the same patterns inline (Oxigraph looks the constraint up
    from each focus node: best when they are few); :func:`kg.shapes.sparql_engine.run_sparql` picks
    one per shape.
    """
    parts, prefixes = [], []
    for c in sg.all(shape, "targetClass"):
        parts.append(instance_of("?this", sg.term(c)))
    nodes = sg.all(shape, "targetNode")
    if nodes:
        parts.append("VALUES ?this { " + " ".join(sg.term(n) for n in nodes) + " }")
    for p in sg.all(shape, "targetSubjectsOf"):
        parts.append(f"?this {sg.term(p)} [] .")
    for p in sg.all(shape, "targetObjectsOf"):
        parts.append(f"[] {sg.term(p)} ?this .")
    for t in sg.all(shape, "target"):  # SHACL-AF SPARQL-based targets
        select = sg.one(t, "select")
        if select is None or sg.deactivated(t):
            raise ShapesError(f"{shape}: only SPARQL-based targets (sh:SPARQLTarget with sh:select) are supported")
        parts.append("{ " + bound_defaults(str(select)) + " }")
        prefixes.extend(sg.prefixes(t))
    body = " UNION ".join("{ " + p + " }" for p in parts)
    inline = parts[0] if len(parts) == 1 and not parts[0].startswith("{") else body
    return "{ SELECT DISTINCT ?this WHERE { " + body + " } }", inline, prefixes
