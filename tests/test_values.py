"""Tests of the target-value parser :func:`kg.values.parse_value` (指标值 → comparator, number, unit, date …).

Values marked ``# seed`` occur verbatim in ``seeds/*.txt`` (found with grep); the others are made up
to cover a form the seeds do not happen to use.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.values import parse_value

NUM_IRI = "http://qudt.org/vocab/unit/NUM"
D = Decimal


def _date(s: str | None) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None


# ---------------------------------------------------------------------------------------------
# Table-driven examples
# ---------------------------------------------------------------------------------------------

#: (raw, comparator, number, unit key, unit label as written, normalized)
NUMERIC = [
    # symbols
    ("≥90%", "≥", "90", "percent", "%", "90"),  # seed 000:94
    ("≥60%", "≥", "60", "percent", "%", "60"),  # seed 000:46
    ("≤5%", "≤", "5", "percent", "%", "5"),  # seed 004:76
    ("100%", "=", "100", "percent", "%", "100"),  # seed 003:46 (no comparator means =)
    ("<1%", "<", "1", "percent", "%", "1"),  # seed 004
    (">100次", ">", "100", "count:次", "次", "100"),  # seed 003:371
    (">6000万元", ">", "6000", "wanyuan", "万元", "60000000"),  # seed 003:407
    ("=90%", "=", "90", "percent", "%", "90"),
    ("＝90%", "=", "90", "percent", "%", "90"),  # full-width =
    # % and 百分比 are one unit
    ("≥97百分比", "≥", "97", "percent", "百分比", "97"),  # seed 002:40
    ("≤5百分比", "≤", "5", "percent", "百分比", "5"),  # seed 002:144
    ("100百分比", "=", "100", "percent", "百分比", "100"),  # seed 004
    # word comparators before the number
    ("不超过3.6万元", "≤", "3.6", "wanyuan", "万元", "36000"),  # seed 001:183
    ("不超过21万元", "≤", "21", "wanyuan", "万元", "210000"),  # seed 001:251
    ("不低于95%", "≥", "95", "percent", "%", "95"),
    ("不高于10万元", "≤", "10", "wanyuan", "万元", "100000"),
    ("不少于3次", "≥", "3", "count:次", "次", "3"),
    # word comparators after the number
    ("5年以上", "≥", "5", "year", "年", "5"),  # seed 004
    ("30天以内", "≤", "30", "day", "天", "30"),
    ("8小时内", "≤", "8", "hour", "小时", "8"),
    ("50%左右", "≈", "50", "percent", "%", "50"),
    ("90%以上", "≥", "90", "percent", "%", "90"),
    # money: 万元 is CNY × 10⁴, normalized to 元
    ("≤39.6万元", "≤", "39.6", "wanyuan", "万元", "396000"),  # seed 000:76
    ("≤0.02万元", "≤", "0.02", "wanyuan", "万元", "200"),  # seed 004
    ("≤300元", "≤", "300", "yuan", "元", "300"),  # seed 004
    ("≤16元", "≤", "16", "yuan", "元", "16"),  # seed 004
    # durations
    ("≤8小时", "≤", "8", "hour", "小时", "8"),  # seed 000:70
    ("≤0.5小时", "≤", "0.5", "hour", "小时", "0.5"),  # seed 004
    ("≤5分钟", "≤", "5", "minute", "分钟", "5"),  # seed 004
    ("≤3秒", "≤", "3", "second", "秒", "3"),  # seed 004
    ("≥20秒", "≥", "20", "second", "秒", "20"),  # seed 004
    ("≤30天", "≤", "30", "day", "天", "30"),  # seed 004
    ("≥200天", "≥", "200", "day", "天", "200"),  # seed 004
    ("≤5个工作日", "≤", "5", "workday", "个工作日", "5"),  # seed 004
    ("≤3工作日", "≤", "3", "workday", "工作日", "3"),
    ("12个月", "=", "12", "month", "个月", "12"),  # seed 000:64
    ("≤6月", "≤", "6", "month", "月", "6"),  # seed 003:267
    ("≤3日历月", "≤", "3", "month", "日历月", "3"),  # seed 004
    ("1年", "=", "1", "year", "年", "1"),  # seed 000:156
    ("≥1年", "≥", "1", "year", "年", "1"),  # seed 004
    # other measures
    ("≥5598.83平方米", "≥", "5598.83", "m2", "平方米", "5598.83"),  # seed 000:132
    ("138平米", "=", "138", "m2", "平米", "138"),  # seed 004
    ("≥144公里", "≥", "144", "km", "公里", "144"),  # seed 004
    ("≥20000公斤", "≥", "20000", "kg", "公斤", "20000"),  # seed 004
    ("≥5184TB", "≥", "5184", "tb", "TB", "5184"),  # seed 004
]


@pytest.mark.parametrize(("raw", "cmp", "number", "unit", "label", "normalized"), NUMERIC)
def test_numeric_examples(raw: str, cmp: str, number: str, unit: str, label: str, normalized: str) -> None:
    v = parse_value(raw)
    assert v.raw == raw
    assert v.kind == "numeric", v
    assert v.comparator == cmp
    assert v.number == D(number)
    assert v.unit is not None and v.unit.key == unit
    assert v.unit_label == label
    assert v.normalized == D(normalized)
    assert v.problem is None


def test_percent_and_baifenbi_are_one_unit() -> None:
    a, b = parse_value("≥97%"), parse_value("≥97百分比")
    assert a.unit == b.unit
    assert a.unit.key == "percent"
    assert a.unit.iri == "http://qudt.org/vocab/unit/PERCENT"
    assert (a.comparator, a.number) == (b.comparator, b.number)
    assert (a.unit_label, b.unit_label) == ("%", "百分比")


def test_wanyuan_unit() -> None:
    v = parse_value("≤39.6万元")  # seed 000:76
    assert v.unit.key == "wanyuan"
    assert v.unit.dimension == "currency"
    assert v.unit.multiplier == D(10000)
    assert v.unit.base_iri == "http://qudt.org/vocab/currency/CNY"
    assert v.scale == 1  # the 万 is in the unit, not a scale
    assert v.normalized == D("396000")
    assert parse_value("≤300元").unit.iri == "http://qudt.org/vocab/currency/CNY"


#: (raw, count word as written, unit label on unit:NUM, number, comparator)
COUNTS = [
    ("≤3次", "次", "次", "3", "≤"),  # seed 000:58
    ("1个", "个", "个", "1", "="),  # seed 000:40
    ("≥25台", "台", "台", "25", "≥"),  # seed 000:248
    ("≥15套", "套", "套", "15", "≥"),  # seed 004:40
    ("≥361件", "件", "件", "361", "≥"),  # seed 004:34
    ("≥98件套", "件套", "件套", "98", "≥"),  # seed 002:34
    ("≥6人", "人", "人", "6", "≥"),  # seed 000:218
    ("≥100人次", "人次", "人次", "100", "≥"),  # seed 004
    ("≥200人/次", "人/次", "人次", "200", "≥"),  # seed 004: 人/次 is 人次
    ("≥6500条次", "条次", "条次", "6500", "≥"),  # seed 001:34
    ("≥260项", "项", "项", "260", "≥"),  # seed 000:200
    ("≥25辆", "辆", "辆", "25", "≥"),  # seed 000:224
    ("0次", "次", "次", "0", "="),  # seed 004:2722
    ("≥143台/套", "台/套", "台套", "143", "≥"),  # seed 004
]


@pytest.mark.parametrize(("raw", "written", "label", "number", "cmp"), COUNTS)
def test_count_units_keep_their_label(raw: str, written: str, label: str, number: str, cmp: str) -> None:
    v = parse_value(raw)
    assert v.kind == "numeric"
    assert v.unit.iri == NUM_IRI
    assert v.unit.dimension == "count"
    assert v.unit.label == label
    assert v.unit.key == f"count:{label}"
    assert v.unit_label == written
    assert v.number == D(number)
    assert v.comparator == cmp


@pytest.mark.parametrize(
    ("raw", "number", "unit", "normalized"),
    [
        ("≥24万件", "24", "count:件", "240000"),  # seed 001:97
        ("24万件", "24", "count:件", "240000"),
        ("≥2万件", "2", "count:件", "20000"),  # seed 001:109
        ("≥23万册", "23", "count:册", "230000"),  # seed 004:2632
        ("≥100万人", "100", "count:人", "1000000"),  # seed 004:2716
        ("29.75万平方米", "29.75", "m2", "297500"),  # seed 004
    ],
)
def test_wan_inside_a_count_is_a_scale(raw: str, number: str, unit: str, normalized: str) -> None:
    v = parse_value(raw)
    assert v.kind == "numeric"
    assert v.number == D(number)  # as written
    assert v.scale == D(10000)
    assert v.unit.key == unit
    assert v.normalized == D(normalized)


@pytest.mark.parametrize(
    ("raw", "unit", "per"),
    [
        ("≥4次/月", "count:次", "月"),  # seed 004
        ("≤2次/月", "count:次", "月"),  # seed 004
        ("1份/月", "count:份", "月"),  # seed 004:494
        ("≥3次/年", "count:次", "年"),  # seed 004
        ("≥1次/每日", "count:次", "日"),  # seed 004: 每 is dropped
        ("≤80元/人", "yuan", "人"),  # seed 004
    ],
)
def test_rates_keep_their_denominator(raw: str, unit: str, per: str) -> None:
    v = parse_value(raw)
    assert v.kind == "numeric"
    assert v.unit.key == unit
    assert v.per == per


@pytest.mark.parametrize(
    ("raw", "context_year", "cmp", "start", "end", "qualifier"),
    [
        ("2024年12月底前", None, "≤", None, "2024-12-31", None),  # seed 004:630
        ("2025年12月底前", None, "≤", None, "2025-12-31", None),  # seed 000:296
        ("2024年9月底前", None, "≤", None, "2024-09-30", None),  # seed 004
        ("2024年2月底前", None, "≤", None, "2024-02-29", None),  # leap year
        ("2025年3月", None, "=", "2025-03-01", "2025-03-31", None),  # seed 002:150
        ("2025年4月", None, "=", "2025-04-01", "2025-04-30", None),  # seed 000:284
        ("2025年1-12月", None, "=", "2025-01-01", "2025-12-31", None),  # seed 000:144
        ("2024年9月30日", None, "=", "2024-09-30", "2024-09-30", None),  # seed 004
        ("2024年全年", None, "=", "2024-01-01", "2024-12-31", None),  # seed 004
        ("2024年11月前", None, "≤", None, "2024-11-30", None),  # seed 004 (前)
        ("2024年12月31日之前完成", None, "≤", None, "2024-12-31", "完成"),  # seed 004
        ("2023年11月30日前", None, "≤", None, "2023-11-30", None),  # seed 004
        ("2024年底前完", None, "≤", None, "2024-12-31", "完"),  # seed 004
        ("在2024年5月底前完成", None, "≤", None, "2024-05-31", "在完成"),  # seed 004
        ("2024年6月30日前完成主要采购工作", None, "≤", None, "2024-06-30", "完成主要采购工作"),  # seed 004
        ("2025年12月底前完成付款", None, "≤", None, "2025-12-31", "完成付款"),  # seed 003:151
        ("12月底完成", 2024, "≤", None, "2024-12-31", "完成"),  # seed 004 (no year: context)
        ("7月30日前完成", 2024, "≤", None, "2024-07-30", "完成"),  # seed 004
        ("在10月份之前完成", 2024, "≤", None, "2024-10-31", "在完成"),  # seed 004
    ],
)
def test_date_examples(raw: str, context_year: int | None, cmp: str, start: str | None, end: str,
                       qualifier: str | None) -> None:
    v = parse_value(raw, context_year=context_year)
    assert v.kind == "date", v
    assert v.comparator == cmp
    assert v.period_start == _date(start)
    assert v.period_end == _date(end)
    assert v.qualifier == qualifier
    assert v.year_inferred is (context_year is not None)
    assert v.number is None and v.unit is None


def test_month_without_year_needs_a_context_year() -> None:
    dated = parse_value("12月底完成", context_year=2025)
    assert (dated.kind, dated.period_end, dated.year_inferred) == ("date", dt.date(2025, 12, 31), True)
    undated = parse_value("12月底完成")
    assert undated.kind != "date"
    assert undated.period_end is None


@pytest.mark.parametrize(
    ("raw", "cmp"),
    [
        ("提升", None),  # seed 000:88
        ("全年开展", None),  # seed 004:94
        ("有效提升", None),  # seed 001:320
        ("第一时间", None),  # seed 001:239
        ("7*24小时响应", None),  # seed 004: around-the-clock phrase, not 24 hours
        ("不超概算", "≤"),  # seed 004:10127: a comparator word before plain words
        ("不高于指导价（各品类指导价预算表中均有体现）", "≤"),  # seed 002:174
    ],
)
def test_qualitative_examples(raw: str, cmp: str | None) -> None:
    v = parse_value(raw)
    assert v.kind == "qualitative"
    assert v.text == raw
    assert v.comparator == cmp
    assert v.number is None and v.unit is None and v.problem is None


@pytest.mark.parametrize(
    "raw",
    [
        "0及时满足群众对合法证件需求",  # seed 004:2728
        "3月8日、6月1日（节日期间）完成",  # seed 004:6841
        "≥5天以下",  # comparators that disagree
    ],
)
def test_unparsed_examples_say_why(raw: str) -> None:
    v = parse_value(raw)
    assert v.kind == "unparsed"
    assert v.raw == raw
    assert v.problem  # a reason, not just a flag


@pytest.mark.parametrize("raw", ["", " ", "\t", "\u3000", "\n"])
def test_empty(raw: str) -> None:
    v = parse_value(raw)
    assert v.kind == "empty"
    assert v.raw == raw
    assert v.number is None and v.normalized is None


@pytest.mark.parametrize("raw", ["0000年全年", "0000年3月", "0000年1-2月", "0000年底前"])
def test_year_zero_does_not_raise(raw: str) -> None:
    v = parse_value(raw)
    assert v.raw == raw
    assert v.kind == "unparsed"


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

#: comparator text → comparator it means (written out here, not taken from the library)
COMPARATORS = {
    "≥": "≥", "≤": "≤", ">": ">", "<": "<", "=": "=",
    "不低于": "≥", "不少于": "≥", "至少": "≥", "大于等于": "≥",
    "不高于": "≤", "不超过": "≤", "不大于": "≤", "小于等于": "≤",
    "大于": ">", "高于": ">", "超过": ">",
    "小于": "<", "低于": "<", "少于": "<",
    "等于": "=", "约": "≈",
}
#: comparator words written after the number
SUFFIXES = {"以上": "≥", "及以上": "≥", "以下": "≤", "以内": "≤", "之内": "≤", "内": "≤", "左右": "≈"}
#: unit text → unit key
UNIT_TEXTS = {
    "%": "percent", "百分比": "percent", "元": "yuan", "万元": "wanyuan",
    "小时": "hour", "分钟": "minute", "秒": "second", "天": "day", "工作日": "workday", "个工作日": "workday",
    "月": "month", "个月": "month", "年": "year", "平方米": "m2", "公里": "km",
    "次": "count:次", "个": "count:个", "台": "count:台", "套": "count:套", "件": "count:件",
    "件套": "count:件套", "人": "count:人", "人次": "count:人次", "人/次": "count:人次", "项": "count:项",
}

def _decimals(p: int) -> st.SearchStrategy[Decimal]:
    step = D(1).scaleb(-p)
    return st.decimals(min_value=0, max_value=D(10**6) - step, places=p, allow_nan=False, allow_infinity=False)


#: 0 ≤ x < 10⁶ with 0, 1 or 2 decimal places
decimals_0_to_2_places = st.integers(min_value=0, max_value=2).flatmap(_decimals)


def fmt(x: Decimal) -> str:
    return format(x, "f")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_never_raises_and_keeps_raw(raw: str) -> None:
    v = parse_value(raw)
    assert v.raw == raw
    assert v.kind in {"numeric", "date", "qualitative", "unparsed", "empty"}
    if v.kind == "unparsed":
        assert v.problem


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(COMPARATORS)), decimals_0_to_2_places, st.sampled_from(sorted(UNIT_TEXTS)))
def test_round_trip_prefix_comparator(cmp: str, number: Decimal, unit: str) -> None:
    raw = f"{cmp}{fmt(number)}{unit}"
    v = parse_value(raw)
    assert v.kind == "numeric", (raw, v)
    assert v.comparator == COMPARATORS[cmp]
    assert v.number == number
    assert v.unit.key == UNIT_TEXTS[unit]
    assert v.scale == 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SUFFIXES)), decimals_0_to_2_places, st.sampled_from(sorted(UNIT_TEXTS)))
def test_round_trip_suffix_comparator(suffix: str, number: Decimal, unit: str) -> None:
    raw = f"{fmt(number)}{unit}{suffix}"
    v = parse_value(raw)
    assert v.kind == "numeric", (raw, v)
    assert v.comparator == SUFFIXES[suffix]
    assert v.number == number
    assert v.unit.key == UNIT_TEXTS[unit]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(COMPARATORS)), decimals_0_to_2_places)
def test_wanyuan_normalizes_to_yuan(cmp: str, number: Decimal) -> None:
    v = parse_value(f"{cmp}{fmt(number)}万元")
    assert v.unit.key == "wanyuan"
    assert v.number == number
    assert v.normalized == number * 10000


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["≥", "≤", ">", "<", "=", "不低于", ""]), decimals_0_to_2_places)
def test_percent_sign_and_baifenbi_parse_alike(cmp: str, number: Decimal) -> None:
    a = parse_value(f"{cmp}{fmt(number)}%")
    b = parse_value(f"{cmp}{fmt(number)}百分比")
    assert (a.kind, a.comparator, a.number, a.unit, a.normalized) == (b.kind, b.comparator, b.number, b.unit,
                                                                         b.normalized)
    assert a.unit.key == "percent"


def full_width(text: str) -> str:
    """ASCII → full-width forms (０-９, ．, ％, ＜, ＞, ＝); everything else unchanged."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["≥", "≤", ">", "<", "=", "不低于", "不超过", ""]), decimals_0_to_2_places,
       st.sampled_from(["%", "万元", "小时", "个", "人次", "天"]))
def test_full_width_parses_like_half_width(cmp: str, number: Decimal, unit: str) -> None:
    half = f"{cmp}{fmt(number)}{unit}"
    wide = full_width(half)
    a, b = parse_value(half), parse_value(wide)
    assert b.raw == wide
    assert (a.kind, a.comparator, a.number, a.unit, a.normalized) == (b.kind, b.comparator, b.number, b.unit,
                                                                         b.normalized)


def test_full_width_seed_like_example() -> None:
    v = parse_value("≥９５％")
    assert (v.kind, v.comparator, v.number, v.unit.key) == ("numeric", "≥", D(95), "percent")
    v = parse_value("≤３９．６万元")
    assert (v.comparator, v.number, v.normalized) == ("≤", D("39.6"), D("396000"))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=2000, max_value=2099), st.integers(min_value=1, max_value=12))
def test_end_of_month_deadline(year: int, month: int) -> None:
    v = parse_value(f"{year}年{month}月底前")
    assert v.kind == "date"
    assert v.comparator == "≤"
    assert v.period_end == dt.date(year, month, calendar.monthrange(year, month)[1])
    assert v.period_start is None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=2000, max_value=2099), st.integers(min_value=1, max_value=12))
def test_month_is_the_whole_month(year: int, month: int) -> None:
    v = parse_value(f"{year}年{month}月")
    assert (v.kind, v.comparator) == ("date", "=")
    assert v.period_start == dt.date(year, month, 1)
    assert v.period_end == dt.date(year, month, calendar.monthrange(year, month)[1])


# ---------------------------------------------------------------------------------------------
# Regressions: values once stored without part of what they say
# ---------------------------------------------------------------------------------------------

#: (seed line of the 指标值, raw): every bare 万 of the seeds on a 成本指标 row (grep -nP '\d\s*万\s*$'
#: finds 13 in 004; the 14th, 004:1787 ≥1万, is on a 数量指标 row). Each table's bare-万 caps add up
#: to its 预算数 in 万元 (62, 98, 122, 520, 120: tests/test_parse.py), so 万 is 万元 there.
BARE_WAN_COST = [
    (588, "≤21.92万"), (594, "≤1.56万"), (600, "≤38.52万"), (1212, "≤98万"), (1731, "≤122万"),
    (6896, "≤120万"), (6902, "≤22万"), (6908, "≤92.56万"), (6914, "≤48.39万"), (6920, "≤16万"),
    (6926, "≤221.05万"), (8680, "≤120万"),
]


@pytest.mark.parametrize(("line", "raw"), BARE_WAN_COST)
def test_regression_bare_wan_on_a_cost_row_is_wanyuan(line: int, raw: str) -> None:
    v = parse_value(raw, 2024, cost=True)  # seed 004:<line>, a 成本指标 row
    assert (v.kind, v.comparator) == ("numeric", "≤")
    assert v.unit is not None and v.unit.key == "wanyuan"
    assert v.unit.base_iri == "http://qudt.org/vocab/currency/CNY"
    assert v.unit_label == "万"  # as written
    assert v.scale == 1
    assert v.normalized == v.number * 10000
    assert (v.unit, v.normalized) == (parse_value(raw + "元").unit, parse_value(raw + "元").normalized)


@pytest.mark.parametrize(
    ("raw", "unit", "normalized"),
    [
        ("≥1万", None, "10000"),  # seed 004:1787, 宣传品数量 (数量指标): 10⁴ of something, not money
        ("≥145万卡", "count:卡", "1450000"),  # seed 004:2620, 购买居民身份证制证原材料 (数量指标)
    ],
)
def test_bare_wan_off_a_cost_row_scales_a_count(raw: str, unit: str | None, normalized: str) -> None:
    v = parse_value(raw)
    assert v.scale == 10000
    assert (v.unit.key if v.unit else None) == unit
    assert v.normalized == D(normalized)
    if unit:  # a count word says what is counted, even on a 成本指标 row
        assert parse_value(raw, cost=True) == v


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(COMPARATORS)), decimals_0_to_2_places)
def test_bare_wan_is_wanyuan_exactly_when_the_row_is_a_cost_row(cmp: str, number: Decimal) -> None:
    money, written = parse_value(f"{cmp}{fmt(number)}万", cost=True), parse_value(f"{cmp}{fmt(number)}万元")
    assert (money.kind, money.comparator, money.number, money.unit, money.normalized) == (
        written.kind, written.comparator, written.number, written.unit, written.normalized)
    count = parse_value(f"{cmp}{fmt(number)}万")
    assert (count.unit, count.scale, count.normalized) == (None, 10000, number * 10000)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(COMPARATORS)), decimals_0_to_2_places, st.sampled_from(sorted(UNIT_TEXTS)))
def test_cost_context_changes_nothing_but_a_bare_wan(cmp: str, number: Decimal, unit: str) -> None:
    raw = f"{cmp}{fmt(number)}{unit}"
    assert parse_value(raw, cost=True) == parse_value(raw)


def test_regression_per_week_target_keeps_its_period() -> None:
    v = parse_value("每周开展1次")  # seed 004:1206, 刑侦总队信息化运维项目-2024中央 / 系统运维频率
    assert (v.kind, v.comparator, v.number, v.unit.key) == ("numeric", "=", D(1), "count:次")
    assert v.per_period == "P7D"  # once a week, not once in all
    assert v.qualifier == "开展"
    assert v.per is None  # no rate denominator was written


@pytest.mark.parametrize(
    ("raw", "per_period", "per"),
    [
        ("≥4次/月", "P1M", "月"),  # seed 004:320
        ("1份/月", "P1M", "月"),  # seed 004:494
        ("≥1次/每日", "P1D", "日"),  # seed 004:4702
        ("≥3次/年", "P1Y", "年"),  # seed 004:7289
        ("每季度开展2次", "P3M", None),
        ("每月≥1次", "P1M", None),
        ("每天巡检3次", "P1D", None),
        ("≤80元/人", None, "人"),  # seed 004: a per-person price, no period
        ("≤300元/人/年", None, "人/年"),  # seed 004:7319: per person and year, no single period
    ],
)
def test_frequencies_keep_their_period(raw: str, per_period: str | None, per: str | None) -> None:
    v = parse_value(raw)
    assert v.kind == "numeric"
    assert (v.per_period, v.per) == (per_period, per)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["日", "天", "周", "月", "季度", "年"]), st.integers(min_value=0, max_value=1000))
def test_every_period_reads_like_a_per_period_rate(word: str, n: int) -> None:
    before, after = parse_value(f"每{word}{n}次"), parse_value(f"{n}次/{word}")
    assert before.kind == after.kind == "numeric"
    assert (before.number, before.unit, before.per_period) == (after.number, after.unit, after.per_period)
    assert before.per_period in {"P1D", "P7D", "P1M", "P3M", "P1Y"}


def test_qualitative_text_said_of_every_month_keeps_its_period() -> None:
    v = parse_value("每月按照工作计划进行检测考核")  # seed 001:46
    assert (v.kind, v.per_period) == ("qualitative", "P1M")


def test_regression_deadline_after_a_clause_is_a_date() -> None:
    v = parse_value("设备采购完成于2023年12月前", 2024)  # seed 004:2950, 视频高点补点项目费 / 设备采购完成时间
    assert (v.kind, v.comparator) == ("date", "≤")
    assert (v.period_start, v.period_end) == (None, dt.date(2023, 12, 31))
    assert v.qualifier == "设备采购完成于"
    assert not v.year_inferred


def test_regression_each_item_duration() -> None:
    v = parse_value("EC135、AW139直升机各12个月")  # seed 004:8183, 购买机务保障服务的时长
    assert (v.kind, v.comparator, v.number, v.unit.key, v.unit_label) == ("numeric", "=", D(12), "month", "个月")
    assert v.each == "EC135、AW139直升机"  # 12 months for each helicopter, not 12 months in all
    assert v.normalized == 12
    assert v.raw == "EC135、AW139直升机各12个月"


@pytest.mark.parametrize(
    ("raw", "cmp", "end", "qualifier"),
    [
        ("设备采购完成于2023年12月前", "≤", "2023-12-31", "设备采购完成于"),  # seed 004:2950
        ("项目完成于2024年6月", "=", "2024-06-30", "项目完成于"),
        ("计划于2024年6月30日完成验收", "=", "2024-06-30", "计划于完成验收"),
        ("在2024年底前", "≤", "2024-12-31", "在"),
        ("不晚于2024年12月", "≤", "2024-12-31", "不晚于"),  # a deadline, not the month of December
    ],
)
def test_dates_after_a_leading_clause(raw: str, cmp: str, end: str, qualifier: str) -> None:
    v = parse_value(raw, 2024)
    assert (v.kind, v.comparator, v.period_end, v.qualifier) == ("date", cmp, _date(end), qualifier)
    if cmp == "≤":
        assert v.period_start is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["设备采购完成于", "项目验收于", "计划于", "于", "在"]),
       st.integers(min_value=2000, max_value=2099), st.integers(min_value=1, max_value=12))
def test_a_leading_clause_keeps_the_date(lead: str, year: int, month: int) -> None:
    bare, led = parse_value(f"{year}年{month}月底前"), parse_value(f"{lead}{year}年{month}月底前")
    assert (led.kind, led.comparator, led.period_start, led.period_end) == (
        bare.kind, bare.comparator, bare.period_start, bare.period_end)
    assert led.qualifier.startswith(lead)
