"""Find the user's overrides: `overrides/` at the repository root, mirroring `templates/config/`.

`overrides/<path>` replaces the built-in template that renders to the same output path
(`overrides/x/helmrelease.yaml.j2` or `overrides/x/helmrelease.yaml` replaces
`templates/config/x/helmrelease.yaml.j2`): a `.j2` file renders with the same environment
and context (macros import as `macros/…`), any other file is copied as it is. An override
with no built-in template beside it adds a file, owned by clustergen like any rendered file.
`overrides/patches/*.yaml` are merge patches (generator/render/overrides/patches.py), not files.

Refused, each with its own path: an override of a secret (`*.sops.*`: secrets come from
cluster.yaml) or of the sops rules (`.sops.yaml`), of a guard or namespace facts file
(`_when.j2`, `_folder_guards.yaml`, `_namespace.yaml.j2`), two overrides of one output, and
a path clustergen never renders (outside `kubernetes/`, `talos/`, …: such a file is simply
yours, kept outside overrides/), and a symlink (file or folder) that leads outside
overrides/: what renders must be what the repository holds there, never a key file or
anything else a link can reach (a `#% include %#` of it too).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from generator import paths
from generator.errors import Problem
from generator.render.environment import OverrideError
from generator.render.guards import FOLDER_GUARDS, GUARD_NAME
from generator.render.namespaces import NAMESPACE_FILE
from generator.render.overrides.patches import check_patches
from generator.secrets.files import is_secret_path

OVERRIDES_DIR = paths.OVERRIDES_DIR
PATCHES_DIR = "patches"  # overrides/patches/*.yaml
JINJA_SUFFIX = ".j2"
# Never an override: placeholders that keep an empty folder in git, and what file managers
# and editors leave beside the files they touch.
_IGNORED = frozenset({".keep", ".gitkeep", ".DS_Store", "Thumbs.db"})
_EDITOR_LEFTOVERS = ("~", ".swp", ".swo", ".orig", ".rej")
_NOT_OVERRIDABLE = frozenset({GUARD_NAME, FOLDER_GUARDS, NAMESPACE_FILE})
_PATCH_SUFFIXES = (".yaml", ".yml")
SOPS_RULES = ".sops.yaml"


@dataclass(frozen=True)
class Overrides:
    """What `overrides/` holds. `files`: output path → override file; `patches`: the merge
    patch files, sorted. Empty (and false) when there is no `overrides/` directory."""

    root: Path
    files: Mapping[str, Path] = field(default_factory=dict)
    patches: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files or self.patches)

    def shown(self, path: Path) -> str:
        """`overrides/<path>`, as the user sees it in messages and the manifest (`path`
        under `root`, as found or resolved)."""
        path = Path(path)
        if not path.is_relative_to(self.root):
            path = path.resolve()
        root = self.root if path.is_relative_to(self.root) else self.root.resolve()
        return f"{OVERRIDES_DIR}/{path.relative_to(root).as_posix()}"

    def owns(self, path: Path | str) -> bool:
        return Path(path).resolve().is_relative_to(self.root.resolve())

    def template_name(self, out: str) -> str:
        """The jinja name of the override of `out` (loaded through `loader`)."""
        return self.shown(self.files[out])

    def loader(self, fallback: jinja2.BaseLoader | None) -> jinja2.BaseLoader:
        """`fallback` (the built-in templates and macros), plus the overrides under the
        prefix `overrides/`: an override still imports `macros/…` as a built-in does."""
        prefixed = jinja2.PrefixLoader({OVERRIDES_DIR: jinja2.FileSystemLoader(str(self.root))})
        return jinja2.ChoiceLoader([prefixed, *([fallback] if fallback else [])])


def find_overrides(workdir: Path) -> Overrides:
    """The overrides under `workdir/overrides`; OverrideError naming each refused file."""
    # Imported here: render/ needs the write side's scope only when there are overrides.
    from generator.write.ownership import output_scope

    root = workdir / OVERRIDES_DIR
    if not root.is_dir():
        return Overrides(root)
    found = Overrides(root)
    files: dict[str, Path] = {}
    patches: list[Path] = []
    problems: list[Problem] = []
    scope = output_scope()
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        directory = Path(dirpath)
        # os.walk does not enter a linked folder, but the template loader would.
        linked = [d for d in dirnames if _leads_out(directory / d, real_root)]
        problems += [Problem("", _LINK_OUT, found.shown(directory / d)) for d in sorted(linked)]
        dirnames[:] = sorted(d for d in dirnames if d not in linked)
        for name in sorted(filenames):
            source = directory / name
            rel = source.relative_to(root).as_posix()
            shown = found.shown(source)
            if _leads_out(source, real_root):  # ignored names too: an include reads them
                problems.append(Problem("", _LINK_OUT, shown))
                continue
            if name in _IGNORED or name.endswith(_EDITOR_LEFTOVERS):
                continue
            if rel.startswith(f"{PATCHES_DIR}/"):
                if name.endswith(_PATCH_SUFFIXES):
                    patches.append(source)
                else:
                    problems.append(
                        Problem(
                            "",
                            f"{OVERRIDES_DIR}/{PATCHES_DIR}/ holds merge patches "
                            "(*.yaml) only; move this file elsewhere",
                            shown,
                        )
                    )
                continue
            out = rel.removesuffix(JINJA_SUFFIX)
            why = _refusal(name, out, files, found, scope.renders(out))
            if why:
                problems.append(Problem("", why, shown))
                continue
            files[out] = source
    if problems:
        raise OverrideError(problems)
    return Overrides(root, dict(sorted(files.items())), tuple(patches))


_LINK_OUT = (
    "is a symlink that leads outside overrides/; an override must be a file in "
    "overrides/ itself: copy the file there instead of linking it"
)


def _leads_out(path: Path, real_root: Path) -> bool:
    """A symlink whose target is not inside overrides/ (or does not resolve at all)."""
    if not path.is_symlink():
        return False
    try:
        return not path.resolve(strict=True).is_relative_to(real_root)
    except (OSError, RuntimeError):  # dangling or a loop
        return True


def check_overrides(workdir: Path) -> None:
    """The checks that need no render (`clustergen check`): what `find_overrides` refuses and
    each patch file's YAML and shape; OverrideError naming each file (and line)."""
    found = find_overrides(workdir)
    problems = check_patches(found.patches, found.shown)
    if problems:
        raise OverrideError(problems)


def _refusal(
    name: str, out: str, files: Mapping[str, Path], found: Overrides, renderable: bool
) -> str:
    if name in _NOT_OVERRIDABLE:
        return (
            f"{name} cannot be overridden (guards and namespace facts follow cluster.yaml); "
            "override the files in that folder instead"
        )
    if out == SOPS_RULES:
        return (
            f"{SOPS_RULES} cannot be overridden: its rules decide what sops encrypts, and "
            "every secret must stay encrypted"
        )
    if is_secret_path(out):
        return (
            "a secret cannot be overridden: secrets are rendered from cluster.yaml and "
            "cluster.secrets.sops.yaml; set the value there and remove this file"
        )
    if out in files:
        return f"renders to {out}, as {found.shown(files[out])} does; remove one"
    if not renderable:
        return (
            f"{out} is outside what clustergen renders (kubernetes/, talos/, bootstrap/, …): "
            "keep such a file as your own, outside overrides/"
        )
    return ""


def template_digest(template: Path) -> str:
    """sha256 hex of a built-in template's bytes ("" when it no longer exists)."""
    try:
        return hashlib.sha256(template.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""
