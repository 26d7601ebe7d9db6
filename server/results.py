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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice, repeat
from typing import TypeVar, cast

import numpy as np
from numpy.typing import NDArray
from pyoxigraph import (
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

from kg.answers import ROW_MARK, UNBOUND, TableAnswer
from kg.facets import Strings
from kg.namespaces import PREFIXES
from kg.resultformat import (
    FORMATS,
    JSON,
    ROW_END,
    ROW_START,
    Term,
    cell,
    document,
    json_binding,
    term_csv,
    term_json,
    term_tsv,
    xml_binding,
    xml_document,
)

BOOLEAN_FORMATS = {"json": QueryResultsFormat.JSON, "xml": QueryResultsFormat.XML,
                   "csv": QueryResultsFormat.CSV, "tsv": QueryResultsFormat.TSV}
RDF_FORMATS = {"turtle": RdfFormat.TURTLE, "ntriples": RdfFormat.N_TRIPLES, "rdfxml": RdfFormat.RDF_XML,
               "jsonld": RdfFormat.JSON_LD, "nquads": RdfFormat.N_QUADS, "trig": RdfFormat.TRIG}
#: Formats whose serialiser writes prefix declarations.
WITH_PREFIXES = {"turtle", "trig", "rdfxml"}

T = TypeVar("T")


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
        body = JSON.encode(doc).encode("utf-8")
    elif fmt == "xml":
        head, tail = xml_document(names)
        parts = [head]
        for sol in rows:
            parts.append("<result>")
            for n in names:
                t = sol[n]
                if t is not None:
                    parts.append(xml_binding(n, t))
            parts.append("</result>")
        parts.append(tail)
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


def _spelled(answer: TableAnswer, k: int, spell: Callable[[Term | None], T],
             ) -> tuple[NDArray[np.object_], NDArray[np.int32]]:
    """Column ``k`` of ``answer`` as each distinct term that its rows use, read and spelled once (``spell``), and
    each row's index into those spellings (:meth:`kg.answers.TableAnswer.spell`)."""
    spelled, at = answer.spell(k, spell)
    return spelled, at.astype(np.int32)


def _cells(answer: TableAnswer, k: int, spell: Callable[[Term | None], T]) -> list[T]:
    """Column ``k`` of ``answer``, each cell as ``spell`` writes its term: each distinct term read and spelled once."""
    spelled, at = _spelled(answer, k, spell)
    return cast(list[T], spelled[at].tolist())


#: Rows written at a time by :func:`answer_chunks`: a chunk of about a MB, whatever the answer's size.
CHUNK_ROWS = 2_000


@dataclass(frozen=True)
class Streamed:
    """A SELECT result written in chunks as they are read (:func:`answer_chunks`): a worker sends each on as it
    comes (:mod:`server.workers`), so it holds no whole copy of a large answer's document."""

    format: str
    rows: int
    truncated: bool
    chunks: Iterator[bytes]

    def body(self) -> bytes:
        """The whole document (the chunks joined)."""
        return b"".join(self.chunks)


def answer_bytes(answer: TableAnswer, fmt: str, max_rows: int) -> tuple[bytes, int, bool]:
    """:func:`select_bytes` for an answer of the answer table (:class:`kg.answers.TableAnswer`), byte for byte:
    :func:`answer_chunks` joined."""
    chunks, n, truncated = answer_chunks(answer, fmt, max_rows)
    return b"".join(chunks), n, truncated


def answer_chunks(answer: TableAnswer, fmt: str, max_rows: int, rows: int = CHUNK_ROWS,
                  ) -> tuple[Iterator[bytes], int, bool]:
    """``(chunks, rows written, truncated)``: :func:`select_bytes`'s document for an answer of the answer table, in
    chunks of ``rows`` rows, written from its columns: each distinct term of a column spelled once (with what stands
    between it and the cell before), each chunk one join of those spellings, row after row. Besides the spellings,
    only one chunk's cells are held at a time."""
    truncated = len(answer) > max_rows
    if truncated:
        answer = answer.head(max_rows)
    if fmt not in FORMATS:
        raise ValueError(f"no SELECT result format {fmt!r}")
    return _chunks(answer, fmt, max(1, rows)), len(answer), truncated


_Spelled = tuple[NDArray[np.object_], NDArray[np.int32]]


def _chunks(answer: TableAnswer, fmt: str, size: int) -> Iterator[bytes]:
    """The document of :func:`answer_chunks`, chunk after chunk."""
    names, n = list(answer.variables), len(answer)
    width = len(names)
    head, tail = document(fmt, names)
    start, end = ROW_START[fmt].encode("utf-8"), ROW_END[fmt].encode("utf-8")

    def column(k: int, spell: Callable[[Term | None], str]) -> _Spelled:
        return _spelled(answer, k, lambda t: spell(t).encode("utf-8"))

    def cells(columns: list[_Spelled], first: int) -> list[list[bytes]]:
        return [spelled[at[first:first + size]].tolist() for spelled, at in columns]

    def rows(columns: list[_Spelled]) -> Iterator[bytes]:
        """Row after row, ``size`` at a time: the row's start, each column's cell, its end."""
        for first in range(0, n, size):
            m = min(size, n - first)
            parts = [repeat(start, m)] if start else []
            yield b"".join(chain.from_iterable(zip(*parts, *cells(columns, first), repeat(end, m), strict=True)))

    yield head.encode("utf-8")
    written = _written_rows(answer, fmt, size, lambda k: column(k, cell(fmt, names, k)))
    if written is not None:
        body = written
    elif fmt == "json" and width and UNBOUND in answer.distinct(0)[0]:
        # the first cell may be unbound: the commas of a solution's object placed row by row
        unbound = [column(k, partial(_json_cell, v)) for k, v in enumerate(names)]
        body = (b"".join(b"{" + b",".join(filter(None, row)) + b"},"
                         for row in zip(*cells(unbound, first), strict=True)) for first in range(0, n, size))
    else:
        body = rows([column(k, cell(fmt, names, k)) for k in range(width)])
    yield from _last_comma_dropped(body) if fmt == "json" else body
    if tail:
        yield tail.encode("utf-8")


def _json_cell(name: str, t: Term | None) -> str:
    return "" if t is None else json_binding(name, t)


def _written_rows(answer: TableAnswer, fmt: str, size: int, column: Callable[[int], _Spelled],
                  ) -> Iterator[bytes] | None:
    """The rows of ``answer`` from the rows the table keeps written in ``fmt`` (:class:`kg.answers.SpelledRows`), if
    it keeps them and the answer's leading cells are the same on every row: each chunk is the entries of ``size``
    rows, copied in runs of consecutive entries, with :data:`~kg.answers.ROW_MARK` replaced by the row's start and
    those cells (``column(k)``: column ``k``'s cells as the row writes them). ``None``: the rows are written from the
    columns."""
    spelled = answer.spelled
    if spelled is None or fmt not in spelled.formats or not len(answer):
        return None
    if fmt == "json" and UNBOUND in answer.distinct(0)[0]:
        return None  # a solution's object opens with its first bound cell, which a row kept does not know
    leading = [column(k) for k in range(spelled.lead)]
    if any(len(terms) != 1 for terms, _ in leading):
        return None
    lead = ROW_START[fmt].encode("utf-8") + b"".join(terms[0] for terms, _ in leading)
    return _runs(spelled.formats[fmt], spelled.rows, lead, size)


def _runs(strings: Strings, rows: NDArray[np.int64], lead: bytes, size: int) -> Iterator[bytes]:
    """The entries ``rows`` of ``strings``, ``size`` at a time, each run of consecutive entries copied as one slice of
    the blob, :data:`~kg.answers.ROW_MARK` replaced by ``lead``."""
    blob, offsets = strings.blob, strings.offsets
    for first in range(0, len(rows), size):
        at = rows[first:first + size]
        breaks = np.flatnonzero(np.diff(at) != 1) + 1
        starts = offsets[at[np.r_[0, breaks]]].tolist()
        ends = offsets[at[np.r_[breaks - 1, len(at) - 1]] + 1].tolist()
        chunk = b"".join([blob[a:b].tobytes() for a, b in zip(starts, ends, strict=True)])
        yield chunk.replace(ROW_MARK, lead)


def _last_comma_dropped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks``, the last byte of the last one left out (the comma after the last solution)."""
    last = b""
    for chunk in chunks:
        if last:
            yield last
        last = chunk
    if last:
        yield last[:-1]


def answer_table(answer: TableAnswer, max_rows: int) -> tuple[list[str], list[list[object]], bool]:
    """:func:`select_table` for an answer of the answer table: each distinct term made once."""
    truncated = len(answer) > max_rows
    if truncated:
        answer = answer.head(max_rows)
    columns = [_cells(answer, k, lambda t: t) for k in range(len(answer.variables))]
    return list(answer.variables), [list(row) for row in zip(*columns, strict=True)], truncated


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
