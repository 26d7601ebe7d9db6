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
from collections.abc import Sequence
from itertools import islice
from xml.sax.saxutils import escape, quoteattr

from pyoxigraph import (
    BlankNode,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
    Triple,
    serialize,
)

from kg.namespaces import PREFIXES, SPARQL_RESULTS, XSD

#: Plain literals have this datatype; the result formats leave it out.
XSD_STRING = XSD.string.value

BOOLEAN_FORMATS = {"json": QueryResultsFormat.JSON, "xml": QueryResultsFormat.XML,
                   "csv": QueryResultsFormat.CSV, "tsv": QueryResultsFormat.TSV}
RDF_FORMATS = {"turtle": RdfFormat.TURTLE, "ntriples": RdfFormat.N_TRIPLES, "rdfxml": RdfFormat.RDF_XML,
               "jsonld": RdfFormat.JSON_LD, "nquads": RdfFormat.N_QUADS, "trig": RdfFormat.TRIG}
#: Formats whose serialiser writes prefix declarations.
WITH_PREFIXES = {"turtle", "trig", "rdfxml"}


#: A term of a solution or of a triple (RDF 1.2: a triple may be the object of another).
Term = NamedNode | BlankNode | Literal | Triple


def term_json(t: Term) -> dict[str, object]:
    """A term as a SPARQL 1.1 JSON results binding."""
    if isinstance(t, NamedNode):
        return {"type": "uri", "value": t.value}
    if isinstance(t, Literal):
        d: dict[str, object] = {"type": "literal", "value": t.value}
        if t.language:
            d["xml:lang"] = t.language
            if t.direction:
                d["its:dir"] = str(t.direction)
        elif t.datatype.value != XSD_STRING:
            d["datatype"] = t.datatype.value
        return d
    if isinstance(t, BlankNode):
        return {"type": "bnode", "value": t.value}
    if isinstance(t, Triple):
        return {"type": "triple", "value": {"subject": term_json(t.subject),
                                            "predicate": term_json(t.predicate),
                                            "object": term_json(t.object)}}
    raise TypeError(f"not an RDF term: {t!r}")


def term_xml(t: Term) -> str:
    if isinstance(t, NamedNode):
        return f"<uri>{escape(t.value)}</uri>"
    if isinstance(t, Literal):
        if t.language:
            return f"<literal xml:lang={quoteattr(t.language)}>{escape(t.value)}</literal>"
        if t.datatype.value != XSD_STRING:
            return f"<literal datatype={quoteattr(t.datatype.value)}>{escape(t.value)}</literal>"
        return f"<literal>{escape(t.value)}</literal>"
    if isinstance(t, BlankNode):
        return f"<bnode>{escape(t.value)}</bnode>"
    if isinstance(t, Triple):
        return (f"<triple><subject>{term_xml(t.subject)}</subject><predicate>{term_xml(t.predicate)}"
                f"</predicate><object>{term_xml(t.object)}</object></triple>")
    raise TypeError(f"not an RDF term: {t!r}")


def term_csv(t: Term | None) -> str:
    if t is None:
        return ""
    if isinstance(t, BlankNode):
        return "_:" + t.value
    if isinstance(t, Triple):
        return str(t)
    return t.value


def term_tsv(t: Term | None) -> str:
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
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<sparql xmlns={quoteattr(str(SPARQL_RESULTS))}>'
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
    return result.serialize(format=BOOLEAN_FORMATS[fmt]) or b""


def triples_bytes(result: QueryTriples | list[Triple], fmt: str, max_rows: int | None) -> tuple[bytes, int, bool]:
    """``(body, triples written, truncated)`` for a graph result in ``fmt``."""
    triples = list(islice(result, max_rows + 1)) if max_rows is not None else list(result)
    truncated = max_rows is not None and len(triples) > max_rows
    if truncated:
        triples = triples[:max_rows]
    return rdf_bytes(triples, fmt), len(triples), truncated


_PREFIX_OF = {ns: p for p, ns in PREFIXES.items()}


def used_prefixes(items: Sequence[Triple | Quad]) -> dict[str, str]:
    """The project prefixes whose namespace some IRI (or datatype) of ``items`` is in.

    >>> from pyoxigraph import Triple
    >>> from kg.namespaces import BK, RDF
    >>> used_prefixes([Triple(BK.Project, RDF.type, Literal("1", datatype=BK.x))])
    {'bk': 'https://budgetkg.example.org/def/', 'rdf': 'http://www.w3.org/1999/02/22-rdf-syntax-ns#'}
    """
    seen: set[str] = set()
    found: dict[str, str] = {}

    def visit(t: Term) -> None:
        if isinstance(t, NamedNode):
            iri = t.value
        elif isinstance(t, Literal):
            iri = t.datatype.value
        elif isinstance(t, Triple):
            visit(t.subject)
            visit(t.predicate)
            visit(t.object)
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
        visit(x.subject)
        visit(x.predicate)
        visit(x.object)
    return dict(sorted(found.items()))


def rdf_bytes(items: Sequence[Triple] | Sequence[Quad], fmt: str) -> bytes:
    """Triples or quads in an RDF format (Turtle, TriG and RDF/XML declare the project prefixes they use)."""
    prefixes = used_prefixes(items) if fmt in WITH_PREFIXES else None
    return serialize(items, format=RDF_FORMATS[fmt], prefixes=prefixes) or b""
