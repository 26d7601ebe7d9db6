"""The thresholds of the linking step (:class:`LinkSettings`), from the environment or the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

#: Environment variables that set link thresholds start with this.
ENV_PREFIX = "BUDGETKG_LINK_"


@dataclass(frozen=True)
class LinkSettings:
    """Thresholds of the linking step; defaults documented here and in ``docs/analytics.md``.

    Every field can be set from the environment as ``BUDGETKG_LINK_<FIELD>`` (upper case; a tuple
    is comma-separated) and overridden by ``budgetkg link`` options.

    >>> LinkSettings.from_env({"BUDGETKG_LINK_MIN_SCORE": "0.5"}).min_score
    0.5
    >>> LinkSettings.from_env({"BUDGETKG_LINK_WEAK_CATEGORIES": "satisfaction"}).weak_categories
    ('satisfaction',)
    """

    #: A term joins a concept when its similarity to the concept's leading term is at least this.
    concept_close: float = 0.65
    #: … or to another wording of the concept, if it is at least this similar to the leading one (no chaining).
    concept_leader_min: float = 0.55
    #: … and maps to it with skos:exactMatch (not skos:closeMatch) from this similarity on.
    concept_exact: float = 0.8
    #: Similarity factor for two terms measured in different kinds of unit (percent vs money …).
    unit_mismatch_factor: float = 0.5
    #: Similarity factor for two terms filed under different 一级指标.
    category_mismatch_factor: float = 0.8
    #: Least score of a shared-goal link.
    min_score: float = 0.35
    #: Share of the score that comes from indicator concepts (the rest from goal texts).
    concept_weight: float = 0.6
    #: Least number of informative concepts two linked projects share.
    min_shared_concepts: int = 1
    #: Concepts carried by more than this share of projects are ubiquitous: never shared-goal evidence.
    max_concept_share: float = 0.25
    #: Indicator categories (一级 or 二级, local names of bkcat:) whose concepts are never shared-goal evidence.
    weak_categories: tuple[str, ...] = ("satisfaction", "cost", "output-cost")
    #: When two projects share only one informative concept, their goal texts must agree at least this much.
    single_concept_min_goal: float = 0.2
    #: Goal-text keywords (character bigrams, by tf-idf) kept per project.
    goal_keywords: int = 24
    #: Goal bigrams in more than this share of projects are stop words.
    goal_max_share: float = 0.25
    #: Most shared-goal links a project keeps (its best); a link stays if either end keeps it.
    max_links_per_project: int = 10
    #: Common features (shared by more than block_size projects) per project used to find candidates.
    index_features: int = 8
    #: A feature shared by at most this many projects pairs them all; a commoner one only neighbours.
    block_size: int = 100
    #: Neighbours on each side paired through a common feature (sorted-neighbourhood window).
    window: int = 10
    #: Least score of a lineage or tranche link: core-name similarity, or its mean with goal-text similarity.
    lineage_min_score: float = 0.7
    #: Goal texts can lift a lineage score only for names at least this similar.
    lineage_min_name_score: float = 0.5
    #: Text features for goal keywords and names: bigram (fast, default), jieba or both.
    tokenizer: str = "bigram"

    def __post_init__(self) -> None:
        for f in ("concept_close", "concept_leader_min", "concept_exact", "unit_mismatch_factor",
                  "category_mismatch_factor", "min_score", "concept_weight", "max_concept_share", "goal_max_share",
                  "lineage_min_score", "single_concept_min_goal", "lineage_min_name_score"):
            v = getattr(self, f)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"link setting {f} must be between 0 and 1, not {v}")
        for f in ("min_shared_concepts", "goal_keywords", "max_links_per_project", "index_features", "block_size",
                  "window"):
            if getattr(self, f) < 0:
                raise ValueError(f"link setting {f} must not be negative")
        if self.tokenizer not in ("bigram", "jieba", "both"):
            raise ValueError(f"link setting tokenizer must be bigram, jieba or both, not {self.tokenizer!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> LinkSettings:
        """Defaults, then ``BUDGETKG_LINK_*`` variables, then ``overrides`` that are not None."""
        e = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = e.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = raw.lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                elif isinstance(default, tuple):
                    values[f.name] = tuple(x.strip() for x in raw.split(",") if x.strip())
                else:
                    values[f.name] = raw
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: not a valid {type(default).__name__}: "
                                 f"{raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    def as_text(self) -> list[str]:
        """``name=value`` lines, recorded in the links graph so a link can be traced to its settings."""
        return [f"{f.name}={','.join(v) if isinstance(v := getattr(self, f.name), tuple) else v}"
                for f in fields(self)]
