"""Validating data against shapes with either engine, and the structural check of ``budgetkg build``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from pyoxigraph import Quad, Store

from ..model import ParsedDocument
from ..settings import Settings
from ..store import GraphStore
from .compiled import Shapes
from .data import Dataset
from .errors import ShapesError, StructureViolation
from .load import load_shapes
from .locate import locate
from .pyshacl_engine import run_pyshacl
from .report import SEVERITIES, Engine, Finding, ValidationReport
from .sparql_engine import run_sparql


def validate(source: GraphStore | Store | Path | str | Iterable[Quad] | Dataset, shapes: Shapes, *,
             engine: Engine = "sparql", extra: Iterable[Quad] = (), private: bool = False) -> ValidationReport:
    """Validate ``source`` against ``shapes`` and return the findings, located in the source documents.

    ``source`` is a :class:`GraphStore` (its published graphs), an Oxigraph ``Store``, an RDF file or
    quads; ``extra`` quads (typically the ontology graph, for its concept schemes) are added to a
    file or to quads. The default graph of every query is the union of all graphs. ``private``: nobody
    else writes to the data while it is validated (see :func:`~kg.shapes.sparql_engine.run_sparql`).
    """
    started = time.perf_counter()
    data = source if isinstance(source, Dataset) else Dataset.of(source, extra)
    if engine == "sparql":
        raw = run_sparql(data, shapes, private=private)
    elif engine == "pyshacl":
        raw = run_pyshacl(data, shapes)
    else:
        raise ShapesError(f"unknown validation engine {engine!r} (sparql or pyshacl)")
    findings = locate(data, _dedupe(raw))
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.rule, f.file or "", f.line or 0, str(f.focus),
                                 f.component, f.path or "", str(f.value)))
    return ValidationReport(findings, dict(shapes.rules), engine, time.perf_counter() - started,
                            len({f.focus for f in findings}), data.name)


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[tuple[str, ...], Finding] = {}
    for f in findings:
        seen.setdefault((*f.key, f.source_shape), f)
    return list(seen.values())


class StructuralCheck:
    """The check ``kg.build.build(..., check=...)`` runs on each document before it is written.

    The structural shapes are loaded and compiled once, and the ontology graph (whose concept schemes
    the indicator categories, comparators and units must come from) once; each document's quads are
    checked together with it in a scratch store. Raises :class:`StructureViolation` (a
    :class:`~kg.errors.ValidationError`) naming file, line and rule of every violation. It pickles as
    its settings, so a build's worker processes each load their own copy.
    """

    def __init__(self, settings: Settings, engine: Engine = "sparql") -> None:
        from ..ontology import ontology_quads

        self.settings = settings
        self.engine: Engine = engine
        self.shapes = load_shapes(settings.shapes_dir, ["structure"])
        self.vocabulary = ontology_quads(settings)

    def __call__(self, parsed: ParsedDocument, quads: list[Quad]) -> None:
        violations = self.report(quads, parsed.source.file).violations
        if violations:
            raise StructureViolation(parsed.source.file, violations)

    def report(self, quads: Iterable[Quad], name: str, *, private: bool = True) -> ValidationReport:
        """The findings on one document's ``quads`` (with the ontology graph) in a scratch store of its own.

        The store is nobody else's, so by default the rules without focus nodes are not run
        (:func:`~kg.shapes.sparql_engine.run_sparql`); ``private=False`` runs every constraint, as
        validating a shared store does (the tests compare the two).
        """
        store = Store()
        store.extend(self.vocabulary)
        store.extend(quads)
        return validate(Dataset(store, name), self.shapes, engine=self.engine, private=private)

    def __reduce__(self) -> tuple[object, ...]:
        return (StructuralCheck, (self.settings, self.engine))


def structural_check(settings: Settings, *, engine: Engine = "sparql") -> StructuralCheck:
    """The structural check of every document a build writes (see :class:`StructuralCheck`)."""
    return StructuralCheck(settings, engine)
