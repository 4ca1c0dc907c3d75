"""Do libyaml's parser and PyYAML's read mutated cluster.yaml files alike?

generator/config/loader.py parses cluster.yaml with libyaml (C) except where its
`_PARSERS_DIFFER` guard matches, or libyaml fails; then PyYAML's own parser reads it,
as before. This mutates cluster.sample.yaml (inserted indicator characters, deleted
characters, duplicated lines) and, for every text the guard lets through that libyaml
reads, compares the composed nodes (type, tag, style, value, start mark: what the
loader uses) with PyYAML's. Prints the count of texts where they differ, and each.

    uv run python bench/config_parsers_agree.py [--seed N] [--texts N]
"""

from __future__ import annotations

import argparse
import difflib
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from generator.config import loader

SAMPLE = Path(__file__).resolve().parents[1] / "cluster.sample.yaml"
# Indicators, whitespace and line breaks of YAML, and a few odd characters.
PIECES = [
    *"\t\r\x85\u2028\u2029\ufeff:#-'\"[]{},?&*!%@`|>\n\\~=\x00\x1f\x7f\x08",
    ": ", " #", "- ", "? ", "&a ", "*a", "!!str ", "\n  ", "  ", "...", "---", "é", "😀",
    "\r\n", " \t", "\t ", ": |", "|-", "\n\t", "0x", "<<: ",
]  # fmt: skip


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        at, roll = rng.randrange(len(text)), rng.random()
        if roll < 0.5:
            text = text[:at] + rng.choice(PIECES) + text[at:]
        elif roll < 0.8:
            text = text[:at] + text[at + rng.randint(1, 3) :]
        else:
            lines = text.split("\n")
            lines.insert(rng.randrange(len(lines)), rng.choice(lines))
            text = "\n".join(lines)
    return text


def shape(node: Any) -> object:
    value = node.value
    if isinstance(value, list):
        value = [
            tuple(shape(n) for n in item) if isinstance(item, tuple) else shape(item)
            for item in value
        ]
    mark = node.start_mark
    return (
        type(node).__name__,
        node.tag,
        getattr(node, "style", None),
        mark.line,
        mark.column,
        value,
    )


def composed(make: Any, text: str) -> object:
    try:
        return shape(make(text).get_single_node())
    except yaml.YAMLError as err:
        return ("error", str(err))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--texts", type=int, default=5000)
    args = parser.parse_args(argv)
    rng, sample = random.Random(args.seed), SAMPLE.read_text()
    checked, differ = 0, []
    for _ in range(args.texts):
        text = mutate(sample, rng)
        try:
            loader._Loader(text)  # load_yaml's printable check comes first
        except yaml.YAMLError:
            continue
        if loader._PARSERS_DIFFER.search(text):
            continue
        fast = composed(loader._LibyamlParsed, text)
        if isinstance(fast, tuple) and fast[0] == "error":
            continue  # load_yaml falls back to PyYAML's parser
        checked += 1
        if fast != composed(loader._Loader, text):
            diff = difflib.unified_diff(sample.splitlines(), text.splitlines(), lineterm="", n=0)
            differ.append("\n".join(line for line in diff if line[:1] in "+-"))
    print(f"{args.texts} mutated texts, {checked} read by libyaml, {len(differ)} read differently")
    for text in differ:
        print(f"---\n{text}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
