"""A configure with nothing to do, recognised without rendering.

A configure that ends with the working tree exactly as rendered (no config warnings, no
untrusted manifest entry) is remembered in the user cache (`user_cache_root()/configure/`,
one small file per cluster.yaml): a digest of every input the run read, and the sha256 of
the manifest it left. The next configure recomputes the digest first; when both still
match and every file the manifest lists is on disk with the bytes it records, a full run
would render the same tree, keep every ciphertext and write nothing, so its report
("0 changed (N unchanged)") is given without importing the renderer or the validator.

The inputs (`input_digest`):
- the user's files beside cluster.yaml (cluster.yaml, the secrets overlay, the key and
  token files), by content;
- the product's own files and the user's overrides (every template input,
  `template_inputs(workdir)`; the config schema; the generator's code) and the installed
  libraries, by file status (size, times, inode), as git's index does. Status alone
  cannot see an edit made within the file system's timestamp granularity, so a run is
  not remembered when any of them changed in the two seconds before it started;
- the interpreter, and the CLUSTERGEN_* and SOPS_* environment variables.

No secret reaches the disk: the digest is an HMAC keyed with a hash of the age identity,
so without age.key it cannot be tested against guessed plaintexts; the manifest's sha256
is of ciphertext the repository holds anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from generator import __version__, paths
from generator.secrets.keys import OLD_AGE_KEY_NAME, HeldKey
from generator.secrets.tracked import refuse_tracked_keys
from generator.usercache import private_dir, user_cache_root
from generator.write.writer import WriteSummary

# What a configure says instead of validating the tree the last run validated.
VALIDATION_SKIPPED = (
    "validation skipped: the tree, your files included, is the one the last run "
    "validated (run `uv run clustergen validate` to re-check)"
)
_FORMAT = b"clustergen-unchanged-1"
# A product file changed this recently (ns) may change again unseen by its status.
RACY_NS = 2_000_000_000
_ENV_PREFIXES = ("CLUSTERGEN_", "SOPS_")
_MAX_INPUT = 16 * 1024 * 1024  # bytes read of one input file
_USER_FILES = (
    paths.SECRETS_CONFIG_NAME,
    paths.AGE_KEY_NAME,
    OLD_AGE_KEY_NAME,
    paths.DEPLOY_KEY_NAME,
    paths.WEBHOOK_TOKEN_NAME,
    paths.TUNNEL_CREDENTIALS_NAME,
)
_CODE = Path(__file__).resolve().parent


def template_inputs(workdir: Path) -> list[Path]:
    """Every directory or file a render of `workdir` reads templates, macros, pins and
    patches from: the built-in templates and the user's overrides/.

    The one list of them: a new template source is added here, so a change in it is
    never taken for "nothing changed".
    """
    return [paths.TEMPLATES, workdir / paths.OVERRIDES_DIR]


@dataclass
class LastRun:
    """What `last_run` found: `unchanged` is the report's file count when nothing changed."""

    config_path: Path
    digest: str | None  # None: not rememberable (no age key, or a product file just changed)
    record_file: Path | None
    unchanged: int | None = None

    def report(self, validate: bool) -> list[str]:
        """The lines a full configure prints when it writes nothing."""
        lines = [str(WriteSummary(unchanged=self.unchanged or 0))]
        return [*lines, VALIDATION_SKIPPED] if validate else lines

    def remember(self) -> None:
        """Record this run's inputs and the manifest it left; best effort (a cache)."""
        if self.digest is None or self.record_file is None:
            return
        try:
            manifest = (self.config_path.parent / paths.MANIFEST_PATH).read_bytes()
        except OSError:
            return
        record = {"inputs": self.digest, "manifest": hashlib.sha256(manifest).hexdigest()}
        directory = private_dir(self.record_file.parent)
        if directory is None:
            return
        from generator.atomic import atomic_write  # only when remembering: tempfile

        with contextlib.suppress(OSError):
            atomic_write(self.record_file, json.dumps(record).encode(), durable=False)


def last_run(config_path: Path, held: HeldKey | None) -> LastRun:
    """Whether the last remembered configure of `config_path` left nothing to do now.

    Call under the working directory's lock. Reads, never writes; any doubt (no record,
    an unreadable file, a symlink on the way) means "something changed". When nothing
    did, a key file git tracks is still refused (SideFileError), as a full run would.
    """
    config_path = config_path.resolve()
    if held is None or held.key is None:
        return LastRun(config_path, None, None)
    started = time.time_ns()
    key = hashlib.sha256(b"clustergen-unchanged\0" + held.key.identity.encode()).digest()
    digest, newest = input_digest(config_path, key)
    root = user_cache_root()
    name = hashlib.sha256(os.fsencode(config_path)).hexdigest()[:32]
    record_file = root / "configure" / f"{name}.json" if root is not None else None
    run = LastRun(config_path, digest if newest < started - RACY_NS else None, record_file)
    if record_file is not None:
        run.unchanged = _unchanged(config_path.parent, record_file, digest)
    if run.unchanged is not None:
        # The one check of a full run that reads beyond the inputs: git's index.
        refuse_tracked_keys(config_path.parent)
    return run


def input_digest(config_path: Path, key: bytes) -> tuple[str, int]:
    """(HMAC of every input, the newest status time in ns among the product's files)."""
    mac = hmac.new(key, _FORMAT, hashlib.sha256)

    def add(*parts: bytes | str) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            mac.update(len(data).to_bytes(8, "big") + data)

    add(__version__, sys.version, sys.executable)
    for name, value in sorted(os.environ.items()):
        if name.startswith(_ENV_PREFIXES):
            add(name, value)
    workdir = config_path.parent
    for path in (config_path, *(workdir / name for name in _USER_FILES)):
        add(str(path), *_content(path))
    newest = 0
    roots = [*template_inputs(workdir), paths.SCHEMA_FILE, _CODE]
    for root in roots:
        for name, info in _statuses(root):
            add(name, _status(info))
            newest = max(newest, info.st_mtime_ns or 0, info.st_ctime_ns or 0)  # 0: absent
    for entry in _library_dirs():
        try:
            add(entry, _status(os.stat(entry)))
        except OSError:
            add(entry, "absent")
    return mac.hexdigest(), newest


def _library_dirs() -> list[str]:
    """The standard library's and every site-packages directory on sys.path: installing,
    upgrading or removing a library changes its directory's status. (Not sys.path[0], the
    script's or the current directory, which differs between `clustergen` and `python -m`.)"""
    found = {os.path.dirname(os.__file__)}
    found.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages"))
    return sorted(found)


def _content(path: Path) -> tuple[str, bytes]:
    try:
        info = path.lstat()
    except OSError:
        return ("absent", b"")
    if not stat.S_ISREG(info.st_mode):
        return (_status(info), b"")
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_INPUT + 1)
    except OSError as err:
        return (f"unreadable {err.errno}", b"")
    if len(data) > _MAX_INPUT:
        # Far beyond any real input (the full run refuses it): never "unchanged".
        return ("too large", os.urandom(16))
    return ("file", data)


def _status(info: os.stat_result) -> str:
    return (
        f"{info.st_mode} {info.st_size} {info.st_mtime_ns} {info.st_ctime_ns} "
        f"{info.st_ino} {info.st_dev}"
    )


def _statuses(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) of root and every file below it, in a stable order; no __pycache__."""
    return _statuses_below(str(root))


def _statuses_below(root: str) -> Iterator[tuple[str, os.stat_result]]:
    # Plain strings, not Paths: ~500 files are visited on every configure.
    try:
        info = os.lstat(root)
    except OSError:
        yield root, os.stat_result((0,) * 10)
        return
    if not stat.S_ISDIR(info.st_mode):
        yield root, info
        return
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name == "__pycache__":
            continue
        yield from _statuses_below(entry.path)


def _unchanged(workdir: Path, record_file: Path, digest: str) -> int | None:
    """How many files the manifest lists, when the record matches and all are as listed."""
    try:
        record = json.loads(record_file.read_bytes())
        manifest_bytes = (workdir / paths.MANIFEST_PATH).read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not hmac.compare_digest(
        str(record.get("inputs", "")), digest
    ):
        return None
    if record.get("manifest") != hashlib.sha256(manifest_bytes).hexdigest():
        return None
    try:
        files = json.loads(manifest_bytes)["files"]
        if not isinstance(files, dict):
            return None
        return len(files) if _all_as_listed(workdir, files) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _all_as_listed(workdir: Path, files: dict[str, str]) -> bool:
    """Every listed file is a plain file, reached through real directories only, whose
    sha256 is the listed one."""
    directories: dict[str, bool] = {}

    def real_directory(rel: str) -> bool:
        if rel not in directories:
            try:
                directories[rel] = stat.S_ISDIR((workdir / rel).lstat().st_mode)
            except OSError:
                directories[rel] = False
        return directories[rel]

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    for rel, sha in files.items():
        parents = PurePosixPath(rel).parents
        if not all(real_directory(p.as_posix()) for p in parents if p.parts):
            return False
        try:
            fd = os.open(workdir / rel, flags)
        except OSError:
            return False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            with os.fdopen(fd, "rb", closefd=False) as file:
                data = file.read()
        finally:
            os.close(fd)
        if hashlib.sha256(data).hexdigest() != sha:
            return False
    return True
