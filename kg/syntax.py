"""SPARQL syntax errors for people: where, what, and the likely fix.

Oxigraph's parser reports ``error at LINE:COL: expected …`` with the grammar's character classes
spelled out (an unknown prefix gives a screenful of Unicode ranges) or the first alternative it
tried (``SELEC`` gives "expected CONSTRUCT"). :func:`explain` turns that into one readable line
with the same ``line L, column C`` everywhere (CLI, server, API), the offending line with a caret,
and a hint when the cause is recognisable: an undeclared prefix, a misspelled keyword, an
unclosed bracket. The parser's own message is kept at the end, shortened.

>>> print(explain("SELEC ?x WHERE { ?x ?p ?o }", "error at 1:1: expected CONSTRUCT"))
line 1, column 1: unknown keyword 'SELEC' (did you mean SELECT?)
  SELEC ?x WHERE { ?x ?p ?o }
  ^
>>> print(explain("SELECT ?x WHERE { ?x foo:bar ?o }", "error at 1:22: expected one of …", {"bk": "http://b/"}))
line 1, column 22: unknown prefix 'foo:' (declare it with PREFIX foo: <…>; predeclared: bk)
  SELECT ?x WHERE { ?x foo:bar ?o }
                       ^
"""

from __future__ import annotations

import difflib
import re

KEYWORDS = ("SELECT", "CONSTRUCT", "DESCRIBE", "ASK", "WHERE", "PREFIX", "BASE", "FILTER", "OPTIONAL", "UNION",
            "MINUS", "GRAPH", "BIND", "VALUES", "GROUP", "ORDER", "LIMIT", "OFFSET", "DISTINCT", "REDUCED", "HAVING",
            "EXISTS", "NOT", "SERVICE", "INSERT", "DELETE", "DATA", "FROM", "NAMED", "AS", "BY", "ASC", "DESC")
_AT = re.compile(r"error at (\d+):(\d+):\s*(.*)", re.S)
_PREFIXED = re.compile(r"(?<![\w<?$:])([A-Za-z][\w.-]*)?:(?=[\w\u00C0-\uFFFF])")
_DECLARED = re.compile(r"PREFIX\s+([A-Za-z][\w.-]*)?:", re.IGNORECASE)


def explain(text: str, message: str, prefixes: dict[str, str] | None = None) -> str:
    """A readable message for the parser's ``message`` about ``text`` (see the module docstring)."""
    m = _AT.search(message)
    if m is None:
        return message
    line, col, expected = int(m.group(1)), int(m.group(2)), m.group(3).strip()
    found = _hint(text, line, col, prefixes or {})
    if found is None:
        hint = expected if len(expected) <= 160 else expected[:157] + "…"
        hint = hint or "unexpected input"
    else:
        hint, line, col = found
    lines = text.split("\n")
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    caret = f"\n  {source}\n  {' ' * (max(col, 1) - 1)}^" if source.strip() else ""
    return f"line {line}, column {col}: {hint}{caret}"


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _hint(text: str, line: int, col: int, prefixes: dict[str, str]) -> tuple[str, int, int] | None:
    """(message, line, column) of a recognisable cause, or None."""
    code = _code(text)
    declared = set(prefixes) | {p or "" for p in _DECLARED.findall(code)}
    for m in _PREFIXED.finditer(code):
        name = m.group(1) or ""
        if name not in declared and name.upper() not in ("HTTP", "HTTPS", "URN", "MAILTO"):
            known = sorted(prefixes)
            shown = ", ".join(known[:8]) + (f" and {len(known) - 8} more" if len(known) > 8 else "") or "none"
            return (f"unknown prefix '{name}:' (declare it with PREFIX {name}: <…>; predeclared: {shown})",
                    *_position(text, m.start()))
    for m in re.finditer(r"[A-Za-z]+", code):
        word = m.group(0)
        if word.upper() in KEYWORDS:
            if word.upper() not in ("PREFIX", "BASE"):
                break  # the query's first keyword is a real one
            continue
        if code[max(0, m.start() - 1)] in "?$:" or code[m.end():m.end() + 1] == ":":
            continue  # a variable or a prefixed name
        close = difflib.get_close_matches(word.upper(), KEYWORDS, n=1, cutoff=0.75)
        if close:
            return f"unknown keyword '{word}' (did you mean {close[0]}?)", *_position(text, m.start())
        break
    lines = text.split("\n")
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    # a misspelled keyword at, or just before, where the parser stopped
    for m in reversed(list(re.finditer(r"(?<![?$:\w])[A-Za-z]+(?![:\w])", _code(source)))):
        if m.start() > col:
            continue
        if m.group(0).upper() not in KEYWORDS:
            close = difflib.get_close_matches(m.group(0).upper(), KEYWORDS, n=1, cutoff=0.75)
            if close:
                return f"unknown keyword '{m.group(0)}' (did you mean {close[0]}?)", line, m.start() + 1
        break
    opened = sum(code.count(c) for c in "{(") - sum(code.count(c) for c in "})")
    if opened > 0 and line >= len(lines) and col > len(source.rstrip()):
        return f"the query ends with {opened} bracket{'s' if opened > 1 else ''} still open ('{{' or '(')", line, col
    return None


def _code(text: str) -> str:
    """``text`` without comments, strings and IRIs (so a '#', a ':' or a bracket in them counts for nothing)."""
    text = re.sub(r"<[^<>\s]*>", "<>", text)
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', '""', text)
    return re.sub(r"#[^\n]*", "", text)
