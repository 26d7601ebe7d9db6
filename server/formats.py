"""Result and RDF formats the server speaks, and HTTP content negotiation between them.

A client chooses a format with a ``format=`` URL parameter (a short name such as ``csv`` or a media
type) or, failing that, with its ``Accept`` header; the first format of the offer list is the
default for ``*/*`` or no header. Unknown ``format=`` values are ignored rather than refused,
because generic clients (SPARQLWrapper) send several (``format=json&output=json``).

>>> choose("text/csv;q=0.5, application/sparql-results+xml", RESULT_FORMATS).name
'xml'
>>> choose(None, GRAPH_FORMATS).name
'turtle'
>>> choose("image/png", RESULT_FORMATS) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Format:
    """One serialisation: a short name (``format=``), its media type, other media types it answers, a suffix."""

    name: str
    media_type: str
    aliases: tuple[str, ...] = ()
    suffix: str | None = None
    #: ``results`` (SELECT/ASK), ``graph`` (triples), ``dataset`` (quads) or ``page`` (HTML).
    kind: str = "results"

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header value (UTF-8 stated for every text format)."""
        return f"{self.media_type}; charset=utf-8"

    def answers(self) -> tuple[str, ...]:
        return (self.media_type, *self.aliases)


JSON = Format("json", "application/sparql-results+json", ("application/json",), ".srj")
XML = Format("xml", "application/sparql-results+xml", ("application/xml", "text/xml"), ".srx")
CSV = Format("csv", "text/csv", (), ".csv")
TSV = Format("tsv", "text/tab-separated-values", (), ".tsv")

TURTLE = Format("turtle", "text/turtle", ("application/x-turtle", "application/turtle"), ".ttl", "graph")
JSONLD = Format("jsonld", "application/ld+json", ("application/json",), ".jsonld", "graph")
NTRIPLES = Format("ntriples", "application/n-triples", ("text/plain",), ".nt", "graph")
RDFXML = Format("rdfxml", "application/rdf+xml", ("application/xml", "text/xml"), ".rdf", "graph")

NQUADS = Format("nquads", "application/n-quads", (), ".nq", "dataset")
TRIG = Format("trig", "application/trig", (), ".trig", "dataset")

HTML = Format("html", "text/html", ("application/xhtml+xml",), ".html", "page")

#: SELECT and ASK results, default first.
RESULT_FORMATS: tuple[Format, ...] = (JSON, XML, CSV, TSV)
#: CONSTRUCT and DESCRIBE results, default first.
GRAPH_FORMATS: tuple[Format, ...] = (TURTLE, JSONLD, NTRIPLES, RDFXML)
#: Whole datasets (Graph Store Protocol on every graph, dumps).
DATASET_FORMATS: tuple[Format, ...] = (TRIG, NQUADS)

#: ``format=`` values (short names, common spellings, media types) → format, per kind.
_NAMES: dict[str, dict[str, Format]] = {
    "results": {"json": JSON, "srj": JSON, "xml": XML, "srx": XML, "csv": CSV, "tsv": TSV},
    "graph": {"turtle": TURTLE, "ttl": TURTLE, "jsonld": JSONLD, "json-ld": JSONLD, "json": JSONLD,
              "ntriples": NTRIPLES, "n-triples": NTRIPLES, "nt": NTRIPLES, "rdfxml": RDFXML, "rdf+xml": RDFXML,
              "xml": RDFXML, "rdf": RDFXML},
    "dataset": {"trig": TRIG, "nquads": NQUADS, "n-quads": NQUADS, "nq": NQUADS},
    "page": {"html": HTML},
}
for _kind, _table in list(_NAMES.items()):
    for _f in [*RESULT_FORMATS, *GRAPH_FORMATS, *DATASET_FORMATS, HTML]:
        if _f.kind == _kind:
            for _mt in _f.answers():
                _table.setdefault(_mt, _f)

#: File suffix → format, for linked-data URLs such as ``/agency/341101.ttl``.
SUFFIXES: dict[str, Format] = {f.suffix: f for f in (TURTLE, JSONLD, NTRIPLES, RDFXML, HTML) if f.suffix}
SUFFIXES[".json"] = JSONLD


def by_name(value: str, offers: tuple[Format, ...]) -> Format | None:
    """The offered format a ``format=`` value names, or ``None``.

    >>> by_name("CSV", RESULT_FORMATS).media_type
    'text/csv'
    >>> by_name("xml", GRAPH_FORMATS).name
    'rdfxml'
    """
    v = value.strip().lower()
    for f in offers:
        hit = _NAMES[f.kind].get(v)
        if hit is f:
            return f
    return None


def _parse_accept(accept: str) -> list[tuple[str, str, float, int]]:
    """``(type, subtype, q, position)`` for each media range of an Accept header."""
    ranges = []
    for pos, part in enumerate(accept.split(",")):
        fields = part.strip().split(";")
        mt = fields[0].strip().lower()
        if not mt:
            continue
        if mt == "*":
            mt = "*/*"
        typ, _, sub = mt.partition("/")
        if not sub:
            continue
        ranges.append((typ, sub, _q_weight(fields[1:]), pos))
    return ranges


def _quality(ranges: list[tuple[str, str, float, int]], media_type: str,
             exact_only: bool) -> tuple[float, int, int] | None:
    """``(q, specificity, position)`` of the most specific range matching ``media_type`` (RFC 9110 §12.5.1)."""
    typ, _, sub = media_type.partition("/")
    found: tuple[float, int, int] | None = None
    for rt, rs, rq, rp in ranges:
        if rt == typ and rs == sub:
            s = 2
        elif exact_only:
            continue
        elif rt == typ and rs == "*":
            s = 1
        elif rt == "*" and rs == "*":
            s = 0
        else:
            continue
        if found is None or s > found[1]:
            found = (rq, s, rp)
    return found


@lru_cache(maxsize=1024)
def _choose(accept: str, offers: tuple[Format, ...]) -> Format | None:
    """The offer the client prefers (RFC 9110 §12.5.1).

    A format is judged by its own media type, which ``*/*`` and ``type/*`` ranges match; its aliases
    (``application/json`` for SPARQL JSON, ``text/xml`` …) count only where the client names them.
    ``q=0`` means "not acceptable": a format whose media type, or an alias the client names, has
    ``q=0`` is never chosen, whatever a wider range allows.

    >>> _choose("text/*", RESULT_FORMATS).name
    'csv'
    >>> _choose("application/sparql-results+json;q=0, */*;q=0.1", RESULT_FORMATS).name
    'xml'
    >>> _choose("application/json;q=0, */*;q=0.1", RESULT_FORMATS).name
    'xml'
    """
    ranges = _parse_accept(accept)
    if not ranges:
        return offers[0]
    best: tuple[float, int, int, int] | None = None
    chosen = None
    for rank, f in enumerate(offers):
        own = _quality(ranges, f.media_type, exact_only=False)
        named = [q for q in (_quality(ranges, mt, exact_only=True) for mt in f.aliases) if q is not None]
        if (own is not None and own[0] <= 0) or any(q[0] <= 0 for q in named):
            continue  # q=0: not acceptable
        candidates = [q for q in (own, *named) if q is not None]
        if not candidates:
            continue
        q, spec, pos = max(candidates, key=lambda c: (c[0], c[1], -c[2]))
        # higher q wins, then an explicitly named type, then the client's order, then ours
        key = (q, spec, -pos, -rank)
        if best is None or key > best:
            best, chosen = key, f
    return chosen


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether a response may be sent gzip-compressed (RFC 9110 §12.5.3): ``gzip`` or ``*`` with q > 0.

    >>> accepts_gzip("gzip, deflate"), accepts_gzip("gzip;q=0"), accepts_gzip("identity"), accepts_gzip("*;q=0.5")
    (True, False, False, True)
    >>> accepts_gzip("*, gzip;q=0"), accepts_gzip(None)
    (False, False)
    """
    if not accept_encoding:
        return False
    gzip_q: float | None = None
    star_q: float | None = None
    for part in accept_encoding.split(","):
        fields = part.strip().split(";")
        coding = fields[0].strip().lower()
        q = _q_weight(fields[1:])
        if coding in ("gzip", "x-gzip"):
            gzip_q = q
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def choose(accept: str | None, offers: tuple[Format, ...], requested: list[str] | None = None) -> Format | None:
    """The format to answer with: a recognised ``format=`` value first, else the Accept header.

    ``None`` means nothing acceptable is offered (HTTP 406).
    """
    for value in requested or ():
        f = by_name(value, offers)
        if f is not None:
            return f
    if not accept:
        return offers[0]
    return _choose(accept, offers)


def _q_weight(params: list[str]) -> float:
    """The ``q`` weight among an Accept or Accept-Encoding element's parameters (RFC 9110 §12.4.2; 1 if absent).

    >>> _q_weight([" q=0.5"]), _q_weight(["level=1"]), _q_weight(["q=x"]), _q_weight(["Q=2"])
    (0.5, 1.0, 0.0, 1.0)
    """
    for param in params:
        k, _, v = param.strip().partition("=")
        if k.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(v)))
            except ValueError:
                return 0.0
    return 1.0
