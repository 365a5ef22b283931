"""The outcome of a Dask build: lazy frames of every stage, what was learnt, outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from securindex.dataset import ENTITY, PERIOD
from securindex.engines.dask.cluster import compute_all
from securindex.framework import Framework


@dataclass(frozen=True)
class DaskIndexResult:
    """The outcome of :func:`compute_dask`: lazy frames of every stage, what was learnt.

    Attributes
    ----------
    framework : Framework
        The framework built.
    table : dask DataFrame
        ``entity, period``, one score column per node (children before parents, the root
        last) [score], then ``rank_<node>`` columns (1 = best within the period) — the
        same columns as :meth:`IndexResult.table`.
    stages : dict of dask DataFrame
        ``raw``, ``imputed``, ``treated``, ``normalised``: ``entity, period`` and one column
        per indicator [declared units; score for ``normalised``].
    audit : dask DataFrame
        The audit rows (``stage, entity, period, item, action, detail``) of every
        partition, plus one row per transformed indicator.
    weights, effective_weights, weight_info, normalisation, treatment, learnt
        As in :class:`~securindex.result.IndexResult`.
    info : dict
        How the engine ran: partitions, whether it shuffled by entity, passes over the data.
    """

    framework: Framework
    table: Any
    stages: dict[str, Any]
    audit: Any
    weights: dict[str, pd.Series]
    effective_weights: pd.Series
    normalisation: pd.DataFrame
    treatment: pd.DataFrame
    weight_info: dict[str, dict[str, Any]]
    learnt: dict[str, dict[str, Any]]
    info: dict[str, Any]

    def stage(self, name: str) -> Any:
        """A lazy stage by name: raw, imputed, treated, normalised, or scores (the table)."""
        if name == "scores":
            return self.table
        if name not in self.stages:
            raise KeyError(f"no stage '{name}'; stages are {[*self.stages, 'scores']}")
        return self.stages[name]

    def to_pandas(self, stage: str = "scores") -> pd.DataFrame:
        """Compute one stage into memory, sorted by entity and period."""
        (frame,) = compute_all(self.stage(stage))
        return frame.sort_values([ENTITY, PERIOD], kind="stable").reset_index(drop=True)

    def write(
        self, folder: str | Path, *, stages: Sequence[str] = (), audit: bool = True
    ) -> dict[str, Path]:
        """Write the scores (and ``stages``, and the audit) as partitioned Parquet datasets,
        and the small tables (weights, normalisation, treatment) as CSV and JSON.

        Returns the path of everything written.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        jobs = [("scores", self.table)] + [(s, self.stage(s)) for s in stages]
        if audit:
            jobs.append(("audit", self.audit))
        writes = [
            frame.to_parquet(folder / name, write_index=False, compute=False)
            for name, frame in jobs
        ]
        compute_all(*writes)
        written.update({name: folder / name for name, _ in jobs})
        weights = pd.DataFrame(
            [
                {"node": n, "child": c, "weight": w}
                for n, s in self.weights.items()
                for c, w in s.items()
            ]
        )
        weights["effective_weight"] = weights["child"].map(self.effective_weights)
        weights.to_csv(folder / "weights.csv", index=False)
        self.normalisation.to_csv(folder / "normalisation.csv")
        self.treatment.to_csv(folder / "treatment.csv", index=False)
        written.update(
            weights=folder / "weights.csv",
            normalisation=folder / "normalisation.csv",
            treatment=folder / "treatment.csv",
        )
        summary = {
            "framework": {
                "id": self.framework.id,
                "name": self.framework.spec.name,
                "tree": {k: list(v) for k, v in self.framework.children.items()},
            },
            "engine": "dask",
            "info": self.info,
        }
        (folder / "result.json").write_text(json.dumps(summary, indent=2, default=str))
        written["json"] = folder / "result.json"
        return written

    def __repr__(self) -> str:
        return (
            f"DaskIndexResult({self.framework.id}: {len(self.framework.indicators)} indicators, "
            f"{self.info.get('npartitions')} partitions)"
        )
