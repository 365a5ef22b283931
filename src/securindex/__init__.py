"""securindex: urban-security indicators and composite indices."""

from securindex.errors import DataError, FormulaError, SecurindexError, SpecError, UnitError

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "FormulaError",
    "SecurindexError",
    "SpecError",
    "UnitError",
    "__version__",
]
