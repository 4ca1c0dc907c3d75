"""The makejinja plugin, and the directory guards both renderers share.

Directory guards: a template directory may hold a file `_when.j2` containing
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

`Plugin` lets `makejinja` (run by hand with the repo's makejinja.toml) render
the same tree: it adds our filters, makes `templates/` importable for macros,
applies the guards as path filters and, when makejinja only loaded the raw
cluster.yaml, builds the full context the way `clustergen configure` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from generator.errors import ClusterGenError, Problem
from generator.render.environment import FILTERS, RenderError, make_environment
from generator.render.namespaces import NAMESPACE_FILE, publish_namespaces

if TYPE_CHECKING:
    from makejinja.config import Config

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


class Plugin:
    """makejinja's plugin protocol (see makejinja.plugin.Plugin)."""

    def __init__(self, *, env: jinja2.Environment, data: Mapping[str, Any], config: Config) -> None:
        self._data = data
        self._config = config
        inputs = [Path(p) for p in config.inputs if Path(p).is_dir()]
        # Template names are relative to the inputs (templates/config); macros are
        # imported as 'macros/x.j2', relative to their parent (templates/).
        parents = list(dict.fromkeys(str(p.parent) for p in inputs))
        if env.loader is not None:
            env.loader = jinja2.ChoiceLoader([env.loader, jinja2.FileSystemLoader(parents)])
        self._guards = DirectoryGuards(env, inputs)

    def data(self) -> Mapping[str, Any]:
        if "derived" in self._data:
            context: dict[str, Any] = dict(self._data)
            extra: dict[str, Any] = {}
        else:
            context = _context_from_files([Path(p) for p in self._config.data])
            extra = context
        # The namespaces the guards leave on, as render_tree publishes them.
        inputs = [Path(p) for p in self._config.inputs if Path(p).is_dir()]
        parents = list(dict.fromkeys(p.parent for p in inputs))
        env = make_environment([*inputs, *parents], globals=context)
        guards = DirectoryGuards(env, inputs)
        namespaces: list[dict[str, Any]] = []
        for root in inputs:
            namespaces += publish_namespaces(env, root, guards.wanted)
        return {**extra, "namespaces": namespaces}

    def filters(self) -> Sequence[Callable[..., Any]]:
        return list(FILTERS)

    def functions(self) -> Sequence[Callable[..., Any]]:
        # Deliberately none: anything reading files belongs in sidefiles, not templates.
        return []

    def path_filters(self) -> Sequence[Callable[[Path], bool]]:
        return [self._guards.wanted]


def _context_from_files(data_paths: Sequence[Path]) -> dict[str, Any]:
    """Validate cluster.yaml and build the context as `clustergen configure` does."""
    from generator import paths

    config_file = next((p for p in data_paths if p.name == paths.CONFIG_NAME), None)
    if config_file is None:
        raise ClusterGenError(
            f"makejinja.toml: `data` must list {paths.CONFIG_NAME}; "
            f'add data = ["./{paths.CONFIG_NAME}"] (or use `clustergen configure`)'
        )
    from generator.pipeline import load_inputs

    # The same inputs as `clustergen configure`: cluster.secrets.sops.yaml included.
    return load_inputs(config_file).context
