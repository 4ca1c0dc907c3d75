"""Merge patches: `overrides/patches/*.yaml`, each document patching one rendered object.

    ---
    target:
      kind: HelmRelease
      namespace: kube-system     # optional for cluster-scoped kinds
      name: cilium
      file: kubernetes/apps/kube-system/cilium/app/helmrelease.yaml   # optional
    patch:
      spec:
        values:
          k8sClientRateLimit: {qps: 50, burst: 100}

`patch` is a JSON merge patch (RFC 7386, applied by the `json-merge-patch` library):
mappings merge key by key, `null` removes a key, anything else (a list too) replaces the
value. An object's namespace is its `metadata.namespace`, else the namespace folder it
lies in (`kubernetes/apps/<namespace>/…`), as Flux applies it. Patches apply in file
order, then document order, each to the tree as the ones before left it.

Only the patched document is written anew (by the templates' own serializer, `to_yaml`):
its comments and anchors are not kept (aliases are expanded); the `---` line and
comments before it, and every other document of the file, keep their bytes.

Refused, each naming the patch file and line: a document that is not `target` + `patch`,
a `patch` value JSON cannot hold (a date, `!!binary`, NaN, a key that is no string:
Kubernetes reads every object as JSON), a target that matches no object or more than one,
and a target in a secret (`*.sops.*`: secrets come from cluster.yaml).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json_merge_patch
import yaml

from generator.bounded_yaml import nodes, syntax_error
from generator.errors import Problem, not_utf8
from generator.errors import shown as as_yaml
from generator.render.environment import to_yaml
from generator.secrets.files import is_secret_path

_TARGET_KEYS = {"kind": True, "name": True, "namespace": False, "file": False}
_APPS = "kubernetes/apps/"


@dataclass(frozen=True)
class Patch:
    where: str  # "overrides/patches/x.yaml:3", for messages
    file: str  # "overrides/patches/x.yaml"
    line: int
    target: Mapping[str, str]
    body: Mapping[str, Any]


@dataclass(frozen=True)
class _Object:
    path: str
    line: int
    start: int  # character span of the document's node in the file's text
    end: int
    data: dict[str, Any]

    def namespace(self) -> str | None:
        metadata = self.data.get("metadata")
        declared = metadata.get("namespace") if isinstance(metadata, dict) else None
        if declared:
            return str(declared)
        if self.path.startswith(_APPS):
            return self.path[len(_APPS) :].split("/", 1)[0]
        return None

    def name(self) -> str:
        metadata = self.data.get("metadata")
        return str(metadata.get("name") or "") if isinstance(metadata, dict) else ""


def load_patches(path: Path, shown: str) -> tuple[list[Patch], list[Problem]]:
    """Every patch of one file, or the problems (file and line) that stop it."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as err:
        return [], [Problem("", f"cannot be read: {err.strerror or err}", shown)]
    except UnicodeDecodeError as err:
        return [], [not_utf8(shown, raw, err)]
    patches: list[Patch] = []
    problems: list[Problem] = []
    try:
        for line, data in _documents(text):
            patch, why = _patch(data, shown, line)
            if patch is None:
                problems.append(Problem("", why, shown, line))
            else:
                patches.append(patch)
    except yaml.YAMLError as err:
        problem, at = syntax_error(err, text)
        return [], [Problem("", f"invalid YAML: {problem}", shown, at)]
    return patches, problems


def _documents(text: str) -> Iterator[tuple[int, Any]]:
    """(first line, data) of each non-empty document; yaml.YAMLError when one is invalid."""
    for node, data in nodes(text):
        yield _target_line(node), data


def _target_line(node: yaml.Node) -> int:
    """The line of the document's `target:` key, else of the document itself."""
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "target":
                return int(key.start_mark.line) + 1
    return int(node.start_mark.line) + 1


def _patch(data: Any, shown: str, line: int) -> tuple[Patch | None, str]:
    usage = "a patch is a mapping of `target` (kind, name, namespace, file) and `patch`"
    if not isinstance(data, dict):
        found = "a list" if isinstance(data, list) else "a single value"
        return None, f"{usage}, not {found}"
    said = _keys_said(data, {"target": True, "patch": True})
    if said:
        return None, f"{said}; {usage}"
    target, body = data["target"], data["patch"]
    if not isinstance(target, dict):
        return None, f"`target` must be a mapping; {usage}"
    said = _keys_said(target, _TARGET_KEYS)
    wrong = [k for k in _TARGET_KEYS if k in target and not isinstance(target[k], str)]
    if wrong:
        said += ("; " if said else "") + f"{_listed(wrong)} must be text (kind: HelmRelease)"
    if said:
        return None, f"`target`: {said} (keys: kind, name, namespace, file)"
    if not isinstance(body, dict) or not body:
        return None, "`patch` must be a non-empty mapping: the keys to merge into the object"
    if why := _not_json(body, "patch"):
        return None, why
    return Patch(f"{shown}:{line}", shown, line, target, body), ""


def _keys_said(data: dict[Any, Any], keys: Mapping[str, bool]) -> str:
    """What is wrong with `data`'s keys (`keys`: name → required), with a did-you-mean for
    each unknown key close to a known one; "" when nothing is."""
    from generator.config.schema import closest  # the config's did-you-mean, for one voice

    unknown = sorted(str(k) for k in data if k not in keys)
    missing = [k for k, required in keys.items() if required and k not in data]
    said = [f"missing {_listed(missing)}"] if missing else []
    for key in unknown:
        close = closest(key, [k for k in keys if k not in data])
        said.append(f"unknown key `{key}`" + (f" (did you mean `{close}`?)" if close else ""))
    return "; ".join(said)


def _listed(keys: list[str]) -> str:
    return ", ".join(f"`{k}`" for k in keys)


def _not_json(value: Any, at: str) -> str:
    """Why `value` (at the dotted key `at`) is not a JSON value, as Kubernetes reads every
    object; "" when it is. YAML also has dates, binary, NaN and non-string keys."""
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                return (
                    f"`{at}` has the key {as_yaml(key)}, which is not a string; Kubernetes objects "
                    f'are JSON, whose keys are strings: quote it ("{key}")'
                )
            if why := _not_json(child, f"{at}.{key}"):
                return why
        return ""
    if isinstance(value, list):
        return next((w for i, v in enumerate(value) if (w := _not_json(v, f"{at}[{i}]"))), "")
    if isinstance(value, float) and not math.isfinite(value):
        return f"`{at}` is {value}, which JSON cannot hold; write a number or quote it"
    if value is None or isinstance(value, str | int | float | bool):
        return ""
    what = "binary data (!!binary)" if isinstance(value, bytes) else f"a date ({value})"
    return f"`{at}` is {what}, which JSON cannot hold; quote it to make it a string"


def apply_patches(
    files: dict[str, bytes], patch_files: tuple[Path, ...], show: Callable[[Path], str]
) -> tuple[dict[str, str], list[Problem]]:
    """Apply every patch to `files` in place: ({patched path: "overrides/patches/x.yaml:3"},
    problems). A problem names the patch file and the line of its document."""
    origins: dict[str, str] = {}
    problems: list[Problem] = []
    patches: list[Patch] = []
    for path in patch_files:
        found, refused = load_patches(path, show(path))
        patches += found
        problems += refused
    if problems or not patches:
        return origins, problems
    for patch in patches:
        matches = [o for o in _objects(files, patch) if _matches(patch, o)]
        if len(matches) != 1:
            problems.append(
                Problem("target", _not_one(patch, matches, files), patch.file, patch.line)
            )
            continue
        obj = matches[0]
        if is_secret_path(obj.path):
            problems.append(
                Problem(
                    "target",
                    f"{obj.path} is a secret: secrets are rendered from cluster.yaml and "
                    "cluster.secrets.sops.yaml; set the value there instead",
                    patch.file,
                    patch.line,
                )
            )
            continue
        files[obj.path] = _rewritten(files[obj.path], obj, patch)
        origins.setdefault(obj.path, patch.where)
    return origins, problems


def _objects(files: Mapping[str, bytes], patch: Patch) -> Iterator[_Object]:
    only = patch.target.get("file")
    # Kubernetes kinds and names are plain ASCII (DNS names), so an object of that kind and
    # name has both in its file's bytes: the other files need no parsing.
    words = [patch.target["kind"].encode(), patch.target["name"].encode()]
    for path, content in files.items():
        if only is not None and path != only:
            continue
        if not path.endswith((".yaml", ".yml")) or not all(w in content for w in words):
            continue
        yield from _parsed(path, content)


def _parsed(path: str, content: bytes) -> list[_Object]:
    """The mapping documents of one file; [] when it does not parse (not ours to judge
    here: validation names the file)."""
    try:
        text = content.decode("utf-8")
        return [
            _Object(
                path, node.start_mark.line + 1, node.start_mark.index, node.end_mark.index, data
            )
            for node, data in nodes(text)
            if isinstance(data, dict)
        ]
    except (UnicodeDecodeError, yaml.YAMLError):
        return []


def _matches(patch: Patch, obj: _Object) -> bool:
    target = patch.target
    if obj.data.get("kind") != target["kind"] or obj.name() != target["name"]:
        return False
    return "namespace" not in target or obj.namespace() == target["namespace"]


def _not_one(patch: Patch, matches: list[_Object], files: Mapping[str, bytes]) -> str:
    target = patch.target
    what = f"{target['kind']} {target['name']}"
    if "namespace" in target:
        what += f" in namespace {target['namespace']}"
    if "file" in target:
        what += f" in {target['file']}"
    if matches:
        where = ", ".join(f"{o.path}:{o.line}" for o in matches)
        return f"{what} matches {len(matches)} objects ({where}); add `file:` to say which"
    return f"no rendered object is the {what}; {_nearest(patch, files)}"


def _nearest(patch: Patch, files: Mapping[str, bytes]) -> str:
    """A did-you-mean for a target that matches nothing: the rendered object of that kind
    with the closest name, else the closest kind (only on this error's path: it parses
    every rendered YAML file)."""
    from generator.config.schema import closest

    kind, name = patch.target["kind"], patch.target["name"]
    found: dict[str, list[_Object]] = {}
    for path, content in files.items():
        if path.endswith((".yaml", ".yml")) and not is_secret_path(path):
            for obj in _parsed(path, content):
                found.setdefault(str(obj.data.get("kind") or ""), []).append(obj)
    same_kind = found.get(kind, [])
    close = closest(name, sorted({o.name() for o in same_kind}))
    if close:
        objects = [o for o in same_kind if o.name() == close]
        where = "; ".join(f"{o.path}, namespace {o.namespace()}" for o in objects)
        return f"did you mean name: {close}? (in {where})"
    if not same_kind:
        other = closest(kind, sorted(k for k in found if k))
        if other:
            return f"no object is of kind {kind}: did you mean kind: {other}?"
    return (
        "check kind, name and namespace against the rendered file "
        "(is its feature on in cluster.yaml?)"
    )


def _rewritten(content: bytes, obj: _Object, patch: Patch) -> bytes:
    """The file with only `obj`'s document replaced by the patched object."""
    # A fresh copy: an alias shares its anchor's node, and a patch of one must not change both.
    merged = json_merge_patch.merge(_unshared(obj.data), _unshared(patch.body))
    text = content.decode("utf-8")
    # The span ends where the next token starts (the next `---`, or the end of the file);
    # a flow-style object ends mid-line: take the rest of its line.
    end = obj.end if text[obj.end - 1] == "\n" else text.find("\n", obj.end) + 1 or len(text)
    before = text[: obj.start]
    if before and not before.endswith("\n"):
        before = before.rstrip(" ") + "\n"  # `--- {…}`: the object starts on the marker's line
    return (before + to_yaml(merged) + "\n" + text[end:]).encode("utf-8")


def _unshared(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def check_patches(patch_files: tuple[Path, ...], show: Callable[[Path], str]) -> list[Problem]:
    """What `clustergen check` can tell without rendering: each patch file's YAML and shape."""
    problems: list[Problem] = []
    for path in patch_files:
        problems += load_patches(path, show(path))[1]
    return problems
