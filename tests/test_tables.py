"""Tables drawn line by line (:mod:`budgetkg.tables`) are rich's tables, character for character."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table
from rich.text import Text

from budgetkg.tables import draw, lines, widths

# printable text of the kinds a table holds: ASCII, Chinese (two columns), full-width marks, markup-like brackets
_CELL = st.text(st.sampled_from(list("ab Z09.-_[]/=") + list("天津市预算万元（）") + ["·", "é", "\u3000"]), max_size=12)


def _rich(header: list[str], rows: list[list[str]], title: str | None, width: int) -> str:
    console = Console(file=io.StringIO(), soft_wrap=True, emoji=False, width=width)
    table = Table(title=Text(title) if title is not None else None, show_lines=False)
    for h in header:
        table.add_column(Text(h), overflow="fold")
    for row in rows:
        table.add_row(*(Text(c) for c in row))
    console.print(table, highlight=False)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def _drawn(header: list[str], rows: list[list[str]], title: str | None, width: int) -> str:
    console = Console(file=io.StringIO(), soft_wrap=True, emoji=False, width=width)
    draw(console, header, rows, title)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


@st.composite
def _tables(draw_: st.DrawFn) -> tuple[list[str], list[list[str]], str | None]:
    n = draw_(st.integers(1, 5))
    header = draw_(st.lists(_CELL.filter(bool), min_size=n, max_size=n))
    rows = draw_(st.lists(st.lists(_CELL, min_size=n, max_size=n), max_size=6))
    title = draw_(st.none() | _CELL.filter(bool))
    return header, rows, title


@settings(max_examples=300, deadline=None)
@given(_tables())
def test_a_table_that_fits_is_drawn_as_rich_draws_it(table: tuple[list[str], list[list[str]], str | None]) -> None:
    header, rows, title = table
    sizes = widths(header, rows)
    assert sizes is not None
    assert "\n".join(lines(header, rows, sizes, title)) + "\n" == _rich(header, rows, title, 400)


@settings(max_examples=100, deadline=None)
@given(_tables(), st.integers(8, 40))
def test_a_table_wider_than_the_console_is_folded_by_rich(table: tuple[list[str], list[list[str]], str | None],
                                                          width: int) -> None:
    header, rows, title = table
    assert _drawn(header, rows, title, width) == _rich(header, rows, title, width)


def test_a_cell_rich_lays_out_itself_is_drawn_by_rich() -> None:
    header, rows = ["name", "note"], [["a", "two\nlines"], ["tab\there", "b"]]
    assert widths(header, rows) is None
    drawn = _drawn(header, rows, "t", 400)
    assert drawn == _rich(header, rows, "t", 400)
    assert "│ two" in drawn and "│ lines" in drawn  # the line break made two lines of the cell


def test_cells_are_text_not_markup() -> None:
    drawn = _drawn(["document"], [["plan[bold]2024[/bold].txt"]], "store [x]", 400)
    assert "plan[bold]2024[/bold].txt" in drawn and drawn.startswith("store [x]\n")


def test_a_terminal_gets_rich_styles() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=80)
    draw(console, ["x"], [["1"]], "t")
    out = console.file
    assert isinstance(out, io.StringIO)
    assert out.getvalue().splitlines()[:3] == ["\x1b[3mt\x1b[0m", "┏━━━┓", "┃ \x1b[1mx\x1b[0m ┃"]
