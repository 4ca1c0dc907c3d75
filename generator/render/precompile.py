"""Compile part of a template set in a forked worker while this process renders the rest.

A first run (no compiled templates cached) spends most of its render compiling: ~180
templates, each parsed, turned into Python and compiled, on one core. Where the
process can fork, a child compiles the last part of the render order and sends the
bytecode back through a pipe, as the cache stores it, one template at a time as each
is compiled, while this process compiles and renders the first part; when the render
reaches a template of the child's, the cache (generator/render/bytecode.py) waits for
that one. Compiling is pure (source in, code out), so the output is byte for byte what
one process renders.

Anything that goes wrong in the child (a template that does not compile, a signal, a
timeout) only means this process compiles what did not arrive itself, and reports any
error as it always does. No fork without `os.fork`, or when another thread runs
(a forked child would inherit the locks it holds), or when there is little to compile.
"""

from __future__ import annotations

import functools
import marshal
import os
import re
import signal
import struct
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import jinja2

from generator.forked import can_fork, detach, fork
from generator.render.bytecode import TemplateBytecodeCache, entry

# Fewer templates to compile than this (a warm cache, a few edits) are not worth a fork.
MIN_TEMPLATES = 24
# The child's share of the compile work (weighed in tags, macros counted as the
# parent's): the parent also renders every template; by CPU seconds measured, the two
# then take about as long.
CHILD_SHARE = 0.45
# `import 'macros/x.j2'` and `from "macros/x.j2" import ...`: what a template imports.
_IMPORT = re.compile(r"""['"](macros/[^'"]+)['"]""")
# Tags that open a block a render may skip or never call; each closes with `end<word>`.
_OPENS = frozenset({"if", "for", "macro", "call", "filter", "block", "with"})
# A child that has not answered by then is stopped; this process compiles instead.
TIMEOUT = 60.0
_LENGTH = struct.Struct(">I")


def compile_elsewhere(env: jinja2.Environment, names: Sequence[str]) -> bool:
    """Start a child compiling the last part of `names` (jinja names, in render order)
    that `env`'s cache does not hold yet, and the macros only that part imports; `env`'s
    cache then waits for each of them when it is loaded. True when one was started."""
    cache = env.bytecode_cache
    if not isinstance(cache, TemplateBytecodeCache) or env.loader is None or not can_fork():
        return False
    found = {name: t for name in names if (t := _template(env, cache, name)) is not None}
    todo = [(name, t) for name, t in found.items() if not t.cached]
    if len(todo) < MIN_TEMPLATES:
        return False
    macros = _imported(env, cache, found.values())
    # The macros the templates import: weighed as the parent's (it renders the first
    # template to import each), until the split says which only the child's import.
    ours = sum(m.weight for m in macros.values() if not m.cached)
    total, theirs = ours + sum(t.weight for _, t in todo), 0
    first = len(todo)
    while first > 1 and theirs < total * CHILD_SHARE:
        first -= 1
        theirs += todo[first][1].weight
    parents = _closure(macros, [m for _, t in todo[:first] for m in t.imports])
    only_theirs = _closure(macros, [m for _, t in todo[first:] for m in t.imports]) - parents
    # Those macros first: the parent's render of the child's templates needs them.
    theirs_todo = [(m, macros[m].key) for m in sorted(only_theirs) if not macros[m].cached]
    theirs_todo += [(name, t.key) for name, t in todo[first:]]
    read_end, write_end = os.pipe()

    def child() -> None:  # compile, answer, exit without running anything of the parent's
        (answers,) = detach(write_end)
        _compile_and_send(env, cache, theirs_todo, answers)

    try:
        pid = fork(child)
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return False
    os.close(write_end)
    cache.expect([key for _, key in theirs_todo], _Worker(pid, read_end))
    return True


class _Template(NamedTuple):
    key: str  # the cache's key
    weight: int  # compile work: tags (0 when cached)
    imports: frozenset[str]  # the macro files it imports (not looked for when cached)
    cached: bool  # the cache holds its bytecode


def _template(env: jinja2.Environment, cache: TemplateBytecodeCache, name: str) -> _Template | None:
    """What compiling `name` takes; None when it cannot be read (the render reports that)."""
    found = _source(env, cache, name)
    if found is None:
        return None
    source, key, cached = found
    if cached:  # most runs find (nearly) everything compiled: weigh only what is not
        return _Template(key, 0, frozenset(), cached)
    # Compile time follows the number of tags far closer than the size of the text.
    tags = sum(source.count(start) for start in (env.block_start_string, env.variable_start_string))
    return _Template(key, 1 + tags, _imports(env, source), cached)


def _imports(env: jinja2.Environment, source: str) -> frozenset[str]:
    """The macro files `source` imports outside any block: those every render of it loads.
    One imported inside a block (a feature's macros, inside that feature's `if`) may never
    be, so it is left to the render, which compiles it if it gets there. A miscount here
    (a tag written inside a comment) costs only time: the render compiles what it needs."""
    depth, found = 0, set()
    for match in _tags(env.block_start_string, env.block_end_string).finditer(source):
        word, rest = match.groups()
        if word in _OPENS or (word == "set" and "=" not in rest):  # `set x` ... `endset`
            depth += 1
        elif word.removeprefix("end") in _OPENS or word == "endset":
            depth = max(0, depth - 1)
        elif depth == 0 and word in ("import", "from", "include"):
            found.update(_IMPORT.findall(rest))
    return frozenset(found)


@functools.cache
def _tags(start: str, end: str) -> re.Pattern[str]:
    """A block tag between these delimiters: its first word and the rest."""
    return re.compile(rf"{re.escape(start)}[-+]?\s*(\w+)(.*?)[-+]?{re.escape(end)}", re.S)


def _source(
    env: jinja2.Environment, cache: TemplateBytecodeCache, name: str
) -> tuple[str, str, bool] | None:
    """`name`'s source, its cache key and whether the cache holds its bytecode; None when
    it cannot be read."""
    assert env.loader is not None
    try:
        source, filename, _ = env.loader.get_source(env, name)
    except Exception:
        return None
    key = cache.get_cache_key(name, filename)
    return source, key, cache.has(key, cache.get_source_checksum(source))


def _imported(
    env: jinja2.Environment, cache: TemplateBytecodeCache, templates: Iterable[_Template]
) -> dict[str, _Template]:
    """Every macro file `templates` import, directly or through another macro file."""
    found: dict[str, _Template] = {}
    pending = [m for t in templates for m in t.imports]
    while pending:
        name = pending.pop()
        if name not in found and (macro := _template(env, cache, name)) is not None:
            found[name] = macro
            pending.extend(macro.imports)
    return found


def _closure(macros: Mapping[str, _Template], names: Iterable[str]) -> set[str]:
    """`names` and what they import, among `macros`."""
    reached: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in macros and name not in reached:
            reached.add(name)
            pending.extend(macros[name].imports)
    return reached


def _compile_and_send(
    env: jinja2.Environment,
    cache: TemplateBytecodeCache,
    todo: Sequence[tuple[str, str]],
    fd: int,
) -> None:
    """Compile each (name, cache key) in order and send it at once, as one frame: its
    length, then the marshalled (key, entry); an empty entry for a template that does not
    compile (the parent compiles it again and reports the error)."""
    assert env.loader is not None
    with os.fdopen(fd, "wb", buffering=0) as pipe:
        for name, key in todo:
            try:
                source, filename, _ = env.loader.get_source(env, name)
                code = entry(cache.get_source_checksum(source), env.compile(source, name, filename))
            except Exception:
                code = b""
            frame = marshal.dumps((key, code))
            pipe.write(_LENGTH.pack(len(frame)) + frame)


class _Worker:
    """The parent's side (a `bytecode.Prefetch`): a thread reads the frames as they come
    (so the child never blocks on a full pipe); `wait_for` waits for one of them."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._arrived: dict[str, bytes] = {}
        self._done = False  # nothing more will arrive
        self._complete = False  # the child sent everything and closed the pipe
        self._changed = threading.Condition()
        self._deadline = time.monotonic() + TIMEOUT
        self._thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        try:
            with os.fdopen(fd, "rb") as pipe:
                while len(head := pipe.read(_LENGTH.size)) == _LENGTH.size:
                    found = _frame(pipe.read(_LENGTH.unpack(head)[0]))
                    if found is None:
                        break  # torn (the child died mid-frame): the rest is compiled here
                    with self._changed:
                        self._arrived[found[0]] = found[1]
                        self._changed.notify_all()
                else:
                    self._complete = not head
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def wait_for(self, key: str) -> bytes | None:
        with self._changed:
            while key not in self._arrived and not self._done:
                if not self._changed.wait(self._deadline - time.monotonic()):
                    break
            code = self._arrived.get(key)
        if code is None and not self._done:
            self._stop()  # too slow: whatever is missing is compiled here
        return code or None

    def drain(self) -> dict[str, bytes]:
        self._thread.join(max(0.0, self._deadline - time.monotonic()))
        self._stop()
        with self._changed:
            return {key: code for key, code in self._arrived.items() if code}

    def _stop(self) -> None:
        """Reap the child, killing it first unless it has answered in full."""
        if self._pid == 0:
            return
        pid, self._pid = self._pid, 0
        try:
            if not self._complete:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass


def _frame(data: bytes) -> tuple[str, bytes] | None:
    try:
        found = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    if (
        isinstance(found, tuple)
        and len(found) == 2
        and isinstance(found[0], str)
        and isinstance(found[1], bytes)
    ):
        return found[0], found[1]
    return None
