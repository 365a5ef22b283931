"""The framework specification: a composite index as a tree plus a processing pipeline.

A framework YAML names where its indicators are defined (``indicators``: catalogue files or
folders, relative to the framework file), may declare dataset columns that already are
indicators (``columns``), gives the default ``pipeline`` (screen → impute → treat →
normalise → weight → aggregate), per-indicator ``overrides`` and the ``structure``: a list
of nodes whose children are node ids or indicator ids. Nodes nobody refers to are the
children of the root, whose id is the framework's ``id``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from securindex.spec.indicator import Category, Polarity

__all__ = [
    "ColumnIndicator",
    "FrameworkSpec",
    "IndicatorOverride",
    "MissingPolicy",
    "Node",
    "Pipeline",
    "RootSettings",
    "Step",
]

_IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]*$"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Step(BaseModel):
    """One pipeline step: a registered ``method`` and its keyword parameters."""

    model_config = ConfigDict(frozen=True, extra="allow")

    method: str

    @property
    def params(self) -> dict[str, Any]:
        """The method's parameters (every key but ``method``)."""
        return dict(self.model_extra or {})

    def key(self) -> str:
        """A hashable text form, to group indicators that share the same step."""
        return repr((self.method, sorted(self.params.items(), key=lambda kv: kv[0])))


def _step(method: str, **params: Any) -> Step:
    return Step(method=method, **params)


class Pipeline(_Spec):
    """Default steps of the construction pipeline (OECD/JRC Handbook steps 3–6)."""

    screen: Step = Field(default_factory=lambda: _step("none"))
    impute: Step = Field(default_factory=lambda: _step("none"))
    treat: Step = Field(default_factory=lambda: _step("none"))
    normalise: Step = Field(default_factory=lambda: _step("minmax", lo=0.0, hi=100.0))
    weight: Step = Field(default_factory=lambda: _step("explicit"))
    aggregate: Step = Field(default_factory=lambda: _step("arithmetic"))


class MissingPolicy(_Spec):
    """What a node does with rows where some children are missing.

    ``renormalise``: use the present children, their weights rescaled to sum to one;
    ``coverage``: as renormalise, but NaN when the present children's share of the nominal
    weight is below ``min_coverage``; ``fail``: any missing child is an error.
    """

    policy: Literal["renormalise", "coverage", "fail"] = "renormalise"
    min_coverage: float = Field(default=0.5, ge=0.0, le=1.0)


class Node(_Spec):
    """An inner node of the index tree (a dimension, pillar or sub-index)."""

    id: str = Field(pattern=_IDENTIFIER)
    name: str = ""
    description: str = ""
    weight: float = Field(default=1.0, ge=0.0, description="nominal weight within its parent")
    children: list[str] = Field(min_length=1)
    aggregate: Step | None = None
    weighting: Step | None = Field(
        default=None, description="how this node's children are weighted (overrides pipeline.weight)"
    )
    missing: MissingPolicy | None = None

    @field_validator("children")
    @classmethod
    def _children_unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"children listed more than once: {repeated}")
        return value


class RootSettings(_Spec):
    """Optional settings of the root node, whose id is the framework's id."""

    name: str = ""
    aggregate: Step | None = None
    weighting: Step | None = None
    missing: MissingPolicy | None = None


class IndicatorOverride(_Spec):
    """Per-indicator settings that differ from the pipeline defaults."""

    weight: float | None = Field(default=None, ge=0.0)
    treat: Step | None = None
    normalise: Step | None = None
    polarity: Polarity | None = None


class ColumnIndicator(_Spec):
    """A dataset column that already is an indicator (no YAML file of its own needed).

    With ``denominator``, the indicator is the column divided by that (other) column, as
    COINr's ``Denominate`` does.
    """

    name: str = ""
    polarity: Polarity
    unit: str = "dimensionless"
    denominator: str | None = None
    denominator_unit: str = "dimensionless"
    category: Category = "context"
    weight: float = Field(default=1.0, ge=0.0)
    column: str | None = None
    description: str = ""


class FrameworkSpec(_Spec):
    """A composite index: metadata, where the indicators come from, pipeline and tree."""

    id: str = Field(pattern=_IDENTIFIER)
    name: str = ""
    version: str = "1"
    description: str = ""
    indicators: list[str] = Field(default_factory=list)
    columns: dict[str, ColumnIndicator] = Field(default_factory=dict)
    pipeline: Pipeline = Field(default_factory=Pipeline)
    overrides: dict[str, IndicatorOverride] = Field(default_factory=dict)
    root: RootSettings = Field(default_factory=lambda: RootSettings())
    structure: list[Node] = Field(min_length=1)
    groups: list[str] = Field(default_factory=list, description="dataset group columns to keep")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, (int, float)) else value

    @model_validator(mode="after")
    def _tree_shape(self) -> FrameworkSpec:
        ids = [node.id for node in self.structure]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"node ids used more than once: {repeated}")
        if self.id in ids:
            raise ValueError(f"the framework id '{self.id}' is the root; no node may use it")
        seen: dict[str, str] = {}
        for node in self.structure:
            for child in node.children:
                if child in seen:
                    raise ValueError(
                        f"'{child}' is a child of both '{seen[child]}' and '{node.id}'; "
                        "each indicator and node belongs to one parent"
                    )
                seen[child] = node.id
        return self
