"""Run the ``>>>`` examples in the docstrings of every module under ``src/securindex``.

The documentation site's API reference shows these examples, so they are tested like the
Markdown documents (``tests/test_docs.py``). A module whose optional extra is not
installed is skipped with the reason.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import securindex

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(securindex.__path__, prefix="securindex.")
)


def test_every_module_is_found() -> None:
    assert {"securindex.units", "securindex.shipped", "securindex.result"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional extra (dask, geopandas …) is not installed
        pytest.skip(f"{name}: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
