"""Rendered trees as Kubernetes objects, keyed by (kind, namespace, name), to compare two
renders where files may have moved but objects must not change (issue 16's acceptance).

    CLUSTERGEN_GOLDEN_DUMP=/tmp/before uv run pytest tests/golden   # before the change
    CLUSTERGEN_GOLDEN_DUMP=/tmp/after uv run pytest tests/golden    # after it
    uv run python -m tests.golden.objects /tmp/before /tmp/after

Every YAML document with a `kind` is an object; its namespace is `metadata.namespace`, else
the `namespace:` of the nearest kustomization.yaml above it (what kustomize sets), else "".
A kustomization.yaml (it names no object) and every file that is not YAML are compared by
path; a kustomization.yaml whose `resources` and `components` differ only in order is
reported as such (kustomize's output does not depend on it once Flux orders by dependsOn).
"""

from __future__ import annotations

import posixpath
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

Key = tuple[str, str, str]


def _kustomize_namespace(tree: Mapping[str, bytes], path: str) -> str:
    directory = posixpath.dirname(path)
    while True:
        text = tree.get(posixpath.join(directory, "kustomization.yaml"))
        if text is not None:
            data = yaml.safe_load(text)
            if isinstance(data, dict) and data.get("namespace"):
                return str(data["namespace"])
        if not directory:
            return ""
        directory = posixpath.dirname(directory)


def objects(tree: Mapping[str, bytes]) -> tuple[dict[Key, Any], dict[str, bytes]]:
    """(objects by (kind, namespace, name), files that hold no object by path)."""
    found: dict[Key, Any] = {}
    other: dict[str, bytes] = {}
    for path, content in sorted(tree.items()):
        is_yaml = path.endswith((".yaml", ".yml")) and ".sops." not in path
        if not is_yaml or posixpath.basename(path) == "kustomization.yaml":
            other[path] = content
            continue
        try:
            docs = [d for d in yaml.safe_load_all(content) if d is not None]
        except yaml.YAMLError:
            other[path] = content
            continue
        kinds = [d for d in docs if isinstance(d, dict) and "kind" in d]
        if len(kinds) != len(docs) or not docs:
            other[path] = content
            continue
        for doc in kinds:
            meta = doc.get("metadata") or {}
            namespace = meta.get("namespace") or _kustomize_namespace(tree, path)
            key = (str(doc["kind"]), str(namespace), str(meta.get("name", "")))
            assert key not in found, f"{key} twice ({path})"
            found[key] = doc
    return found, other


def compare(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> list[str]:
    """Differences in objects (added, removed, changed) and in object-less files."""
    old, old_other = objects(before)
    new, new_other = objects(after)
    problems = [f"removed {k}" for k in sorted(old.keys() - new.keys())]
    problems += [f"added {k}" for k in sorted(new.keys() - old.keys())]
    problems += [f"changed {k}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
    problems += [f"file only before: {p}" for p in sorted(old_other.keys() - new_other.keys())]
    problems += [f"file only after: {p}" for p in sorted(new_other.keys() - old_other.keys())]
    for path in sorted(old_other.keys() & new_other.keys()):
        if old_other[path] == new_other[path]:
            continue
        reordered = path.endswith("kustomization.yaml") and _unordered(
            old_other[path]
        ) == _unordered(new_other[path])
        problems.append(f"file {'reordered' if reordered else 'changed'}: {path}")
    return problems


def _unordered(text: bytes) -> Any:
    data = yaml.safe_load(text)
    for key in ("resources", "components"):
        if isinstance(data, dict) and isinstance(data.get(key), list):
            data[key] = sorted(data[key])
    return data


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def main(before: Path, after: Path) -> int:
    names = sorted({p.name for p in before.iterdir()} | {p.name for p in after.iterdir()})
    failed = 0
    for name in names:
        if not (before / name).is_dir() or not (after / name).is_dir():
            print(f"{name}: only in one dump")
            failed += 1
            continue
        problems = compare(read_tree(before / name), read_tree(after / name))
        count = len(objects(read_tree(after / name))[0])
        print(f"{name}: {count} objects, {len(problems)} differences")
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
