"""Chinese text similarity for linking: normalisation, character n-grams, jieba tokens, candidate pairs.

Everything here is pure and deterministic (no store, no RDF), so :mod:`kg.links` and
:mod:`kg.contracts` can be tested through it on plain strings.

Text is compared as **character n-grams** by default: Chinese has no spaces, most words are two
characters long, and bigrams are robust to the different segmentations of one wording
(使用人员满意度 / 使用人满意度). jieba word tokens are available too (``tokenizer="jieba"``); they make
nicer evidence but loading jieba's dictionary costs about a second.

>>> normalize("（非财政拨款）ＰＤＴ 系统")
'(非财政拨款)pdt系统'
>>> char_ngrams("使用人员满意度")
['使用', '用人', '人员', '员满', '满意', '意度']
>>> round(dice(shingles("系统使用人员满意度"), shingles("使用人员满意度")), 3)
0.857
"""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

K = TypeVar("K", bound=Hashable)

#: Bracket and dash variants folded to one form (NFKC already folds full-width ASCII forms).
_FOLD = str.maketrans({
    "【": "[", "】": "]", "〔": "(", "〕": ")", "［": "[", "］": "]", "〈": "<", "〉": ">", "《": "<", "》": ">",
    "—": "-", "–": "-", "－": "-", "〜": "~", "、": ",", "“": '"', "”": '"', "‘": "'", "’": "'",
})
_SPACE = re.compile(r"\s+")
#: A run of characters that n-grams are taken from: CJK, letters and digits (punctuation splits runs).
_RUN = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

#: Function words that carry no meaning in a name or goal; n-grams made only of them are dropped.
STOP_CHARS = frozenset("的和及与或等之了在对为将把被")
_STOP_CLASS = "[" + "".join(sorted(STOP_CHARS)) + "]"
#: n → a pattern found in every run that has an n-gram made only of function words.
_STOPS: dict[int, re.Pattern[str]] = {}


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), folded brackets and dashes, no whitespace, lower case.

    >>> normalize("治安警用装备（尾款） -2024中央")
    '治安警用装备(尾款)-2024中央'
    """
    return _SPACE.sub("", unicodedata.normalize("NFKC", text).translate(_FOLD)).lower()


def compact(text: str) -> str:
    """:func:`normalize` without punctuation: the identity key of a wording.

    >>> compact("系统/网络故障修复响应时间") == compact("系统网络故障修复 响应时间")
    True
    """
    return "".join(_RUN.findall(normalize(text)))


def char_ngrams(text: str, n: int = 2) -> list[str]:
    """Character ``n``-grams of each run of CJK/alphanumeric characters (a shorter run is kept whole).

    >>> char_ngrams("系统/网络")
    ['系统', '网络']
    >>> char_ngrams("率")
    ['率']
    """
    out: list[str] = []
    stop = STOP_CHARS.issuperset
    stops = _STOPS.get(n)
    if stops is None:  # an n-gram of function words only: n of them in a row, or a shorter run of them only
        stops = _STOPS[n] = re.compile(f"{_STOP_CLASS}{{{n}}}|^{_STOP_CLASS}+$")
    for run in _RUN.findall(normalize(text)):
        if len(run) <= n:
            grams = [run]
        elif n == 2:  # pairs of neighbouring characters, concatenated in C
            grams = list(map(str.__add__, run[:-1], run[1:]))
        else:
            grams = [run[i:i + n] for i in range(len(run) - n + 1)]
        if stops.search(run):  # most runs have none: nothing to drop
            grams = [g for g in grams if not stop(g)]
        out.extend(grams)
    return out


def shingles(text: str, sizes: Sequence[int] = (2,)) -> Counter[str]:
    """The multiset of character n-grams of every size in ``sizes``.

    >>> sorted(shingles("业务", (1, 2)))
    ['业', '业务', '务']
    """
    c: Counter[str] = Counter()
    for n in sizes:
        c.update(char_ngrams(text, n))
    return c


_jieba = None


def _load_jieba():
    global _jieba
    if _jieba is None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return _jieba


def jieba_tokens(text: str) -> list[str]:
    """jieba's word tokens of ``text`` (normalised), without punctuation, numbers and function words.

    >>> jieba_tokens("系统使用人员满意度")
    ['系统', '使用', '人员', '满意度']
    """
    jieba = _load_jieba()
    return [t for t in jieba.lcut(normalize(text), HMM=False)
            if _RUN.fullmatch(t) and not t.isdigit() and not all(c in STOP_CHARS for c in t)]


def features(text: str, tokenizer: str = "bigram") -> Counter[str]:
    """The features text similarity is computed on: ``bigram`` (default), ``jieba`` or ``both``.

    >>> sorted(features("运维经费"))
    ['经费', '维经', '运维']
    """
    if tokenizer == "bigram":
        return shingles(text)
    if tokenizer == "jieba":
        return Counter(jieba_tokens(text))
    if tokenizer == "both":
        return shingles(text) + Counter(jieba_tokens(text))
    raise ValueError(f"unknown tokenizer {tokenizer!r} (bigram, jieba or both)")


# -- similarity measures -------------------------------------------------------------------


def dice(a: Mapping[K, float], b: Mapping[K, float]) -> float:
    """Weighted Dice coefficient ``2·Σmin / (Σa + Σb)`` of two feature multisets (0 … 1).

    >>> dice({"a": 1, "b": 1}, {"a": 1})
    0.6666666666666666
    """
    total = sum(a.values()) + sum(b.values())
    if not total:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return 2 * sum(min(w, large[k]) for k, w in small.items() if k in large) / total


def norm(v: Mapping[K, float]) -> float:
    """The Euclidean norm of a sparse vector (for cosines of weighted feature vectors).

    >>> norm({"x": 3.0, "y": 4.0})
    5.0
    """
    return math.sqrt(sum(w * w for w in v.values()))


def idf(df: int, n: int) -> float:
    """Inverse document frequency ``ln(n / df)``: 0 for a feature every item has.

    >>> idf(138, 138), round(idf(2, 138), 3)
    (0.0, 4.234)
    """
    return math.log(n / df) if df and n else 0.0


def shared_phrases(text: str, shared: set[str], n: int = 2, limit: int = 8, normalized: bool = False) -> list[str]:
    """Phrases of ``text`` made of consecutive shared n-grams: readable evidence of a match.

    Runs of overlapping n-grams that are all in ``shared`` are merged (正常 + 常运 + 运行 → 正常运行);
    the longest phrases come first, at most ``limit``. ``normalized``: ``text`` is already
    :func:`normalize` d (saves the work when one text is compared with many).

    >>> shared_phrases("确保系统的正常运行", {"系统", "正常", "常运", "运行"})
    ['正常运行', '系统']
    """
    phrases: list[str] = []
    for run in _RUN.findall(text if normalized else normalize(text)):
        i = 0
        while i <= len(run) - n:
            if run[i:i + n] not in shared:
                i += 1
                continue
            j = i
            while j + 1 <= len(run) - n and run[j + 1:j + 1 + n] in shared:
                j += 1
            phrases.append(run[i:j + n])
            i = j + 1
    seen: dict[str, None] = {}
    for p in sorted(phrases, key=lambda p: (-len(p), p)):
        if not any(p in q for q in seen):
            seen[p] = None
    return list(seen)[:limit]


def is_subsequence(short: str, long: str) -> bool:
    """Whether the characters of ``short`` occur in ``long`` in order (an abbreviation test).

    >>> is_subsequence("公交", "公共交通治安"), is_subsequence("交公", "公共交通")
    (True, False)
    """
    it = iter(long)
    return all(c in it for c in short)


# -- candidate generation ------------------------------------------------------------------


def candidate_pairs(items: Sequence[Sequence[K]], *, block_size: int = 100, window: int = 10,
                    order: Callable[[int], SupportsRichComparison] | None = None) -> Iterator[tuple[int, set[int]]]:
    """Pairs of items that share a feature, without comparing all pairs: an inverted index.

    ``items[i]`` lists the features of item ``i`` that may make it similar to another (its most
    informative ones: callers pass rare features first and cut the list). The index maps each
    feature to the items that have it. A feature shared by at most ``block_size`` items makes every
    pair of them a candidate; a more common one only pairs each item with the ``window`` items next
    to it when its items are sorted by ``order`` (a *sorted neighbourhood*: callers sort so that
    similar items are adjacent). The work is thus at most ``block_size + 2·window`` candidates per
    feature of an item, linear in the number of items, and exact for corpora whose features are all
    rarer than ``block_size``.

    Yields ``(i, {j, …})`` with every ``j > i``, for each item ``i`` that has candidates.

    >>> sorted(candidate_pairs([["a", "b"], ["b"], ["c"], ["a"]]))
    [(0, {1, 3})]
    """
    postings: defaultdict[K, list[int]] = defaultdict(list)
    for i, feats in enumerate(items):
        for f in dict.fromkeys(feats):
            postings[f].append(i)
    rank: dict[int, int] = {}
    if order is not None and any(len(p) > block_size for p in postings.values()):
        rank = {i: r for r, i in enumerate(sorted(range(len(items)), key=order))}
    position: dict[K, dict[int, int]] = {}
    for f, plist in postings.items():
        if len(plist) > block_size:
            plist.sort(key=lambda i: (rank.get(i, i), i))
            position[f] = {i: k for k, i in enumerate(plist)}
    for i, feats in enumerate(items):
        found: set[int] = set()
        for f in dict.fromkeys(feats):
            plist = postings[f]
            if f not in position:  # in ascending order: the items after i are a slice
                found.update(plist[bisect_right(plist, i):])
                continue
            k = position[f][i]
            found.update(j for j in plist[max(0, k - window):k + window + 1] if j > i)
        if found:
            yield i, found
