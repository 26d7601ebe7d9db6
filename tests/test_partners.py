"""An agency's partner units, ranked from the per-unit link counts (kg.partners), are what counting every link says."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.facets import Agencies, Multi
from kg.partners import index, ranked

SCORES = st.sampled_from([0.25, 0.5, 0.75, 1.0])
Link = tuple[int, int, float]  # (from project, to project, score)


def by_index(unit_of: list[int], units: int, links: list[Link], own: list[int], limit: int) -> list:
    ends = (Multi.from_pairs(len(links), [(k, a) for k, (a, _, _) in enumerate(links)]),
            Multi.from_pairs(len(links), [(k, b) for k, (_, b, _) in enumerate(links)]))
    ag = Agencies(*ends, np.array([s for _, _, s in links], dtype=np.float64), [], [],
                  *(Multi.from_pairs(0, []),) * 3)
    per_unit = index(np.array(unit_of, dtype=np.int32), units, ag)
    assert per_unit is not None
    return ranked(per_unit, own, set(own), iri=str, limit=limit)


def plainly(unit_of: list[int], links: list[Link], own: list[int]) -> dict[int, tuple[int, float]]:
    """Every partner unit: (links of an own unit's project with one of its projects, the best score)."""
    found: dict[int, tuple[int, float]] = {}
    for a, b, score in links:
        for mine, other in ((unit_of[a], unit_of[b]), (unit_of[b], unit_of[a])):
            if mine in own and other not in own:
                n, best = found.get(other, (0, 0.0))
                found[other] = (n + 1, max(best, score))
    return found


def ranked_plainly(found: dict[int, tuple[int, float]], limit: int) -> list:
    return [(u, n, b) for n, b, u in ((-n, -b, u) for n, b, u in sorted((-n, -b, str(u))
                                                                       for u, (n, b) in found.items())[:limit])]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_ranked_partners_are_the_plain_count(data: st.DataObject) -> None:
    units = data.draw(st.integers(2, 40), label="units")
    unit_of = data.draw(st.lists(st.integers(0, units - 1), min_size=2, max_size=60), label="unit of each project")
    links = data.draw(st.lists(st.tuples(st.integers(0, len(unit_of) - 1), st.integers(0, len(unit_of) - 1), SCORES),
                               max_size=300), label="links (from, to, score)")
    own = sorted(data.draw(st.sets(st.integers(0, units - 1), min_size=1, max_size=3), label="own units"))
    limit = data.draw(st.integers(1, 6), label="limit")
    assert by_index(unit_of, units, links, own, limit) == ranked_plainly(plainly(unit_of, links, own), limit)


def test_only_the_best_partners_are_ranked() -> None:
    """More partners than the limit, tied on links at the cut: the best score, then the IRI, decide."""
    unit_of = list(range(10))  # project k of unit k
    links = [(0, k, 0.5) for k in range(1, 10)] + [(k, 0, 0.25 * (k % 4)) for k in range(1, 10) if k % 2]
    found = plainly(unit_of, links, [0])
    assert len(found) == 9 and by_index(unit_of, 10, links, [0], 3) == ranked_plainly(found, 3)
    assert [u for u, _, _ in by_index(unit_of, 10, links, [0], 3)] == ["3", "7", "1"]
