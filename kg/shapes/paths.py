"""Property paths (SHACL 2.3.1) in SPARQL: as a path expression, or as triple patterns the optimiser can join."""

from __future__ import annotations

import rdflib
from rdflib import RDF, URIRef

from ..namespaces import RDFS
from .errors import ShapesError
from .report import compact_iri
from .shapes_graph import ShapesGraph

#: SHACL path constructors and the SPARQL path syntax they become.
_UNARY = (("inversePath", "^{}"), ("zeroOrMorePath", "{}*"), ("oneOrMorePath", "{}+"), ("zeroOrOnePath", "{}?"))


def instance_of(x: str, cls: str) -> str:
    """A pattern matching when ``x`` is an instance of ``cls`` (``rdf:type/rdfs:subClassOf*``), written as
    its direct type or a walk of one step or more: Virtuoso's zero-length step of ``rdfs:subClassOf*``
    from a bound ``x`` finds nothing when the request names its dataset; both engines agree on this form.

    >>> instance_of("?x", "<http://e/C>")  # doctest: +ELLIPSIS
    '{ ?x <...#type> <http://e/C> } UNION { ?x <...#type>/<...#subClassOf>+ <http://e/C> }'
    """
    return f"{{ {x} <{RDF.type}> {cls} }} UNION {{ {x} <{RDF.type}>/<{RDFS.subClassOf.value}>+ {cls} }}"


def sparql_path(sg: ShapesGraph, node: rdflib.term.Node, compact: bool = False) -> str:
    """The SPARQL property path of a SHACL path; ``compact``: with prefixed names, for people."""
    if isinstance(node, URIRef):
        return compact_iri(str(node)) if compact else f"<{node}>"
    if (node, RDF.first, None) in sg.g:
        return "(" + "/".join(sparql_path(sg, p, compact) for p in sg.items(node)) + ")"
    for key, fmt in _UNARY:
        inner = sg.one(node, key)
        if inner is not None:
            text = sparql_path(sg, inner, compact)
            return fmt.format(text if text.startswith("(") or isinstance(inner, URIRef) else f"({text})")
    alt = sg.one(node, "alternativePath")
    if alt is not None:
        return "(" + "|".join(sparql_path(sg, p, compact) for p in sg.items(alt)) + ")"
    raise ShapesError(f"unsupported property path {node}")


def path_triples(sg: ShapesGraph, s: str, path: rdflib.term.Node | None, o: str) -> str:
    """``s path o`` as triple patterns: sequences and inverses of IRIs become joins the optimiser can
    reorder (Oxigraph evaluates a property path as one operator), other paths stay paths."""
    if path is None:
        raise ShapesError("a property shape without sh:path")
    if isinstance(path, URIRef):
        return f"{s} <{path}> {o} ."
    inverse = sg.one(path, "inversePath")
    if isinstance(inverse, URIRef) and len(list(sg.g.predicate_objects(path))) == 1:
        return f"{o} <{inverse}> {s} ."
    if (path, RDF.first, None) in sg.g:
        steps = sg.items(path)
        nodes = [s, *(sg.fresh("s") for _ in steps[1:]), o]
        return " ".join(path_triples(sg, nodes[i], step, nodes[i + 1]) for i, step in enumerate(steps))
    return f"{s} {sparql_path(sg, path)} {o} ."
