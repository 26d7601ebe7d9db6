"""Other constraint components (SHACL 4.8): sh:in and sh:hasValue (sh:closed is not compiled)."""

from __future__ import annotations

from ..report import compact_iri
from .scope import Scope, shown


def compile_other(sc: Scope) -> None:
    sg, x, v = sc.sg, sc.x, sc.v
    for lst in sg.all(sc.shape, "in"):
        members = sg.items(lst)
        # a conjunction of `!=`, not a chain of sameTerm (Virtuoso mis-evaluates `sameTerm(..) || sameTerm(..)`
        # and `!!sameTerm`) nor NOT IN (its cost model overflows on one under MINUS)
        test = " && ".join(f"{v} != {sg.term(m)}" for m in members) or "true"
        sc.value_filter("In", test, {"in": ", ".join(compact_iri(str(m)) for m in members)})
    for hv in sg.all(sc.shape, "hasValue"):
        ht = sg.term(hv)
        if sc.prop:
            sc.add("HasValue", f"FILTER NOT EXISTS {{ {sc.t(x, ht)} }}", {"hasValue": shown(hv)}, None,
                   top=f"MINUS {{ {sc.t(x, ht)} }}", conform=[sc.t(x, ht)])
        else:
            sc.add("HasValue", f"FILTER({x} != {ht})", {"hasValue": shown(hv)}, conform=[f"FILTER({x} = {ht})"])
