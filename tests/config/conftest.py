"""Helpers for config tests: a minimal valid cluster.yaml as text, edited line by line."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from generator.config import load_cluster
from generator.config.model import Cluster
from generator.errors import ConfigError

SCHEMATIC = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"

# Two nodes so uniqueness rules have something to compare; every line is distinct
# enough that tests can replace one by its text and know its line number.
BASE = f"""\
schema_version: 2
network:
  node_cidr: 192.168.1.0/24
kubernetes:
  api:
    addr: 192.168.1.20
gateways:
  internal: 192.168.1.21
  dns: 192.168.1.22
  external: 192.168.1.23
repository:
  url: https://github.com/example/home-ops
domain:
  name: example.com
dns:
  provider: cloudflare
  token: fake-token
talos:
  schematic_id: {SCHEMATIC}
nodes:
  - name: k8s-0
    address: 192.168.1.10
    controller: true
    disk: /dev/sda
    mac_addr: "02:00:00:00:00:10"
  - name: k8s-1
    address: 192.168.1.11
    controller: false
    disk: /dev/sda
    mac_addr: "02:00:00:00:00:11"
"""


def edit(text: str, *changes: tuple[str, str]) -> str:
    """Replace whole lines (matched by their stripped text) or append under a line.

    ("old line", "new line") replaces; ("old line", "") deletes; a new text that
    starts with "+" is inserted after the old line instead (indentation kept as given).
    """
    lines = text.splitlines()
    for old, new in changes:
        index = next((i for i, line in enumerate(lines) if line.strip() == old), None)
        if index is None:
            raise AssertionError(f"no line {old!r} in the config")
        if new.startswith("+"):
            lines[index + 1 : index + 1] = new[1:].split("\n")
        elif new == "":
            del lines[index]
        else:
            indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
            lines[index : index + 1] = [indent + part for part in new.split("\n")]
    return "\n".join(lines) + "\n"


def before_nodes(block: str) -> tuple[str, str]:
    """An `edit` change inserting a top-level YAML block (indented freely) before `nodes:`."""
    return ("nodes:", textwrap.dedent(block).strip("\n") + "\nnodes:")


def where(text: str, anchor: str) -> str:
    """'LINE:COL' of the first line whose stripped text starts with `anchor`
    ('anchor#2': the second such line); the column is that of the key."""
    anchor, _, nth = anchor.partition("#")
    skip = int(nth or 1) - 1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().lstrip("- ").startswith(anchor):
            if skip:
                skip -= 1
                continue
            stripped = line.lstrip()
            col = len(line) - len(stripped) + 1
            if stripped.startswith("- "):
                col += 2
            return f"{number}:{col}"
    raise AssertionError(f"no line starting with {anchor!r}")


def write(tmp_path: Path, text: str | bytes, name: str = "cluster.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, overlay: Mapping[str, Any] | None = None) -> list[str]:
    """The problem lines load_cluster reports (without the headline); [] when valid."""
    try:
        load_cluster(path, overlay)
    except ConfigError as err:
        return [str(p) for p in err.problems]
    return []


def load_text(tmp_path: Path, text: str) -> Cluster:
    return load_cluster(write(tmp_path, text))


@pytest.fixture
def base() -> str:
    return BASE
