"""Shape-based constraint components (SHACL 4.7): sh:node and sh:qualifiedValueShape (sh:property: the compiler)."""

from __future__ import annotations

from ..errors import ShapesError
from ..shapes_graph import integer
from .scope import Scope, shown


def compile_node(sc: Scope) -> None:
    """sh:node: each value node conforms to the shape."""
    v = sc.v
    for s in sc.sg.all(sc.shape, "node"):
        inner = sc.nested.violates(s, v)
        if inner:
            sc.add("Node", f"{sc.vp} FILTER EXISTS {{ {inner} }}", {"node": shown(s)},
                   conform=None if sc.prop else sc.nested.conforms(s, v),
                   conform_top=None if sc.prop else sc.nested.conforms(s, v, top=True))


def compile_qualified(sc: Scope) -> None:
    """sh:qualifiedValueShape with sh:qualifiedMinCount 1: some value conforms (property shapes only)."""
    sg, x = sc.sg, sc.x
    for q in sg.all(sc.shape, "qualifiedValueShape"):
        if sg.one(sc.shape, "qualifiedValueShapesDisjoint") is not None:
            raise ShapesError(f"{sc.shape}: sh:qualifiedValueShapesDisjoint is not supported")
        for m in sg.all(sc.shape, "qualifiedMinCount"):
            if integer(m) > 1:
                raise ShapesError(f"{sc.shape}: sh:qualifiedMinCount above 1 is not supported")
            if integer(m) == 1:
                y = sg.fresh("q")
                some = sc.t(x, y) + " " + " ".join(sc.nested.conforms(q, y))
                some_top = sc.t(x, y) + " " + " ".join(sc.nested.conforms(q, y, top=True))
                sc.add("QualifiedMinCount", f"FILTER NOT EXISTS {{ {some} }}", {"qualifiedMinCount": "1"}, None,
                       top=f"MINUS {{ {some_top} }}", conform=[some], conform_top=[some_top])
