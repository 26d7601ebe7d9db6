"""Table text for search: what is indexed of a project (its lines and fields, squeezed), bigram
tokens, rows read back from the store, budget units and vendors, and snippets.

:mod:`kg.search` indexes and searches these; this module knows nothing of the index.

>>> squeeze("财政    资金 ABC")
'财政资金abc'
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pyoxigraph import BlankNode, Literal, NamedNode, QuerySolutions

from .errors import BudgetKGError, StoreError
from .iris import Iris
from .model import ParsedDocument, ProjectRecord, SourceEntry
from .namespaces import DEFAULT_BASE_IRI, sparql_prefixes

if TYPE_CHECKING:
    from .store import GraphStore

#: Snippet width in characters around the first occurrence.
SNIPPET_CHARS = 40
#: Marks a highlighted term in snippets (HTML pages turn them into <mark>).
MARK_START, MARK_END = "\ue000", "\ue001"

_WS = re.compile(r"\s+")
BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_SEP = "z"  # between segments: a token no bigram can be (bigram tokens are [0-9a-fx]+)


# -- text ------------------------------------------------------------------------------------
def squeeze(text: str) -> str:
    """Text as it is matched: white space removed, letters lower-cased.

    >>> squeeze("财政    资金 ABC")
    '财政资金abc'
    """
    return _WS.sub("", text).lower()


def bigrams(text: str) -> list[str]:
    """The bigram tokens of (squeezed) ``text``."""
    return [f"{ord(a):x}x{ord(b):x}" for a, b in itertools.pairwise(text)]


_QUOTES = "\"'“”‘’「」『』"


def terms(query: str) -> list[str]:
    """The terms of a query: white-space separated words, without quotes around them.

    A word that is little more than quotes keeps them (it is then matched as written).

    >>> terms('视频监控  "信息化"  “一网统管”  “一')
    ['视频监控', '信息化', '一网统管', '“一']
    """
    out = []
    for word in query.split():
        bare = word.strip(_QUOTES)
        out.append((bare if len(bare) >= 2 else word).lower())
    return out


def index_tokens(segments: Iterable[str]) -> str:
    return f" {_SEP} ".join(" ".join(bigrams(s)) for s in segments if len(s) >= 2)


# -- rows ------------------------------------------------------------------------------------
@dataclass
class ProjectRow:
    """What the index keeps of one project: where it is, and its text as (line, squeezed text) segments."""

    iri: str
    graph: str
    file: str
    name: str
    unit_code: str
    unit_name: str
    start: int
    end: int
    segments: list[tuple[int, str]] = field(default_factory=list)
    #: Its name's and its text's index tokens (:meth:`tokens`), when made ahead, by the worker that parsed it.
    made_tokens: tuple[str, str] | None = field(default=None, compare=False, repr=False)

    def text(self) -> str:
        return "\n".join(s for _, s in self.segments)

    def tokens(self) -> tuple[str, str]:
        """What the full-text index holds of it: the bigram tokens of its name, and of its text segments."""
        if self.made_tokens is not None:
            return self.made_tokens
        return index_tokens([squeeze(self.name)]), index_tokens(s for _, s in self.segments)


def rows_from_records(parsed: ParsedDocument, graph: str, text: str, iris_by_record: Sequence[str],
                      keep: set[str] | None = None) -> list[ProjectRow]:
    """Index rows for a parsed document: each table's lines and its fields (``keep``: only these IRIs)."""
    lines = text.splitlines()
    rows = []
    for rec, iri in zip(parsed.records, iris_by_record, strict=True):
        if keep is not None and iri not in keep:
            continue
        rows.append(ProjectRow(iri, graph, parsed.source.file, rec.name, rec.unit_code, rec.unit_name,
                               rec.span.start, rec.span.end, _segments(rec, lines)))
    return rows


def _segments(rec: ProjectRecord, lines: list[str]) -> list[tuple[int, str]]:
    segs = [(n, squeeze(lines[n - 1])) for n in range(rec.span.start, min(rec.span.end, len(lines)) + 1)]
    segs = [(n, s) for n, s in segs if s]
    seen = {s for _, s in segs}
    first = rec.unit_span.start if rec.unit_span else rec.span.start
    fields: list[tuple[int, str | None]] = [(first, rec.name), (first, rec.use_of_funds)]
    fields += [(g.span.start, g.text) for g in rec.goals]
    for ind in rec.indicators:
        fields += [(ind.span.start, ind.name), (ind.span.start, ind.description), (ind.span.start, ind.value.raw)]
    for line, value in fields:
        s = squeeze(value or "")
        if s and not any(s in x for x in seen):  # a field broken over lines: kept whole as well
            segs.append((line, s))
            seen.add(s)
    return segs


def document_rows(entry: SourceEntry, graph: str, iris: Sequence[str] | None = None,
                  base_iri: str | None = None) -> tuple[list[ProjectRow], str]:
    """Parse ``entry``'s file: the rows of the projects ``iris`` (all when None), and the file's sha256."""
    from .parse import line_count, read_document
    from .rdf import project_iris

    text, records, warnings, sha256 = read_document(entry.path, entry.file, entry.budget_year)
    parsed = ParsedDocument(entry, records, warnings, line_count(text))
    mint = Iris(base_iri or DEFAULT_BASE_IRI)
    all_iris = [n.value for n in project_iris(parsed, mint)]
    rows = rows_from_records(parsed, graph, text, all_iris, set(iris) if iris is not None else None)
    return rows, sha256


@dataclass
class Prepared:
    """A document's index rows, made where it was parsed (a build worker): the rows and the source's sha256."""

    rows: list[ProjectRow]
    sha256: str
    problem: str | None = None


def prepare(parsed: ParsedDocument, iris: Sequence[str], minted: Iris) -> Prepared:
    """The rows of ``parsed``'s projects ``iris`` (the ones its graph describes), for :meth:`Indexer.add`.

    ``minted`` is the :class:`kg.iris.Iris` the build mints with. Never raises: a problem is kept
    and the document is indexed from the store when the index is next opened.
    """
    from .parse import decode
    from .rdf import project_iris

    try:
        data = Path(parsed.source.path).read_bytes()
        text = decode(data, parsed.source.file)
        all_iris = [n.value for n in project_iris(parsed, minted)]
        rows = rows_from_records(parsed, "", text, all_iris, set(iris))
        for r in rows:  # here, in the worker: the build's writer then only stores them
            r.made_tokens = r.tokens()
        return Prepared(rows, hashlib.sha256(data).hexdigest())
    except (BudgetKGError, OSError, ValueError) as exc:
        return Prepared([], "", f"{parsed.source.file}: not indexed for search ({exc})")


_GRAPH_TEXT = sparql_prefixes(["bk", "rdfs", "dcterms"]) + """
SELECT ?p ?name ?code ?unit ?start ?end ?line ?text WHERE {
  GRAPH ?g {
    ?p a bk:Project ; rdfs:label ?name ; bk:lineStart ?start ; bk:lineEnd ?end .
    OPTIONAL { ?p bk:budgetUnitCode ?code } OPTIONAL { ?p bk:budgetUnitName ?unit }
    OPTIONAL {
      { ?p bk:useOfFunds ?text }
      UNION { ?p bk:hasGoal ?x . ?x bk:goalText ?text ; bk:lineStart ?line }
      UNION { ?p bk:hasIndicator ?x . ?x bk:lineStart ?line .
              { ?x bk:indicatorName ?text } UNION { ?x dcterms:description ?text }
              UNION { ?x bk:target/bk:rawValue ?text } }
    }
  }
}"""


def solutions(store: GraphStore, sparql: str, name: str, substitutions: dict[str, object] | None = None
               ) -> QuerySolutions:
    """The solutions of a SELECT asked of ``store`` (another answer kind is a fault of the store)."""
    result = store.query(sparql, name=name, substitutions=substitutions)
    if not isinstance(result, QuerySolutions):
        raise StoreError(f"{name}: the store answered {type(result).__name__} to a SELECT")
    return result


def rows_from_store(store: GraphStore, graph: str, file: str) -> list[ProjectRow]:
    """Index rows read back from a document graph (when its source is not at hand): its facts and their lines."""
    rows: dict[str, ProjectRow] = {}
    for s in solutions(store, _GRAPH_TEXT, "search:graph", {"g": NamedNode(graph)}):
        iri = s["p"].value
        row = rows.get(iri)
        if row is None:
            start, end = int(s["start"].value), int(s["end"].value)
            name = s["name"].value
            row = rows[iri] = ProjectRow(iri, graph, file, name, value_of(s["code"]), value_of(s["unit"]), start, end,
                                         [(start, squeeze(name))])
        if s["text"] is not None:
            line = s["line"]  # unbound for the use of funds, which has no line of its own: the table's first
            seg = (int(line.value) if line is not None else row.start, squeeze(s["text"].value))
            if seg[1] and seg not in row.segments:
                row.segments.append(seg)
    for row in rows.values():
        row.segments.sort()
    return sorted(rows.values(), key=lambda r: (r.start, r.iri))


def value_of(term: NamedNode | BlankNode | Literal | None) -> str:
    """The lexical value of an optional binding: ``""`` when unbound."""
    return "" if term is None else term.value


# -- entities (budget units, departments, vendors) ----------------------------------------
@dataclass(frozen=True)
class EntityRow:
    iri: str
    kind: str  # unit | department | vendor
    label: str
    code: str
    text: str  # squeezed label, code and other names


_ENTITIES = sparql_prefixes(["bk", "rdfs", "skos"]) + """
SELECT ?e ?type ?label ?code ?alt WHERE {
  { ?e a bk:BudgetUnit } UNION { ?e a bk:Department } UNION { ?e a bk:Vendor }
  ?e a ?type . FILTER(?type IN (bk:BudgetUnit, bk:Department, bk:Vendor))
  OPTIONAL { ?e rdfs:label ?label }
  OPTIONAL { ?e bk:agencyCode ?code } OPTIONAL { ?e bk:creditCode ?code }
  OPTIONAL { ?e skos:altLabel ?alt }
}"""

_KINDS = {"BudgetUnit": "unit", "Department": "department", "Vendor": "vendor"}


@dataclass
class _Entity:
    """What the store says of one entity, gathered over the rows of :data:`_ENTITIES`."""

    kind: str
    labels: set[str] = field(default_factory=set)
    code: str = ""
    alt: set[str] = field(default_factory=set)


def entities_from_store(store: GraphStore) -> list[EntityRow]:
    """Budget units, departments and vendors as the store describes them."""
    found: dict[str, _Entity] = {}
    for s in solutions(store, _ENTITIES, "search:entities"):
        e = found.setdefault(s["e"].value, _Entity(_KINDS[s["type"].value.rsplit("/", 1)[1]]))
        if s["label"] is not None:
            e.labels.add(s["label"].value)
        if s["code"] is not None:
            e.code = s["code"].value
        if s["alt"] is not None:
            e.alt.add(s["alt"].value)
    out = []
    for iri in sorted(found):
        e = found[iri]
        labels = sorted(e.labels)
        label = labels[0] if labels else e.code
        text = "\n".join(squeeze(x) for x in [*labels, e.code, *sorted(e.alt)])
        out.append(EntityRow(iri, e.kind, label, e.code, text))
    return out


def snippet(text: str, qterms: Sequence[str], width: int = SNIPPET_CHARS) -> str:
    """A window of ``text`` around the first term, every term marked.

    >>> snippet("建设视频监控系统", ["视频"]).replace(MARK_START, "[").replace(MARK_END, "]")
    '建设[视频]监控系统'
    """
    low = text.lower()
    first = min((i for i in (low.find(t) for t in qterms) if i >= 0), default=0)
    a = max(0, first - width // 2)
    b = min(len(text), a + width + max((len(t) for t in qterms), default=0))
    piece, low_piece = text[a:b], low[a:b]
    marks = []
    for t in qterms:
        i = low_piece.find(t)
        while i >= 0:
            marks.append((i, i + len(t)))
            i = low_piece.find(t, i + len(t))
    out, pos = [], 0
    for s, e in sorted(marks):
        if s < pos:
            continue
        out += [piece[pos:s], MARK_START, piece[s:e], MARK_END]
        pos = e
    out.append(piece[pos:])
    return ("…" if a else "") + "".join(out) + ("…" if b < len(text) else "")


def best_segment(segments: Sequence[tuple[int, str]], qterms: Sequence[str]) -> tuple[int, str] | None:
    for t in qterms:
        for seg in segments:
            if t in seg[1]:
                return seg
    return None
