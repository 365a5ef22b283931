"""IndexResult: every stage of a composite-index build, its scores, ranks and audit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.errors import DataError

if TYPE_CHECKING:
    from securindex.catalogue import IndicatorValues
    from securindex.framework import Framework
    from securindex.spec.framework import Step

__all__ = ["AUDIT_COLUMNS", "IndexResult"]

AUDIT_COLUMNS = ["stage", "entity", "period", "item", "action", "detail"]


@dataclass(frozen=True)
class IndexResult:
    """The outcome of :meth:`Framework.compute`; immutable.

    Every stage is a DataFrame indexed by ``(entity, period)`` with one column per
    indicator, in the order of the framework's leaves:

    Attributes
    ----------
    framework
        The framework that was built (with any step replaced for this run).
    indicator_values
        Indicator values over the whole panel, before screening [declared units].
    raw
        Indicator values of the rows kept by screening [declared units].
    imputed
        After imputation [declared units]; ``imputed_mask`` marks filled cells.
    treated
        After outlier treatment [declared units, or transformed for log/Box-Cox columns].
    normalised
        After normalisation, oriented so that higher is more secure [score].
    scores
        One column per node (the root's column is the framework id) [score].
    ranks
        Rank of each row's score within its period, 1 = highest score.
    weights
        For each node, its children's weights (after the weighting method) [unitless, sum 1].
    effective_weights
        Each indicator's overall weight through the tree [unitless, sum 1].
    normalisation
        What each indicator's normaliser learnt (goalposts, mean, sd …), one row per indicator.
    treatment
        The outlier-treatment report, one row per indicator.
    audit
        One row per action taken on the data: ``stage, entity, period, item, action, detail``.
    """

    framework: Framework
    indicator_values: IndicatorValues
    groups: pd.DataFrame
    raw: pd.DataFrame
    imputed: pd.DataFrame
    imputed_mask: pd.DataFrame
    treated: pd.DataFrame
    normalised: pd.DataFrame
    scores: pd.DataFrame
    ranks: pd.DataFrame
    weights: dict[str, pd.Series]
    effective_weights: pd.Series
    normalisation: pd.DataFrame
    treatment: pd.DataFrame
    audit: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AUDIT_COLUMNS))
    weight_info: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- views ----------------------------------------------------------------------------
    @property
    def index(self) -> pd.Series:
        """The root node's score (the composite index) [score]."""
        return self.scores[self.framework.id]

    def stage(self, name: str) -> pd.DataFrame:
        """A stage by name: raw, imputed, treated, normalised or scores."""
        stages = {
            "raw": self.raw,
            "imputed": self.imputed,
            "treated": self.treated,
            "normalised": self.normalised,
            "scores": self.scores,
        }
        if name not in stages:
            raise KeyError(f"no stage '{name}'; stages are {list(stages)}")
        return stages[name]

    def table(self) -> pd.DataFrame:
        """One row per (entity, period): every node's score, then ``rank_<node>`` columns."""
        ranks = self.ranks.add_prefix("rank_")
        table = pd.concat([self.scores, ranks], axis=1)
        return table.reset_index()

    def period(self, period: object) -> pd.DataFrame:
        """Scores and ranks of one period, best first."""
        table = self.table()
        table = table[table["period"] == period]
        if table.empty:
            periods = sorted(self.scores.index.unique("period"))
            raise DataError(f"no results for period {period!r}; periods are {periods}")
        return table.sort_values(f"rank_{self.framework.id}").reset_index(drop=True)

    # -- re-running ---------------------------------------------------------------------------
    def rerun(self, **steps: Step | Mapping[str, Any]) -> IndexResult:
        """Rebuild from the stored indicator values with some pipeline steps replaced.

        Examples: ``result.rerun(normalise={"method": "zscore"})``,
        ``result.rerun(aggregate={"method": "geometric"}, normalise={"method": "minmax",
        "lo": 1, "hi": 100})``. Data are not reloaded and indicators not recomputed.
        """
        from securindex.pipeline import run_pipeline

        framework = self.framework.with_steps(**steps)
        return run_pipeline(framework, self.indicator_values, self.groups)

    # -- export -----------------------------------------------------------------------------
    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`table` as CSV."""
        path = Path(path)
        self.table().to_csv(path, index=False)
        return path

    def to_parquet(self, path: str | Path) -> Path:
        """Write :meth:`table` as Parquet (needs pyarrow: ``securindex[parquet]``)."""
        path = Path(path)
        try:
            self.table().to_parquet(path, index=False)
        except ImportError as exc:
            raise DataError(f"writing Parquet needs pyarrow: pip install 'securindex[parquet]' ({exc})") from None
        return path

    def to_dict(self) -> dict[str, Any]:
        """Everything a report or another tool needs, as JSON-ready Python values."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.to_json(orient="records", date_format="iso"))

        return {
            "framework": {
                "id": self.framework.id,
                "name": self.framework.spec.name,
                "version": self.framework.spec.version,
                "tree": {k: list(v) for k, v in self.framework.children.items()},
            },
            "scores": records(self.table()),
            "weights": {k: v.to_dict() for k, v in self.weights.items()},
            "effective_weights": self.effective_weights.to_dict(),
            "normalisation": records(self.normalisation.reset_index()),
            "treatment": records(self.treatment),
            "audit": records(self.audit),
        }

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=_json_default))
        return path

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write scores, every stage, weights and the audit as CSV files into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {"scores": self.to_csv(folder / "scores.csv")}
        for name in ("raw", "imputed", "treated", "normalised"):
            target = folder / f"{name}.csv"
            self.stage(name).reset_index().to_csv(target, index=False)
            written[name] = target
        weights = pd.DataFrame(
            [
                {"node": node, "child": child, "weight": w}
                for node, series in self.weights.items()
                for child, w in series.items()
            ]
        )
        weights["effective_weight"] = weights["child"].map(self.effective_weights)
        weights.to_csv(folder / "weights.csv", index=False)
        written["weights"] = folder / "weights.csv"
        self.audit.to_csv(folder / "audit.csv", index=False)
        written["audit"] = folder / "audit.csv"
        self.indicator_values.audit.to_csv(folder / "indicator_audit.csv", index=False)
        written["indicator_audit"] = folder / "indicator_audit.csv"
        written["json"] = self.to_json(folder / "result.json")
        return written

    def __repr__(self) -> str:
        n_entities = len(self.scores.index.unique("entity"))
        n_periods = len(self.scores.index.unique("period"))
        return (
            f"IndexResult({self.framework.id}: {n_entities} entities × {n_periods} periods, "
            f"{len(self.framework.indicators)} indicators, {len(self.audit)} audit rows)"
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
