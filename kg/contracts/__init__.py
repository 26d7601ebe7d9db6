"""Procurement data: import contracts (OCDS or CSV), deduplicate vendors, link contracts to projects.

``import_files`` reads every file first and stops with :class:`ContractsInputError` (file, line,
what was wrong) before touching the store. Each file then becomes one named graph,
``<base>graph/contracts/<file stem>``, written to a staging graph and swapped in, so importing a
file again replaces what it imported before. After that the vendors graph ``<base>graph/vendors``
is recomputed from every imported contract (like the agencies graph after a build), because
deduplication looks across files.

Two input forms:

- **OCDS** (Open Contracting Data Standard) release packages, record packages, a single release
  or a JSON list of releases. Releases of one ``ocid`` are merged into a compiled release with
  ``ocdsmerge`` (merge rules given, so no schema is fetched). Each contract (or, without
  contracts, each active award) is one ``bk:Contract``; its suppliers come from its award, the
  buyer is its party (name, ``identifier``, ``additionalIdentifiers``, id), and
  ``planning.budget.projectID`` / ``planning.budget.project`` name the project.
- **CSV** in the budgetkg contract format (UTF-8, ``#`` comment lines, then one header row, wrapped here)::

      contract_id,project_ref,project_name,agency_code,buyer_name,supplier_name,supplier_credit_code,
      amount_yuan,date,title

  ``supplier_name``, ``amount_yuan`` (元) and ``date`` (YYYY-MM-DD) are required, and
  ``project_ref`` or ``project_name``; the other columns may be empty.

Each contract is linked to a project by identifier (a project IRI, its ``year/unit/hash`` path or a
项目编号; confidence 1), else among the projects of its buyer by name (exact, else similarity), else
by a project name no other project has (in the buyer's department when the buyer is known); the buyer
is resolved by any 3- or 6-digit code the store knows, else by its name (:func:`name_key`). Rows that
cannot be linked are reported with the reason; an ambiguous buyer or project name is never guessed.
Vendors are deduplicated by unified social credit code (统一社会信用代码), else by
:func:`normalize_supplier` (legal-form suffixes, full/half width, brackets).

The modules follow the import: :mod:`~kg.contracts.records` (what a file states, credit codes),
:mod:`~kg.contracts.read` (CSV and OCDS), :mod:`~kg.contracts.projects` (matching buyers and
projects), :mod:`~kg.contracts.vendors` (deduplication), :mod:`~kg.contracts.graph` (RDF) and
:mod:`~kg.contracts.imports` (writing the graphs to the store).
"""

from __future__ import annotations

from .graph import contract_quads, vendor_quads
from .imports import FileReport, ImportReport, Unlinked, import_files, refresh_vendors, remove_imports
from .projects import (
    LEADING_PLACES,
    Buyer,
    ContractSettings,
    Match,
    ProjectInfo,
    ProjectMatcher,
    name_key,
    name_score,
    read_agencies,
    read_projects,
    unit_name_keys,
)
from .read import CSV_COLUMNS, CSV_REQUIRED, FORMATS, compile_releases, file_format, read_csv, read_file, read_ocds
from .records import (
    USCC_CHARS,
    ContractRecord,
    ContractsInputError,
    Supplier,
    is_valid_uscc,
    normalize_credit_code,
    uscc_check_char,
)
from .vendors import LEGAL_FORMS, VendorGroup, dedupe_vendors, normalize_supplier

__all__ = [
    "CSV_COLUMNS", "CSV_REQUIRED", "FORMATS", "LEADING_PLACES", "LEGAL_FORMS", "USCC_CHARS", "Buyer", "ContractRecord",
    "ContractSettings", "ContractsInputError", "FileReport", "ImportReport", "Match", "ProjectInfo", "ProjectMatcher",
    "Supplier", "Unlinked", "VendorGroup", "compile_releases", "contract_quads", "dedupe_vendors", "file_format",
    "import_files", "is_valid_uscc", "name_key", "name_score", "normalize_credit_code", "normalize_supplier",
    "read_agencies", "read_csv", "read_file", "read_ocds", "read_projects", "refresh_vendors", "remove_imports",
    "unit_name_keys", "uscc_check_char", "vendor_quads",
]
