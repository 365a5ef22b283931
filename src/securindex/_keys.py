"""Area ids, offence codes and filter values as text keys, whatever a file stored (shared by
the incidents counter and the area polygons of :mod:`securindex.geo`)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_keys(values: pd.Series | pd.Index | np.ndarray) -> pd.Index:
    """Ids as text keys: integers (also when stored as floats, ``12.0``) without decimals.

    Works on the distinct values only, so callers factorise first.
    """
    index = pd.Index(values)
    if pd.api.types.is_float_dtype(index.dtype):
        finite = index.dropna()
        if len(finite) and bool(np.all(np.mod(finite.to_numpy(), 1) == 0)):
            index = index.astype("Int64")
    if pd.api.types.is_bool_dtype(index.dtype):
        index = index.astype(str)
    return pd.Index(index.astype("string").astype(object))


def keys_of(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes of each row (-1 for missing) and the text key of each code."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64), as_keys(uniques)
