"""Chinese text similarity (kg/similarity.py): normalisation, n-grams, measures, candidate generation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg import similarity as sim


def test_full_and_half_width_brackets_and_spaces_are_one_wording() -> None:
    assert sim.compact("系统/网络故障修复响应时间") == sim.compact("系统／网络 故障修复响应时间")
    assert sim.normalize("天津市公安局警用数字集群（PDT）") == sim.normalize("天津市公安局警用数字集群(ＰＤＴ)")


_ascii = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


@given(_ascii)
def test_normalize_folds_full_width_ascii(text: str) -> None:
    full = "".join(chr(ord(c) + 0xFEE0) for c in text)  # U+FF01…U+FF5E are the full-width forms
    assert sim.normalize(full) == sim.normalize(text)


_cjk = st.text(alphabet=st.sampled_from("系统使用人员满意度运行维护正常率成本采购设备（）()、 /"), max_size=20)


@given(_cjk)
def test_normalize_is_idempotent(text: str) -> None:
    assert sim.normalize(sim.normalize(text)) == sim.normalize(text)


@given(_cjk, _cjk)
def test_dice_is_a_symmetric_similarity(a: str, b: str) -> None:
    fa, fb = sim.shingles(a, (1, 2)), sim.shingles(b, (1, 2))
    d = sim.dice(fa, fb)
    assert 0.0 <= d <= 1.0
    assert d == pytest.approx(sim.dice(fb, fa))
    if fa:
        assert sim.dice(fa, fa) == pytest.approx(1.0)


def test_satisfaction_wordings_are_close_and_differ_from_other_satisfaction() -> None:
    close = sim.dice(sim.shingles("系统使用人员满意度"), sim.shingles("使用人员满意度"))
    far = sim.dice(sim.shingles("系统使用人员满意度"), sim.shingles("服务对象满意度"))
    assert close > 0.8 > 0.4 > far


def test_idf() -> None:
    assert sim.idf(10, 10) == 0.0
    assert sim.idf(1, 100) > sim.idf(10, 100) > sim.idf(50, 100) > 0


@given(st.text("系统的和及运维ab1，（ Ｐ", max_size=30), st.sampled_from([1, 2, 3]))
def test_char_ngrams_are_the_ngrams_of_each_run_but_function_words(text: str, n: int) -> None:
    runs = sim._RUN.findall(sim.normalize(text))
    grams = [g for run in runs for g in ([run] if len(run) <= n else [run[i:i + n] for i in range(len(run) - n + 1)])]
    assert sim.char_ngrams(text, n) == [g for g in grams if not set(g) <= sim.STOP_CHARS]


def test_shared_phrases_merge_consecutive_bigrams() -> None:
    a = "为公安业务提供强有力的技术支撑和安全保障"
    b = "为公安业务提供有力的技术支撑"
    common = set(sim.char_ngrams(a)) & set(sim.char_ngrams(b))
    assert sim.shared_phrases(a, common)[:2] == ["为公安业务提供", "有力的技术支撑"]


def test_jieba_tokens_drop_punctuation_and_numbers() -> None:
    tokens = sim.jieba_tokens("保障系统正常运行，正常运行率达到99%。")
    assert "正常" in tokens or "正常运行" in tokens
    assert not any(t in ("，", "。", "99", "%") for t in tokens)
    assert sim.features("正常运行", "both")["正常"] >= 1


def test_unknown_tokenizer_is_refused() -> None:
    with pytest.raises(ValueError):
        sim.features("x", "words")


def _brute_force(items: list[list[str]]) -> set[tuple[int, int]]:
    return {(i, j) for i, j in itertools.combinations(range(len(items)), 2) if set(items[i]) & set(items[j])}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdefghij"), max_size=4), max_size=40))
def test_candidate_pairs_find_every_pair_that_shares_a_feature_when_blocks_are_small(items) -> None:
    found = {(i, j) for i, js in sim.candidate_pairs(items, block_size=1000) for j in js}
    assert found == _brute_force(items)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abc"), min_size=1, max_size=3), max_size=80))
def test_candidate_pairs_are_bounded_per_item_for_common_features(items) -> None:
    block, window = 5, 2
    for i, js in sim.candidate_pairs(items, block_size=block, window=window, order=lambda k: k):
        assert all(j > i for j in js)
        assert all(set(items[i]) & set(items[j]) for j in js)  # a candidate always shares a feature
        assert len(js) <= len(set(items[i])) * max(block, 2 * window)  # linear work, whatever the corpus size


def test_candidate_pairs_pair_neighbours_in_the_given_order() -> None:
    items = [["x"] for _ in range(10)]
    pairs = {(i, j) for i, js in sim.candidate_pairs(items, block_size=3, window=1, order=lambda k: -k) for j in js}
    assert pairs == {(k, k + 1) for k in range(9)}


def test_is_subsequence() -> None:
    assert sim.is_subsequence("监管", "监所管理")
    assert not sim.is_subsequence("管监", "监所管理")
