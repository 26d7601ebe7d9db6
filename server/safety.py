"""What a SPARQL request would reach outside the store, found before it runs.

pyoxigraph's wheel carries an HTTP client for federated ``SERVICE`` and for ``LOAD`` and cannot be
told not to use it, so the server refuses both unless the target is allow-listed
(``BUDGETKG_SERVICE_ALLOWLIST``): this module reads the request the way a SPARQL parser tokenises
it — comments, string literals (all four quotings), IRIs, language tags and prefixed names are
whole tokens — and looks at the keywords that are left.

It also reports the query form (for content negotiation before running) and whether the query
names its own dataset with ``FROM``/``FROM NAMED``.

Oxigraph's parser is a PEG parser that needs no word boundary after a keyword: ``SERVICE:x``,
``SERVICEex:a``, ``SERVICESILENT<…>`` and ``SERVICE SILENTex:a`` all call out. So every word or
prefix that *starts* with SERVICE or LOAD counts as the keyword, and anything but the plain
spelling ``SERVICE [SILENT] <iri>|prefix:name`` is refused as ambiguous (a prefix such as
``services:`` must be renamed to be used).

>>> inspect("SELECT * WHERE { ?s ?p 'SERVICE <http://evil/>' }").services
()
>>> inspect("select * { service silent <http://h.example/sparql> { ?s ?p ?o } }").services
('http://h.example/sparql',)
>>> inspect("PREFIX e: <http://x/> CONSTRUCT WHERE { ?s e:load ?o }").form
'CONSTRUCT'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from kg.errors import BudgetKGError

#: Tokens, in the order they are tried. Names are the token kinds.
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n\r]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string>'''(?:(?:'|'')?(?:[^'\\]|\\.))*'''
              |\"\"\"(?:(?:"|"")?(?:[^"\\]|\\.))*\"\"\"
              |'(?:[^'\\\n\r]|\\.)*'
              |"(?:[^"\\\n\r]|\\.)*")
  | (?P<lang>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)
  | (?P<var>[?$][^\W]\w*)
  | (?P<pname>(?:[^\W\d][\w.\-]*)?:(?:(?:[\w:]|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%])
                                       (?:[\w:\-]|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%]|\.(?=[\w:%\\\-]))*)?)
  | (?P<word>[^\W\d]\w*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")
#: Deepest nesting of ``{`` ``(`` ``[`` a request may have. Oxigraph's parser recurses once per level
#: and a few thousand levels overflow its stack, which kills the worker process (a 500 for every
#: request it held); real queries stay far below this.
MAX_NESTING = 200
_OPEN, _CLOSE = "{([", "})]"
_KEYWORDS = ("SERVICE", "LOAD")


class RefusedOperation(BudgetKGError):
    """The request would make the server fetch something outside its store (SERVICE, LOAD)."""

    def __init__(self, keyword: str, target: str | None, reason: str) -> None:
        self.keyword = keyword
        self.target = target
        self.reason = reason
        where = f" {target}" if target else ""
        super().__init__(f"{keyword}{where} refused: {reason}")


class TooComplex(BudgetKGError):
    """The request nests brackets deeper than :data:`MAX_NESTING` (refused before it is parsed)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        super().__init__(f"the request nests brackets {depth} levels deep; at most {MAX_NESTING} are allowed")


@dataclass(frozen=True)
class Shape:
    """What :func:`inspect` found in a request."""

    #: SELECT, ASK, CONSTRUCT, DESCRIBE, or None (an update, or not recognisable).
    form: str | None
    #: Targets of every SERVICE; ``None`` for a target that cannot be known before running.
    services: tuple[str | None, ...]
    #: Targets of every LOAD, likewise.
    loads: tuple[str | None, ...]
    #: The query has FROM or FROM NAMED (its own dataset).
    has_dataset: bool
    #: Deepest nesting of ``{``, ``(`` and ``[`` outside strings, IRIs and comments.
    nesting: int = 0


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        out.append((kind or "other", m.group()))
    return out


def inspect(text: str, default_prefixes: dict[str, str] | None = None) -> Shape:
    """Tokenise a query or update and report its form, SERVICE and LOAD targets, and FROM use."""
    toks = _tokens(text)
    prefixes = dict(default_prefixes or {})
    base: str | None = None
    form: str | None = None
    services: list[str | None] = []
    loads: list[str | None] = []
    has_dataset = False
    depth = 0
    nesting = deepest = 0

    def resolve(kind: str, value: str) -> str | None:
        if kind == "iri":
            iri = value[1:-1]
            return urljoin(base, iri) if base and not urlsplit(iri).scheme else iri
        if kind == "pname":
            pfx, _, local = value.partition(":")
            if pfx.upper().startswith(("SILENT", *_KEYWORDS)) or pfx not in prefixes:
                return None  # ambiguous (SERVICE SILENT:x) or undeclared: cannot know it before running
            return prefixes[pfx] + local
        return None

    i = 0
    while i < len(toks):
        kind, value = toks[i]
        up = value.upper()
        nxt = toks[i + 1] if i + 1 < len(toks) else ("eof", "")
        if kind == "other" and value in _OPEN:
            nesting += 1
            deepest = max(deepest, nesting)
        elif kind == "other" and value in _CLOSE:
            nesting -= 1
        if kind == "other" and value == "{":
            depth += 1
        elif kind == "other" and value == "}":
            depth -= 1
        elif kind == "word" and up == "PREFIX" and nxt[0] == "pname":
            after = toks[i + 2] if i + 2 < len(toks) else ("eof", "")
            if after[0] == "iri":
                prefixes[nxt[1][:-1] if nxt[1].endswith(":") else nxt[1].partition(":")[0]] = \
                    resolve("iri", after[1]) or ""
                i += 3
                continue
        elif kind == "word" and up == "BASE" and nxt[0] == "iri":
            base = resolve("iri", nxt[1])
            i += 2
            continue
        elif kind == "word" and up in _FORMS and form is None and depth == 0:
            form = up
        elif kind == "word" and up == "FROM" and depth == 0:
            has_dataset = True
        elif (kind == "word" and up.startswith(_KEYWORDS)) or (
                kind == "pname" and value.partition(":")[0].upper().startswith(_KEYWORDS)):
            keyword = "SERVICE" if up.startswith("SERVICE") else "LOAD"
            target: str | None = None
            j = i + 1
            if kind == "word" and up in _KEYWORDS:
                # oxigraph needs no space after a keyword: SERVICESILENT<…>, SERVICEex:a and SERVICE SILENTex:a
                # all call out, so anything but the plain spelling is refused as ambiguous
                if j < len(toks) and toks[j][0] == "word" and toks[j][1].upper() == "SILENT":
                    j += 1
                if j < len(toks) and toks[j][0] in ("iri", "pname"):
                    target = resolve(*toks[j])
                    j += 1
            (services if keyword == "SERVICE" else loads).append(target)
            i = j
            continue
        i += 1
    return Shape(form, tuple(services), tuple(loads), has_dataset, deepest)


def allowed(target: str, allowlist: tuple[str, ...]) -> bool:
    """Whether an allow-list entry covers ``target``: a host name, or a URL prefix (with a scheme).

    >>> allowed("https://query.wikidata.org/sparql", ("query.wikidata.org",))
    True
    >>> allowed("file:///etc/passwd", ("query.wikidata.org",))
    False
    >>> allowed("http://data.example/dump.ttl", ("http://data.example/",))
    True
    """
    parts = urlsplit(target)
    for entry in allowlist:
        entry = entry.strip()
        if not entry:
            continue
        if "://" in entry or entry.startswith("file:"):
            if target.startswith(entry):
                return True
        elif parts.scheme in ("http", "https") and parts.hostname and parts.hostname.lower() == entry.lower():
            return True
    return False


def check(text: str, allowlist: tuple[str, ...], default_prefixes: dict[str, str] | None = None) -> Shape:
    """:func:`inspect` ``text`` and raise :class:`RefusedOperation` for a SERVICE or LOAD not allow-listed,
    :class:`TooComplex` for brackets nested deeper than :data:`MAX_NESTING`.

    >>> check("SELECT * WHERE " + "{" * 201 + "}" * 201, ())
    Traceback (most recent call last):
    ...
    server.safety.TooComplex: the request nests brackets 201 levels deep; at most 200 are allowed
    """
    shape = inspect(text, default_prefixes)
    if shape.nesting > MAX_NESTING:
        raise TooComplex(shape.nesting)
    for keyword, targets in (("SERVICE", shape.services), ("LOAD", shape.loads)):
        for target in targets:
            if target is None:
                raise RefusedOperation(keyword, None, "its target cannot be known before the request runs "
                                                      "(a variable or an ambiguous prefixed name)")
            if not allowed(target, allowlist):
                raise RefusedOperation(keyword, target, "not in the allow-list (BUDGETKG_SERVICE_ALLOWLIST)")
    return shape
