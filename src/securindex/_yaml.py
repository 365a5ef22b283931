"""YAML reading that remembers where every value came from, safely and fast.

pydantic reports an error location as a path of keys (``("inputs", "population",
"unit")``); to tell a user ``homicide_rate.yaml:9:11`` we keep, for every path in a
document, the line and column of its node. We build plain Python values straight from the
parser's event stream (libyaml's C parser when PyYAML was built with it, else PyYAML's
Python parser), so no node tree is composed and no constructor can run code.

The reader is safe against hostile files and says where each refusal happens:

* at most :data:`MAX_YAML_BYTES` bytes, UTF-8 (or UTF-16/32 with a byte-order mark), no
  NUL character;
* at most :data:`MAX_YAML_DEPTH` nested collections;
* aliases (``*name``) are copies of their anchor's value, at most :data:`MAX_YAML_ALIASES`
  of them and at most :data:`MAX_YAML_ALIAS_NODES` values added by them in all (so a
  "billion laughs" file is refused after a few events, before any expansion); an alias
  inside its own anchor (``tags: &t [*t]``) is refused;
* only the plain YAML scalar tags (text, integer, float, boolean, null, timestamp) and the
  merge key ``<<``; any other tag (``!!python/object``, ``!!binary``, …) is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from securindex.errors import Issue, SpecError

__all__ = [
    "MAX_YAML_ALIASES",
    "MAX_YAML_ALIAS_NODES",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "Located",
    "YamlDocument",
    "iter_yaml_files",
    "read_yaml",
]

MAX_YAML_BYTES = 16 * 1024 * 1024
"""Largest YAML file read [bytes]; a framework or dictionary is a few kilobytes."""

MAX_YAML_DEPTH = 100
"""Deepest nesting of mappings and sequences in a YAML document [levels]."""

MAX_YAML_ALIASES = 10_000
"""Most aliases (``*name``) in one YAML document [count]."""

MAX_YAML_ALIAS_NODES = 100_000
"""Most values that aliases may add to one document, counting nested values [count]."""

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _TAG + "str", _TAG + "map", _TAG + "seq", _TAG + "merge"
_SCALAR_TAGS = frozenset(_TAG + name for name in ("str", "int", "float", "bool", "null"))
_SCALAR_TAGS |= {_TAG + "timestamp", _MERGE}

# YAML 1.1's implicit scalar types by first character, as PyYAML's resolver has them
_IMPLICIT: dict[str, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers

# libyaml's C parser (10-20 times faster than the Python one) when PyYAML was built with it
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


class _RefusedError(Exception):
    """A located refusal while building values; the caller adds the file."""

    def __init__(self, message: str, mark: Any) -> None:
        self.message = message
        self.line = mark.line + 1 if mark is not None else None
        self.column = mark.column + 1 if mark is not None else None


@dataclass
class _Frame:
    """One open mapping or sequence while the events stream in."""

    value: Any  # dict or list
    path: Path_
    anchor: str | None
    first: int  # index into the builder's ``order`` where this collection's positions start
    size: int = 1  # values in this collection, itself included, aliases expanded
    key: Any = None  # a mapping's pending key (None: the next value is a key)
    key_mark: Any = None
    has_key: bool = False
    merging: bool = False  # the pending key is the merge key ``<<``
    merged: list[dict[Any, Any]] = field(default_factory=list)
    merge_mark: Any = None


@dataclass
class _Anchor:
    value: Any
    path: Path_
    first: int
    last: int
    size: int


class _Builder:
    """Plain values and positions from a stream of parser events, every limit enforced."""

    def __init__(self) -> None:
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.order: list[Path_] = []  # paths in the order their positions were first set
        self.anchors: dict[str, _Anchor] = {}
        self.stack: list[_Frame] = []
        self.open_anchors: set[str] = set()
        self.aliases = 0
        self.alias_nodes = 0
        self.root: Any = None
        self.documents = 0

    # -- positions ---------------------------------------------------------------------------
    def _place(self, path: Path_, mark: Any) -> None:
        if path not in self.positions:
            self.order.append(path)
        self.positions[path] = (mark.line + 1, mark.column + 1)

    def _child_path(self, mark: Any) -> Path_ | None:
        """Path of the next value, or None when it is a mapping key; places it."""
        if not self.stack:
            path: Path_ = ()
            self._place(path, mark)
            return path
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            path = (*parent.path, len(parent.value))
            self._place(path, mark)
            return path
        if not parent.has_key:
            return None
        path = (*parent.path, parent.key)
        self._place(path, parent.key_mark)  # a wrong value is typed on its key's line
        return path

    # -- events --------------------------------------------------------------------------------
    def document(self, event: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            raise _RefusedError(
                "more than one YAML document in the file (a second '---')", event.start_mark
            )

    def scalar(self, event: Any, loader: Any) -> None:
        value = _scalar(event, loader)
        path = self._child_path(event.start_mark)
        if event.anchor is not None:
            end = len(self.order)
            self.anchors[event.anchor] = _Anchor(value, path or (), end, end, 1)
        if path is None:
            self._key(value, event)
            return
        self._deliver(value, 1, event.start_mark)

    def start(self, event: Any, kind: type) -> None:
        tag = event.tag
        if tag not in (None, "!", _MAP if kind is dict else _SEQ):
            raise _RefusedError(
                f"YAML tag '{_short_tag(tag)}' is not allowed here", event.start_mark
            )
        if len(self.stack) >= MAX_YAML_DEPTH:
            raise _RefusedError(
                f"YAML nests deeper than {MAX_YAML_DEPTH} levels of mappings and sequences",
                event.start_mark,
            )
        path = self._child_path(event.start_mark)
        if path is None:
            raise _RefusedError("mapping keys must be text, got a collection", event.start_mark)
        anchor = event.anchor
        if anchor is not None:
            self.open_anchors.add(anchor)
        self.stack.append(_Frame(kind(), path, anchor, len(self.order) - 1))

    def end(self, event: Any) -> None:
        frame = self.stack.pop()
        value = frame.value
        if frame.merged:
            merged: dict[Any, Any] = {}
            for extra in frame.merged:
                for key, item in extra.items():
                    merged.setdefault(key, item)
            for key in merged:
                if key not in value:
                    self._place((*frame.path, key), frame.merge_mark)
            value = {**merged, **value}
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = _Anchor(
                value, frame.path, frame.first, len(self.order), frame.size
            )
        self._deliver(value, frame.size, event.start_mark)

    def alias(self, event: Any) -> None:
        name, mark = event.anchor, event.start_mark
        anchor = self.anchors.get(name)
        if anchor is None:
            if name in self.open_anchors:
                raise _RefusedError(f"alias '*{name}' is inside its own anchor '&{name}'", mark)
            raise _RefusedError(f"alias '*{name}' names no anchor defined before it", mark)
        self.aliases += 1
        if self.aliases > MAX_YAML_ALIASES:
            raise _RefusedError(f"more than {MAX_YAML_ALIASES} aliases in one YAML document", mark)
        self.alias_nodes += anchor.size
        if self.alias_nodes > MAX_YAML_ALIAS_NODES:
            raise _RefusedError(
                f"aliases expand to more than {MAX_YAML_ALIAS_NODES} values; "
                "write the repeated parts out or shorten them",
                mark,
            )
        path = self._child_path(mark)
        if path is None:
            if isinstance(anchor.value, (dict, list)):
                raise _RefusedError("mapping keys must be text, got a collection", mark)
            self._key(anchor.value, event)
            return
        # copy the anchor's positions under the alias's path (its own path keeps the alias's)
        root = len(anchor.path)
        for old in self.order[anchor.first + 1 : anchor.last]:
            self._place_raw((*path, *old[root:]), self.positions[old])
        self._deliver(_copy(anchor.value), anchor.size, mark)

    def _place_raw(self, path: Path_, position: tuple[int, int]) -> None:
        if path not in self.positions:
            self.order.append(path)
        self.positions[path] = position

    def _key(self, key: Any, event: Any) -> None:
        parent = self.stack[-1]
        mark = event.start_mark
        merge = (
            key == "<<"
            and getattr(event, "implicit", (False, False))[0]
            and getattr(event, "tag", None) in (None, "!")
        ) or getattr(event, "tag", None) == _MERGE
        if merge:
            key = "<<"
        elif not isinstance(key, (str, int)) or isinstance(key, bool):
            raise _RefusedError(f"mapping keys must be text, got {key!r}", mark)
        elif key in parent.value:
            raise _RefusedError(f"key '{key}' appears twice", mark)
        parent.key, parent.key_mark, parent.has_key, parent.merging = key, mark, True, merge

    def _deliver(self, value: Any, size: int, mark: Any) -> None:
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        parent.size += size
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        key, merging = parent.key, parent.merging
        parent.key, parent.has_key, parent.merging = None, False, False
        if merging:
            extras = value if isinstance(value, list) else [value]
            if not all(isinstance(extra, dict) for extra in extras):
                raise _RefusedError("a merge key '<<' takes a mapping or a list of mappings", mark)
            parent.merged.extend(extras)
            parent.merge_mark = parent.key_mark
            return
        parent.value[key] = value


def _scalar(event: Any, loader: Any) -> Any:
    """The Python value of a scalar event, with YAML 1.1's implicit types (as PyYAML's
    ``safe_load``) and only the plain scalar tags."""
    tag, text = event.tag, event.value
    if tag is None or tag == "!":
        if not event.implicit[0]:  # quoted: text
            return text
        for tag, pattern in _IMPLICIT.get(text[:1], ()):  # noqa: B007
            if pattern.match(text):
                break
        else:
            return text
        if tag not in _SCALAR_TAGS:  # YAML 1.1's '=' (!!value): plain text here
            return text
    if tag not in _SCALAR_TAGS:
        raise _RefusedError(
            f"YAML tag '{_short_tag(tag)}' is not allowed: only text, numbers, booleans, null "
            "and dates are read (nothing in a YAML file is ever run)",
            event.start_mark,
        )
    if tag == _MERGE:
        return "<<"
    if tag == _STR:
        return text
    node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
    try:
        return loader.yaml_constructors[tag](loader, node)
    except (ValueError, OverflowError, IndexError, TypeError, yaml.YAMLError) as exc:
        raise _RefusedError(
            f"cannot read the value '{text}' ({tag[len(_TAG) :]}): {exc}", event.start_mark
        ) from exc


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _copy(value: Any) -> Any:
    """A copy of a value built from YAML (dicts and lists copied, scalars shared)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _decode(data: bytes, file: str) -> str:
    """UTF-8 text (or UTF-16/32 with a byte-order mark), else a located error."""
    boms = (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
        (b"\xef\xbb\xbf", "utf-8-sig"),
    )
    encoding = next((name for bom, name in boms if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.start + 1].hex().upper()
        raise SpecError(
            [
                Issue(
                    f"not {encoding.upper()} text (byte 0x{bad}); save the file as UTF-8",
                    file=file,
                    line=line,
                    column=column,
                )
            ]
        ) from exc


def _check_text(text: str, file: str) -> None:
    if len(text) > MAX_YAML_BYTES:
        raise SpecError(
            [Issue(f"YAML file larger than {MAX_YAML_BYTES // 2**20} MiB; split it", file=file)]
        )
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise SpecError(
            [
                Issue(
                    "NUL character in a YAML file (is it UTF-16 without a byte-order mark, "
                    "or not text?)",
                    file=file,
                    line=line,
                    column=column,
                )
            ]
        )


def read_yaml(path: str | Path, text: str | None = None) -> Located:
    """Read one YAML file into plain Python values plus the position of every node.

    Parameters
    ----------
    path
        The file to read, or only its name for messages when ``text`` is given.
    text
        The document itself (then ``path`` is not read).

    Returns
    -------
    Located
        The value (``None`` for an empty document) and the 1-based (line, column) of each
        path in it.

    Raises
    ------
    SpecError
        Located at ``file:line:column``: a YAML syntax error, a duplicated or non-text key,
        a disallowed tag, a file that is not UTF-8 text or holds a NUL character, and any
        limit exceeded (size, nesting depth, aliases; see the module's documentation).
    """
    file = str(path)
    if text is None:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_YAML_BYTES + 1)
        except OSError as exc:
            raise SpecError([Issue(f"cannot read file: {exc.strerror}", file=file)]) from exc
        text = _decode(data, file)
    _check_text(text, file)
    builder = _Builder()
    loader = _Loader(text)
    try:
        handlers = {
            yaml.ScalarEvent: lambda event: builder.scalar(event, loader),
            yaml.MappingStartEvent: lambda event: builder.start(event, dict),
            yaml.SequenceStartEvent: lambda event: builder.start(event, list),
            yaml.MappingEndEvent: builder.end,
            yaml.SequenceEndEvent: builder.end,
            yaml.AliasEvent: builder.alias,
            yaml.DocumentStartEvent: builder.document,
        }
        while True:
            event = loader.get_event()
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
            elif isinstance(event, yaml.StreamEndEvent):
                break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            [Issue(f"YAML syntax error: {problem}", file=file, line=line, column=column)]
        ) from exc
    except _RefusedError as bad:
        raise SpecError([Issue(bad.message, file=file, line=bad.line, column=bad.column)]) from None
    except yaml.YAMLError as exc:  # an unmarked reader error (e.g. a control character)
        raise SpecError([Issue(f"YAML error: {exc}", file=file)]) from exc
    finally:
        loader.dispose()
    if builder.root is None and not builder.positions:
        return Located(None, file, {})
    return Located(builder.root, file, builder.positions)


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
