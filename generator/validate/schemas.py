"""JSON schemas for objects: core kinds from kubernetes-validate, custom resources
from kubeconform-style locations (`DIR/{group}/{kind}_{version}.json` or https URLs).

Every schema file is read and parsed once per process, and a core kind's
validator is compiled once per process (shared by every `SchemaStore`);
kubernetes-validate's own `validate()` re-reads its 1.8 MB definitions file per
object, so we only borrow its bundled files.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import CannotDetermineSpecification, Unresolvable

from generator.atomic import atomic_write
from generator.errors import ClusterGenError, shown
from generator.usercache import private_dir, user_cache_root
from generator.validate.schema_results import ResultCache, code_identity

if TYPE_CHECKING:
    import ssl
    from importlib.resources.abc import Traversable

DEFAULT_LOCATION = (
    "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{group}/{kind}_{version}.json"
)
_FETCH_TIMEOUT = 15.0
_MAX_ERRORS = 5
_MAX_MESSAGE = 240

Fetch = Callable[[str], bytes | None]
# What validates (this module's messages, jsonschema's checks): results kept between runs
# are not reused across a change to either.
_CODE_IDENTITY = code_identity(__file__, jsonschema.__file__, jsonschema.validators.__file__)


class SchemaFetchError(Exception):
    """A schema URL could not be reached (as opposed to: it does not exist)."""


@dataclass
class SchemaResult:
    """`errors` are (message, is_unresolved_variable); `found` is False for unknown kinds."""

    found: bool
    errors: list[tuple[str, bool]] = field(default_factory=list)


def core_schema_dir(version: str | None = None) -> Path:
    """The strict schema directory of kubernetes-validate for `version` (default: newest)."""
    root = _bundled_schemas()
    names = [p.name for p in root.iterdir() if p.name.endswith("-local-strict")]
    if version is not None:
        wanted = f"v{version.removeprefix('v')}"
        names = [n for n in names if n.startswith(wanted)]
    if not names:
        raise FileNotFoundError(f"kubernetes-validate has no schemas for {version}")
    newest = max(names, key=lambda n: tuple(int(x) for x in n[1:].split("-")[0].split(".")))
    return Path(str(root / newest))


def _bundled_schemas() -> Traversable:
    # Found without importing kubernetes_validate (its import pulls in more than the
    # schema files): the package's directory, as resources.files gives it for a
    # regular install.
    spec = importlib.util.find_spec("kubernetes_validate")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if locations and (bundled := Path(locations[0]) / "kubernetes-json-schema").is_dir():
        return bundled
    from importlib import resources

    return resources.files("kubernetes_validate") / "kubernetes-json-schema"


def default_cache_dir() -> Path:
    """`user_cache_root()/schemas` (downloaded CRD schemas); a temporary one without a home."""
    root = user_cache_root()
    if root is None:
        root = Path(tempfile.gettempdir()) / f"clustergen-{os.getuid()}"
    return root / "schemas"


@functools.cache
def _read_json(path: Path) -> Any:
    # Bundled with kubernetes-validate: the files never change while a process runs.
    return json.loads(path.read_text())


_DEFINITIONS = "_definitions.json"
_DEFS_REF = "#/$defs/"


class _Definitions(NamedTuple):
    """The `$defs` a core kind's validator resolves its references in."""

    identity: str  # which: the trimmed content's sha256, or the whole file's status
    contents: Any


# Part of the kept files' names: bump it when what they hold changes.
_KEPT_FORMAT = "clustergen-core-definitions-2"


@functools.cache
def _core_definitions(core_dir: Path, schema: Path, cache_dir: Path) -> _Definitions:
    """kubernetes-validate's _definitions.json as far as the kind's `schema` uses it: the
    `$defs` its `$ref`s reach. The whole file is 1.8 MB of JSON, read only when a kind is
    first met; the part each kind needs is kept in `cache_dir/core-definitions` (this
    user's only), named by this code and both files' status, as its sha256 and the JSON.
    A kept file is used only when that sha256 matches and it holds exactly the `$defs`
    the schema reaches through it; otherwise it is worked out (and kept) again."""
    definitions = core_dir / _DEFINITIONS
    parts = (_KEPT_FORMAT, _CODE_IDENTITY, _file_status(definitions), _file_status(schema))
    name = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    directory = cache_dir / "core-definitions"
    kept_path = directory / f"{name}.json"
    wanted = _read_json(schema)
    # Not created for a lookup: only this user's directory is read.
    if directory.is_dir() and private_dir(directory) and (kept := _kept(kept_path, wanted)):
        return kept
    reached = _reachable(_read_json(definitions), wanted)
    if reached is None:
        return _whole_definitions(core_dir)
    payload = json.dumps(reached).encode()
    digest = hashlib.sha256(payload).hexdigest()
    with contextlib.suppress(OSError):
        if private_dir(directory):
            atomic_write(kept_path, digest.encode() + b"\n" + payload, durable=False)
    return _Definitions(f"reached {digest}", reached)


def _kept(path: Path, schema: Any) -> _Definitions | None:
    """What `_core_definitions` kept at `path` for `schema`, when it is that; else None."""
    try:
        digest, _, payload = path.read_bytes().partition(b"\n")
    except OSError:
        return None
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None  # torn, or edited
    try:
        kept = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(kept, dict) or _reachable(kept, schema) != kept:
        return None  # a reference it cannot resolve, or definitions the schema never uses
    return _Definitions(f"reached {digest.decode()}", kept)


@functools.cache
def _whole_definitions(core_dir: Path) -> _Definitions:
    definitions = core_dir / _DEFINITIONS
    return _Definitions(f"whole {_file_status(definitions)}", _read_json(definitions))


def _reachable(definitions: Any, schema: Any) -> dict[str, Any] | None:
    """`definitions` with only the `$defs` that `schema` reaches through `$ref`s; None when
    a reference is of another form or names no definition (the whole file is used then)."""
    defs = definitions.get("$defs") if isinstance(definitions, dict) else None
    if not isinstance(defs, dict):
        return None
    wanted: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str):
            if _DEFS_REF not in ref:
                return None
            target = ref.split(_DEFS_REF, 1)[1].split("/", 1)[0]
            if target not in defs:
                return None
            if target not in wanted:
                wanted.add(target)
                stack.append(defs[target])
        stack.extend(node.values())
    rest = {k: v for k, v in definitions.items() if k != "$defs"}
    return {**rest, "$defs": {name: defs[name] for name in sorted(wanted)}}


@functools.cache
def _core_schema(core_dir: Path, api_version: str, kind: str) -> Path | None:
    """kubernetes-validate's schema file of a core kind, or None when it has none."""
    group, _, version = api_version.rpartition("/")
    short = f"{group.split('.')[0]}-{version}" if group else version
    path = core_dir / f"{kind.lower()}-{short}.json"
    if not path.is_file():
        return None
    schema = _read_json(path)
    # The file name drops the group's domain; make sure the group really matches.
    gvks = schema.get("x-kubernetes-group-version-kind") or []
    if not any(g.get("group", "") == group and g.get("kind") == kind for g in gvks):
        return None
    return path


@functools.cache
def _core_validator(
    core_dir: Path, api_version: str, kind: str, cache_dir: Path, *, whole: bool = False
) -> Any:
    """The compiled validator of a core kind, or None when kubernetes-validate has none.
    `whole`: with the whole _definitions.json rather than the part the kind reaches."""
    path = _core_schema(core_dir, api_version, kind)
    if path is None:
        return None
    if whole:
        definitions = _whole_definitions(core_dir)
    else:
        definitions = _core_definitions(core_dir, path, cache_dir)
    try:
        registry = Resource.from_contents(definitions.contents) @ Registry()
    except CannotDetermineSpecification:
        if whole:
            raise
        return _core_validator(core_dir, api_version, kind, cache_dir, whole=True)
    return jsonschema.Draft202012Validator(_read_json(path), registry=registry)


@functools.cache
def _file_status(path: Path) -> str:
    info = path.stat()
    return f"{path} {info.st_size} {info.st_mtime_ns}"


def effective_locations(locations: Sequence[str]) -> tuple[str, ...]:
    """The schema locations a check uses: those given, else DEFAULT_LOCATION."""
    return tuple(locations) or (DEFAULT_LOCATION,)


class SchemaStore:
    def __init__(
        self,
        locations: Sequence[str] = (DEFAULT_LOCATION,),
        *,
        kubernetes_version: str | None = None,
        cache_dir: Path | None = None,
        fetch: Fetch | None = None,
        results: ResultCache | None = None,
    ) -> None:
        self.locations = list(locations)
        for location in self.locations:
            _check_local_location(location)
        self.core_dir = core_schema_dir(kubernetes_version)
        self.cache_dir = cache_dir or default_cache_dir()
        self._fetch = fetch or self._download
        self._validators: dict[tuple[str, str], Any] = {}
        self._raw: dict[tuple[str, str], bytes | None] = {}
        self._identities: dict[tuple[str, str], str | None] = {}
        self._results = results or ResultCache(code=_CODE_IDENTITY)
        # Locations that failed to download once (location: reason): only the cache is
        # read for them afterwards.
        self.unreachable: dict[str, str] = {}

    @property
    def kubernetes_version(self) -> str:
        return self.core_dir.name.split("-")[0].removeprefix("v")

    def check(self, data: dict[str, Any], *, remember: bool = False) -> SchemaResult:
        """`data` against its kind's schema. `remember`: the result may be kept between runs
        (schema_results.py; only for objects that hold no secret value)."""
        api_version, kind = str(data.get("apiVersion", "")), str(data.get("kind", ""))
        key = (api_version, kind)
        entry = None
        if remember and (identity := self.identity(api_version, kind)) is not None:
            entry = self._results.key(identity, data)
            kept = self._results.get(entry) if entry is not None else None
            if kept is not None:
                return SchemaResult(True, kept)
        if key not in self._validators:
            self._validators[key] = self._core(api_version, kind) or self._custom(api_version, kind)
        if self._validators[key] is None:
            return SchemaResult(found=False)
        errors = self._errors(key, data)
        result = SchemaResult(True, [_describe(e) for e in errors[:_MAX_ERRORS]])
        if entry is not None:
            self._results.put(entry, result.errors)
        return result

    def _errors(self, key: tuple[str, str], data: dict[str, Any]) -> list[Any]:
        validator = self._validators[key]
        try:
            return sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
        except (Unresolvable, CannotDetermineSpecification):
            # A core kind's trimmed definitions that do not resolve: the whole file does.
            whole = self._core(*key, whole=True)
            if whole is None or whole is validator:
                raise
            self._validators[key] = whole
            return sorted(whole.iter_errors(data), key=lambda e: list(map(str, e.path)))

    @property
    def results(self) -> ResultCache:
        """Where results are kept between runs (schema_results.py)."""
        return self._results

    def save_results(self) -> None:
        """Keep the results `check(remember=True)` computed for later runs."""
        self._results.save()

    def identity(self, api_version: str, kind: str) -> str | None:
        """Which schema file applies to the kind (as `check` finds it, without compiling
        it): kubernetes-validate's file by status, a custom one by its bytes' sha256."""
        key = (api_version, kind)
        if key not in self._identities:  # once per kind: a CRD schema can be 100s of KB
            core = _core_schema(self.core_dir, api_version, kind)
            if core is not None:
                # The definitions it is validated with, as kept: a result is never reused
                # with others (a kept file replaced, the whole file used instead).
                definitions = _core_definitions(self.core_dir, core, self.cache_dir).identity
                status = _file_status(self.core_dir / _DEFINITIONS)
                self._identities[key] = f"core {_file_status(core)} {status} {definitions}"
            else:
                raw = self._custom_raw(api_version, kind)
                found = None if raw is None else f"custom {hashlib.sha256(raw).hexdigest()}"
                self._identities[key] = found
        return self._identities[key]

    def _core(self, api_version: str, kind: str, *, whole: bool = False) -> Any:
        return _core_validator(self.core_dir, api_version, kind, self.cache_dir, whole=whole)

    def _custom(self, api_version: str, kind: str) -> Any:
        raw = self._custom_raw(api_version, kind)
        if raw is None:
            return None
        schema = json.loads(raw)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        return cls(schema)

    def _custom_raw(self, api_version: str, kind: str) -> bytes | None:
        """The first location's schema file for the kind; looked up once per store."""
        key = (api_version, kind)
        if key in self._raw:
            return self._raw[key]
        group, _, version = api_version.rpartition("/")
        found = None
        for location in self.locations:
            where = expand_location(location, group, kind, version)
            try:
                raw = self._read(where, offline=location in self.unreachable)
            except SchemaFetchError as err:
                self.unreachable.setdefault(location, str(err))
                continue
            if raw is not None:
                found = raw
                break
        self._raw[key] = found
        return found

    def _read(self, where: str, *, offline: bool = False) -> bytes | None:
        if where.startswith(("https://", "http://")):
            return self._cached(where, offline=offline)
        path = Path(where.removeprefix("file://"))
        return path.read_bytes() if path.is_file() else None

    @functools.cached_property
    def _download_dir(self) -> Path | None:
        # Only this user's directory: someone else's file could make a broken resource
        # pass. Another one (or none) means downloading every run.
        return private_dir(self.cache_dir)

    def _cached(self, url: str, *, offline: bool) -> bytes | None:
        directory = self._download_dir
        cached = directory / urllib.parse.quote(url, safe="") if directory else None
        if cached is not None and cached.is_file():
            with contextlib.suppress(OSError):
                return cached.read_bytes()
        if offline:
            # Failed once already: the cache still answers, the network is not asked again.
            raise SchemaFetchError(f"not cached: {url}")
        raw = self._fetch(url)
        if raw is not None and cached is not None:
            with contextlib.suppress(OSError):  # a full or read-only cache costs a download
                atomic_write(cached, raw, 0o644)
        return raw

    @staticmethod
    def _download(url: str) -> bytes | None:
        # Imported here: urllib.request (http.client, email) is for downloads only.
        import urllib.error
        import urllib.request

        try:
            context = _https_context()
            with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT, context=context) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise SchemaFetchError(f"HTTP {err.code}") from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = str(getattr(err, "reason", err))
            # "[Errno -2] Name or service not known": the errno says nothing to a person.
            raise SchemaFetchError(re.sub(r"^\[Errno -?\d+\] ", "", reason)) from err


@functools.cache
def _https_context() -> ssl.SSLContext:
    """One TLS context for the process's downloads: urllib makes a new one for every
    connection without it, and loading the system's CA certificates is ~25 ms each time.
    The same settings as urllib's own: certificates and host names verified
    (https://docs.python.org/3/library/ssl.html#ssl.create_default_context)."""
    import ssl

    return ssl.create_default_context()


class SchemaLocationError(ClusterGenError):
    """A local CRD schema location that does not exist (a typo would skip every CRD)."""


def _check_local_location(location: str) -> None:
    """Raise SchemaLocationError when a local location's directory is missing; URLs pass."""
    if location.startswith(("https://", "http://")):
        return
    fixed = location.removeprefix("file://").split("{", 1)[0]
    directory = Path(fixed) if "{" not in location or fixed.endswith("/") else Path(fixed).parent
    if not directory.is_dir():
        raise SchemaLocationError(
            f"CRD schema location {shown(location)}: no directory {shown(str(directory))}; give a "
            "directory of CRD schemas (DIR or DIR/{group}/{kind}_{version}.json) or an https:// "
            "URL in --schema-location or $CLUSTERGEN_SCHEMA_LOCATION"
        )


def expand_location(location: str, group: str, kind: str, version: str) -> str:
    """Fill a location template; a plain directory gets the standard layout appended."""
    if "{" not in location:
        location = location.rstrip("/") + "/{group}/{kind}_{version}.json"
    values = {"group": group, "kind": kind.lower(), "version": version}
    # kubeconform's Go-template spelling works too.
    location = re.sub(
        r"\{\{\s*\.(Group|ResourceKind|ResourceAPIVersion)\s*\}\}",
        lambda m: "{" + {"Group": "group", "ResourceKind": "kind"}.get(m[1], "version") + "}",
        location,
    )
    return re.sub(r"\{(group|kind|version)\}", lambda m: values[m[1]], location)


def _describe(error: jsonschema.ValidationError) -> tuple[str, bool]:
    where = _json_path(error.absolute_path)
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    unresolved = isinstance(error.instance, str) and "${" in error.instance
    return (f"{where}: {message}" if where else message), unresolved


def _json_path(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
