"""Older versions of clustergen, built from the current tree so they never go stale.

`as_version_1(text)`: a current cluster.yaml as the first release wrote it (no
`schema_version`, every key a migration renames under its old name).
`build_previous_release(dest)`: the whole project (generator/, templates/, schemas/, the
sample, pyproject) as the release before this one: schema version 1 with its old key
names, and one template value different (`CHANGED`), so an upgrade has something to bring.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.config import version
from generator.migrations import VERSION_COMMENT, renamed_keys
from generator.validate import SCHEMA_LOCATION_ENV
from tests import process
from tests.process import clustergen_in_process, run_clustergen
from tests.shared import CRD_SCHEMA_LOCATION
from tests.workdirs import configured_copy

PROJECT = Path(__file__).resolve().parents[1]
# What a checkout of the template holds besides tests: enough to run `python -m generator`.
RELEASE_FILES = (
    "generator",
    "templates",
    "schemas",
    "cluster.sample.yaml",
    "pyproject.toml",
    "makejinja.toml",
    "Taskfile.yaml",
    ".gitignore",
)

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "_data")


@dataclass(frozen=True)
class TemplateChange:
    """One line of one template that the previous release wrote differently."""

    template: str  # under templates/config/
    rendered: str  # the file it renders to
    current: str  # the line as this release has it
    previous: str  # the line as the previous release had it


# The echo app's memory limit: 64Mi now, 48Mi before (its HelmRelease is the template the
# overrides acceptance test shadows, so an upgrade changes a template one may override).
CHANGED = TemplateChange(
    template="kubernetes/apps/default/echo/app/helmrelease.yaml.j2",
    rendered="kubernetes/apps/default/echo/app/helmrelease.yaml",
    current="            memory: 64Mi\n",
    previous="            memory: 48Mi\n",
)


def as_version_1(text: str) -> str:
    """`text` (a version-CURRENT cluster.yaml) as schema version 1: the `schema_version`
    line and the sample's comment above it dropped, renamed keys back under their old names."""
    comment = "".join(f"# {line}\n" for line in VERSION_COMMENT)
    block = f"{comment}{version.KEY}: {version.CURRENT}\n\n"
    assert block in text, "the config has no schema_version block as the sample writes it"
    text = text.replace(block, "")
    for old, new in renamed_keys().items():
        pattern = re.compile(rf"^(\s*){re.escape(str(new[-1]))}:", re.M)
        text, count = pattern.subn(rf"\g<1>{old[-1]}:", text)
        assert count == 1, f"{new[-1]} is not written exactly once in the config"
    return text


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once; update tests/versions.py"
    path.write_text(text.replace(old, new), encoding="utf-8")


def build_previous_release(dest: Path) -> Path:
    """Write the previous release of the project into `dest` (created); returns `dest`.

    Its schema knows no `schema_version` and the old key names, its generator reads version
    1, its sample is `as_version_1` of ours, and CHANGED's template has the previous line.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in RELEASE_FILES:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=_IGNORE)
        else:
            shutil.copy2(source, dest / name)
    sample = dest / "cluster.sample.yaml"
    sample.write_text(as_version_1(sample.read_text(encoding="utf-8")), encoding="utf-8")
    schema_file = dest / "schemas" / "cluster.schema.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    del schema["properties"][version.KEY]
    schema["required"].remove(version.KEY)
    for old, new in renamed_keys().items():
        parent = schema
        for part in new[:-1]:
            parent = parent["properties"][part]
        properties = parent["properties"]
        parent["properties"] = {
            (old[-1] if key == new[-1] else key): value for key, value in properties.items()
        }
    schema_file.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    # The generator and templates read the old names (each a whole word: `service_cidr`).
    for old, new in renamed_keys().items():
        word = re.compile(rf"\b{re.escape(str(new[-1]))}\b")
        for path in [*(dest / "generator").rglob("*.py"), *(dest / "templates").rglob("*.j2")]:
            if "migrations" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            if word.search(text):
                path.write_text(word.sub(str(old[-1]), text), encoding="utf-8")
    _replace_once(
        dest / "generator" / "config" / "version.py",
        f"CURRENT = {version.CURRENT}\n",
        f"CURRENT = {version.CURRENT - 1}\n",
    )
    _replace_once(
        dest / "templates" / "config" / CHANGED.template, CHANGED.current, CHANGED.previous
    )
    return dest


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd` (tests/process.git); its stdout. Fails the test when git fails."""
    return process.git(cwd, *args).stdout


def clustergen(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m generator *argv` in `cwd`: the clustergen of the checkout in `cwd`
    (its generator/ comes first on sys.path, and finds its own templates beside it)."""
    env = _release_env()
    env["PYTHONPYCACHEPREFIX"] = str(_bytecode_dir())
    return run_clustergen(argv, cwd=cwd, env=env, timeout=600)


def current_clustergen(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`clustergen *argv` in `cwd` as `clustergen` runs it, but this release's `cli.main`
    in this process (tests/process.py): for a checkout that holds the current release
    (`prepare_upgrade`'s repo after its pull), whose generator/ and templates/ are copies
    of this project's, so it is the same code and the same templates, without a child's
    interpreter start, imports and schema loading."""
    return clustergen_in_process(argv, cwd=cwd, env=_release_env())


def _release_env() -> dict[str, str]:
    """This process's environment, with the test CRD schemas and without a developer's
    age key sources or Python path."""
    env = {**os.environ, SCHEMA_LOCATION_ENV: CRD_SCHEMA_LOCATION}
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "PYTHONPATH",
                 "PYTHONDONTWRITEBYTECODE"):  # fmt: skip
        env.pop(name, None)
    return env


def _bytecode_dir() -> Path:
    """Where the releases' processes keep their bytecode: this process's own cache
    (PYTHONPYCACHEPREFIX, as the Taskfile sets it), else one under this process's temporary
    directory (tests/conftest.py). Never none: every process would compile every module it
    imports (jinja2, jsonschema, the generator), ~0.3 s CPU each time. One for every
    release, so the libraries are compiled once: a .pyc is keyed by its source's path, and
    where one path holds two releases of a module in turn, `prepare_upgrade` makes the
    pulled file's mtime tell them apart (`_pulled_modules_look_new`)."""
    prefix = os.environ.get("PYTHONPYCACHEPREFIX")
    if prefix and os.path.isabs(prefix):
        return Path(prefix)
    return Path(tempfile.gettempdir()) / "release-bytecode"


def _module_mtimes(generator: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in generator.rglob("*.py")}


def _pulled_modules_look_new(generator: Path, before: dict[Path, int]) -> None:
    """Python takes a cached .pyc whose recorded source mtime (whole seconds) and size
    match the source's: `git pull` rewrites version.py (CURRENT = 1 → 2, the same size)
    possibly within the second release 1's .pyc recorded. A module the pull rewrote in
    that same second gets an mtime one second on, so it is compiled again."""
    second = 1_000_000_000
    for path, now in _module_mtimes(generator).items():
        old = before.get(path)
        if old is not None and now != old and now // second == old // second:
            os.utime(path, ns=(now, (old // second + 1) * second))


@dataclass(frozen=True)
class Upgrade:
    """A user's repository on the previous release, with the current one merged in (as
    `git pull` does) and nothing re-rendered yet."""

    upstream: Path  # the template repository: release 1, then release 2
    repo: Path  # the user's clone: rendered and committed with release 1, then pulled
    rendered: dict[str, bytes]  # the files release 1 rendered and the user committed


def prepare_upgrade(tmp_path: Path, customize: Callable[[Path], None] | None = None) -> Upgrade:
    """The upgrade path up to (not including) `check`, `migrate` and `configure`:

    1. the template repository commits the previous release (`build_previous_release`);
    2. the user clones it, runs `init` (a version-1 cluster.yaml from its sample), adds a
       comment of their own (USER_COMMENT), `configure`s, then `customize(repo)` (an
       override, a hand edit), and commits;
    3. the template repository commits the current release over it;
    4. the user pulls it: a merge commit, no conflicts.

    Steps 1 and 2 up to `customize` are the same for every caller: they run once per test
    process and each caller gets a copy (tests/workdirs.py), its clone pointed at its own
    copy of the template repository.
    """
    configured_copy(tmp_path, "upgrade-release-1", _release_1_clone)
    upstream, repo = tmp_path / "upstream", tmp_path / "repo"
    git("remote", "set-url", "origin", str(upstream), cwd=repo)
    if customize is not None:
        customize(repo)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "my cluster, rendered by release 1", cwd=repo)
    rendered = {
        path: (repo / path).read_bytes()
        for path in git("ls-files", cwd=repo).splitlines()
        if not (upstream / path).exists()
    }
    for name in RELEASE_FILES:
        target = upstream / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=_IGNORE)
        else:
            shutil.copy2(source, target)
    git("add", "--all", cwd=upstream)
    git("commit", "--quiet", "-m", "release 2", cwd=upstream)
    before = _module_mtimes(repo / "generator")
    git("pull", "--quiet", "--no-rebase", "--no-edit", "origin", "main", cwd=repo)
    _pulled_modules_look_new(repo / "generator", before)
    return Upgrade(upstream, repo, rendered)


def _release_1_clone(root: Path) -> None:
    """`root`/upstream: the template repository at the previous release; `root`/repo: the
    user's clone of it, initialized, commented and configured by that release."""
    upstream = build_previous_release(root / "upstream")
    git("init", "--quiet", cwd=upstream)
    git("add", "--all", cwd=upstream)
    git("commit", "--quiet", "-m", "release 1", cwd=upstream)
    repo = root / "repo"
    git("clone", "--quiet", str(upstream), str(repo), cwd=root)
    for argv in (["init"], ["configure", "--no-validate"]):
        result = clustergen(*argv, cwd=repo)
        assert result.returncode == 0, result.stderr
        if argv == ["init"]:
            config = repo / "cluster.yaml"
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace("\nkubernetes:\n", f"\n{USER_COMMENT}kubernetes:\n"))


# A comment the user wrote in their cluster.yaml; every migration must keep it.
USER_COMMENT = "# Mine: the service range below is routed by my firewall, keep it.\n"
