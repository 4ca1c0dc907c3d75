"""YAML parses kept between runs: what the bundle answers is exactly a fresh parse, a
bundle that is torn, foreign or not this user's alone is ignored, and no secret's
plaintext is ever written to it."""

from __future__ import annotations

import hashlib
import marshal
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.secrets.sops import Sops
from generator.usercache import pack_bundle, unpack_bundle
from generator.validate import parse_cache, validate_tree
from generator.validate.documents import Doc, parse_documents, parse_tree
from generator.validate.parse_cache import BUNDLE, ParseCache, header
from generator.validate.schemas import SchemaStore
from tests.validate.conftest import Decrypt, Tree

# Every kind of value PyYAML's safe constructor makes but a datetime and a set, keys in no sorted
# order, non-string keys, an alias and a merge key; an empty document; a document list.
TRICKY = b"""\
# a comment before the first document
---
zeta: 1
alpha: 1.0
yes_word: yes
octal: 017
hex: 0x1F
big: 123456789012345678901234567890
exp: 1e3
neg_zero: -0.0
inf: .inf
nan: .nan
none: ~
empty:
bin: !!binary aGVsbG8=
omap: !!omap [{y: 1}, {x: 2}]
true: bool key
2: int key
~: null key
3.5: float key
base: &base {b: 2, a: 1}
copy: *base
merged: {<<: *base, c: 3}
text: "h\\u00e9llo \\u2713 \\U0001F600"
block: |
  line 1
  line 2
---
---
- second
- [document, 1, false]
"""
BROKEN = b"first: ok\n---\nsecond: [1, 2\n"
CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: visible-value\n"
MARKER = "pc-marker-7f3a9c"


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types, key order and float sign throughout."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            _same(ka, kb) and _same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def _same_docs(fresh: list[Doc], cached: list[Doc]) -> bool:
    return len(fresh) == len(cached) and all(
        (f.path, f.line, f.index, f.text, f.meta) == (c.path, c.line, c.index, c.text, c.meta)
        and _same(f.data, c.data)
        for f, c in zip(fresh, cached, strict=True)
    )


def _cache_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "parses"
    directory.mkdir(mode=0o700)
    return directory


def _entries(directory: Path) -> dict[str, bytes]:
    return unpack_bundle(header(), (directory / BUNDLE).read_bytes())


def _key(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_a_kept_parse_is_a_fresh_parse_exactly(tmp_path: Path) -> None:
    directory = _cache_dir(tmp_path)
    fresh = parse_documents("a/x.yaml", TRICKY)
    first = ParseCache(directory)
    assert _same_docs(fresh[0], first.parse("a/x.yaml", TRICKY)[0])
    assert not (directory / BUNDLE).exists(), "written by save, once"
    first.save()
    assert list(_entries(directory)) == [_key(TRICKY)]
    written = (directory / BUNDLE).stat()

    later = ParseCache(directory)
    docs, findings = later.parse("b/y.yaml", TRICKY)  # another path, the same bytes
    assert findings == fresh[1] == []
    assert _same_docs(parse_documents("b/y.yaml", TRICKY)[0], docs)
    assert [d.index for d in docs] == [0, 1] and docs[1].line == TRICKY.splitlines().index(
        b"- second"
    ) + 1
    # An alias is one object, as PyYAML composes it.
    assert docs[0].data["copy"] is docs[0].data["base"]
    later.save()
    now = (directory / BUNDLE).stat()
    assert (now.st_ino, now.st_mtime_ns) == (written.st_ino, written.st_mtime_ns), "all hits"


def test_what_the_bundle_holds_is_what_comes_back(tmp_path: Path) -> None:
    directory = _cache_dir(tmp_path)
    _plant(directory)
    assert ParseCache(directory).parse("x.yaml", CONFIG_MAP)[0][0].data == {"from": "the cache"}


def _plant(directory: Path, head: bytes | None = None) -> bytes:
    """A bundle whose entry for CONFIG_MAP says something else: what answers shows."""
    entry = marshal.dumps(([(1, {"from": "the cache"}, 0, 4)], None))
    data = pack_bundle(header() if head is None else head, {_key(CONFIG_MAP): entry})
    (directory / BUNDLE).write_bytes(data)
    return data


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda data: data[:-7], id="torn"),
        pytest.param(lambda data: data[:-3] + bytes([data[-3] ^ 1]) + data[-2:], id="modified"),
        pytest.param(lambda data: b"x" + data[1:], id="foreign"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_a_spoilt_bundle_is_ignored_and_rewritten(
    tmp_path: Path, spoil: Callable[[bytes], bytes]
) -> None:
    directory = _cache_dir(tmp_path)
    (directory / BUNDLE).write_bytes(spoil(_plant(directory)))
    cache = ParseCache(directory)
    assert cache.parse("x.yaml", CONFIG_MAP)[0][0].data["data"] == {"k": "visible-value"}
    cache.save()
    assert list(_entries(directory)) == [_key(CONFIG_MAP)]


def test_a_bundle_of_another_version_or_shape_is_parsed_again(tmp_path: Path) -> None:
    directory = _cache_dir(tmp_path)
    older = parse_cache.FORMAT.replace("-1", "-0")
    _plant(directory, header().replace(parse_cache.FORMAT.encode(), older.encode()))
    assert ParseCache(directory).parse("x.yaml", CONFIG_MAP)[0][0].data["kind"] == "ConfigMap"
    for shape in ("junk", ([(1, {}, 0)], None), ([], ("problem", "7"))):
        entry = marshal.dumps(shape)
        (directory / BUNDLE).write_bytes(pack_bundle(header(), {_key(CONFIG_MAP): entry}))
        assert ParseCache(directory).parse("x.yaml", CONFIG_MAP)[0][0].data["kind"] == "ConfigMap"


def test_a_directory_others_can_write_is_neither_read_nor_written(tmp_path: Path) -> None:
    directory = _cache_dir(tmp_path)
    planted = _plant(directory)
    directory.chmod(0o777)
    cache = ParseCache(directory)
    assert cache.parse("x.yaml", CONFIG_MAP)[0][0].data["kind"] == "ConfigMap"
    cache.save()
    assert (directory / BUNDLE).read_bytes() == planted


def test_a_yaml_error_is_reported_the_same_from_the_bundle(tmp_path: Path) -> None:
    directory = _cache_dir(tmp_path)
    files = {"a/broken.yaml": BROKEN, "a/ok.yaml": CONFIG_MAP, "a/bad.yaml": b"\xff: x\n"}
    fresh_docs, fresh_findings = parse_tree(files)
    assert [f.path for f in fresh_findings] == ["a/bad.yaml", "a/broken.yaml"]
    for _ in range(2):  # parsed and kept, then answered from the bundle
        cache = ParseCache(directory)
        docs, findings = parse_tree(files, cache.parse)
        cache.save()
        assert findings == fresh_findings
        assert all(_same_docs(fresh_docs[p], docs[p]) for p in files)
    # The error is kept with the document before it; a file that is not UTF-8 is not.
    assert set(_entries(directory)) == {_key(BROKEN), _key(CONFIG_MAP)}


@pytest.mark.parametrize(
    "content",
    [b"when: 2024-01-02\n", b"a:\n  - !!set {b, a, c}\n", b"b: !!%73et {x}\n"],
    ids=["date", "set", "escaped set tag"],
)
def test_what_marshal_cannot_write_back_exactly_is_not_kept(tmp_path: Path, content: bytes) -> None:
    directory = _cache_dir(tmp_path)
    cache = ParseCache(directory)
    fresh = parse_documents("x.yaml", content)[0][0].data
    assert cache.parse("x.yaml", content)[0][0].data == fresh
    cache.save()
    assert not (directory / BUNDLE).exists()


def test_the_newest_entries_are_kept_those_used_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parse_cache, "MAX_ENTRIES", 3)
    directory = _cache_dir(tmp_path)
    contents = [f"n: {i}\n".encode() for i in range(5)]
    cache = ParseCache(directory)
    parse_tree({f"{i}.yaml": c for i, c in enumerate(contents)}, cache.parse)
    cache.save()
    assert list(_entries(directory)) == [_key(c) for c in contents[2:]]
    cache = ParseCache(directory)
    parse_tree({"a.yaml": contents[0], "b.yaml": contents[3]}, cache.parse)
    cache.save()
    assert list(_entries(directory)) == [_key(c) for c in (contents[4], contents[0], contents[3])]


def test_no_secret_file_or_secret_object_is_kept(tmp_path: Path) -> None:
    directory = _cache_dir(tmp_path)
    secret = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: {MARKER}\n"
    listed = f"apiVersion: v1\nkind: List\nitems:\n  - kind: Secret\n    data: {{k: {MARKER}}}\n"
    # An in-memory render's secret files are plaintext; a user may write a plain Secret.
    files = {
        "kubernetes/a/secret.sops.yaml": secret.encode(),
        "kubernetes/a/secret.yaml": secret.replace("name: s", "name: t").encode(),
        "kubernetes/a/list.yaml": listed.encode(),
        "kubernetes/a/configmap.yaml": CONFIG_MAP,
        "talos/talsecret.sops.yaml": f"cluster:\n  secret: {MARKER}\n".encode(),
    }
    for _ in range(2):
        cache = ParseCache(directory)
        docs, _ = parse_tree(files, cache.parse)
        cache.save()
        assert docs["kubernetes/a/secret.yaml"][0].get("stringData", "k") == MARKER
    data = (directory / BUNDLE).read_bytes()
    assert b"visible-value" in data and MARKER.encode() not in data


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plaintext render"])
def test_validation_keeps_no_decrypted_or_substituted_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_tree: Tree,
    sops: Sops,
    decrypt: Decrypt,
    encrypted: bool,
) -> None:
    # cluster-secrets holds the domain every gateway and route substitutes: its value
    # is decrypted, substituted into their text and that text parsed again.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = "kubernetes/components/common/cluster-secrets.sops.yaml"
    plain = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n"
        f"stringData:\n  SECRET_DOMAIN: {MARKER}.example.com\n"
    ).encode()
    clean_tree[path] = sops.encrypt(plain, path) if encrypted else plain
    seen: list[bytes] = []

    def recording(secret: str, data: bytes) -> bytes | None:
        out = decrypt(secret, data)
        seen.append(out or b"")
        return out

    validate_tree(
        clean_tree,
        store=SchemaStore([]),
        decrypt=recording if encrypted else None,
        kubectl=False,
        secrets_encrypted=encrypted,
    )
    assert not encrypted or any(MARKER.encode() in out for out in seen), "it was decrypted"
    bundle = tmp_path / "xdg" / "clustergen" / "yaml-parses" / BUNDLE
    assert b"flux-webhook.${SECRET_DOMAIN}" in bundle.read_bytes()
    for kept in (tmp_path / "xdg").rglob("*"):
        assert not kept.is_file() or MARKER.encode() not in kept.read_bytes(), kept
