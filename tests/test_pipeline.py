"""Tests of securindex.pipeline: each step over a small panel computed by hand, the
missing-data policies, the audit, every registered method through the pipeline, and the
blocking that keeps large builds fast (same results whatever the block sizes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import securindex.pipeline as pipeline
from securindex.catalogue import IndicatorValues
from securindex.dataset import Panel
from securindex.errors import DataError, SpecError
from securindex.framework import Framework
from securindex.methods.aggregate import aggregators
from securindex.methods.impute import imputers
from securindex.methods.normalise import normalisers
from securindex.methods.treat import treaters, winsorise
from securindex.methods.weight import weighters
from securindex.pipeline import run_pipeline

ENTITIES = ["x", "y", "z"]
PERIODS = [2020, 2021]


def _values(**changes: dict[tuple[str, int], float]) -> IndicatorValues:
    """The hand-computed panel: 3 entities × 2 periods, indicators a (+), b (−), c (+)."""
    index = pd.MultiIndex.from_product([PERIODS, ENTITIES], names=["period", "entity"])
    index = index.swaplevel().set_names(["entity", "period"])
    frame = pd.DataFrame(
        {
            "a": [0.0, 5.0, 10.0, 10.0, 15.0, 20.0],
            "b": [4.0, 2.0, 0.0, 4.0, 2.0, 0.0],
            "c": [1.0, 2.0, 3.0, 2.0, 3.0, 4.0],
        },
        index=index,
    )
    for column, cells in changes.items():
        for key, value in cells.items():
            frame.loc[key, column] = value
    return IndicatorValues(frame=frame, units=dict.fromkeys(frame.columns, "dimensionless"))


def _framework(**pipeline_steps: Any) -> Framework:
    spec: dict[str, Any] = {
        "id": "idx",
        "columns": {"a": "positive", "b": {"polarity": "negative", "weight": 3}, "c": "positive"},
        "structure": [
            {"id": "p1", "weight": 2, "children": ["a", "b"]},
            {"id": "p2", "children": ["c"]},
        ],
    }
    root = pipeline_steps.pop("root", None)
    if root:
        spec["root"] = root
    spec["pipeline"] = pipeline_steps
    return Framework.from_spec(spec)


def _run(fw: Framework, values: IndicatorValues | None = None, groups: Any = None) -> Any:
    values = values if values is not None else _values()
    if groups is None:
        groups = pd.DataFrame(index=values.frame.index)
    return run_pipeline(fw, values, groups)


def test_pooled_minmax_and_weighted_means_by_hand() -> None:
    result = _run(_framework())
    n = result.normalised
    # a: pooled min 0, max 20 -> 5 a;  b (negative): (4 - b) / 4 * 100;  c: (c - 1) / 3 * 100
    assert n["a"].tolist() == [0.0, 25.0, 50.0, 50.0, 75.0, 100.0]
    assert n["b"].tolist() == [0.0, 50.0, 100.0, 0.0, 50.0, 100.0]
    np.testing.assert_allclose(n["c"], [0, 100 / 3, 200 / 3, 100 / 3, 200 / 3, 100])
    # p1 = (1 a + 3 b) / 4: y 2020 = (25 + 150) / 4 = 43.75
    np.testing.assert_allclose(result.scores["p1"], [0, 43.75, 87.5, 12.5, 56.25, 100])
    # root = (2 p1 + 1 p2) / 3: y 2020 = (87.5 + 33.333) / 3 = 40.2778
    expected = [0, (87.5 + 100 / 3) / 3, (175 + 200 / 3) / 3, (25 + 100 / 3) / 3, 59.72222222, 100]
    np.testing.assert_allclose(result.index, expected)
    assert list(result.scores.columns) == ["idx", "p1", "p2"]
    # effective weights: a = 2/3 × 1/4, b = 2/3 × 3/4, c = 1/3
    np.testing.assert_allclose(result.effective_weights[["a", "b", "c"]], [1 / 6, 1 / 2, 1 / 3])
    np.testing.assert_allclose(result.weights["p1"], [0.25, 0.75])
    # ranks within each period: z best, then y, then x, in both years
    assert result.ranks["idx"].tolist() == [3, 2, 1, 3, 2, 1]
    assert result.normalisation.loc["a", "min"] == 0 and result.normalisation.loc["a", "max"] == 20


def test_per_period_reference_ranks_within_each_year() -> None:
    fw = _framework(normalise={"method": "minmax", "lo": 0, "hi": 100, "reference": "per_period"})
    n = _run(fw).normalised
    # a 2020: 0, 5, 10 -> 0, 50, 100;  2021: 10, 15, 20 -> 0, 50, 100 (progress is invisible)
    assert n["a"].tolist() == [0.0, 50.0, 100.0, 0.0, 50.0, 100.0]
    table = _run(fw).normalisation
    assert table.loc["a", "period"].tolist() == [2020, 2021]
    assert table.loc["a", "min"].tolist() == [0.0, 10.0]


def test_base_period_reference_shows_change_over_time() -> None:
    fw = _framework(
        normalise={"method": "minmax", "lo": 0, "hi": 100, "reference": "base", "base_period": 2020}
    )
    n = _run(fw).normalised
    # a learnt from 2020 (0 .. 10): 2021 values 10, 15, 20 score 100, 150, 200
    assert n["a"].tolist() == [0.0, 50.0, 100.0, 100.0, 150.0, 200.0]
    # c learnt from 2020 (1 .. 3): 2021 values 2, 3, 4 score 50, 100, 150
    assert n["c"].tolist() == [0.0, 50.0, 100.0, 50.0, 100.0, 150.0]
    bad = _framework(normalise={"method": "minmax", "reference": "base", "base_period": 1999})
    with pytest.raises(DataError, match="base_period in the data; got 1999"):
        _run(bad)


def test_missing_children_are_renormalised_by_default() -> None:
    values = _values(b={("y", 2020): np.nan})
    result = _run(_framework(), values)
    # p1 for y 2020 has only a (25): its weight is renormalised to 1
    assert result.scores.loc[("y", 2020), "p1"] == 25.0


def test_coverage_policy_leaves_short_rows_unscored_and_audits_them() -> None:
    values = _values(b={("y", 2020): np.nan})
    fw = _framework(missing={"policy": "coverage", "min_coverage": 0.5})
    result = _run(fw, values)
    # p1 for y 2020 keeps 1/4 of its weight (a): below 0.5, not scored; the root then
    # keeps p2 only (1/3 of its weight): not scored either
    assert np.isnan(result.scores.loc[("y", 2020), "p1"])
    assert np.isnan(result.scores.loc[("y", 2020), "idx"])
    audit = result.audit[result.audit["action"] == "not scored"]
    assert audit[["item", "entity", "period"]].values.tolist() == [
        ["p1", "y", 2020],
        ["idx", "y", 2020],
    ]
    assert audit["before"].tolist() == pytest.approx([0.25, 1 / 3])
    assert np.isnan(result.ranks.loc[("y", 2020), "idx"])
    ranks_2020 = result.ranks.xs(2020, level="period")["idx"]
    assert ranks_2020.dropna().to_dict() == {"x": 2.0, "z": 1.0}


def test_fail_policy_names_the_rows() -> None:
    values = _values(b={("y", 2020): np.nan})
    fw = _framework(root={"missing": {"policy": "fail"}})
    _run(fw, values)  # p1 renormalises, so the root has no missing child
    strict = _framework(missing={"policy": "fail"})
    with pytest.raises(DataError, match=r"node 'p1' has missing children in 1 row\(s\)") as info:
        _run(strict, values)
    assert ("y", 2020) in info.value.rows


def test_grouped_imputation_flags_every_cell() -> None:
    values = _values(b={("y", 2020): np.nan, ("z", 2021): np.nan})
    groups = pd.DataFrame({"region": ["N", "N", "S", "N", "N", "S"]}, index=values.frame.index)
    result = _run(_framework(impute={"method": "mean", "group": "region"}), values, groups)
    # b, region N: observed x20 = 4, x21 = 4, y21 = 2 -> mean 10/3 fills y 2020;
    # region S: observed z20 = 0 -> fills z 2021
    assert result.imputed.loc[("y", 2020), "b"] == pytest.approx(10 / 3)
    assert result.imputed.loc[("z", 2021), "b"] == 0.0
    assert np.isnan(result.raw.loc[("y", 2020), "b"])
    assert int(result.imputed_mask.to_numpy().sum()) == 2
    audit = result.audit[result.audit["stage"] == "impute"]
    assert sorted(audit["entity"]) == ["y", "z"]
    assert audit["after"].tolist() == pytest.approx([10 / 3, 0.0])
    assert set(audit["detail"]) == {"mean"}
    with pytest.raises(DataError, match="group column 'state' is not a group"):
        _run(_framework(impute={"method": "mean", "group": "state"}), values, groups)


def test_winsorised_points_and_transforms_are_reported() -> None:
    n = 20
    index = pd.MultiIndex.from_arrays(
        [[f"e{i:02d}" for i in range(n)], [2020] * n], names=["entity", "period"]
    )
    spike = np.r_[np.arange(1.0, n), 1000.0]  # one outlier: winsorising it is enough
    heavy = np.exp(np.linspace(0, 12, n))  # exponential growth: winsorising 1 point is not
    frame = pd.DataFrame({"a": spike, "b": heavy, "c": np.arange(n, dtype=float)}, index=index)
    values = IndicatorValues(frame=frame, units=dict.fromkeys("abc", "dimensionless"))
    fw = _framework(treat={"method": "winsorise", "winmax": 1})
    result = _run(fw, values)
    treated = result.treated
    assert treated.loc[("e19", 2020), "a"] == 19.0  # 1000 -> the next highest value
    winsorised = result.audit[result.audit["action"] == "winsorised"]
    assert winsorised[["item", "entity", "before", "after"]].values.tolist() == [
        ["a", "e19", 1000.0, 19.0]
    ]
    transformed = result.audit[result.audit["action"] == "transformed"]
    assert transformed[["item", "detail"]].values.tolist() == [["b", "log_CT"]]
    report = result.treatment.set_index("indicator")
    assert list(report.index) == ["a", "b", "c"]
    assert report.loc["a", "n_winsorised"] == 1 and report.loc["b", "transform"] == "log_CT"
    assert report.loc["c", "transform"] == "none" and bool(report.loc["c", "pass_before"])


def test_allow_zero_leaves_rows_at_the_goalpost_unscored() -> None:
    fw = _framework(
        normalise={"method": "goalposts", "lo": 0, "hi": 20},
        root={"aggregate": {"method": "geometric", "allow_zero": True}},
    )
    result = _run(fw, _values(b={("x", 2020): 20.0}))
    # x 2020 has a = 0 and b = 20, both at their worst goalpost: p1 = 0, so the root is
    # not scored there
    assert result.scores.loc[("x", 2020), "p1"] == 0.0
    assert np.isnan(result.scores.loc[("x", 2020), "idx"])
    audit = result.audit[result.audit["action"] == "not scored"]
    assert audit[["item", "entity", "period"]].values.tolist() == [["idx", "x", 2020]]
    assert "lower goalpost" in audit["detail"].iloc[0]
    # elsewhere the root is the weighted geometric mean p1^(2/3) p2^(1/3)
    p1, p2 = result.scores.loc[("y", 2020), ["p1", "p2"]]
    assert result.scores.loc[("y", 2020), "idx"] == pytest.approx(p1 ** (2 / 3) * p2 ** (1 / 3))


def test_reference_entity_for_distance_to_reference() -> None:
    fw = _framework(
        normalise={
            "method": "distance_to_reference",
            "reference": "base",
            "base_period": 2020,
            "reference_entity": "y",
        },
    )
    n = _run(fw, _values(b={("z", 2020): 1.0, ("z", 2021): 1.0})).normalised
    # a / a(y, 2020) = a / 5;  c / c(y, 2020) = c / 2;  b (negative): b(y, 2020) / b = 2 / b
    assert n["a"].tolist() == [0.0, 1.0, 2.0, 2.0, 3.0, 4.0]
    assert n["c"].tolist() == [0.5, 1.0, 1.5, 1.0, 1.5, 2.0]
    assert n.loc[("x", 2020), "b"] == 0.5


def test_reference_entity_per_period_and_its_errors() -> None:
    values = _values(b={("z", 2020): 1.0, ("z", 2021): 1.0})
    per_period = _framework(
        normalise={
            "method": "distance_to_reference",
            "reference": "per_period",
            "reference_entity": "y",
        },
    )
    n = _run(per_period, values).normalised
    # each period against y of that period: a 2020 / 5 and a 2021 / 15
    np.testing.assert_allclose(n["a"], [0, 1, 2, 10 / 15, 1, 20 / 15])
    pooled = _framework(
        normalise={"method": "distance_to_reference", "reference_entity": "y"},
    )
    with pytest.raises(DataError, match="'y' has 2 rows in the reference sample"):
        _run(pooled, values)
    unknown = _framework(
        normalise={"method": "distance_to_reference", "reference_entity": "nowhere"},
    )
    with pytest.raises(DataError, match="'nowhere' is not an entity"):
        _run(unknown, values)


def test_inputs_are_not_modified_and_runs_are_repeatable() -> None:
    values = _values(b={("y", 2020): np.nan})
    before = values.frame.copy()
    fw = _framework(impute={"method": "median"}, treat={"method": "winsorise"})
    first, second = _run(fw, values), _run(fw, values)
    pd.testing.assert_frame_equal(values.frame, before)
    pd.testing.assert_frame_equal(first.scores, second.scores)


def test_build_index_from_a_panel() -> None:
    data = pd.DataFrame(
        {"city": ["p", "q", "r"], "year": [2020] * 3, "a": [1.0, 2.0, 3.0], "b": [3.0, 2, 1]}
    )
    panel = Panel.from_frame(
        data, entity="city", period="year", units={"a": "dimensionless", "b": "dimensionless"}
    )
    fw = Framework.from_spec(
        {
            "id": "idx",
            "columns": {"a": "positive", "b": "negative"},
            "structure": [{"id": "p", "children": ["a", "b"]}],
        }
    )
    result = fw.compute(panel, normalise={"method": "rank"})
    assert result.index.tolist() == [1.0, 2.0, 3.0]
    assert fw.normalise_step("a").method == "minmax"  # the framework itself is unchanged


# -- every registered method through the pipeline -------------------------------------------

N_ENTITIES = 12


def _random_values(seed: int = 3, holes: float = 0.05) -> IndicatorValues:
    rng = np.random.default_rng(seed)
    n = N_ENTITIES * 3
    index = pd.MultiIndex.from_arrays(
        [np.repeat([f"e{i:02d}" for i in range(N_ENTITIES)], 3), np.tile([2020, 2021, 2022], 12)],
        names=["entity", "period"],
    )
    x = rng.lognormal(1.0, 0.6, size=(n, 6))
    x[rng.random(x.shape) < holes] = np.nan
    x[0] = rng.lognormal(1.0, 0.6, size=6)  # e00 2020 complete (the reference entity)
    frame = pd.DataFrame(x, index=index, columns=[f"i{k}" for k in range(6)])
    return IndicatorValues(frame=frame, units=dict.fromkeys(frame.columns, "dimensionless"))


def _random_framework(**steps: Any) -> Framework:
    p1 = {"id": "p1", "children": ["i0", "i1", "i2"]}
    p1.update(steps.pop("p1", {}))
    return Framework.from_spec(
        {
            "id": "idx",
            "columns": {f"i{k}": "positive" if k % 2 else "negative" for k in range(6)},
            "pipeline": steps,
            "structure": [p1, {"id": "p2", "children": ["i3", "i4", "i5"]}],
        }
    )


def _groups(values: IndicatorValues) -> pd.DataFrame:
    return pd.DataFrame(
        {"half": np.where(np.arange(len(values.frame)) < 18, "A", "B")}, index=values.frame.index
    )


IMPUTE: dict[str, dict[str, Any]] = {name: {"method": name} for name in imputers.names()}
IMPUTE["mean"]["group"] = "half"
TREAT = {
    "none": {"method": "none"},
    "log": {"method": "log", "transform": "log_CT"},
    "boxcox": {"method": "boxcox"},
    "winsorise": {"method": "winsorise", "winmax": 3},
}
NORMALISE = {
    "banding": {"method": "banding", "thresholds": [1, 2, 4, 8]},
    "borda": {"method": "borda"},
    "distance_to_leader": {"method": "distance_to_leader"},
    "distance_to_reference": {
        "method": "distance_to_reference",
        "reference": "base",
        "base_period": 2020,
        "reference_entity": "e00",
    },
    "distance_to_target": {"method": "distance_to_target", "target": 3},
    "fraction_of_max": {"method": "fraction_of_max"},
    "goalposts": {"method": "goalposts", "lo": 0, "hi": 20},
    "minmax": {"method": "minmax", "reference": "per_period"},
    "percentile_rank": {"method": "percentile_rank"},
    "rank": {"method": "rank", "reference": "base", "base_period": 2021},
    "ratio_to_mean": {"method": "ratio_to_mean"},
    "zscore": {"method": "zscore"},
    "none": {"method": "none"},
    "ampi": {"method": "ampi"},
}
WEIGHT = {
    "ahp": {"method": "ahp", "pairwise": [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]]},
    "benefit_of_doubt": {"method": "benefit_of_doubt"},
    "budget_allocation": {
        "method": "budget_allocation",
        "allocations": [[50, 30, 20], [40, 40, 20]],
    },
    "equal": {"method": "equal"},
    "explicit": {"method": "explicit"},
    "none": {"method": "none"},
    "bod_directional": {"method": "bod_directional"},
    "bod_order_m": {"method": "bod_order_m", "m": 5, "draws": 20},
    "bod_undesirable": {"method": "bod_undesirable", "undesirable": ["i2"]},
    "pca_loadings": {"method": "pca_loadings"},
    "pca_rotated": {"method": "pca_rotated"},
}
AGGREGATE: dict[str, dict[str, Any]] = {name: {"method": name} for name in aggregators.names()}
AGGREGATE["generalised"]["p"] = 0.5


def test_every_registered_method_is_covered_here() -> None:
    assert set(IMPUTE) == set(imputers.names())
    assert set(TREAT) == set(treaters.names())
    assert set(NORMALISE) == set(normalisers.names())
    assert set(WEIGHT) == set(weighters.names())
    assert set(AGGREGATE) == set(aggregators.names())


@pytest.mark.parametrize("name", sorted(IMPUTE))
def test_every_imputer_runs(name: str) -> None:
    values = _random_values()
    result = run_pipeline(_random_framework(impute=IMPUTE[name]), values, _groups(values))
    raw_gaps = int(result.raw.isna().to_numpy().sum())
    left = int(result.imputed.isna().to_numpy().sum())
    assert int(result.imputed_mask.to_numpy().sum()) == raw_gaps - left
    assert (left < raw_gaps) == (name != "none")


@pytest.mark.parametrize("name", sorted(TREAT))
def test_every_treater_runs(name: str) -> None:
    values = _random_values(holes=0)
    result = run_pipeline(_random_framework(treat=TREAT[name]), values, _groups(values))
    assert list(result.treatment["indicator"]) == [f"i{k}" for k in range(6)]
    assert np.isfinite(result.index).all()


@pytest.mark.parametrize("name", sorted(NORMALISE))
def test_every_normaliser_runs(name: str) -> None:
    values = _random_values()
    if normalisers.get(NORMALISE[name]["method"]).applies_direction:
        fw = _random_framework(normalise=NORMALISE[name])
    else:
        # values kept as they are: a mean over them needs one direction (checked at load)
        with pytest.raises(SpecError, match="does not apply polarity"):
            _random_framework(normalise=NORMALISE[name])
        fw = Framework.from_spec(
            {
                "id": "idx",
                "columns": {f"i{k}": "positive" for k in range(6)},
                "pipeline": {"normalise": NORMALISE[name]},
                "structure": [
                    {"id": "p1", "children": ["i0", "i1", "i2"]},
                    {"id": "p2", "children": ["i3", "i4", "i5"]},
                ],
            }
        )
    result = run_pipeline(fw, values, _groups(values))
    normalised = result.normalised.to_numpy()
    assert np.array_equal(np.isnan(normalised), np.isnan(result.treated.to_numpy()))
    assert np.isfinite(result.index).all()
    assert set(result.normalisation.index) == set(result.framework.indicators)


@pytest.mark.filterwarnings("ignore:weight method 'pca_loadings'")  # random data
@pytest.mark.parametrize("name", sorted(WEIGHT))
def test_every_weighter_runs(name: str) -> None:
    values = _random_values(holes=0)
    positive = {"normalise": {"method": "minmax", "lo": 1, "hi": 100}}
    fw = _random_framework(p1={"weighting": WEIGHT[name]}, **positive)
    result = run_pipeline(fw, values, _groups(values))
    assert np.isfinite(result.scores["p1"]).all()
    if result.weights["p1"].isna().all():  # a frontier without weights (order-m)
        assert weighters.get(WEIGHT[name]["method"]).scores_node
        assert result.effective_weights[["i0", "i1", "i2"]].isna().all()
        return
    assert result.weights["p1"].sum() == pytest.approx(1.0)
    assert result.effective_weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(AGGREGATE))
def test_every_aggregator_runs(name: str) -> None:
    values = _random_values()
    # Mazziotta-Pareto expects children on the scale 100 ± 10 z; the others need > 0
    normalise = (
        {"method": "zscore", "mean": 100, "sd": 10}
        if name == "mazziotta_pareto"
        else {"method": "minmax", "lo": 1, "hi": 100}
    )
    if aggregators.get(name).max_children == 1:  # one child per node
        fw = Framework.from_spec(
            {
                "id": "idx",
                "columns": {"i0": "positive", "i1": "negative"},
                "pipeline": {"normalise": normalise, "aggregate": AGGREGATE[name]},
                "structure": [{"id": "p1", "children": ["i0"]}, {"id": "p2", "children": ["i1"]}],
                "root": {"aggregate": {"method": "arithmetic"}},
            }
        )
    else:
        fw = _random_framework(normalise=normalise, aggregate=AGGREGATE[name])
    result = run_pipeline(fw, values, _groups(values))
    unscored = result.audit[result.audit["detail"].str.contains("gives no value")]
    missing = result.index.isna()
    assert set(unscored["entity"]) == set(result.index[missing].index.get_level_values(0))
    if aggregators.get(name).rowwise:
        assert not missing.any()


def test_copeland_compares_rows_within_each_period() -> None:
    values = _random_values(holes=0)
    result = run_pipeline(
        _random_framework(aggregate={"method": "copeland"}), values, _groups(values)
    )
    # 12 entities per period: wins minus losses lie in [-11, 11]
    assert result.index.abs().max() <= 11


# -- blocking does not change results ----------------------------------------------------------


def test_blocks_of_rows_and_columns_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _random_values(seed=7)
    fw = _random_framework(
        impute={"method": "median"},
        treat={"method": "winsorise", "winmax": 2},
        normalise={"method": "minmax", "reference": "base", "base_period": 2021},
    )
    whole = run_pipeline(fw, values, _groups(values))
    monkeypatch.setattr(pipeline, "_BLOCK_BYTES", 8 * 36)  # one column per block
    monkeypatch.setattr(pipeline, "_ROW_BLOCK_BYTES", 8 * 7)  # about one row per block
    blocked = run_pipeline(fw, values, _groups(values))
    for stage in ("imputed", "treated", "normalised", "scores"):
        pd.testing.assert_frame_equal(getattr(whole, stage), getattr(blocked, stage))
    pd.testing.assert_frame_equal(whole.treatment, blocked.treatment, check_exact=False, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), winmax=st.integers(0, 4), scale=st.floats(0.1, 2.0))
def test_treatment_equals_the_method_on_the_whole_matrix(
    seed: int, winmax: int, scale: float
) -> None:
    # the pipeline tests the rule itself and hands only failing columns to winsorise: the
    # result must be what winsorise gives on the whole matrix
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.lognormal(0, scale, 40), rng.normal(size=40), rng.pareto(3.0, 40), rng.normal(size=40)]
    )
    x[rng.random(x.shape) < 0.1] = np.nan
    index = pd.MultiIndex.from_arrays(
        [np.arange(40), np.zeros(40, int)], names=["entity", "period"]
    )
    frame = pd.DataFrame(x, index=index, columns=["i0", "i1", "i2", "i3"])
    values = IndicatorValues(frame=frame, units=dict.fromkeys(frame.columns, "dimensionless"))
    fw = Framework.from_spec(
        {
            "id": "idx",
            "columns": dict.fromkeys(frame.columns, "positive"),
            "pipeline": {"treat": {"method": "winsorise", "winmax": winmax}},
            "structure": [{"id": "p", "children": list(frame.columns)}],
        }
    )
    result = run_pipeline(fw, values, pd.DataFrame(index=index))
    direct = winsorise(x, winmax=winmax)
    np.testing.assert_array_equal(result.treated.to_numpy(), direct.values)
    expected = pd.DataFrame(direct.report).drop(columns="column")
    got = result.treatment.drop(columns=["indicator", "method"])[expected.columns]
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-12)


def test_benefit_of_doubt_node_score_is_the_lp_optimum() -> None:
    """With BoD weighting a node's score is 100 × the LP optimum (share of the frontier).

    Normalised scores (goalposts 0-1 over 0..1 data): rows (1, 0.2), (0.2, 1), (0.5, 0.5).
    Rows 1 and 2 are on the frontier (score 1); row 3: max 0.5 w1 + 0.5 w2 subject to
    w1 + 0.2 w2 <= 1 and 0.2 w1 + w2 <= 1 gives w1 = w2 = 1/1.2, score 0.8333.
    """
    framework = Framework.from_spec(
        {
            "id": "bod",
            "columns": {"a": {"polarity": "positive"}, "b": {"polarity": "positive"}},
            "pipeline": {"normalise": {"method": "goalposts", "lo": 0.0, "hi": 1.0}},
            "structure": [
                {"id": "node", "children": ["a", "b"], "weighting": {"method": "benefit_of_doubt"}}
            ],
        }
    )
    data = pd.DataFrame(
        {"e": ["x", "y", "z"], "p": [1, 1, 1], "a": [1.0, 0.2, 0.5], "b": [0.2, 1.0, 0.5]}
    )
    panel = Panel.from_frame(
        data, entity="e", period="p", units={"a": "dimensionless", "b": "dimensionless"}
    )
    result = framework.compute(panel)
    assert result.scores["node"].to_numpy() == pytest.approx([100.0, 100.0, 100 / 1.2], rel=1e-6)
