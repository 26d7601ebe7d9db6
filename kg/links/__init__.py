"""Materialised, explainable links between projects: shared goals, lineage, tranches, served units.

:func:`refresh_links` reads what it needs from the store with SPARQL (projects, indicator names
and units, goal texts) — or takes it from a build that has just parsed every document
(:func:`document_links`, :class:`LinkInputs`) — computes four kinds of link and replaces the named
graph ``<base>graph/links`` with them (see :func:`refresh_links` for how it is written).

1. **Indicator concepts.** Each distinct wording of a 三级指标 (compared without punctuation,
   width or spaces) is a ``bk:IndicatorTerm``. Terms are grouped into ``bk:IndicatorConcept`` s
   (a SKOS scheme), most frequent first: a term joins the concept one of whose wordings it is most
   similar to, if that similarity reaches ``concept_close`` and its similarity to the concept's
   leading (most frequent) wording reaches ``concept_leader_min`` (so concepts cannot drift by
   chaining); else it leads a new concept. Similarity is the idf-weighted Dice coefficient of
   character bigrams, times ``unit_mismatch_factor`` when the two are measured in different kinds
   of unit (percent, money, duration, count …) and ``category_mismatch_factor`` when they sit under
   different 一级指标. A term maps to its concept with ``skos:exactMatch`` when the similarity
   reaches ``concept_exact`` and one wording holds all the other's bigrams (系统验收合格率 ⊃
   验收合格率), else with ``skos:closeMatch`` (硬件/软件维护数量); a ``bk:ConceptMatch`` node carries
   the score and the shared bigrams. Candidate wordings come from an inverted index of bigrams.
2. **Shared goals.** A concept's weight is its idf, ``ln(N / projects carrying it)``. Concepts in
   ``weak_categories`` (满意度指标, 成本指标: who is pleased and what it costs, not what is
   pursued) and concepts on more than ``max_concept_share`` of all projects are left out. Two
   projects are linked when they share at least ``min_shared_concepts`` remaining concepts and
   ``concept_weight · cos(concepts) + (1 − concept_weight) · cos(goal keywords) ≥ min_score``; goal
   keywords are the ``goal_keywords`` highest tf-idf character bigrams of the goal texts. Pairs are
   found with an inverted index (:func:`kg.similarity.candidate_pairs`), not by comparing all pairs;
   each project keeps its ``max_links_per_project`` best links.
3. **Lineage and tranches.** Within one budget unit, two projects whose *core names* (base name
   without served unit, years and generic suffixes such as 项目/经费/费) are similar
   (≥ ``lineage_min_score``) and serve the same unit are the same undertaking: a ``bk:TrancheLink``
   when they are payments of one project (both carry a tranche marker, either is 利息, or one
   carries a marker and both have the same fund year), else a ``bk:LineageLink`` when their fund
   years, budget years or funding sources differ. Links point from the earlier to the later.
4. **Served units.** A project whose name starts with the unit it serves (督审总队…, 公交分局…)
   is linked to that unit: the project's own budget unit when the names agree (公交分局 is
   天津市公安局公共交通治安分局 abbreviated), else a ``bk:ServedUnit`` of the department.

Every link is an IRI node (``<base>link/<kind>/<hash of endpoints>``) with both endpoints,
``bk:score``, ``bk:rule`` and its evidence, so re-runs give byte-identical dumps.

The modules follow the steps: :mod:`~kg.links.settings` (thresholds), :mod:`~kg.links.inputs`
(what is read, from the store or from parsed documents), :mod:`~kg.links.concepts` (1),
:mod:`~kg.links.goals` (2), :mod:`~kg.links.lineage` (3), :mod:`~kg.links.units` (4),
:mod:`~kg.links.ntriples` (the graph's N-Quads text) and :mod:`~kg.links.graph` (the graph's
statements, and writing it to the store). The analysis modules import neither the store nor RDF.
"""

from __future__ import annotations

from .concepts import Concept, Term, cluster_terms, term_similarity, unit_dimension
from .goals import SharedGoal, goal_evidence, shared_goals
from .graph import DIFF_LIMIT, LinkReport, compute_links, refresh_links
from .inputs import DocumentLinks, IndicatorRow, LinkInputs, Project, document_links, read_projects, read_terms
from .lineage import UndertakingLink, classify, core_name, name_similarity, undertakings
from .settings import ENV_PREFIX, LinkSettings
from .units import UNIT_SUFFIXES, ServedLink, ServedUnit, is_abbreviation, served_units, unit_short_name

__all__ = [
    "DIFF_LIMIT", "ENV_PREFIX", "UNIT_SUFFIXES", "Concept", "DocumentLinks", "IndicatorRow", "LinkInputs", "LinkReport",
    "LinkSettings", "Project", "ServedLink", "ServedUnit", "SharedGoal", "Term", "UndertakingLink", "classify",
    "cluster_terms", "compute_links", "core_name", "document_links", "goal_evidence", "is_abbreviation",
    "name_similarity", "read_projects", "read_terms", "refresh_links", "served_units", "shared_goals",
    "term_similarity", "undertakings", "unit_dimension", "unit_short_name",
]
