"""Registries of methods: a name → typed record table that users can extend.

Each family of methods (impute, treat, normalise, weight, aggregate, screen) has one
:class:`Registry`. A method is added with the registry's decorator, which records a
:class:`Method`: the function and what is known about it before it runs (column-wise or
row-wise, whether it learns statistics from a reference sample and how, output range,
positivity, the published reference). The record is typed: a key the family does not know
(``requires_postive=True``) is refused at once, with the closest known key, and the
function's signature is checked against the family's calling convention
(:class:`Protocol`), so that a method runs the same way on every engine — in memory, under
Monte Carlo and on Dask — or is refused with the true reason when it is registered.

Built-in methods and users' methods are registered the same way and are treated the same
way: nothing in securindex looks at where a function was defined.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Generic, Literal, TypeVar

from securindex.errors import SpecError

__all__ = ["Method", "Protocol", "Registry"]

F = TypeVar("F", bound=Callable[..., Any])

Compensability = Literal["full", "partial", "none"]
ParamsFlag = bool | Callable[[Mapping[str, Any]], bool]
"""A yes/no property of a method, fixed or depending on its parameters."""


@dataclass(frozen=True, kw_only=True)
class Method(Generic[F]):
    """A registered method and what is known about it before it runs.

    Attributes
    ----------
    name, family : str
        The registry key (``lower_snake``) and the family (``normalise`` …).
    func : callable
        The function. For a method that learns and is registered as a learn/apply pair,
        ``func`` is the *apply* half: ``apply(x, /, *, learnt, direction, **params)``.
    learn : callable or None
        The *learn* half of a pair: ``learn(reference, /, **params) -> dict[str, array]``,
        per-column statistics whose last axis is the column. ``None`` when ``func`` learns
        and applies in one call (the built-in form, returning a ``Normalised``).
    description, reference : str
        First line of the docstring; the published source (handbook section, DOI).
    parameters : tuple of str or None
        The keyword parameters a framework may give; ``None``: read from the signature.
    learns : bool
        Whether the method learns statistics from a reference sample (normalisers) or
        from the data (weights).
    columnwise : bool
        Treats each column on its own, so engines may feed it blocks of columns or
        partitions' summaries (treat, impute, normalise).
    rowwise : bool
        Combines each row's children on its own (aggregate), so engines may feed it blocks
        of rows; ``False`` for methods comparing rows (taking ``groups``).
    treats_only_failing : bool or callable
        A treat method that leaves columns passing the skewness–kurtosis rule unchanged (a
        callable of the parameters when it depends on them, e.g. ``only_failing``).
    output_range : (float, float) or None
        Fixed range of the output; ``range_of`` gives it from the parameters instead.
    requires_positive : bool or callable
        An aggregator that needs strictly positive inputs (a callable of the parameters
        when it depends on them).
    preserves_range, idempotent : bool
        An aggregator whose output lies within its inputs' range; that returns ``c`` for
        children all equal to ``c``.
    compensatory, compensability
        Whether (and how fully) a low child can be offset by a high one.
    uses_groups, panel : bool
        An imputer reading group codes; one filling along each entity's time series.
    requires : tuple of str
        Parameters a weighting method cannot run without.
    per_row : bool
        A weighting method giving one weight vector per row (benefit of the doubt).
    scores_node : bool
        A weighting method whose optimum *is* the node's score (``info["scores"]``, share
        of the best-practice frontier [0–1]): the node is scored with it, not with a
        weighted mean (benefit of the doubt, Cherchye et al. 2007).
    max_children : int or None
        The most children an aggregator takes (``none``, the identity, takes one).
    applies_direction : bool
        A normaliser that orients its scores by ``direction`` (polarity); ``False`` for
        one that keeps values as they are (the identity, ``none``).
    statistic : Statistic, callable or None
        How the method learns from blocks of rows (:mod:`securindex.methods._statistics`):
        each block is summarised, the summaries are merged, the method learns from the
        merged summary. A callable of the parameters when they decide it (it raises a
        :class:`SpecError` with the reason when the parameters cannot learn from blocks).
        ``None``: a normaliser or imputer that learns gathers its reference sample
        (:class:`~securindex.methods._statistics.Sample`); a treat method without
        ``learn_from`` cannot run on blocks.
    learn_from, apply : callable or None
        The blocked form of a method whose ``func`` works on whole columns:
        ``learn_from(summary, /, **params) -> learnt`` learns from the merged
        ``statistic``; ``apply(x, /, *, learnt, **params) -> array`` applies it to a block.
    """

    name: str
    family: str
    func: F
    learn: Callable[..., Any] | None = None
    description: str = ""
    reference: str | None = None
    parameters: tuple[str, ...] | None = None
    learns: bool = False
    columnwise: bool = False
    rowwise: bool = False
    treats_only_failing: ParamsFlag = False
    output_range: tuple[float, float] | None = None
    range_of: Callable[[dict[str, Any]], tuple[float, float] | None] | None = None
    requires_positive: ParamsFlag = False
    preserves_range: bool = False
    idempotent: bool = False
    compensatory: bool | None = None
    compensability: Compensability | None = None
    uses_groups: bool = False
    panel: bool = False
    requires: tuple[str, ...] = ()
    per_row: bool = False
    scores_node: bool = False
    applies_direction: bool = True
    max_children: int | None = None
    statistic: Any = None
    learn_from: Callable[..., Any] | None = None
    apply: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def flag(self, name: str, params: Mapping[str, Any] | None = None) -> bool:
        """A yes/no property (``requires_positive``, ``treats_only_failing``) for ``params``."""
        value = getattr(self, name)
        return bool(value(dict(params or {})) if callable(value) else value)

    def accepts(self, keyword: str) -> bool:
        """Whether ``func`` takes the keyword argument ``keyword`` (or any keyword)."""
        parameters = _signature(self.func).parameters
        return keyword in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())

    def takes(self, keyword: str) -> bool:
        """Whether ``func`` names the keyword argument ``keyword`` in its signature."""
        return keyword in _signature(self.func).parameters

    def accepted(self) -> set[str] | None:
        """Keyword parameters a framework may set (``None``: any, the function takes **kw)."""
        if self.parameters is not None:
            return set(self.parameters)
        parameters = _signature(self.func).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return None
        return {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}


_COMMON = frozenset({"description", "reference", "parameters"})


@dataclass(frozen=True)
class Protocol:
    """The calling convention of a family, checked when a method registers.

    Attributes
    ----------
    fields : frozenset of str
        The :class:`Method` fields a method of this family may declare.
    positional : int
        Number of positional (array) arguments the engines pass.
    keywords : tuple of str
        Keyword arguments the engines always pass (the function must accept them).
    defaults : Mapping
        Field values a method gets unless it declares them.
    infer : callable, optional
        Field values read from the function itself (e.g. an aggregator that takes
        ``groups`` compares rows), for the fields a method does not declare.
    """

    fields: frozenset[str]
    positional: int = 1
    keywords: tuple[str, ...] = ()
    defaults: Mapping[str, Any] | None = None
    infer: Callable[[Callable[..., Any]], Mapping[str, Any]] | None = None


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


def _check_call(
    func: Callable[..., Any],
    where: str,
    positional: int,
    keywords: tuple[str, ...],
    declared: tuple[str, ...] = (),
) -> None:
    """Raise a :class:`SpecError` when ``func`` cannot be called as the engines call it."""
    try:
        parameters = list(_signature(func).parameters.values())
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where}: its signature cannot be read ({exc})") from None
    var_positional = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters)
    slots = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(slots) < positional and not var_positional:
        raise SpecError(
            f"{where} must take {positional} positional array argument(s); its signature "
            f"{_signature(func)} takes {len(slots)}"
        )
    names = {p.name for p in parameters}
    missing = [k for k in keywords if k not in names and not var_keyword]
    if missing:
        raise SpecError(
            f"{where} must accept the keyword argument(s) {missing} that every engine passes; "
            f"its signature is {_signature(func)}"
        )
    required = [
        p.name for p in slots[positional:] if p.default is p.empty and p.name not in keywords
    ] + [
        p.name
        for p in parameters
        if p.kind is p.KEYWORD_ONLY
        and p.default is p.empty
        and p.name not in keywords
        and p.name not in declared
    ]
    if required:
        raise SpecError(
            f"{where} has required argument(s) {required} that no engine passes; give them "
            f"defaults, or declare them in requires= (a framework must then set them); its "
            f"signature is {_signature(func)}"
        )


class Registry(Generic[F]):
    """A named table of methods of one family.

    Parameters
    ----------
    family
        The family's name (``normalise`` …).
    protocol
        How the engines call the family's methods; ``None``: any function with one array
        argument, and only the common fields (description, reference, parameters).
    check
        An extra check of a new :class:`Method` (family-specific consistency), raising a
        :class:`SpecError`.

    Examples
    --------
    >>> normalisers: Registry = Registry("normalise")
    >>> @normalisers.register("identity")
    ... def identity(x):
    ...     return x
    >>> normalisers.get("identity").name
    'identity'
    """

    def __init__(
        self,
        family: str,
        protocol: Protocol | None = None,
        *,
        check: Callable[[Method[Any]], None] | None = None,
    ) -> None:
        self.family = family
        self.protocol = protocol or Protocol(fields=frozenset())
        self._check = check
        self._methods: dict[str, Method[F]] = {}

    def register(
        self,
        name: str | None = None,
        *,
        replace: bool = False,
        **declared: Any,
    ) -> Callable[[F], F]:
        """Decorator adding a function to this registry under ``name`` (default: its name).

        Keyword arguments are the :class:`Method` fields the family knows (its
        :attr:`protocol`); any other key is an error naming the closest known one.

        Raises
        ------
        SpecError
            An invalid name, an unknown key, or a function the engines cannot call.
        """
        allowed = _COMMON | self.protocol.fields
        unknown = sorted(set(declared) - allowed)
        where = f"{self.family} method {name!r}" if name else f"a {self.family} method"
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise SpecError(
                f"{where}: unknown registry key(s) {', '.join(hints)}; {self.family} methods "
                f"declare {sorted(allowed)}"
            )

        def decorator(func: F) -> F:
            key = name or func.__name__
            label = f"{self.family} method {key!r}"
            if not key.replace("_", "").isalnum() or key != key.lower():
                raise SpecError(f"{self.family} method name must be lower_snake_case, got {key!r}")
            if key in self._methods and not replace:
                raise SpecError(f"{label} is already registered; pass replace=True")
            if not callable(func):
                raise SpecError(f"{label}: {func!r} is not callable")
            inferred = self.protocol.infer(func) if self.protocol.infer is not None else {}
            values = {**(self.protocol.defaults or {}), **inferred, **declared}
            if "parameters" in values and values["parameters"] is not None:
                values["parameters"] = tuple(values["parameters"])
            if "requires" in values:
                values["requires"] = tuple(values["requires"])
            doc = (func.__doc__ or "").strip().splitlines()
            values.setdefault("description", doc[0] if doc else "")
            method: Method[F] = Method(name=key, family=self.family, func=func, **values)
            keywords = self.protocol.keywords
            if method.learn is not None:
                _check_call(method.learn, f"{label} (learn)", 1, ())
                keywords = (*keywords, "learnt")
            declared_names = (*method.requires, *(method.parameters or ()))
            _check_call(func, label, self.protocol.positional, keywords, declared_names)
            if method.parameters is not None:
                absent = [p for p in method.parameters if not method.accepts(p)]
                if absent:
                    raise SpecError(
                        f"{label} declares parameter(s) {absent} that its function does not "
                        f"accept; its signature is {_signature(func)}"
                    )
            if self._check is not None:
                self._check(method)
            self._methods[key] = method
            return func

        return decorator

    def get(self, name: str) -> Method[F]:
        """The method called ``name``; a :class:`SpecError` listing the choices otherwise."""
        try:
            return self._methods[name]
        except KeyError:
            choices = ", ".join(sorted(self._methods))
            raise SpecError(
                f"unknown {self.family} method {name!r}; available: {choices}"
            ) from None

    def unregister(self, name: str) -> None:
        """Remove a method (for tests and interactive sessions that redefine one)."""
        self._methods.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[Method[F]]:
        return iter(self._methods.values())

    def __len__(self) -> int:
        return len(self._methods)


METHOD_FIELDS = frozenset(f.name for f in fields(Method)) - {"name", "family", "func"}
"""Every field a :class:`Method` has (a family's :class:`Protocol` allows a subset)."""
