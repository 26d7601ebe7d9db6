"""Loading the shapes files (``shapes/*.ttl``) and compiling them once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import rdflib
from rdflib import RDF

from .compiled import Constraint, Shapes
from .compiler import Compiler
from .errors import ShapesError
from .report import Rule
from .shapes_graph import sh


def load_shapes(directory: Path, kinds: Iterable[str] | None = None) -> Shapes:
    """Load ``directory/*.ttl`` (or only the files named by ``kinds``, e.g. ``["structure"]``).

    Raises :class:`ShapesError` if a file is not valid Turtle or a shape uses a SHACL feature the
    SPARQL compiler does not support. A rule's kind is the name of the file that declares it.
    """
    wanted = None if kinds is None else list(kinds)
    files = sorted(directory.glob("*.ttl"))
    if wanted is not None:
        missing = [k for k in wanted if not (directory / f"{k}.ttl").is_file()]
        if missing:
            raise ShapesError(f"no shapes file {', '.join(m + '.ttl' for m in missing)} in {directory}")
        files = [directory / f"{k}.ttl" for k in wanted]
    if not files:
        raise ShapesError(f"no shapes (*.ttl) in {directory}")
    graph = rdflib.Graph()
    origin: dict[rdflib.term.Node, str] = {}
    for f in files:
        part = rdflib.Graph()
        try:
            part.parse(f, format="turtle")
        except Exception as exc:  # rdflib raises many kinds of parser errors
            raise ShapesError(f"{f}: not valid Turtle: {exc}") from None
        for s in part.subjects(RDF.type, sh("NodeShape")):
            origin.setdefault(s, f.stem)
        for s in part.subjects(RDF.type, sh("PropertyShape")):
            origin.setdefault(s, f.stem)
        for t in part:
            graph.add(t)
    compiler = Compiler(graph)
    rules: dict[str, Rule] = {}
    constraints: list[Constraint] = []
    for shape in compiler.top_level_shapes():
        rule = compiler.rule(shape, origin.get(shape, "shapes"))
        rules[rule.iri] = rule
        constraints.extend(compiler.compile_top(shape, rule))
    return Shapes(graph, files, rules, constraints)
