"""The effective pipeline of a framework: every step as it will run, and where it comes from.

A framework file need not write every step: what it leaves out takes a default, and a
default that nobody sees is a trap (leaving ``normalise`` out min-max-normalises to
0–100, which turns a peace index of 3.247 into 56.5). :data:`DEFAULTS` is the one table
of those defaults (the documentation prints it); :func:`explain` lists, for a loaded
framework, each pipeline step, each indicator's treatment and normalisation and each
node's scoring, saying whether the file wrote it (``file``), an override did
(``override``), a node did (``node``), or it is the default (``default``).
``securindex validate --explain`` prints it.

Examples
--------
>>> from securindex.framework import Framework
>>> fw = Framework.from_spec({"id": "x", "columns": {"a": "positive"},
...                           "root": {"children": ["a"]}})
>>> [(r.item, r.setting, r.source) for r in explain(fw) if r.item == "pipeline"][3]
('pipeline', 'normalise: minmax lo=0.0 hi=100.0', 'default')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from securindex.methods.normalise import normalisers
from securindex.spec.framework import MissingPolicy, Pipeline, Step

if TYPE_CHECKING:
    from securindex.framework import Framework

__all__ = ["DEFAULTS", "ExplainRow", "describe_step", "explain", "explain_text"]


def describe_step(step: Step | MissingPolicy) -> str:
    """A step as one line: its method and parameters (``minmax lo=0.0 hi=100.0``)."""
    if isinstance(step, MissingPolicy):
        text = step.policy
        return f"{text} min_coverage={step.min_coverage:g}" if text == "coverage" else text
    params = " ".join(f"{k}={v}" for k, v in step.params.items())
    return f"{step.method} {params}".strip()


_MEANING = {
    "screen": "keep every row",
    "impute": "leave gaps (nodes use the children present)",
    "treat": "no outlier treatment",
    "normalise": "min-max to [0, 100], learnt from all periods pooled; polarity applied",
    "weight": "the nominal weights written in the file (1 each if none), rescaled to sum 1",
    "aggregate": "weighted arithmetic mean of the children present",
    "missing": "renormalise: score a node from the children present",
}

DEFAULTS: dict[str, tuple[str, str]] = {
    family: (describe_step(getattr(Pipeline(), family)), meaning)
    for family, meaning in _MEANING.items()
}
"""Each pipeline step a framework may leave out → (the default step, what it does)."""
DEFAULTS["higher_is"] = ("better", "a higher score is better; rank 1 is the highest score")


@dataclass(frozen=True)
class ExplainRow:
    """One line of the effective pipeline.

    Attributes
    ----------
    item : str
        ``pipeline``, an indicator id or a node id.
    setting : str
        What runs (``normalise: goalposts lo=20 hi=85``).
    source : str
        ``file``, ``override``, ``node`` or ``default``.
    """

    item: str
    setting: str
    source: str


def explain(framework: Framework) -> list[ExplainRow]:
    """The effective pipeline of ``framework``: every step as it will run, with its source."""
    spec = framework.spec
    written = spec.pipeline.model_fields_set
    rows = [
        ExplainRow(
            "pipeline",
            f"{family}: {describe_step(getattr(spec.pipeline, family))}",
            "file" if family in written else "default",
        )
        for family in _MEANING
    ]
    rows.append(
        ExplainRow(
            "pipeline",
            f"higher_is: {spec.higher_is}",
            "file" if "higher_is" in spec.model_fields_set else "default",
        )
    )
    for indicator in framework.indicators:
        override = spec.overrides.get(indicator)
        normaliser = normalisers.get(framework.normalise_step(indicator).method)
        if not normaliser.applies_direction:
            direction = "values kept as they are"
        else:
            direction = "kept" if framework.direction(indicator) > 0 else "reversed"
        rows.append(
            ExplainRow(indicator, f"polarity: {framework.polarity(indicator)} ({direction})", "")
        )
        for family, step in (
            ("treat", framework.treat_step(indicator)),
            ("normalise", framework.normalise_step(indicator)),
        ):
            own = override is not None and getattr(override, family) is not None
            source = "override" if own else ("file" if family in written else "default")
            rows.append(ExplainRow(indicator, f"{family}: {describe_step(step)}", source))
    for node in framework.postorder():
        rows.extend(_node_rows(framework, node))
    return rows


def _node_rows(framework: Framework, node: str) -> list[ExplainRow]:
    spec = framework.spec
    own: Any = spec.root if node == framework.id else framework._node_specs[node]
    written = spec.pipeline.model_fields_set
    children = ", ".join(framework.children[node])
    rows = [ExplainRow(node, f"children: {children}", "node")]
    if node in framework.formulas:
        rows.append(ExplainRow(node, f"formula: {framework.formulas[node].text}", "node"))
    else:
        for key, family, step in (
            ("weighting", "weight", framework.weight_step(node)),
            ("aggregate", "aggregate", framework.aggregate_step(node)),
            ("missing", "missing", framework.missing_policy(node)),
        ):
            source = (
                "node"
                if getattr(own, key, None) is not None
                else ("file" if family in written else "default")
            )
            rows.append(ExplainRow(node, f"{family}: {describe_step(step)}", source))
    for key, value in (
        ("impute", framework.node_impute_step(node)),
        ("normalise", framework.node_normalise_step(node)),
        ("range", framework.node_range(node)),
    ):
        if value is not None:
            text = describe_step(value) if isinstance(value, Step) else list(value)
            rows.append(ExplainRow(node, f"{key}: {text}", "node"))
    direction = framework.higher_is(node)
    source = "node" if getattr(own, "higher_is", None) is not None else "framework"
    rows.append(ExplainRow(node, f"higher_is: {direction}", source))
    return rows


def explain_text(framework: Framework) -> str:
    """:func:`explain` as aligned text, one line per setting (what the CLI prints)."""
    rows = explain(framework)
    width = max(len(r.item) for r in rows)
    setting = max(len(r.setting) for r in rows)
    lines = [f"{framework.id}: the effective pipeline ('default': not written in the file)"]
    for row in rows:
        source = f"  [{row.source}]" if row.source else ""
        lines.append(f"  {row.item:<{width}}  {row.setting:<{setting}}{source}".rstrip())
    return "\n".join(lines)
