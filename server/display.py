"""How the pages show store data: labels, prefixed names, links to this server, amounts in 万元.

Every page module (:mod:`server.pages`, :mod:`server.named`, :mod:`server.linked`, …) turns store
data into plain rows for its template with these, so templates only lay out and a term is shown the
same way on every page. Labels are Chinese first (``@zh``), then English, then a prefixed name.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal
from typing import Any

from fastapi import Request
from pyoxigraph import BlankNode, Literal, NamedNode

from kg.namespaces import DCTERMS, ORG, PREFIXES, PROV, QUDT, RDF, RDFS, SKOS, XSD

from .jobs import plain
from .runtime import Runtime

#: Labels of W3C/QUDT terms the ontology reuses without declaring them (so the store has no label).
FALLBACK_LABELS: dict[str, str] = {term.value: label for term, label in (
    (RDF.type, "类型"), (RDFS.label, "名称"), (RDFS.comment, "注释"), (PROV.wasDerivedFrom, "来源文档"),
    (DCTERMS.identifier, "标识符"), (DCTERMS.description, "说明"), (DCTERMS.publisher, "发布机构"),
    (DCTERMS.title, "标题"), (DCTERMS.format, "格式"), (ORG.subOrganizationOf, "上级机构"), (SKOS.notation, "编码"),
    (SKOS.prefLabel, "首选名称"), (QUDT.numericValue, "数值"), (QUDT.unit, "计量单位"),
)}
_XSD_STRING = XSD.string.value

#: A term as :func:`server.jobs.plain` gives it: ``(kind, value, language, datatype)``.
PlainTerm = tuple[str, str, str | None, str | None]


@functools.lru_cache(maxsize=1 << 16)  # a page shows hundreds of IRIs of a few namespaces
def curie(iri: str) -> str:
    """``bk:Project`` for an IRI in a known namespace, else the IRI.

    >>> curie("https://budgetkg.example.org/def/Project")
    'bk:Project'
    >>> curie("https://budgetkg.example.org/def/a b")
    'https://budgetkg.example.org/def/a b'
    """
    best = ""
    for p, ns in PREFIXES.items():
        if iri.startswith(ns) and len(ns) > len(PREFIXES.get(best, "")):
            best = p
    if best:
        local = iri[len(PREFIXES[best]):]
        if re.fullmatch(r"[\w.\-]*", local):
            return f"{best}:{local}"
    return iri


def wan(value: Any) -> str:
    """万元 with thousands separators and at most four decimals (one 元).

    >>> wan(Decimal("40466.91")), wan(Decimal("3000")), wan(None)
    ('40,466.91', '3,000', '')
    """
    if value is None:
        return ""
    d = Decimal(value).quantize(Decimal("0.0001"))
    text = f"{d:,.4f}".rstrip("0").rstrip(".")
    return text


def json_script(obj: object) -> str:
    """JSON safe to embed in a ``<script>`` element (no ``</script>`` or ``<!--`` can close it early).

    >>> json_script({"q": "</script>"})
    '{"q": "\\\\u003c/script\\\\u003e"}'
    """
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class Linker:
    """Turns terms into display dicts (link, label, kind) for templates."""

    def __init__(self, request: Request, runtime: Runtime, labels: dict[str, str] | None = None,
                 compact: bool = False) -> None:
        self.request = request
        self.runtime = runtime
        self.labels = labels or {}
        self._root = runtime.root(request)
        #: result tables: no language tags or datatypes, IRIs under the base IRI shown by their path
        self.compact = compact

    def iri(self, iri: str) -> dict[str, Any]:
        label = self.labels.get(iri) or FALLBACK_LABELS.get(iri)
        base = self.runtime.settings.base_iri
        own = self.compact and iri.startswith(base) and len(iri) > len(base)
        short = iri[len(base):] if own else curie(iri)
        return {"kind": "iri", "href": self._root + self.runtime.local_path(iri), "label": label, "curie": short,
                "iri": iri}

    def term(self, t: PlainTerm) -> dict[str, Any]:
        kind, value, lang, datatype = t
        if kind == "iri":
            return self.iri(value)
        if kind == "literal":
            if self.compact:
                return {"kind": "literal", "value": value, "lang": None, "datatype": None}
            dt = curie(datatype) if datatype and datatype != _XSD_STRING else None
            return {"kind": "literal", "value": value, "lang": lang, "datatype": dt}
        return {"kind": kind, "value": value}

    def pyterm(self, t: object) -> dict[str, Any]:
        if t is None:
            return {"kind": "none"}
        if isinstance(t, NamedNode | BlankNode | Literal):
            return self.term(plain(t))
        return {"kind": "other", "value": str(t)}
