"""Benchmark: the staggered-adoption estimators and the synthetic control against the
reference packages they are tested against, on the same data in the same run.

* ``did2s`` and ``sun_abraham`` on pyfixest's own ``df_het`` panel (46 500 rows: 1 500
  units × 31 years, two cohorts and never-treated), against ``pyfixest.did2s`` and
  ``pyfixest.event_study(estimator="saturated")``;
* ``callaway_santanna`` on a simulated panel (``--units`` units × 20 periods, 3 cohorts),
  against ``csdid``'s ``ATTgt(...).fit(bstrap=False)`` plus its three aggregations;
* ``synthetic_control`` (with placebo in space) on the shipped Maryland counties.

Prints ``name = value`` lines: ``<estimator>.seconds`` (best of ``--repeat``),
``<estimator>.reference_seconds`` and ``<estimator>.speedup`` (reference / ours), and the
largest absolute difference of the estimates (``max_abs_diff``). The reference packages come
with the ``test`` extra; an estimator whose reference is missing prints only its own time.

Run ``python benchmarks/bench_staggered.py`` (``--quick``: fewer units, one repeat).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.resources
import importlib.util
import io
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from securindex import Panel
from securindex.datasets.synthetic import staggered_panel_example
from securindex.evaluation import callaway_santanna, staggered_did, synthetic_control


def _best(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def _report(name: str, ours: float, reference: float | None, diff: float | None) -> None:
    print(f"{name}.seconds = {ours:.4f}")
    if reference is not None:
        print(f"{name}.reference_seconds = {reference:.4f}")
        print(f"{name}.speedup = {reference / ours:.1f}")
    if diff is not None:
        print(f"{name}.max_abs_diff = {diff:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--units", type=int, default=3000)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    units = 600 if args.quick else args.units
    has = {m: importlib.util.find_spec(m) is not None for m in ("pyfixest", "csdid")}

    if has["pyfixest"]:
        import pyfixest as pf

        path = importlib.resources.files("pyfixest.did") / "data" / "df_het.csv"
        with path.open() as fh:
            het = pd.read_csv(fh)
        kw = {"treatment": "g", "entity": "unit", "period": "year", "value": "dep_var"}
        t, ours = _best(lambda: staggered_did(het, estimator="did2s", **kw), repeat)
        rt, ref = _best(
            lambda: pf.did2s(
                het,
                yname="dep_var",
                first_stage="~ 0 | unit + year",
                second_stage="~ treat",
                treatment="treat",
                cluster="unit",
            ),
            repeat,
        )
        _report("did2s", t, rt, abs(ours.estimate - float(ref.coef().iloc[0])))
        t, ours = _best(lambda: staggered_did(het, estimator="sun_abraham", **kw), repeat)

        def saturated() -> Any:
            fit = pf.event_study(
                het, yname="dep_var", idname="unit", tname="year", gname="g",
                estimator="saturated",
            )  # fmt: skip
            return fit.aggregate()

        rt, agg = _best(saturated, repeat)
        agg.index = agg.index.astype(float).astype(int)
        mine = ours.event_study.set_index("event_time").loc[agg.index, "estimate"]
        diff = float(np.max(np.abs(mine.to_numpy() - agg["Estimate"].astype(float).to_numpy())))
        _report("sun_abraham", t, rt, diff)

    df = staggered_panel_example(
        seed=1, n_entities=units, n_periods=20, cohorts=(5, 10, 15), effect="dynamic"
    )
    t, ours = _best(
        lambda: callaway_santanna(df, treatment="first_treated", value="outcome"), repeat
    )
    reference = None
    diff = None
    if has["csdid"]:
        from csdid.att_gt import ATTgt

        data = df.assign(id=df["entity"].str[1:].astype(int))

        def reference_run() -> Any:
            fit = ATTgt(
                yname="outcome",
                gname="first_treated",
                idname="id",
                tname="period",
                data=data,
                bstrap=False,
            ).fit(est_method="reg", bstrap=False)
            for kind in ("simple", "dynamic", "group"):
                fit.aggte(typec=kind, bstrap=False)
            return fit

        reference, fit = _best(reference_run, repeat)
        cells = pd.DataFrame(
            {
                "cohort": fit.results["group"],
                "period": fit.results["year"],
                "att": fit.results["att"],
            }
        )
        both = ours.group_time.merge(cells, on=["cohort", "period"])
        diff = float(np.max(np.abs(both["estimate"] - both["att"])))
    print(f"callaway_santanna.units = {units}")
    _report("callaway_santanna", t, reference, diff)

    md = Panel.example("maryland_counties").frame.reset_index()
    md = md[md["period"] >= 1995]
    t, sc = _best(
        lambda: synthetic_control(
            md, treated="Howard County", intervention=2010, value="robberies",
            exposure="population",
        ),
        repeat,
    )  # fmt: skip
    print(f"synthetic_control.placebo_fits = {sc.n_donors + 1}")
    _report("synthetic_control", t, None, None)


if __name__ == "__main__":
    main()
