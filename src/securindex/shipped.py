"""Paths to what ships inside the package: the indicator catalogue and its frameworks.

The repository's ``indicators/`` folder is packaged as ``securindex/_catalogue`` so that a
plain ``pip install`` carries the catalogue and the example frameworks with it.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from securindex.errors import SpecError

__all__ = ["catalogue_dir", "framework_file", "frameworks"]


def catalogue_dir() -> Path:
    """The shipped catalogue folder (category folders, ``frameworks/``, ``examples/``)."""
    return Path(str(resources.files("securindex").joinpath("_catalogue")))


def frameworks() -> list[str]:
    """Names of the shipped frameworks (``frameworks/*.yaml`` and ``examples/*.yaml``)."""
    root = catalogue_dir()
    names = [p.stem for sub in ("frameworks", "examples") for p in (root / sub).glob("*.yaml")]
    return sorted(names)


def framework_file(name: str) -> Path:
    """The YAML file of a shipped framework, e.g. ``framework_file("iusi")``."""
    root = catalogue_dir()
    for sub in ("frameworks", "examples"):
        candidate = root / sub / f"{name}.yaml"
        if candidate.exists():
            return candidate
    close = difflib.get_close_matches(name, frameworks(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise SpecError(f"no shipped framework '{name}'{hint}; available: {frameworks()}")
