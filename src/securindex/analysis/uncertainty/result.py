"""The outcome of an uncertainty run and the files it writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from securindex.analysis.uncertainty.spec import UncertaintySpec
from securindex.errors import DataError


@dataclass(frozen=True)
class UncertaintyResult:
    """The outcome of :func:`run_uncertainty`; immutable.

    Attributes
    ----------
    summary
        One row per (entity, period) of the target node: ``nominal_score``,
        ``median_score``, ``score_low``, ``score_high`` [score], ``nominal_rank``,
        ``median_rank``, ``rank_low``, ``rank_high``, ``mean_rank`` [rank, 1 = best] and
        ``mean_abs_rank_shift`` (mean of |replicate rank − nominal rank|) [ranks].
        ``low``/``high`` are the ``interval`` quantiles over replicates (5 % and 95 % by
        default).
    replicates
        The tidy table: one row per replicate with every sampled factor (discrete choices as
        labels, weights as ``weight:<node>:<child>`` [unitless, sum 1 per node]) and its
        outputs: ``mean_rank_shift`` (mean over entities of |rank − nominal rank|) [ranks].
        Input-noise draws (one per entity) are not tabulated; ``seed`` reproduces them.
    factors
        One row per factor: name, kind, dimensions, levels, first column in the factor
        space, description.
    scores, ranks
        Every replicate's scores and ranks (replicates × rows), when they were kept
        (``exact`` is True), else None.
    target
        The node summarised (the framework id = the index).
    interval
        The quantiles of the low and high bounds.
    exact
        True when the quantiles come from every stored replicate; False when from per-row
        histograms (ranks exact up to 1 000 rows; scores to within 0.3 % of their range).
    id_names
        The data's own names of the id columns (``entity``, ``period`` keys, as
        :attr:`IndexResult.id_names <securindex.result.IndexResult.id_names>`): the files
        :meth:`write` writes use them; in memory the ids stay ``entity`` and ``period``.
    """

    summary: pd.DataFrame
    replicates: pd.DataFrame
    factors: pd.DataFrame
    target: str
    n_replicates: int
    interval: tuple[float, float]
    exact: bool
    scores: pd.DataFrame | None = None
    ranks: pd.DataFrame | None = None
    spec: UncertaintySpec | None = field(default=None, repr=False)
    id_names: dict[str, str] = field(default_factory=dict, repr=False)

    def long(self) -> pd.DataFrame:
        """Every replicate's score and rank of every row, in long (tidy) form.

        Returns
        -------
        DataFrame
            Columns ``replicate``, ``entity``, ``period``, ``score`` [score], ``rank``
            [rank]; n_replicates × rows rows.

        Raises
        ------
        DataError
            If the replicates were not kept (``keep_replicates=False``, or too many
            replicates × rows): only the summaries exist then.
        """
        if self.scores is None or self.ranks is None:
            raise DataError(
                "the replicates were not kept (n_replicates × rows above the limit, or "
                "keep_replicates=False); run again with keep_replicates=True, or use summary"
            )
        n_replicates, n_rows = self.scores.shape
        index = self.summary.index
        return pd.DataFrame(
            {
                "replicate": np.repeat(np.arange(n_replicates), n_rows),
                "entity": np.tile(index.get_level_values("entity"), n_replicates),
                "period": np.tile(index.get_level_values("period"), n_replicates),
                "score": self.scores.to_numpy().ravel(),
                "rank": self.ranks.to_numpy().ravel(),
            }
        )

    @property
    def mean_rank_shift(self) -> float:
        """Average over replicates of the mean absolute rank shift [ranks]."""
        return float(self.replicates["mean_rank_shift"].mean())

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``summary.csv``, ``replicates.csv``, ``factors.csv`` and ``uncertainty.json``
        (target, replicates, interval, whether the quantiles are exact, the id column
        names) into ``folder``. The summary's id columns carry the data's own names
        (:attr:`id_names`)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        ids = self._id_columns()
        for name, frame in (
            ("summary", self.summary.reset_index().rename(columns=ids)),
            ("replicates", self.replicates),
            ("factors", self.factors),
        ):
            path = folder / f"{name}.csv"
            frame.to_csv(path, index=False)
            written[name] = path
        # what the numbers mean, for readers of the folder (the report flags approximations)
        meta = {
            "target": self.target,
            "n_replicates": int(self.n_replicates),
            "interval": [float(q) for q in self.interval],
            "exact": bool(self.exact),
            # replicates normalised otherwise score on other scales: only ranks compare
            "normalisation_varies": None if self.spec is None else bool(self.spec.normalise),
            "ids": {key: ids.get(key, key) for key in ("entity", "period")},
        }
        written["meta"] = folder / "uncertainty.json"
        written["meta"].write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return written

    def _id_columns(self) -> dict[str, str]:
        """``entity``/``period`` → the data's own names, unless a summary column has it."""
        taken = set(self.summary.columns)
        names = {k: self.id_names.get(k, k) for k in ("entity", "period")}
        if len(set(names.values())) < 2 or taken & set(names.values()):
            return {}
        return {k: v for k, v in names.items() if v != k}

    def __repr__(self) -> str:
        return (
            f"UncertaintyResult({self.target}: {self.n_replicates} replicates, "
            f"{len(self.summary)} rows, {len(self.factors)} factors, mean rank shift "
            f"{self.mean_rank_shift:.3g})"
        )
