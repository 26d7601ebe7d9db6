"""SHACL shapes (``shapes/*.ttl``): load them, validate data against them, report typed findings.

Two engines give the same results:

- ``"pyshacl"``, the reference: pySHACL over an rdflib copy of the data.
- ``"sparql"``, the fast path: every shape is compiled once to SPARQL SELECT queries (one per
  constraint) that Oxigraph runs over the store itself. SHACL Core constraints become graph patterns
  and filters; SHACL-SPARQL constraints (``sh:sparql``) run as sub-queries joined with the shape's
  targets, so a rule runs once for the whole graph instead of once per focus node.

The compiler covers the part of SHACL the shapes use (targets, property paths, cardinality, value
type, value range, string, property-pair and logical constraints, qualified counts of 1, SPARQL
constraints on node shapes) and refuses anything else with :class:`ShapesError`, so a new shape can
never be silently skipped by the fast path. Tests run both engines on the seeds and on a fixture of
every rule and compare their results.

Every result becomes a :class:`Finding` that names its rule, the project, budget unit, source file
and line it concerns, with its message in Chinese and English::

    shapes = load_shapes(settings.shapes_dir)
    report = validate(store, shapes)                  # a store, an Oxigraph Store, quads or a file
    for f in report.findings:
        print(f.severity, f.rule_name, f.file, f.line, f.message_en)

:func:`structural_check` is the check ``kg.build.build`` runs on each document before committing it.

The modules follow the SHACL specification, as pySHACL's do: :mod:`~kg.shapes.shapes_graph`
(reading shapes), :mod:`~kg.shapes.targets`, :mod:`~kg.shapes.paths`, :mod:`kg.shapes.constraints`
(one module per section of constraint components, and the SPARQL-based constraints),
:mod:`~kg.shapes.compiler` and :mod:`~kg.shapes.load` (compiling the shapes files once),
:mod:`~kg.shapes.data` (what is validated), the two engines (:mod:`~kg.shapes.sparql_engine`,
:mod:`~kg.shapes.pyshacl_engine`), :mod:`~kg.shapes.report` (the validation report),
:mod:`~kg.shapes.messages` and :mod:`~kg.shapes.locate` (what a finding says and where it is), and
:mod:`~kg.shapes.validation` (``validate`` and the structural check).
"""

from __future__ import annotations

from .compiled import Constraint, Shapes
from .data import Dataset
from .errors import RDFInputError, ShapesError, StructureViolation
from .load import load_shapes
from .pyshacl_engine import from_rdflib, to_rdflib
from .report import (
    BKSH,
    DISPLAY_PREFIXES,
    SEVERITIES,
    Engine,
    Finding,
    Rule,
    Severity,
    Term,
    ValidationReport,
    compact_iri,
    term_text,
)
from .sparql_engine import INLINE_SHARE
from .validation import StructuralCheck, structural_check, validate

__all__ = [
    "BKSH", "DISPLAY_PREFIXES", "INLINE_SHARE", "SEVERITIES", "Constraint", "Dataset", "Engine", "Finding",
    "RDFInputError", "Rule", "Severity", "Shapes", "ShapesError", "StructuralCheck", "StructureViolation", "Term",
    "ValidationReport", "compact_iri", "from_rdflib", "load_shapes", "structural_check", "term_text", "to_rdflib",
    "validate",
]
