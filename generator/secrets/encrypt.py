"""Encrypt the secrets of a rendered tree, keeping ciphertext whose plaintext did not change.

sops output is randomised (fresh data key and IVs), so re-encrypting an
unchanged secret would churn git history. An existing file that the local key
decrypts to the same documents keeps its exact bytes.

Proving "unchanged" by decrypting costs a sops run per secret. When the file
on disk is byte for byte what we last wrote (its sha256 is in the ownership
manifest) and the plaintext's keyed fingerprint matches the one recorded then
(see fingerprint.py), it is unchanged without running sops at all.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import yaml

from generator.errors import SecretsError
from generator.secrets.files import SOPS_CONFIG, is_secret_path
from generator.secrets.fingerprint import (
    Vouched,
    Written,
    keyed_config_digest,
    secret_fingerprints,
)
from generator.secrets.known_documents import KnownDocuments
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
    files: Mapping[str, bytes],
    workdir: Path,
    sops: Sops,
    workers: int = 4,
    *,
    written: Written | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> dict[str, bytes]:
    """The tree with every `*.sops.*` file encrypted; all or nothing (SecretsError).

    `written` (from the ownership manifest) lets unchanged secrets skip sops.
    `meanwhile` is called in this thread while sops processes run, and only when
    some do: work (e.g. imports) that would otherwise wait for them.
    """
    with EncryptionInFlight(workdir, sops, written=written, workers=workers) as flight:
        return flight.collect(files, meanwhile=meanwhile)


@dataclass(frozen=True)
class _Decision:
    """What one secret came to for its plaintext under creation rules (`.sops.yaml`'s
    bytes): its existing ciphertext, kept without sops, or the sops run making new."""

    plaintext: bytes
    rules: bytes
    outcome: bytes | Future[bytes]

    def holds_for(self, plaintext: bytes, rules: bytes) -> bool:
        return plaintext == self.plaintext and rules == self.rules


class EncryptionInFlight:
    """encrypt_tree, begun while the tree still renders: sops runs (a Go process each)
    on the other core while Python renders the rest.

    Give `rendered` to render_tree as its `on_rendered`: once `.sops.yaml` has rendered,
    each secret (`*.sops.*`) that renders after it is decided at once (kept without sops,
    as encrypt_tree decides) and, when it needs sops, its run starts in a pool of
    `workers` threads. Then `collect(final files)` returns exactly what
    `encrypt_tree(final files, …)` returns: an early decision counts only for the same
    path, byte-identical plaintext and byte-identical creation rules (a merge patch can
    change either after its first render); any other secret is decided then. A failed
    early decision (SecretsError, OSError) is left to `collect`, which raises it as
    encrypt_tree does.

    Use it as a context manager: leaving it, however, cancels runs not yet started, waits
    for those running (no sops process outlives it) and removes the temporary creation
    rules; it writes nothing else, and plaintext goes to sops on stdin only.
    """

    def __init__(
        self, workdir: Path, sops: Sops, *, written: Written | None = None, workers: int = 4
    ) -> None:
        self._workdir, self._sops, self._workers = workdir, sops, max(1, workers)
        key = sops.fingerprint_key if written is not None else None
        self._known = Vouched(key, written) if key is not None and written is not None else None
        self._documents = KnownDocuments(key) if key is not None else None
        # The rendered .sops.yaml (bytes, parsed) once it has rendered and parses.
        self._rules: tuple[bytes, list[CreationRule]] | None = None
        self._early: dict[str, _Decision] = {}
        self._configured: dict[bytes, Sops] = {}  # creation rules → sops reading a copy
        self._rules_dirs: list[Path] = []
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> EncryptionInFlight:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rendered(self, path: str, content: bytes) -> None:
        """render_tree's per-file callback (render.tree.FileRendered), called in the
        rendering thread: `path` in the tree, `content` as first rendered."""
        if path == SOPS_CONFIG:
            try:
                self._rules = (content, parse_rules(content))
            except SecretsError:
                self._rules = None  # collect raises it, if the final rules are these
            return
        if self._rules is None or not is_secret_path(path):
            return
        # Should it fail, collect decides again, and raises what encrypt_tree raises.
        with contextlib.suppress(SecretsError, OSError):
            self._early[path] = self._decide(path, content, *self._rules)

    def collect(
        self, files: Mapping[str, bytes], *, meanwhile: Callable[[], object] | None = None
    ) -> dict[str, bytes]:
        """`files` (the final render) with every `*.sops.*` file encrypted, as encrypt_tree
        documents it; call once, after the render. SecretsError ("…; nothing was written")
        when any secret fails."""
        out = dict(files)
        futures: dict[str, Future[bytes]] = {}
        try:
            secrets = sorted(path for path in files if is_secret_path(path))
            if not secrets:
                return out
            rules_bytes = _rules_bytes(files, self._sops)
            rules = parse_rules(rules_bytes)
            for path in secrets:
                early = self._early.pop(path, None)
                if early is not None and early.holds_for(files[path], rules_bytes):
                    decision = early
                else:
                    decision = self._decide(path, files[path], rules_bytes, rules)
                if isinstance(decision.outcome, bytes):
                    out[path] = decision.outcome
                else:
                    futures[path] = decision.outcome
            if futures:
                if meanwhile is not None:
                    meanwhile()
                _, pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
                for fut in pending:  # something failed: start nothing new
                    fut.cancel()
        finally:
            # Early runs whose plaintext changed since are cancelled, or waited for.
            self.close()
        failed = [p for p, fut in futures.items() if not fut.cancelled() and fut.exception()]
        if failed:
            raise _failure(failed, futures)
        for path, fut in futures.items():
            out[path] = fut.result()
            if self._documents is not None:
                self._documents.add(path, out[path], files[path])
        if self._documents is not None:
            self._documents.save()
        return out

    def close(self) -> None:
        """Cancel the sops runs not started, wait for the running ones, then remove the
        temporary creation rules. Idempotent."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        # Only once no sops call runs: they read the rules.
        for rules_dir in self._rules_dirs:
            shutil.rmtree(rules_dir, ignore_errors=True)
        self._rules_dirs.clear()
        self._configured.clear()

    def _decide(
        self, path: str, plaintext: bytes, rules_bytes: bytes, rules: list[CreationRule]
    ) -> _Decision:
        rule = rule_for(rules, path)
        known = self._known
        kept = _kept_without_sops(path, plaintext, self._workdir, rule, known)
        if kept is not None:
            return _Decision(plaintext, rules_bytes, kept)
        likely_changed = different = False
        existing = _read_existing(self._workdir / path) if known is not None else None
        if known and existing is not None and known.plaintext_changed(path, existing, plaintext):
            likely_changed = True
            # Known to hold other documents: decrypting to compare would decide nothing.
            different = self._documents is not None and self._documents.differ(
                path, existing, plaintext
            )
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers)
        future = self._pool.submit(
            _encrypt_one,
            path,
            plaintext,
            self._workdir,
            self._configured_with(rules_bytes),
            rule,
            speculate=likely_changed,
            known_different=different,
        )
        return _Decision(plaintext, rules_bytes, future)

    def _configured_with(self, rules_bytes: bytes) -> Sops:
        """sops reading these creation rules: it reads them only from a file; they hold
        no secrets, so a temporary copy is fine (removed by `close`)."""
        if rules_bytes not in self._configured:
            rules_dir = Path(tempfile.mkdtemp(prefix="clustergen-sops-"))
            self._rules_dirs.append(rules_dir)
            (rules_dir / SOPS_CONFIG).write_bytes(rules_bytes)
            self._configured[rules_bytes] = self._sops.with_config(rules_dir / SOPS_CONFIG)
        return self._configured[rules_bytes]


def fingerprints_for(files: Mapping[str, bytes], sops: Sops) -> dict[str, str]:
    """Fingerprints of the tree's secret plaintexts, to record in the ownership manifest."""
    return secret_fingerprints(files, sops.fingerprint_key)


def config_digest_for(digest: str, sops: Sops) -> str:
    """The config digest to record in the committed manifest (keyed, see fingerprint.py)."""
    return keyed_config_digest(digest, sops.fingerprint_key)


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


def _kept_without_sops(
    path: str, plaintext: bytes, workdir: Path, rule: CreationRule | None, known: Vouched | None
) -> bytes | None:
    """The existing ciphertext when it is provably current and for this plaintext; else None."""
    if known is None or rule is None:
        return None
    existing = _read_existing(workdir / path)
    if existing is None or not known.unchanged(path, existing, plaintext):
        return None
    # Recipients or encrypted_regex changed since: it must be made anew.
    return existing if is_current(read_metadata(existing, path), rule) else None


def _encrypt_one(
    path: str,
    plaintext: bytes,
    workdir: Path,
    sops: Sops,
    rule: CreationRule | None,
    *,
    speculate: bool = False,
    known_different: bool = False,
) -> bytes:
    """`speculate`: the plaintext is known to differ byte-wise from what the file holds,
    so it most likely needs new ciphertext: encrypt while the decrypt that decides runs
    (two sops processes at once instead of one after the other). `known_different`: the
    file is known to hold other documents (known_documents.py): encrypt, without that
    decrypt."""
    if rule is None:
        raise SecretsError(f"cannot encrypt {path}: no creation rule in .sops.yaml matches it")
    existing = _read_existing(workdir / path)
    if known_different or existing is None or not is_current(read_metadata(existing, path), rule):
        return sops.encrypt(plaintext, path)
    # Leaving the block waits for the speculative sops run, whatever happens here.
    with ThreadPoolExecutor(max_workers=1) as spare:
        fresh = spare.submit(sops.encrypt, plaintext, path) if speculate else None
        try:
            old_plaintext = sops.decrypt(existing, path)
        except MissingKey:
            raise
        except SecretsError:
            # Encrypted for a key we no longer hold (e.g. after rotation): make it anew.
            old_plaintext = None
        if old_plaintext is not None and same_content(old_plaintext, plaintext, path):
            # Same documents in other bytes (e.g. formatting): the exact ciphertext stays.
            return existing
        return fresh.result() if fresh is not None else sops.encrypt(plaintext, path)


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
