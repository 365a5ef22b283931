"""One error hierarchy for securindex.

Every error raised on purpose by the library is a :class:`SecurindexError` and also
inherits the builtin it resembles, so ``except ValueError`` keeps working for callers who
do not know securindex. Each error keeps its context as fields (file, line, field,
indicator, column, rows, …) and a short machine-readable ``code``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DataError",
    "FormulaError",
    "FormulaUnitError",
    "FormulaWarning",
    "Issue",
    "MissingExtraError",
    "OutputError",
    "SecurindexError",
    "SpecError",
    "UnitError",
]


@dataclass(frozen=True)
class Issue:
    """One problem found while validating a specification or a dataset.

    ``file``/``line``/``column`` locate it in a YAML file when known; ``field`` is the
    dotted path of the offending key (``inputs.population.unit``).
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class SecurindexError(Exception):
    """Base class of every error securindex raises on purpose."""

    code: str = "securindex"


class SpecError(SecurindexError, ValueError):
    """An invalid indicator, framework or evaluation specification.

    Holds every :class:`Issue` found, so a user fixes all of them in one pass.
    """

    code = "spec"

    def __init__(self, issues: Sequence[Issue] | str) -> None:
        if isinstance(issues, str):
            issues = [Issue(issues)]
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.issues) == 1:
            return str(self.issues[0])
        lines = [f"{len(self.issues)} problems found:"]
        lines += [f"  {issue}" for issue in self.issues]
        return "\n".join(lines)


class _FormulaSpanError(SecurindexError):
    """An error at a span of a formula: ``start``/``end`` are character offsets into
    ``formula``, and the message shows carets under that span."""

    def __init__(self, message: str, formula: str, start: int = 0, end: int | None = None) -> None:
        self.message = message
        self.formula = formula
        self.start = max(0, start)
        self.end = len(formula) if end is None else max(end, self.start + 1)
        super().__init__(str(self))

    def __str__(self) -> str:
        carets = " " * self.start + "^" * max(1, self.end - self.start)
        return f"{self.message}\n    {self.formula}\n    {carets}"


class FormulaWarning(UserWarning):
    """A formula that is valid but probably not what its author meant (a bare number that
    silently takes a unit, a percent value divided by 100 once more); the message shows
    the formula with carets under the sub-expression."""


class FormulaError(_FormulaSpanError, ValueError):
    """A formula that cannot be parsed, or uses something not allowed."""

    code = "formula"


class UnitError(SecurindexError, TypeError):
    """Units that cannot be combined or converted (wraps pint's DimensionalityError)."""

    code = "unit"


class FormulaUnitError(_FormulaSpanError, UnitError):
    """A unit error inside a formula, shown with carets under the offending sub-expression."""


class DataError(SecurindexError, ValueError):
    """A dataset that does not fit what the specification needs.

    ``column`` names the offending column and ``rows`` gives (a sample of) the offending
    row labels, so the user can find them.
    """

    code = "data"

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: Sequence[object] = (),
        source: str | None = None,
    ) -> None:
        self.message = message
        self.column = column
        self.rows = tuple(rows)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}: ")
        if self.column:
            parts.append(f"column '{self.column}': ")
        parts.append(self.message)
        if self.rows:
            shown = ", ".join(map(str, self.rows[:5]))
            more = f" and {len(self.rows) - 5} more" if len(self.rows) > 5 else ""
            parts.append(f" (rows: {shown}{more})")
        return "".join(parts)


class OutputError(SecurindexError, OSError, ValueError):
    """An output that cannot be written as asked: an unknown suffix, a file where a folder
    is wanted (or the reverse), a path under a file, a read-only or full target.

    Raised before any work starts where that can be known, so a long run never ends on an
    unwritable path; an output that fails while being written leaves nothing partial under
    ``path`` (see ``securindex._output``).
    """

    code = "output"

    def __init__(self, message: str, *, path: object = None) -> None:
        self.message = message
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path is not None else self.message


class MissingExtraError(SecurindexError, ImportError):
    """An optional dependency (an *extra*) is not installed.

    ``extra`` names the securindex extra and ``modules`` the missing import names; the
    message ends with the one-line install command.
    """

    code = "extra"

    def __init__(self, message: str, *, extra: str, modules: Sequence[str] = ()) -> None:
        self.message = message
        self.extra = extra
        self.modules = tuple(modules)
        super().__init__(message)

    def __str__(self) -> str:
        return self.message
