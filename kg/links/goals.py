"""Shared goals: projects linked by the informative indicator concepts and goal keywords they share.

Scored as ``concept_weight · cos(concepts) + (1 − concept_weight) · cos(goal keywords)`` over the
candidate pairs of an inverted index (:func:`kg.similarity.candidate_pairs`), in numpy chunks.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .. import similarity as sim
from .inputs import Project
from .settings import LinkSettings


@dataclass
class SharedGoal:
    a: int
    b: int
    score: float
    concept_score: float
    goal_score: float
    concepts: list[int]
    phrases: list[str]


def _goal_vectors(projects: list[Project], settings: LinkSettings) -> list[dict[str, float]]:
    counts = [sim.features(p.goal_text, settings.tokenizer) if p.goals else Counter() for p in projects]
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    n = len(projects)
    limit = settings.goal_max_share * n
    out = []
    for c in counts:
        scored = sorted(((1 + math.log(k)) * sim.idf(df[g], n), g) for g, k in c.items()
                        if df[g] > 1 and df[g] <= limit)
        top = sorted(scored, key=lambda wg: (-wg[0], wg[1]))[:settings.goal_keywords]
        out.append({g: w for w, g in top})
    return out


#: Candidate pairs scored at once (numpy arrays and sparse rows of this many pairs).
_PAIR_CHUNK = 500_000
#: Decimal places shared-goal scores are compared at.
_PLACES = 12


def _sparse_rows(vectors: list[dict]) -> sparse.csr_matrix:
    """One row per vector (feature → weight), features numbered in order of first appearance."""
    columns: dict[object, int] = {}
    indptr, indices, data = [0], [], []
    for v in vectors:
        for f, w in v.items():
            indices.append(columns.setdefault(f, len(columns)))
            data.append(w)
        indptr.append(len(indices))
    return sparse.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64),
                              np.array(indptr, dtype=np.int64)), shape=(len(vectors), max(1, len(columns))))


#: A feature of a project: ("c", an informative concept) or ("g", a goal keyword).
_Feature = tuple[str, object]


def shared_goals(projects: list[Project], concept_sets: list[set[int]], concept_weight: Mapping[int, float],
                 settings: LinkSettings) -> tuple[list[SharedGoal], int]:
    """Shared-goal links between projects (indices into ``projects``) and the number of candidates scored.

    ``concept_sets[i]`` are the informative concepts of project ``i``; ``concept_weight`` their idf.
    """
    goals = _goal_vectors(projects, settings)
    cvec = [{c: concept_weight[c] for c in cs} for cs in concept_sets]
    cnorm = [sim.norm(v) for v in cvec]
    gnorm = [sim.norm(v) for v in goals]
    df: Counter[_Feature] = Counter()
    feats: list[list[_Feature]] = []
    for i in range(len(projects)):
        fs: list[_Feature] = [("c", c) for c in cvec[i]] + [("g", g) for g in goals[i]]
        df.update(fs)
        feats.append(fs)
    # rarest features first, for the index and for the sorted-neighbourhood order
    ranked = [sorted((f for f in fs if df[f] > 1), key=lambda f: (df[f], str(f))) for fs in feats]
    # every feature rare enough to pair all its projects is indexed (at most block_size each, so the
    # work stays linear); of the commoner ones only the index_features rarest (sorted neighbourhood)
    usable = [r if settings.min_shared_concepts == 0 else [f for f in r if f[0] == "c"] for r in ranked]
    index = [[f for f in r if df[f] <= settings.block_size]
             + [f for f in r if df[f] > settings.block_size][:settings.index_features] for r in usable]
    order_keys = [tuple((df[f], str(f)) for f in r[:6]) for r in ranked]

    first, second = array("q"), array("q")  # 8-byte integers, read below as int64
    for i, cands in sim.candidate_pairs(index, block_size=settings.block_size, window=settings.window,
                                         order=order_keys.__getitem__):
        first.extend([i] * len(cands))
        second.extend(cands)
    scored = len(first)
    passed: list[tuple[np.ndarray, ...]] = []  # per chunk: (i, j, score, concept score, goal score) of pairs that pass
    cmat, gmat = _sparse_rows(cvec), _sparse_rows(goals)
    cn, gn = np.array(cnorm), np.array(gnorm)
    alpha = settings.concept_weight
    for lo in range(0, scored, _PAIR_CHUNK):  # scored in bulk, a chunk at a time (bounded memory)
        left = np.frombuffer(first, dtype=np.int64)[lo:lo + _PAIR_CHUNK]
        right = np.frombuffer(second, dtype=np.int64)[lo:lo + _PAIR_CHUNK]
        ci, cj = cmat[left], cmat[right]
        dot = np.asarray(ci.multiply(cj).sum(axis=1)).ravel()
        ci.data[:] = 1.0
        cj.data[:] = 1.0
        shared = np.asarray(ci.multiply(cj).sum(axis=1)).ravel().round().astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            cs = np.where(shared > 0, dot / (cn[left] * cn[right]), 0.0)
            goal_dot = np.asarray(gmat[left].multiply(gmat[right]).sum(axis=1)).ravel()
            gs = np.where((gn[left] > 0) & (gn[right] > 0), goal_dot / (gn[left] * gn[right]), 0.0)
        # rounded: which pairs pass and which tie no longer depend on the order of a floating-point sum
        cs, gs = cs.round(_PLACES), gs.round(_PLACES)
        score = (alpha * cs + (1 - alpha) * gs).round(_PLACES)
        ok = (shared >= settings.min_shared_concepts) & ((shared >= 2) | (gs >= settings.single_concept_min_goal)) \
            & (score >= settings.min_score)
        passed.append((left[ok], right[ok], score[ok], cs[ok], gs[ok]))
    links: list[SharedGoal] = []
    if not passed or not sum(len(p[0]) for p in passed):
        return links, scored
    pa, pb, psc, pcs, pgs = (np.concatenate(x) for x in zip(*passed, strict=True))
    # each project keeps its best k links by (score, -other); a link stays if either end keeps it
    end, other = np.concatenate([pa, pb]), np.concatenate([pb, pa])
    pair = np.tile(np.arange(len(pa)), 2)
    order = np.lexsort((other, -np.concatenate([psc, psc]), end))
    end, pair = end[order], pair[order]
    starts = np.r_[0, np.flatnonzero(np.diff(end)) + 1]
    rank = np.arange(len(end)) - np.repeat(starts, np.diff(np.r_[starts, len(end)]))
    kept = np.unique(pair[rank < settings.max_links_per_project])
    kept = kept[np.lexsort((pb[kept], pa[kept]))]
    texts: dict[int, tuple[str, set[str]]] = {}  # project → (normalised goal text, its bigrams), when needed
    for a, b, score, cs, gs in zip(pa[kept].tolist(), pb[kept].tolist(), psc[kept].tolist(), pcs[kept].tolist(),
                                   pgs[kept].tolist(), strict=True):
        link = SharedGoal(a, b, score, cs, gs, sorted(cvec[a].keys() & cvec[b].keys()), [])
        keywords = set(goals[a]) & set(goals[b])
        if keywords and settings.tokenizer != "bigram":
            link.phrases = sorted(keywords)[:6]
        elif keywords:
            for p in (a, b):
                if p not in texts:
                    text = sim.normalize(projects[p].goal_text)
                    texts[p] = (text, set(sim.char_ngrams(text)))
            link.phrases = goal_evidence(texts[a][0], texts[a][1] & texts[b][1], keywords)
        links.append(link)
    return links, scored


def goal_evidence(text: str, common: set[str], keywords: set[str], limit: int = 6, longest: int = 24) -> list[str]:
    """Phrases two goal texts have in common around their shared keywords, most distinctive first.

    ``text`` is one of the two goal texts, :func:`kg.similarity.normalize` d; ``common`` the character
    bigrams both texts contain. A phrase is a run of common bigrams in ``text`` (a common substring)
    that holds at least one shared keyword; at most ``limit`` phrases of at most ``longest`` characters.

    >>> a, b = "开展pdt终端加密卡配备", "推进pdt终端加密卡配备应用"
    >>> from kg.similarity import char_ngrams
    >>> goal_evidence(a, set(char_ngrams(a)) & set(char_ngrams(b)), {"加密"})
    ['pdt终端加密卡配备']
    """
    scored = []
    for r in sim.shared_phrases(text, common, limit=10_000, normalized=True):
        hits = sum(1 for k in range(len(r) - 1) if r[k:k + 2] in keywords)
        if hits:
            scored.append((-hits, -len(r), r[:longest]))
    out: list[str] = []
    for _, _, r in sorted(scored):
        if r not in out:
            out.append(r)
    return out[:limit]
