"""The reference engine: pySHACL over an rdflib copy of the data, its results mapped to the compiled shapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import rdflib
from pyoxigraph import BlankNode, Literal, NamedNode, Quad
from rdflib import RDF, BNode, URIRef
from rdflib.plugins.sparql import prepareQuery

from ..namespaces import XSD
from .compiled import Shapes, node_id
from .data import Dataset
from .errors import ShapesError
from .messages import recovered_messages, result_messages
from .report import Finding, Term, severity_named
from .shapes_graph import sh


class _CachedGraph(rdflib.Graph):
    """An rdflib graph that parses each SPARQL text once: pySHACL sends the same query per focus node."""

    def __init__(self) -> None:
        super().__init__()
        self._prepared: dict[str, Any] = {}

    def query(self, query_object: Any, processor: Any = "sparql", result: Any = "sparql", initNs: Any = None,
              initBindings: Any = None, use_store_provided: bool = True, **kwargs: Any) -> Any:
        if isinstance(query_object, str):
            prepared = self._prepared.get(query_object)
            if prepared is None:
                prepared = self._prepared[query_object] = prepareQuery(query_object, initNs=initNs or {})
            query_object, initNs = prepared, None
        return super().query(query_object, processor, result, initNs, initBindings, use_store_provided, **kwargs)


def to_rdflib(quads: Iterable[Quad]) -> rdflib.Graph:
    """The triples of ``quads`` (graphs merged) as an rdflib graph, blank-node ids kept."""
    g = _CachedGraph()
    cache: dict[Any, Any] = {}

    def conv(t: Any) -> Any:
        r = cache.get(t)
        if r is None:
            if isinstance(t, NamedNode):
                r = URIRef(t.value)
            elif isinstance(t, BlankNode):
                r = BNode(t.value)
            elif t.language:
                r = rdflib.Literal(t.value, lang=t.language)
            elif t.datatype == XSD.string:  # rdflib tells "a" from "a"^^xsd:string; RDF 1.1 does not
                r = rdflib.Literal(t.value)
            else:
                r = rdflib.Literal(t.value, datatype=URIRef(t.datatype.value))
            cache[t] = r
        return r

    g.addN((conv(q.subject), conv(q.predicate), conv(q.object), g) for q in quads)
    return g


def from_rdflib(term: Any) -> Term:
    if isinstance(term, URIRef):
        return NamedNode(str(term))
    if isinstance(term, BNode):
        return BlankNode(str(term))
    if term.language:
        return Literal(str(term), language=term.language)
    return Literal(str(term), datatype=NamedNode(str(term.datatype)) if term.datatype else XSD.string)


def run_pyshacl(data: Dataset, shapes: Shapes) -> list[Finding]:
    import pyshacl  # the reference engine; slow to import, so only when asked for

    graph = to_rdflib(data.quads())
    # advanced: SHACL-AF SPARQL-based targets; inplace: the graph is a private copy, no need to clone it
    _, results, _ = pyshacl.validate(graph, shacl_graph=shapes.graph, inference="none", advanced=True, inplace=True,
                                     allow_infos=True, allow_warnings=True)
    out = []
    for r in results.subjects(RDF.type, sh("ValidationResult")):
        source = results.value(r, sh("sourceShape"))
        component = str(results.value(r, sh("sourceConstraintComponent"))).rsplit("#", 1)[-1]
        severity = severity_named(str(results.value(r, sh("resultSeverity"))).rsplit("#", 1)[-1])
        focus = from_rdflib(results.value(r, sh("focusNode")))
        value_node = results.value(r, sh("value"))
        value = from_rdflib(value_node) if value_node is not None else None
        shape_id = node_id(source)
        c = shapes.constraint_for(shape_id, component)
        if c is None:
            raise ShapesError(f"pySHACL reported {component} of {shape_id}, which the compiler does not know")
        if severity is None:
            raise ShapesError(f"pySHACL reported {component} of {shape_id} with an unknown severity")
        if not c.has_value:
            value = None
        if c.component == "SPARQLConstraintComponent":
            zh, en = recovered_messages(c, [str(m) for m in results.objects(r, sh("resultMessage"))], value)
        else:
            zh, en = result_messages(c, {"this": focus}, value)
        out.append(Finding(c.rule.iri, severity, focus, component, shape_id, zh, en, c.path, c.path_iri, value))
    return out
