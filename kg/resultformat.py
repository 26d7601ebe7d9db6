"""How the SPARQL 1.1 result formats write a term, a cell and a row: JSON, XML, CSV and TSV.

One place for the spelling that :mod:`server.results` writes every SELECT result with, and that the build uses to
write some rows ahead (:func:`kg.answers.spelled_rows`), so both spell a row the same, byte for byte.

A row of ``fmt`` is its start (:data:`ROW_START`), each column's cell as :func:`cell` writes it (the cell brings
what stands between it and the cell before), and its end (:data:`ROW_END`)::

    >>> from pyoxigraph import Literal, NamedNode
    >>> row = [Literal("满意度", language="zh"), NamedNode("http://example.org/a"), None]
    >>> "".join(cell("csv", ["x", "y", "z"], k)(t) for k, t in enumerate(row)) + ROW_END["csv"]
    '满意度,http://example.org/a,\\r\\n'
    >>> "".join(cell("json", ["x", "y", "z"], k)(t) for k, t in enumerate(row)) + ROW_END["json"]
    '{"x":{"type":"literal","value":"满意度","xml:lang":"zh"},"y":{"type":"uri","value":"http://example.org/a"}},'

A JSON row whose first cell is unbound is written otherwise (its first bound cell has no comma before it):
:mod:`server.results` places the commas of such rows one by one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from functools import partial
from xml.sax.saxutils import escape, quoteattr

from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from .namespaces import SPARQL_RESULTS, XSD

#: Plain literals have this datatype; the result formats leave it out.
XSD_STRING = XSD.string.value
#: The SELECT result formats, by the short name the server and the command line use.
FORMATS = ("json", "xml", "csv", "tsv")
#: What a row starts and ends with, by format (JSON: the comma after the last solution is dropped).
ROW_START = {"json": "", "xml": "<result>", "csv": "", "tsv": ""}
ROW_END = {"json": "},", "xml": "</result>", "csv": "\r\n", "tsv": "\n"}

#: A term of a solution (RDF 1.2: a triple may be the object of another).
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


#: How the JSON results are written (compact, UTF-8 as is).
JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_document(names: Sequence[str]) -> tuple[str, str]:
    """The JSON results document around its bindings: what comes before the first and after the last."""
    empty = JSON.encode({"head": {"vars": list(names)}, "results": {"bindings": []}})
    return empty[:-3], empty[-3:]


def json_binding(name: str, t: Term) -> str:
    """``"name":{…}``: a binding as it stands in a solution's object."""
    return JSON.encode({name: term_json(t)})[1:-1]


def xml_document(names: Sequence[str]) -> tuple[str, str]:
    head = "".join([f'<?xml version="1.0" encoding="UTF-8"?>\n<sparql xmlns={quoteattr(str(SPARQL_RESULTS))}>'
                    "<head>", *(f"<variable name={quoteattr(n)}/>" for n in names), "</head><results>"])
    return head, "</results></sparql>\n"


def xml_binding(name: str, t: Term) -> str:
    return f"<binding name={quoteattr(name)}>{term_xml(t)}</binding>"


def csv_header(names: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(names)
    return buf.getvalue()


def tsv_header(names: Sequence[str]) -> str:
    return "\t".join("?" + v for v in names) + "\n"


#: What a CSV field is quoted for (the delimiter, the quote, a line end); any other field is written as it is.
_CSV_SPECIAL = frozenset(',"\r\n')


def csv_field(value: str, alone: bool) -> str:
    """``value`` as :mod:`csv` writes it in a row (``alone``: the row's only field, where "" is written ``""``)."""
    if not value:
        return '""' if alone else ""
    if not _CSV_SPECIAL.intersection(value):
        return value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([value])
    return buf.getvalue()[:-2]


def _json_cell(lead: str, name: str, t: Term | None) -> str:
    return "" if t is None else lead + json_binding(name, t)


def _xml_cell(name: str, t: Term | None) -> str:
    return "" if t is None else xml_binding(name, t)


def _csv_cell(lead: str, alone: bool, t: Term | None) -> str:
    return lead + csv_field(term_csv(t), alone)


def _tsv_cell(lead: str, t: Term | None) -> str:
    return lead + term_tsv(t)


def cell(fmt: str, names: Sequence[str], k: int) -> Callable[[Term | None], str]:
    """How column ``k`` of a row of ``names`` is written in ``fmt``: the cell, with what stands before it in its row
    (a JSON solution's ``{`` or comma, a CSV comma, a TSV tab). An unbound JSON or XML cell is written as nothing."""
    if fmt == "json":
        return partial(_json_cell, "," if k else "{", names[k])
    if fmt == "xml":
        return partial(_xml_cell, names[k])
    if fmt == "csv":
        return partial(_csv_cell, "," if k else "", len(names) == 1)
    if fmt == "tsv":
        return partial(_tsv_cell, "\t" if k else "")
    raise ValueError(f"no SELECT result format {fmt!r}")


def document(fmt: str, names: Sequence[str]) -> tuple[str, str]:
    """What comes before a result's first row and after its last, in ``fmt``."""
    if fmt == "json":
        return json_document(names)
    if fmt == "xml":
        return xml_document(names)
    if fmt == "csv":
        return csv_header(names), ""
    if fmt == "tsv":
        return tsv_header(names), ""
    raise ValueError(f"no SELECT result format {fmt!r}")
