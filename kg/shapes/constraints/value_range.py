"""Value range constraint components (SHACL 4.3): sh:minInclusive, sh:maxInclusive, sh:minExclusive, sh:maxExclusive."""

from __future__ import annotations

from .scope import Scope

#: Each component's parameter and the comparison a conforming value passes.
COMPARISONS = {"minInclusive": ">=", "maxInclusive": "<=", "minExclusive": ">", "maxExclusive": "<"}


def compile_value_range(sc: Scope) -> None:
    for key, op in COMPARISONS.items():
        for lit in sc.sg.all(sc.shape, key):
            sc.value_filter(key[0].upper() + key[1:], f"!COALESCE({sc.v} {op} {sc.sg.term(lit)}, false)",
                            {key: str(lit)})
