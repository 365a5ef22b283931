"""What runs on partitions, read from the methods' registry records (never their names)."""

from __future__ import annotations

from securindex.errors import SecurindexError, SpecError
from securindex.framework import Framework
from securindex.methods._statistics import statistic_of
from securindex.plan import StepPlan


def _partition_problem(step: StepPlan) -> str | None:
    """Why a step cannot run on partitions (None: it can), read from its registry record."""
    method = step.method
    family = step.family
    if family == "normalise":
        if step.options.get("reference_entity") is not None:
            return (
                "normalise option 'reference_entity' is not supported by the dask engine (it needs "
                "the position of one entity's row in the reference sample); use engine: pandas"
            )
        return None
    if family == "treat":
        if method.learn_from is not None and method.apply is not None:
            try:
                statistic_of(method, step.params)
            except SpecError as exc:
                return f"{exc.args[0] if exc.args else exc}; or use engine: pandas"
            return None
        if method.learn is not None or not method.learns:
            return None
        why = (
            "it learns from whole columns in one call; register it with statistic=, "
            "learn_from= and apply= (or as a learn/apply pair) to run on partitions"
        )
    elif family == "impute":
        if method.panel or not method.learns or method.statistic is not None:
            return None
        why = "it learns from the data but declares no statistic= to learn from partitions"
    elif family == "weight":
        if not method.learns:
            return None
        why = "it learns weights from the whole matrix"
    elif family == "aggregate":
        if method.rowwise:
            return None
        why = "it compares rows with each other"
    else:
        return None
    return (
        f"{family} method '{method.name}' is not supported by the dask engine ({why}). Use "
        "engine: pandas for this framework, or choose another method"
    )


def check_supported(framework: Framework) -> None:
    """Raise one :class:`SpecError` listing every step the Dask engine cannot run.

    What a method needs is read from its registry record: a normaliser or imputer that
    learns gathers its reference sample unless it declares a mergeable ``statistic``; a
    treat method learns from merged summaries (``statistic``, ``learn_from``, ``apply``)
    or is a learn/apply pair; weighting methods that learn from the whole matrix and
    aggregators that compare rows are refused, with the reason.

    Examples
    --------
    >>> # a framework whose weights are PCA-derived would raise:
    >>> # SpecError: pipeline.weight: weight method 'pca_loadings' is not supported by the
    >>> # dask engine (it learns weights from the whole matrix) ...
    """
    issues = []
    for path, family, step in framework._steps():
        if path[0] in ("structure", "root") and path[-1] in ("impute", "normalise"):
            continue  # a node's own impute/normalise step: refused below with the reason
        problem = _partition_problem(StepPlan.of(family, step))
        if problem:
            issues.append(framework._issue((*path, "method"), problem))
        if family == "treat" and step.params.get("per_period", False) is True:
            issues.append(
                framework._issue(
                    (*path, "per_period"),
                    "treat option 'per_period' is not supported by the dask engine yet (its "
                    "treatment summaries are merged over all periods); use engine: pandas",
                )
            )
    for node in framework.node_order:  # node formulas, DAGs and ranges run on partitions
        for key, value in (
            ("impute", framework.node_impute_step(node)),
            ("normalise", framework.node_normalise_step(node)),
        ):
            if value is not None:
                issues.append(
                    framework._issue(
                        (*framework._node_path(node), key),
                        f"node '{node}' has its own {key} step, which learns from all rows "
                        "of the node's scores; the dask engine does not run it yet (use "
                        "engine: pandas)",
                    )
                )
    if issues:
        raise SpecError(issues)


def supported(family: str) -> list[str]:
    """The registered methods of ``family`` that run on partitions with their defaults."""
    from securindex.plan.steps import FAMILIES

    out = []
    for method in FAMILIES[family]:
        step = StepPlan(family, method, {}, {}, method.name)
        try:
            problem = _partition_problem(step)
        except SecurindexError:  # pragma: no cover - defaults are valid
            problem = "invalid defaults"
        if problem is None:
            out.append(method.name)
    return out


# the mergeable summaries live with the methods; these names are the engine's own tests'
