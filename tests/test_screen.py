"""Tests of securindex.methods.screen: which rows have enough data to be scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from securindex.catalogue import IndicatorValues
from securindex.errors import DataError, SpecError
from securindex.framework import Framework
from securindex.methods.screen import availability, keep_all, screeners
from securindex.pipeline import run_pipeline


def test_registry_holds_the_methods() -> None:
    assert {"none", "availability"} <= set(screeners.names())
    assert screeners.get("availability").reference is not None


def test_keep_all_keeps_every_row() -> None:
    assert keep_all(np.full((3, 2), np.nan)).tolist() == [True, True, True]


def test_availability_by_hand() -> None:
    # shares present: 4/4 = 1, 3/4 = 0.75, 2/4 = 0.5, 0/4 = 0
    X = np.array(
        [
            [1.0, 2.0, 3.0, 4.0],
            [1.0, np.nan, 3.0, 4.0],
            [np.nan, np.nan, 3.0, 4.0],
            [np.nan, np.nan, np.nan, np.nan],
        ]
    )
    assert availability(X, min_share=0.75).tolist() == [True, True, False, False]
    assert availability(X, min_share=0.5).tolist() == [True, True, True, False]
    assert availability(X, min_share=0.0).tolist() == [True, True, True, True]


def test_availability_nine_of_ten_passes_ninety_percent() -> None:
    # 9 / 10 = 0.9 exactly, which binary floating point may put a hair under 0.9
    X = np.ones((1, 10))
    X[0, 3] = np.nan
    assert availability(X, min_share=0.9).tolist() == [True]


def test_availability_zero_share() -> None:
    # zeros: 3/4 in row 0, 1/4 in row 1 (COINr's byNAandZeros with Z_thresh)
    X = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    assert availability(X, min_share=0.5, max_zero_share=0.5).tolist() == [False, True]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"min_share": 1.5}, "'min_share' parameter of screen method 'availability' must be"),
        ({"min_share": -0.1}, "'min_share' parameter"),
        ({"min_share": "high"}, "'min_share' parameter"),
        ({"max_zero_share": 2.0}, "'max_zero_share' parameter"),
    ],
)
def test_availability_rejects_bad_parameters(params: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        availability(np.ones((2, 2)), **params)


@settings(max_examples=50, deadline=None)
@given(
    X=arrays(np.float64, (6, 5), elements=st.one_of(st.just(np.nan), st.floats(-5, 5))),
    low=st.floats(0, 1),
    high=st.floats(0, 1),
)
def test_availability_is_monotone_and_pure(X: np.ndarray, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    before = X.copy()
    strict = availability(X, min_share=high)
    lenient = availability(X, min_share=low)
    assert np.array_equal(X, before, equal_nan=True)  # input unchanged
    assert strict.shape == (6,) and strict.dtype == bool
    assert np.all(lenient | ~strict)  # every row kept at the high threshold is kept lower


def _framework(stage: str = "raw", min_share: float = 0.75, impute: str = "none") -> Framework:
    return Framework.from_spec(
        {
            "id": "idx",
            "columns": dict.fromkeys("abcd", "positive"),
            "pipeline": {
                "screen": {"method": "availability", "min_share": min_share, "stage": stage},
                "impute": {"method": impute},
            },
            "structure": [{"id": "pillar", "children": list("abcd")}],
        }
    )


def _values() -> IndicatorValues:
    index = pd.MultiIndex.from_tuples(
        [("x", 2020), ("y", 2020), ("z", 2020), ("x", 2021), ("y", 2021), ("z", 2021)],
        names=["entity", "period"],
    )
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "b": [1.0, np.nan, 3.0, 4.0, np.nan, 6.0],
            "c": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
            "d": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        },
        index=index,
    )
    return IndicatorValues(frame=frame, units=dict.fromkeys("abcd", "dimensionless"))


def test_screening_in_the_pipeline_is_reported() -> None:
    # y 2020 has 2 of 4 indicators (0.5 < 0.75): excluded; y 2021 has 3 of 4: kept
    values = _values()
    result = run_pipeline(_framework(), values, pd.DataFrame(index=values.frame.index))
    assert ("y", 2020) not in result.scores.index
    assert len(result.scores) == 5
    excluded = result.audit[result.audit["action"] == "excluded"]
    assert excluded[["stage", "entity", "period"]].values.tolist() == [["screen", "y", 2020]]
    assert excluded["before"].tolist() == [0.5]


def test_screening_after_imputation_sees_filled_values() -> None:
    # COINr's build_example_coin screens the imputed data: after a mean imputation every
    # row is complete, so nothing is excluded
    values = _values()
    groups = pd.DataFrame(index=values.frame.index)
    result = run_pipeline(_framework(stage="imputed", impute="mean"), values, groups)
    assert len(result.scores) == 6
    assert not (result.audit["action"] == "excluded").any()
    early = run_pipeline(_framework(stage="raw", impute="mean"), values, groups)
    assert len(early.scores) == 5


def test_screening_everything_away_is_an_error() -> None:
    values = _values()
    with pytest.raises(DataError, match="removed every row"):
        run_pipeline(
            _framework(min_share=1.0),
            values.__class__(frame=values.frame.assign(b=np.nan), units=values.units),
            pd.DataFrame(index=values.frame.index),
        )
