"""Benchmark: reading YAML with positions, and loading a shipped framework.

Prints ``name = value`` lines. The baseline, measured in the same run, is the previous
reader: PyYAML's pure-Python composer (``yaml.compose`` with ``SafeLoader``) and a walk over
its node tree. ``securindex._yaml.read_yaml`` builds values from libyaml's C event stream.

Run: ``python benchmarks/bench_yaml.py`` (a few seconds).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import yaml

from securindex import Framework, framework_file, shipped
from securindex._yaml import read_yaml


def _composer_baseline(text: str) -> Any:
    """The previous reader: compose a node tree in Python, then walk it keeping marks."""
    constructor = yaml.constructor.SafeConstructor()
    positions: dict[tuple[Any, ...], tuple[int, int]] = {}

    def build(node: yaml.Node, path: tuple[Any, ...]) -> Any:
        positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            constructor.flatten_mapping(node)
            out = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                out[key] = build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(child, (*path, i)) for i, child in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return None if node is None else build(node, ())


def _best(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    files = sorted(shipped.catalogue_dir().rglob("*.yaml"))
    texts = [(str(f), f.read_text(encoding="utf-8")) for f in files]
    total_bytes = sum(len(t.encode()) for _, t in texts)

    def new_reader() -> None:
        for name, text in texts:
            read_yaml(name, text)

    def old_reader() -> None:
        for _, text in texts:
            _composer_baseline(text)

    new = _best(new_reader, args.repeat)
    old = _best(old_reader, args.repeat)
    print(f"yaml_files = {len(texts)}")
    print(f"yaml_kib = {total_bytes / 1024:.1f}")
    print(f"yaml_libyaml = {yaml.__with_libyaml__}")
    print(f"yaml_read_catalogue_seconds = {new:.4f}")
    print(f"yaml_composer_baseline_seconds = {old:.4f}")
    print(f"yaml_speedup_over_composer = {old / new:.1f}")

    # a large document: 20 000 indicator-like mappings (about 2 MB)
    big = "".join(
        f"- id: ind_{i}\n  unit: count / (100000 inhabitant)\n  weight: {i % 7 / 7:.3f}\n"
        f"  tags: [a, b, c]\n"
        for i in range(20_000)
    )
    new_big = _best(lambda: read_yaml("big.yaml", big), max(1, args.repeat // 2))
    old_big = _best(lambda: _composer_baseline(big), max(1, args.repeat // 2))
    print(f"yaml_big_mib = {len(big) / 2**20:.2f}")
    print(f"yaml_read_big_seconds = {new_big:.3f}")
    print(f"yaml_big_composer_baseline_seconds = {old_big:.3f}")
    print(f"yaml_big_speedup_over_composer = {old_big / new_big:.1f}")

    # the refused alias bomb: nine levels of ten aliases (10^9 leaves if expanded)
    bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10)
    )

    def refuse_bomb() -> None:
        try:
            read_yaml("bomb.yaml", bomb)
        except ValueError:
            return
        raise AssertionError("the alias bomb was not refused")

    print(f"yaml_alias_bomb_refused_seconds = {_best(refuse_bomb, args.repeat):.4f}")

    path = framework_file("iusi")
    load = _best(lambda: Framework.load(path), args.repeat)
    print(f"framework_load_iusi_seconds = {load:.4f}")


if __name__ == "__main__":
    main()
