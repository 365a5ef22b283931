"""The outcome of a Dask build: lazy frames of every stage, what was learnt, outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from securindex.dataset import ENTITY, PERIOD
from securindex.engines.dask.cluster import compute_all
from securindex.framework import Framework

STAGES = ("raw", "imputed", "treated", "normalised")
"""The stages :meth:`DaskIndexResult.write` writes by default (as the in-memory result)."""

JSON_MAX_ROWS = 1_000_000
"""Most score rows copied into ``result.json`` by default (beyond: the Parquet dataset)."""


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
    indicator_audit : dask DataFrame or None
        The indicator values that could not be computed (``entity, period, indicator,
        reason``), as :attr:`IndicatorValues.audit <securindex.catalogue.IndicatorValues>`.
    id_names : dict
        The data's own names of the id columns, used by :meth:`write`.
    data_name : str or None
        The dataset's name.
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
    indicator_audit: Any = None
    id_names: dict[str, str] = field(default_factory=dict)
    data_name: str | None = None

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
        self,
        folder: str | Path,
        *,
        stages: Sequence[str] = STAGES,
        audit: bool = True,
        include_scores: bool | None = None,
        progress: bool = False,
    ) -> dict[str, Path]:
        """Write the files :meth:`IndexResult.write <securindex.result.IndexResult.write>`
        writes, the tables as partitioned Parquet datasets.

        ``scores``, the ``stages`` (default: ``raw``, ``imputed``, ``treated``,
        ``normalised``), ``audit`` and ``indicator_audit`` are folders of Parquet files,
        one per partition, each read as one table by ``pandas.read_parquet``, pyarrow or
        dask; their id columns carry the data's own names (:attr:`id_names`).
        ``weights.csv`` is as on pandas; ``result.json`` holds the same record as the
        in-memory result's (framework, data and id names, weights, normalisation,
        treatment, and — up to :data:`JSON_MAX_ROWS` rows, or as ``include_scores`` says —
        the scores and the audit), plus ``engine`` and ``info``. ``normalisation.csv`` and
        ``treatment.csv`` hold those tables again.

        Returns the path of everything written.
        """
        from securindex._progress import steps as progress_steps
        from securindex.result import result_record, weights_table

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        jobs = [("scores", self.table)] + [(s, self.stage(s)) for s in stages]
        if audit:
            jobs.append(("audit", self.audit))
            if self.indicator_audit is not None:
                jobs.append(("indicator_audit", self.indicator_audit))
        with progress_steps("dask", 2, show=progress) as step:
            step(f"writing {', '.join(name for name, _ in jobs)}")
            writes = [
                self._named(frame).to_parquet(folder / name, write_index=False, compute=False)
                for name, frame in jobs
            ]
            compute_all(*writes)
            written.update({name: folder / name for name, _ in jobs})
            step("writing the small tables and result.json")
            weights_table(self.weights, self.effective_weights).to_csv(
                folder / "weights.csv", index=False
            )
            self.normalisation.to_csv(folder / "normalisation.csv")
            self.treatment.to_csv(folder / "treatment.csv", index=False)
            written.update(
                weights=folder / "weights.csv",
                normalisation=folder / "normalisation.csv",
                treatment=folder / "treatment.csv",
            )
            n_rows = _rows(folder / "scores")
            small = n_rows <= JSON_MAX_ROWS if include_scores is None else include_scores
            table = pd.read_parquet(folder / "scores") if small else None
            audit_rows = pd.read_parquet(folder / "audit") if small and audit else None
            record = result_record(
                self.framework,
                data={"name": self.data_name, "ids": self._ids()},
                table=table,
                weights=self.weights,
                effective_weights=self.effective_weights,
                normalisation=self.normalisation,
                treatment=self.treatment,
                audit=audit_rows,
                engine="dask",
                info=self.info,
                **({} if small else {"scores_in": "scores/", "rows": n_rows}),
            )
            path = folder / "result.json"
            path.write_text(json.dumps(record, indent=1, allow_nan=False), encoding="utf-8")
            written["json"] = path
        return written

    def _ids(self) -> dict[str, str]:
        return {ENTITY: ENTITY, PERIOD: PERIOD, **self.id_names}

    def _named(self, frame: Any) -> Any:
        """A lazy frame with ``entity``/``period`` renamed to the data's own names (unless
        another column has the name, as on pandas)."""
        ids = self._ids()
        taken = set(frame.columns) - {ENTITY, PERIOD}
        mapping = {
            k: v for k, v in ((ENTITY, ids[ENTITY]), (PERIOD, ids[PERIOD])) if v not in taken
        }
        mapping = {k: v for k, v in mapping.items() if k != v and k in frame.columns}
        return frame.rename(columns=mapping) if mapping else frame

    def __repr__(self) -> str:
        return (
            f"DaskIndexResult({self.framework.id}: {len(self.framework.indicators)} indicators, "
            f"{self.info.get('npartitions')} partitions)"
        )


def _rows(dataset: Path) -> int:
    """Rows of a written Parquet dataset, from its metadata."""
    import pyarrow.dataset as ds

    return int(ds.dataset(dataset, format="parquet").count_rows())
