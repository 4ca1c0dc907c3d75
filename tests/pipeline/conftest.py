"""A configured workdir from the sample: real init, real render, real sops."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import pytest

from generator.init_dir import init_workdir
from generator.pipeline import configure
from tests import documents
from tests.workdirs import configured_copy

SECRET_TOKEN = "cf-token-Zq8nV3kQ1wLx"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test here runs configure end to end (render, sops, often validation): slow.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.slow)


def edit(config: Path, **changes: object) -> None:
    """Set dotted keys in cluster.yaml (comments are lost; fine for tests)."""
    data = documents.load(config.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            if node.get(key) is None:  # `spegel:` with every key commented out
                node[key] = {}
            node = node[key]
        node[leaf] = value
    config.write_text(documents.dump(data, sort_keys=False))


def tree_files(
    root: Path, *, skip: Collection[str] = (), git: bool = True
) -> list[tuple[str, str]]:
    """(path relative to `root` with `/`, absolute path) of every file under `root` (a link
    to a file counts; links to folders are not followed), but those named in `skip` and,
    unless `git`, anything in a `.git`; in `sorted(root.rglob("*"))` order. os.walk and
    strings: the loops call it hundreds of times, and pathlib's objects cost twice the CPU."""
    found = []
    start = len(str(root)) + 1
    for folder, folders, names in os.walk(root):
        if not git and ".git" in folders:
            folders.remove(".git")
        for name in names:
            path = os.path.join(folder, name)
            if name in skip or (not git and name == ".git"):
                continue
            if os.path.isfile(path):
                found.append((path[start:], path))
    found.sort(key=lambda entry: entry[0].split("/"))
    return found


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    # The lock file holds the PID of the last writer: it changes on every run. The
    # stamp of the last validated tree is a local cache, written by the first validation.
    return {
        rel: (_read(path), os.stat(path).st_mtime_ns)
        for rel, path in tree_files(root, skip=("lock", "validated"), git=False)
    }


def _configured_sample(root: Path) -> None:
    init_workdir(root)
    edit(root / "cluster.yaml", dns__token=SECRET_TOKEN)
    configure(root / "cluster.yaml", validate=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample (with SECRET_TOKEN as dns.token) initialized and configured: a copy of
    one made once per process (tests/workdirs.py)."""
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "CLUSTERGEN_SOPS"):
        monkeypatch.delenv(name, raising=False)
    return configured_copy(tmp_path, "pipeline-sample", _configured_sample)
