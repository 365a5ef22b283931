"""The optional extras and a check that one is installed, made before any work starts.

Each extra is a name in ``pyproject.toml``'s ``[project.optional-dependencies]`` and the
import names it brings. :func:`require` looks the modules up without importing them
(:func:`importlib.util.find_spec`), so checking costs nothing when they are present, and
raises :class:`~securindex.errors.MissingExtraError` with a one-line install command when
one is missing.
"""

from __future__ import annotations

import importlib.util

from securindex.errors import MissingExtraError

__all__ = ["EXTRAS", "has_extra", "require"]

EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    # extra: ((import name, distribution name), ...)
    "parquet": (("pyarrow", "pyarrow"),),
    "stats": (("statsmodels", "statsmodels"),),
    "sensitivity": (("SALib", "SALib"),),
    "report": (("matplotlib", "matplotlib"), ("jinja2", "jinja2")),
    "dask": (("dask", "dask[dataframe]"), ("distributed", "distributed"), ("pyarrow", "pyarrow")),
    "geo": (
        ("geopandas", "geopandas"),
        ("shapely", "shapely"),
        ("pyogrio", "pyogrio"),
        ("libpysal", "libpysal"),
        ("esda", "esda"),
        ("mapclassify", "mapclassify"),
    ),
}
"""Every optional extra and the modules it provides."""


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed installation
        return False


def _missing(extra: str) -> list[tuple[str, str]]:
    return [(m, d) for m, d in EXTRAS[extra] if not _found(m)]


def has_extra(extra: str) -> bool:
    """Whether every module of ``extra`` can be imported."""
    return not _missing(extra)


def require(extra: str, purpose: str) -> None:
    """Raise unless every module of ``extra`` is installed.

    Parameters
    ----------
    extra
        A key of :data:`EXTRAS` (``"report"``, ``"parquet"``, ``"sensitivity"`` …).
    purpose
        What needs it, as the start of a sentence: ``"the HTML report"``.

    Raises
    ------
    MissingExtraError
        Naming the missing modules and the install command, e.g. ``the HTML report needs
        matplotlib, jinja2 (the 'report' extra): pip install matplotlib jinja2``.

    Examples
    --------
    >>> require("parquet", "writing Parquet")  # pyarrow is installed: nothing happens
    """
    missing = _missing(extra)
    if not missing:
        return
    names = ", ".join(module for module, _ in missing)
    install = " ".join(f"'{d}'" if "[" in d else d for _, d in missing)
    raise MissingExtraError(
        f"{purpose} needs {names} (the '{extra}' extra): pip install {install}",
        extra=extra,
        modules=[module for module, _ in missing],
    )
