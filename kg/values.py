"""The target-value parser: 指标值 text → comparator, number, unit, date or qualitative text.

>>> v = parse_value("≥97百分比")
>>> v.kind, v.comparator, v.number, v.unit.key
('numeric', '≥', Decimal('97'), 'percent')
>>> v = parse_value("≤39.6万元")
>>> v.unit.key, v.normalized
('wanyuan', Decimal('396000.0'))
>>> v = parse_value("2024年12月底前")
>>> v.kind, v.comparator, str(v.period_end)
('date', '≤', '2024-12-31')
>>> parse_value("有效提升").kind
'qualitative'
>>> v = parse_value("每周开展1次")
>>> v.number, v.unit.label, v.per_period
(Decimal('1'), '次', 'P7D')
>>> parse_value("≤98万", cost=True).unit.key  # a bare 万 on a 成本指标 row is 万元
'wanyuan'

The raw text is always kept; nothing here raises on any input.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from .model import TargetValue, Unit
from .namespaces import BKUNIT, CUR, UNIT

# Unit IRIs are strings here (a Unit is plain data); the namespaces are spelled in kg.namespaces.
_Q = str(UNIT)
_CUR = str(CUR)
_BKU = str(BKUNIT)
_NUM = _Q + "NUM"


def _u(key: str, iri: str, label: str, dim: str, mult: str = "1", base: str | None = None) -> Unit:
    return Unit(key, iri, label, dim, Decimal(mult), base)


#: Known units by the text that names them. % and 百分比 are one unit; 万元 is CNY × 10⁴.
UNITS: dict[str, Unit] = {}
for _names, _unit in [
    (("%", "百分比", "百分点"), _u("percent", _Q + "PERCENT", "%", "percent")),
    (("元",), _u("yuan", _CUR + "CNY", "元", "currency")),
    (("万元",), _u("wanyuan", _BKU + "TenThousandCNY", "万元", "currency", "10000", _CUR + "CNY")),
    (("亿元",), _u("yiyuan", _BKU + "HundredMillionCNY", "亿元", "currency", "100000000", _CUR + "CNY")),
    (("小时", "个小时", "时"), _u("hour", _Q + "HR", "小时", "duration")),
    (("分钟",), _u("minute", _Q + "MIN", "分钟", "duration")),
    (("秒", "秒钟"), _u("second", _Q + "SEC", "秒", "duration")),
    (("天", "日", "日历日", "自然日"), _u("day", _Q + "DAY", "天", "duration")),
    (("工作日", "个工作日"), _u("workday", _BKU + "WorkingDay", "工作日", "duration")),
    (("周", "个周", "星期"), _u("week", _Q + "WK", "周", "duration")),
    (("月", "个月", "日历月"), _u("month", _Q + "MO", "月", "duration")),
    (("年", "个年度", "年度"), _u("year", _Q + "YR", "年", "duration")),
    (("平方米", "平米", "㎡", "m2", "m²"), _u("m2", _Q + "M2", "平方米", "area")),
    (("平方公里", "平方千米", "km2"), _u("km2", _Q + "KiloM2", "平方公里", "area")),
    (("米", "m"), _u("m", _Q + "M", "米", "length")),
    (("公里", "千米", "km"), _u("km", _Q + "KiloM", "公里", "length")),
    (("公斤", "千克", "kg"), _u("kg", _Q + "KiloGM", "千克", "mass")),
    (("吨",), _u("tonne", _Q + "TONNE", "吨", "mass")),
    (("tb", "TB"), _u("tb", _Q + "TeraBYTE", "TB", "data")),
    (("gb", "GB"), _u("gb", _Q + "GigaBYTE", "GB", "data")),
    (("升",), _u("litre", _Q + "L", "升", "volume")),
]:
    for _n in _names:
        UNITS[_n] = _unit

#: Count words (量词) kept as a unit label on ``unit:NUM``. Compound counts (件套, 人次) too.
COUNT_WORDS = (
    "人次", "人/次", "条次", "件套", "台套", "台/套", "头份", "证次", "人月", "架次", "户次", "批次",
    "次", "个", "台", "套",
    "件", "人", "条", "项", "份", "辆", "家", "名", "批", "场", "期", "所", "张", "部", "本", "户",
    "只", "头", "处", "座", "间", "册", "篇", "起", "宗", "支", "把", "双", "块", "组", "类", "门",
    "路", "架", "卡", "扇", "顶", "种", "节", "轮", "单", "笔", "封", "页", "株", "棵", "箱", "盒",
    "副", "枚", "例", "位", "像素", "课时", "学时", "分",
)

_COMPARATOR_PREFIXES: list[tuple[str, str]] = sorted(
    [
        ("≥", "≥"), (">=", "≥"), ("≧", "≥"), ("不低于", "≥"), ("不少于", "≥"), ("不小于", "≥"),
        ("大于等于", "≥"), ("大于或等于", "≥"), ("至少", "≥"), ("高于或等于", "≥"),
        ("≤", "≤"), ("<=", "≤"), ("≦", "≤"), ("不高于", "≤"), ("不超过", "≤"), ("不大于", "≤"),
        ("不多于", "≤"), ("小于等于", "≤"), ("小于或等于", "≤"), ("低于或等于", "≤"), ("最多", "≤"),
        ("不超", "≤"), ("控制在", "≤"),
        (">", ">"), ("大于", ">"), ("高于", ">"), ("超过", ">"), ("多于", ">"),
        ("<", "<"), ("小于", "<"), ("低于", "<"), ("少于", "<"),
        ("=", "="), ("等于", "="),
        ("约", "≈"), ("≈", "≈"),
    ],
    key=lambda p: -len(p[0]),
)
_COMPARATOR_SUFFIXES: list[tuple[str, str]] = [
    ("及以上", "≥"), ("以上", "≥"), ("及以下", "≤"), ("以下", "≤"), ("以内", "≤"), ("之内", "≤"),
    ("之前", "≤"), ("以前", "≤"), ("前", "≤"), ("左右", "≈"), ("内", "≤"),
]
#: Words that may trail a value without changing it (…完成, …响应).
_TRAILING_OK = re.compile(
    r"^(完成|内完成|前完成|完成付款|完成采购|完毕|执行完毕|到位|响应|有效|稳定运行|开展)?[。.，,；;]?$"
)
#: After a date, a short clause saying what is done by then (…前完成主要采购工作).
_DATE_TRAILING_OK = re.compile(r"^(?:(?:完成|执行|支付|实施|交付)\S{0,10})?[。.，,；;]?$")
#: Numbered narrative ("1、…\n2、…") and around-the-clock phrases (7×24小时) are words, not values.
_NARRATIVE = re.compile(r"^(?:\d{1,2}[、.．]\D|7[*×xX]24)")

_NUMBER = r"(?P<num>\d+(?:\.\d+)?)"
_UNIT_ALTS = "|".join(re.escape(k) for k in sorted(set(UNITS) | set(COUNT_WORDS), key=len, reverse=True))
_NUMERIC = re.compile(
    rf"^(?P<pre>[^\d≥≤<>=≧≦≈]*?)(?P<cmp>{'|'.join(re.escape(p) for p, _ in _COMPARATOR_PREFIXES)})?"
    rf"{_NUMBER}(?P<wan>万|亿)?(?P<unit>{_UNIT_ALTS})?(?:/(?:每)?(?P<per>[^\d/]{{1,3}}(?:/[^\d/]{{1,2}})?))?"
    rf"(?P<suf>及以上|以上|及以下|以下|以内|之内|左右|内(?!完成))?(?P<trail>[^\d]*)$"
)
_YMD = re.compile(
    r"^(?P<pre>在|于|截至|截止|截止到|至)?(?:(?P<y>\d{4})\s*年)?(?:(?P<m>\d{1,2})\s*月(?:份)?(?:(?P<m2>\d{1,2})\s*月)?)?"
    r"(?:(?P<d>\d{1,2})\s*日)?(?P<eom>底|末)?(?P<before>之前|以前|前)?(?P<trail>.*)$"
)
_YEAR_RANGE = re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m1>\d{1,2})\s*[-－—~～至到]\s*(?P<m2>\d{1,2})\s*月(?P<trail>.*)$")
_ISO_DATE = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$")
_WHOLE_YEAR = re.compile(r"^(?P<y>\d{4})\s*年(?:全年|度|底前|底|末)(?P<trail>.*)$")
#: A clause saying what is done, before the date it is done by (设备采购完成于2023年12月前).
_DATE_LEAD = re.compile(r"^(?P<lead>[^\d≥≤<>=≧≦≈]{0,12}?(?:于|在))(?P<date>\d{4}\s*年.*)$")
#: Lead words that make the date a deadline (不晚于2024年12月: by the end of December).
_DEADLINE_LEADS = ("不晚于", "不迟于")
#: Items a value holds for one by one, before 各 and the value (EC135、AW139直升机各12个月).
_EACH = re.compile(r"^(?P<items>[^各≥≤<>=≧≦≈]{1,30})各(?P<value>(?:[≥≤<>=≧≦≈]|不|至少|约)?\d.*)$")

#: The period of a frequency (每周开展1次, 1次/周) as an xsd:duration. A week is 7 days: xsd:duration
#: has no weeks.
PERIODS: dict[str, str] = {
    "日": "P1D", "天": "P1D", "周": "P7D", "星期": "P7D", "月": "P1M", "个月": "P1M", "季": "P3M", "季度": "P3M",
    "半年": "P6M", "年": "P1Y", "年度": "P1Y",
}
_EVERY = re.compile("^每(?P<period>" + "|".join(sorted(PERIODS, key=len, reverse=True)) + ")")


def normalize_text(text: str) -> str:
    """NFKC (full-width → half-width) and whitespace removal, keeping ≥ ≤ as they are.

    >>> normalize_text("≥ 95 ％")
    '≥95%'
    """
    t = unicodedata.normalize("NFKC", text)
    t = t.replace("＞", ">").replace("＜", "<").replace("＝", "=")
    return re.sub(r"\s+", "", t)


def parse_decimal(text: str) -> Decimal | None:
    """The number written in ``text`` (``,`` thousands separators allowed), or None if it is not one.

    One reader of numbers for the value parser, the table parser (amounts, rates) and the contracts
    import, so a number means the same wherever it is read.

    >>> parse_decimal("1,234.50"), parse_decimal(""), parse_decimal("约5")
    (Decimal('1234.50'), None, None)
    """
    try:
        return Decimal(text.replace(",", "")) if text else None
    except InvalidOperation:
        return None


def _month_end(y: int, m: int) -> dt.date:
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def _safe_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _parse_date(t: str, raw: str, context_year: int | None) -> TargetValue | None:
    if m := _ISO_DATE.match(t):
        d = _safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
        if d:
            return TargetValue(raw, "date", "=", period_start=d, period_end=d)
        return None
    if m := _YEAR_RANGE.match(t):
        y, m1, m2 = int(m["y"]), int(m["m1"]), int(m["m2"])
        if 1 <= m1 <= m2 <= 12 and _DATE_TRAILING_OK.match(m["trail"]):
            return TargetValue(raw, "date", "=", period_start=dt.date(y, m1, 1), period_end=_month_end(y, m2),
                               qualifier=m["trail"] or None)
        return None
    if m := _WHOLE_YEAR.match(t):
        y = int(m["y"])
        trail = m["trail"]
        head = t[: len(t) - len(trail)]
        before = "前" in head or "底" in head or "末" in head or trail.startswith("前")
        trail = trail.removeprefix("前")
        if not (_DATE_TRAILING_OK.match(trail) or trail == "完"):
            return None
        whole = "全年" in t or "年度" in t
        return TargetValue(raw, "date", "≤" if before else "=",
                           period_start=dt.date(y, 1, 1) if whole else None,
                           period_end=dt.date(y, 12, 31), qualifier=trail or None)
    m = _YMD.match(t)
    if not m or not (m["m"] or (m["y"] and m["d"])):
        return None
    if not m["m"]:
        return None
    if m["y"] is None and m["pre"] is None and m["before"] is None and m["eom"] is None and m["d"] is None:
        return None  # a bare "6月" is a duration, not a date
    trail = m["trail"]
    if not _DATE_TRAILING_OK.match(trail):
        return None
    if m["m2"]:
        return None
    year_inferred = m["y"] is None
    if year_inferred and context_year is None:
        return None
    if m["y"]:
        y = int(m["y"])
    elif context_year is not None:
        y = int(context_year)
    else:
        return None
    mo = int(m["m"])
    if not 1 <= mo <= 12:
        return None
    start: dt.date | None
    if m["d"]:
        end = _safe_date(y, mo, int(m["d"]))
        if end is None:
            return None
        start = end
    else:
        start, end = dt.date(y, mo, 1), _month_end(y, mo)
    deadline = bool(m["before"]) or (bool(m["eom"]) and not m["d"])
    if deadline:
        start = None  # a deadline has an end, no start
    return TargetValue(raw, "date", "≤" if deadline else "=", period_start=start, period_end=end,
                       year_inferred=year_inferred, qualifier=(m["pre"] or "") + trail or None)


def _date_value(t: str, raw: str, context_year: int | None) -> TargetValue | None:
    """A date 指标值, also after a clause saying what is done by then (设备采购完成于2023年12月前)."""
    try:
        d = _parse_date(t, raw, context_year)
        if d is None and (m := _DATE_LEAD.match(t)):
            d = _parse_date(m["date"], raw, context_year)
            if d is not None:
                d = dataclasses.replace(d, qualifier=m["lead"] + (d.qualifier or ""))
                if m["lead"].endswith(_DEADLINE_LEADS) and d.comparator == "=":
                    d = dataclasses.replace(d, comparator="≤", period_start=None)
    except ValueError:  # a calendar date that does not exist (year 0000, 2月30日 …)
        return None
    return d


def _unit_for(label: str | None) -> Unit | None:
    if not label:
        return None
    if label in UNITS:
        return UNITS[label]
    key = label.replace("/", "")
    return Unit("count:" + key, _NUM, key, "count")


def parse_value(raw: str, context_year: int | None = None, *, cost: bool = False) -> TargetValue:
    """Parse one 指标值. ``context_year`` dates a month given without a year (``12月底完成``).

    ``cost`` says the row is a 成本指标 (the 一级 or the 二级指标 is 成本指标): there a bare 万
    (``≤21.92万``) is 万元, an amount of money; elsewhere it scales a count (``≥1万`` is 10⁴).

    >>> parse_value("≤21.92万", cost=True).normalized, parse_value("≤21.92万").normalized
    (Decimal('219200.00'), Decimal('219200.00'))
    >>> parse_value("≤21.92万", cost=True).unit.key, parse_value("≤21.92万").unit
    ('wanyuan', None)

    Never raises: text that is neither a number with unit, a date, nor plain words comes back
    with ``kind='unparsed'`` and a ``problem`` saying why.
    """
    if raw is None or not raw.strip():
        return TargetValue(raw or "", "empty")
    t = normalize_text(raw)
    if not t:
        return TargetValue(raw, "empty")
    d = _date_value(t, raw, context_year)
    if d is not None:
        return d
    if (m := _EACH.match(t)) and (v := parse_value(m["value"], context_year, cost=cost)).kind == "numeric":
        return dataclasses.replace(v, raw=raw, each=m["items"])
    if m := _NUMERIC.match(t):
        pre, trail = m["pre"], m["trail"]
        cmp_ = dict(_COMPARATOR_PREFIXES).get(m["cmp"]) if m["cmp"] else None
        suf = dict(_COMPARATOR_SUFFIXES).get(m["suf"]) if m["suf"] else None
        if trail.startswith(("前", "之前", "以前", "内")):
            suf, trail = "≤", re.sub(r"^(之前|以前|前|内)", "", trail)
        # words before the number may hold a comparator (年收入不低于200万元)
        if pre and not cmp_:
            for word, c in _COMPARATOR_PREFIXES:
                if pre.endswith(word) and not word.isascii():
                    cmp_, pre = c, pre[: -len(word)]
                    break
        trail_ok = bool(_TRAILING_OK.match(trail))
        if trail_ok and (not pre or len(pre) <= 8):
            number = parse_decimal(m["num"])
            label = written = m["unit"]
            scale = Decimal(1)
            if m["wan"] and (label == "元" or (label is None and cost)):
                # 万元 / 亿元 as one unit; on a 成本指标 row a bare 万 means 万元 too
                label, written = m["wan"] + "元", m["wan"] + (label or "")
            elif m["wan"]:
                scale = Decimal(10000) if m["wan"] == "万" else Decimal(100000000)
            unit = _unit_for(label)
            problem = None
            if cmp_ and suf and cmp_ != suf:
                problem = f"comparator {cmp_} before the number disagrees with {m['suf']} after it"
            comparator = cmp_ or suf or ("=" if number is not None else None)
            per = m["per"]
            if per:
                per = per.removeprefix("每")
            per_period = PERIODS.get(per) if per else None
            if pre and (every := _EVERY.match(pre)):  # 每周开展1次: a frequency, not words around it
                per_period, pre = PERIODS[every["period"]], pre[every.end():]
            qualifier = ((pre or "") + (trail or "")) or None
            kind = "unparsed" if problem else "numeric"
            return TargetValue(raw, kind, comparator, number, unit, written, scale, per, per_period,
                               qualifier=qualifier, problem=problem)
    # no number-with-unit reading: words (with a leading comparator word, if any) or noise
    cmp_word = None
    rest = t
    for word, c in _COMPARATOR_PREFIXES:
        if t.startswith(word):
            cmp_word, rest = c, t[len(word):]
            break
    starts_numeric = bool(re.match(r"^[≥≤<>=≧≦\d]", t)) and not _NARRATIVE.match(t)
    if starts_numeric and re.search(r"\d", t):
        return TargetValue(raw, "unparsed", cmp_word, text=raw.strip(),
                           problem="starts like a number but is not a number with a unit, a date or a range")
    every = _EVERY.match(t)  # 每月按照工作计划进行检测考核: words, but said of every month
    return TargetValue(raw, "qualitative", cmp_word if rest else None, text=raw.strip(),
                       per_period=PERIODS[every["period"]] if every else None)


_PERIOD_WORDS = {"P1D": "day", "P7D": "week", "P1M": "month", "P3M": "quarter", "P6M": "half-year", "P1Y": "year"}


def describe(v: TargetValue) -> str:
    """A one-line English reading of a parsed value, for tables and warnings.

    >>> describe(parse_value("≥24万件"))
    'numeric ≥ 24 ×10000 件'
    >>> describe(parse_value("每周开展1次")), describe(parse_value("EC135、AW139直升机各12个月"))
    ('numeric = 1 次 every week', 'numeric = 12 月 each (EC135、AW139直升机)')
    """
    if v.kind == "numeric":
        scale = f" ×{v.scale:f}" if v.scale != 1 else ""
        unit = f" {v.unit.label}" if v.unit else ""
        per = f"/{v.per}" if v.per else (f" every {_PERIOD_WORDS[v.per_period]}" if v.per_period else "")
        each = f" each ({v.each})" if v.each else ""
        return f"numeric {v.comparator} {v.number}{scale}{unit}{per}{each}"
    if v.kind == "date":
        span = f"{v.period_start or ''}..{v.period_end or ''}"
        return f"date {v.comparator} {span}"
    return f"{v.kind}: {v.raw!r}" if v.kind != "qualitative" else f"qualitative: {v.text}"
