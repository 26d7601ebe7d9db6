"""Property pair constraint components (SHACL 4.5): sh:equals, sh:disjoint, sh:lessThan, sh:lessThanOrEquals."""

from __future__ import annotations

from ..errors import ShapesError
from ..report import compact_iri
from .scope import Scope


def compile_property_pair(sc: Scope) -> None:
    sg, x, v, vp = sc.sg, sc.x, sc.v, sc.vp
    for key in ("equals", "disjoint", "lessThan", "lessThanOrEquals"):
        for q in sg.all(sc.shape, key):
            if not sc.prop:
                raise ShapesError(f"{sc.shape}: sh:{key} is compiled on property shapes only")
            qt, w = sg.term(q), sg.fresh("w")
            if key == "equals":
                nested = (f"{{ {vp} FILTER NOT EXISTS {{ {x} {qt} {v} }} }} UNION "
                          f"{{ {x} {qt} {v} FILTER NOT EXISTS {{ {vp} }} }}")
                top = f"{{ {vp} MINUS {{ {x} {qt} {v} }} }} UNION {{ {x} {qt} {v} MINUS {{ {sc.t(x, v)} }} }}"
            elif key == "disjoint":
                nested = top = f"{vp} {x} {qt} {v} ."
            else:
                op = "<" if key == "lessThan" else "<="
                nested = top = f"{vp} {x} {qt} {w} . FILTER(!COALESCE({v} {op} {w}, false))"
            sc.add(key[0].upper() + key[1:], nested, {key: compact_iri(str(q))}, top=top)
