"""securindex: urban-security indicators and composite indices.

The public API is what this module exports (``__all__``); everything else may change.
Importing securindex reads no file and builds nothing: the unit registry is created on
first use.
"""

import logging as _logging
from importlib.metadata import version as _version

from securindex.catalogue import Catalogue, IndicatorValues
from securindex.dataset import Panel, read_dictionary
from securindex.errors import DataError, FormulaError, Issue, SecurindexError, SpecError, UnitError
from securindex.formula import Formula, parse_formula
from securindex.framework import Framework
from securindex.result import IndexResult
from securindex.shipped import catalogue_dir, framework_file, frameworks
from securindex.spec.dictionary import DataDictionary
from securindex.spec.framework import FrameworkSpec
from securindex.spec.indicator import Indicator
from securindex.units import ScaledUnit, conversion_factor, parse_unit, registry
from securindex.validate import validate_paths

__version__ = _version("securindex")

# the library logs (``logging.getLogger("securindex")``) and never configures logging:
# nothing is shown unless the application adds a handler (the CLI's -v does)
_logging.getLogger("securindex").addHandler(_logging.NullHandler())

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
