"""What goes wrong in validation: shapes that cannot be compiled, data that cannot be read, a failed check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BudgetKGError, ValidationError

if TYPE_CHECKING:
    from .report import Finding


class ShapesError(BudgetKGError):
    """The shapes cannot be loaded or use a SHACL feature the fast path does not compile."""


class RDFInputError(BudgetKGError):
    """An RDF file given for validation cannot be read or parsed."""


class StructureViolation(ValidationError):
    """A document's quads violate the structural shapes; ``findings`` holds every violation."""

    def __init__(self, source: str, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__(source, [f.short() for f in findings])
