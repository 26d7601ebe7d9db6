"""Cardinality constraint components (SHACL 4.2): sh:minCount and sh:maxCount (property shapes only)."""

from __future__ import annotations

from ..errors import ShapesError
from ..shapes_graph import integer
from .scope import Scope

#: Parameters that only a property shape may have.
PROPERTY_ONLY = ("minCount", "maxCount", "uniqueLang", "qualifiedValueShape")


def compile_cardinality(sc: Scope) -> None:
    x = sc.x
    for n in sc.sg.all(sc.shape, "minCount"):
        k = integer(n)
        if k == 1:
            sc.add("MinCount", f"FILTER NOT EXISTS {{ {sc.t(x, '[]')} }}", {"minCount": "1"}, None,
                   top=f"MINUS {{ {sc.t(x, '[]')} }}", conform=[sc.t(x, "[]")])
        elif k > 1:
            tuple_ = _distinct(sc, k)
            sc.add("MinCount", f"FILTER NOT EXISTS {{ {tuple_} }}", {"minCount": str(k)}, None,
                   top=f"MINUS {{ {_counted(sc, f'>= {k}')} }}", conform=[f"FILTER EXISTS {{ {tuple_} }}"],
                   conform_top=[f"{_counted(sc, f'>= {k}')}"])
    for n in sc.sg.all(sc.shape, "maxCount"):
        k = integer(n)
        sc.add("MaxCount", _distinct(sc, k + 1), {"maxCount": str(k)}, None, top=_counted(sc, f"> {k}"))


def refuse_on_node_shape(sc: Scope) -> None:
    """A node shape has one value, itself: counting it means the shapes are wrong."""
    for key in PROPERTY_ONLY:
        if sc.sg.one(sc.shape, key) is not None:
            raise ShapesError(f"{sc.shape}: sh:{key} on a node shape")


def _distinct(sc: Scope, k: int) -> str:
    """A pattern matching ``k`` pairwise different values of the path from ``x``."""
    if k > 4:
        raise ShapesError("cardinalities above 3 are not supported by the SPARQL compiler")
    vs = [sc.sg.fresh("c") for _ in range(k)]
    pattern = " ".join(sc.t(sc.x, v) for v in vs)
    diffs = [f"!sameTerm({a}, {b})" for i, a in enumerate(vs) for b in vs[i + 1:]]
    return pattern + (f" FILTER({' && '.join(diffs)})" if diffs else "")


def _counted(sc: Scope, test: str) -> str:
    """A sub-query of the ``x`` whose number of distinct values of the path passes ``test``."""
    c, x = sc.sg.fresh("c"), sc.x
    return f"{{ SELECT {x} WHERE {{ {sc.t(x, c)} }} GROUP BY {x} HAVING (COUNT(DISTINCT {c}) {test}) }}"
