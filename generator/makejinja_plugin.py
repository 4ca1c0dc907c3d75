"""The makejinja edge: `Plugin` lets `makejinja` (run by hand with the repo's makejinja.toml)
render the same tree as `clustergen configure`.

It adds our filters, makes `templates/` importable for macros, applies the directory guards
(generator/render/guards.py) as path filters and, when makejinja only loaded the raw
cluster.yaml, builds the full context the way `clustergen configure` does
(generator/inputs.py). Nothing in generator/ imports this module.

Overrides: makejinja.toml lists `./overrides` before `./templates/config`; makejinja renders
the first input's file for an output path and skips the others, and its loader finds the
first input's template of a name, so an override replaces its built-in as in `configure`.
An override takes the guards of the template folder it mirrors (off: not rendered), and
`overrides/patches/` is never rendered. Merge patches are not applied by makejinja: it
has no step after rendering where a plugin could change a file (use `clustergen configure`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from generator import paths
from generator.errors import ClusterGenError
from generator.render.environment import FILTERS, make_environment
from generator.render.guards import DirectoryGuards
from generator.render.namespaces import publish_namespaces
from generator.render.overrides.files import OVERRIDES_DIR, PATCHES_DIR
from generator.render.rendered import RenderedFiles

if TYPE_CHECKING:
    from makejinja.config import Config


class Plugin:
    """makejinja's plugin protocol (see makejinja.plugin.Plugin)."""

    def __init__(self, *, env: jinja2.Environment, data: Mapping[str, Any], config: Config) -> None:
        self._data = data
        self._config = config
        inputs = _template_inputs(config)
        self._overrides = [Path(p) for p in config.inputs if Path(p).name == OVERRIDES_DIR]
        # Template names are relative to the inputs (templates/config); macros are
        # imported as 'macros/x.j2', relative to their parent (templates/).
        parents = list(dict.fromkeys(str(p.parent) for p in inputs))
        if env.loader is not None:
            env.loader = jinja2.ChoiceLoader([env.loader, jinja2.FileSystemLoader(parents)])
        self._inputs = inputs
        self._guards = DirectoryGuards(env, inputs)

    def data(self) -> Mapping[str, Any]:
        if "derived" in self._data:
            context: dict[str, Any] = dict(self._data)
            extra: dict[str, Any] = {}
        else:
            context = _context_from_files([Path(p) for p in self._config.data])
            extra = context
        # The namespaces the guards leave on, as render_tree publishes them.
        inputs = _template_inputs(self._config)
        parents = list(dict.fromkeys(p.parent for p in inputs))
        env = make_environment([*inputs, *parents], globals=context)
        guards = DirectoryGuards(env, inputs)
        namespaces: list[dict[str, Any]] = []
        # Output paths the overrides render: an app folder one adds is listed, as in configure.
        added = [
            f.relative_to(o).as_posix().removesuffix(".j2")
            for o in self._overrides
            for f in o.rglob("*")
            if f.is_file()
        ]
        for root in inputs:
            namespaces += publish_namespaces(env, root, guards.wanted, added=added)
        # Documents read the files makejinja renders beside them (no merge patches here).
        env.globals["namespaces"] = namespaces
        if self._overrides:
            first = jinja2.FileSystemLoader([str(p) for p in self._overrides])
            env.loader = jinja2.ChoiceLoader([first, *([env.loader] if env.loader else [])])
        tree = _RenderedLazily(env, [*self._overrides, *inputs], guards.wanted)
        return {**extra, "namespaces": namespaces, "rendered": RenderedFiles(tree)}

    def filters(self) -> Sequence[Callable[..., Any]]:
        return list(FILTERS)

    def functions(self) -> Sequence[Callable[..., Any]]:
        # Deliberately none: anything reading files belongs in sidefiles, not templates.
        return []

    def path_filters(self) -> Sequence[Callable[[Path], bool]]:
        return [self._guards.wanted, self._override_wanted]

    def _override_wanted(self, path: Path) -> bool:
        """An override as the template folder it mirrors is guarded; no patch file."""
        root = next((r for r in self._overrides if Path(path).is_relative_to(r)), None)
        if root is None:
            return True
        rel = Path(path).relative_to(root)
        if rel.parts[:1] == (PATCHES_DIR,):
            return False
        return all(self._guards.wanted(template_root / rel) for template_root in self._inputs)


def _template_inputs(config: Config) -> list[Path]:
    """The template directories makejinja reads: every input directory but the overrides."""
    return [Path(p) for p in config.inputs if Path(p).is_dir() and Path(p).name != OVERRIDES_DIR]


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


class _RenderedLazily(Mapping[str, bytes]):
    """Output path → what makejinja renders there, rendered when a document asks (the first
    of `roots` holding the template wins, as in makejinja); a guarded-off path is absent.
    Not iterable: documents only ask for the paths they name."""

    def __init__(
        self, env: jinja2.Environment, roots: Sequence[Path], wanted: Callable[[Path], bool]
    ) -> None:
        self._env = env
        self._roots = roots
        self._wanted = wanted

    def _source(self, path: str) -> tuple[Path, bool] | None:
        for root in self._roots:
            for candidate, is_template in ((root / f"{path}.j2", True), (root / path, False)):
                if candidate.is_file() and all(self._wanted(r / path) for r in self._roots):
                    return candidate, is_template
        return None

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._source(path) is not None

    def __getitem__(self, path: str) -> bytes:
        found = self._source(path)
        if found is None:
            raise KeyError(path)
        source, is_template = found
        if not is_template:
            return source.read_bytes()
        return self._env.get_template(f"{path}.j2").render().encode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
