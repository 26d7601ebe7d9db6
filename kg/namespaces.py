"""Every vocabulary IRI budgetkg uses, bound once.

Terms are :class:`pyoxigraph.NamedNode` objects so the converter can build quads without
string work on the hot path; ``str(ns)`` gives the namespace IRI for prefixes.

>>> BK.Project.value
'https://budgetkg.example.org/def/Project'
>>> CATEGORY["output"].value
'https://budgetkg.example.org/def/category/output'
"""

from __future__ import annotations

from functools import lru_cache

from pyoxigraph import NamedNode

#: Where the ontology and its concept schemes live. Fixed: instance data moves with the
#: configurable base IRI (see :mod:`kg.settings`), the vocabulary does not.
ONTOLOGY_IRI = "https://budgetkg.example.org/def/"

#: Default base IRI of minted instance data; override with ``BUDGETKG_BASE_IRI``.
DEFAULT_BASE_IRI = "https://budgetkg.example.org/id/"


class Namespace:
    """A namespace whose attributes and items are :class:`NamedNode` terms."""

    __slots__ = ("_iri",)

    def __init__(self, iri: str) -> None:
        self._iri = iri

    def __str__(self) -> str:
        return self._iri

    def __repr__(self) -> str:
        return f"Namespace({self._iri!r})"

    def __getattr__(self, name: str) -> NamedNode:
        if name.startswith("__"):
            raise AttributeError(name)
        return _term(self._iri, name)

    def __getitem__(self, name: str) -> NamedNode:
        return _term(self._iri, name)


@lru_cache(maxsize=4096)
def _term(base: str, name: str) -> NamedNode:
    return NamedNode(base + name)


BK = Namespace(ONTOLOGY_IRI)
CATEGORY = Namespace(ONTOLOGY_IRI + "category/")
FUNDING = Namespace(ONTOLOGY_IRI + "funding/")
TRANCHE = Namespace(ONTOLOGY_IRI + "tranche/")
COMPARATOR = Namespace(ONTOLOGY_IRI + "comparator/")
VALUEKIND = Namespace(ONTOLOGY_IRI + "value-kind/")
GOALKIND = Namespace(ONTOLOGY_IRI + "goal-kind/")
BKUNIT = Namespace(ONTOLOGY_IRI + "unit/")
#: The columns of a named query's answer kept by the build (:mod:`kg.analytics`): ``bkcol:<variable>``.
COLUMN = Namespace(ONTOLOGY_IRI + "column/")

RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
OWL = Namespace("http://www.w3.org/2002/07/owl#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
ORG = Namespace("http://www.w3.org/ns/org#")
PROV = Namespace("http://www.w3.org/ns/prov#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VOID = Namespace("http://rdfs.org/ns/void#")
#: The W3C RDF Data Cube vocabulary (the budget cube of the analytics graph).
QB = Namespace("http://purl.org/linked-data/cube#")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
QUDT = Namespace("http://qudt.org/schema/qudt/")
UNIT = Namespace("http://qudt.org/vocab/unit/")
CUR = Namespace("http://qudt.org/vocab/currency/")
SH = Namespace("http://www.w3.org/ns/shacl#")

# Vocabularies the server's self-description uses (VoID/DCAT, SPARQL service description).
#: SPARQL 1.1 Service Description.
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
#: W3C's unique IRIs for file formats (``sd:resultFormat``).
FORMATS = Namespace("http://www.w3.org/ns/formats/")
#: SPDX licence identifiers (``dcterms:license``).
SPDX = Namespace("https://spdx.org/licenses/")
#: ISO 639-1 language codes as the Library of Congress publishes them (``dcterms:language``).
ISO639_1 = Namespace("http://id.loc.gov/vocabulary/iso639-1/")
#: IANA media types (``dcat:mediaType``): ``MEDIA_TYPE["text/turtle"]``.
MEDIA_TYPE = Namespace("https://www.iana.org/assignments/media-types/")
#: The SPARQL 1.1 Protocol recommendation, which the endpoint conforms to.
SPARQL_PROTOCOL = NamedNode("https://www.w3.org/TR/sparql11-protocol/")
#: The namespace of the SPARQL Query Results XML Format (the root element's ``xmlns``).
SPARQL_RESULTS = Namespace("http://www.w3.org/2005/sparql-results#")

#: Prefixes for serialisations, query headers and the SPARQL editor.
PREFIXES: dict[str, str] = {
    "bk": str(BK),
    "bkcat": str(CATEGORY),
    "bkfund": str(FUNDING),
    "bktranche": str(TRANCHE),
    "bkcmp": str(COMPARATOR),
    "bkvk": str(VALUEKIND),
    "bkgoal": str(GOALKIND),
    "bkunit": str(BKUNIT),
    "bkcol": str(COLUMN),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "xsd": str(XSD),
    "owl": str(OWL),
    "skos": str(SKOS),
    "org": str(ORG),
    "prov": str(PROV),
    "dcterms": str(DCTERMS),
    "dcat": str(DCAT),
    "void": str(VOID),
    "qb": str(QB),
    "foaf": str(FOAF),
    "qudt": str(QUDT),
    "unit": str(UNIT),
    "cur": str(CUR),
    "sh": str(SH),
}


def sparql_prefixes(names: list[str] | None = None) -> str:
    """The ``PREFIX`` lines for ``names`` (default: all), for building queries.

    >>> sparql_prefixes(["bk"])
    'PREFIX bk: <https://budgetkg.example.org/def/>\\n'
    """
    chosen = names if names is not None else list(PREFIXES)
    return "".join(f"PREFIX {n}: <{PREFIXES[n]}>\n" for n in chosen)
