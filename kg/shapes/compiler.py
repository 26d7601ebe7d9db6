"""The SHACL → SPARQL compiler: every constraint of a top-level shape becomes one SELECT of its violations.

The compiler covers the part of SHACL the shapes use and refuses anything else with
:class:`~kg.shapes.errors.ShapesError`, so a new shape can never be silently skipped by the fast
path. The components are compiled by the modules of :mod:`kg.shapes.constraints`, one per section
of the specification, in a fixed order (it numbers the fresh variables, so a shape compiles to the
same text every time).
"""

from __future__ import annotations

from dataclasses import replace

import rdflib
from rdflib import URIRef

from .compiled import Constraint
from .constraints.cardinality import compile_cardinality, refuse_on_node_shape
from .constraints.logical import compile_logical
from .constraints.other import compile_other
from .constraints.property_pair import compile_property_pair
from .constraints.scope import Branch, Scope
from .constraints.shape_based import compile_node, compile_qualified
from .constraints.sparql import sparql_constraints
from .constraints.string_based import compile_string_based, compile_unique_lang
from .constraints.value_range import compile_value_range
from .constraints.value_type import compile_value_type
from .errors import ShapesError
from .paths import sparql_path
from .report import Rule
from .shapes_graph import ShapesGraph, prologue
from .targets import focus_patterns

#: SHACL features the compiler refuses (pySHACL would check them; the fast path would not).
UNSUPPORTED = ("closed", "xone", "qualifiedMaxCount", "rule", "expression")


class Compiler(ShapesGraph):
    """Compiles the shapes of one shapes graph (see the module docstring)."""

    def compile_top(self, shape: rdflib.term.Node, rule: Rule) -> list[Constraint]:
        """The constraints of a top-level shape, each a query of its focus nodes that violate it."""
        target, inline, target_prefixes = focus_patterns(self, shape)
        out = []
        for source, branch in self.shape_branches(shape, "?this"):
            value = f" BIND({branch.value} AS ?value)" if branch.value else ""
            head = "SELECT DISTINCT ?this ?value" if branch.value else "SELECT DISTINCT ?this"
            sparql = f"{prologue(target_prefixes)}{head} WHERE {{ {target} {branch.top}{value} }}"
            sparql_inline = f"{prologue(target_prefixes)}{head} WHERE {{ {inline} {branch.top}{value} }}"
            out.append(replace(self._constraint(rule, source, branch, sparql, shape), sparql_inline=sparql_inline,
                               target=f"{prologue(target_prefixes)}SELECT (COUNT(*) AS ?n) WHERE {{ {target} }}"))
        out.extend(sparql_constraints(self, shape, rule, target, target_prefixes))
        return out

    def _constraint(self, rule: Rule, source: rdflib.term.Node, branch: Branch, sparql: str,
                    top: rdflib.term.Node) -> Constraint:
        path_node = self.one(source, "path")
        path = sparql_path(self, path_node, compact=True) if path_node is not None else None
        return Constraint(rule, source, branch.component, sparql, self.severity(source),
                          self.messages(source, top if source == top else None), branch.params, path,
                          str(path_node) if isinstance(path_node, URIRef) else None, branch.value is not None)

    def shape_branches(self, shape: rdflib.term.Node, x: str) -> list[tuple[rdflib.term.Node, Branch]]:
        """Each constraint of ``shape`` and of its sh:property shapes, with the shape declaring it."""
        out = [(shape, b) for b in self.branches(shape, x)]
        for ps in self.all(shape, "property"):
            if self.deactivated(ps):
                continue
            if self.one(ps, "path") is None:
                raise ShapesError(f"{shape}: a sh:property shape without sh:path")
            if self.all(ps, "property"):
                raise ShapesError(f"{ps}: sh:property inside a property shape is not supported")
            out.extend((ps, b) for b in self.branches(ps, x))
        return out

    def violates(self, shape: rdflib.term.Node, x: str) -> str | None:
        """A pattern with solutions iff ``x`` (bound outside) does not conform to ``shape``."""
        if self.deactivated(shape):
            return None
        if self.all(shape, "sparql"):
            raise ShapesError(f"{shape}: sh:sparql is compiled on top-level shapes only")
        parts = [b.nested for _, b in self.shape_branches(shape, x)]
        if not parts:
            return None
        return " UNION ".join("{ " + p + " }" for p in parts)

    def conforms(self, shape: rdflib.term.Node, x: str, top: bool = False) -> list[str]:
        """Patterns that all hold iff ``x`` conforms to ``shape``.

        ``top``: ``x`` is bound in the same group (not from outside an ``EXISTS``), so anti-joins can be
        ``MINUS``.
        """
        if self.deactivated(shape):
            return []
        if self.all(shape, "sparql"):
            raise ShapesError(f"{shape}: sh:sparql is compiled on top-level shapes only")
        parts = [p for _, b in self.shape_branches(shape, x) for p in (b.conform_top if top else b.conform)]
        return sorted(parts, key=lambda p: p.startswith(("FILTER", "MINUS")))  # joins first, then filters

    def branches(self, shape: rdflib.term.Node, x: str) -> list[Branch]:
        """The constraints of ``shape`` itself (not of its property shapes), in the order of the sections."""
        for name in UNSUPPORTED:
            if self.one(shape, name) is not None:
                raise ShapesError(f"{shape}: sh:{name} is not supported by the SPARQL compiler")
        sc = Scope(self, self, shape, x)
        compile_value_type(sc)
        compile_value_range(sc)
        compile_string_based(sc)
        compile_other(sc)
        compile_property_pair(sc)
        if sc.prop:
            compile_cardinality(sc)
            compile_unique_lang(sc)
            compile_qualified(sc)
        else:
            refuse_on_node_shape(sc)
        compile_node(sc)
        compile_logical(sc)
        return sc.out
