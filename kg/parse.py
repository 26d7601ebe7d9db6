"""Read performance-target documents (项目支出绩效目标表) into :mod:`kg.model` records.

The exports put one table cell per line, each cell line starting with a tab. A line that
does not start with a tab continues the cell above it; blank lines separate rows but also
turn up inside cells, so rows are found by position (5 cells a row, 4 in the special-bond
layout), never by blank lines. See ``seeds/LAYOUT.md`` for the two layouts.

>>> text = open(SEEDS / "000_98710193955fe7ef.txt", encoding="utf-8").read()
>>> records, warnings = parse_text(text, "000_98710193955fe7ef.txt", budget_year=2025)
>>> len(records), records[0].unit_code, records[0].budget
(3, '325220', Decimal('64.00'))
>>> records[0].indicators[1].level1, records[0].indicators[1].level1_carried
('产出指标', True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from . import bundled
from .errors import SourceParseError
from .model import (
    BondDetails,
    FundingLine,
    Goal,
    Indicator,
    ParseWarning,
    ProjectRecord,
    Span,
)
from .names import analyse_name
from .values import normalize_text, parse_decimal, parse_value

SEEDS = bundled.folder("seeds")

#: 一级指标 categories the tables use. Anything else in that column means the row is misaligned.
LEVEL1 = ("产出指标", "效益指标", "满意度指标", "成本指标", "偿债指标")
#: The cost category, 一级指标 in one layout and 二级指标 under 产出指标 in the other.
COST = "成本指标"
#: 二级指标 categories that are never 一级: one of them in the 一级 column means a shifted row.
LEVEL2 = ("数量指标", "质量指标", "时效指标", "经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标",
          "服务对象满意度指标", "经济成本指标", "社会成本指标", "生态环境成本指标")

_CELL_LINE = re.compile(r"^[ \u3000\ufeff]*\t")
_TITLE = re.compile(
    r"^\s*(?:\[bookmark:[^\]]*\])?\s*(?:(?P<no>\d{1,4})\s*[.．、]\s*)?(?P<title>.*?)\s*绩效目标表\s*$"
)
_UNIT_CELL = re.compile(r"^(?P<code>\d{6})(?P<name>\S.*)$")
_DEPT_CELL = re.compile(r"^(?P<code>\d{3})(?P<name>\S.*)$")
_GOAL_NO = re.compile(r"(?:^|(?<=[\n；;。\s]))(?P<no>\d{1,2})\s*[.、．](?!\d)\s*")
_DOUBLED_FIRST = re.compile(r"^(1\s*[.、．])\s*1\s*[.、．]\s*(?=\D)")
_AMOUNT = re.compile(r"^-?\d+(?:\.\d+)?$")
#: a run of tabs (with spaces around them) inside a cell: one space (compiled once: tokenize is hot)
_TAB_RUN = re.compile(r"[\t ]*\t[\t ]*")
#: how a value cut short ends: a comparator or range sign with nothing after it, a number's decimal point
_CUT_END = re.compile(r"(?:[≥≤><＞＜=＝≠~～—–\-至]|(?<=\d)[.．])$")
_OPEN, _CLOSE = "(（[【［{｛", ")）]】］}｝"


def cut_value(text: str) -> str | None:
    """Why a 指标值 looks cut short (a document truncated in its middle), or ``None``.

    >>> cut_value("≥"), cut_value("12."), cut_value("（1-3年"), cut_value("≥90%")
    ('it ends with a comparator or range sign', 'it ends with a decimal point', 'a bracket is not closed', None)
    """
    t = text.strip()
    if not t:
        return None
    if _CUT_END.search(t):
        return "it ends with a decimal point" if t[-1] in ".．" else "it ends with a comparator or range sign"
    if sum(t.count(c) for c in _OPEN) > sum(t.count(c) for c in _CLOSE):
        return "a bracket is not closed"
    return None


@dataclass(slots=True)
class Cell:
    """One table cell: its text and the source lines it spans (one per text line)."""

    text: str
    lines: list[int]
    para: int  # index of the blank-line-separated paragraph the cell starts in

    @property
    def start(self) -> int:
        return self.lines[0]

    @property
    def end(self) -> int:
        return self.lines[-1]

    @property
    def label(self) -> str:
        """The text with all white space removed and full-width forms folded, for matching labels."""
        return normalize_text(self.text)


@dataclass(slots=True)
class Title:
    number: int | None
    text: str
    line: int


@dataclass(slots=True)
class _Table:
    title: Title | None
    cells: list[Cell] = field(default_factory=list)

    @property
    def first_line(self) -> int:
        if self.title:
            return self.title.line
        return self.cells[0].start if self.cells else 0

    @property
    def last_line(self) -> int:
        return self.cells[-1].end if self.cells else self.first_line


def decode(data: bytes, path: str) -> str:
    """Bytes → text: UTF-8 (a BOM is allowed), line endings folded to ``\\n``.

    >>> decode("\\ufeffa\\r\\nb".encode(), "x.txt")
    'a\\nb'
    >>> decode(b"ok\\n\\xff", "x.txt")
    Traceback (most recent call last):
    ...
    kg.errors.SourceParseError: x.txt:2: expected UTF-8 text, found 'byte 0xff at column 1'
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceParseError(path, line, "UTF-8 text", f"byte 0x{data[exc.start]:02x} at column {col}") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise SourceParseError(path, line, "text", "a NUL byte (binary data)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def line_count(text: str) -> int:
    """Lines of ``text`` as a text editor (or ``awk``) numbers them: a final newline ends the last
    line, it does not start another one; a last line without a newline still counts.

    >>> line_count("a\\nb\\n"), line_count("a\\nb"), line_count("a\\n\\n"), line_count("")
    (2, 2, 2, 0)
    """
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def tokenize(text: str, path: str) -> tuple[list[Title | Cell], list[ParseWarning]]:
    """Lines → titles and cells, with continuation lines folded into their cell."""
    tokens: list[Title | Cell] = []
    warnings: list[ParseWarning] = []
    para = 0
    last_cell: Cell | None = None
    for no, line in enumerate(text.split("\n"), start=1):
        if _CELL_LINE.match(line):
            body = line.split("\t", 1)[1]
            body = (_TAB_RUN.sub(" ", body) if "\t" in body else body).strip()
            last_cell = Cell(body, [no], para)
            tokens.append(last_cell)
            continue
        stripped = line.strip()
        if not stripped:
            para += 1
            continue
        if m := _TITLE.match(stripped):
            tokens.append(Title(int(m["no"]) if m["no"] else None, m["title"].strip(), no))
            last_cell = None
            continue
        if last_cell is None:
            warnings.append(ParseWarning(path, no, "stray-text",
                                         f"text outside any table cell ignored: {stripped[:40]!r}"))
            continue
        piece = (_TAB_RUN.sub(" ", stripped) if "\t" in stripped else stripped).strip()
        if last_cell.text:
            last_cell.text = f"{last_cell.text}\n{piece}"
            last_cell.lines.append(no)
        else:  # an empty cell whose text starts on a line without a tab: the text's line is this one
            last_cell.text = piece
            last_cell.lines = [no]
    return tokens, warnings


def _is_unit_start(tokens: list[Title | Cell], i: int) -> bool:
    tok = tokens[i]
    if not isinstance(tok, Cell) or not _UNIT_CELL.match(tok.label):
        return False
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    return isinstance(nxt, Cell) and nxt.label.startswith("单位:")


def segment(tokens: list[Title | Cell]) -> list[_Table]:
    """Split tokens into tables: a title line starts one, and so does a budget-unit line
    followed by ``单位：万元`` when it is not the first cell after a title (tables without titles)."""
    tables: list[_Table] = []
    current: _Table | None = None
    for i, tok in enumerate(tokens):
        if isinstance(tok, Title):
            current = _Table(tok)
            tables.append(current)
            continue
        if _is_unit_start(tokens, i) and (current is None or any(c.text for c in current.cells)):
            current = _Table(None)
            tables.append(current)
        if current is None:
            if tok.text:
                current = _Table(None)
                tables.append(current)
            else:
                continue
        current.cells.append(tok)
    return [t for t in tables if t.cells]


class _Cursor:
    """Walks the cells of one table, raising errors that name the line and what was expected."""

    def __init__(self, table: _Table, path: str) -> None:
        self.cells = table.cells
        self.i = 0
        self.path = path
        self.table = table

    def peek(self) -> Cell | None:
        return self.cells[self.i] if self.i < len(self.cells) else None

    def _line(self) -> int:
        cell = self.peek()
        return cell.start if cell else self.table.last_line

    def fail(self, expected: str) -> SourceParseError:
        cell = self.peek()
        return SourceParseError(self.path, self._line(), expected, cell.text if cell else "the end of the table")

    def take(self, expected: str = "a cell") -> Cell:
        cell = self.peek()
        if cell is None:
            raise self.fail(expected)
        self.i += 1
        return cell

    def skip_empty(self) -> None:
        while (c := self.peek()) is not None and not c.text:
            self.i += 1

    def expect(self, *labels: str) -> Cell:
        """Take the next non-empty cell, which must carry one of ``labels`` (spaces ignored)."""
        self.skip_empty()
        cell = self.peek()
        wanted = [normalize_text(label) for label in labels]
        if cell is None or cell.label not in wanted:
            raise self.fail(" or ".join(repr(label) for label in labels))
        self.i += 1
        return cell

    def until(self, *labels: str) -> list[Cell]:
        """Take cells up to (not including) the first whose label is one of ``labels``."""
        wanted = {normalize_text(label) for label in labels}
        out: list[Cell] = []
        while (c := self.peek()) is not None and c.label not in wanted:
            out.append(c)
            self.i += 1
        if self.peek() is None:
            raise self.fail(" or ".join(repr(label) for label in labels))
        return out

    def at(self, label: str) -> bool:
        c = self.peek()
        return c is not None and c.label == normalize_text(label)


def _amount(cell: Cell, path: str, what: str) -> Decimal | None:
    text = cell.label.replace(",", "")
    if not text:
        return None
    if not _AMOUNT.match(text):
        raise SourceParseError(path, cell.start, f"an amount for {what} (a number in 万元)", cell.text)
    return Decimal(text)


def _joined(cells: list[Cell]) -> tuple[str, list[int]]:
    """Texts of non-empty cells joined by newlines, with the source line of each text line."""
    texts, lines = [], []
    for c in cells:
        if c.text:
            texts.append(c.text)
            lines.extend(c.lines)
    return "\n".join(texts), lines


def split_goals(text: str, lines: list[int], path: str, kind: str) -> list[Goal]:
    """Split goal text at its numbers (1. 2、 …) when they run 1, 2, 3 …; else keep it whole.

    >>> [g.text for g in split_goals("1.甲。\\n2.乙；3、丙", [5, 6], "f", "performance")]
    ['甲。', '乙；', '丙']
    >>> [g.ordinal for g in split_goals("完成2.5万件", [5], "f", "performance")]
    [1]
    """
    if not text.strip():
        return []
    # a doubled first number ("1.1.保障…", "1. 1.督促…", "1.1、…") is one marker, not a sub-item
    text = _DOUBLED_FIRST.sub(r"\1", text, count=1)
    starts = [m for m in _GOAL_NO.finditer(text)]
    numbered: list[re.Match[str]] = []
    for m in starts:
        if int(m["no"]) == len(numbered) + 1:
            numbered.append(m)
    if not numbered or numbered[0].start() != 0:
        numbered = []

    def line_at(offset: int) -> int:
        idx = text.count("\n", 0, offset)
        return lines[min(idx, len(lines) - 1)] if lines else 0

    if not numbered:
        clean = text.strip()
        return [Goal(1, clean, kind, Span(path, line_at(0), line_at(len(text))))]
    goals = []
    for k, m in enumerate(numbered):
        end = numbered[k + 1].start() if k + 1 < len(numbered) else len(text)
        body = re.sub(r"\s*\n\s*", "", text[m.end():end]).strip()
        if body:
            goals.append(Goal(int(m["no"]), body, kind, Span(path, line_at(m.start()), line_at(max(m.end(), end - 1)))))
    return goals


def _indicators(cur: _Cursor, width: int, path: str, year: int | None,
                warnings: list[ParseWarning]) -> list[Indicator]:
    rows_cells = cur.cells[cur.i:]
    while rows_cells and not rows_cells[-1].text and len(rows_cells) % width:
        rows_cells = rows_cells[:-1]
    if len(rows_cells) % width:
        leftover = rows_cells[len(rows_cells) - len(rows_cells) % width]
        names = "一级指标, 二级指标, 三级指标, " + ("绩效指标描述, 指标值" if width == 5 else "指标值")
        raise SourceParseError(path, leftover.start, f"indicator rows of {width} cells ({names})",
                               f"{len(rows_cells)} cells, {len(rows_cells) % width} left over from {leftover.text!r}")
    out: list[Indicator] = []
    level1 = ""
    for k in range(0, len(rows_cells), width):
        row = rows_cells[k:k + width]
        first = row[0]
        carried = not first.text
        if first.text:
            label = first.label
            if label not in LEVEL1:
                if not label.endswith("指标") or label in LEVEL2:
                    raise SourceParseError(path, first.start, "a 一级指标 category (" + ", ".join(LEVEL1)
                                           + ") or an empty cell that repeats the one above", first.text)
                warnings.append(ParseWarning(path, first.start, "unknown-level1",
                                             f"一级指标 {first.text!r} is not one of {', '.join(LEVEL1)}"))
            level1 = label
        elif not level1:
            warnings.append(ParseWarning(path, first.start, "no-level1",
                                         "first indicator row has no 一级指标 to carry down"))
        level2 = row[1].label
        name = row[2].text.strip()
        desc = row[3].text.strip() if width == 5 else None
        raw = row[-1].text
        # a 成本指标 row (一级 成本指标, or 二级 under 产出指标) states money: its bare 万 is 万元
        value = parse_value(raw, year, cost=COST in (level1, level2))
        span = Span(path, min(c.start for c in row if c.text) if any(c.text for c in row) else first.start,
                    max(c.end for c in row))
        if not level2:
            warnings.append(ParseWarning(path, row[1].start, "empty-level2", f"indicator {name!r} has no 二级指标"))
        if not name:
            warnings.append(ParseWarning(path, row[2].start, "empty-name", "indicator row has no 三级指标 name"))
        cut = cut_value(raw)
        if cut is not None:
            warnings.append(ParseWarning(path, row[-1].end, "cut-value",
                                         f"指标值 {raw!r} of {name!r} looks cut short: {cut}"))
        if value.kind == "unparsed":
            warnings.append(ParseWarning(path, row[-1].start, "unparsed-value",
                                         f"指标值 {raw!r} of {name!r} could not be read: {value.problem}"))
        elif value.kind == "empty":
            warnings.append(ParseWarning(path, row[-1].start, "empty-value", f"indicator {name!r} has no 指标值"))
        out.append(Indicator(len(out) + 1, level1, level2, name, desc or None, value, span, carried))
    return out


def _standard(table: _Table, path: str, no: int, year: int | None,
              warnings: list[ParseWarning]) -> ProjectRecord:
    cur = _Cursor(table, path)
    cur.skip_empty()
    unit_cell = cur.take("a budget unit line (6-digit code and name)")
    m = _UNIT_CELL.match(unit_cell.label)
    if not m:
        raise SourceParseError(path, unit_cell.start, "a budget unit line (6-digit code and name)", unit_cell.text)
    unit_code, unit_name = m["code"], unit_cell.text.strip()[6:].strip()
    scale = Decimal(1)
    unit_label = cur.expect("单位：万元", "单位：元")
    if unit_label.label.endswith(":元"):
        scale = Decimal("0.0001")
    cur.expect("项目名称")
    cur.skip_empty()
    name_cell = cur.take("the project name")
    name = re.sub(r"\s+", "", name_cell.text) if "\n" in name_cell.text else name_cell.text.strip()
    if not name or name_cell.label in ("预算规模及资金用途",):
        raise SourceParseError(path, name_cell.start, "the project name after 项目名称", name_cell.text)
    cur.expect("预算规模及资金用途")
    cur.expect("预算数")
    budget = _amount(cur.take("the 预算数 amount"), path, "预算数")
    cur.expect("其中：财政资金", "财政资金")
    fiscal = _amount(cur.take("the 财政资金 amount"), path, "财政资金")
    other = None
    if cur.at("其他资金"):
        cur.take()
        nxt = cur.peek()
        if nxt is not None and (not nxt.label or _AMOUNT.match(nxt.label.replace(",", ""))):
            other = _amount(cur.take(), path, "其他资金")
    use_cells = cur.until("绩效目标")
    use_text, _ = _joined(use_cells)
    cur.expect("绩效目标")
    goal_cells = cur.until("一级指标")
    goal_text, goal_lines = _joined(goal_cells)
    goals = split_goals(goal_text, goal_lines, path, "performance")
    width = _header(cur)
    indicators = _indicators(cur, width, path, year, warnings)
    if scale != 1:
        budget, fiscal, other = (x * scale if x is not None else None for x in (budget, fiscal, other))
    return ProjectRecord(
        document=Path(path).name, table_no=no, title_no=table.title.number if table.title else None,
        title=table.title.text if table.title else None, layout="standard",
        unit_code=unit_code, unit_name=unit_name, name=name, budget=budget, fiscal=fiscal, other=other,
        use_of_funds=use_text or None, goals=goals, indicators=indicators,
        span=Span(path, table.first_line, table.last_line), name_info=analyse_name(name),
        unit_span=Span(path, unit_cell.start, unit_cell.end),
    )


def _header(cur: _Cursor) -> int:
    cur.expect("一级指标")
    cur.expect("二级指标")
    cur.expect("三级指标")
    cur.skip_empty()
    if cur.at("绩效指标描述"):
        cur.take()
        cur.expect("指标值")
        return 5
    cur.expect("指标值", "绩效指标描述")
    return 4


def _date(cell: Cell | None, path: str, what: str) -> dt.date | None:
    if cell is None or not cell.label:
        return None
    try:
        return dt.date.fromisoformat(cell.label)
    except ValueError:
        raise SourceParseError(path, cell.start, f"a date (YYYY-MM-DD) for {what}", cell.text) from None


_CODE_LIKE = re.compile(r"^[0-9A-Z]{10,}$")


def _special_bond(table: _Table, path: str, no: int, year: int | None,
                  warnings: list[ParseWarning]) -> ProjectRecord:
    cur = _Cursor(table, path)
    fields: dict[str, Cell] = {}
    labels = ("项目性质", "项目编号", "项目单位", "主管部门",
              "计划开工时间", "计划竣工时间", "项目实施周期", "收益实现时间")
    while not cur.at("项目资金来源及落实情况"):
        cur.skip_empty()
        cell = cur.take("'项目资金来源及落实情况' (the funding table)")
        if cell.label in labels:
            nxt = cur.peek()
            if nxt is not None and nxt.label not in labels and nxt.label != "项目资金来源及落实情况":
                fields[cell.label] = cur.take()
    nature = fields.get("项目性质")
    code = fields.get("项目编号")
    nature_text = nature.text if nature else None
    code_text = code.text if code else None
    if nature_text and code_text and _CODE_LIKE.match(normalize_text(nature_text)) and not _CODE_LIKE.match(
            normalize_text(code_text)):
        warnings.append(ParseWarning(path, nature.start if nature else 0, "swapped-fields",
                                     f"项目性质 and 项目编号 are swapped in the source "
                                     f"({nature_text!r} / {code_text!r}); read as 项目编号 and 项目性质"))
        nature_text, code_text = code_text, nature_text
    unit_cell = fields.get("项目单位")
    if unit_cell is None or not (m := _UNIT_CELL.match(unit_cell.label)):
        raise SourceParseError(path, unit_cell.start if unit_cell else table.first_line,
                               "项目单位 with a 6-digit budget unit code and name",
                               unit_cell.text if unit_cell else "no 项目单位")
    unit_code, unit_name = m["code"], unit_cell.text.strip()[6:].strip()
    dept = fields.get("主管部门")
    dm = _DEPT_CELL.match(dept.label) if dept else None
    cur.expect("项目资金来源及落实情况")
    funding, total = _funding_table(cur, path, warnings)
    cur.expect("总体目标")
    overall_text, overall_lines = _joined(cur.until("当年目标"))
    cur.expect("当年目标")
    annual_text, annual_lines = _joined(cur.until("一级指标"))
    goals = split_goals(overall_text, overall_lines, path, "overall") + split_goals(
        annual_text, annual_lines, path, "annual")
    width = _header(cur)
    indicators = _indicators(cur, width, path, year, warnings)
    title = table.title.text if table.title else None
    name = title or unit_name
    period = fields.get("项目实施周期")
    bond = BondDetails(
        project_code=code_text, nature=nature_text,
        supervising_code=dm["code"] if dm else None,
        supervising_name=dept.text.strip()[3:].strip() if dm and dept else None,
        planned_start=_date(fields.get("计划开工时间"), path, "计划开工时间"),
        planned_end=_date(fields.get("计划竣工时间"), path, "计划竣工时间"),
        period_years=parse_decimal(period.label) if period else None,
        revenue_date=_date(fields.get("收益实现时间"), path, "收益实现时间"),
        total=total, funding=funding,
    )
    return ProjectRecord(
        document=Path(path).name, table_no=no, title_no=table.title.number if table.title else None, title=title,
        layout="special-bond", unit_code=unit_code, unit_name=unit_name, name=name,
        budget=None, fiscal=None, other=None, use_of_funds=None, goals=goals, indicators=indicators,
        span=Span(path, table.first_line, table.last_line), name_info=analyse_name(name), bond=bond,
        unit_span=Span(path, unit_cell.start, unit_cell.end),
    )


_FUNDING_HEADER = ("资金来源", "金额（元）", "利率（%）", "占比（%）", "已到位资金", "到位时间", "存量融资抵质押状况")


def _funding_table(cur: _Cursor, path: str, warnings: list[ParseWarning]) -> tuple[list[FundingLine], Decimal | None]:
    for label in _FUNDING_HEADER:
        cur.expect(label)
    body = cur.until("总体目标")
    rows: dict[int, list[Cell]] = {}
    for c in body:
        rows.setdefault(c.para, []).append(c)
    lines: list[FundingLine] = []
    total = None
    parent: str | None = None
    previous: str | None = None
    for cells in rows.values():
        if len(cells) > 7 and not cells[0].text:
            cells = cells[1:]  # the merged 项目资金来源及落实情况 column
        if not any(c.text for c in cells):
            continue
        values, names = cells[-6:], cells[:-6]
        if len(cells) < 7 or not names:
            warnings.append(ParseWarning(path, cells[0].start, "funding-row",
                                         f"funding row of {len(cells)} cells skipped (expected a source and 6 values)"))
            continue
        texts = [c.text.strip() for c in names]
        if len(texts) >= 2:
            parent = texts[0] or parent
            label = texts[-1]
        else:
            label = texts[0]
            parent = None
        if label.startswith("其中："):
            label = label.removeprefix("其中：")
            parent = previous
        amount = parse_decimal(values[0].label)
        if label == "合计":
            total = amount
            continue
        lines.append(FundingLine(
            label=label, parent=parent, amount=amount, rate_percent=parse_decimal(values[1].label),
            share_percent=parse_decimal(values[2].label), received=parse_decimal(values[3].label),
            received_on=_date(values[4], path, "到位时间"), collateral=values[5].text.strip() or None,
            span=Span(path, min(c.start for c in cells if c.text), cells[-1].end),
        ))
        if len(texts) < 2:
            previous = label
    return lines, total


def read_document(path: str | Path, file: str, budget_year: int | None = None
                  ) -> tuple[str, list[ProjectRecord], list[ParseWarning], str]:
    """Read, decode and parse the document at ``path`` (called ``file`` in messages).

    Returns its text, records and warnings, and the sha256 of the bytes that were read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SourceParseError(file, 0, "a readable file", exc.strerror or str(exc)) from None
    text = decode(data, file)
    records, warnings = parse_text(text, file, budget_year)
    return text, records, warnings, hashlib.sha256(data).hexdigest()


def parse_text(text: str, path: str, budget_year: int | None = None) -> tuple[list[ProjectRecord], list[ParseWarning]]:
    """Parse a whole document's text. Raises :class:`SourceParseError` when it cannot be read."""
    name = Path(path).name
    tokens, warnings = tokenize(text.removeprefix("\ufeff"), name)
    tables = segment(tokens)
    if not tables:
        first = next((i + 1 for i, line in enumerate(text.split("\n")) if line.strip()), 1)
        found = text.split("\n")[first - 1].strip() if text.strip() else "an empty file"
        raise SourceParseError(name, first, "a performance-target table (绩效目标表: a title line or a tab-indented "
                               "6-digit budget unit line followed by 单位：万元)", found)
    records = _records(tables, name, budget_year, warnings)
    last = line_count(text)
    if text.rsplit("\n", 1)[-1].strip():
        # every export ends its last line; one that does not was most likely cut off (a partial copy)
        cut = next((w for w in warnings if w.code == "cut-value" and w.line == last), None)
        if cut is not None:  # a half value would be stored as if whole: refuse the document
            raise SourceParseError(name, last, "a whole last line (the document seems cut off in it)",
                                   text.rsplit("\n", 1)[-1].strip())
        warnings.append(ParseWarning(name, last, "no-line-end",
                                     "the last line has no line end: the document may be cut off here; "
                                     "check that it is complete"))
    return records, warnings


def _records(tables: list[_Table], name: str, budget_year: int | None,
             warnings: list[ParseWarning]) -> list[ProjectRecord]:
    records = []
    for no, table in enumerate(tables, start=1):
        first_text = next((c for c in table.cells if c.text), None)
        if first_text is not None and first_text.label == "项目性质":
            records.append(_special_bond(table, name, no, budget_year, warnings))
        elif first_text is not None and _UNIT_CELL.match(first_text.label):
            records.append(_standard(table, name, no, budget_year, warnings))
        else:
            raise SourceParseError(name, first_text.start if first_text else table.first_line,
                                   "a budget unit line (6-digit code and name) or 项目性质 to start the table",
                                   first_text.text if first_text else "an empty table")
    return records


def parse_file(path: str | Path, budget_year: int | None = None) -> tuple[list[ProjectRecord], list[ParseWarning]]:
    """Read and parse one document from disk."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SourceParseError(p.name, 0, "a readable file", exc.strerror or str(exc)) from None
    return parse_text(decode(data, p.name), p.name, budget_year)
