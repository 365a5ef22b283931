"""YAML reading that remembers where every value came from.

pydantic reports an error location as a path of keys (``("inputs", "population",
"unit")``); to tell a user ``homicide_rate.yaml:9:11`` we keep, for every path in a
document, the line and column of its node. PyYAML's composer already records the marks, so
we build plain Python values from the node tree ourselves instead of using ``safe_load``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from securindex.errors import Issue, SpecError

__all__ = ["Located", "YamlDocument", "iter_yaml_files", "read_yaml"]

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """A value read from YAML, with its file and the positions of all its sub-nodes."""

    value: Any
    file: str
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """1-based (line, column) of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while True:
            if key in self.positions:
                return self.positions[key]
            if not key:
                return None, None
            key = key[:-1]

    def issue(self, path: Sequence[str | int], message: str) -> Issue:
        line, column = self.position(path)
        field_name = ".".join(str(p) for p in path) or None
        return Issue(message, file=self.file, line=line, column=column, field=field_name)

    def sub(self, path: Sequence[str | int]) -> Located:
        """The located value at ``path`` (positions re-rooted there)."""
        prefix = tuple(path)
        value = self.value
        for key in prefix:
            value = value[key]
        positions = {
            p[len(prefix) :]: pos for p, pos in self.positions.items() if p[: len(prefix)] == prefix
        }
        return Located(value, self.file, positions)


YamlDocument = Located

_constructor = yaml.constructor.SafeConstructor()


def _build(node: yaml.Node, path: Path_, positions: dict[Path_, tuple[int, int]]) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                mark = key_node.start_mark
                raise _BadKeyError(
                    f"mapping keys must be text, got {key!r}", mark.line + 1, mark.column + 1
                )
            if key in result:
                mark = key_node.start_mark
                raise _BadKeyError(f"key '{key}' appears twice", mark.line + 1, mark.column + 1)
            child: Path_ = (*path, key)
            result[key] = _build(value_node, child, positions)
            # point the key itself at its own line, which is where a wrong value is typed
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, i), positions) for i, child in enumerate(node.value)]
    return _constructor.construct_object(node, deep=True)


class _BadKeyError(Exception):
    """A mapping key that is repeated or not text; located by the caller with the file."""

    def __init__(self, message: str, line: int, column: int) -> None:
        self.message, self.line, self.column = message, line, column


def read_yaml(path: str | Path, text: str | None = None) -> Located:
    """Read one YAML file into plain Python values plus the position of every node.

    Raises
    ------
    SpecError
        On a YAML syntax error or a duplicated key, located at ``file:line:column``.
    """
    file = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError([Issue(f"cannot read file: {exc.strerror}", file=file)]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            [Issue(f"YAML syntax error: {problem}", file=file, line=line, column=column)]
        ) from None
    positions: dict[Path_, tuple[int, int]] = {}
    if node is None:
        return Located(None, file, positions)
    try:
        value = _build(node, (), positions)
    except _BadKeyError as bad:
        raise SpecError([Issue(bad.message, file=file, line=bad.line, column=bad.column)]) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise SpecError(
            [
                Issue(
                    f"YAML error: {exc.problem}",
                    file=file,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
            ]
        ) from None
    return Located(value, file, positions)


def iter_yaml_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    """Every ``.yaml``/``.yml`` file under ``paths`` (files or folders), sorted, once each."""
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"})
        elif path.exists():
            candidates = [path]
        else:
            raise SpecError([Issue("no such file or folder", file=str(path))])
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                yield candidate
