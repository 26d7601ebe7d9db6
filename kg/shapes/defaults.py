"""A default for an unbound variable, ``COALESCE(?v, d)``, written as ``IF(BOUND(?v), ?v, d)``: every engine agrees.

A rule's SPARQL (``sh:select``) takes 0 for an amount its table leaves empty: ``OPTIONAL { … ?f }`` then
``COALESCE(?f, 0)``. Virtuoso 7.2 mis-evaluates that ``COALESCE`` when a ``FILTER`` reads it: the filter keeps the
right rows, but the value the query then returns for the ``COALESCE`` is another row's (``BudgetSumMismatch`` at
10,000 tables gave each of its 59 findings another project's 财政资金; the ``COALESCE`` alone, or the filter on
``?f`` itself, answer right). ``IF(BOUND(?f), ?f, 0)`` means the same thing, since a bound variable evaluates
without error, and Virtuoso evaluates it right. :func:`bound_defaults` rewrites each ``COALESCE`` whose first
argument is a variable that way (further arguments nest), and leaves every other ``COALESCE`` as it is
(``COALESCE(?a > ?b, false)`` defaults an expression's error, which ``BOUND`` cannot say); the shapes compiler
applies it to the SPARQL of every rule and SPARQL-based target, so both engines run the same text.

>>> bound_defaults("BIND(COALESCE(?f, 0) AS ?fiscal)")
'BIND(IF(BOUND(?f), ?f, 0) AS ?fiscal)'
>>> bound_defaults('coalesce($this, ?a, "x") FILTER(!COALESCE(?v > 1, false))')
'IF(BOUND($this), $this, IF(BOUND(?a), ?a, "x")) FILTER(!COALESCE(?v > 1, false))'
>>> bound_defaults('"COALESCE(?f, 0)" # COALESCE(?f, 0)')
'"COALESCE(?f, 0)" # COALESCE(?f, 0)'
"""

from __future__ import annotations

import re

from .errors import ShapesError

#: Text copied as it is: string literals (long ones first), IRIs and comments, where a parenthesis means nothing.
_OPAQUE = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""'
                     r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
                     r'|"(?:[^"\\\n]|\\.)*"'
                     r"|'(?:[^'\\\n]|\\.)*'"
                     r'|<[^<>"{}|^`\\\s]*>'
                     r"|#[^\n]*")
_COALESCE = re.compile(r"COALESCE\s*\(", re.IGNORECASE)
_VARIABLE = re.compile(r"\s*([?$]\w+)\s*")


def bound_defaults(sparql: str) -> str:
    """``sparql`` with each ``COALESCE`` whose first argument is a variable written with ``IF`` and ``BOUND``."""
    out, end = _scan(sparql, 0, "")
    if end != len(sparql):
        raise ShapesError(f"unbalanced parentheses in SPARQL: {sparql[:200]}")
    return out


def _scan(text: str, i: int, stops: str) -> tuple[str, int]:
    """``text`` from ``i``, rewritten, up to the first character of ``stops`` at this depth (or the end)."""
    out: list[str] = []
    while i < len(text):
        if opaque := _OPAQUE.match(text, i):
            out.append(opaque.group())
            i = opaque.end()
            continue
        call = _COALESCE.match(text, i)
        if call and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_:?$")):
            args, i = _arguments(text, call.end())
            out.append(_default(args))
            continue
        c = text[i]
        if c in stops:
            break
        if c == "(":
            inner, i = _scan(text, i + 1, ")")
            if i >= len(text):
                raise ShapesError(f"unbalanced parentheses in SPARQL: {text[:200]}")
            out.append(f"({inner})")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out), i


def _arguments(text: str, i: int) -> tuple[list[str], int]:
    """The arguments of a call whose ``(`` ends before ``i``, each rewritten; and the index after its ``)``."""
    args = []
    while True:
        arg, i = _scan(text, i, ",)")
        args.append(arg)
        if i >= len(text):
            raise ShapesError(f"unbalanced parentheses in SPARQL: {text[:200]}")
        i += 1
        if text[i - 1] == ")":
            return args, i


def _default(args: list[str]) -> str:
    variable = _VARIABLE.fullmatch(args[0])
    if variable is None or len(args) < 2:
        return f"COALESCE({','.join(args)})"
    v = variable.group(1)
    rest = _default(args[1:]) if len(args) > 2 else args[1].strip()
    return f"IF(BOUND({v}), {v}, {rest})"
