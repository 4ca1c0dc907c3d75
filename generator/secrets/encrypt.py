"""Encrypt the secrets of a rendered tree, keeping ciphertext whose plaintext did not change.

sops output is randomised (fresh data key and IVs), so re-encrypting an
unchanged secret would churn git history. An existing file that the local key
decrypts to the same documents keeps its exact bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

import yaml

from generator.errors import SecretsError
from generator.secrets.files import SOPS_CONFIG, is_secret_path
from generator.secrets.metadata import (
    CreationRule,
    is_current,
    is_dotenv,
    load_documents,
    parse_rules,
    read_metadata,
    rule_for,
)
from generator.secrets.sops import MissingKey, Sops


def encrypt_tree(
    files: Mapping[str, bytes], workdir: Path, sops: Sops, workers: int = 4
) -> dict[str, bytes]:
    """The tree with every `*.sops.*` file encrypted; all or nothing (SecretsError)."""
    secrets = sorted(path for path in files if is_secret_path(path))
    if not secrets:
        return dict(files)
    rules_bytes = _rules_bytes(files, sops)
    rules = parse_rules(rules_bytes)
    out = dict(files)
    # sops reads creation rules only from a file; they hold no secrets, so a temp copy is fine.
    rules_dir = Path(tempfile.mkdtemp(prefix="clustergen-sops-"))
    try:
        (rules_dir / SOPS_CONFIG).write_bytes(rules_bytes)
        configured = sops.with_config(rules_dir / SOPS_CONFIG)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {
                path: pool.submit(
                    _encrypt_one, path, files[path], workdir, configured, rule_for(rules, path)
                )
                for path in secrets
            }
            _, pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
            if pending:  # something failed: start nothing new
                for fut in pending:
                    fut.cancel()
    finally:
        # Leaving the pool's block waited for running sops calls; only then remove the rules.
        shutil.rmtree(rules_dir, ignore_errors=True)
    failed = [p for p, fut in futures.items() if not fut.cancelled() and fut.exception()]
    if failed:
        raise _failure(failed, futures)
    for path, fut in futures.items():
        out[path] = fut.result()
    return out


def _rules_bytes(files: Mapping[str, bytes], sops: Sops) -> bytes:
    if SOPS_CONFIG in files:
        return files[SOPS_CONFIG]
    if sops.config is not None and sops.config.is_file():
        return sops.config.read_bytes()
    raise SecretsError(
        "the rendered tree has *.sops.* files but no .sops.yaml with creation rules; "
        "this is a template bug, please report it"
    )


def _failure(failed: list[str], futures: Mapping[str, Future[bytes]]) -> SecretsError:
    first = futures[failed[0]].exception()
    more = f" ({len(failed) - 1} more failed)" if len(failed) > 1 else ""
    return SecretsError(f"{first}{more}; nothing was written")


def _encrypt_one(
    path: str, plaintext: bytes, workdir: Path, sops: Sops, rule: CreationRule | None
) -> bytes:
    if rule is None:
        raise SecretsError(f"cannot encrypt {path}: no creation rule in .sops.yaml matches it")
    existing = _read_existing(workdir / path)
    if existing is not None and is_current(read_metadata(existing, path), rule):
        try:
            old_plaintext = sops.decrypt(existing, path)
        except MissingKey:
            raise
        except SecretsError:
            # Encrypted for a key we no longer hold (e.g. after rotation): make it anew.
            old_plaintext = None
        if old_plaintext is not None and same_content(old_plaintext, plaintext, path):
            return existing
    return sops.encrypt(plaintext, path)


def _read_existing(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def same_content(old: bytes, new: bytes, filename: str) -> bool:
    """Equal as parsed documents for YAML/JSON (sops re-formats them), else as bytes."""
    if old == new:
        return True
    if is_dotenv(filename):
        return old.strip() == new.strip()
    try:
        return load_documents(old) == load_documents(new)
    except yaml.YAMLError:
        return False
