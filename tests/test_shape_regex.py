"""``sh:pattern`` written as string functions (kg/shapes/regex.py) answers as Oxigraph's own ``REGEX`` does."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyoxigraph import Store

from kg.settings import Settings
from kg.shapes import load_shapes
from kg.shapes.regex import byte_safe, portable_regex

#: Characters the texts and patterns are made of: Chinese, ASCII, and metacharacters to escape.
ALPHABET = "产出成本指标率满意度a.$"


def _escape(text: str) -> str:
    return "".join("\\" + c if c in ".^$*+?{}[]\\|()" else c for c in text)


words = st.text(alphabet=ALPHABET, max_size=3)
literal = words.map(_escape)
group = st.lists(literal, min_size=1, max_size=3).map(lambda alts: "(" + "|".join(alts) + ")")
branch = st.tuples(st.booleans(), st.lists(st.one_of(literal, group), max_size=3), st.booleans()).map(
    lambda t: ("^" if t[0] else "") + "".join(t[1]) + ("$" if t[2] else ""))
patterns = st.lists(branch, min_size=1, max_size=3).map("|".join)


def _matches(store: Store, expr: str, texts: list[str]) -> list[bool]:
    values = " ".join(json.dumps(t, ensure_ascii=False) for t in texts)
    rows = store.query(f"SELECT ?s ?m WHERE {{ VALUES ?s {{ {values} }} BIND(COALESCE({expr}, false) AS ?m) }}")
    got = {r["s"].value: r["m"].value == "true" for r in rows}
    return [got[t] for t in texts]


@settings(max_examples=300, deadline=None)
@given(patterns, st.lists(words, min_size=1, max_size=6, unique=True))
def test_the_translation_matches_what_regex_matches(pattern: str, texts: list[str]) -> None:
    store = Store()
    translated = portable_regex("?s", pattern)
    regex = f"REGEX(?s, {json.dumps(pattern, ensure_ascii=False)})"
    assert _matches(store, translated, texts) == _matches(store, regex, texts), translated


@pytest.mark.parametrize("pattern", ["^.本", "a+", "[产出]指标", "^(a(b|c))$", "x{2}", "\\d"])
def test_other_patterns_stay_a_regex(pattern: str) -> None:
    assert portable_regex("?s", pattern).startswith("REGEX(")


def test_flags_stay_a_regex() -> None:
    assert portable_regex("?s", "^ab$", "i") == 'REGEX(?s, "^ab$", "i")'


def test_the_shapes_leave_only_byte_safe_patterns_to_regex() -> None:
    """A REGEX the shapes still send is one Virtuoso 7.2, which matches byte by byte, answers alike."""
    shapes = load_shapes(Settings().shapes_dir)
    assert any("STR(STR(" in c.sparql and "指标" in c.sparql for c in shapes.constraints)
    left = [m.group(1) for c in shapes.constraints for m in re.finditer(r'REGEX\([^,]+, "([^"]*)"', c.sparql, re.I)]
    assert left, "the structure shapes' code patterns are REGEX"
    assert [p for p in left if not byte_safe(p)] == []


def test_a_chinese_heading_is_matched_by_equality() -> None:
    store = Store()
    expr = portable_regex("?s", "^(满意度|成本)指标$")
    assert _matches(store, expr, ["成本指标", "满意度指标", "成本指标率", "产出指标"]) == [True, True, False, False]
