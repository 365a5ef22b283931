"""Indicators per partition: the catalogue's formulas, periods counted over the panel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from securindex.dataset import ENTITY, PERIOD, Panel
from securindex.formula import PanelLayout, parse_formula

if TYPE_CHECKING:
    from securindex.catalogue import Catalogue


class _PartitionPanel(Panel):
    """A partition of a panel whose period codes count over the *whole* panel's periods,
    so ``lag``/``mean_over`` see the same gaps as on the full panel."""

    def __init__(self, *args: Any, all_periods: np.ndarray, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.all_periods = all_periods

    def layout(self) -> PanelLayout:
        entity_codes, entities = pd.factorize(self.frame.index.get_level_values(ENTITY))
        period_codes = np.searchsorted(
            self.all_periods, self.frame.index.get_level_values(PERIOD).to_numpy()
        )
        return PanelLayout(
            entity_codes=entity_codes.astype(np.int64),
            period_codes=period_codes.astype(np.int64),
            n_entities=len(entities),
            n_periods=len(self.all_periods),
        )


INDICATOR_AUDIT_COLUMNS = (ENTITY, PERIOD, "indicator", "reason")


def indicator_partition(
    part: pd.DataFrame,
    indicators: list[Any],
    ids: list[str],
    units: dict[str, str],
    groups: list[str],
    all_periods: np.ndarray | None,
    audit: bool = False,
) -> pd.DataFrame:
    """One partition's indicator values (``entity, period``, groups, one column per
    indicator); with ``audit`` instead the rows of the values that could not be computed
    (``entity, period, indicator, reason``, as the catalogue's audit)."""
    part = part.reset_index(drop=True)
    if not len(part):
        if audit:
            return indicator_audit_types(pd.DataFrame(columns=list(INDICATOR_AUDIT_COLUMNS)))
        out = part[[ENTITY, PERIOD, *groups]].copy()
        for i in ids:
            out[i] = np.zeros(0)
        return out
    index = pd.MultiIndex.from_arrays(
        [part[ENTITY].to_numpy(), part[PERIOD].to_numpy()], names=[ENTITY, PERIOD]
    )
    frame = pd.DataFrame({v: part[v].to_numpy(dtype=np.float64) for v in units}, index=index)
    periods = (
        all_periods if all_periods is not None else np.sort(pd.unique(part[PERIOD].to_numpy()))
    )
    panel = _PartitionPanel(frame, units, all_periods=periods)
    # the catalogue is rebuilt from its (picklable) indicator specs on the worker: pint units
    # of the project's registry do not survive pickling (see docs/scale.md)
    from securindex.catalogue import Catalogue

    values = Catalogue(indicators).compute(panel, indicators=ids)
    if audit:
        return indicator_audit_types(values.audit[list(INDICATOR_AUDIT_COLUMNS)])
    matrix = np.asfortranarray(values.frame[ids].to_numpy(dtype=np.float64))
    block = pd.DataFrame(matrix, columns=list(ids), index=part.index, copy=False)
    return pd.concat([part[[ENTITY, PERIOD, *groups]], block], axis=1)


def indicator_audit_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Audit rows as text (ids as written), so that every partition shares one schema."""
    return frame.astype(dict.fromkeys(INDICATOR_AUDIT_COLUMNS, "string")).reset_index(drop=True)


def catalogue_uses_panel(catalogue: Catalogue) -> bool:
    return any(parse_formula(indicator.formula).uses_panel for indicator in catalogue.values())
