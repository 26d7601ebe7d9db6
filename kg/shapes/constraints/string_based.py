"""String-based constraint components (SHACL 4.4): lengths, sh:pattern, sh:languageIn, sh:uniqueLang."""

from __future__ import annotations

import rdflib

from ..regex import portable_regex
from ..shapes_graph import integer
from .scope import Scope


def compile_string_based(sc: Scope) -> None:
    """sh:minLength, sh:maxLength, sh:pattern and sh:languageIn (sh:uniqueLang: :func:`compile_unique_lang`)."""
    sg, v = sc.sg, sc.v
    for key, op in (("minLength", "<"), ("maxLength", ">")):
        for lit in sg.all(sc.shape, key):
            sc.value_filter(key[0].upper() + key[1:], f"isBlank({v}) || STRLEN(STR({v})) {op} {integer(lit)}",
                            {key: str(lit)})
    for pat in sg.all(sc.shape, "pattern"):
        flags = sg.one(sc.shape, "flags")
        matches = portable_regex(f"STR({v})", str(pat), str(flags) if flags else None)
        sc.value_filter("Pattern", f"isBlank({v}) || !{matches}", {"pattern": str(pat)})
    for langs in sg.all(sc.shape, "languageIn"):
        tags = [str(t) for t in sg.items(langs)]
        test = " || ".join(f"langMatches(LANG({v}), {rdflib.Literal(t).n3()})" for t in tags) or "false"
        sc.value_filter("LanguageIn", f"!COALESCE({test}, false)", {"languageIn": ", ".join(tags)})


def compile_unique_lang(sc: Scope) -> None:
    """sh:uniqueLang true: no two values of the path share a language tag (property shapes only)."""
    sg, x = sc.sg, sc.x
    for u in sg.all(sc.shape, "uniqueLang"):
        if str(u).lower() == "true":
            a, b = sg.fresh("a"), sg.fresh("b")
            c = sg.fresh("c")
            top = (f"{{ SELECT {x} WHERE {{ {sc.t(x, c)} FILTER(LANG({c}) != \"\") }} "
                   f"GROUP BY {x} (LCASE(LANG({c}))) HAVING (COUNT(DISTINCT {c}) > 1) }}")
            sc.add("UniqueLang", f"{sc.t(x, a)} {sc.t(x, b)} FILTER(!sameTerm({a}, {b}) && LANG({a}) != \"\" && "
                   f"LCASE(LANG({a})) = LCASE(LANG({b})))", {}, None, top=top)
