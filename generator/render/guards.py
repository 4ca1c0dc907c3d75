"""Directory guards: which template folders render, one rule shared by render_tree and
the makejinja plugin (generator/makejinja_plugin.py). Reads only the template folders.

A template directory may hold a file `_when.j2` containing
one Jinja expression over the template context, e.g.

    features.monitoring.enabled

When it is false the whole directory (and everything below it) produces
nothing; a feature that is off leaves no trace. Lines starting with `#` in a
guard are comments. The guard file itself is never rendered, and neither are
`.keep` / `.gitkeep` placeholders. A typo in a guard is an error
(StrictUndefined), never a silently skipped directory.

Folder guards by name: `_folder_guards.yaml` at a template root maps a folder name to
one expression, applied to every folder of that name below the root as if each held
that `_when.j2` (both must be true when it has its own). A guard that many folders share
is written once, e.g. `network-policies: features.network_policies.enabled` for the
network policies each namespace keeps in its own `network-policies/` folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser

from generator import bounded_yaml
from generator.errors import Problem
from generator.render.environment import RenderError
from generator.render.namespaces import NAMESPACE_FILE

GUARD_NAME = "_when.j2"
FOLDER_GUARDS = "_folder_guards.yaml"
NEVER_RENDERED = frozenset({GUARD_NAME, FOLDER_GUARDS, NAMESPACE_FILE, ".keep", ".gitkeep"})
# Where a guard's compiled code is kept in the bytecode cache: no template has this name.
GUARD_KEY = "<guard> "


def guard_expression(text: str) -> str:
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line for line in lines if line and not line.startswith("#"))


def evaluate_expression(
    env: jinja2.Environment, expression: str, shown_as: Callable[[], str]
) -> bool:
    """The truth of one guard expression; RenderError naming the file `shown_as()` says (asked
    only then: resolving a path for a message nobody sees was a render's largest syscall
    cost) when it fails."""
    if not expression:
        raise RenderError(
            [
                Problem(
                    "",
                    "empty guard; write one expression, e.g. features.monitoring.enabled",
                    file=shown_as(),
                    line=1,
                )
            ]
        )
    try:
        return bool(_compiled(env, expression)())
    except jinja2.TemplateError as err:
        raise RenderError(
            [Problem("", f"guard `{expression}` failed: {err.message or err}", shown_as(), 1)]
        ) from err


def _compiled(env: jinja2.Environment, expression: str) -> TemplateExpression:
    """`env.compile_expression(expression, undefined_to_none=False)` (a misspelt bare name
    must fail, not read as false), its code kept in `env`'s bytecode cache as a template's
    is: compiling the guards was a tenth of a render that compiles nothing else. Raises
    TemplateSyntaxError as compile_expression does."""
    cache = env.bytecode_cache
    bucket = cache.get_bucket(env, GUARD_KEY + expression, None, expression) if cache else None
    code = bucket.code if bucket is not None else None
    if code is None:
        code = env.compile(_expression_template(env, expression))
        if cache is not None and bucket is not None:
            bucket.code = code
            cache.set_bucket(bucket)
    template = env.template_class.from_code(env, code, env.make_globals(None))
    return TemplateExpression(template, undefined_to_none=False)


def _expression_template(env: jinja2.Environment, expression: str) -> nodes.Template:
    """The template `Environment.compile_expression` compiles for `expression` (jinja2
    3.1, src/jinja2/environment.py): `result` set to the expression, which must be all of
    the text."""
    parser = Parser(env, expression, state="variable")
    parsed = parser.parse_expression()
    if not parser.stream.eos:
        raise jinja2.TemplateSyntaxError(
            "chunk after expression", parser.stream.current.lineno, None, None
        )
    parsed.set_environment(env)
    body: list[nodes.Node] = [nodes.Assign(nodes.Name("result", "store"), parsed, lineno=1)]
    return nodes.Template(body, lineno=1)


class DirectoryGuards:
    """Memoised guard verdicts for the directories under some template roots."""

    def __init__(
        self,
        env: jinja2.Environment,
        roots: Sequence[Path],
        show: Callable[[Path], str] = str,
    ) -> None:
        self._env = env
        self._roots = [Path(r) for r in roots]
        self._show = show
        self._verdicts: dict[Path, bool] = {}
        self._truths: dict[str, bool] = {}  # expression → its value (the context is fixed)
        self._by_name: dict[str, tuple[str, str]] = {}
        for root in self._roots:
            self._by_name.update(_folder_guards(root / FOLDER_GUARDS, self._show))

    def enabled(self, directory: Path) -> bool:
        """This directory's own guard and its name's (ancestors are the caller's business)."""
        if directory not in self._verdicts:
            guard = directory / GUARD_NAME
            verdict = not guard.is_file() or self._truth(
                guard_expression(guard.read_text(encoding="utf-8")), partial(self._show, guard)
            )
            if verdict and directory.name in self._by_name:
                expression, shown_as = self._by_name[directory.name]
                verdict = self._truth(expression, partial(str, shown_as))
            self._verdicts[directory] = verdict
        return self._verdicts[directory]

    def _truth(self, expression: str, shown_as: Callable[[], str]) -> bool:
        # A folder guard applies to every folder of its name: evaluated once.
        if expression not in self._truths:
            self._truths[expression] = evaluate_expression(self._env, expression, shown_as)
        return self._truths[expression]

    def wanted(self, path: Path) -> bool:
        """False for guard files, placeholders and anything under a false guard."""
        path = Path(path)
        if path.name in NEVER_RENDERED:
            return False
        root = next((r for r in self._roots if path.is_relative_to(r)), None)
        if root is None:
            return True
        directory = path if path.is_dir() else path.parent
        chain = [directory, *directory.parents]
        for ancestor in reversed(chain[: len(chain) - len(root.parents)]):
            if not self.enabled(ancestor):
                return False
        return True


def _folder_guards(path: Path, show: Callable[[Path], str]) -> dict[str, tuple[str, str]]:
    """{folder name: (expression, where it is written)} from a `_folder_guards.yaml`."""
    if not path.is_file():
        return {}
    data = bounded_yaml.load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in data.items()
    ):
        raise RenderError(
            [Problem("", "must map folder names to one guard expression each", show(path), 1)]
        )
    return {name: (expression.strip(), show(path)) for name, expression in data.items()}
