"""Tests of securindex.methods._registry: typed registry records, the calling conventions
checked when a method registers, and user methods in both forms (one function, or a
learn/apply pair) running through a framework exactly like the built-in ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from securindex.analysis.uncertainty import run_uncertainty
from securindex.catalogue import IndicatorValues
from securindex.errors import SpecError
from securindex.framework import Framework
from securindex.methods._registry import Method, Protocol, Registry
from securindex.methods.aggregate import aggregators, register_aggregator
from securindex.methods.normalise import normalisers, register_normaliser, run_normaliser
from securindex.methods.weight import register_weighter
from securindex.pipeline import run_pipeline


@pytest.fixture
def cleanup() -> Iterator[list[tuple[Registry[Any], str]]]:
    """Registered test methods, removed afterwards."""
    added: list[tuple[Registry[Any], str]] = []
    yield added
    for registry, name in added:
        registry.unregister(name)


def _values() -> IndicatorValues:
    index = pd.MultiIndex.from_product([["x", "y", "z", "w"], [2020]], names=["entity", "period"])
    frame = pd.DataFrame({"a": [1.0, 2.0, 4.0, 8.0], "b": [3.0, 1.0, 2.0, 6.0]}, index=index)
    return IndicatorValues(frame=frame, units=dict.fromkeys(frame.columns, "dimensionless"))


def _framework(**pipeline: Any) -> Framework:
    return Framework.from_spec(
        {
            "id": "idx",
            "columns": {"a": "positive", "b": "negative"},
            "pipeline": pipeline,
            "structure": [{"id": "p", "children": ["a", "b"]}],
        }
    )


# -- typed records ---------------------------------------------------------------------


def test_a_misspelt_key_is_refused_with_the_close_match() -> None:
    with pytest.raises(SpecError, match=r"'requires_postive' \(did you mean 'requires_positive'"):

        @register_aggregator("typo_mean", requires_postive=True)
        def typo_mean(X: Any, w: Any, /) -> Any:
            return X.mean(axis=-1)

    assert "typo_mean" not in aggregators


def test_a_key_of_another_family_is_refused() -> None:
    with pytest.raises(SpecError, match=r"unknown registry key.*'per_row'"):
        register_normaliser("wrong_family", per_row=True)


def test_records_are_typed_and_frozen() -> None:
    entry = aggregators.get("geometric")
    assert isinstance(entry, Method)
    assert entry.rowwise and entry.requires_positive is True and entry.compensability == "partial"
    with pytest.raises(AttributeError):
        entry.rowwise = False  # type: ignore[misc]
    assert aggregators.get("generalised").flag("requires_positive", {"p": 0})
    assert not aggregators.get("generalised").flag("requires_positive", {"p": 2})
    assert not aggregators.get("copeland").rowwise  # compares rows (takes groups)


# -- calling conventions checked at registration ------------------------------------------


@pytest.mark.parametrize(
    ("register", "func", "message"),
    [
        (register_aggregator, lambda X, /: X, r"aggregate method 'bad' must take 2 positional"),
        (register_weighter, lambda X, /: X, r"weight method 'bad' must accept .*'nominal'"),
        (register_normaliser, lambda X, /: X, r"normalise method 'bad' must accept .*'direction'"),
        (
            register_aggregator,
            lambda X, w, /, *, scale: X,
            r"aggregate method 'bad' has required argument\(s\) \['scale'\]",
        ),
    ],
)
def test_a_function_the_engines_cannot_call_is_refused(
    register: Any, func: Any, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        register("bad")(func)


def test_a_learning_normaliser_without_learnt_is_refused() -> None:
    with pytest.raises(SpecError, match="declares learns=True, so it must either take reference="):

        @register_normaliser("forgetful", learns=True)
        def forgetful(X: Any, /, *, direction: Any, **params: Any) -> Any:
            return X * direction

    assert "forgetful" not in normalisers


def test_declared_parameters_must_exist() -> None:
    with pytest.raises(SpecError, match=r"declares parameter\(s\) \['scale'\]"):
        register_aggregator("noscale", parameters=("scale",))(lambda X, w, /: X.mean(axis=-1))


def test_a_protocol_defaults_and_fields() -> None:
    registry: Registry[Any] = Registry("demo", Protocol(fields=frozenset({"learns"})))
    registry.register("one")(lambda X, /: X)
    assert registry.get("one").description == ""
    with pytest.raises(SpecError, match="already registered"):
        registry.register("one")(lambda X, /: X)


# -- user normalisers in STYLE's forms run through a framework ------------------------------


def test_a_learn_apply_pair_normaliser_runs_in_memory_and_under_monte_carlo(
    cleanup: list[Any],
) -> None:
    def learn(reference: Any, /) -> dict[str, Any]:
        return {"mean": np.nanmean(reference, axis=0)}

    @register_normaliser("percent_of_mean", learns=True, learn=learn, columnwise=True)
    def percent_of_mean(x: Any, /, *, learnt: Any, direction: Any) -> Any:
        """Each value as a percentage of the reference mean (negative: its inverse)."""
        ratio = x / learnt["mean"]
        return 100.0 * np.where(np.asarray(direction) > 0, ratio, 1.0 / ratio)

    cleanup.append((normalisers, "percent_of_mean"))
    framework = _framework(normalise={"method": "percent_of_mean"})
    result = run_pipeline(framework, _values(), pd.DataFrame(index=_values().frame.index))
    # a: mean 3.75 -> 100 a / 3.75; b (negative): mean 3 -> 100 * 3 / b
    np.testing.assert_allclose(result.normalised["a"], [100 / 3.75 * v for v in (1, 2, 4, 8)])
    np.testing.assert_allclose(result.normalised["b"], [100.0, 300.0, 150.0, 50.0])
    assert result.normalisation.loc["a", "mean"] == pytest.approx(3.75)
    replicates = run_uncertainty(result, {"weights": {"noise": 0.0}}, n_replicates=3, seed=0)
    assert replicates.scores is not None
    np.testing.assert_allclose(
        replicates.scores.to_numpy(), np.tile(result.scores["idx"].to_numpy(), (3, 1)), atol=1e-12
    )


def test_an_array_out_normaliser_that_learns_nothing_runs(cleanup: list[Any]) -> None:
    @register_normaliser("signed_log", columnwise=True)
    def signed_log(x: Any, /, *, direction: Any) -> Any:
        return np.log(x) * np.asarray(direction)

    cleanup.append((normalisers, "signed_log"))
    result = run_pipeline(
        _framework(normalise={"method": "signed_log"}),
        _values(),
        pd.DataFrame(index=_values().frame.index),
    )
    np.testing.assert_allclose(result.normalised["a"], np.log([1, 2, 4, 8]))
    np.testing.assert_allclose(result.normalised["b"], -np.log([3, 1, 2, 6]))
    direct = run_normaliser("signed_log", np.array([[np.e]]), direction=[1])
    assert direct.values.tolist() == [[1.0]] and direct.learnt == {}


def test_a_normaliser_returning_the_wrong_thing_is_refused_when_the_framework_loads(
    cleanup: list[Any],
) -> None:
    @register_normaliser("listy")
    def listy(x: Any, /, *, direction: Any) -> Any:
        return x.tolist()

    @register_normaliser("broken")
    def broken(x: Any, /, *, direction: Any) -> Any:
        return x.no_such_attribute

    cleanup.extend([(normalisers, "listy"), (normalisers, "broken")])
    with pytest.raises(SpecError, match="normalise method 'listy' returned a list; it must return"):
        _framework(normalise={"method": "listy"})
    with pytest.raises(SpecError, match="normalise method 'broken' fails on a dry run: Attribute"):
        _framework(normalise={"method": "broken"})


def test_an_aggregator_returning_the_wrong_shape_is_refused_at_load(cleanup: list[Any]) -> None:
    @register_aggregator("whole", rowwise=True)
    def whole(X: Any, w: Any, /) -> Any:
        return np.nanmean(X)  # one number, not one per row

    cleanup.append((aggregators, "whole"))
    with pytest.raises(
        SpecError, match=r"aggregate method 'whole' returned a float64.*one score per row"
    ):
        _framework(aggregate={"method": "whole"})
