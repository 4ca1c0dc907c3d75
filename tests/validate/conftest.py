"""Fixture trees for validation: a clean tree with real sops-encrypted secrets.

Secret fixtures are stored as `*.sops.yaml.in` (plaintext, fake values) and
encrypted with the real sops binary and a fresh age key once per session.
"""

from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.secrets.sops import Sops
from generator.validate import validate_tree
from generator.validate.documents import Finding
from generator.validate.schemas import SchemaStore
from tests.fakes import sops_with_new_key
from tests.shared import CRD_SCHEMA_LOCATION, CRD_SCHEMAS

FIXTURES = Path(__file__).parent / "fixtures"

Tree = dict[str, bytes]
Decrypt = Callable[[str, bytes], bytes | None]

KUBECTL = shutil.which("kubectl")

ECHO_KS = "kubernetes/apps/default/echo/ks.yaml"
ECHO_APP = "kubernetes/apps/default/echo/app"


def run(tree: Tree, store: SchemaStore, decrypt: Decrypt | None, **kw: object) -> list[Finding]:
    """validate_tree without kubectl unless `kw` says otherwise."""
    options: dict[str, object] = {"kubectl": False, **kw}
    return validate_tree(tree, store=store, decrypt=decrypt, **options)  # type: ignore[arg-type]


def edit(tree: Tree, path: str, old: str, new: str) -> None:
    """Replace the first `old` in `path` of `tree`, which must hold it."""
    text = tree[path].decode()
    assert old in text, f"{old!r} not in {path}"
    tree[path] = text.replace(old, new, 1).encode()


@pytest.fixture(scope="session")
def sops(tmp_path_factory: pytest.TempPathFactory) -> Sops:
    """sops with a fresh age key and the fixture's creation rules."""
    rules = (FIXTURES / "clean" / ".sops.yaml").read_text()
    return sops_with_new_key(tmp_path_factory.mktemp("sops"), rules)


@pytest.fixture(scope="session")
def decrypt(sops: Sops) -> Decrypt:
    """sops' decrypt, each (path, ciphertext) run once a session: the same fixture secrets
    are decrypted by test after test, always to the same plaintext."""
    plaintexts: dict[tuple[str, bytes], bytes] = {}

    def decrypted(path: str, data: bytes) -> bytes:
        if (path, data) not in plaintexts:
            plaintexts[(path, data)] = sops.decrypt(data, path)
        return plaintexts[(path, data)]

    return decrypted


def load_fixture(name: str, sops: Sops) -> Tree:
    root = FIXTURES / name
    tree: Tree = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.endswith(".in"):
            rel = rel.removesuffix(".in")
            tree[rel] = sops.encrypt(path.read_bytes(), rel)
        else:
            tree[rel] = path.read_bytes()
    return tree


@pytest.fixture(scope="session")
def clean_tree_cached(sops: Sops) -> Tree:
    return load_fixture("clean", sops)


@pytest.fixture
def clean_tree(clean_tree_cached: Tree) -> Tree:
    """A fresh copy per test, so a test can inject a fault."""
    return dict(clean_tree_cached)


@pytest.fixture(scope="session")
def schema_location() -> str:
    if not CRD_SCHEMAS.is_dir():
        pytest.skip(f"CRD schemas not found at {CRD_SCHEMAS}")
    return CRD_SCHEMA_LOCATION


@pytest.fixture(scope="session")
def store(schema_location: str) -> SchemaStore:
    """One store for the session: schemas are compiled once."""
    return SchemaStore([schema_location])


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The log of the directories kubectl was asked to build, one per line."""
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH")
    bin_dir, log = tmp_path / "bin", tmp_path / "built.log"
    bin_dir.mkdir()
    wrapper = bin_dir / "kubectl"
    # One line per build: the directory, or "together:" and the directories listed.
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        '  *clustergen-kustomize-all-*) echo "together:$(grep -o "kubernetes/[a-z/]*" '
        f'"$2/kustomization.yaml" | tr "\\n" ,)" >> {log} ;;\n'
        f'  *) echo "$2" >> {log} ;;\n'
        "esac\n"
        f'exec {KUBECTL} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(str(KUBECTL)).parent}")
    log.touch()
    return log


def builds(log: Path) -> list[str]:
    """The builds since the last call: tree directories, or "together:a,b," for one
    build of several."""
    lines = [
        re.sub(r"^.*/clustergen-kustomize-[^/]+/", "", line)
        for line in log.read_text().splitlines()
    ]
    log.write_text("")
    return sorted(lines)
