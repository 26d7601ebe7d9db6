"""Value type constraint components (SHACL 4.1): sh:class, sh:datatype, sh:nodeKind."""

from __future__ import annotations

from rdflib import RDF

from ...namespaces import RDFS
from ..errors import ShapesError
from ..paths import instance_of
from ..report import NUMERIC_TYPES, compact_iri
from .scope import Scope

#: sh:nodeKind values and the SPARQL test of each ({v}: the value node).
NODE_KINDS = {
    "IRI": "isIRI({v})", "BlankNode": "isBlank({v})", "Literal": "isLiteral({v})",
    "BlankNodeOrIRI": "!isLiteral({v})", "BlankNodeOrLiteral": "!isIRI({v})", "IRIOrLiteral": "!isBlank({v})",
}


def compile_value_type(sc: Scope) -> None:
    sg, v, vp = sc.sg, sc.v, sc.vp
    for c in sg.all(sc.shape, "class"):
        ct = sg.term(c)
        instance = instance_of(v, ct)
        # direct type first: the common case needs no walk up the class hierarchy
        nested = (f"{vp} FILTER(NOT EXISTS {{ {v} <{RDF.type}> {ct} }} && "
                  f"NOT EXISTS {{ {v} <{RDF.type}>/<{RDFS.subClassOf.value}>+ {ct} }})")
        sc.add("Class", nested, {"class": compact_iri(str(c))}, top=f"{vp} MINUS {{ {instance} }}",
               conform=None if sc.prop else [instance])
    for d in sg.all(sc.shape, "datatype"):
        test = f"!isLiteral({v}) || DATATYPE({v}) != {sg.term(d)}"
        if str(d) in NUMERIC_TYPES:
            test += f" || !isNumeric({v})"
        sc.value_filter("Datatype", test, {"datatype": compact_iri(str(d))})
    for k in sg.all(sc.shape, "nodeKind"):
        expr = NODE_KINDS.get(str(k).rsplit("#", 1)[-1])
        if expr is None:
            raise ShapesError(f"{sc.shape}: unknown sh:nodeKind {k}")
        sc.value_filter("NodeKind", f"!({expr.format(v=v)})", {"nodeKind": compact_iri(str(k))})
