"""Turn pydantic's error locations into ``file:line:column field: message`` issues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import pydantic

from securindex._yaml import Located
from securindex.errors import Issue, SpecError

__all__ = ["issues_from_validation_error", "validate_located"]

M = TypeVar("M", bound=pydantic.BaseModel)


def _clean_message(error: Any) -> str:
    message = str(error["msg"])
    # pydantic prefixes messages of our own ValueErrors with "Value error, "
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check its spelling against the YAML reference)"
    if error["type"] == "missing":
        message = "required field is missing"
    if error["type"] in {"literal_error", "enum"}:
        message = f"{message}; got {error.get('input')!r}"
    return message


def issues_from_validation_error(
    exc: pydantic.ValidationError, located: Located, prefix: Sequence[str | int] = ()
) -> list[Issue]:
    """One :class:`Issue` per pydantic error, located in the YAML file."""
    issues = []
    for error in exc.errors():
        # drop pydantic's union/function tags that are not keys of the document
        loc = [p for p in error["loc"] if isinstance(p, int) or not str(p).startswith("function-")]
        path = [*prefix, *loc]
        while path and tuple(path) not in located.positions and len(path) > len(prefix):
            # tagged-union members appear as an extra key; keep the longest real prefix
            path = path[:-1]
        issue = located.issue(path, _clean_message(error))
        field = ".".join(str(p) for p in [*prefix, *loc]) or None
        issues.append(Issue(issue.message, issue.file, issue.line, issue.column, field))
    return issues


def validate_located(model: type[M], located: Located, prefix: Sequence[str | int] = ()) -> M:
    """Validate ``located.value`` (or its sub-value at ``prefix``) as ``model``."""
    value = located.value
    for key in prefix:
        value = value[key]
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        raise SpecError(issues_from_validation_error(exc, located, prefix)) from exc
