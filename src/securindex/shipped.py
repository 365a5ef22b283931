"""What ships inside the package, by name: frameworks, catalogues, data dictionaries,
evaluation jobs and example datasets.

The repository's ``indicators/`` folder is packaged as ``securindex/_catalogue`` and the
example datasets as ``securindex/datasets``, so that a plain ``pip install`` carries them.
Everything here is addressable by a short name, from Python and from the command line
(``securindex compute iusi uci_communities``; ``securindex examples`` lists them):

================  ====================================================  =================
kind              where it lives in the package                          names
================  ====================================================  =================
framework         ``_catalogue/frameworks/*.yaml``, ``examples/*.yaml``  ``iusi``, ``asem``
catalogue         ``_catalogue/<category>/``; ``all`` is every category  ``crime``, ``all``
dictionary        ``_catalogue/examples/*.dictionary.yaml``,             ``asem``,
                  ``datasets/<name>/dictionary.yaml``                    ``uci_communities``
evaluation        ``_catalogue/evaluations/*.yaml``                      ``berlin_drug_…``
dataset           ``datasets/<name>/`` (:data:`securindex.datasets.EXAMPLES`) ``uci_communities``
================  ====================================================  =================

An existing file or folder always wins over a shipped name, so a user's own ``iusi.yaml``
in the working folder is read rather than the shipped one.

Examples
--------
>>> from securindex.shipped import frameworks, framework_file
>>> "iusi" in frameworks() and "asem.dictionary" not in frameworks()
True
>>> framework_file("iusi").name
'iusi.yaml'
"""

from __future__ import annotations

import difflib
import logging
from importlib import resources
from pathlib import Path
from typing import Literal

from securindex.errors import SpecError

__all__ = [
    "Kind",
    "catalogue_dir",
    "catalogue_path",
    "catalogues",
    "dictionaries",
    "dictionary_file",
    "evaluation_file",
    "evaluations",
    "examples",
    "framework_file",
    "frameworks",
    "resolve",
]

logger = logging.getLogger(__name__)

Kind = Literal["framework", "catalogue", "dictionary", "evaluation"]

_DICTIONARY = ".dictionary.yaml"
_NOT_CATEGORIES = {"frameworks", "examples", "evaluations"}


def catalogue_dir() -> Path:
    """The shipped catalogue folder (category folders, ``frameworks/``, ``examples/``)."""
    return Path(str(resources.files("securindex").joinpath("_catalogue")))


def _yaml_files(*subfolders: str) -> dict[str, Path]:
    root = catalogue_dir()
    found: dict[str, Path] = {}
    for sub in subfolders:
        for path in sorted((root / sub).glob("*.yaml")):
            if not path.name.endswith(_DICTIONARY):
                found.setdefault(path.stem, path)
    return found


def _framework_files() -> dict[str, Path]:
    return _yaml_files("frameworks", "examples")


def _dictionary_files() -> dict[str, Path]:
    from securindex.datasets import EXAMPLES

    root = catalogue_dir() / "examples"
    found = {p.name[: -len(_DICTIONARY)]: p for p in sorted(root.glob(f"*{_DICTIONARY}"))}
    datasets = Path(str(resources.files("securindex").joinpath("datasets")))
    for name in EXAMPLES:
        found.setdefault(name, datasets / name / "dictionary.yaml")
    return found


def _catalogue_paths() -> dict[str, Path]:
    root = catalogue_dir()
    categories = {
        p.name: p for p in sorted(root.iterdir()) if p.is_dir() and p.name not in _NOT_CATEGORIES
    }
    return {"all": root, **categories}


def frameworks() -> list[str]:
    """Names of the shipped frameworks (``iusi``, ``european_cities``, ``asem``, ``hdi``).

    Data dictionaries (``*.dictionary.yaml``) are not frameworks: see :func:`dictionaries`.
    """
    return sorted(_framework_files())


def dictionaries() -> list[str]:
    """Names of the shipped data dictionaries (the examples' and each dataset's)."""
    return sorted(_dictionary_files())


def evaluations() -> list[str]:
    """Names of the shipped evaluation jobs (``securindex evaluate NAME``)."""
    return sorted(_yaml_files("evaluations"))


def catalogues() -> list[str]:
    """Names of the shipped catalogues: ``all`` and one per category folder."""
    return list(_catalogue_paths())


def _lookup(kind: str, table: dict[str, Path], name: str) -> Path:
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise SpecError(
        f"no shipped {kind} named '{name}'{hint} (shipped: {', '.join(table)}); "
        "'securindex examples' lists everything that ships"
    )


def framework_file(name: str) -> Path:
    """The YAML file of a shipped framework, e.g. ``framework_file("iusi")``.

    Raises
    ------
    SpecError
        No shipped framework has this name (the message lists them and the closest).
    """
    return _lookup("framework", _framework_files(), name)


def dictionary_file(name: str) -> Path:
    """The YAML file of a shipped data dictionary (``"asem"``, ``"uci_communities"`` …)."""
    return _lookup("dictionary", _dictionary_files(), name)


def evaluation_file(name: str) -> Path:
    """The YAML file of a shipped evaluation job (``"berlin_drug_enforcement"``)."""
    return _lookup("evaluation", _yaml_files("evaluations"), name)


def catalogue_path(name: str) -> Path:
    """The folder of a shipped catalogue: ``"all"`` or a category (``"crime"`` …)."""
    return _lookup("catalogue", _catalogue_paths(), name)


_FINDERS = {
    "framework": framework_file,
    "catalogue": catalogue_path,
    "dictionary": dictionary_file,
    "evaluation": evaluation_file,
}


def resolve(kind: Kind, name_or_path: str | Path) -> Path:
    """A path the user gave, or else the shipped ``kind`` of that name.

    Parameters
    ----------
    kind
        ``"framework"``, ``"catalogue"``, ``"dictionary"`` or ``"evaluation"``.
    name_or_path
        An existing file or folder (returned as it is), or a shipped name.

    Raises
    ------
    SpecError
        Neither a file nor a shipped name: the message says both were tried.

    Examples
    --------
    >>> resolve("catalogue", "crime").name
    'crime'
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    text = str(name_or_path)
    looks_like_name = "/" not in text and "\\" not in text and not path.suffix
    if looks_like_name:
        found = _FINDERS[kind](text)
        logger.info("shipped %s '%s': %s", kind, text, found)
        return found
    raise SpecError(f"{text}: no such file or folder (nor a shipped {kind} of that name)")


def examples() -> list[dict[str, str]]:
    """Everything that ships, one record per item: ``kind``, ``name``, ``title``, ``path``.

    ``title`` is the item's ``name:`` field when it has one (the first line of its
    ``SOURCE.md`` for datasets). Reads only the first lines of each file.
    """
    from securindex.datasets import EXAMPLES, example_dir

    rows: list[dict[str, str]] = []
    for name, path in _framework_files().items():
        rows.append({"kind": "framework", "name": name, "title": _title(path), "path": str(path)})
    for name, path in _catalogue_paths().items():
        n = sum(1 for _ in path.rglob("*.yaml")) if name != "all" else len(_all_indicators())
        title = "every shipped indicator" if name == "all" else f"{name} indicators"
        rows.append(
            {"kind": "catalogue", "name": name, "title": f"{title} ({n})", "path": str(path)}
        )
    for name, path in _dictionary_files().items():
        rows.append({"kind": "dictionary", "name": name, "title": _title(path), "path": str(path)})
    for name, path in _yaml_files("evaluations").items():
        rows.append({"kind": "evaluation", "name": name, "title": _title(path), "path": str(path)})
    for name in EXAMPLES:
        folder = example_dir(name)
        source = folder.joinpath("SOURCE.md").read_text("utf-8").splitlines()
        title = next((line.lstrip("# ").strip() for line in source if line.strip()), name)
        title = title.removeprefix(f"{name} — ")
        rows.append({"kind": "dataset", "name": name, "title": title, "path": str(folder)})
    return rows


def _all_indicators() -> list[Path]:
    return [
        p
        for sub, folder in _catalogue_paths().items()
        if sub != "all"
        for p in folder.rglob("*.yaml")
    ]


def _title(path: Path) -> str:
    """The top-level ``name:`` of a YAML file, read from its first lines (no parsing)."""
    with path.open(encoding="utf-8") as handle:
        for _, line in zip(range(40), handle, strict=False):
            if line.startswith("name:"):
                return line.split(":", 1)[1].strip().strip("'\"")
    return ""
