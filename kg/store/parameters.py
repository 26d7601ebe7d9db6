"""Binding query parameters as RDF terms, the same way for every store.

A parameter is never spliced into a query as text: :func:`with_values` writes the bound terms in
their N-Triples form (escaped by pyoxigraph) in a ``VALUES`` block opening the WHERE clause. The
embedded store, the remote store and the server all bind this way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyoxigraph import NamedNode

from ..errors import QueryError

_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)
_BRACE = re.compile(r"\{")


def with_values(sparql: str, bindings: Mapping[str, object], comment: str | None = None) -> str:
    """``sparql`` with ``bindings`` (variable name → pyoxigraph term) as a VALUES block opening its WHERE.

    This is how every query parameter is bound, embedded or remote (one mechanism; on Oxigraph it
    is also a little faster than pyoxigraph's ``substitutions``). The values are written as RDF
    terms (``str(term)`` is their N-Triples form, escaped), never spliced in as text.

    >>> with_values("SELECT ?x WHERE { ?x ?p ?o }", {"p": NamedNode("http://e/p")})
    'SELECT ?x WHERE { VALUES (?p) { (<http://e/p>) } ?x ?p ?o }'
    >>> with_values("ASK { ?s ?p ?o }", {"o": NamedNode("http://e/o")})
    'ASK { VALUES (?o) { (<http://e/o>) } ?s ?p ?o }'
    """
    if not bindings:
        return sparql
    clause = ("VALUES (" + " ".join("?" + k for k in bindings) + ") { ("
              + " ".join(str(t) for t in bindings.values()) + ") }")
    text = _strip_comments(sparql)
    m = _WHERE.search(text) or _BRACE.search(text)
    if m is None:
        raise QueryError("query", "cannot bind parameters: the query has no WHERE clause")
    if comment is not None:  # laid out for reading: the block on a line of its own
        return f"{sparql[:m.end()]}\n  {clause}  # {comment}{sparql[m.end():]}"
    return f"{sparql[:m.end()]} {clause}{sparql[m.end():]}"


def _strip_comments(sparql: str) -> str:
    # same length as the input (comment characters become spaces), so match offsets still apply
    return re.sub(r"(?m)^\s*#.*$", lambda m: " " * len(m.group(0)), sparql)


def prologue(prefixes: dict[str, str] | None) -> str:
    """PREFIX declarations for a server that takes no predeclared prefixes.

    >>> prologue({"ex": "http://e/"})
    'PREFIX ex: <http://e/>\\n'
    """
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in (prefixes or {}).items())


def is_iri(value: str) -> bool:
    """Whether ``value`` is an absolute IRI the store accepts as a graph or entity name.

    >>> is_iri("https://budgetkg.example.org/id/graph/agencies"), is_iri("not an iri"), is_iri("http://x/\\ufffd>")
    (True, False, False)
    """
    try:
        NamedNode(value)
    except ValueError:
        return False
    return True
