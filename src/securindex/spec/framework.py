"""The framework specification: a composite index as a tree plus a processing pipeline.

A framework YAML names where its indicators are defined (``indicators``: catalogue files or
folders, relative to the framework file), may declare dataset columns that already are
indicators (``columns``), gives the default ``pipeline`` (screen → impute → treat →
normalise → weight → aggregate), per-indicator ``overrides`` and the ``structure``: a list
of nodes whose children are node ids or indicator ids. Nodes nobody refers to are the
children of the root, whose id is the framework's ``id``.

These models check what one field or one node can check alone (types, id syntax, signs of
weights, a node's own children). Checks that need the whole tree or the catalogue — unknown
ids, an indicator under two parents, cycles, unknown methods, a geometric mean over scores
that can be 0 — live in :class:`securindex.framework.Framework`, which locates each problem
at its ``file:line`` in the YAML.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, Part I, steps 1–6. OECD Publishing. doi:10.1787/9789264043466-en
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from securindex.spec.indicator import Category, Polarity, _check_unit

__all__ = [
    "ColumnIndicator",
    "FrameworkSpec",
    "HigherIs",
    "IndicatorOverride",
    "MissingPolicy",
    "Node",
    "Pipeline",
    "RootSettings",
    "Step",
]

_IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]*$"

HigherIs = Literal["better", "worse"]
"""The direction of a score: ``better`` (more is better, the default) or ``worse`` (more is
worse: a peace, hardship or inequality index). Ranks follow it: rank 1 is the best."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _non_negative_weight(value: float | None) -> float | None:
    if value is not None and not value >= 0:
        raise ValueError(
            f"weight must be >= 0 (a share of the parent, renormalised among siblings); got "
            f"{value:g}. To reverse an indicator use polarity: negative, not a negative weight"
        )
    return value


class Step(BaseModel):
    """One pipeline step: a registered ``method`` and its keyword parameters.

    Every key but ``method`` is a parameter. Most go to the method itself; a few are read by
    the pipeline (see :data:`securindex.framework.PIPELINE_OPTIONS`), e.g. ``reference`` of
    the normalise step.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    method: str = Field(pattern=r"^[a-z][a-z0-9_]*$")

    @property
    def params(self) -> dict[str, Any]:
        """The parameters (every key but ``method``), as a new dict."""
        return dict(self.model_extra or {})

    def key(self) -> str:
        """A hashable text form, to group indicators that share the same step."""
        return repr((self.method, sorted(self.params.items(), key=lambda kv: kv[0])))


def _step(method: str, **params: Any) -> Step:
    return Step(method=method, **params)


class MissingPolicy(_Spec):
    """What a node does with rows where some children are missing.

    ``renormalise``: use the present children, their weights rescaled to sum to one;
    ``coverage``: as renormalise, but the node is not scored (NaN) when the present
    children's share of the weight is below ``min_coverage``; ``fail``: any missing child
    is an error.
    """

    policy: Literal["renormalise", "coverage", "fail"] = "renormalise"
    min_coverage: float = Field(default=0.5, ge=0.0, le=1.0)


class Pipeline(_Spec):
    """Default steps of the construction pipeline (OECD/JRC Handbook steps 3–6).

    ``missing`` is the default missing-data policy of every node (nodes and the root may
    override it).
    """

    screen: Step = Field(default_factory=lambda: _step("none"))
    impute: Step = Field(default_factory=lambda: _step("none"))
    treat: Step = Field(default_factory=lambda: _step("none"))
    normalise: Step = Field(default_factory=lambda: _step("minmax", lo=0.0, hi=100.0))
    weight: Step = Field(default_factory=lambda: _step("explicit"))
    aggregate: Step = Field(default_factory=lambda: _step("arithmetic"))
    missing: MissingPolicy = Field(default_factory=lambda: MissingPolicy())


class Node(_Spec):
    """An inner node of the index tree (a dimension, pillar or sub-index)."""

    id: str = Field(pattern=_IDENTIFIER)
    name: str = ""
    description: str = ""
    weight: float = Field(default=1.0, description="nominal weight within its parent, >= 0")
    children: list[str] = Field(
        default_factory=list,
        description="child node and indicator ids (a formula node: default, the ids its "
        "formula names)",
    )
    formula: str | None = Field(
        default=None,
        description="the node's score as a formula of its children's scores, naming them "
        "by id (e.g. 'female / male', '1 - sqrt(a * b)'); replaces weighting and aggregate",
    )
    range: tuple[float, float] | None = Field(
        default=None,
        description="the interval the node's scores must lie in, [low, high]: checked at "
        "load against the children's ranges and on the scores",
    )
    aggregate: Step | None = None
    weighting: Step | None = Field(
        default=None,
        description="how this node's children are weighted (overrides pipeline.weight)",
    )
    missing: MissingPolicy | None = None
    impute: Step | None = Field(
        default=None,
        description="imputation of the node's own scores (an impute method), for rows the "
        "node could not score: e.g. an entity with no data in the dimension",
    )
    normalise: Step | None = Field(
        default=None,
        description="a second normalisation of the node's own scores (after its imputation), "
        "e.g. {method: minmax, lo: 1, hi: 100}: the rescaled average of a hardship index",
    )
    higher_is: HigherIs | None = Field(
        default=None, description="direction of the node's scores (default: the framework's)"
    )

    @field_validator("weight")
    @classmethod
    def _weight_not_negative(cls, value: float) -> float:
        _non_negative_weight(value)
        return value

    @field_validator("children")
    @classmethod
    def _children_unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"children listed more than once: {repeated}")
        return value

    @field_validator("range")
    @classmethod
    def _range_ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        return _ordered_range(value)

    @model_validator(mode="after")
    def _children_or_formula(self) -> Node:
        if not self.children and self.formula is None:
            raise ValueError(
                f"node '{self.id}' has no children: list them under 'children', or give the "
                "node a 'formula' over its children's ids"
            )
        if self.formula is not None:
            _formula_alone(self.aggregate, self.weighting)
        return self


def _ordered_range(value: tuple[float, float] | None) -> tuple[float, float] | None:
    if value is not None and not value[0] <= value[1]:
        raise ValueError(f"range must be [low, high] with low <= high; got {list(value)}")
    return value


def _formula_alone(aggregate: Step | None, weighting: Step | None) -> None:
    """A formula node is scored by its formula: an aggregate or weighting would be ignored."""
    given = [k for k, v in (("aggregate", aggregate), ("weighting", weighting)) if v is not None]
    if given:
        raise ValueError(
            f"a node with a formula is scored by the formula, so {' and '.join(given)} would "
            "be ignored; remove them (or remove the formula)"
        )


class RootSettings(_Spec):
    """Optional settings of the root node, whose id is the framework's id.

    ``formula`` scores the root from its children (the top-level nodes, or the ids the
    formula names) instead of a weighted mean; ``children`` lists the root's children
    explicitly, which lets indicators sit directly under the root (a flat index).
    """

    name: str = ""
    children: list[str] = Field(default_factory=list)
    formula: str | None = None
    range: tuple[float, float] | None = None
    aggregate: Step | None = None
    weighting: Step | None = None
    missing: MissingPolicy | None = None
    impute: Step | None = None
    normalise: Step | None = None
    higher_is: HigherIs | None = None

    @field_validator("range")
    @classmethod
    def _range_ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        return _ordered_range(value)

    @model_validator(mode="after")
    def _formula_only(self) -> RootSettings:
        if self.formula is not None:
            _formula_alone(self.aggregate, self.weighting)
        return self


class IndicatorOverride(_Spec):
    """Per-indicator settings that differ from the pipeline defaults."""

    weight: float | None = None
    treat: Step | None = None
    normalise: Step | None = None
    polarity: Polarity | None = None

    @field_validator("weight")
    @classmethod
    def _weight_not_negative(cls, value: float | None) -> float | None:
        return _non_negative_weight(value)


class ColumnIndicator(_Spec):
    """A dataset column that already is an indicator (no YAML file of its own needed).

    With ``denominator``, the indicator is the column divided by that (other) column, as
    COINr's ``Denominate`` does. In YAML, ``code: positive`` is short for
    ``code: {polarity: positive}``.
    """

    name: str = ""
    polarity: Polarity
    unit: str = "dimensionless"
    denominator: str | None = None
    denominator_unit: str = "dimensionless"
    category: Category = "context"
    weight: float = 1.0
    column: str | None = Field(
        default=None, description="the panel variable holding the values (default: the code)"
    )
    description: str = ""

    @field_validator("weight")
    @classmethod
    def _weight_not_negative(cls, value: float) -> float:
        _non_negative_weight(value)
        return value

    @field_validator("column", "denominator")
    @classmethod
    def _a_variable_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(_IDENTIFIER, value):
            raise ValueError(
                f"'{value}' is not a variable name (letters, digits, _): 'column' names a "
                "variable of the panel, not a header of the file. Map the header to a "
                f"variable in the data dictionary (variables: {{my_name: {{column: "
                f"'{value}', unit: ...}}}}) and write column: my_name here"
            )
        return value

    @field_validator("unit", "denominator_unit")
    @classmethod
    def _unit_parses(cls, value: str) -> str:
        return _check_unit(value)


class FrameworkSpec(_Spec):
    """A composite index: metadata, where the indicators come from, pipeline and tree."""

    id: str = Field(pattern=_IDENTIFIER)
    name: str = ""
    version: str = "1"
    description: str = ""
    indicators: list[str] = Field(default_factory=list)
    columns: dict[str, ColumnIndicator] = Field(default_factory=dict)
    dictionary: str | None = Field(
        default=None,
        description="data dictionary of the framework's usual dataset, relative to the file",
    )
    pipeline: Pipeline = Field(default_factory=Pipeline)
    overrides: dict[str, IndicatorOverride] = Field(default_factory=dict)
    root: RootSettings = Field(default_factory=lambda: RootSettings())
    higher_is: HigherIs = Field(
        default="better",
        description="direction of the index's scores: 'better' (default) or 'worse' (a peace, "
        "hardship or inequality index); normalisation orients every indicator that way and "
        "rank 1 is the lowest score",
    )
    structure: list[Node] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list, description="dataset group columns to keep")
    metadata: dict[str, Any] = Field(default_factory=dict)
    engine: str | dict[str, Any] | None = Field(
        default=None,
        description="pandas (default) or dask, or {name: dask, scheduler: ...} "
        "(validated by securindex.engines when run)",
    )
    from_incidents: dict[str, Any] | None = Field(
        default=None,
        description="build the panel from incident records (validated by securindex.incidents)",
    )
    uncertainty: dict[str, Any] | None = Field(
        default=None,
        description="the uncertainty-analysis block (validated by securindex.analysis when run)",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, (int, float)) else value

    @field_validator("columns", mode="before")
    @classmethod
    def _polarity_shorthand(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"polarity": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("columns")
    @classmethod
    def _column_codes(cls, value: dict[str, ColumnIndicator]) -> dict[str, ColumnIndicator]:
        bad = [code for code in value if not re.match(_IDENTIFIER, code)]
        if bad:
            raise ValueError(
                f"column codes must be identifiers (letters, digits, _, starting with a "
                f"letter): {bad}; map other column names to variables in the data dictionary"
            )
        return value
