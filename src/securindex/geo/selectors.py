"""Area selectors from geometry for evaluation jobs: ``near`` and ``neighbours``.

Evaluation jobs resolve every area field through
:func:`securindex.evaluation.areas.select_areas`; importing this module registers two
selectors that read the data's polygons (``panel.areas``, passed by the job as the
``areas`` extra):

.. code-block:: yaml

    control: {near: {of: treated, distance: 2 km}}     # within 2 km of the treated areas
    comparison: {neighbours: {of: treated, order: 1}}  # their queen (declared) neighbours

``of`` is a role already resolved (``treated``, ``control`` …) or a list of labels. The
areas of ``of`` are never selected. Both call :func:`securindex.geo.buffers.buffer_areas`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from securindex.errors import SpecError
from securindex.evaluation.areas import AreaContext, register_area_selector
from securindex.geo.buffers import buffer_areas

__all__: list[str] = []


def _arguments(name: str, argument: Any, key: str) -> tuple[list[str], Any, Any]:
    if not isinstance(argument, Mapping) or "of" not in argument or key not in argument:
        raise SpecError(f"{name}: write {{{name}: {{of: treated, {key}: ...}}}}; got {argument!r}")
    unknown = sorted(set(argument) - {"of", key})
    if unknown:
        raise SpecError(f"{name}: unknown key(s) {unknown}; the keys are 'of' and '{key}'")
    return argument["of"], argument[key], argument


def _of(name: str, of: Any, context: AreaContext) -> list[str]:
    if isinstance(of, str) and of in context.roles:
        return [str(v) for v in context.roles[of]]
    items = [of] if isinstance(of, (str, int)) else list(of)
    labels = [str(v) for v in items]
    unknown = [v for v in labels if v not in set(context.available)]
    if unknown:
        raise SpecError(
            f"{name}: {unknown} are neither roles ({sorted(context.roles)}) nor areas of the data"
        )
    return labels


def _areas(name: str, context: AreaContext) -> Any:
    areas = context.extras.get("areas")
    if areas is None:
        raise SpecError(
            f"{name} needs the areas' polygons: name them in the data dictionary (areas: "
            "{file, key})"
        )
    return areas


def _available(chosen: list[str], context: AreaContext) -> list[str]:
    keys = set(chosen)
    return [a for a in context.available if a in keys]


@register_area_selector("near")
def _near(argument: Any, context: AreaContext) -> list[str]:
    """The areas whose polygon comes within ``distance`` of the ``of`` areas' polygons."""
    of, distance, _ = _arguments("near", argument, "distance")
    chosen = buffer_areas(_areas("near", context), _of("near", of, context), distance=distance)
    return _available(chosen, context)


@register_area_selector("neighbours")
def _neighbours(argument: Any, context: AreaContext) -> list[str]:
    """The ``of`` areas' neighbours up to ``order`` under the declared weights."""
    of, order, _ = _arguments("neighbours", argument, "order")
    if isinstance(order, bool) or not isinstance(order, int):
        raise SpecError(f"neighbours: order must be a whole number ≥ 1; got {order!r}")
    chosen = buffer_areas(
        _areas("neighbours", context), _of("neighbours", of, context), order=order
    )
    return _available(chosen, context)
