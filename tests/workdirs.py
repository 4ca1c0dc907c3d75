"""Configured workdirs made once per test process and copied for each test that asks.

`init` + `configure` of the same config is the setup of dozens of tests (the pipeline's
`workdir`, diff's `configured`): each pays a render, a sops run per secret and ~400
fsyncs. Here it is done once per process (per pytest-xdist worker) for each name, and
every test gets its own copy (`shutil.copytree` keeps contents and mtimes, so the copy
is what a fresh run would have written, with the same age key and ciphertext). The
setup is not what these tests test: tests/pipeline/test_configure.py and
tests/test_init_dir.py run it for real.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

_made: dict[str, Path] = {}


def configured_copy(target: Path, name: str, make: Callable[[Path], None]) -> Path:
    """`target` (made if missing) holding a copy of the directory `make(directory)` builds,
    built once per process for each `name`; returns `target`."""
    if name not in _made:
        # Under the worker's own temporary directory (tests/conftest.py's _private_tmp).
        source = Path(tempfile.mkdtemp(prefix=f"workdir-{name}-"))
        make(source)
        _made[name] = source
    shutil.copytree(_made[name], target, symlinks=True, dirs_exist_ok=True)
    return target


def configured_sample(target: Path) -> Path:
    """`target` holding the sample as `clustergen init` and `configure --no-validate` leave
    it (its own age key, the sample's fake token), copied from one made once per process.
    Built without the developer's SOPS_AGE_* or CLUSTERGEN_SOPS; returns `target`."""
    return configured_copy(target, "sample", _init_and_configure)


def initialized(target: Path) -> Path:
    """`target` as `clustergen init` leaves it, copied from one made once per process;
    returns `target`."""
    return configured_copy(target, "init", _init)


def _init(root: Path, *, configured: bool = False) -> None:
    from generator.init_dir import init_workdir
    from generator.pipeline import configure
    from tests.process import KEY_VARIABLES

    with pytest.MonkeyPatch.context() as patch:
        for name in KEY_VARIABLES:
            patch.delenv(name, raising=False)
        init_workdir(root)
        if configured:
            configure(root / "cluster.yaml", validate=False)


def _init_and_configure(root: Path) -> None:
    _init(root, configured=True)
