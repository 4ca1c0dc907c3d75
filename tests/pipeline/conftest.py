"""A configured workdir from the sample: real init, real render, real sops."""

from __future__ import annotations

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


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        # The lock file holds the PID of the last writer: it changes on every run. The
        # stamp of the last validated tree is a local cache, written by the first validation.
        local = {"lock", "validated"}
        if path.is_file() and ".git" not in path.parts and path.name not in local:
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


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
