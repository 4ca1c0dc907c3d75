"""The makejinja edge: `Plugin` lets `makejinja` (run by hand with the repo's makejinja.toml)
render the same tree as `clustergen configure`.

It adds our filters, makes `templates/` importable for macros, applies the directory guards
(generator/render/guards.py) as path filters and, when makejinja only loaded the raw
cluster.yaml, builds the full context the way `clustergen configure` does
(generator/inputs.py). Nothing in generator/ imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from generator import paths
from generator.errors import ClusterGenError
from generator.render.environment import FILTERS, make_environment
from generator.render.guards import DirectoryGuards
from generator.render.namespaces import publish_namespaces

if TYPE_CHECKING:
    from makejinja.config import Config


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
    config_file = next((p for p in data_paths if p.name == paths.CONFIG_NAME), None)
    if config_file is None:
        raise ClusterGenError(
            f"makejinja.toml: `data` must list {paths.CONFIG_NAME}; "
            f'add data = ["./{paths.CONFIG_NAME}"] (or use `uv run clustergen configure`)'
        )
    # Imported here: config loading and sops are only needed for a raw cluster.yaml.
    from generator.inputs import load_inputs

    # The same inputs as `clustergen configure`: cluster.secrets.sops.yaml included.
    return load_inputs(config_file).context
