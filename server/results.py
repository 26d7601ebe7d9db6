"""Serialise query results, reading at most ``max_rows`` rows (SELECT solutions or CONSTRUCT triples).

pyoxigraph's result serialisers write every row, so SELECT results are written here, in the
SPARQL 1.1 JSON, XML, CSV and TSV formats, from the first ``max_rows`` solutions; the
iterator is not read further, so a huge result costs no more than the rows that are sent.
Triples are collected up to the cap and handed to pyoxigraph's RDF serialisers.

>>> from pyoxigraph import Store
>>> body, n, cut = select_bytes(Store().query("SELECT ?x WHERE { VALUES ?x { 1 2 3 } }"), "csv", 2)
>>> body, n, cut
(b'x\\r\\n1\\r\\n2\\r\\n', 2, True)
"""

from __future__ import annotations

import csv
import io
import json
from itertools import islice
from xml.sax.saxutils import escape, quoteattr

from pyoxigraph import (
    BlankNode,
    Literal,
    NamedNode,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
    Triple,
    serialize,
)

from kg.namespaces import PREFIXES

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

BOOLEAN_FORMATS = {"json": QueryResultsFormat.JSON, "xml": QueryResultsFormat.XML,
                   "csv": QueryResultsFormat.CSV, "tsv": QueryResultsFormat.TSV}
RDF_FORMATS = {"turtle": RdfFormat.TURTLE, "ntriples": RdfFormat.N_TRIPLES, "rdfxml": RdfFormat.RDF_XML,
               "jsonld": RdfFormat.JSON_LD, "nquads": RdfFormat.N_QUADS, "trig": RdfFormat.TRIG}
#: Formats whose serialiser writes prefix declarations.
WITH_PREFIXES = {"turtle", "trig", "rdfxml"}


def term_json(t: object) -> dict[str, object]:
    """A term as a SPARQL 1.1 JSON results binding."""
    tt = type(t)
    if tt is NamedNode:
        return {"type": "uri", "value": t.value}  # type: ignore[attr-defined]
    if tt is Literal:
        d: dict[str, object] = {"type": "literal", "value": t.value}  # type: ignore[attr-defined]
        if t.language:  # type: ignore[attr-defined]
            d["xml:lang"] = t.language  # type: ignore[attr-defined]
            if t.direction:  # type: ignore[attr-defined]
                d["its:dir"] = str(t.direction)  # type: ignore[attr-defined]
        elif t.datatype.value != XSD_STRING:  # type: ignore[attr-defined]
            d["datatype"] = t.datatype.value  # type: ignore[attr-defined]
        return d
    if tt is BlankNode:
        return {"type": "bnode", "value": t.value}  # type: ignore[attr-defined]
    if tt is Triple:
        return {"type": "triple", "value": {"subject": term_json(t.subject),  # type: ignore[attr-defined]
                                            "predicate": term_json(t.predicate),  # type: ignore[attr-defined]
                                            "object": term_json(t.object)}}  # type: ignore[attr-defined]
    raise TypeError(f"not an RDF term: {t!r}")


def term_xml(t: object) -> str:
    tt = type(t)
    if tt is NamedNode:
        return f"<uri>{escape(t.value)}</uri>"  # type: ignore[attr-defined]
    if tt is Literal:
        if t.language:  # type: ignore[attr-defined]
            return f"<literal xml:lang={quoteattr(t.language)}>{escape(t.value)}</literal>"  # type: ignore[attr-defined]
        if t.datatype.value != XSD_STRING:  # type: ignore[attr-defined]
            return f"<literal datatype={quoteattr(t.datatype.value)}>{escape(t.value)}</literal>"  # type: ignore[attr-defined]
        return f"<literal>{escape(t.value)}</literal>"  # type: ignore[attr-defined]
    if tt is BlankNode:
        return f"<bnode>{escape(t.value)}</bnode>"  # type: ignore[attr-defined]
    if tt is Triple:
        return (f"<triple><subject>{term_xml(t.subject)}</subject><predicate>{term_xml(t.predicate)}"  # type: ignore[attr-defined]
                f"</predicate><object>{term_xml(t.object)}</object></triple>")  # type: ignore[attr-defined]
    raise TypeError(f"not an RDF term: {t!r}")


def term_csv(t: object) -> str:
    if t is None:
        return ""
    if type(t) is BlankNode:
        return "_:" + t.value  # type: ignore[attr-defined]
    if type(t) is Triple:
        return str(t)
    return t.value  # type: ignore[attr-defined]


def term_tsv(t: object) -> str:
    return "" if t is None else str(t)


def select_bytes(result: QuerySolutions, fmt: str, max_rows: int) -> tuple[bytes, int, bool]:
    """``(body, rows written, truncated)`` for a SELECT result in ``fmt`` (json, xml, csv, tsv)."""
    names = [v.value for v in result.variables]
    rows = list(islice(result, max_rows + 1))
    truncated = len(rows) > max_rows
    if truncated:
        rows = rows[:max_rows]
    if fmt == "json":
        bindings = []
        for sol in rows:
            b = {}
            for n in names:
                t = sol[n]
                if t is not None:
                    b[n] = term_json(t)
            bindings.append(b)
        doc = {"head": {"vars": names}, "results": {"bindings": bindings}}
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    elif fmt == "xml":
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                 "<head>", *(f"<variable name={quoteattr(n)}/>" for n in names), "</head><results>"]
        for sol in rows:
            parts.append("<result>")
            for n in names:
                t = sol[n]
                if t is not None:
                    parts.append(f"<binding name={quoteattr(n)}>{term_xml(t)}</binding>")
            parts.append("</result>")
        parts.append("</results></sparql>\n")
        body = "".join(parts).encode("utf-8")
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(names)
        w.writerows([term_csv(sol[n]) for n in names] for sol in rows)
        body = buf.getvalue().encode("utf-8")
    elif fmt == "tsv":
        lines = ["\t".join("?" + n for n in names)]
        lines.extend("\t".join(term_tsv(sol[n]) for n in names) for sol in rows)
        body = ("\n".join(lines) + "\n").encode("utf-8")
    else:
        raise ValueError(f"no SELECT result format {fmt!r}")
    return body, len(rows), truncated


def select_table(result: QuerySolutions, max_rows: int) -> tuple[list[str], list[list[object]], bool]:
    """``(variables, rows of terms, truncated)`` for an HTML table."""
    names = [v.value for v in result.variables]
    rows = list(islice(result, max_rows + 1))
    truncated = len(rows) > max_rows
    return names, [[sol[n] for n in names] for sol in rows[:max_rows]], truncated


def boolean_bytes(result: QueryBoolean, fmt: str) -> bytes:
    return result.serialize(format=BOOLEAN_FORMATS[fmt])


def triples_bytes(result: QueryTriples | list[Triple], fmt: str, max_rows: int | None) -> tuple[bytes, int, bool]:
    """``(body, triples written, truncated)`` for a graph result in ``fmt``."""
    triples = list(islice(result, max_rows + 1)) if max_rows is not None else list(result)
    truncated = max_rows is not None and len(triples) > max_rows
    if truncated:
        triples = triples[:max_rows]
    return rdf_bytes(triples, fmt), len(triples), truncated


_PREFIX_OF = {ns: p for p, ns in PREFIXES.items()}


def used_prefixes(items: list[object]) -> dict[str, str]:
    """The project prefixes whose namespace some IRI (or datatype) of ``items`` is in.

    >>> from pyoxigraph import Triple
    >>> from kg.namespaces import BK, RDF
    >>> used_prefixes([Triple(BK.Project, RDF.type, Literal("1", datatype=BK.x))])
    {'bk': 'https://budgetkg.example.org/def/', 'rdf': 'http://www.w3.org/1999/02/22-rdf-syntax-ns#'}
    """
    seen: set[str] = set()
    found: dict[str, str] = {}

    def visit(t: object) -> None:
        tt = type(t)
        if tt is NamedNode:
            iri = t.value  # type: ignore[attr-defined]
        elif tt is Literal:
            iri = t.datatype.value  # type: ignore[attr-defined]
        elif tt is Triple:
            visit(t.subject)  # type: ignore[attr-defined]
            visit(t.predicate)  # type: ignore[attr-defined]
            visit(t.object)  # type: ignore[attr-defined]
            return
        else:
            return
        for cut in (iri.rfind("/"), iri.rfind("#")):
            ns = iri[:cut + 1]
            if cut > 0 and ns not in seen:
                seen.add(ns)
                p = _PREFIX_OF.get(ns)
                if p:
                    found[p] = ns

    for x in items:
        visit(x.subject)  # type: ignore[attr-defined]
        visit(x.predicate)  # type: ignore[attr-defined]
        visit(x.object)  # type: ignore[attr-defined]
    return dict(sorted(found.items()))


def rdf_bytes(items: list[object], fmt: str) -> bytes:
    """Triples or quads in an RDF format (Turtle, TriG and RDF/XML declare the project prefixes they use)."""
    kwargs = {"prefixes": used_prefixes(items)} if fmt in WITH_PREFIXES else {}
    return serialize(items, format=RDF_FORMATS[fmt], **kwargs) or b""
