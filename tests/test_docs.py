"""Run the examples in docs/*.md and README.md, so the documentation cannot drift.

Examples are Python doctests (``>>>`` lines) inside fenced code blocks of the Markdown
files; fence lines are blanked before parsing, so an example's expected output ends at its
closing fence. Each document runs in its own Python process (examples may register methods
in the global registries) and in a temporary working directory, with ``REPO`` bound to the
repository root.
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [
    path
    for path in sorted([*ROOT.joinpath("docs").glob("*.md"), ROOT / "README.md"])
    if ">>> " in path.read_text(encoding="utf-8")
]
_FENCE = re.compile(r"^\s*```.*$", re.MULTILINE)


def run_document(path: Path) -> int:
    """Run one document's examples in this process; return the number of failures."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    test = doctest.DocTestParser().get_doctest(text, {"REPO": ROOT}, path.name, str(path), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False).failed


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_examples_in_document(document: Path, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, __file__, str(document)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, (
        f"examples failed in {document.name}:\n{completed.stdout[-6000:]}\n{completed.stderr[-3000:]}"
    )


if __name__ == "__main__":
    sys.exit(1 if run_document(Path(sys.argv[1])) else 0)
