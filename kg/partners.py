"""Partner agencies: the shared-goal links between budget units, counted once per facet table for every agency page.

An agency page (``server.jobs.agency_summary``) lists the budget units outside the agency whose projects share
goals with its projects: per partner unit, the distinct ``bk:SharedGoalLink`` between the two (both directions
summed) and the greatest ``bk:score``. :func:`kg.facets.partners` counts them by walking every link of the store
for each page (half a million at 100,000 tables). Here they are counted once per facet table, per pair of units
(:func:`index`), so that a page adds up the rows of its own units (:func:`ranked`): a department's thousand
units cost a few thousand numbers, not a pass over every link.

Adding up per unit gives :func:`kg.facets.partners`' count only when no link is counted twice: each project has
at most one budget unit and each link end at most one project. :func:`index` answers ``None`` otherwise, and the
page counts as before.

>>> from kg.facets import Agencies, Multi
>>> import numpy as np
>>> ends = Multi.from_pairs(2, [(0, 0), (1, 0)]), Multi.from_pairs(2, [(0, 1), (1, 2)])
>>> ag = Agencies(*ends, np.array([0.5, 0.75]), [], [], *(Multi.from_pairs(0, []),) * 3)
>>> links = index(np.array([0, 1, 2], dtype=np.int32), 3, ag)  # projects 0, 1, 2 of units 0, 1, 2
>>> [(u, n, best) for u, n, best in ranked(links, [0], own={0}, iri=str, limit=5)]
[('2', 1, 0.75), ('1', 1, 0.5)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .facets import Agencies


@dataclass(frozen=True)
class UnitLinks:
    """Per direction (links from a unit's projects, links to them), CSR by own unit: the partner units, the distinct
    links to each and their greatest score (NaN: no score)."""

    units: int
    offsets: tuple[NDArray[np.int64], NDArray[np.int64]]
    partner: tuple[NDArray[np.int64], NDArray[np.int64]]
    links: tuple[NDArray[np.int64], NDArray[np.int64]]
    best: tuple[NDArray[np.float64], NDArray[np.float64]]


def index(project_unit: NDArray[np.int32], units: int, agencies: Agencies) -> UnitLinks | None:
    """Count the links between units once: ``project_unit`` is each project row's unit code (-1: none), ``units``
    how many unit codes there are. ``None`` when a per-unit sum could count a link twice (see the module)."""
    offsets, partner, links, best = [], [], [], []
    for own, other in ((agencies.link_from, agencies.link_to), (agencies.link_to, agencies.link_from)):
        if len(own.offsets) > 1 and int(np.diff(own.offsets).max()) > 1:
            return None
        own_unit = np.full(own.rows, -1, dtype=np.int64)
        own_unit[own.owner] = project_unit[own.codes]
        # (link, partner unit) once each, where both ends have a unit
        other_unit = project_unit[other.codes].astype(np.int64)
        link = other.owner.astype(np.int64)
        keep = (other_unit >= 0) & (own_unit[link] >= 0)
        width = max(units, 1)
        pairs = np.unique(link[keep] * width + other_unit[keep])
        link, other_unit = pairs // width, pairs % width
        key = own_unit[link] * width + other_unit
        keys, at = np.unique(key, return_inverse=True)
        count = np.bincount(at, minlength=len(keys)).astype(np.int64)
        top = np.full(len(keys), np.nan)
        np.fmax.at(top, at, agencies.link_score[link])
        offsets.append(np.searchsorted(keys // width, np.arange(units + 1)).astype(np.int64))
        partner.append(keys % width)
        links.append(count)
        best.append(top)
    return UnitLinks(units, (offsets[0], offsets[1]), (partner[0], partner[1]), (links[0], links[1]),
                     (best[0], best[1]))


def ranked(index: UnitLinks, own_units: Iterable[int], own: set[int], iri: Callable[[int], str],
           limit: int = 40) -> list[tuple[str, int, float]]:
    """The ``limit`` partners of the units ``own_units`` (codes), the units ``own`` left out: (the unit's IRI, by
    ``iri``; links; best score, 0.0 when none), most links first, then best score, then IRI.

    As ``server.jobs._ranked_partners`` ranks :func:`kg.facets.partners`' counts."""
    chosen = np.fromiter(own_units, dtype=np.int64)
    links = np.zeros(index.units, dtype=np.int64)
    ends = []
    for d in (0, 1):
        starts, stops = index.offsets[d][chosen], index.offsets[d][chosen + 1]
        lens = stops - starts
        pos = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()), dtype=np.int64)
        partner = index.partner[d][pos]
        links += np.bincount(partner, weights=index.links[d][pos], minlength=index.units).astype(np.int64)
        ends.append((partner, pos))
    if own:
        links[np.fromiter(own, dtype=np.int64)] = 0
    found = np.flatnonzero(links)
    cut = len(found) > limit
    if cut:  # the limit-th has the limit-th most links: only partners with as many can rank as high (a partition,
        # then a sort of those few, not of every partner)
        least = np.partition(links[found], len(found) - limit)[len(found) - limit]
        found = found[links[found] >= least]
    # the best scores of those only (a department's units have ~100,000 link ends; the maximum of each partner's
    # by ``fmax.at`` was a third of the ranking)
    best = np.full(index.units, np.nan)
    wanted = np.zeros(index.units, dtype=bool)
    wanted[found] = True
    for d, (partner, pos) in enumerate(ends):
        keep = wanted[partner]
        np.fmax.at(best, partner[keep], index.best[d][pos[keep]])
    best[found] = np.fmax(np.nan_to_num(best[found], nan=0.0), 0.0)
    if cut:  # every partner ranked at least as high as the limit-th, ties on IRIs sorted below
        last = found[np.lexsort((-best[found], -links[found]))[limit - 1]]
        found = found[(links[found] > links[last]) | ((links[found] == links[last]) & (best[found] >= best[last]))]
    rows = sorted((-int(links[u]), -float(best[u]), iri(int(u))) for u in found)[:limit]
    return [(unit, -n, -b) for n, b, unit in rows]
