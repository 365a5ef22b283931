"""Plots of evaluation results (matplotlib, an optional extra imported inside each function).

* :func:`plot_trajectory` — an indicator's values against its baseline, target and the
  linear trajectory between them (from :func:`~securindex.evaluation.progress_to_target`).
* :func:`plot_before_after` — before/after bars, treated vs control (and buffer), from an
  :class:`~securindex.evaluation.InitiativeEvaluation`.
* :func:`plot_interrupted_time_series` — observed, fitted and counterfactual series.
* :func:`plot_synthetic_control` — the treated area against its synthetic control.
* :func:`plot_event_study` — the effect by periods since adoption with pointwise
  intervals and simultaneous bands, from a
  :class:`~securindex.evaluation.StaggeredDiD`.

Each returns the matplotlib ``Axes`` so the caller can restyle or save it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from securindex.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from securindex.evaluation.initiative import InitiativeEvaluation
    from securindex.evaluation.panel import InterruptedTimeSeries
    from securindex.evaluation.staggered import StaggeredDiD
    from securindex.evaluation.synthetic import SyntheticControl

__all__ = [
    "plot_before_after",
    "plot_event_study",
    "plot_interrupted_time_series",
    "plot_synthetic_control",
    "plot_trajectory",
]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - the test environment has matplotlib
        raise ImportError("plots need matplotlib: pip install securindex[report]") from exc
    return plt


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=(7, 4))
    return ax


def plot_trajectory(
    progress: pd.DataFrame,
    *,
    entity: object | None = None,
    entity_column: str = "entity",
    period: str = "period",
    value: str = "value",
    target_year: float | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Observed values of one entity against baseline, target and the trajectory line.

    Parameters
    ----------
    progress
        Output of :func:`~securindex.evaluation.progress_to_target` (columns ``baseline``,
        ``target``, ``trajectory`` and the period/value columns).
    entity
        Which entity to draw (needed when the frame holds several).
    target_year
        Year of the target [year]; draws the target point and extends the trajectory to it.
    ax
        Existing matplotlib Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _pyplot()
    frame = progress
    if entity_column in frame.columns:
        entities = frame[entity_column].unique()
        if entity is None and len(entities) > 1:
            raise DataError(f"the frame holds {len(entities)} entities; say which one with entity=")
        if entity is not None:
            frame = frame.loc[frame[entity_column] == entity]
            if frame.empty:
                raise DataError(f"entity {entity!r} is not in the frame", column=entity_column)
    needed = [period, value, "baseline", "target", "trajectory"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"plot_trajectory needs columns {missing} (from progress_to_target)")
    frame = frame.sort_values(period)
    ax = _axes(ax)
    t = frame[period].to_numpy(dtype="float64")
    baseline = float(frame["baseline"].iloc[0])
    target = float(frame["target"].iloc[0])
    ax.plot(t, frame[value], marker="o", color="tab:blue", label="observed")
    ax.axhline(baseline, color="grey", linestyle=":", label=f"baseline ({baseline:g})")
    traj_t, traj_v = list(t), list(frame["trajectory"])
    if target_year is not None:
        traj_t.append(float(target_year))
        traj_v.append(target)
        ax.plot(
            [target_year],
            [target],
            marker="*",
            markersize=14,
            color="tab:green",
            linestyle="none",
            label=f"target ({target:g} by {target_year:g})",
        )
    else:
        ax.axhline(target, color="tab:green", linestyle="--", label=f"target ({target:g})")
    ax.plot(traj_t, traj_v, color="tab:orange", linestyle="--", label="linear trajectory")
    ax.set_xlabel(period)
    ax.set_ylabel(value)
    ax.set_title(
        title or (f"{entity}: progress to target" if entity is not None else "Progress to target")
    )
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_before_after(
    evaluation: InitiativeEvaluation, *, ax: Any = None, title: str | None = None
) -> Any:
    """Grouped bars of crimes per period before and after, for each area role.

    Bars show ``rate_per_period`` (harm-weighted when the evaluation used harm weights),
    so unequal before/after lengths compare fairly.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _pyplot()
    totals = evaluation.totals
    ax = _axes(ax)
    roles = list(dict.fromkeys(totals["role"]))
    wide = totals.pivot(index="role", columns="phase", values="rate_per_period").reindex(roles)
    x = range(len(roles))
    width = 0.38
    before = wide.get("before", pd.Series(0.0, index=wide.index)).to_numpy()
    after = wide.get("after", pd.Series(0.0, index=wide.index)).to_numpy()
    b1 = ax.bar([i - width / 2 for i in x], before, width, label="before", color="#9ecae1")
    b2 = ax.bar([i + width / 2 for i in x], after, width, label="after", color="#3182bd")
    ax.bar_label(b1, fmt="%.0f", fontsize="small")
    ax.bar_label(b2, fmt="%.0f", fontsize="small")
    ax.set_xticks(list(x), [r.replace("_", " ") for r in roles])
    ax.set_ylabel(
        "crimes per period" if "harm" not in " ".join(evaluation.notes) else "harm per period"
    )
    ax.set_title(title or f"{evaluation.name}: before and after")
    ax.legend(frameon=False)
    return ax


def plot_interrupted_time_series(
    result: InterruptedTimeSeries, *, ax: Any = None, title: str | None = None
) -> Any:
    """Observed series, the fitted segmented regression and the counterfactual trend.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _pyplot()
    frame = result.series_frame()
    ax = _axes(ax)
    ax.plot(
        frame["period"],
        frame["observed"],
        marker="o",
        linestyle="none",
        color="black",
        label="observed",
    )
    ax.plot(frame["period"], frame["fitted"], color="tab:blue", label="segmented fit")
    post = frame.index >= result.n_pre
    ax.plot(
        frame.loc[post, "period"],
        frame.loc[post, "counterfactual"],
        color="tab:red",
        linestyle="--",
        label="without the intervention (pre-trend continued)",
    )
    ax.axvline(frame.loc[result.n_pre, "period"], color="grey", linestyle=":")
    ax.set_xlabel("period")
    ax.set_ylabel("value")
    ax.set_title(title or f"Interrupted time series at {result.intervention}")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_event_study(result: StaggeredDiD, *, ax: Any = None, title: str | None = None) -> Any:
    """Event-study profile: effect by periods since adoption, with CIs and bands.

    Points with vertical bars are the estimates and their pointwise intervals; the shaded
    area is the simultaneous band (it covers the whole profile with the result's
    confidence); the dashed vertical line separates placebo periods (before the start)
    from effects.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _pyplot()
    table = result.event_study
    ax = _axes(ax)
    x = table["event_time"].to_numpy()
    level = round(result.confidence * 100)
    ax.fill_between(
        x,
        table["band_low"],
        table["band_high"],
        color="tab:blue",
        alpha=0.15,
        step=None,
        label=f"{level} % simultaneous band",
    )
    ax.errorbar(
        x,
        table["estimate"],
        yerr=[table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]],
        fmt="o",
        color="tab:blue",
        capsize=2,
        label=f"estimate and {level} % CI",
    )
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("periods since adoption (negative: placebo periods before the start)")
    ax.set_ylabel(f"effect on {result.outcome_label}")
    ax.set_title(title or f"Event study — {result.estimator_label}")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_synthetic_control(
    result: SyntheticControl, *, ax: Any = None, title: str | None = None
) -> Any:
    """The treated area's path against its synthetic control, the start marked.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _pyplot()
    path = result.path
    ax = _axes(ax)
    ax.plot(path["period"], path["treated"], color="black", marker="o", label=result.treated)
    ax.plot(
        path["period"],
        path["synthetic"],
        color="tab:red",
        linestyle="--",
        label=f"synthetic {result.treated} ({result.n_donors} donors)",
    )
    first_post = path.loc[path["post"], "period"].iloc[0]
    ax.axvline(first_post, color="grey", linestyle=":")
    ax.set_xlabel("period")
    ax.set_ylabel(result.outcome_label)
    ax.set_title(title or f"Synthetic control — {result.treated}")
    ax.legend(frameon=False, fontsize="small")
    return ax
