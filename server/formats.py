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
        q = 1.0
        for param in fields[1:]:
            k, _, v = param.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(v)))
                except ValueError:
                    q = 0.0
        ranges.append((typ, sub, q, pos))
    return ranges


@lru_cache(maxsize=1024)
def _choose(accept: str, offers: tuple[Format, ...]) -> Format | None:
    ranges = _parse_accept(accept)
    if not ranges:
        return offers[0]
    best: tuple[float, int, int, int] | None = None
    chosen = None
    for rank, f in enumerate(offers):
        for mt in f.answers():
            typ, _, sub = mt.partition("/")
            # the most specific range that matches decides the quality of this media type
            spec, q, pos = -1, 0.0, 0
            for rt, rs, rq, rp in ranges:
                if rt == typ and rs == sub:
                    s = 2
                elif rt == typ and rs == "*":
                    s = 1
                elif rt == "*" and rs == "*":
                    s = 0
                else:
                    continue
                if s > spec:
                    spec, q, pos = s, rq, rp
            if spec < 0 or q <= 0:
                continue
            # higher q wins, then an explicitly named type, then the client's order, then ours
            key = (q, spec, -pos, -rank)
            if best is None or key > best:
                best, chosen = key, f
    return chosen


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
