"""Registries of methods: a name → small pure function table that users can extend.

Each family of methods (impute, treat, normalise, weight, aggregate, …) has one
:class:`Registry`. Methods are added with the registry's decorator, which records the
metadata a pipeline needs before it runs anything (output range, whether the method learns
statistics from a reference sample, the published reference), so a framework can be
checked at load time instead of failing half-way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from securindex.errors import SpecError

__all__ = ["Method", "Registry"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Method(Generic[F]):
    """A registered method and what is known about it before it runs."""

    name: str
    family: str
    func: F
    description: str = ""
    reference: str | None = None
    output_range: tuple[float, float] | None = None
    learns: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


class Registry(Generic[F]):
    """A named table of methods of one family.

    Examples
    --------
    >>> normalisers: Registry = Registry("normalise")
    >>> @normalisers.register("identity")
    ... def identity(x):
    ...     return x
    >>> normalisers.get("identity").name
    'identity'
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._methods: dict[str, Method[F]] = {}

    def register(
        self,
        name: str | None = None,
        *,
        reference: str | None = None,
        output_range: tuple[float, float] | None = None,
        learns: bool = False,
        replace: bool = False,
        **extra: Any,
    ) -> Callable[[F], F]:
        """Decorator adding a function to this registry under ``name`` (default: its name)."""

        def decorator(func: F) -> F:
            key = name or func.__name__
            if not key.replace("_", "").isalnum() or key != key.lower():
                raise ValueError(f"{self.family} method name must be lower_snake_case, got {key!r}")
            if key in self._methods and not replace:
                raise ValueError(
                    f"{self.family} method {key!r} is already registered; pass replace=True"
                )
            doc = (func.__doc__ or "").strip().splitlines()
            self._methods[key] = Method(
                name=key,
                family=self.family,
                func=func,
                description=doc[0] if doc else "",
                reference=reference,
                output_range=output_range,
                learns=learns,
                extra=dict(extra),
            )
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

    def names(self) -> list[str]:
        return sorted(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[Method[F]]:
        return iter(self._methods.values())

    def __len__(self) -> int:
        return len(self._methods)
