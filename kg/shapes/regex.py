"""``REGEX`` patterns that are only anchored literal alternatives, as string functions every engine agrees on.

A ``sh:pattern`` such as ``^(产出|成本|满意度)指标$`` matches a fixed set of texts (or of prefixes, suffixes or
infixes). Engines differ on ``REGEX`` over non-ASCII text: Virtuoso 7.2 matches byte by byte, so ``"^.本"`` finds
nothing and ``"^(满意度|成本)指标$"`` does not match ``成本指标`` there. ``=``, ``STRSTARTS``, ``STRENDS`` and
``CONTAINS`` compare code-point sequences, which is the same as comparing their UTF-8 bytes, so every engine
answers them alike. :func:`portable_regex` writes a pattern of this kind as those functions and leaves any other
pattern as a ``REGEX`` call: the shapes' patterns are all of this kind (``tests/test_shape_regex.py`` checks the
translation against Oxigraph's ``REGEX`` on generated texts and patterns).

The accepted language, written by hand because no library turns a regular expression into SPARQL string
functions: branches separated by ``|``; each an optional ``^``, then literal characters (a metacharacter escaped
with ``\\``) and groups ``( … | … )`` or ``(?: … | … )`` of literal alternatives, then an optional ``$``.
Anything else (classes, quantifiers, ``.``, nested groups, flags) is not translated; such a pattern answers alike
on every engine when :func:`byte_safe` holds (ASCII atoms only: none of them can match part of a multi-byte
character), which the shipped shapes' patterns are (``tests/test_shape_regex.py``).

>>> portable_regex('STR(?v)', '^(产出|成本)指标$')
'(STR(STR(?v)) = "产出指标" || STR(STR(?v)) = "成本指标")'
>>> portable_regex('?s', '率$|^满意')
'(STRENDS(?s, "率") || STRSTARTS(?s, "满意"))'
>>> portable_regex('?s', '^.本')
'REGEX(?s, "^.本")'
"""

from __future__ import annotations

import itertools

import rdflib

#: Characters with a meaning in an XPath regular expression (F&O 3.1, 5.6.1).
_META = frozenset(".^$*+?{}[]\\|()")
#: At most this many expanded texts: a larger product stays a REGEX.
_MAX_TEXTS = 512


class _NotLiteral(ValueError):
    """The pattern is outside the literal-alternatives language."""


def _split_top(pattern: str) -> list[str]:
    """``pattern`` split at the ``|`` outside groups and escapes."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _literal(text: str) -> str:
    """The characters ``text`` stands for, if it is literal characters and escaped metacharacters only."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 < len(text) and text[i + 1] in _META:
                out.append(text[i + 1])
                i += 2
                continue
            raise _NotLiteral(text)
        if c in _META:
            raise _NotLiteral(text)
        out.append(c)
        i += 1
    return "".join(out)


def _branch(branch: str) -> tuple[bool, bool, list[str]]:
    """(anchored at the start, at the end, the texts the branch matches) of one top-level branch."""
    start = branch.startswith("^")
    if start:
        branch = branch[1:]
    body = branch[:-1]
    end = branch.endswith("$") and (len(body) - len(body.rstrip("\\"))) % 2 == 0
    if end:
        branch = branch[:-1]
    pieces: list[list[str]] = []
    i = 0
    while i < len(branch):
        if branch[i] == "(":
            close = branch.find(")", i)
            if close < 0:
                raise _NotLiteral(branch)
            inner = branch[i + 1:close]
            if inner.startswith("?:"):
                inner = inner[2:]
            if "(" in inner or "\\" in inner:
                raise _NotLiteral(branch)
            pieces.append([_literal(alt) for alt in inner.split("|")])
            i = close + 1
            continue
        j = i
        while j < len(branch) and branch[j] != "(":
            j += 2 if branch[j] == "\\" else 1
        pieces.append([_literal(branch[i:j])])
        i = j
    texts = ["".join(p) for p in itertools.islice(itertools.product(*pieces), _MAX_TEXTS + 1)]
    if len(texts) > _MAX_TEXTS:
        raise _NotLiteral(branch)
    return start, end, texts


def portable_regex(expr: str, pattern: str, flags: str | None = None) -> str:
    """A SPARQL expression true exactly when ``REGEX(expr, pattern, flags)`` is, for a string ``expr``."""
    plain = f"REGEX({expr}, {rdflib.Literal(pattern).n3()}" + (f", {rdflib.Literal(flags).n3()})" if flags else ")")
    if flags:
        return plain
    try:
        branches = [_branch(b) for b in _split_top(pattern)]
    except _NotLiteral:
        return plain
    tests: list[str] = []
    for start, end, texts in branches:
        for text in dict.fromkeys(texts):
            lit = rdflib.Literal(text).n3()
            if start and end:
                tests.append(f"STR({expr}) = {lit}")
            elif start:
                tests.append(f"STRSTARTS({expr}, {lit})")
            elif end:
                tests.append(f"STRENDS({expr}, {lit})")
            else:
                tests.append(f"CONTAINS({expr}, {lit})")
    return "(" + " || ".join(tests) + ")"


def byte_safe(pattern: str) -> bool:
    r"""Whether ``pattern`` matches the same texts byte by byte as by character: ASCII, with no atom (``.``, a
    negated class, ``\W`` ``\S`` ``\D`` ``\P``) that could match one byte of a multi-byte character.

    >>> byte_safe("^[0-9]{6}$"), byte_safe("^.本"), byte_safe("[^a]"), byte_safe(r"a\.b")
    (True, False, False, True)
    """
    if not pattern.isascii():
        return False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if pattern[i + 1:i + 2] in ("W", "S", "D", "P", "I", "C"):
                return False
            i += 2
            continue
        if c == "." or pattern.startswith("[^", i):
            return False
        i += 1
    return True
