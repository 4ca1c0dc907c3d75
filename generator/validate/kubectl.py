"""`kubectl kustomize` over every kustomization root, a few at a time.

kubectl needs files on disk. A tree that only exists in memory is written to a
temporary directory first, with secret files replaced by key-only stand-ins so
plaintext never reaches the disk (kustomize does not look at values).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from generator import bounded_yaml
from generator.command import run
from generator.errors import CommandError
from generator.secrets.files import is_secret_path
from generator.validate.documents import Finding, is_yaml

KUBECTL_TIMEOUT = 60.0
_MAX_REASON = 300
_KEEP = frozenset({"apiVersion", "kind", "metadata", "type"})


def kubectl_available() -> bool:
    return shutil.which("kubectl") is not None


def build_all(
    files: Mapping[str, bytes], roots: Sequence[str], root: Path | None, jobs: int = 4
) -> list[Finding]:
    """A finding for every root directory `kubectl kustomize` cannot build."""
    if not roots:
        return []
    if root is not None:
        return _build_in(root, roots, jobs)
    with tempfile.TemporaryDirectory(prefix="clustergen-kustomize-") as tmp:
        _materialize(files, Path(tmp))
        return _build_in(Path(tmp), roots, jobs)


def _build_in(base: Path, roots: Sequence[str], jobs: int) -> list[Finding]:
    def build(directory: str) -> Finding | None:
        try:
            run(["kubectl", "kustomize", base / directory], timeout=KUBECTL_TIMEOUT)
        except CommandError as err:
            where = f"{directory}/kustomization.yaml" if directory else "kustomization.yaml"
            return Finding(where, f"kubectl kustomize failed: {_short(err, base)}")
        return None

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(build, roots))
    return [f for f in results if f is not None]


def _short(err: CommandError, base: Path) -> str:
    text = str(err).split(": ", 1)[-1]
    # kubectl logs `... "command failed" err="<reason>"`: the reason is what matters.
    match = re.search(r'err="(.*)"\s*$', text)
    if match:
        text = match.group(1).replace('\\"', '"')
    # Paths relative to the tree, not to wherever it was built.
    text = text.replace(f"{base}/", "").replace(str(base), ".")
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _materialize(files: Mapping[str, bytes], target: Path) -> None:
    for path, content in files.items():
        dest = target / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(_redact(content) if is_secret_path(path) and is_yaml(path) else content)


def _redact(content: bytes) -> bytes:
    try:
        docs = [d for d in bounded_yaml.load_all(content) if d is not None]
    except yaml.YAMLError:
        return b""
    kept = [
        {k: (v if k in _KEEP else _blank(v)) for k, v in d.items()} if isinstance(d, dict) else ""
        for d in docs
    ]
    return yaml.safe_dump_all(kept, sort_keys=False).encode()


def _blank(value: Any) -> Any:
    """Same shape, every leaf an empty string (valid base64 too)."""
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return ""
