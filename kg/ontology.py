"""The ontology and its concept schemes: every ``*.ttl`` of the ontology folder, as quads.

Loaded by the build into its own graph (:data:`ONTOLOGY_GRAPH`) and by validation, which needs the
class hierarchy to evaluate ``sh:targetClass``; neither imports the other for it.
"""

from __future__ import annotations

from pyoxigraph import BlankNode, NamedNode, Quad, RdfFormat, parse

from .errors import StoreError
from .namespaces import ONTOLOGY_IRI
from .settings import Settings

#: Named graph holding the ontology and its concept schemes.
ONTOLOGY_GRAPH = NamedNode(ONTOLOGY_IRI)


def ontology_quads(settings: Settings, graph: NamedNode = ONTOLOGY_GRAPH) -> list[Quad]:
    """The ontology and vocabularies (every ``*.ttl`` of ``ontology/``) as quads in ``graph``."""
    quads: list[Quad] = []
    files = sorted(settings.ontology_dir.glob("*.ttl"))
    if not files:
        raise StoreError(f"no ontology files (*.ttl) in {settings.ontology_dir}")
    bnodes: dict[str, BlankNode] = {}

    def stable(term):  # anonymous nodes get ids in order of appearance: dumps stay byte-identical
        if isinstance(term, BlankNode):
            return bnodes.setdefault(term.value, BlankNode(f"ont{len(bnodes)}"))
        return term

    for f in files:
        try:
            for q in parse(path=str(f), format=RdfFormat.TURTLE):
                quads.append(Quad(stable(q.subject), q.predicate, stable(q.object), graph))
        except SyntaxError as exc:
            raise StoreError(f"{f}: not valid Turtle: {exc}") from None
    return quads
