"""Which documents a ciphertext holds, as keyed digests in the user cache."""

from __future__ import annotations

from pathlib import Path

from generator.secrets.known_documents import KnownDocuments, documents_digest

KEY = b"k" * 32
PATH = "kubernetes/apps/x/secret.sops.yaml"
SECRET = b"apiVersion: v1\nkind: Secret\nstringData:\n  token: abc\n"


def test_equal_documents_have_one_digest_and_others_another() -> None:
    digest = documents_digest(KEY, PATH, SECRET)
    assert digest is not None and b"abc" not in digest.encode()
    restyled = b"# same documents\n---\nkind: Secret\napiVersion: 'v1'\nstringData: {token: abc}\n"
    assert documents_digest(KEY, PATH, restyled) == digest
    assert documents_digest(KEY, PATH, SECRET.replace(b"abc", b"abd")) != digest
    assert documents_digest(b"o" * 32, PATH, SECRET) != digest  # keyed
    assert documents_digest(KEY, "other.sops.yaml", SECRET) != digest  # bound to the path


def test_only_plain_string_documents_get_a_digest() -> None:
    # 1 == 1.0 == True in Python: such documents compare equal in other JSON, so only
    # decrypting can tell; likewise text that is not YAML, and dotenv files.
    assert documents_digest(KEY, PATH, b"a: 1\n") is None
    assert documents_digest(KEY, PATH, b"a: [true]\n") is None
    assert documents_digest(KEY, PATH, b"a: [unclosed\n") is None
    assert documents_digest(KEY, "x.sops.env", b"A=b\n") is None
    assert documents_digest(KEY, PATH, b"a: ~\nb: ['x', {c: d}]\n") is not None


def test_the_record_answers_only_for_ciphertext_it_knows(tmp_path: Path) -> None:
    record = KnownDocuments(KEY, tmp_path)
    record.add(PATH, b"ciphertext-1", SECRET)
    record.save()
    again = KnownDocuments(KEY, tmp_path)
    assert again.differ(PATH, b"ciphertext-1", SECRET.replace(b"abc", b"new"))
    assert not again.differ(PATH, b"ciphertext-1", SECRET)
    assert not again.differ(PATH, b"ciphertext-2", b"anything: else\n")
    assert not again.differ(PATH, b"ciphertext-1", b"a: 1\n")  # no digest: decrypt decides
    # Another key reads another record.
    assert not KnownDocuments(b"o" * 32, tmp_path).differ(PATH, b"ciphertext-1", b"a: b\n")
