"""The step families of a framework's pipeline and the options the engines read.

Every engine reads a step the same way: its ``method`` names a record of the family's
registry, a few keys are options the engines read themselves (:data:`PIPELINE_OPTIONS`),
and every other key is a parameter of the method (:func:`split_options`).
"""

from __future__ import annotations

from typing import Any

from securindex.methods._registry import Registry
from securindex.methods.aggregate import aggregators
from securindex.methods.impute import imputers
from securindex.methods.normalise import normalisers
from securindex.methods.screen import screeners
from securindex.methods.treat import treaters
from securindex.methods.weight import weighters
from securindex.spec.framework import Step

__all__ = ["FAMILIES", "PIPELINE_OPTIONS", "split_options"]

FAMILIES: dict[str, Registry[Any]] = {
    "screen": screeners,
    "impute": imputers,
    "treat": treaters,
    "normalise": normalisers,
    "weight": weighters,
    "aggregate": aggregators,
}
"""The pipeline's step families, in the order they run, with their method registries."""

PIPELINE_OPTIONS: dict[str, dict[str, str]] = {
    "screen": {
        "stage": "'raw' (default): availability of the indicator values as computed; "
        "'imputed': availability after imputation (COINr's build_example_coin screens the "
        "imputed data)",
    },
    "impute": {
        "group": "a group column of the data (declared under 'groups' in the data "
        "dictionary); statistics are taken within each group",
    },
    "treat": {
        "per_period": "true: treat each period's rows on their own (the outlier rule, "
        "winsorisation bounds and transforms chosen within each period, as COINr treats a "
        "panel year by year); default false: all periods pooled",
    },
    "normalise": {
        "reference": "'pooled' (default): learn from all periods together, comparable over "
        "time; 'per_period': learn within each period; 'base': learn from base_period",
        "base_period": "the period whose rows are the reference sample (reference: base)",
        "reference_entity": "the entity whose value is the reference of "
        "distance_to_reference (its row in the reference sample)",
    },
    "aggregate": {
        "allow_zero": "true: a mean that needs values > 0 accepts children whose range "
        "reaches 0 (at a fixed lower goalpost); rows where a child is 0 are not scored by "
        "the node (NaN, recorded in the audit) instead of stopping the build",
    },
}
"""Step keys read by the pipeline, not passed to the method: family → key → meaning."""


def split_options(family: str, step: Step) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a step's keys into the pipeline's options and the method's parameters.

    Examples
    --------
    >>> split_options("normalise", Step(method="minmax", lo=1, reference="pooled"))
    ({'reference': 'pooled'}, {'lo': 1})
    """
    reserved = PIPELINE_OPTIONS.get(family, {})
    params = step.params
    options = {k: params.pop(k) for k in list(params) if k in reserved}
    return options, params
