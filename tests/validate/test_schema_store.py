"""Schema locations: templates, directories, URLs through a cache, offline behaviour."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.validate import schemas
from generator.validate.schema_results import ResultCache
from generator.validate.schemas import (
    SchemaFetchError,
    SchemaLocationError,
    SchemaStore,
    core_schema_dir,
    expand_location,
)

POLICY = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "x"},
    "spec": {"endpointSelector": {}},
}


def test_expand_location_forms() -> None:
    args = ("cilium.io", "CiliumNetworkPolicy", "v2")
    expected = "/s/cilium.io/ciliumnetworkpolicy_v2.json"
    assert expand_location("/s/{group}/{kind}_{version}.json", *args) == expected
    assert expand_location("/s/", *args) == expected
    go_style = "/s/{{ .Group }}/{{ .ResourceKind }}_{{.ResourceAPIVersion}}.json"
    assert expand_location(go_style, *args) == expected


def test_core_kinds_use_the_newest_bundled_kubernetes() -> None:
    store = SchemaStore([])
    assert store.kubernetes_version == core_schema_dir().name.split("-")[0][1:]
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}
    result = store.check(bad)
    assert result.found and any("'selector' is a required property" in m for m, _ in result.errors)
    # A group that only shares its first label with a core group is not core.
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Ingress", "metadata": {}}
    assert not store.check(route).found


def test_url_location_is_cached(tmp_path: Path) -> None:
    calls: list[str] = []
    schema = {"type": "object", "required": ["spec"]}

    def fetch(url: str) -> bytes | None:
        calls.append(url)
        return json.dumps(schema).encode() if "/cilium.io/" in url else None

    location = "https://schemas.example/{group}/{kind}_{version}.json"
    for _ in range(2):
        store = SchemaStore([location], cache_dir=tmp_path, fetch=fetch)
        assert store.check(POLICY).errors == []
        assert not store.check({**POLICY, "apiVersion": "other.io/v1"}).found
    # The second store read the hit from disk; the 404 is asked again.
    assert calls == [
        "https://schemas.example/cilium.io/ciliumnetworkpolicy_v2.json",
        "https://schemas.example/other.io/ciliumnetworkpolicy_v1.json",
        "https://schemas.example/other.io/ciliumnetworkpolicy_v1.json",
    ]


def test_downloads_are_kept_only_in_this_users_own_directory(tmp_path: Path) -> None:
    """A schema file in a directory others may write could make a broken resource pass:
    such a directory is neither read nor written; every run downloads instead."""
    location = "https://schemas.example/{group}/{kind}_{version}.json"
    cache = tmp_path / "schemas"
    cache.mkdir(mode=0o770)
    cache.chmod(0o770)
    kept = cache / urllib.parse.quote(
        "https://schemas.example/cilium.io/ciliumnetworkpolicy_v2.json", safe=""
    )
    kept.write_text("{}")  # anything goes
    strict = json.dumps({"type": "object", "required": ["status"]}).encode()
    for _ in range(2):
        store = SchemaStore([location], cache_dir=cache, fetch=lambda url: strict)
        assert store.check(POLICY).errors == [("'status' is a required property", False)]
    assert kept.read_text() == "{}" and len(list(cache.iterdir())) == 1


def test_offline_location_is_tried_once(tmp_path: Path) -> None:
    calls: list[str] = []

    def offline(url: str) -> bytes | None:
        calls.append(url)
        raise SchemaFetchError(f"cannot download {url} (no network)")

    location = "https://schemas.example/{group}/{kind}_{version}.json"
    store = SchemaStore(
        [location, f"{tmp_path}/{{group}}/{{kind}}_{{version}}.json"],
        cache_dir=tmp_path,
        fetch=offline,
    )
    assert not store.check(POLICY).found
    assert not store.check({**POLICY, "kind": "CiliumClusterwideNetworkPolicy"}).found
    assert len(calls) == 1 and location in store.unreachable


def test_cache_still_answers_after_the_location_went_unreachable(tmp_path: Path) -> None:
    location = "https://schemas.example/{group}/{kind}_{version}.json"
    schema = json.dumps({"type": "object", "required": ["spec"]}).encode()
    online = SchemaStore([location], cache_dir=tmp_path, fetch=lambda url: schema)
    assert online.check(POLICY).found

    def offline(url: str) -> bytes | None:
        raise SchemaFetchError("Name or service not known")

    store = SchemaStore([location], cache_dir=tmp_path, fetch=offline)
    other = {**POLICY, "kind": "CiliumClusterwideNetworkPolicy"}
    assert not store.check(other).found and location in store.unreachable
    # Asked after the failure: the cached schema is still used.
    assert store.check(POLICY).found


def test_core_schemas_are_compiled_once_per_process(tmp_path: Path) -> None:
    """A second store (e.g. the next validate_tree call) reuses the first one's validators."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    first, second = SchemaStore([], cache_dir=tmp_path), SchemaStore([], cache_dir=tmp_path)
    assert first.check(namespace).found and second.check(namespace).found
    assert first._validators[("v1", "Namespace")] is second._validators[("v1", "Namespace")]
    assert second.check({**namespace, "spec": {"finalizers": 1}}).errors


def test_downloaded_schemas_live_in_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert SchemaStore([]).cache_dir == tmp_path / "clustergen" / "schemas"


@pytest.mark.parametrize("suffix", ["", "/{group}/{kind}_{version}.json"])
def test_a_missing_local_location_is_an_error_not_a_silent_skip(
    tmp_path: Path, suffix: str
) -> None:
    with pytest.raises(SchemaLocationError, match=r"no directory .*crd-schemas"):
        SchemaStore([f"{tmp_path}/crd-schemas{suffix}"])
    (tmp_path / "crd-schemas").mkdir()
    assert SchemaStore([f"{tmp_path}/crd-schemas{suffix}"]).locations


BAD_CORE_OBJECTS = [
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"a": 1}},
     "stringData": {"k": 2}, "type": 3},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
     "spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"x": 1}]}]}}}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "ownerReferences": [{}]},
     "data": {"a": []}},
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_CORE_OBJECTS, ids=lambda o: o["kind"])
def test_core_kinds_find_the_same_errors_with_the_definitions_they_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: dict[str, object]
) -> None:
    """A kind's validator holds only the $defs its schema reaches (kept in the cache, so
    later runs skip the 1.8 MB file), and finds what the whole file finds."""
    reached = SchemaStore([], cache_dir=tmp_path / "reached").check(bad).errors
    assert reached
    kept = list((tmp_path / "reached" / "core-definitions").iterdir())
    whole_size = (core_schema_dir() / "_definitions.json").stat().st_size
    assert len(kept) == 1 and kept[0].stat().st_size < whole_size // 4
    # The next run (another process: nothing compiled yet) reads the kept part only.
    _new_process()
    monkeypatch.setattr(schemas, "_read_json", _not_the_whole_file(schemas._read_json))
    assert SchemaStore([], cache_dir=tmp_path / "reached").check(bad).errors == reached

    monkeypatch.undo()
    _new_process()
    monkeypatch.setattr(schemas, "_reachable", lambda definitions, schema: None)
    assert SchemaStore([], cache_dir=tmp_path / "whole").check(bad).errors == reached
    assert not (tmp_path / "whole" / "core-definitions").exists()


def _not_the_whole_file(read: Callable[[Path], object]) -> Callable[[Path], object]:
    def guarded(path: Path) -> object:
        assert path.name != "_definitions.json"
        return read(path)

    return guarded


def _new_process() -> None:
    """As the next run: nothing compiled or read in this process yet."""
    schemas._core_validator.cache_clear()
    schemas._core_definitions.cache_clear()


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "s"},
    "spec": {"ports": [{"port": "not-a-number"}]},
}
PORT_ERROR = "'not-a-number' is not of type 'integer'"
SERVICE_PORT = "io.k8s.api.core.v1.ServicePort"


def _kept_files(cache: Path) -> list[Path]:
    """The kept core definitions after a first run found the Service's error."""
    _new_process()
    assert any(PORT_ERROR in m for m, _ in SchemaStore([], cache_dir=cache).check(SERVICE).errors)
    return list((cache / "core-definitions").iterdir())


def _keep(path: Path, definitions: object, *, sha256: bool, closed: bool = False) -> None:
    """Replace a kept file: its JSON, after its sha256 as clustergen writes it when
    `sha256`; `closed`: only the definitions the Service schema reaches through it."""
    if closed:
        schema = json.loads((core_schema_dir() / "service-v1.json").read_text())
        definitions = schemas._reachable(definitions, schema)
    payload = json.dumps(definitions).encode()
    head = hashlib.sha256(payload).hexdigest().encode() + b"\n" if sha256 else b""
    path.write_bytes(head + payload)


def _emptied(kept: Path) -> dict[str, object]:
    """Every definition replaced by {}: anything is valid."""
    definitions = json.loads(kept.read_bytes().partition(b"\n")[2])
    return {**definitions, "$defs": {name: {} for name in definitions["$defs"]}}


def _service_errors(cache: Path, **kw: object) -> list[str]:
    _new_process()
    store = SchemaStore([], cache_dir=cache, **kw)  # type: ignore[arg-type]
    return [m for m, _ in store.check(SERVICE, remember="results" in kw).errors]


@pytest.mark.parametrize("sha256", [False, True], ids=["as-json", "with-its-sha256"])
def test_kept_definitions_that_are_not_what_the_schema_reaches_are_not_used(
    tmp_path: Path, sha256: bool
) -> None:
    """A kept file emptied ({"$defs": {}}) or with every definition replaced by {} (more
    than the schema then reaches): the Service's error is still found, and the file is
    written again."""
    cache = tmp_path / "schemas"
    [kept] = _kept_files(cache)
    good = kept.read_bytes()
    for poisoned in ({"$defs": {}}, _emptied(kept)):
        _keep(kept, poisoned, sha256=sha256)
        assert any(PORT_ERROR in m for m in _service_errors(cache))
        assert kept.read_bytes() == good


@pytest.mark.parametrize(
    "poison",
    [
        pytest.param(lambda d: {"$defs": d["$defs"]}, id="no-$schema"),
        pytest.param(
            lambda d: {
                **d,
                "$defs": {**d["$defs"], SERVICE_PORT: {"$ref": f"#/$defs/{SERVICE_PORT}/nowhere"}},
            },
            id="unresolvable-ref",
        ),
    ],
)
def test_kept_definitions_that_do_not_resolve_mean_the_whole_file(
    tmp_path: Path, poison: Callable[[dict[str, object]], dict[str, object]]
) -> None:
    """Even a kept file that passes the checks (its sha256, closed under its references)
    but that referencing cannot use: the whole _definitions.json validates instead."""
    cache = tmp_path / "schemas"
    [kept] = _kept_files(cache)
    poisoned = poison(json.loads(kept.read_bytes().partition(b"\n")[2]))
    _keep(kept, poisoned, sha256=True, closed=True)
    assert any(PORT_ERROR in m for m in _service_errors(cache))


def test_a_definitions_directory_others_may_write_is_neither_read_nor_written(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "schemas"
    [kept] = _kept_files(cache)
    _keep(kept, _emptied(kept), sha256=True, closed=True)  # as clustergen would write it
    assert _service_errors(cache) == []  # trusted in this user's own directory
    (cache / "core-definitions").chmod(0o770)
    assert any(PORT_ERROR in m for m in _service_errors(cache))
    kept.unlink()
    assert any(PORT_ERROR in m for m in _service_errors(cache))
    assert list((cache / "core-definitions").iterdir()) == []


def test_a_kept_result_is_not_reused_with_other_definitions(tmp_path: Path) -> None:
    """The schema-results key covers the definitions validating: a pass found with
    definitions since replaced is not what a later run answers."""
    cache, results = tmp_path / "schemas", tmp_path / "results"
    results.mkdir(mode=0o700)
    [kept] = _kept_files(cache)
    _keep(kept, _emptied(kept), sha256=True, closed=True)
    store = ResultCache(results, code="test")
    assert _service_errors(cache, results=store) == []
    store.save()
    kept.unlink()
    errors = _service_errors(cache, results=ResultCache(results, code="test"))
    assert any(PORT_ERROR in m for m in errors)


def test_a_download_verifies_the_servers_certificate_every_time(tmp_path: Path) -> None:
    """The TLS context downloads share (made once per process) checks certificates: a
    server whose certificate no authority signed is refused, on the first download and
    on the next."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        url = f"https://localhost:{server.server_address[1]}/schema.json"
        for _ in range(2):
            with pytest.raises(SchemaFetchError, match="CERTIFICATE_VERIFY_FAILED"):
                SchemaStore._download(url)
    finally:
        server.shutdown()
