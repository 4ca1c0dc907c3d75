"""Configured workdirs made once per test process and copied for each test that asks.

`init` + `configure` of the same config is the setup of dozens of tests (the pipeline's
`workdir`, diff's `configured`): each pays a render, a sops run per secret and ~400
fsyncs. Here it is done once per process (per pytest-xdist worker) for each name, and
every test gets its own copy (`copy_tree` keeps contents, modes and mtimes, so the copy
is what a fresh run would have written, with the same age key and ciphertext). The
setup is not what these tests test: tests/pipeline/test_configure.py and
tests/test_init_dir.py run it for real.
"""

from __future__ import annotations

import os
import re
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
    copy_tree(_made[name], target)
    return target


def copy_tree(source: Path, target: Path) -> None:
    """`shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)` for the plain
    trees a workdir holds (files, directories, symlinks kept as links; no extended
    attributes): contents, permission bits and mtimes as copytree keeps them, in half its
    CPU (one read and one write a file, no copystat's xattr and flag calls), which a few
    hundred copies a run add up to."""
    target.mkdir(parents=True, exist_ok=True)
    with os.scandir(source) as entries:
        for entry in entries:
            to = os.path.join(target, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), to)
            elif entry.is_dir():
                copy_tree(Path(entry.path), Path(to))
            else:
                info = entry.stat()
                with open(entry.path, "rb") as file:
                    data = file.read()
                mode = info.st_mode & 0o7777
                fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fchmod(fd, mode)  # the bits the umask took, or an older file's mode
                finally:
                    os.close(fd)
                os.utime(to, ns=(info.st_atime_ns, info.st_mtime_ns))
    info = source.stat()
    os.chmod(target, info.st_mode & 0o7777)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


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


def corrupt_ciphertext(path: Path, key: str) -> None:
    """Make `key`'s sops value in the file at `path` undecryptable: its first base64
    character replaced by one it is not (a fixed replacement would leave the value as it
    was whenever it already was that character, one run in 64). AssertionError unless
    exactly one such value is there."""
    text, count = re.subn(
        rf"^( *{re.escape(key)}: ENC\[AES256_GCM,data:)(.)",
        lambda m: m.group(1) + ("Y" if m.group(2) == "X" else "X"),
        path.read_text(),
        flags=re.M,
    )
    assert count == 1, f"{path}: {count} values of {key}"
    path.write_text(text)
