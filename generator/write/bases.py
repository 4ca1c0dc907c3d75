"""`.clustergen/base/<blob id>`: what clustergen last wrote, the base of a three-way merge.

One copy of each rendered file that is not a secret, named by its git blob id
(the same id git gives the file itself, so committing the copies adds no object
to the repository's history). The manifest's `bases` maps each path to its id.
The copies are committed: CI's fresh clone needs them to merge a hand edit.
Never for a secret (`*.sops.*`): secrets are rendered from cluster.yaml, not merged.

A file written before clustergen kept copies has none: its committed version
(`git show HEAD:./path`) serves when its sha256 is the one the manifest recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from generator.command import run
from generator.errors import CommandError
from generator.secrets.files import is_secret_path
from generator.write.fs import WriteError, os_reason

BASE_DIR = ".clustergen/base"
_BLOB_ID = re.compile(r"[0-9a-f]{40}")
BASE_PATH = re.compile(re.escape(BASE_DIR) + r"/[0-9a-f]{40}")


def blob_id(data: bytes) -> str:
    """git's object id of `data` as a blob (`git hash-object`, SHA-1 repositories)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def is_blob_id(value: str) -> bool:
    return _BLOB_ID.fullmatch(value) is not None


def base_path(blob: str) -> str:
    """The copy's path relative to the root; ValueError for anything but a blob id."""
    if not is_blob_id(blob):
        raise ValueError(f"{blob!r} is not a git blob id")
    return f"{BASE_DIR}/{blob}"


def bases_for(files: Mapping[str, bytes]) -> dict[str, str]:
    """path → blob id of every file that gets a base copy (all but secrets)."""
    return {path: blob_id(data) for path, data in files.items() if not is_secret_path(path)}


def read_base(root: Path, blob: str) -> bytes | None:
    """The stored copy, None when it is missing or its bytes are not that blob
    (edited or damaged: no merge is better than a merge on a wrong base)."""
    try:
        data = (root / base_path(blob)).read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as err:
        raise WriteError(f"cannot read {base_path(blob)}: {os_reason(err)}") from None
    return data if blob_id(data) == blob else None


def stored(root: Path) -> set[str]:
    """Blob ids of the copies on disk (anything else in the directory is left alone)."""
    try:
        return {p.name for p in (root / BASE_DIR).iterdir() if is_blob_id(p.name) and p.is_file()}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def committed_copy(root: Path, rel: str, sha256: str) -> bytes | None:
    """rel as committed at HEAD of the repository holding root, when its sha256 is
    `sha256` (what clustergen wrote); None otherwise, or without git or a repository."""
    try:
        result = run(["git", "-C", root, "show", f"HEAD:./{rel}"], ok_codes=range(0, 256))
    except CommandError:
        return None
    data = result.stdout
    ok = result.returncode == 0 and hashlib.sha256(data).hexdigest() == sha256
    return data if ok else None
