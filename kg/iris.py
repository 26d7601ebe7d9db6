"""Every IRI of instance data budgetkg mints, in one place.

IRIs are deterministic functions of the source content under one configurable base IRI
(``BUDGETKG_BASE_IRI``, see :mod:`kg.settings`), so a rebuild mints the same IRIs and the sorted
N-Quads dump is byte-identical. Vocabulary IRIs (classes, properties, concept schemes) do not move
with the base: they are spelled in :mod:`kg.namespaces` only. The store's own bookkeeping graphs
(staging, journal, the writing marker) live under the ``urn:budgetkg:`` namespace, never published.

>>> iris = Iris("http://ex.org")
>>> iris.base
'http://ex.org/'
>>> iris.agency("341101").value
'http://ex.org/agency/341101'
>>> iris.graph("004_5346273e88d8e34b.txt").value
'http://ex.org/graph/004_5346273e88d8e34b'
>>> iris.contract("合同 2024.json", "c-1").value
'http://ex.org/contract/c98442fe0df4ac9c/c-1'
>>> staging_graph(3).value
'urn:budgetkg:staging:3'
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from pathlib import Path
from typing import Protocol

from pyoxigraph import NamedNode

from .namespaces import ONTOLOGY_IRI

#: Graphs of the store's own bookkeeping start with this: staged content, the journal.
STAGING_PREFIX = "urn:budgetkg:staging:"
#: The journal a writer keeps while it swaps staged graphs in (see :mod:`kg.store`).
JOURNAL = NamedNode(STAGING_PREFIX + "journal")
#: The marker graph a writer holds while it writes.
WRITING = NamedNode("urn:budgetkg:writing")
#: A graph nobody writes: a remote query's default graph when it must be empty (:mod:`kg.store.remote`).
EMPTY_GRAPH = NamedNode("urn:budgetkg:empty")


def staging_graph(n: int | str) -> NamedNode:
    """The ``n``-th staging graph of a write (never visible to readers)."""
    return NamedNode(f"{STAGING_PREFIX}{n}")


def is_staging(graph: NamedNode) -> bool:
    """Whether ``graph`` is bookkeeping (staging or journal) rather than published content.

    >>> is_staging(JOURNAL), is_staging(NamedNode("http://ex.org/graph/links"))
    (True, False)
    """
    return graph.value.startswith(STAGING_PREFIX)


def is_published(graph: NamedNode, base: str) -> bool:
    """Whether ``graph`` is one of the graphs budgetkg publishes under ``base``: the ontology's, or one
    whose IRI starts with ``<base>graph/`` (a remote server's other graphs — Virtuoso's system graphs, other
    datasets — are not budgetkg's).

    >>> [is_published(NamedNode(g), "http://ex.org/") for g in ("http://ex.org/graph/links", "http://ex.org/g")]
    [True, False]
    """
    return graph.value == ONTOLOGY_IRI or graph.value.startswith(Iris(base).graphs_prefix)


def normalise_base(base: str) -> str:
    """A base IRI ends with ``/`` or ``#``; one is added when it does not.

    >>> normalise_base("http://x.org/data"), normalise_base("http://x.org/data#")
    ('http://x.org/data/', 'http://x.org/data#')
    """
    return base if base.endswith(("/", "#")) else base + "/"


def digest(text: str, n: int = 12) -> str:
    """The first ``n`` hex digits of the SHA-1 of ``text`` (a stable, short IRI segment)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def slug(text: str) -> str:
    """``text`` when it is a safe IRI segment, else a 16-digit digest of it.

    >>> slug("2024-contracts"), slug("合同")
    ('2024-contracts', '59404d40888710e6')
    """
    if re.fullmatch(r"[A-Za-z0-9._~-]{1,64}", text):
        return text
    return digest(text, 16)


class _Project(Protocol):
    """What a project IRI is minted from (a :class:`kg.model.ProjectRecord`)."""

    @property
    def unit_code(self) -> str: ...

    @property
    def name(self) -> str: ...


class Iris:
    """Mints the IRIs of instance data under one base IRI."""

    def __init__(self, base: str) -> None:
        self.base = normalise_base(base)

    @cached_property
    def graphs_prefix(self) -> str:
        """What the IRI of every named graph budgetkg writes under this base starts with (the ontology's apart)."""
        return f"{self.base}graph/"

    # -- the dataset, documents, agencies, projects ---------------------------------------------
    @cached_property
    def dataset(self) -> NamedNode:
        """The dataset as a whole (its VoID/DCAT description is served at ``/dataset``)."""
        return NamedNode(f"{self.base}dataset")

    def agency(self, code: str) -> NamedNode:
        return NamedNode(f"{self.base}agency/{code}")

    def document(self, file: str) -> NamedNode:
        return NamedNode(f"{self.base}document/{Path(file).stem}")

    def graph(self, file: str) -> NamedNode:
        """The named graph of one source document."""
        return NamedNode(f"{self.graphs_prefix}{Path(file).stem}")

    def superseded_version(self, file: str, project: NamedNode) -> NamedNode:
        """The version of ``project`` in document ``file`` that a revision superseded."""
        return NamedNode(f"{self.document(file).value}/superseded/{project.value.rsplit('/', 1)[1]}")

    def project(self, rec: _Project, year: int, salt: int = 0) -> NamedNode:
        key = f"{year}|{rec.unit_code}|{rec.name}" + (f"|{salt}" if salt else "")
        return NamedNode(f"{self.base}project/{year}/{rec.unit_code}/{digest(key)}")

    def project_by_path(self, path: str) -> str:
        """A project IRI from its path under ``project/`` (``2024/341101/abc…``)."""
        return f"{self.base}project/{path.strip('/')}"

    # -- derived graphs ------------------------------------------------------------------------
    @cached_property
    def agencies_graph(self) -> NamedNode:
        """The one graph that describes agencies (budget units and departments)."""
        return NamedNode(f"{self.base}graph/agencies")

    @cached_property
    def links_graph(self) -> NamedNode:
        return NamedNode(f"{self.base}graph/links")

    @cached_property
    def findings_graph(self) -> NamedNode:
        return NamedNode(f"{self.base}graph/findings")

    @cached_property
    def vendors_graph(self) -> NamedNode:
        return NamedNode(f"{self.base}graph/vendors")

    @cached_property
    def summaries_graph(self) -> NamedNode:
        """Counts of the other graphs (VoID partitions, the totals of ``budgetkg stats``), kept by the build."""
        return NamedNode(f"{self.base}graph/summaries")

    @cached_property
    def analytics_graph(self) -> NamedNode:
        """What analysts aggregate, computed by the build (:mod:`kg.analytics`): the budget cube and more."""
        return NamedNode(f"{self.base}graph/analytics")

    @cached_property
    def budget_cube(self) -> NamedNode:
        """The qb:DataSet of the budget observations (in the analytics graph)."""
        return NamedNode(f"{self.base}cube/budget")

    def observation(self, key: str) -> NamedNode:
        """One observation of the budget cube (``key``: a digest of its dimensions)."""
        return NamedNode(f"{self.base}cube/budget/{key}")

    def answer(self, query: str) -> NamedNode:
        """A named query's whole answer kept by the build (in the analytics graph)."""
        return NamedNode(f"{self.base}answer/{query}")

    def answer_row(self, query: str, number: int) -> NamedNode:
        """Row ``number`` of a named query's answer kept by the build (in the analytics graph)."""
        return NamedNode(f"{self.base}answer/{query}/{number}")

    def summary(self, graph: NamedNode) -> NamedNode:
        """The summary of one document graph (its counts) in the summaries graph."""
        return NamedNode(f"{self.base}summary/{graph.value.rsplit('/', 1)[1]}")

    def partition(self, kind: str, term: str) -> NamedNode:
        """A VoID class (``kind="class"``) or property partition of the dataset, in the summaries graph."""
        return NamedNode(f"{self.base}summary/{kind}/{digest(term, 16)}")

    # -- links -----------------------------------------------------------------------------------
    @cached_property
    def concept_scheme(self) -> NamedNode:
        return NamedNode(f"{self.base}indicator-concept/scheme")

    @cached_property
    def term_scheme(self) -> NamedNode:
        return NamedNode(f"{self.base}indicator-term/scheme")

    @cached_property
    def link_settings(self) -> NamedNode:
        return NamedNode(f"{self.base}link/settings")

    def concept(self, key: str) -> str:
        """An indicator concept (a string: the links graph is written as N-Quads text)."""
        return f"{self.base}indicator-concept/{digest(key)}"

    def term(self, key: str) -> str:
        return f"{self.base}indicator-term/{digest(key)}"

    def link(self, kind: str, a: str, b: str) -> str:
        return f"{self.base}link/{kind}/{digest(a + '|' + b, 16)}"

    def undertaking(self, first: str) -> str:
        """An undertaking (projects joined by lineage and tranche links), named by its first member's IRI."""
        return f"{self.base}undertaking/{digest(first, 16)}"

    def served_unit(self, department: str, name: str) -> str:
        return f"{self.base}served-unit/{department}/{digest(name, 10)}"

    def served_unit_link(self, project: str) -> str:
        """The link from a project to the unit it serves (a project serves one unit)."""
        return f"{self.base}link/served-unit/{digest(project, 16)}"

    # -- contracts and vendors -----------------------------------------------------------------
    def contracts_graph(self, file: str) -> NamedNode:
        return NamedNode(f"{self.contracts_graph_prefix}{slug(Path(file).stem)}")

    @cached_property
    def contracts_graph_prefix(self) -> str:
        return f"{self.base}graph/contracts/"

    def procurement(self, file: str) -> NamedNode:
        """The procurement source (one contracts file)."""
        return NamedNode(f"{self.base}procurement/{slug(Path(file).stem)}")

    def contract(self, file: str, contract_id: str) -> NamedNode:
        return NamedNode(f"{self.base}contract/{slug(Path(file).stem)}/{slug(contract_id)}")

    def vendor(self, key: str) -> NamedNode:
        """A vendor by ``uscc:<credit code>`` or ``name:<normalised name>``."""
        kind, _, value = key.partition(":")
        if kind == "uscc":
            return NamedNode(f"{self.base}vendor/{value}")
        return NamedNode(f"{self.base}vendor/name-{digest(value)}")
