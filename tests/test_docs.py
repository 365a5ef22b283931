"""Run the examples in docs/*.md and README.md, so the documentation cannot drift.

Examples are Python doctests (``>>>`` lines) inside fenced code blocks of the Markdown
files; fence lines are blanked before parsing, so an example's expected output ends at its
closing fence. Each file runs in a fresh namespace, in a temporary working directory, with
``REPO`` bound to the repository root.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([*ROOT.joinpath("docs").glob("*.md"), ROOT / "README.md"])
_FENCE = re.compile(r"^\s*```.*$", re.MULTILINE)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_examples_in_document(
    document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = _FENCE.sub("", document.read_text(encoding="utf-8"))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {"REPO": ROOT}, document.name, str(document), 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) failed in {document.name}"
