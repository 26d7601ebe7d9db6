"""Tables for people, drawn as rich draws them, at the speed of writing lines.

rich measures and renders every cell of a table as styled segments: about 0.4 ms a row, so the
1,000 per-document rows of ``budgetkg stats`` at 100,000 tables took 0.4–0.5 s to draw, and a
100,000-row ``budgetkg query`` answer 40 s. Most tables need none of what that buys: every cell is
one line and the table fits the width. :func:`lines` draws such a table, character for character
as a :class:`rich.table.Table` with its defaults (the heavy-headed box, one space of padding, the
title above) on a soft-wrapping console; widths are rich's own (:func:`rich.cells.cell_len`, so
Chinese takes two columns). A table that does not fit, or a cell rich would lay out itself (a line
break, a tab, a control character), is drawn by rich (:func:`draw`), which folds it to the width.

Cells are text, never console markup: a document named ``plan[2024].txt`` is printed as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

#: Characters rich lays out itself (line breaks, tabs, other control characters): a cell with one is drawn by rich.
_RICH_ONLY = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_BOLD, _ITALIC, _RESET = "\x1b[1m", "\x1b[3m", "\x1b[0m"


def widths(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int] | None:
    """Each column's width in cells, or None when some cell is one rich lays out itself."""
    found = [cell_len(h) for h in header]
    for row in rows:
        for k, cell in enumerate(row):
            if _RICH_ONLY.search(cell):
                return None
            n = cell_len(cell)
            if n > found[k]:
                found[k] = n
    if any(_RICH_ONLY.search(h) for h in header):
        return None
    return found


def lines(header: Sequence[str], rows: Sequence[Sequence[str]], sizes: Sequence[int], title: str | None = None,
          *, styled: bool = False) -> Iterator[str]:
    """The table's lines (no line ends), given its column ``sizes`` (:func:`widths`); ``styled``: the title in
    italics and the header in bold (ANSI), as rich styles them on a terminal.

    >>> print("\\n".join(lines(["x", "名称"], [["1", "天津"]], [1, 4], "t")))
    t
    ┏━━━┳━━━━━━┓
    ┃ x ┃ 名称 ┃
    ┡━━━╇━━━━━━┩
    │ 1 │ 天津 │
    └───┴──────┘
    """
    if title is not None:
        yield f"{_ITALIC}{title}{_RESET}" if styled and title else title
    yield "┏" + "┳".join("━" * (n + 2) for n in sizes) + "┓"
    cells = []
    for h, n in zip(header, sizes, strict=True):
        pad = " " * (n - cell_len(h))
        cells.append(f" {_BOLD}{h}{_RESET}{pad} " if styled and h else f" {h}{pad} ")
    yield "┃" + "┃".join(cells) + "┃"
    yield "┡" + "╇".join("━" * (n + 2) for n in sizes) + "┩"
    for row in rows:
        yield "│" + "│".join(f" {c}{' ' * (n - cell_len(c))} " for c, n in zip(row, sizes, strict=True)) + "│"
    yield "└" + "┴".join("─" * (n + 2) for n in sizes) + "┘"


def draw(console: Console, header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    """Print the table on ``console``: line by line when it fits the console's width, else by rich (folded)."""
    sizes = widths(header, rows)
    if sizes is not None and sum(sizes) + 3 * len(sizes) + 1 <= console.width:
        styled = console.is_terminal and not console.no_color and console.color_system is not None
        console.file.write("".join(line + "\n" for line in lines(header, rows, sizes, title, styled=styled)))
        return
    table = Table(title=Text(title) if title is not None else None, show_lines=False)
    for h in header:
        table.add_column(Text(h), overflow="fold")
    for row in rows:
        table.add_row(*(Text(c) for c in row))
    console.print(table, highlight=False)
