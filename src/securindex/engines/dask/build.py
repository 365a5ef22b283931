"""The driver: read, learn stage by stage (one pass over a persisted stage), apply lazily."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from securindex._progress import steps as progress_steps
from securindex.dataset import ENTITY, PERIOD
from securindex.engines.dask.cluster import (
    compute_all,
    import_dask,
    on_cluster,
    shared_key,
    worker_count,
)
from securindex.engines.dask.indicators import (
    INDICATOR_AUDIT_COLUMNS,
    catalogue_uses_panel,
    indicator_audit_types,
    indicator_partition,
)
from securindex.engines.dask.learning import (
    apply_stage,
    learn_impute,
    learn_normalise,
    learn_treat,
    learning_pass,
    node_effective_weights,
    plan_weights,
    report_after,
    request_after_transform,
    request_impute,
    request_normalise,
    request_treat,
    run_stage,
)
from securindex.engines.dask.partitions import (
    PartitionPlan,
    audit_types,
    empty_audit,
    ranks_partition,
    run_partition,
)
from securindex.engines.dask.reading import DaskPanel, read_panel_dask
from securindex.engines.dask.result import DaskIndexResult
from securindex.engines.dask.support import check_supported
from securindex.errors import DataError
from securindex.framework import Framework
from securindex.plan import AUDIT_COLUMNS, compile_plan

if TYPE_CHECKING:
    from securindex.spec.dictionary import DataDictionary
    from securindex.spec.framework import Step


def compute_dask(
    framework: Framework | str | Path,
    data: Any,
    *,
    dictionary: DataDictionary | Mapping[str, Any] | str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    npartitions: int | None = None,
    by_entity: bool = False,
    persist: bool = True,
    ranks: Literal["all", "root", "none"] = "all",
    progress: bool = False,
    **steps: Step | Mapping[str, Any],
) -> DaskIndexResult:
    """Build a composite index on Dask: exact, and equal to :meth:`Framework.compute`.

    Parameters
    ----------
    framework : Framework or path
        The framework (or its YAML file).
    data : Panel, DataFrame, dask DataFrame, DaskPanel, path, glob or list of paths
        The panel; files are read lazily, one partition per file (see
        :func:`read_panel_dask`).
    dictionary : DataDictionary, mapping or path, optional
        How to read ``data`` (required unless it is a Panel or DaskPanel).
    client : distributed.Client, optional
        The cluster to run on.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); a ``Client`` is connected for
        the planning passes (the returned lazy frames then need a live client to compute).
        Without client or scheduler, the current client is used, else dask's threads.
    npartitions : int, optional
        Partitions of an in-memory panel.
    by_entity : bool, default False
        Files or dask frames already hold each entity in one partition.
    persist : bool, default True
        Keep the indicator values in (cluster) memory between passes; with ``False`` each
        pass re-reads the sources (for data larger than the cluster's memory).
    ranks : {"all", "root", "none"}, default "all"
        Which nodes get ranks within each period. Ranks gather each node's scores on the
        client (8 bytes per row per node).
    progress : bool, default False
        Show a progress bar over the passes over the data (on standard error, when it is
        a terminal; each pass is also logged on the ``securindex`` logger).
    **steps
        Pipeline steps replaced for this run (as :meth:`Framework.compute`).

    Returns
    -------
    DaskIndexResult

    Raises
    ------
    SpecError
        A method the Dask engine does not support (see :func:`supported`), before any data
        is read.
    ImportError
        dask or distributed missing (``pip install 'securindex[dask]'``).
    """
    import_dask()
    if not isinstance(framework, Framework):
        from securindex.engines import load_framework

        framework = load_framework(framework).framework
    framework = framework.with_steps(**steps)  # type: ignore[arg-type]
    check_supported(framework)
    n_passes = 3 if ranks == "none" else 4
    with (
        on_cluster(client, scheduler) as active,
        progress_steps("dask", n_passes, show=progress) as step,
    ):
        panel = (
            data
            if isinstance(data, DaskPanel)
            else read_panel_dask(
                data, dictionary=dictionary, npartitions=npartitions, by_entity=by_entity
            )
        )
        return _build(framework, panel, active, persist, ranks, step)


def _build(
    fw: Framework,
    panel: DaskPanel,
    client: Any,
    persist: bool,
    ranks: str,
    step: Callable[[str], None],
) -> DaskIndexResult:
    """Read, learn stage by stage (one pass over a persisted stage each), write lazily;
    ``step`` is called as each pass over the data starts."""
    compiled = compile_plan(fw)
    ids = list(compiled.indicators)
    catalogue = fw.catalogue.select(ids)
    frame = panel.frame
    by_entity = panel.by_entity
    n_workers = worker_count(client)
    if frame.npartitions < n_workers:  # at least one partition per worker
        frame = frame.repartition(npartitions=n_workers)
        by_entity = False
    uses_panel = catalogue_uses_panel(catalogue)
    needs_entity = uses_panel or compiled.impute.method.panel
    shuffled = False
    if needs_entity and not by_entity:  # whole entity histories in one partition
        frame = frame.shuffle(on=ENTITY, npartitions=frame.npartitions)
        shuffled = True
    step("indicators, and what imputation learns (pass 1)")
    all_periods = None
    if uses_panel and panel.periods is not None:
        all_periods = np.sort(panel.periods)
    elif uses_panel:  # lag/mean_over count periods over the whole panel
        (periods,) = compute_all(frame[PERIOD].unique())
        all_periods = np.sort(np.asarray(periods))
    meta = frame._meta[[ENTITY, PERIOD, *panel.groups]].copy()
    for i in ids:
        meta[i] = np.zeros(0)
    specs = shared_key(list(catalogue.values()))
    indicators = frame.map_partitions(
        indicator_partition, specs, ids, panel.units, panel.groups, all_periods, meta=meta
    )
    if persist:
        indicators = client.persist(indicators) if client is not None else indicators.persist()
    plan = PartitionPlan(
        ids=ids, groups=list(panel.groups), plan=compiled, screen_on=compiled.screen_on
    )
    info: dict[str, Any] = {"passes": 0}
    # pass 1 over the raw values: the periods, the number of rows, imputation statistics
    impute_request = request_impute(plan)
    requests = [impute_request] if impute_request is not None else []
    upto = "raw" if plan.screen_on == "raw" else None
    merged, plan.impute_periods, plan.n_rows = learning_pass(indicators, plan, upto, requests, info)
    if plan.screen_on != "raw":  # every row is imputed before screening
        plan.impute_periods = np.sort(plan.impute_periods)
    if impute_request is not None:
        learn_impute(plan, impute_request, merged[0])
    # pass 2 over the imputed (and screened) values: the treatment of every column
    step("what treatment learns (pass 2)")
    imputed = run_stage(indicators, plan, "imputed", persist, client, carry=plan.groups)
    treat_requests = request_treat(plan)
    merged, plan.periods, _ = learning_pass(imputed, plan, None, treat_requests, info)
    if not len(plan.periods):
        raise DataError(
            f"screening ({compiled.screen.name}, {dict(compiled.screen.params)}) removed every "
            "row; lower the threshold or check the data"
        )
    treatment = learn_treat(plan, merged)
    # pass 3 over the treated values: normalisation, and the report of transformed columns
    step("what normalisation learns (pass 3)")
    treated = apply_stage(imputed, plan, persist, client, "treated")
    del imputed
    normalise_requests = request_normalise(plan)
    after = request_after_transform(plan)
    wanted = [r for r in normalise_requests if r is not None] + ([after] if after else [])
    merged, _, _ = learning_pass(treated, plan, None, wanted, info)
    if after is not None:
        treatment = report_after(plan, treatment, after, merged[-1][None])
        merged = merged[:-1]
    normalisation, learnt = learn_normalise(plan, normalise_requests, merged)
    weights, weight_info = plan_weights(plan)
    # the scores, computed once from the treated values; ranks gathered from them
    normalised = apply_stage(treated, plan, False, client, "normalised")
    scores = apply_stage(normalised, plan, persist, client, "scores")
    del treated, normalised
    shared = shared_key(plan)

    def stage(upto: str) -> Any:
        meta_frame = run_partition(indicators._meta, plan, upto)
        return indicators.map_partitions(run_partition, shared, upto, meta=meta_frame)

    stages = {name: stage(name) for name in ("raw", "imputed", "treated", "normalised")}
    rank_nodes = {"all": list(compiled.node_order), "root": [fw.id], "none": []}[ranks]
    table = scores
    if rank_nodes:  # an exact sort per node and period: gathered, then binary search
        step("scores, and their ranks within periods (pass 4)")
        (gathered,) = compute_all(scores[[PERIOD, *rank_nodes]])
        info["passes"] += 1
        sorted_scores: dict[str, dict[Any, np.ndarray]] = {}
        positions = gathered.groupby(PERIOD, sort=False).indices
        signs = {
            n: 1.0 if better else -1.0
            for n, better in zip(compiled.node_order, compiled.higher_is_better, strict=True)
        }
        for node in rank_nodes:
            values = signs[node] * gathered[node].to_numpy(dtype=np.float64)
            sorted_scores[node] = {}
            for period, rows in positions.items():
                v = values[rows]
                sorted_scores[node][period] = np.sort(v[~np.isnan(v)])
        ranks_meta = ranks_partition(scores._meta, {n: {} for n in rank_nodes})
        table = scores.map_partitions(
            ranks_partition, shared_key(sorted_scores), signs, meta=ranks_meta
        )
    audit = indicators.map_partitions(run_partition, shared, "audit", meta=empty_audit())
    transformed = [
        ["treat", None, None, ids[g.columns[j]], "transformed", np.nan, np.nan, name]
        for g in plan.treat or []
        for j, name in enumerate(g.transform)
        if name != "none"
    ]
    if transformed:
        import dask.dataframe as dd

        rows = audit_types(pd.DataFrame(transformed, columns=AUDIT_COLUMNS))
        audit = dd.concat([audit, dd.from_pandas(rows, npartitions=1)])
    indicator_audit = frame.map_partitions(
        indicator_partition,
        specs,
        ids,
        panel.units,
        panel.groups,
        all_periods,
        True,
        meta=indicator_audit_types(pd.DataFrame(columns=list(INDICATOR_AUDIT_COLUMNS))),
    )
    info.update(
        npartitions=indicators.npartitions,
        workers=n_workers,
        shuffled_by_entity=shuffled,
        persisted=persist,
        periods=len(plan.periods),
        graph_size=len(table.__dask_graph__()),
        schema_notes=panel.schema.to_dict(orient="records"),
    )
    return DaskIndexResult(
        framework=fw,
        table=table,
        stages=stages,
        audit=audit,
        weights=weights,
        effective_weights=node_effective_weights(compiled, weights),
        normalisation=normalisation,
        treatment=treatment,
        weight_info=weight_info,
        learnt=learnt,
        info=info,
        indicator_audit=indicator_audit,
        id_names=dict(panel.id_names),
        data_name=panel.name,
    )
