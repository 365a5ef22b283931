"""Which areas an evaluation compares: the one function every job field goes through.

Every area list of an evaluation job — the treated, control, buffer and buffer-control
areas of an initiative, the entities and comparison series of an interrupted time series,
the donors of a synthetic control — is written either as a list of labels or as a
one-key mapping naming a *selector*::

    control: ["080101", "080102"]            # labels
    donors: {all_except: [treated, buffer]}  # every area not in those roles (or labels)

and resolved by :func:`select_areas`. Selectors are small registered functions, so other
modules add their own (``securindex.geo`` adds geometry-derived ones such as "areas within
d metres of the treated ones") with :func:`register_area_selector`; a selector receives
the available labels, the roles resolved so far and the job's context (data, geometry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from securindex.errors import SpecError

__all__ = [
    "AREA_SELECTORS",
    "AreaContext",
    "AreaSelection",
    "register_area_selector",
    "select_areas",
]

#: A job's area field: labels, or ``{selector: argument}``.
AreaSelection = list[str] | dict[str, Any]


@dataclass(frozen=True)
class AreaContext:
    """What a selector may use besides the labels: roles resolved so far, and extras.

    ``available`` are the entity labels of the data (text); ``roles`` maps a role name
    (``treated``, ``control``, ``buffer`` …) to the labels already chosen for it;
    ``extras`` carries job-level objects a selector may need (e.g. area geometries under
    ``"geometry"``).
    """

    available: tuple[str, ...]
    roles: Mapping[str, Sequence[str]] = field(default_factory=dict)
    extras: Mapping[str, Any] = field(default_factory=dict)


AreaSelector = Callable[[Any, AreaContext], list[str]]

AREA_SELECTORS: dict[str, AreaSelector] = {}


def register_area_selector(name: str) -> Callable[[AreaSelector], AreaSelector]:
    """Decorator adding ``function(argument, context) -> labels`` as selector ``name``."""

    def decorate(function: AreaSelector) -> AreaSelector:
        if name in AREA_SELECTORS:
            raise SpecError(f"an area selector named {name!r} is already registered")
        AREA_SELECTORS[name] = function
        return function

    return decorate


@register_area_selector("all_except")
def _all_except(argument: Any, context: AreaContext) -> list[str]:
    """Every available area except the given roles' areas and/or labels."""
    items = [argument] if isinstance(argument, str) else list(argument or [])
    excluded: set[str] = set()
    for item in items:
        text = str(item)
        if text in context.roles:
            excluded.update(map(str, context.roles[text]))
        elif text in context.available:
            excluded.add(text)
        else:
            raise SpecError(
                f"all_except: {text!r} is neither a role ({sorted(context.roles)}) nor an area "
                "of the data"
            )
    return [a for a in context.available if a not in excluded]


def select_areas(
    selection: AreaSelection | Sequence[str] | str | int | None,
    context: AreaContext,
    *,
    field: str,
) -> list[str]:
    """Resolve a job's area field to entity labels.

    Parameters
    ----------
    selection
        A list of labels (numbers are read as text), one label, or ``{selector: argument}``
        naming a registered selector (:data:`AREA_SELECTORS`). None gives an empty list.
    context
        The available labels, the roles resolved so far and job extras.
    field
        The field's dotted path in the job, for error messages.

    Returns
    -------
    list of str
        Distinct labels, each an area of the data.

    Raises
    ------
    SpecError
        An unknown selector or label, or a selection that picks no area.

    Examples
    --------
    >>> ctx = AreaContext(available=("a", "b", "c"), roles={"treated": ["a"]})
    >>> select_areas({"all_except": ["treated"]}, ctx, field="donors")
    ['b', 'c']
    """
    if selection is None:
        return []
    if isinstance(selection, Mapping):
        if len(selection) != 1:
            raise SpecError(
                f"{field}: an area selector is one key (e.g. {{all_except: [treated]}}); got "
                f"{sorted(map(str, selection))}"
            )
        (name, argument), *_ = selection.items()
        if name not in AREA_SELECTORS:
            raise SpecError(
                f"{field}: unknown area selector {name!r}; known: {sorted(AREA_SELECTORS)}"
            )
        try:
            chosen = AREA_SELECTORS[name](argument, context)
        except SpecError as exc:
            raise SpecError(f"{field}: {exc}") from None
    else:
        items = [selection] if isinstance(selection, (str, int)) else list(selection)
        chosen = [str(x) for x in items]
        unknown = [x for x in chosen if x not in set(context.available)]
        if unknown:
            raise SpecError(
                f"{field}: area(s) {unknown} are not in the data; check their spelling "
                f"(areas are e.g. {list(context.available)[:5]})"
            )
    chosen = list(dict.fromkeys(chosen))
    if not chosen:
        raise SpecError(f"{field}: the selection picks no area")
    return chosen
