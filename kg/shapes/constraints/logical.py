"""Logical constraint components (SHACL 4.6): sh:not, sh:and, sh:or (sh:xone is not compiled)."""

from __future__ import annotations

from .scope import Scope, shown


def _positive(parts: list[str]) -> bool:
    """Whether some pattern binds variables (a group of filters alone cannot be a UNION branch)."""
    return any(not p.startswith("FILTER") for p in parts)


def compile_logical(sc: Scope) -> None:
    sg, nested, v, vp = sc.sg, sc.nested, sc.v, sc.vp
    for s in sg.all(sc.shape, "not"):
        # a value violates sh:not S when it conforms to S
        inner = nested.violates(s, v)
        sc.add("Not", f"{vp} {' '.join(nested.conforms(s, v))}".strip() or "FILTER(true)", {"not": shown(s)},
               top=f"{vp} {' '.join(nested.conforms(s, v, top=True))}".strip() or "FILTER(true)",
               conform=None if sc.prop else ([f"FILTER EXISTS {{ {inner} }}"] if inner else ["FILTER(false)"]))
    for lst in sg.all(sc.shape, "and"):
        members = sg.items(lst)
        inners = [i for i in (nested.violates(m, v) for m in members) if i]
        if inners:
            sc.add("And", f"{vp} FILTER EXISTS {{ {' UNION '.join('{ ' + i + ' }' for i in inners)} }}", {},
                   conform=None if sc.prop else [c for m in members for c in nested.conforms(m, v)],
                   conform_top=None if sc.prop else [c for m in members for c in nested.conforms(m, v, top=True)])
    for lst in sg.all(sc.shape, "or"):
        members = sg.items(lst)
        alternatives = [nested.violates(m, v) for m in members]
        if alternatives and all(alternatives):
            conj = [nested.conforms(m, v) for m in members]
            conform: list[str] | None
            if sc.prop:
                conform = None
            elif all(_positive(c) for c in conj):
                conform = [" UNION ".join("{ " + " ".join(c) + " }" for c in conj)]
            else:
                conform = ["FILTER(" + " || ".join("EXISTS { " + " ".join(c) + " }" for c in conj) + ")"]
            # violated iff every member is; when each member is one constraint, that is a join of their
            # top-level violations (v is bound in the same group)
            singles = [nested.shape_branches(m, v) for m in members]
            if all(len(b) == 1 for b in singles):
                top = f"{vp} " + " ".join(b[0][1].top for b in singles)
            else:
                # no member conforms: one NOT EXISTS per member, not EXISTS over a UNION of NOT EXISTS (which
                # Virtuoso's compiler refuses)
                top = f"{vp} FILTER({' && '.join('NOT EXISTS { ' + ' '.join(c) + ' }' for c in conj)})"
            sc.add("Or", f"{vp} FILTER({' && '.join('EXISTS { ' + str(i) + ' }' for i in alternatives)})", {},
                   conform=conform, top=top)
