"""One version of every project, whatever documents are loaded.

A project's IRI is minted from its budget year, budget-unit code and name (:meth:`kg.rdf.Iris.project`),
so two documents that publish the same table mint the same project. Budget documents do overlap:
a department's volume and its units' own publications, the 年初预算 and a later 调整预算, a corrected
re-publication. If both were stored, each fact of the project would sit in two graphs and every
total over it would count it twice (see :mod:`kg.integrity`). So a build decides, before a
document is written, who describes each project:

- A document that **revises** another (manifest ``revises = "OLD.txt"``, or ``budgetkg build NEW
  --revises OLD``) supersedes, project by project, the earlier document's version of every project
  both hold. The revising document describes the project; the earlier document keeps the rest of
  its projects and records the superseded table as a ``bk:SupersededVersion`` (its lines, and
  ``bk:supersededBy`` the revising document), which the project ``prov:wasRevisionOf``; the revising
  document ``prov:wasRevisionOf`` the earlier one. Revision is transitive: a correction of a
  调整预算 supersedes both earlier versions. A project the revision does not contain stays with the
  earlier document (a 调整预算 may re-publish only the tables it changes).
- Any other project held by two documents (the same tables under another file name, a unit's own
  publication beside its department's) is refused: :class:`DuplicateProject` names both files and
  lines, the build stops with exit 2, and the store keeps its previous state.

Because which of its projects an earlier document keeps depends on its revisions, a build that
includes a revising document also rebuilds the documents it revises (from the manifest), and a
document is converted only after the documents that revise it (:attr:`Plan.waves`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pyoxigraph import NamedNode

from .errors import BudgetKGError, ManifestError
from .iris import STAGING_PREFIX, Iris
from .model import SourceEntry
from .namespaces import BK, DCTERMS, PROV, RDFS
from .store import GraphStore, solutions, term_value


@dataclass(frozen=True)
class Held:
    """Where a project is described: its document's file, the table's first line, its name."""

    file: str
    line: int
    name: str


class DuplicateProject(BudgetKGError):
    """Two documents hold the same project and neither declares that it revises the other."""

    def __init__(self, project: str, first: Held, second: Held) -> None:
        self.project = project
        self.first = first
        self.second = second
        super().__init__(
            f"{second.file}:{second.line}: project {second.name!r} is also in {first.file}:{first.line} "
            f"(same budget year, budget unit and name: {project}). A project can have one version only. "
            f"If {second.file} revises {first.file} (调整预算, a correction), declare it: revises = "
            f'"{first.file}" in its manifest entry, or budgetkg build {second.file} --revises {first.file}. '
            "If it is the same document under another name, build only one of them.")


_STORED_DOCUMENTS = f"""
SELECT ?g ?doc ?file WHERE {{ GRAPH ?g {{ ?doc a <{BK.SourceDocument.value}> ; <{DCTERMS.identifier.value}> ?file }} }}
"""

_STORED_REVISIONS = f"""
SELECT ?doc ?earlier WHERE {{ GRAPH ?g {{ ?doc <{PROV.wasRevisionOf.value}> ?earlier ;
                                             a <{BK.SourceDocument.value}> }} }}
"""

_PROJECTS_OF = f"SELECT ?p WHERE {{ GRAPH ?g {{ ?p a <{BK.Project.value}> }} }}"

_HOLDERS = f"""
SELECT ?p ?g ?line ?name WHERE {{
  GRAPH ?g {{ ?p a <{BK.Project.value}> ; <{BK.lineStart.value}> ?line ; <{RDFS.label.value}> ?name }}
}}
"""


@dataclass
class Plan:
    """What a build converts, in which order, and which document supersedes which project."""

    #: Entries in waves: every document that revises another comes in an earlier wave than it.
    waves: list[list[SourceEntry]]
    #: file → files it revises, as the store will hold it after the build.
    revises: dict[str, set[str]]
    #: Graph → file of the documents in the store that this build leaves as they are.
    others: dict[str, str]
    iris: Iris
    #: Project IRI → where it is described, for the documents converted so far.
    held: dict[str, Held] = field(default_factory=dict)
    #: File → IRIs of the projects it describes (after its own revisions), converted so far.
    owned: dict[str, set[str]] = field(default_factory=dict)
    _revised_by: dict[str, set[str]] | None = None

    @property
    def entries(self) -> list[SourceEntry]:
        return [e for wave in self.waves for e in wave]

    def revised_by(self) -> dict[str, set[str]]:
        """file → the documents that revise it directly (the reverse of :attr:`revises`)."""
        out: dict[str, set[str]] = {}
        for newer, earlier in self.revises.items():
            for f in earlier:
                out.setdefault(f, set()).add(newer)
        return out

    def revisers(self, file: str) -> set[str]:
        """Every document that revises ``file``, directly or through a revision of a revision."""
        if self._revised_by is None:
            self._revised_by = self.revised_by()
        out: set[str] = set()
        todo = [file]
        while todo:
            for other in self._revised_by.get(todo.pop(), ()):
                if other not in out:
                    out.add(other)
                    todo.append(other)
        return out

    def superseded(self, store: GraphStore, file: str) -> dict[str, str]:
        """Projects (IRI → revising document IRI) that ``file``'s revisions describe instead of it."""
        out: dict[str, str] = {}
        by_graph = {f: g for g, f in self.others.items()}
        for reviser in sorted(self.revisers(file)):
            doc = self.iris.document(reviser).value
            if reviser in self.owned:
                projects: Iterable[str] = self.owned[reviser]
            elif reviser in by_graph:
                projects = [term_value(r["p"]) for r in solutions(store.query(
                    _PROJECTS_OF, name="revised projects", substitutions={"g": NamedNode(by_graph[reviser])},
                    union=False))]
            else:
                continue
            for p in projects:
                out.setdefault(p, doc)
        return out

    def claim(self, store: GraphStore, file: str, projects: list[tuple[str, int, str]]) -> None:
        """Record that ``file`` describes ``projects`` (IRI, first line, name), or raise :class:`DuplicateProject`.

        Checked against the documents converted before it in this build and those in the store
        that the build leaves as they are.
        """
        for iri, line, name in projects:
            first = self.held.get(iri)
            if first is not None:
                raise DuplicateProject(iri, first, Held(file, line, name))
        if self.others and projects:
            mine = {iri: (line, name) for iri, line, name in projects}
            ordered = list(mine)
            for k in range(0, len(ordered), 2000):
                values = " ".join(f"<{iri}>" for iri in ordered[k:k + 2000])
                rows = solutions(store.query(_HOLDERS.replace("WHERE {", f"WHERE {{ VALUES ?p {{ {values} }}", 1),
                                             name="project holders", union=False))
                for r in rows:
                    g = term_value(r["g"])
                    if g in self.others:
                        p = term_value(r["p"])
                        line, name = mine[p]
                        raise DuplicateProject(p, Held(self.others[g], int(term_value(r["line"])),
                                                       term_value(r["name"])), Held(file, line, name))
        for iri, line, name in projects:
            self.held[iri] = Held(file, line, name)
        self.owned[file] = {iri for iri, _, _ in projects}


def plan(store: GraphStore, entries: list[SourceEntry], iris: Iris,
         catalogue: Iterable[SourceEntry] = ()) -> Plan:
    """The :class:`Plan` of a build of ``entries`` into ``store``.

    ``catalogue``: the manifest's entries, where a document that must be rebuilt with its revision
    is found. Raises :class:`ManifestError` for a revision cycle or a revised document that is
    in the store but cannot be rebuilt.
    """
    building = {e.file: e for e in entries}
    known = {e.file: e for e in catalogue}
    stored: dict[str, str] = {}  # graph → file
    doc_file: dict[str, str] = {}
    for r in solutions(store.query(_STORED_DOCUMENTS, name="documents", union=False)):
        g = term_value(r["g"])
        if not g.startswith(STAGING_PREFIX):
            stored[g] = term_value(r["file"])
            doc_file[term_value(r["doc"])] = term_value(r["file"])
    for e in (*entries, *catalogue):  # a revision may be in the store before what it revises
        doc_file.setdefault(iris.document(e.file).value, e.file)
    stored_revises: dict[str, set[str]] = {}
    if stored:
        for r in solutions(store.query(_STORED_REVISIONS, name="revisions", union=False)):
            newer, earlier = doc_file.get(term_value(r["doc"])), doc_file.get(term_value(r["earlier"]))
            if newer is not None and earlier is not None:
                stored_revises.setdefault(newer, set()).add(earlier)
    in_store = set(stored.values())

    # Rebuild what a rebuilt document revises (or revised, before this build), transitively:
    # which of its projects an earlier document keeps depends on its revisions.
    todo = list(building)
    while todo:
        file = todo.pop()
        entry = building[file]
        for earlier in set(entry.revises) | stored_revises.get(file, set()):
            if earlier in building or earlier not in in_store:
                continue
            if earlier not in known:
                raise ManifestError(entry.path, f"{file} revises {earlier}, which is in the store but in no "
                                    f"manifest: build both together (budgetkg build {earlier} {file} --year …)")
            building[earlier] = known[earlier]
            todo.append(earlier)

    revises = {f: set(fs) for f, fs in stored_revises.items() if f not in building}
    for file, entry in building.items():
        revises[file] = set(entry.revises)
    others = {g: f for g, f in stored.items() if f not in building}
    result = Plan([], revises, others, iris)

    # waves: a document after every document in this build that revises it
    level: dict[str, int] = {}

    revised_by = result.revised_by()

    def depth(file: str, path: tuple[str, ...] = ()) -> int:
        if file in path:
            cycle = " → ".join((*path[path.index(file):], file))
            raise ManifestError(building[file].path, f"revisions form a cycle: {cycle}")
        if file not in level:
            up = [r for r in revised_by.get(file, ()) if r in building]
            level[file] = 1 + max((depth(r, (*path, file)) for r in up), default=-1)
        return level[file]

    order = [e.file for e in entries] + [f for f in building if f not in {e.file for e in entries}]
    for file in order:
        depth(file)
    for k in range(max(level.values(), default=-1) + 1):
        result.waves.append([building[f] for f in order if level[f] == k])
    return result
