"""Fixture trees for validation: a clean tree with real sops-encrypted secrets.

Secret fixtures are stored as `*.sops.yaml.in` (plaintext, fake values) and
encrypted with the real sops binary and a fresh age key once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyrage
import pytest

from generator.secrets.sops import Sops
from generator.validate import SchemaStore
from tests.shared import CRD_SCHEMAS

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_LOCATION = f"{CRD_SCHEMAS}/{{group}}/{{kind}}_{{version}}.json"

Tree = dict[str, bytes]


@pytest.fixture(scope="session")
def sops(tmp_path_factory: pytest.TempPathFactory) -> Sops:
    """sops with a fresh age key and the fixture's creation rules."""
    workdir = tmp_path_factory.mktemp("sops")
    identity = pyrage.x25519.Identity.generate()
    key = workdir / "age.key"
    key.write_text(f"{identity}\n")
    rules = (FIXTURES / "clean" / ".sops.yaml").read_text()
    config = workdir / ".sops.yaml"
    config.write_text(rules.replace("AGE_PUBLIC_KEY", str(identity.to_public())))
    return Sops(age_key_file=key, config=config)


@pytest.fixture(scope="session")
def decrypt(sops: Sops) -> Callable[[str, bytes], bytes | None]:
    return lambda path, data: sops.decrypt(data, path)


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
    return SCHEMA_LOCATION


@pytest.fixture(scope="session")
def store(schema_location: str) -> SchemaStore:
    """One store for the session: schemas are compiled once."""
    return SchemaStore([schema_location])
