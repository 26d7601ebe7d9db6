"""The fast engine: each compiled constraint runs as one SPARQL SELECT over the data."""

from __future__ import annotations

from ..errors import BudgetKGError
from .compiled import Shapes
from .data import Dataset
from .errors import ShapesError
from .messages import result_messages
from .report import Finding

#: A rule whose focus nodes are fewer than this share of the typed nodes runs with its targets inline.
INLINE_SHARE = 0.04


def run_sparql(data: Dataset, shapes: Shapes, *, private: bool = False) -> list[Finding]:
    """The findings of every compiled constraint of ``shapes`` on ``data``.

    Each constraint query is the join of its rule's targets with the pattern of its violations, so a rule
    whose targets have no focus node has no finding. ``private``: the data is a store nobody else writes to
    while it is validated (the scratch store of :class:`~kg.shapes.validation.StructuralCheck`), so the
    count of focus nodes holds for the constraint queries that follow it, and the constraints of a rule
    without focus nodes are not run: of the 19 structural rules, a converted document has focus nodes of
    about half, and the other half cost a fifth of its check. A store another process may write to
    between the count and the query (a build's store, a remote one) runs them all.
    """
    out: list[Finding] = []
    typed = _count(data, "SELECT (COUNT(*) AS ?n) WHERE { ?s a ?o }")
    counted: dict[str, int] = {}
    for c in shapes.constraints:
        if c.target and c.target not in counted:
            counted[c.target] = _count(data, c.target)
        if private and c.target and not counted[c.target]:
            continue
        few = bool(c.target) and counted[c.target] < INLINE_SHARE * typed
        try:
            rows = data.query(c.sparql_inline if c.sparql_inline and few else c.sparql)
        except (BudgetKGError, SyntaxError, OSError) as exc:
            raise ShapesError(f"{c.rule.name} ({c.component}): the compiled query failed: {exc}") from None
        names = [v.value for v in rows.variables]
        for row in rows:
            bindings = {n: row[n] for n in names if row[n] is not None}
            focus = bindings.get("this")
            if focus is None:
                continue
            value = bindings.get("value") if c.has_value else None
            if c.component == "SPARQLConstraintComponent" and value is None:
                value = focus
            zh, en = result_messages(c, bindings, value)
            out.append(Finding(c.rule.iri, c.severity, focus, c.component, c.shape_id, zh, en, c.path, c.path_iri,
                               value))
    return out


def _count(data: Dataset, sparql: str) -> int:
    try:
        return int(next(iter(data.query(sparql)))["n"].value)
    except (BudgetKGError, SyntaxError, OSError, StopIteration) as exc:
        raise ShapesError(f"counting focus nodes failed: {exc}") from None
