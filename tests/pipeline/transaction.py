"""A repository that switches between the sample and the all-features config, and checks
that disk, manifest and ciphertext agree: for the interrupted/failing-write loops."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from generator.init_dir import init_workdir
from generator.pipeline import configure, render_in_memory
from generator.secrets.encrypt import same_content
from generator.secrets.files import is_secret_path
from generator.secrets.fingerprint import key_from_file
from generator.secrets.sops import Sops
from generator.write.manifest import load_manifest, sha256_hex
from generator.write.ownership import output_scope, trusted
from tests import documents
from tests.fakes import TUNNEL_ACCOUNT, TUNNEL_ID, TUNNEL_SECRET
from tests.pipeline.conftest import tree_files
from tests.process import clean_env, clustergen_in_process
from tests.workdirs import configured_copy

FIXTURE = Path(__file__).parents[1] / "config" / "fixtures" / "valid" / "all-features.yaml"
# In both configs; must never reach the disk outside cluster.yaml in plaintext.
TOKEN = "txn-loop-token-Qm4vX9kL2"
TUNNEL = {"AccountTag": TUNNEL_ACCOUNT, "TunnelSecret": TUNNEL_SECRET, "TunnelID": TUNNEL_ID}
USER_FILES = {"cluster.yaml", "age.key", "webhook.token", "cloudflare-tunnel.json"}


def _with_token(text: str) -> str:
    data = documents.load(text)
    data["dns"]["token"] = TOKEN
    return documents.dump(data, sort_keys=False)


@dataclass
class Repo:
    root: Path
    sample: str  # cluster.yaml text of each config
    all_features: str

    @classmethod
    def create(cls, root: Path) -> Repo:
        """init + the sample configured (in-process, once per test process and copied:
        setup is not what is tested)."""
        configured_copy(root, "transaction-sample", _configured_sample)
        return cls(root, (root / "cluster.yaml").read_text(), _with_token(FIXTURE.read_text()))

    def use(self, config: str) -> None:
        (self.root / "cluster.yaml").write_text(config)

    def start_configure(self, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "generator", "configure", "--no-validate"],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or clean_env(CI="true"),
        )

    def configure(self) -> subprocess.CompletedProcess[str]:
        """`clustergen configure --no-validate` run to its end, in this process (the runs
        that are killed are children: `start_configure`)."""
        return clustergen_in_process(["configure", "--no-validate"], cwd=self.root, env=clean_env())

    def files(self) -> dict[str, bytes]:
        """Every file but the lock (it holds the last writer's PID)."""
        return {rel: _read(path) for rel, path in tree_files(self.root, skip=("lock",))}


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _configured_sample(root: Path) -> None:
    init_workdir(root)
    (root / "cloudflare-tunnel.json").write_text(json.dumps(TUNNEL))
    (root / "cloudflare-tunnel.json").chmod(0o600)  # as cloudflared leaves it: no warning
    (root / "cluster.yaml").write_text(_with_token((root / "cluster.yaml").read_text()))
    configure(root / "cluster.yaml", validate=False)


def assert_no_plaintext(repo: Repo, files: Mapping[str, bytes] | None = None) -> None:
    """The secret value is nowhere but in cluster.yaml; every *.sops.* file is ciphertext.
    `files`: `repo.files()` as the caller just read it (else read here)."""
    for rel, data in (repo.files() if files is None else files).items():
        if rel in USER_FILES:
            continue
        assert TOKEN.encode() not in data, f"plaintext secret in {rel}"
        if is_secret_path(rel):
            assert b"ENC[AES256_GCM," in data and b"sops:" in data, f"{rel} is not ciphertext"


def assert_consistent(repo: Repo) -> dict[str, bytes]:
    """No clustergen temp file or journal; the manifest lists exactly the generated files,
    with their digests and valid seals; every secret decrypts to what the config renders.
    Returns `repo.files()` as checked."""
    files = repo.files()
    leftovers = [
        p for p in files if "/.clustergen-" in f"/{p}" or p.startswith(".clustergen/journal")
    ]
    assert leftovers == []
    key = key_from_file(repo.root / "age.key")
    manifest, dropped = trusted(load_manifest(repo.root), key)
    assert dropped == {}
    scope = output_scope()
    on_disk = {p for p in files if scope.renders(p)}
    assert on_disk == set(manifest.files)
    assert {p: sha256_hex(files[p]) for p in on_disk} == manifest.files
    assert_secrets_match_config(repo, set(manifest.fingerprints))
    assert_no_plaintext(repo, files)
    return files


# The loops check the same few states again and again: a render is a function of the user's
# files, a decryption of the key and the ciphertext, so each is computed once per process.
_renders: dict[tuple[bytes, ...], Mapping[str, bytes]] = {}
_plaintexts: dict[tuple[bytes, str, bytes], bytes] = {}


def _render(repo: Repo) -> Mapping[str, bytes]:
    inputs = tuple(
        (repo.root / name).read_bytes() if (repo.root / name).exists() else b""
        for name in sorted(USER_FILES)
    )
    if inputs not in _renders:
        _renders[inputs] = render_in_memory(repo.root / "cluster.yaml").tree.files
    return _renders[inputs]


def assert_secrets_match_config(repo: Repo, fingerprinted: set[str]) -> None:
    rendered = _render(repo)
    secrets = sorted(p for p in rendered if is_secret_path(p))
    assert secrets and set(secrets) == fingerprinted
    sops = Sops(age_key_file=repo.root / "age.key", config=repo.root / ".sops.yaml")
    age_key = (repo.root / "age.key").read_bytes()

    def decrypt(path: str) -> bytes:
        ciphertext = (repo.root / path).read_bytes()
        known = (age_key, path, ciphertext)
        if known not in _plaintexts:
            _plaintexts[known] = sops.decrypt(ciphertext, path)
        return _plaintexts[known]

    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, plaintext in zip(secrets, pool.map(decrypt, secrets), strict=True):
            assert same_content(plaintext, rendered[path], path), path
