"""Render the whole template tree in memory: {relative output path: bytes}.

Nothing here writes: a failing template leaves no partial output because
there is no output until the writer runs. Every failure is collected, so one
run reports all broken templates with file and line.
"""

from __future__ import annotations

import os
import stat
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import yaml

from generator import paths
from generator.errors import Problem, not_utf8
from generator.render.bytecode import TemplateBytecodeCache
from generator.render.environment import OverrideError, RenderError, make_environment
from generator.render.guards import NEVER_RENDERED, DirectoryGuards
from generator.render.namespaces import publish_namespaces
from generator.render.overrides.files import Overrides
from generator.render.overrides.leaks import redact, secret_leaks
from generator.render.overrides.patches import apply_patches
from generator.render.precompile import compile_elsewhere
from generator.render.rendered import RenderedFiles, is_document
from generator.write.manifest import Shadowed, sha256_hex

JINJA_SUFFIX = ".j2"
# Errors a template (or a filter it calls) can raise; anything else is a bug of ours.
_TEMPLATE_FAILURES = (
    jinja2.TemplateError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    yaml.YAMLError,  # from_yaml_all over what another template rendered
    RecursionError,  # an include or macro that calls itself (an override can)
)
# Told each output path and its bytes as soon as that file's own render is done, in render
# order (not the documents, which render last from the final files); merge patches may
# still change the bytes (RenderedTree holds the final ones). How configure starts
# encrypting secrets while the rest renders: a callback, so rendering knows nothing of sops.
FileRendered = Callable[[str, bytes], None]


@dataclass
class RenderedTree:
    """Output of a render: `files` maps posix paths (sorted) to content.

    `modes` maps every path to 0o755 when its template is executable, else
    0o644, so scripts stay executable once written. `origins` maps each path an override
    or a merge patch produced to it (`overrides/x.yaml.j2`, `overrides/patches/p.yaml:3`);
    `shadowed` each override that replaced a built-in template to that template.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    shadowed: dict[str, Shadowed] = field(default_factory=dict)


def render_tree(
    context: Mapping[str, Any],
    template_root: Path = paths.TEMPLATE_TREE,
    macro_root: Path = paths.TEMPLATES,
    overrides: Overrides | None = None,
    *,
    on_rendered: FileRendered | None = None,
) -> RenderedTree:
    """Render every template under `template_root`, each replaced by its override if
    `overrides` has one (generator/render/overrides/), then apply its merge patches, then
    render the documents (`*.md`) from those final files (generator/render/rendered.py);
    raise RenderError listing all failures (an override's with its own path).

    `on_rendered` (FileRendered) is called with each file as its own render is done; what
    it raises stops the render."""
    env = make_environment([template_root, macro_root], globals=context)
    try:
        return _render(env, template_root, macro_root, overrides or Overrides(Path()), on_rendered)
    finally:
        # What compiled is kept for the next run, even when a template failed.
        if isinstance(env.bytecode_cache, TemplateBytecodeCache):
            env.bytecode_cache.save()


def _render(
    env: jinja2.Environment,
    template_root: Path,
    macro_root: Path,
    overrides: Overrides,
    on_rendered: FileRendered | None,
) -> RenderedTree:
    if overrides:
        env.loader = overrides.loader(env.loader)
    shown = _Shown(macro_root, overrides)
    guards = DirectoryGuards(env, [template_root], shown)
    # Guards first: every template sees which namespaces exist and what each holds.
    env.globals["namespaces"] = publish_namespaces(
        env, template_root, guards.wanted, shown, added=overrides.files
    )
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    env.globals["rendered"] = rendered = RenderedFiles(files, is_open=False)
    sources: dict[str, str] = {}
    problems: list[Problem] = []
    shadowed: dict[str, Shadowed] = {}
    # What renders, in order, and the problems found on the way, where they were found.
    steps: list[_Job | Problem] = []
    # Documents render last, from the final files (generator/render/rendered.py).
    documents: list[_Job] = []

    for dirpath, dirnames, filenames in os.walk(template_root):
        directory = Path(dirpath)
        try:
            if not guards.enabled(directory):
                dirnames.clear()
                continue
        except RenderError as err:
            steps.extend(p for p in err.problems if isinstance(p, Problem))
            dirnames.clear()
            continue
        dirnames.sort()
        for name in sorted(filenames):
            if name in NEVER_RENDERED:
                continue
            source = directory / name
            name_in_tree = source.relative_to(template_root).as_posix()
            out = name_in_tree.removesuffix(JINJA_SUFFIX)
            if out in sources:
                steps.append(
                    Problem(
                        "", f"renders to {out}, as {sources[out]} does; remove one", shown(source)
                    )
                )
                continue
            sources[out] = name_in_tree
            if out in overrides.files:
                by = overrides.files[out]
                built_in = Shadowed(shown(source), sha256_hex(source.read_bytes()))
                shadowed[overrides.shown(by)] = built_in
                source, name_in_tree = by, overrides.template_name(out)
            (documents if is_document(out) else steps).append(_Job(source, name_in_tree, out))

    for out, by in overrides.files.items():
        # An override no built-in renders adds a file, unless a guard is off on its way.
        if out not in sources and guards.wanted(template_root / out):
            job = _Job(by, overrides.template_name(out), out)
            (documents if is_document(out) else steps).append(job)

    jobs = [step for step in steps if isinstance(step, _Job)]
    compile_elsewhere(env, [j.name for j in (*jobs, *documents) if j.is_template])
    for step in steps:
        if isinstance(step, Problem):
            problems.append(step)
        else:
            _render_file(env, *step, files, modes, problems, shown)
            if on_rendered is not None and step.out in files:
                on_rendered(step.out, files[step.out])
    origins = {out: overrides.shown(by) for out, by in overrides.files.items() if out in files}
    if overrides.patches and not problems:
        patched, refused = apply_patches(files, overrides.patches, overrides.shown)
        origins.update(patched)
        if refused:
            raise OverrideError(redact(refused, files))
    if not problems:
        rendered.open(out for _, _, out in documents)
        for source, name_in_tree, out in documents:
            _render_file(env, source, name_in_tree, out, files, modes, problems, shown)
            if out in files and out in overrides.files:
                origins[out] = overrides.shown(overrides.files[out])
    if origins and not problems and (leaks := secret_leaks(files, origins)):
        raise OverrideError(leaks)
    if problems:
        raise RenderError(redact(problems, files))
    ordered = sorted(files)
    return RenderedTree(
        {p: files[p] for p in ordered}, {p: modes[p] for p in ordered}, origins, shadowed
    )


class _Job(NamedTuple):
    """One file to render (a `.j2` template) or copy: its source, jinja name and output path."""

    source: Path
    name: str
    out: str

    @property
    def is_template(self) -> bool:
        return self.source.name.endswith(JINJA_SUFFIX)


def _render_file(
    env: jinja2.Environment,
    source: Path,
    name: str,
    out: str,
    files: dict[str, bytes],
    modes: dict[str, int],
    problems: list[Problem],
    shown: _Shown,
) -> None:
    """Render (`.j2`) or copy `source` into files[out]; a blank render produces no file."""
    if source.name.endswith(JINJA_SUFFIX):
        try:
            text = env.get_template(name).render()
        except UnicodeDecodeError as err:  # the loader's, with the bytes it could not read
            problems.append(not_utf8(shown(source), bytes(err.object), err))
            return
        except _TEMPLATE_FAILURES as err:
            problems.append(_problem(err, source, shown))
            return
        if not text.strip():
            return
        content = text.encode("utf-8")
    else:
        content = source.read_bytes()
    files[out] = content
    executable = source.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    modes[out] = 0o755 if executable else 0o644


class _Shown:
    """Template paths as the user sees them: `templates/config/x.yaml.j2`."""

    def __init__(self, macro_root: Path, overrides: Overrides) -> None:
        self._base = macro_root.resolve().parent
        self._overrides = overrides

    def __call__(self, path: Path | str) -> str:
        resolved = Path(path).resolve()
        if self._overrides and self._overrides.owns(resolved):
            return self._overrides.shown(resolved)
        if resolved.is_relative_to(self._base):
            return resolved.relative_to(self._base).as_posix()
        return str(path)


def _problem(err: Exception, source: Path, shown: _Shown) -> Problem:
    rendering = shown(source)
    if isinstance(err, jinja2.TemplateSyntaxError):
        where = shown(err.filename) if err.filename else rendering
        return Problem(
            "", _with_origin(f"syntax error: {err.message}", where, rendering), where, err.lineno
        )
    if isinstance(err, jinja2.TemplateNotFound):
        detail = f"imports {err.name}, which does not exist"
    elif isinstance(err, RecursionError):
        detail = "includes or calls itself without end; give the include or macro a way to stop"
    elif isinstance(err, jinja2.UndefinedError):
        detail = f"{err.message} (a typo, or a key the context does not have)"
    else:
        detail = f"{type(err).__name__}: {err}"
    where, line = _template_frame(err, rendering, shown)
    return Problem("", _with_origin(detail, where, rendering), where, line)


def _template_frame(err: Exception, fallback: str, shown: _Shown) -> tuple[str, int | None]:
    """The innermost traceback frame inside a template (jinja rewrites them to template lines)."""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if frame.filename.endswith(JINJA_SUFFIX) or frame.name in {
            "top-level template code",
            "template",
        }:
            return shown(frame.filename), frame.lineno
    return fallback, None


def _with_origin(detail: str, where: str, rendering: str) -> str:
    return detail if where == rendering else f"{detail} (while rendering {rendering})"
