"""What a SPARQL request would reach outside the store, and how large it is, found before it runs.

pyoxigraph's wheel carries an HTTP client for federated ``SERVICE`` and for ``LOAD`` and cannot be
told not to use it (0.5 exposes neither its parser nor a service handler to Python), so the server
refuses both unless the target is allow-listed (``BUDGETKG_SERVICE_ALLOWLIST``). The decision is
made in three layers, each of which refuses when it is unsure:

1. :func:`check` (in the server process, before anything runs) reads the request as the SPARQL
   grammar's terminals do — after Oxigraph's own first step, replacing ``\\uXXXX``/``\\UXXXXXXXX``
   escapes everywhere (SPARQL 1.1 §19.2), with the grammar's exact ``PN_CHARS`` ranges (U+00B7,
   U+203F …), strings with only the escapes the grammar allows, IRIs, comments and language tags as
   whole tokens. Every word or prefix that *starts* with SERVICE or LOAD counts as the keyword
   (Oxigraph's PEG parser needs no word boundary: ``SERVICESILENT<…>`` calls out), and a target
   that is not a plain IRI or declared prefixed name is refused. It also enforces the size limits
   (nesting depth, term count: :class:`TooComplex`) that keep Oxigraph's recursive parser and
   planner from overflowing the worker's stack.
2. :func:`verify` (in the worker, under the time limit) decides on what a real SPARQL parser
   parses: when the unescaped text does not contain ``service`` or ``load`` at all (any case),
   neither keyword can be parsed, whatever the tokenisation — exact, and free. Otherwise rdflib's
   SPARQL 1.1 parser reads it, and the request is refused unless rdflib parses it *and* finds
   exactly the SERVICE/LOAD targets of layer 1 (so a tokeniser slip or an rdflib slip alone lets
   nothing through; text rdflib cannot read that mentions the words is refused, not guessed).
3. The worker processes cannot open a network connection or read files outside the store at all
   (:mod:`server.sandbox`), so a request that got past both readers still fetches nothing.

It also reports the query form (for content negotiation before running) and whether the query
names its own dataset with ``FROM``/``FROM NAMED``.

>>> inspect("SELECT * WHERE { ?s ?p 'SERVICE <http://evil/>' }").services
()
>>> inspect("select * { service silent <http://h.example/sparql> { ?s ?p ?o } }").services
('http://h.example/sparql',)
>>> inspect("PREFIX e: <http://x/> CONSTRUCT WHERE { ?s e:load ?o }").form
'CONSTRUCT'
>>> inspect(r"SELECT * { SERVIC\\u0045 <http://h.example/> { } }").services
('http://h.example/',)
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

from kg.errors import BudgetKGError

T = TypeVar("T")

# The SPARQL 1.1 grammar's character classes (§19.8), spelled once.
_BASE = ("A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d\u2070-\u218f"
         "\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff")
_U = _BASE + "_"
_CHARS = _U + r"\-0-9\u00b7\u0300-\u036f\u203f-\u2040"
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
_ECHAR = r"""\\[tbnrf\\"']"""

#: Tokens, in the order they are tried. Names are the token kinds.
_TOKEN = re.compile(
    rf"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>\#[^\n\r]*)
  | (?P<iri><[^<>"{{}}|^`\\\x00-\x20]*>)
  | (?P<string>'''(?:(?:'|'')?(?:[^'\\]|{_ECHAR}))*'''
              |\"\"\"(?:(?:"|"")?(?:[^"\\]|{_ECHAR}))*\"\"\"
              |'(?:[^'\\\n\r]|{_ECHAR})*'
              |"(?:[^"\\\n\r]|{_ECHAR})*")
  | (?P<lang>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)
  | (?P<var>[?$][{_U}0-9][{_U}0-9\u00b7\u0300-\u036f\u203f-\u2040]*)
  | (?P<bnode>_:[{_U}0-9](?:[{_CHARS}.]*[{_CHARS}])?)
  | (?P<pname>(?:[{_BASE}](?:[{_CHARS}.]*[{_CHARS}])?)?:
               (?:(?:[{_U}:0-9]|{_PLX})(?:(?:[{_CHARS}.:]|{_PLX})*(?:[{_CHARS}:]|{_PLX}))?)?)
  | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)
  | (?P<word>[{_U}][{_CHARS}]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
#: Any spelling of either keyword, in any case: without it in the unescaped text, none can be parsed.
_KEYWORD_TEXT = re.compile("service|load", re.IGNORECASE)

_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")
_OPEN, _CLOSE = "{([", "})]"
_KEYWORDS = ("SERVICE", "LOAD")
#: Defaults of ``Settings.max_query_depth`` and ``Settings.max_query_terms``.
MAX_NESTING = 200
MAX_TERMS = 5000


def unescape(text: str) -> str:
    r"""Replace ``\uXXXX`` and ``\UXXXXXXXX`` everywhere, as Oxigraph does before it parses (SPARQL 1.1 §19.2).

    >>> unescape(r"\u004cOAD <x>")
    'LOAD <x>'
    """
    def one(m: re.Match[str]) -> str:
        code = int(m.group(1) or m.group(2), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return m.group(0)
        return chr(code)

    return _ESCAPE.sub(one, text) if "\\" in text else text


class RefusedOperation(BudgetKGError):
    """The request would make the server fetch something outside its store (SERVICE, LOAD)."""

    def __init__(self, keyword: str, target: str | None, reason: str) -> None:
        self.keyword = keyword
        self.target = target
        self.reason = reason
        where = f" {target}" if target else ""
        super().__init__(f"{keyword}{where} refused: {reason}")


class TooComplex(BudgetKGError):
    """The request is nested deeper, or has more terms, than the server's limits (refused before parsing)."""

    def __init__(self, what: str, found: int, limit: int, setting: str) -> None:
        self.what = what
        self.found = found
        self.limit = limit
        self.setting = setting
        super().__init__(f"the request {what.format(n=found)}; at most {limit} are allowed ({setting})")


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
    #: Deepest nesting of ``{``, ``(``, ``[`` and ``<<`` outside strings, IRIs and comments.
    nesting: int = 0
    #: Tokens outside VALUES and INSERT/DELETE DATA blocks (what Oxigraph builds trees from).
    terms: int = 0


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        out.append((kind or "other", m.group()))
    return out


def _local(local: str) -> str:
    """A prefixed name's local part as an IRI part (``\\`` escapes dropped; %XX kept, as the grammar says)."""
    return re.sub(r"\\(.)", r"\1", local)


def inspect(text: str, default_prefixes: dict[str, str] | None = None) -> Shape:
    """Tokenise a query or update and report its form, SERVICE and LOAD targets, FROM use, nesting and size."""
    toks = _tokens(unescape(text))
    prefixes = dict(default_prefixes or {})
    base: str | None = None
    form: str | None = None
    services: list[str | None] = []
    loads: list[str | None] = []
    has_dataset = False
    depth = 0
    nesting = deepest = 0
    terms = 0
    data_until = -1  # tokens up to this index are inside a VALUES or DATA block
    blocks = True

    def resolve(kind: str, value: str) -> str | None:
        if kind == "iri":
            iri = value[1:-1]
            return urljoin(base, iri) if base and not urlsplit(iri).scheme else iri
        if kind == "pname":
            pfx, _, local = value.partition(":")
            if pfx.upper().startswith(("SILENT", *_KEYWORDS)) or pfx not in prefixes:
                return None  # ambiguous (SERVICE SILENT:x) or undeclared: cannot know it before running
            return prefixes[pfx] + _local(local)
        return None

    def block_end(i: int) -> int:
        """Index of the ``}`` closing the block whose ``{`` is at or after ``i`` (-1: none)."""
        seek = min(len(toks), i + 1000)  # a VALUES variable list is short; never rescan the whole text
        while i < seek and toks[i] != ("other", "{"):
            if toks[i][0] == "other" and toks[i][1] in "}":
                return -1
            i += 1
        if i >= seek:
            return -1
        level = 0
        for j in range(i, len(toks)):
            if toks[j] == ("other", "{"):
                level += 1
            elif toks[j] == ("other", "}"):
                level -= 1
                if level == 0:
                    return j
        return -1

    i = 0
    while i < len(toks):
        kind, value = toks[i]
        up = value.upper()
        nxt = toks[i + 1] if i + 1 < len(toks) else ("eof", "")
        if i > data_until:
            terms += 1
            if blocks and kind == "word" and (up == "VALUES" or (up == "DATA" and i > 0 and toks[i - 1][1].upper()
                                                                 in ("INSERT", "DELETE"))):
                data_until = block_end(i + 1)
                blocks = data_until >= 0  # an unclosed block: malformed, and no later block is looked for
        if kind == "other":
            if value in _OPEN or (value == "<" and nxt == ("other", "<")):
                nesting += 1
                deepest = max(deepest, nesting)
            elif value in _CLOSE or (value == ">" and nxt == ("other", ">")):
                nesting -= 1
            if value == "{":
                depth += 1
            elif value == "}":
                depth -= 1
        elif kind == "word" and up == "PREFIX" and nxt[0] == "pname":
            after = toks[i + 2] if i + 2 < len(toks) else ("eof", "")
            if after[0] == "iri" and nxt[1].endswith(":"):
                prefixes[nxt[1][:-1]] = resolve("iri", after[1]) or ""
                terms += 2 if i > data_until else 0
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
        if (kind == "word" and up.startswith(_KEYWORDS)) or (
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
            if i > data_until:
                terms += j - i - 1
            i = j
            continue
        i += 1
    return Shape(form, tuple(services), tuple(loads), has_dataset, deepest, terms)


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


def _refuse_targets(shape: Shape, allowlist: tuple[str, ...]) -> None:
    for keyword, targets in (("SERVICE", shape.services), ("LOAD", shape.loads)):
        for target in targets:
            if target is None:
                raise RefusedOperation(keyword, None, "its target cannot be known before the request runs "
                                                      "(a variable or an ambiguous prefixed name)")
            if not allowed(target, allowlist):
                raise RefusedOperation(keyword, target, "not in the allow-list (BUDGETKG_SERVICE_ALLOWLIST)")


def check(text: str, allowlist: tuple[str, ...], default_prefixes: dict[str, str] | None = None, *,
          max_depth: int = MAX_NESTING, max_terms: int = MAX_TERMS) -> Shape:
    """:func:`inspect` ``text`` and raise :class:`TooComplex` past the limits, :class:`RefusedOperation`
    for a SERVICE or LOAD not allow-listed.

    >>> check("SELECT * WHERE " + "{" * 201 + "}" * 201, ())
    Traceback (most recent call last):
    ...
    server.safety.TooComplex: the request nests brackets 201 levels deep; at most 200 are allowed \
(BUDGETKG_MAX_QUERY_DEPTH)
    """
    shape = inspect(text, default_prefixes)
    if shape.nesting > max_depth:
        raise TooComplex("nests brackets {n} levels deep", shape.nesting, max_depth, "BUDGETKG_MAX_QUERY_DEPTH")
    if shape.terms > max_terms:
        raise TooComplex("has {n} terms outside VALUES and DATA blocks", shape.terms, max_terms,
                         "BUDGETKG_MAX_QUERY_TERMS")
    _refuse_targets(shape, allowlist)
    return shape


def _rdflib_targets(text: str, update: bool,
                    default_prefixes: dict[str, str]) -> tuple[list[str | None], list[str | None]]:
    """SERVICE and LOAD targets as rdflib's SPARQL 1.1 parser reads ``text`` (raises on what it cannot read)."""
    # rdflib's SPARQL parser is slow to import (~0.1 s): only requests that mention SERVICE or LOAD need it
    from pyparsing import ParseResults
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
    from rdflib.plugins.sparql.parserutils import CompValue
    from rdflib.term import URIRef, Variable

    tree = parseUpdate(text) if update else parseQuery(text)
    services: list[str | None] = []
    loads: list[str | None] = []
    prefixes = dict(default_prefixes)
    base: list[str | None] = [None]

    def term(t: object) -> str | None:
        if isinstance(t, CompValue) and t.name == "pname":
            pfx = t.get("prefix") or ""
            local = t.get("localname") or ""
            return prefixes[pfx] + _local(str(local)) if pfx in prefixes else None
        if isinstance(t, URIRef):
            iri = str(t)
            return urljoin(base[0], iri) if base[0] and not urlsplit(iri).scheme else iri
        if isinstance(t, Variable):
            return None
        return None

    def walk(node: object) -> None:
        if isinstance(node, CompValue):
            if node.name == "PrefixDecl":
                prefixes[str(node.get("prefix") or "")] = term(node.get("iri")) or ""
            elif node.name == "Base":
                base[0] = term(node.get("iri"))
            elif node.name == "ServiceGraphPattern":
                services.append(term(node.get("term")))
            elif node.name == "Load":
                loads.append(term(node.get("iri")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple | ParseResults):
            for value in node:
                walk(value)

    walk(tree)
    return services, loads


#: rdflib's parser (pyparsing) recurses some 40 Python frames per bracket level: it runs in a thread with a
#: stack large enough for :data:`MAX_NESTING` levels (the memory is reserved, not used, until it is needed).
_PARSE_STACK = 512 * 1024 * 1024
_PARSE_FRAMES = 100_000


def _deep(fn: Callable[[], T]) -> T:
    """``fn()`` in a thread with a deep stack and a high recursion limit (restored afterwards)."""
    out: list[T] = []
    err: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            err.append(exc)

    with _DEEP:
        old_size = threading.stack_size(_PARSE_STACK)
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, _PARSE_FRAMES))
        try:
            t = threading.Thread(target=target, name="budgetkg-sparql-check")
            t.start()
        finally:
            threading.stack_size(old_size)
        t.join()
        sys.setrecursionlimit(old_limit)
    if err:
        raise err[0]
    return out[0]


_DEEP = threading.Lock()


def verify(text: str, allowlist: tuple[str, ...], default_prefixes: dict[str, str] | None = None, *,
           update: bool = False) -> None:
    """Decide SERVICE and LOAD on what a SPARQL parser parses (layer 2 of the module docstring).

    >>> verify("SELECT * WHERE { ?s ?p ?o }", ())
    >>> verify("SELECT * WHERE { ?s ?p 'download' }", ())
    >>> verify(r"SELECT * WHERE { ?s ?p ?o } #\\u000A SERVICE <http://x/> { }", ())
    Traceback (most recent call last):
    ...
    server.safety.RefusedOperation: SERVICE http://x/ refused: not in the allow-list (BUDGETKG_SERVICE_ALLOWLIST)
    """
    plain = unescape(text)
    if not _KEYWORD_TEXT.search(plain):
        return  # neither keyword can be parsed from a text that does not contain it
    prefixes = dict(default_prefixes or {})
    shape = inspect(text, prefixes)
    _refuse_targets(shape, allowlist)
    try:
        services, loads = _deep(lambda: _rdflib_targets(text, update, prefixes))
    except RecursionError:
        raise RefusedOperation("SERVICE or LOAD", None, "the request mentions SERVICE or LOAD and is nested too "
                                                        "deeply to be checked") from None
    except Exception as exc:  # pyparsing's ParseException, ValueError for a bad escape, …
        reason = ("the request mentions SERVICE or LOAD and rdflib's SPARQL 1.1 parser cannot read it, so it is "
                  f"refused rather than guessed ({exc})")
        raise RefusedOperation("SERVICE or LOAD", None, reason[:600]) from None
    found = Shape(shape.form, tuple(services), tuple(loads), shape.has_dataset)
    if sorted(map(str, found.services)) != sorted(map(str, shape.services)) or \
            sorted(map(str, found.loads)) != sorted(map(str, shape.loads)):
        raise RefusedOperation("SERVICE or LOAD", None, "two SPARQL readers disagree about where the request "
                               f"calls out (SERVICE {list(found.services)} / {list(shape.services)}, LOAD "
                               f"{list(found.loads)} / {list(shape.loads)})")
    _refuse_targets(found, allowlist)
