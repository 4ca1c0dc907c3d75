"""`kubectl kustomize` over every kustomization root, skipping what built before.

kubectl needs files on disk. A tree that only exists in memory is written to a
temporary directory first, with secret files replaced by key-only stand-ins so
plaintext never reaches the disk (kustomize does not look at values).

A root that built cleanly is remembered under `user_cache_root()/kustomize`,
keyed by a hash of everything its build may read (see `_Inputs`), the bytes
as kubectl sees them, and the kubectl binary; the next run with the same key
skips the build. Only successes are kept: a failure (or a timeout on a busy
machine) is built again every time, so a cached entry can never hide a problem.
The roots left are built by one kubectl process together, and one by one (one
per CPU at a time) only when that fails, to name each failing root; a kubectl stopped by
a signal (Ctrl-C reaches the whole process group) ends the builds instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from generator import bounded_yaml
from generator.command import run
from generator.errors import CommandError, CommandInterrupted
from generator.render.rendered import is_document
from generator.secrets.files import is_secret_path
from generator.usercache import private_dir, prune, user_cache_root
from generator.validate.documents import Finding, is_yaml
from generator.validate.kustomize import KUSTOMIZATION_NAMES, normalize

KUBECTL_TIMEOUT = 60.0
_MAX_REASON = 300
_KEEP = frozenset({"apiVersion", "kind", "metadata", "type"})
# The key sops adds to each document it encrypts.
_SOPS_METADATA = "sops"
# Part of every cache key: bump it when what a key covers changes.
_CACHE_FORMAT = "kustomize-build-2"
# Past this many entries, those not written for PRUNE_AGE seconds are removed.
PRUNE_ABOVE = 4096
PRUNE_AGE = 30 * 24 * 3600.0
# Generators, whose `files` and `envs` may name a file as `key=path`.
_GENERATOR_KEYS = frozenset({"configMapGenerator", "secretGenerator"})
# Keys whose entries name a whole kustomization (a directory) rather than a file in it.
_RESOURCE_KEYS = frozenset({"resources", "components", "bases", "crds"})


def kubectl_available() -> bool:
    return shutil.which("kubectl") is not None


def build_all(
    files: Mapping[str, bytes],
    roots: Sequence[str],
    root: Path | None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
) -> list[Finding]:
    """A finding for every root directory `kubectl kustomize` cannot build, in `roots` order.

    `root` is where `files` lie on disk (None: written to a temporary directory,
    secrets as stand-ins). `jobs` kubectl processes at a time (default: one per
    CPU). `cache_dir` holds the keys of clean builds (default:
    `user_cache_root()/kustomize`; unusable or absent: every root is built).
    """
    return Builds(files, roots, root, jobs, cache_dir).run()


class Builds:
    """`build_all` in two steps: creating it does the Python part (the redacted copy, the
    cache lookup), `run` starts kubectl and waits for it. Validation creates it in its
    own thread and runs it in another: a thread writing ~150 files beside Python checks
    would wait for the interpreter lock at each file, and start kubectl only once the
    checks are done."""

    def __init__(
        self,
        files: Mapping[str, bytes],
        roots: Sequence[str],
        root: Path | None,
        jobs: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self._roots = list(roots)
        self._root = root
        self._todo: list[str] = []
        self._copy: tempfile.TemporaryDirectory[str] | None = None
        if not roots:
            return
        self._seen = _redacted(files) if root is None else files
        self._location = _cache_location(cache_dir)
        # A cache directory not made yet holds nothing: build first (a first run), make
        # it after.
        exists = self._location is not None and self._location.exists()
        self._cache = _cache_directory(self._location) if exists else None
        self._keys: dict[str, str | None] = {}
        if self._cache:
            self._keys = _cache_keys(self._seen, roots, root)
        self._todo = [d for d in roots if not _built_before(self._cache, self._keys.get(d))]
        self._workers = max(1, min(jobs or os.cpu_count() or 1, len(self._todo)))
        if self._todo and root is None:
            self._copy = _copy_of(self._seen)

    def run(self) -> list[Finding]:
        if not self._todo:
            return []
        try:
            base = self._root if self._copy is None else Path(self._copy.name)
            assert base is not None
            failed = _build_in(base, self._todo, self._workers)
        finally:
            if self._copy is not None:
                self._copy.cleanup()
        cache = self._cache or _cache_directory(self._location)
        if cache:
            keys = self._keys or _cache_keys(self._seen, self._roots, self._root)
            for directory in self._todo:
                key = keys[directory]
                if key and directory not in failed:
                    _touch_quietly(cache / key)
            _prune(cache)
        return [failed[d] for d in self._roots if d in failed]


def _cache_keys(
    seen: Mapping[str, bytes], roots: Sequence[str], root: Path | None
) -> dict[str, str | None]:
    inputs, kubectl = _Inputs(seen, root), _kubectl_identity()
    return {d: _cache_key(inputs, d, kubectl, disk=root is not None) for d in roots}


def _build_in(base: Path, roots: Sequence[str], jobs: int) -> dict[str, Finding]:
    """The roots that fail, with why. All roots first go through one `kubectl
    kustomize` of a kustomization listing them (one process instead of one per root;
    it succeeds only when every root does); when that fails, each root is built on
    its own, `jobs` at a time, so every failure is named as before."""
    if len(roots) > 1 and _builds_together(base, roots):
        return {}

    def build(directory: str) -> Finding | None:
        try:
            run(["kubectl", "kustomize", base / directory], timeout=KUBECTL_TIMEOUT)
        except CommandInterrupted:
            raise  # cut short, not failed: no finding, and no more builds
        except CommandError as err:
            where = f"{directory}/kustomization.yaml" if directory else "kustomization.yaml"
            return Finding(where, f"kubectl kustomize failed: {_short(err, base)}")
        return None

    # Threads only wait on kubectl processes; the processes run in parallel.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(build, directory) for directory in roots]
        try:
            results = [future.result() for future in futures]
        except CommandInterrupted:
            for future in futures:
                future.cancel()  # those not started: the run is being stopped
            raise
    return {d: f for d, f in zip(roots, results, strict=True) if f is not None}


def _builds_together(base: Path, roots: Sequence[str]) -> bool:
    def listing(tmp: Path) -> None:
        # kustomize refuses absolute paths to other kustomizations, relative ones work.
        resources = [os.path.relpath(base / directory, tmp) for directory in roots]
        materialize({"kustomization.yaml": yaml.safe_dump({"resources": resources}).encode()}, tmp)

    with _scratch("clustergen-kustomize-all-", listing) as tmp:
        try:
            run(["kubectl", "kustomize", tmp], timeout=KUBECTL_TIMEOUT)
        except CommandInterrupted:
            raise  # not a failure to look into root by root
        except CommandError:
            return False
    return True


# --- the cache ------------------------------------------------------------------------


def _cache_location(cache_dir: Path | None) -> Path | None:
    if cache_dir is None:
        base = user_cache_root()
        return base / "kustomize" if base is not None else None
    return cache_dir


def _cache_directory(location: Path | None) -> Path | None:
    # Only this user's directory: someone else's entries could make a broken build pass.
    return private_dir(location) if location is not None else None


def _built_before(cache: Path | None, key: str | None) -> bool:
    return cache is not None and key is not None and (cache / key).is_file()


def _kubectl_identity() -> str:
    """Which kubectl builds: its resolved path, size and mtime change with every install."""
    found = shutil.which("kubectl")
    if found is None:
        return ""
    path = Path(found).resolve()
    try:
        info = path.stat()
    except OSError:
        return str(path)
    return f"{path}:{info.st_size}:{info.st_mtime_ns}"


def _cache_key(inputs: _Inputs, directory: str, kubectl: str, *, disk: bool) -> str | None:
    """sha256 of the build's inputs; None when the build may read outside the tree."""
    paths = inputs.of(directory)
    if paths is None:
        return None
    digest = hashlib.sha256()
    for part in (_CACHE_FORMAT, kubectl, "disk" if disk else "memory", directory):
        digest.update(part.encode() + b"\0")
    for path in sorted(paths):
        digest.update(path.encode() + b"\0" + inputs.digest(path))
    return digest.hexdigest()


class _Inputs:
    """What each build may read, worked out once per tree.

    Generous on purpose: every file below each directory a build reaches but the
    documents (*.md), and every path any string of a kustomization.yaml names (resources,
    components, patches, generator files, replacements, ...), followed recursively. A
    file too many only costs a rebuild; a file too few would serve a stale result.
    """

    def __init__(self, files: Mapping[str, bytes], disk: Path | None = None) -> None:
        self.files = files
        # On disk, kustomize may read files `files` leaves out (outside validation's scope).
        self.disk = disk
        self._below: dict[str, list[str]] = {}
        for path in files:
            parts = path.split("/")
            for i in range(len(parts)):
                self._below.setdefault("/".join(parts[:i]), []).append(path)
        self._refs: dict[str, list[str] | None] = {}
        self._digests: dict[str, bytes] = {}

    def of(self, directory: str) -> set[str] | None:
        """Every file building `directory` may read; None when it may read something
        outside the tree (a remote base, a path above the root)."""
        found: set[str] = set()
        pending, reached = [directory], set()
        while pending:
            current = pending.pop()
            if current in reached:
                continue
            reached.add(current)
            below = [current] if current in self.files else self._below_read(current)
            for path in below:
                if path in found:
                    continue
                found.add(path)
                refs = self._references(path)
                if refs is None:
                    return None
                pending.extend(refs)
        return found

    def _below_read(self, directory: str) -> list[str]:
        # kustomize reads a file only when a kustomization names it; the documents (*.md)
        # beside the manifests, rendered last, are never that, unless named explicitly.
        return [p for p in self._below.get(directory, []) if not is_document(p)]

    def digest(self, path: str) -> bytes:
        if path not in self._digests:
            self._digests[path] = hashlib.sha256(self.files[path]).digest()
        return self._digests[path]

    def _references(self, path: str) -> list[str] | None:
        """Tree paths a kustomization file names ([] for other files); None: outside."""
        if path not in self._refs:
            self._refs[path] = self._parse(path)
        return self._refs[path]

    def _parse(self, path: str) -> list[str] | None:
        base, _, name = path.rpartition("/")
        if name not in KUSTOMIZATION_NAMES:
            return []
        try:
            doc = bounded_yaml.load(self.files[path])
        except yaml.YAMLError:
            return None  # what kustomize makes of it is unknown: always build
        refs = []
        for key, found in _strings(doc):
            # A generator's `key=path` names `path` (kustomize.py `_generator_files`).
            named = found.partition("=")[2] if key in _GENERATOR_KEYS else ""
            for ref in {found, named} - {""}:
                target = _reference(base, key, ref)
                if target is _OUTSIDE:
                    return None
                if not isinstance(target, str):
                    continue
                if target in self.files or target in self._below:
                    refs.append(target)
                elif self.disk is not None and (self.disk / target).exists():
                    return None  # read from disk, but not part of the key: always build
        return refs


_OUTSIDE = object()


def _reference(base: str, key: str, ref: str) -> object:
    """The tree path `ref` may name, None when it names nothing, _OUTSIDE when it leaves it."""
    if "\n" in ref or not ref:
        return None
    if "://" in ref or ref.startswith(("github.com/", "git@")):
        return _OUTSIDE if key in _RESOURCE_KEYS else None
    target = normalize(base, ref)
    if target is None:
        # An inline JSON patch's `path: /spec/...` is not a file; a resource elsewhere is.
        return _OUTSIDE if key in _RESOURCE_KEYS or ref.startswith("../") else None
    return target


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(the top-level key it sits under, value) for every string in a YAML document."""
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, key or str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)


def _prune(cache: Path) -> None:
    prune(cache, above=PRUNE_ABOVE, age=PRUNE_AGE)


def _touch_quietly(path: Path) -> None:
    # A read-only or full cache only costs a rebuild next time.
    with contextlib.suppress(OSError):
        path.touch()


def _short(err: CommandError, base: Path) -> str:
    text = str(err).split(": ", 1)[-1]
    # kubectl logs `... "command failed" err="<reason>"`: the reason is what matters.
    match = re.search(r'err="(.*)"\s*$', text)
    if match:
        text = match.group(1).replace('\\"', '"')
    # Paths relative to the tree, not to wherever it was built.
    text = text.replace(f"{base}/", "").replace(str(base), ".")
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _redacted(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The tree as kubectl gets it from memory: secret files as key-only stand-ins."""
    return {
        path: _redact(content) if is_secret_path(path) and is_yaml(path) else content
        for path, content in files.items()
    }


def _copy_of(files: Mapping[str, bytes]) -> tempfile.TemporaryDirectory[str]:
    """A temporary copy of `files` (redacted): creating ~100-300 files on a disk
    filesystem costs more CPU than the build, hence `_scratch`'s RAM directory."""
    return _scratch("clustergen-kustomize-", lambda tmp: materialize(files, tmp))


def _scratch(prefix: str, fill: Callable[[Path], None]) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory (mode 0700, as tempfile makes it) that `fill` has written,
    in memory when the system has a RAM-backed directory (`_in_memory`). A RAM directory
    that is full or refuses (OSError) means the usual temporary directory; an OSError
    there is raised."""
    fast = _in_memory()
    for parent in (fast, None) if fast else (None,):
        try:
            tmp = tempfile.TemporaryDirectory(prefix=prefix, dir=parent)
        except OSError:
            if parent is None:
                raise
            continue
        try:
            fill(Path(tmp.name))
        except OSError:
            tmp.cleanup()
            if parent is None:
                raise
            continue
        return tmp
    raise AssertionError("unreachable: the default directory raises or returns")


def _in_memory() -> str | None:
    """$XDG_RUNTIME_DIR (the user's own tmpfs) when it is this user's alone, as the XDG
    Base Directory spec requires of it (owned by the user, mode 0700); else /dev/shm
    (sticky and world-writable by design: the directory made in it is 0700); either only
    when writable; else None (tempfile's default). Only redacted trees go there: secrets
    as key-only stand-ins. Spec: https://specifications.freedesktop.org/basedir-spec/latest/
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime) and _own_directory(runtime) and _writable(runtime):
        return runtime
    return "/dev/shm" if _writable("/dev/shm") else None


def _own_directory(path: str) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    owner = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return stat.S_ISDIR(info.st_mode) and owner and not info.st_mode & 0o022


def _writable(path: str) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def materialize(files: Mapping[str, bytes], target: Path) -> None:
    for path, content in files.items():
        dest = target / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)


def _redact(content: bytes) -> bytes:
    """A secret file's key-only stand-in: the same for its plaintext and its sops
    ciphertext (whose metadata, which kustomize-controller strips before applying, is left
    out), so a build of the tree as rendered serves the tree as written."""
    try:
        docs = [d for d in bounded_yaml.load_all(content) if d is not None]
    except yaml.YAMLError:
        return b""
    kept = [
        {k: (v if k in _KEEP else _blank(v)) for k, v in d.items() if k != _SOPS_METADATA}
        if isinstance(d, dict)
        else ""
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
