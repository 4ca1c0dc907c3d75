"""Which files validation reads, and the stamp of the last tree `configure` validated.

Light on purpose (no schema store, no kubectl): `configure` decides here whether the
tree as it will be written (ours and the user's files in scope) differs from the one
it last validated, before it pays for importing the validators.

The stamp (`.clustergen/validated`, never committed) is the sha256 of every file in
scope, its path and the CRD schema locations in effect. It is written only after a
run whose validation passed, and cleared by a write that skipped validation.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from generator import __version__
from generator.paths import SECRETS_CONFIG_NAME
from generator.secrets.files import SKIP_DIRS, in_secret_scope, is_secret_path

# Top-level directories whose every file kustomize may read.
TREE_DIRS = ("kubernetes", "bootstrap")
# Rendered YAML for other tools (GitHub Actions, talhelper): parsed and shape-checked.
# Only what clustergen renders under talos/: talhelper's clusterconfig/ holds plaintext
# machine configs, which must not be read (nor copied for kubectl).
_TOOL_DIRS = (".github/", "talos/patches/")
_TOOL_FILES = ("talos/talconfig.yaml", "talos/talenv.yaml")
SCHEMA_LOCATION_ENV = "CLUSTERGEN_SCHEMA_LOCATION"
STAMP_PATH = ".clustergen/validated"


def read_tree(root: Path) -> dict[str, bytes]:
    """The files validation looks at: everything under kubernetes/, bootstrap/, talos/ and
    .github/, root-level dot-YAML files (.sops.yaml, ...) and the secret files in scope;
    tooling directories skipped."""
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = [
            d
            for d in dirnames
            if d not in SKIP_DIRS and _walked(d if rel_dir == "." else f"{rel_dir}/{d}")
        ]
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if in_validation_scope(rel):
                files[rel] = (Path(dirpath) / name).read_bytes()
    return files


def _walked(directory: str) -> bool:
    return in_secret_scope(directory) or f"{directory}/".startswith(_TOOL_DIRS)


def in_validation_scope(path: str) -> bool:
    """Whether `read_tree` would pick this relative path (given its directory is walked)."""
    top, _, rest = path.partition("/")
    if top in TREE_DIRS or path.startswith(_TOOL_DIRS) or path in _TOOL_FILES:
        return True
    root_dot_yaml = not rest and top.startswith(".") and top.endswith((".yaml", ".yml"))
    return root_dot_yaml or (in_secret_scope(path) and is_secret_path(path))


def locations_from_env() -> list[str]:
    """CRD schema locations from $CLUSTERGEN_SCHEMA_LOCATION (os.pathsep-separated)."""
    raw = os.environ.get(SCHEMA_LOCATION_ENV, "")
    return [part for part in raw.split(os.pathsep) if part]


def planned_tree(
    root: Path, written: Mapping[str, bytes], removed: Iterable[str]
) -> dict[str, bytes]:
    """The files in scope as they will be once `written` is written and `removed` removed:
    the user's files under root plus ours."""
    tree = read_tree(root)
    for path in removed:
        tree.pop(path, None)
    tree.update({path: data for path, data in written.items() if in_validation_scope(path)})
    return tree


def tree_stamp(tree: Mapping[str, bytes], schema_locations: Sequence[str]) -> str:
    """sha256 (hex) of every path and content in `tree`, the schema locations and the
    clustergen version (a newer validator may find what an older one passed)."""
    digest = hashlib.sha256(f"{__version__}\0{os.pathsep.join(schema_locations)}\0".encode())
    for path in sorted(tree):
        digest.update(f"{path}\0{len(tree[path])}\0".encode())
        digest.update(tree[path])
    return digest.hexdigest()


def last_validated(root: Path) -> str | None:
    """The stamp of the tree the last passing validation saw; None if none is recorded."""
    try:
        return (root / STAMP_PATH).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def stamp_inputs(config_path: Path) -> list[Path]:
    """The files whose change `may_validate` takes for a run that validates: cluster.yaml
    and its secrets overlay."""
    return [config_path, config_path.parent / SECRETS_CONFIG_NAME]


def may_validate(root: Path, inputs: Iterable[Path]) -> bool:
    """A guess, made before anything is loaded, whether a configure of `root` validates:
    no tree validated there yet, or one of `inputs` (cluster.yaml, its secrets overlay)
    changed since. It only decides whether the validation worker is worth forking
    (generator/validation_worker.py): a wrong guess costs time, never a finding."""
    try:
        validated = (root / STAMP_PATH).stat().st_mtime_ns
    except OSError:
        return True
    for path in inputs:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime_ns >= validated:
                return True
    return False


def record_validated(root: Path, stamp: str | None) -> None:
    """Record `stamp` as validated, or clear the record (None). Best effort: a record that
    cannot be written only means the next run validates again."""
    path = root / STAMP_PATH
    if stamp is not None and stamp == last_validated(root) and not path.is_symlink():
        with contextlib.suppress(OSError):
            os.utime(path)  # as new as the run: `may_validate` compares the inputs with it
        return
    try:
        path.unlink(missing_ok=True)  # never write through a link planted there
        if stamp is not None and path.parent.is_dir() and not path.parent.is_symlink():
            path.write_text(f"{stamp}\n", encoding="ascii")
    except OSError:
        pass
