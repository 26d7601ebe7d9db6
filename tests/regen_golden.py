"""Regenerate the golden parse files in ``tests/golden/parse/`` from the parser.

Usage (from the project root)::

    .venv/bin/python tests/regen_golden.py           # show which goldens differ from the parser (no writes)
    .venv/bin/python tests/regen_golden.py --write   # rewrite the golden files

Each golden is ``kg.model.to_plain(record)`` of one table, dumped as JSON with
``ensure_ascii=False, indent=1, sort_keys=True`` (see :func:`dump`).

A golden is a *hand-checked* statement of what the seed text says, not a snapshot of whatever the
parser printed last. After ``--write``, diff the files (``git diff tests/golden``) and check every
changed value against the seed lines its ``span`` names before you commit; then update the list of
checked spans at the top of ``tests/test_parse.py``.

Fields the parser once misread keep their hand-checked value in :data:`HAND_CORRECTIONS`,
applied after regeneration, so a regression cannot be baked into a golden by regenerating; the
tests also check those fields one by one (``test_regression_golden_field_once_misread``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "parse"
SEEDS = ROOT / "seeds"

#: Budget year of each seed document (from the content; see seeds/LAYOUT.md).
YEARS = {
    "000_98710193955fe7ef.txt": 2025,
    "001_93173bd42f6175ea.txt": 2024,
    "002_46a6982900848d6f.txt": 2025,
    "003_94c10425b25a6e8c.txt": 2025,
    "004_5346273e88d8e34b.txt": 2024,
}

#: golden name -> (seed file, 1-based table number in that file, seed lines the table spans)
GOLDENS: dict[str, tuple[str, int, tuple[int, int]]] = {
    "000_t01_video_platform": ("000_98710193955fe7ef.txt", 1, (1, 94)),
    "001_t02_untitled": ("001_93173bd42f6175ea.txt", 2, (65, 127)),
    "002_t01_blank_lines_in_cells": ("002_46a6982900848d6f.txt", 1, (1, 85)),
    "003_t02_final_payment_date": ("003_94c10425b25a6e8c.txt", 2, (105, 169)),
    "004_t001_level1_carried": ("004_5346273e88d8e34b.txt", 1, (1, 154)),
    "004_t005_numbered_goals": ("004_5346273e88d8e34b.txt", 5, (441, 548)),
    "004_t031_unparsed_value": ("004_5346273e88d8e34b.txt", 31, (2584, 2740)),
    "004_t081_unparsed_value": ("004_5346273e88d8e34b.txt", 81, (6784, 6853)),
    "004_t121_special_bond": ("004_5346273e88d8e34b.txt", 121, (9987, 10167)),
}

#: golden name -> [(path into the plain dict, hand-checked value, why the parser differs)]
HAND_CORRECTIONS: dict[str, list[tuple[tuple[str | int, ...], object, str]]] = {
    "004_t031_unparsed_value": [
        (("goals", 1, "span", "start"), 2606,
         "goal 2 is on line 2606 (a continuation line appended to the empty cell at 2604); "
         "kg/parse.py tokenize keeps 2604 in Cell.lines although no text line comes from it"),
        (("goals", 1, "span", "end"), 2606, "same as above"),
    ],
    "004_t121_special_bond": [
        (("bond", "funding", 1, "parent"), "财政拨款",
         "line 10041 is the empty (merged) 资金来源 cell of the 财政拨款 group, so 市级 belongs to 财政拨款; "
         "kg/parse.py _funding_table strips every leading empty cell and reads 市级 as a top-level row"),
    ],
}


def dump(plain: object) -> str:
    return json.dumps(plain, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def get_path(obj: object, path: tuple[str | int, ...]) -> object:
    for key in path:
        obj = obj[key]  # type: ignore[index]
    return obj


def set_path(obj: object, path: tuple[str | int, ...], value: object) -> None:
    for key in path[:-1]:
        obj = obj[key]  # type: ignore[index]
    obj[path[-1]] = value  # type: ignore[index]


def generate(name: str) -> dict:
    """The parser's plain record for golden ``name``, with the hand corrections applied."""
    sys.path.insert(0, str(ROOT))
    from kg.model import to_plain
    from kg.parse import parse_file

    doc, table_no, _ = GOLDENS[name]
    records, _warnings = parse_file(SEEDS / doc, YEARS[doc])
    plain = to_plain(records[table_no - 1])
    for path, value, _why in HAND_CORRECTIONS.get(name, []):
        set_path(plain, path, value)
    return plain  # type: ignore[return-value]


def main(argv: list[str]) -> int:
    write = "--write" in argv
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    differing = 0
    for name in GOLDENS:
        target = GOLDEN_DIR / f"{name}.json"
        text = dump(generate(name))
        old = target.read_text(encoding="utf-8") if target.exists() else None
        if old == text:
            print(f"same     {target.name}")
            continue
        differing += 1
        if write:
            target.write_text(text, encoding="utf-8")
            print(f"WRITTEN  {target.name}  <- hand-check it against the seed lines before committing")
        else:
            print(f"DIFFERS  {target.name}" + (" (missing)" if old is None else ""))
    if differing and not write:
        print("run with --write to rewrite them, then hand-check the diff")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
