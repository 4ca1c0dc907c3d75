"""Compile part of a template set in a forked worker while this process renders the rest.

A first run (no compiled templates cached) spends most of its render compiling: ~180
templates, each parsed, turned into Python and compiled, on one core. Where the
process can fork, a child compiles the last part of the render order and hands back
the bytecode, as the cache stores it, through a pipe, while this process compiles and
renders the first part; the cache (generator/render/bytecode.py) takes the child's
entries when the render first asks for one of them. Compiling is pure (source in,
code out), so the output is byte for byte what one process renders.

Anything that goes wrong in the child (a template that does not compile, a signal, a
timeout) only means this process compiles what is missing itself, and reports any
error as it always does. No fork without `os.fork`, or when another thread runs
(a forked child would inherit the locks it holds), or when there is little to compile.
"""

from __future__ import annotations

import marshal
import os
import re
import signal
import threading
from collections.abc import Mapping, Sequence

import jinja2

from generator.render.bytecode import TemplateBytecodeCache, entry

# Fewer templates to compile than this (a warm cache, a few edits) are not worth a fork.
MIN_TEMPLATES = 24
# The child's share of the compile work (weighed in tags, macros included): the parent
# compiles the macros the templates import and its part while rendering that part; by
# CPU seconds measured, the two then take about as long.
CHILD_SHARE = 0.5
# `import 'macros/x.j2'` and `from "macros/x.j2" import ...`: what a template imports.
_IMPORT = re.compile(r"""['"](macros/[^'"]+)['"]""")
# A child that has not answered by then is stopped; this process compiles instead.
TIMEOUT = 60.0


def compile_elsewhere(env: jinja2.Environment, names: Sequence[str]) -> bool:
    """Start a child compiling the last part of `names` (jinja names, in render order)
    that `env`'s cache does not hold yet. True when one was started."""
    cache = env.bytecode_cache
    if (
        not isinstance(cache, TemplateBytecodeCache)
        or env.loader is None
        or not hasattr(os, "fork")
        or not _single_threaded()
    ):
        return False
    todo: list[tuple[str, str, int]] = []  # (name, cache key, weight)
    imported: set[str] = set()
    for name in names:
        found = _uncached(env, cache, name)
        if found is not None:
            key, weight, source = found
            todo.append((name, key, weight))
            imported.update(_IMPORT.findall(source))
    if len(todo) < MIN_TEMPLATES:
        return False
    # The macros the templates import compile here, when the first one is rendered.
    ours = sum(found[1] for m in imported if (found := _uncached(env, cache, m)) is not None)
    total, theirs = ours + sum(weight for _, _, weight in todo), 0
    first = len(todo)
    while first > 1 and theirs < total * CHILD_SHARE:
        first -= 1
        theirs += todo[first][2]
    child_names = [name for name, _, _ in todo[first:]]
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return False
    if pid == 0:  # the child: compile, answer, exit without running anything of the parent's
        status = 1
        try:
            os.close(read_end)
            _answer(write_end, _compiled(env, cache, child_names))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    worker = _Worker(pid, read_end)
    cache.expect([key for _, key, _ in todo[first:]], worker.receive)
    return True


def _single_threaded() -> bool:
    """No other thread, Python's or a library's (Linux lists every thread of a process)."""
    if threading.active_count() > 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc (macOS): Python's count is what is known
        return True


def _uncached(
    env: jinja2.Environment, cache: TemplateBytecodeCache, name: str
) -> tuple[str, int, str] | None:
    """(cache key, weight, source) of a template the cache has no bytecode of; None when it has,
    or the template cannot be read (the render reports that)."""
    assert env.loader is not None
    try:
        source, filename, _ = env.loader.get_source(env, name)
    except Exception:
        return None
    key = cache.get_cache_key(name, filename)
    if cache.has(key, cache.get_source_checksum(source)):
        return None
    # Compile time follows the number of tags far closer than the size of the text.
    tags = sum(source.count(start) for start in (env.block_start_string, env.variable_start_string))
    return key, 1 + tags, source


def _compiled(
    env: jinja2.Environment, cache: TemplateBytecodeCache, names: Sequence[str]
) -> dict[str, bytes]:
    assert env.loader is not None
    done: dict[str, bytes] = {}
    for name in names:
        try:
            source, filename, _ = env.loader.get_source(env, name)
            code = env.compile(source, name, filename)
        except Exception:  # the parent compiles it again and reports the error
            continue
        key = cache.get_cache_key(name, filename)
        done[key] = entry(cache.get_source_checksum(source), code)
    return done


def _answer(fd: int, done: Mapping[str, bytes]) -> None:
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(marshal.dumps(dict(done)))


class _Worker:
    """The parent's side: a thread drains the pipe (so the child never blocks on a full
    pipe), `receive` waits for it and reaps the child."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._data = b""
        self._thread = threading.Thread(target=self._drain, args=(fd,), daemon=True)
        self._thread.start()

    def _drain(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            self._data = pipe.read()

    def receive(self) -> dict[str, bytes]:
        self._thread.join(TIMEOUT)
        if self._thread.is_alive():
            _stop(self._pid)
            return {}
        _, status = os.waitpid(self._pid, 0)
        if status != 0:
            return {}
        try:
            done = marshal.loads(self._data)
        except (EOFError, ValueError, TypeError):
            return {}
        if not isinstance(done, dict):
            return {}
        return {k: v for k, v in done.items() if isinstance(k, str) and isinstance(v, bytes)}


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass
