"""The kustomize build cache: a clean build is not repeated until one of its inputs changes.

kubectl is the real one, behind a wrapper on PATH that logs which directory it built.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.validate import kubectl
from generator.validate.kubectl import build_all
from tests.validate.conftest import KUBECTL, builds

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")

COMPONENT = b"""apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
labels:
  - pairs: {team: platform}
"""
TREE = {
    "kubernetes/apps/a/kustomization.yaml": b"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [cm.yaml]
components: [../../components/common]
""",
    "kubernetes/apps/a/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    "kubernetes/apps/b/kustomization.yaml": b"resources: [cm.yaml]\n",
    "kubernetes/apps/b/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
    "kubernetes/components/common/kustomization.yaml": COMPONENT,
}
ROOTS = ["kubernetes/apps/a", "kubernetes/apps/b"]


def test_a_clean_build_is_not_repeated(built: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert build_all(TREE, ROOTS, None, cache_dir=cache) == []
    assert builds(built) == [f"together:{ROOTS[0]},{ROOTS[1]},"]
    assert build_all(TREE, ROOTS, None, cache_dir=cache) == []
    assert builds(built) == []


def test_only_the_changed_directory_is_built_again(built: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    build_all(TREE, ROOTS, None, cache_dir=cache)
    builds(built)
    changed = {
        **TREE,
        "kubernetes/apps/b/cm.yaml": TREE["kubernetes/apps/b/cm.yaml"] + b"data: {}\n",
    }
    assert build_all(changed, ROOTS, None, cache_dir=cache) == []
    assert builds(built) == ["kubernetes/apps/b"]


def test_a_component_change_rebuilds_the_directories_using_it(built: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    build_all(TREE, ROOTS, None, cache_dir=cache)
    builds(built)
    path = "kubernetes/components/common/kustomization.yaml"
    changed = {**TREE, path: COMPONENT.replace(b"platform", b"apps")}
    assert build_all(changed, ROOTS, None, cache_dir=cache) == []
    assert builds(built) == ["kubernetes/apps/a"]


def test_a_failed_build_is_reported_every_time(built: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    broken = {**TREE, "kubernetes/apps/b/kustomization.yaml": b"resources: [missing.yaml]\n"}
    for _ in range(2):
        findings = build_all(broken, ROOTS, None, cache_dir=cache)
        assert [f.path for f in findings] == ["kubernetes/apps/b/kustomization.yaml"]
        assert "missing.yaml" in findings[0].message
    # Together first, then one by one to name the failure; a, clean, is not built again.
    assert builds(built) == [
        "kubernetes/apps/a",
        "kubernetes/apps/b",
        "kubernetes/apps/b",
        f"together:{ROOTS[0]},{ROOTS[1]},",
    ]


def test_secret_values_do_not_reach_the_cache(built: Path, tmp_path: Path) -> None:
    """In memory, secrets are built as key-only stand-ins: a new value is no new build."""
    cache = tmp_path / "cache"
    secret = "kubernetes/apps/b/secret.sops.yaml"
    kustomization = b"resources: [cm.yaml, secret.sops.yaml]\n"
    tree = {**TREE, "kubernetes/apps/b/kustomization.yaml": kustomization}

    def with_token(token: str) -> dict[str, bytes]:
        body = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{t: {token}}}\n"
        return {**tree, secret: body.encode()}

    assert build_all(with_token("one"), ROOTS, None, cache_dir=cache) == []
    builds(built)
    assert build_all(with_token("two"), ROOTS, None, cache_dir=cache) == []
    assert builds(built) == []
    for entry in cache.iterdir():
        assert b"one" not in entry.read_bytes() and b"two" not in entry.read_bytes()


def test_on_disk_a_base_outside_the_validated_files_is_built_every_time(
    built: Path, tmp_path: Path
) -> None:
    """`clustergen validate` reads kubernetes/ and bootstrap/; a base elsewhere on disk is
    read by kustomize but not by the key, so the root is never taken from the cache."""
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    on_disk = {
        "kubernetes/apps/c/kustomization.yaml": b"resources: [../../../other/base]\n",
        "other/base/kustomization.yaml": b"resources: [cm.yaml]\n",
        "other/base/cm.yaml": TREE["kubernetes/apps/a/cm.yaml"],
    }
    for path, content in on_disk.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(content)
    files = {p: c for p, c in on_disk.items() if p.startswith("kubernetes/")}
    for _ in range(2):
        assert build_all(files, ["kubernetes/apps/c"], repo, cache_dir=cache) == []
    assert len(builds(built)) == 2


def test_old_entries_go_once_the_cache_is_large(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    old = [cache / f"old-{i}" for i in range(3)]
    for entry in old:
        entry.touch()
        os.utime(entry, (1_000_000_000, 1_000_000_000))  # 2001
    (cache / "recent").touch()
    monkeypatch.setattr(kubectl, "PRUNE_ABOVE", 3)
    assert build_all(TREE, ROOTS, None, cache_dir=cache) == []
    left = sorted(p.name for p in cache.iterdir())
    assert "recent" in left and not [name for name in left if name.startswith("old-")]
    assert len(left) == 3  # recent + the two new builds


def test_the_copy_goes_to_the_users_runtime_dir_and_falls_back_when_it_fails(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree kubectl reads is copied into $XDG_RUNTIME_DIR (RAM on most systems); a
    copy that fails there (full, refused) is made in the usual temporary directory."""
    runtime, default = tmp_path / "runtime", tmp_path / "default"
    runtime.mkdir(mode=0o700)
    default.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(kubectl.tempfile, "tempdir", str(default))
    no_cache = tmp_path / "not-a-directory"
    no_cache.touch()
    written: list[Path] = []
    original = kubectl.materialize
    full = False

    def copy(files: dict[str, bytes], target: Path) -> None:
        written.append(target.parent)
        if full and target.is_relative_to(runtime):
            raise OSError(28, "No space left on device")
        original(files, target)

    monkeypatch.setattr(kubectl, "materialize", copy)
    assert build_all(TREE, ROOTS, None, cache_dir=no_cache) == []
    assert written == [runtime, runtime]  # the copy, then the kustomization listing the roots
    full = True
    written.clear()
    broken = {**TREE, "kubernetes/apps/b/kustomization.yaml": b"resources: [missing.yaml]\n"}
    findings = build_all(broken, ROOTS, None, cache_dir=no_cache)
    assert [f.path for f in findings] == ["kubernetes/apps/b/kustomization.yaml"]
    assert written == [runtime, default, runtime, default]
    assert list(runtime.iterdir()) == []  # the failed copies are gone


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of this user's (mode 0700, as $XDG_RUNTIME_DIR is) with no room left for
    a file's data; directories can still be made in it. Mounting needs root."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "runtime"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_runtime_dir_means_building_from_the_usual_temporary_directory(
    built: Path, full_tmpfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both the copy of the tree and the kustomization listing the roots fall back when
    the RAM directory is full (ENOSPC), and nothing is left in it."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(full_tmpfs))
    assert kubectl._in_memory() == str(full_tmpfs)
    assert build_all(TREE, ROOTS, None, cache_dir=tmp_path / "cache") == []
    assert builds(built) == [f"together:{ROOTS[0]},{ROOTS[1]},"]
    assert [p.name for p in full_tmpfs.iterdir()] == ["filler"]


def test_a_runtime_dir_others_may_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$XDG_RUNTIME_DIR must be the user's alone (XDG Base Directory spec); another one
    means /dev/shm or the usual temporary directory."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert kubectl._in_memory() == str(runtime)
    runtime.chmod(0o770)
    assert kubectl._in_memory() != str(runtime)
    runtime.chmod(0o702)
    assert kubectl._in_memory() != str(runtime)
    runtime.chmod(0o700)
    if os.geteuid() == 0:  # only root can give a directory away
        os.chown(runtime, 65534, 65534)
        assert kubectl._in_memory() != str(runtime)


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="no writable /dev/shm")
def test_the_copy_in_dev_shm_is_this_users_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """/dev/shm is world-writable (sticky): the directory made in it is 0700."""
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert kubectl._in_memory() == "/dev/shm"
    copy = kubectl._copy_of(TREE)
    try:
        where = Path(copy.name)
        assert where.parent == Path("/dev/shm")
        assert stat.S_IMODE(where.stat().st_mode) == 0o700
        assert (where / ROOTS[0] / "cm.yaml").read_bytes() == TREE[f"{ROOTS[0]}/cm.yaml"]
    finally:
        copy.cleanup()


def test_a_document_beside_the_manifests_is_no_input_unless_named(
    built: Path, tmp_path: Path
) -> None:
    """The documents (*.md) render last; kustomize reads a file only when a kustomization
    names it, so a README beside the manifests does not make a build ahead of it stale."""
    cache = tmp_path / "cache"
    build_all(TREE, ROOTS, None, cache_dir=cache)
    builds(built)
    with_readme = {**TREE, "kubernetes/apps/a/README.md": b"# a\n"}
    assert build_all(with_readme, ROOTS, None, cache_dir=cache) == []
    assert builds(built) == []
    named = {
        **with_readme,
        "kubernetes/apps/b/kustomization.yaml": b"resources: [cm.yaml]\n"
        b"configMapGenerator: [{name: docs, files: [README.md]}]\n",
        "kubernetes/apps/b/README.md": b"# b\n",
    }
    assert build_all(named, ROOTS, None, cache_dir=cache) == []
    assert builds(built) == ["kubernetes/apps/b"]
    named["kubernetes/apps/b/README.md"] = b"# b, edited\n"
    assert build_all(named, ROOTS, None, cache_dir=cache) == []
    assert builds(built) == ["kubernetes/apps/b"]


def test_a_document_a_generator_names_as_key_equals_path_is_an_input(
    built: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    named = {
        **TREE,
        "kubernetes/apps/b/kustomization.yaml": b"resources: [cm.yaml]\n"
        b"configMapGenerator: [{name: docs, files: [notes=NOTES.md]}]\n",
        "kubernetes/apps/b/NOTES.md": b"# b\n",
    }
    assert build_all(named, ROOTS, None, cache_dir=cache) == []
    builds(built)
    del named["kubernetes/apps/b/NOTES.md"]  # the build now fails: not a cached success
    findings = build_all(named, ROOTS, None, cache_dir=cache)
    assert [f.path for f in findings] == ["kubernetes/apps/b/kustomization.yaml"]
