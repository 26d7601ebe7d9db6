"""Shared goals: projects linked by the informative indicator concepts and goal keywords they share.

Scored as ``concept_weight · cos(concepts) + (1 − concept_weight) · cos(goal keywords)`` over the
candidate pairs of an inverted index (:func:`kg.similarity.candidate_pairs`), in numpy chunks.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Set
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
    # the idf of each feature that can be a keyword (in two projects or more, not a stop word), computed once
    idf = {g: sim.idf(k, n) for g, k in df.items() if 1 < k <= limit}
    log = math.log
    out = []
    for c in counts:
        # (-weight, feature): the heaviest first, ties by feature (negating a product is exact)
        top = sorted([(-(1 + log(k)) * w, g) for g, k in c.items()
                      if (w := idf.get(g)) is not None])[:settings.goal_keywords]
        out.append({g: -w for w, g in top})
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
    # features are numbered in order of first appearance (ints hash and compare cheaply; a feature's
    # number stands for it in the index and in candidate_pairs)
    number: dict[_Feature, int] = {}
    feats = [[number.setdefault(("c", c), len(number)) for c in cvec[i]]
             + [number.setdefault(("g", g), len(number)) for g in goals[i]] for i in range(len(projects))]
    df = [0] * len(number)
    for fs in feats:
        for f in fs:
            df[f] += 1
    # rarest features first, for the index and for the sorted-neighbourhood order; the sort key of each
    # feature made once (a project's order_keys share these tuples)
    rarity = {f: (k, str(feature)) for f, (feature, k) in enumerate(zip(number, df, strict=True)) if k > 1}
    concept = [feature[0] == "c" for feature in number]
    del number
    ranked = [sorted((f for f in fs if f in rarity), key=rarity.__getitem__) for fs in feats]
    # every feature rare enough to pair all its projects is indexed (at most block_size each, so the
    # work stays linear); of the commoner ones only the index_features rarest (sorted neighbourhood)
    usable = [r if settings.min_shared_concepts == 0 else [f for f in r if concept[f]] for r in ranked]
    index = [[f for f in r if df[f] <= settings.block_size]
             + [f for f in r if df[f] > settings.block_size][:settings.index_features] for r in usable]
    order_keys = [tuple(rarity[f] for f in r[:6]) for r in ranked]

    first, second = array("q"), array("q")  # 8-byte integers, read below as int64
    for i, cands in sim.candidate_pairs(index, block_size=settings.block_size, window=settings.window,
                                         order=order_keys.__getitem__):
        first.extend([i] * len(cands))
        second.extend(cands)
    scored = len(first)
    passed: list[tuple[np.ndarray, ...]] = []  # per chunk: (i, j, score, concept score, goal score) of pairs that pass
    cmat, gmat = _sparse_rows(cvec), _sparse_rows(goals)
    cn, gn = np.array(cnorm), np.array(gnorm)
    positive = bool((cmat.data > 0).all())  # every concept weight (idf) is, unless a concept is everywhere
    alpha = settings.concept_weight
    for lo in range(0, scored, _PAIR_CHUNK):  # scored in bulk, a chunk at a time (bounded memory)
        left = np.frombuffer(first, dtype=np.int64)[lo:lo + _PAIR_CHUNK]
        right = np.frombuffer(second, dtype=np.int64)[lo:lo + _PAIR_CHUNK]
        ci, cj = cmat[left], cmat[right]
        product = ci.multiply(cj)
        dot = np.asarray(product.sum(axis=1)).ravel()
        if positive:  # a product keeps exactly the concepts both have (it drops zeros, and none is zero)
            shared = np.diff(product.indptr).astype(np.int64)
        else:
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
    texts: dict[int, _GoalText] = {}  # project → its goal text prepared for evidence, when needed
    numbers: dict[str, int] = {}  # the bigrams of the prepared texts, numbered
    for a, b, score, cs, gs in zip(pa[kept].tolist(), pb[kept].tolist(), psc[kept].tolist(), pcs[kept].tolist(),
                                   pgs[kept].tolist(), strict=True):
        link = SharedGoal(a, b, score, cs, gs, sorted(cvec[a].keys() & cvec[b].keys()), [])
        keywords = goals[a].keys() & goals[b].keys()
        if keywords and settings.tokenizer != "bigram":
            link.phrases = sorted(keywords)[:6]
        elif keywords:
            for p in (a, b):
                if p not in texts:
                    texts[p] = _GoalText(projects[p].goal_text, goals[p], numbers)
            link.phrases = texts[a].evidence(texts[b], keywords)
        links.append(link)
    return links, scored


#: A run of common bigrams in a mask of a text's places (1: the bigram starting there is in both texts).
_COMMON_RUN = re.compile(b"\x01+")


class _GoalText:
    """A goal text prepared for :func:`goal_evidence` against many others.

    :meth:`evidence` gives what ``goal_evidence`` gives without slicing the text into bigrams and
    intersecting bigram sets for every link: bigrams are numbered once, and a link's phrases are found
    in byte masks of the text's places.
    """

    __slots__ = ("bigrams", "keywords", "text", "windows")

    def __init__(self, goal_text: str, keywords: Iterable[str], numbers: dict[str, int]) -> None:
        """``keywords``: the text's goal keywords; ``numbers``: the numbering of every text's bigrams (grows)."""
        self.text = text = sim.normalize(goal_text)
        grams = set(sim.char_ngrams(text))  # what goal_evidence compares
        mine = {g: numbers.setdefault(g, len(numbers)) for g in grams}  # numbered (small: looked up at every place)
        #: the numbers of the text's bigrams and of its keywords (sets of the same int objects: a link
        #: intersects them without reading the numbers again)
        self.bigrams = set(mine.values())
        self.keywords = frozenset(numbers.setdefault(k, len(numbers)) for k in keywords)
        #: the number of the bigram that starts at each place of the text, -1 where it is none of them
        self.windows = [mine.get(g, -1) for g in map(str.__add__, text[:-1], text[1:])]

    def evidence(self, other: _GoalText, keywords: Set[str], limit: int = 6, longest: int = 24) -> list[str]:
        """``goal_evidence(self.text, common, keywords, limit, longest)``, ``common`` the bigrams of both texts
        and ``keywords`` the keywords they were both prepared with.

        A phrase of ``goal_evidence`` is a maximal run of common bigrams that holds a keyword: here, a
        run of places whose bigram is common, found with a regular expression on a mask of the places,
        and its keywords counted on a second mask. A common bigram is made of characters of runs
        (:func:`kg.similarity.char_ngrams`), so no run of them crosses punctuation. Only the phrases
        holding a keyword decide which of them are kept (a phrase holding one is only ever inside
        another that holds it too): the others are passed over.
        """
        text, windows, theirs = self.text, self.windows, other.bigrams
        if len(text) > 10_000:  # more phrases than goal_evidence keeps may then exist: ask it
            common = set(sim.char_ngrams(text)) & set(sim.char_ngrams(other.text))
            return goal_evidence(text, common, set(keywords), limit, longest)
        common_at = bytes(map(theirs.__contains__, windows))  # -1 (no bigram of this text) is never theirs
        # (a keyword counts only inside a run of common bigrams, so whether it is common goes unasked)
        keyword_at = bytes(map((self.keywords & other.keywords).__contains__, windows))
        hits: dict[str, int] = {}  # phrase → keywords in it
        for run in _COMMON_RUN.finditer(common_at):
            start, end = run.span()
            if n := keyword_at.count(1, start, end):
                hits[text[start:end + 1]] = n  # the bigrams starting at start … end - 1
        kept: list[str] = []
        for p in sorted(hits, key=lambda p: (-len(p), p)):
            if not any(p in q for q in kept):
                kept.append(p)
        return _best([(-hits[p], -len(p), p[:longest]) for p in kept], limit)


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
    return _best(scored, limit)


def _best(scored: list[tuple[int, int, str]], limit: int) -> list[str]:
    """The first ``limit`` distinct phrases of (−keywords, −length, phrase cut short) in ascending order."""
    out: list[str] = []
    for _, _, r in sorted(scored):
        if r not in out:
            out.append(r)
    return out[:limit]
