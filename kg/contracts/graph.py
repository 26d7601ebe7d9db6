"""The contracts graphs as RDF: one graph per imported file, and the vendors graph."""

from __future__ import annotations

from pathlib import Path

from pyoxigraph import Literal, NamedNode, Quad

from ..iris import Iris
from ..namespaces import BK, CUR, DCTERMS, PROV, QUDT, RDF, RDFS, SKOS, XSD
from ..rdf import decimal_literal
from .projects import Match
from .records import ContractRecord, is_valid_uscc
from .vendors import VendorGroup


def contract_quads(path: Path, records: list[ContractRecord], matches: list[Match], iris: Iris,
                   graph: NamedNode, fmt: str, sha256: str) -> list[Quad]:
    """The quads of one imported file in ``graph``."""
    quads: list[Quad] = []

    def add(s: NamedNode, p: NamedNode, o: NamedNode | Literal | None) -> None:
        if o is not None:
            quads.append(Quad(s, p, o, graph))

    src = iris.procurement(path.name)
    add(src, RDF.type, BK.ProcurementSource)
    add(src, RDFS.label, Literal(path.name))
    add(src, DCTERMS.identifier, Literal(path.name))
    add(src, DCTERMS.format, Literal("application/json" if fmt == "ocds" else "text/csv"))
    add(src, BK.sha256, Literal(sha256))
    for r, m in zip(records, matches, strict=True):
        c = iris.contract(path.name, r.contract_id)
        add(c, RDF.type, BK.Contract)
        add(c, DCTERMS.identifier, Literal(r.contract_id))
        add(c, RDFS.label, Literal(r.title or r.contract_id, language="zh" if r.title else None))
        add(c, PROV.wasDerivedFrom, src)
        if r.line is not None:
            add(c, BK.lineStart, Literal(str(r.line), datatype=XSD.positiveInteger))
            add(c, BK.lineEnd, Literal(str(r.line), datatype=XSD.positiveInteger))
        if r.pointer is not None:
            add(c, BK.jsonPointer, Literal(r.pointer))
        if r.ocid:
            add(c, BK.ocid, Literal(r.ocid))
        if r.date:
            add(c, DCTERMS.date, Literal(r.date.isoformat(), datatype=XSD.date))
        if r.amount is not None:
            amt = NamedNode(f"{c.value}/amount")
            add(c, BK.contractAmount, amt)
            add(amt, RDF.type, BK.MonetaryAmount)
            add(amt, QUDT.numericValue, decimal_literal(r.amount))
            add(amt, QUDT.unit, CUR[r.currency.upper()])
            if r.currency.upper() == "CNY":
                add(amt, BK.amountInYuan, decimal_literal(r.amount))
        if r.project_ref:
            add(c, BK.statedProjectRef, Literal(r.project_ref))
        if r.project_name:
            add(c, BK.statedProjectName, Literal(r.project_name, language="zh"))
        if r.agency_code:
            add(c, BK.statedAgencyCode, Literal(r.agency_code))
        if r.buyer_name:
            add(c, BK.statedBuyerName, Literal(r.buyer_name, language="zh"))
        if m.buyer:
            add(c, BK.buyer, iris.agency(m.buyer))
        for k, s in enumerate(r.suppliers, start=1):
            mention = NamedNode(f"{c.value}/supplier/{k}")
            add(c, BK.supplierMention, mention)
            add(mention, RDF.type, BK.SupplierMention)
            add(mention, BK.supplierName, Literal(s.name, language="zh"))
            if s.credit_code:
                add(mention, BK.statedCreditCode, Literal(s.credit_code))
        if m.project:
            add(c, BK.forProject, NamedNode(m.project))
            add(c, BK.linkConfidence, decimal_literal(round(m.confidence, 4)))
            add(c, BK.rule, Literal(m.rule))
            if m.matched:
                add(c, BK.matchedToken, Literal(m.matched, language="zh"))
        else:
            add(c, BK.unlinkedReason, Literal(m.reason))
    return quads


def vendor_quads(groups: list[VendorGroup], iris: Iris, graph: NamedNode) -> list[Quad]:
    """The quads of the vendors graph: each vendor, its names and credit code, and its contracts."""
    quads: list[Quad] = []
    for g in groups:
        v = iris.vendor(g.key)
        label = min(g.names.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        quads.append(Quad(v, RDF.type, BK.Vendor, graph))
        quads.append(Quad(v, RDFS.label, Literal(label, language="zh"), graph))
        for n in sorted(g.names):
            if n != label:
                quads.append(Quad(v, SKOS.altLabel, Literal(n, language="zh"), graph))
        quads.append(Quad(v, BK.normalizedName, Literal(g.normalized), graph))
        if g.code:
            quads.append(Quad(v, BK.creditCode, Literal(g.code), graph))
            quads.append(Quad(v, BK.creditCodeValid, Literal("true" if is_valid_uscc(g.code) else "false",
                                                             datatype=XSD.boolean), graph))
        quads.append(Quad(v, BK.rule, Literal(g.rule), graph))
        quads.append(Quad(v, BK.score, decimal_literal(g.score), graph))
        for c in sorted(g.contracts):
            quads.append(Quad(NamedNode(c), BK.vendor, v, graph))
    return quads
