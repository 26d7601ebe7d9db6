"""The source registry: which documents exist and what is known of each (``seeds/manifest.toml``).

A user adds a document by dropping the file next to the manifest and adding an entry::

    [[document]]
    file = "005_….txt"
    budget_year = 2025
    department = "326"
    units = ["326105"]
    publisher = "天津市城市管理综合行政执法总队"
    description = "…"
    revises = "002_….txt"    # optional: an earlier document this one revises (调整预算, correction)

A document that ``revises`` another supersedes that document's version of every project both
hold (:mod:`kg.revisions`); without it, a project held by two documents stops the build.

Department names that the documents do not state can be given, with their source, in
``[department.<code>]`` tables; budgetkg never invents one.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ManifestError
from .model import SourceEntry


@dataclass(frozen=True)
class DepartmentName:
    code: str
    name: str
    source: str


@dataclass
class Manifest:
    path: Path
    entries: list[SourceEntry]
    departments: dict[str, DepartmentName] = field(default_factory=dict)

    def entry_for(self, file: str | Path) -> SourceEntry | None:
        name = Path(file).name
        return next((e for e in self.entries if e.file == name), None)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest. Every listed file must exist beside it."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(p, "no manifest here (expected a TOML file with [[document]] entries)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(p, f"not valid TOML: {exc}") from None
    docs = data.get("document")
    if not isinstance(docs, list) or not docs:
        raise ManifestError(p, "expected at least one [[document]] entry")
    entries: list[SourceEntry] = []
    seen: set[str] = set()
    for i, d in enumerate(docs, start=1):
        where = f"[[document]] #{i}"
        try:
            file = str(d["file"])
            year = int(d["budget_year"])
            dept = str(d["department"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(p, f"{where}: needs file, budget_year (a year) and department ({exc})") from None
        if file in seen:
            raise ManifestError(p, f"{where}: {file} is listed twice")
        seen.add(file)
        if not re.fullmatch(r"\d{3}", dept):
            raise ManifestError(p, f"{where}: department must be a 3-digit code, not {dept!r}")
        units = [str(u) for u in d.get("units", [])]
        bad = [u for u in units if not re.fullmatch(r"\d{6}", u) or not u.startswith(dept)]
        if bad:
            raise ManifestError(p, f"{where}: units must be 6-digit codes under department {dept}: {bad}")
        doc_path = p.parent / file
        if not doc_path.is_file():
            raise ManifestError(p, f"{where}: file {file} does not exist beside the manifest")
        revises = d.get("revises", [])
        revises = [revises] if isinstance(revises, str) else revises
        if not isinstance(revises, list) or not all(isinstance(r, str) and r for r in revises):
            raise ManifestError(p, f"{where}: revises must be a file name or a list of file names, not {revises!r}")
        if file in revises:
            raise ManifestError(p, f"{where}: {file} cannot revise itself")
        entries.append(SourceEntry(
            file=file, path=str(doc_path), budget_year=year, department=dept, units=units,
            description=str(d.get("description", "")), publisher=d.get("publisher"), sha256=d.get("sha256"),
            revises=tuple(Path(r).name for r in revises),
        ))
    depts = {}
    for code, info in (data.get("department") or {}).items():
        if not re.fullmatch(r"\d{3}", code) or not isinstance(info, dict) or "name" not in info or "source" not in info:
            raise ManifestError(p, f"[department.{code}] needs a 3-digit code, a name and the source of that name")
        depts[code] = DepartmentName(code, str(info["name"]), str(info["source"]))
    return Manifest(p, entries, depts)


def adhoc_entry(path: str | Path, budget_year: int, department: str | None = None,
                revises: tuple[str, ...] = ()) -> SourceEntry:
    """An entry for a file that is in no manifest (``budgetkg build FILE --year 2025 [--revises OLD]``).

    The department and units are filled in from the document's own budget-unit lines after parsing.
    """
    p = Path(path)
    return SourceEntry(file=p.name, path=str(p), budget_year=budget_year, department=department or "",
                       units=[], description=f"Added from {p.name} without a manifest entry",
                       revises=tuple(Path(r).name for r in revises))
