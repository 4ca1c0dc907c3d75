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
from pathlib import Path

import jinja2
import yaml

from generator.errors import Problem
from generator.render.environment import RenderError
from generator.render.namespaces import NAMESPACE_FILE

GUARD_NAME = "_when.j2"
FOLDER_GUARDS = "_folder_guards.yaml"
NEVER_RENDERED = frozenset({GUARD_NAME, FOLDER_GUARDS, NAMESPACE_FILE, ".keep", ".gitkeep"})


def guard_expression(text: str) -> str:
    lines = (line.strip() for line in text.splitlines())
    return " ".join(line for line in lines if line and not line.startswith("#"))


def evaluate_guard(env: jinja2.Environment, guard_file: Path, shown_as: str) -> bool:
    """True when the directory holding `guard_file` should be rendered."""
    return evaluate_expression(
        env, guard_expression(guard_file.read_text(encoding="utf-8")), shown_as
    )


def evaluate_expression(env: jinja2.Environment, expression: str, shown_as: str) -> bool:
    """The truth of one guard expression; RenderError naming `shown_as` when it fails."""
    if not expression:
        raise RenderError(
            [
                Problem(
                    "",
                    "empty guard; write one expression, e.g. features.monitoring.enabled",
                    file=shown_as,
                    line=1,
                )
            ]
        )
    try:
        # undefined_to_none=False: a misspelt bare name must fail, not read as false.
        result = env.compile_expression(expression, undefined_to_none=False)()
        return bool(result)
    except jinja2.TemplateError as err:
        raise RenderError(
            [Problem("", f"guard `{expression}` failed: {err.message or err}", shown_as, 1)]
        ) from err


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
        self._by_name: dict[str, tuple[str, str]] = {}
        for root in self._roots:
            self._by_name.update(_folder_guards(root / FOLDER_GUARDS, self._show))

    def enabled(self, directory: Path) -> bool:
        """This directory's own guard and its name's (ancestors are the caller's business)."""
        if directory not in self._verdicts:
            guard = directory / GUARD_NAME
            verdict = not guard.is_file() or evaluate_guard(self._env, guard, self._show(guard))
            if verdict and directory.name in self._by_name:
                expression, shown_as = self._by_name[directory.name]
                verdict = evaluate_expression(self._env, expression, shown_as)
            self._verdicts[directory] = verdict
        return self._verdicts[directory]

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
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in data.items()
    ):
        raise RenderError(
            [Problem("", "must map folder names to one guard expression each", show(path), 1)]
        )
    return {name: (expression.strip(), show(path)) for name, expression in data.items()}
