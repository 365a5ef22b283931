"""Shared fixtures: the project's real data folder, a tiny fixture catalogue and panel, and
writers of temporary catalogue folders.

Fixture files live in ``tests/fixtures``:

- ``catalogue/``: six indicators in a folder tree (one file with a list of two, one
  indicator that uses another, unit conversions m² ↔ km², fraction → percent, per
  inhabitant → per 1 000 / 100 000 inhabitants);
- ``panel.csv`` + ``panel.dictionary.yaml``: 2 cities × 2 years, renamed columns, and a
  zero population (city B, 2020).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import settings

from securindex.dataset import Panel

# No per-example deadline: CI machines are shared and a loaded one can take longer than
# hypothesis' default 200 ms for one example; that is not a failure of the property.
settings.register_profile("securindex", deadline=None)
settings.load_profile("securindex")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared real-data folder (``../shared/data``), or skip when absent."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"../shared/data not present: {path} does not exist")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``tests/fixtures`` (read-only: copy it before writing)."""
    return FIXTURES


@pytest.fixture
def fixture_catalogue(tmp_path: Path) -> Path:
    """A writable copy of ``tests/fixtures/catalogue`` in ``tmp_path``."""
    target = tmp_path / "catalogue"
    shutil.copytree(FIXTURES / "catalogue", target)
    return target


@pytest.fixture
def fixture_panel_files(tmp_path: Path) -> tuple[Path, Path]:
    """Writable copies of ``panel.csv`` and ``panel.dictionary.yaml``: (csv, dictionary)."""
    folder = tmp_path / "data"
    folder.mkdir()
    csv = Path(shutil.copy(FIXTURES / "panel.csv", folder / "panel.csv"))
    dictionary = Path(
        shutil.copy(FIXTURES / "panel.dictionary.yaml", folder / "panel.dictionary.yaml")
    )
    return csv, dictionary


@pytest.fixture
def small_frame() -> pd.DataFrame:
    """The raw fixture table (dataset column names, not variable names)."""
    return pd.read_csv(FIXTURES / "panel.csv")


@pytest.fixture
def small_panel() -> Panel:
    """The fixture table read as a panel through its data dictionary.

    Variables (unit): homicides (count), burglaries (count), population (inhabitant),
    area (m**2), green_area (km**2), unemployed (person), labour_force (person).
    """
    return Panel.read(FIXTURES / "panel.csv")


def indicator_text(
    id: str,
    formula: str,
    unit: str,
    inputs: Mapping[str, str] | None = None,
    **extra: Any,
) -> str:
    """YAML text of one indicator; ``inputs`` maps variable name → unit.

    The fields come out in a fixed order, so line numbers are predictable:
    1 id, 2 name, 3 category, 4 polarity, 5 formula, 6 unit, 7 inputs, 8… one per input.
    """
    lines = [
        f"id: {id}",
        f"name: {id.replace('_', ' ').capitalize()}",
        f"category: {extra.pop('category', 'crime')}",
        f"polarity: {extra.pop('polarity', 'negative')}",
        f"formula: {formula}",
        f"unit: {unit}",
    ]
    if inputs:
        lines.append("inputs:")
        lines += [f"  {name}: {{unit: {u}}}" for name, u in inputs.items()]
    text = "\n".join(lines) + "\n"
    if extra:
        text += yaml.safe_dump(extra, sort_keys=False)
    return text


@pytest.fixture
def make_indicator() -> Callable[..., str]:
    """:func:`indicator_text`: ``make_indicator(id, formula, unit, inputs, **extra)``."""
    return indicator_text


@pytest.fixture
def write_catalogue(tmp_path: Path) -> Callable[[Mapping[str, str]], Path]:
    """Write ``{relative path: YAML text}`` under ``tmp_path/catalogue``; return the folder.

    Texts are dedented, so they can be written as indented triple-quoted strings. Calling
    it again adds or overwrites files in the same folder.
    """
    root = tmp_path / "catalogue"

    def write(files: Mapping[str, str]) -> Path:
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return write


# -- headless Chromium (the `browser` tests) ---------------------------------------------
class Chromium:
    """Headless Chromium with a fresh profile in the test's temporary folder."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.executable, self.profile = executable, profile

    def run(
        self, page: Path, *options: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Open ``page`` with the given options."""
        return subprocess.run(
            [self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={self.profile}", *options, page.as_uri()],
            capture_output=True, text=True, timeout=timeout, env={**os.environ, "LANG": "C.UTF-8"},
        )  # fmt: skip

    def dump_dom(self, page: Path) -> subprocess.CompletedProcess[str]:
        """The DOM after the page's scripts ran (stdout), console messages on stderr."""
        return self.run(
            page,
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        )


@pytest.fixture
def chromium(tmp_path: Path) -> Chromium:
    """Headless Chromium, or skip (CI installs Debian's package and runs these tests)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return Chromium(path, tmp_path / "chromium-profile")
    pytest.skip("Chromium not installed (apt-get install chromium); CI runs this test")
