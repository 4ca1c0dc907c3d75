"""An older tree from git: one `ls-tree` and one `cat-file --batch`, however many files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator.command import run
from generator.errors import ClusterGenError, CommandError


def read_git_tree(workdir: Path, ref: str, paths: Iterable[str]) -> dict[str, bytes]:
    """Contents at `ref` of those `paths` (relative to workdir) that exist there."""
    try:
        prefix = run(["git", "rev-parse", "--show-prefix"], cwd=workdir).stdout.decode().strip()
        run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{tree}}"], cwd=workdir)
    except CommandError as err:
        raise ClusterGenError(
            f"cannot read git revision {ref!r} in {workdir}: {err}; "
            "pass a branch, tag or commit of this repository"
        ) from None
    listing = run(["git", "ls-tree", "-r", "-z", "--full-tree", ref], cwd=workdir).stdout
    wanted = set(paths)
    blobs: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        _mode, kind, sha = meta.decode().split()
        path = name.decode()
        if kind != "blob" or not path.startswith(prefix):
            continue
        rel = path[len(prefix) :]
        if rel in wanted:
            blobs[rel] = sha
    if not blobs:
        return {}
    order = sorted(blobs)
    request = "".join(f"{blobs[p]}\n" for p in order).encode()
    output = run(["git", "cat-file", "--batch"], input=request, cwd=workdir).stdout
    return dict(zip(order, _split_batch(output, len(order)), strict=True))


def _split_batch(output: bytes, count: int) -> list[bytes]:
    """Bodies of `git cat-file --batch` output: `<sha> <type> <size>\\n<body>\\n` each."""
    bodies: list[bytes] = []
    pos = 0
    for _ in range(count):
        header_end = output.index(b"\n", pos)
        size = int(output[pos:header_end].split()[2])
        start = header_end + 1
        bodies.append(output[start : start + size])
        pos = start + size + 1
    return bodies
