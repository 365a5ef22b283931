"""securindex: urban-security indicators and composite indices.

The public API is what this module exports (``__all__``); everything else may change.
Importing securindex reads no file, builds nothing and imports no heavy module: each name
below is imported from its module on first access (PEP 562), so ``import securindex`` and
``securindex --help`` start fast, and ``from securindex import Framework`` costs only what
building a framework needs. The unit registry is created on first use.
"""

from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING, Any

from securindex._lazy import lazy_exports

if TYPE_CHECKING:  # what static tools see; at run time the names load on first access
    from securindex.catalogue import Catalogue, IndicatorValues
    from securindex.dataset import Panel, read_dictionary
    from securindex.errors import (
        DataError,
        FormulaError,
        Issue,
        MissingExtraError,
        OutputError,
        SecurindexError,
        SpecError,
        UnitError,
    )
    from securindex.formula import Formula, parse_formula
    from securindex.framework import Framework
    from securindex.result import IndexResult
    from securindex.shipped import catalogue_dir, framework_file, frameworks
    from securindex.spec.dictionary import DataDictionary
    from securindex.spec.framework import FrameworkSpec
    from securindex.spec.indicator import Indicator
    from securindex.units import ScaledUnit, conversion_factor, parse_unit, registry
    from securindex.validate import validate_paths

_EXPORTS: dict[str, str] = {
    "Catalogue": "securindex.catalogue",
    "IndicatorValues": "securindex.catalogue",
    "Panel": "securindex.dataset",
    "read_dictionary": "securindex.dataset",
    "DataError": "securindex.errors",
    "FormulaError": "securindex.errors",
    "Issue": "securindex.errors",
    "MissingExtraError": "securindex.errors",
    "OutputError": "securindex.errors",
    "SecurindexError": "securindex.errors",
    "SpecError": "securindex.errors",
    "UnitError": "securindex.errors",
    "Formula": "securindex.formula",
    "parse_formula": "securindex.formula",
    "Framework": "securindex.framework",
    "IndexResult": "securindex.result",
    "catalogue_dir": "securindex.shipped",
    "framework_file": "securindex.shipped",
    "frameworks": "securindex.shipped",
    "DataDictionary": "securindex.spec.dictionary",
    "FrameworkSpec": "securindex.spec.framework",
    "Indicator": "securindex.spec.indicator",
    "ScaledUnit": "securindex.units",
    "conversion_factor": "securindex.units",
    "parse_unit": "securindex.units",
    "registry": "securindex.units",
    "validate_paths": "securindex.validate",
}
"""Each public name and the module that defines it."""

__all__ = [
    "Catalogue",
    "DataDictionary",
    "DataError",
    "Formula",
    "FormulaError",
    "Framework",
    "FrameworkSpec",
    "IndexResult",
    "Indicator",
    "IndicatorValues",
    "Issue",
    "MissingExtraError",
    "OutputError",
    "Panel",
    "ScaledUnit",
    "SecurindexError",
    "SpecError",
    "UnitError",
    "__version__",
    "catalogue_dir",
    "conversion_factor",
    "framework_file",
    "frameworks",
    "parse_formula",
    "parse_unit",
    "read_dictionary",
    "registry",
    "validate_paths",
]

# the library logs (``logging.getLogger("securindex")``) and never configures logging:
# nothing is shown unless the application adds a handler (the CLI's -v does)
_logging.getLogger("securindex").addHandler(_logging.NullHandler())


_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one source: the installed distribution's metadata
        from importlib.metadata import version

        globals()[name] = version("securindex")
        return globals()[name]
    return _getattr(name)
