"""What the ciphertexts clustergen wrote hold, as keyed digests of their documents.

A secret whose plaintext bytes changed is decrypted and compared by documents
(encrypt.same_content) before new ciphertext is made, so that a reformatting keeps
the exact ciphertext. When the documents behind a file's exact bytes are known to
differ from the new ones, that sops run decides nothing: it is skipped.

The record lives in the user cache (`user_cache_root()/secret-documents/`), one
file per age key: {sha256 of a ciphertext: HMAC of its documents}. The HMAC is
keyed like the fingerprints (fingerprint.py), so a short token cannot be guessed
from it; a digest exists only for documents of strings, mappings and lists, where
equal documents and equal canonical JSON are the same thing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import yaml

from generator.secrets.metadata import is_dotenv, load_documents
from generator.usercache import JsonRecord

_LABEL = b"clustergen-secret-documents\0"
_MAX_ENTRIES = 1024


def documents_digest(key: bytes, path: str, plaintext: bytes) -> str | None:
    """HMAC of the documents of `plaintext`; None when they are not plain strings,
    mappings and lists (or not YAML/JSON at all): then only decrypting can compare."""
    if is_dotenv(path):
        return None
    try:
        documents = load_documents(plaintext)
    except yaml.YAMLError:
        return None
    if not _strings_only(documents):
        return None
    canonical = json.dumps(documents, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    message = _LABEL + path.encode() + b"\0" + canonical.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _strings_only(node: Any) -> bool:
    if isinstance(node, dict):
        return all(isinstance(k, str) and _strings_only(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_strings_only(v) for v in node)
    return node is None or isinstance(node, str)


class KnownDocuments:
    """The record for one age key: read on first use, written by `save` when added to."""

    def __init__(self, key: bytes, directory: Path | None = None) -> None:
        self._key = key
        name = f"{hashlib.sha256(_LABEL + key).hexdigest()[:32]}.json"
        self._record = JsonRecord(
            "secret-documents",
            name,
            lambda value: value if isinstance(value, str) else None,
            directory=directory,
            keep=_MAX_ENTRIES,
        )

    def differ(self, path: str, ciphertext: bytes, plaintext: bytes) -> bool:
        """Whether `ciphertext` is known to hold other documents than `plaintext`."""
        recorded = self._record.get(hashlib.sha256(ciphertext).hexdigest())
        if recorded is None:
            return False
        digest = documents_digest(self._key, path, plaintext)
        return digest is not None and not hmac.compare_digest(digest, recorded)

    def add(self, path: str, ciphertext: bytes, plaintext: bytes) -> None:
        """Remember that `ciphertext` holds the documents of `plaintext`."""
        digest = documents_digest(self._key, path, plaintext)
        if digest is not None:
            self._record.set(hashlib.sha256(ciphertext).hexdigest(), digest)

    def save(self) -> None:
        """Write what `add` added (best effort: without a cache, only time is lost)."""
        self._record.save()
