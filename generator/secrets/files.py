"""Which files are secrets, where they are, and how key files reach the disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

SOPS_CONFIG = ".sops.yaml"
# Directories never searched for secrets: tooling, not the user's repository.
SKIP_DIRS = frozenset({".git", ".venv", "node_modules", ".clustergen", ".task"})
# Where the cluster's secrets live: what clustergen renders plus the repository root.
# The clone also carries clustergen's own tests, whose fixtures are plaintext on purpose.
SECRET_DIRS = ("kubernetes", "bootstrap", "talos")


def in_secret_scope(path: str) -> bool:
    """True for root-level files and anything under the rendered cluster directories."""
    parts = PurePosixPath(path).parts
    return len(parts) == 1 or parts[0] in SECRET_DIRS


def is_secret_path(path: str | Path) -> bool:
    """A secret's name has `.sops.` after a real stem (`x.sops.yaml`); `.sops.yaml` holds rules."""
    text = str(path)
    if text.endswith(("/", "/.")) or text == ".":  # PurePosixPath drops these components
        return PurePosixPath(text).name.find(".sops.") > 0
    # The last component, as PurePosixPath(text).name has it: called for every file.
    return text[text.rfind("/") + 1 :].find(".sops.") > 0


def iter_secret_files(root: Path) -> Iterator[str]:
    """Relative POSIX paths of every secret file in scope under root, sorted."""
    found: list[str] = []
    # Relative paths by os.walk's dirpath (top joined with each name): plain strings,
    # as this walk runs several times per configure.
    relative = {str(root): ""}
    for dirpath, dirnames, filenames in os.walk(root):
        here = relative.pop(dirpath)
        prefix = f"{here}/" if here else ""
        dirnames[:] = sorted(
            d for d in dirnames if d not in SKIP_DIRS and in_secret_scope(prefix + d)
        )
        for d in dirnames:
            relative[os.path.join(dirpath, d)] = prefix + d
        for name in filenames:
            if is_secret_path(name):
                found.append(prefix + name)
    yield from sorted(found)


def create_exclusive(path: Path, content: str | bytes, mode: int) -> None:
    """Create path with exactly `mode`; FileExistsError if it exists (never overwrites)."""
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        # The umask may have narrowed (or, for 0644, not) the mode: set it exactly.
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
