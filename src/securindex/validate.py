"""Check YAML files of every kind securindex reads, and collect all problems at once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from securindex._yaml import iter_yaml_files, read_yaml
from securindex.catalogue import Catalogue, document_kind
from securindex.errors import Issue, SpecError
from securindex.spec._validate import validate_located
from securindex.spec.dictionary import DataDictionary

__all__ = ["explain_paths", "validate_paths"]


def validate_paths(paths: Sequence[str | Path]) -> tuple[list[Issue], dict[str, int]]:
    """Validate indicator, framework and data-dictionary files under ``paths``.

    Indicators found anywhere under ``paths`` are checked together as one catalogue (ids
    unique, names declared, no cycles, units consistent). Returns the issues and the number
    of documents checked, by kind.
    """
    issues: list[Issue] = []
    counts: dict[str, int] = {}
    indicator_files: list[Path] = []
    framework_files: list[Path] = []
    try:
        files = list(iter_yaml_files(paths))
    except SpecError as exc:
        return list(exc.issues), counts
    for file in files:
        try:
            located = read_yaml(file)
        except SpecError as exc:
            issues.extend(exc.issues)
            continue
        kind = document_kind(located.value)
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "indicators":
            indicator_files.append(file)
        elif kind == "framework":
            framework_files.append(file)
        elif kind in ("dictionary", "evaluation"):
            model = DataDictionary if kind == "dictionary" else _evaluation_job()
            try:
                validate_located(model, located)
            except SpecError as exc:
                issues.extend(exc.issues)
        else:
            issues.append(
                located.issue(
                    (),
                    "not an indicator, framework, evaluation or data dictionary (an indicator "
                    "needs 'id' and 'formula', a framework 'structure', an evaluation "
                    "'evaluation', a dictionary 'variables')",
                )
            )
    if indicator_files:
        try:
            Catalogue.load(*indicator_files)
        except SpecError as exc:
            issues.extend(exc.issues)
    for file in framework_files:
        issues.extend(_framework_issues(file))
    return issues, counts


def _evaluation_job() -> type[BaseModel]:
    from securindex.evaluation.job import EvaluationJob

    return EvaluationJob


def _framework_issues(file: Path) -> list[Issue]:
    from securindex.framework import Framework

    try:
        framework = Framework.load(file)
        if framework.spec.uncertainty is not None:
            from securindex.analysis.uncertainty import load_uncertainty_spec

            load_uncertainty_spec(file)
    except SpecError as exc:
        return list(exc.issues)
    return []


def explain_paths(paths: Sequence[str | Path]) -> list[str]:
    """The effective pipeline (:func:`securindex.explain.explain_text`) of every framework
    file under ``paths`` that loads."""
    from securindex.explain import explain_text
    from securindex.framework import Framework

    texts = []
    for file in iter_yaml_files(paths):
        if document_kind(read_yaml(file).value) == "framework":
            texts.append(f"{file}\n{explain_text(Framework.load(file))}")
    return texts
