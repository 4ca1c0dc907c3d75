"""Every check on a tree, in one call: YAML, schemas, the Flux graph, kustomizations,
encryption (`validate_tree`), and `clustergen validate` (`run_validate`).

`validate_tree` works on plain data ({relative path: bytes}); `run_validate` is
the CLI's entry: it reads a directory, prints the report and returns the exit code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generator.errors import ClusterGenError
from generator.report import Report
from generator.validate.documents import Doc, Finding, may_hold_objects, parse_tree
from generator.validate.flux_graph import check_graph
from generator.validate.flux_tree import build_model
from generator.validate.kubectl import Builds, kubectl_available
from generator.validate.kustomize import (
    KUSTOMIZATION_NAMES,
    KustomizeDir,
    Tree,
    build_roots,
    load_kustomizations,
)
from generator.validate.objects import check_objects
from generator.validate.parse_cache import ParseCache
from generator.validate.policies import check_applied, check_encrypted, check_network_policies
from generator.validate.references import check_references
from generator.validate.report import format_report
from generator.validate.schemas import SchemaStore, effective_locations
from generator.validate.substitute import Decrypt
from generator.validate.tool_configs import check_tool_configs
from generator.validation_scope import TREE_DIRS, locations_from_env, read_tree


def validate_tree(
    files: Mapping[str, bytes],
    *,
    schema_locations: Sequence[str] = (),
    strict: bool = False,
    decrypt: Decrypt | None = None,
    kubectl: bool = True,
    root: Path | None = None,
    secrets_encrypted: bool = True,
    store: SchemaStore | None = None,
    parses: ParseCache | None = None,
    built_ahead: Callable[[], object] | None = None,
) -> list[Finding]:
    """Every problem in the tree, errors and warnings.

    `decrypt(path, ciphertext)` reads encrypted substitution sources (None: no
    key). `root` is where the tree lies on disk, for kubectl; without it kubectl
    gets a temporary copy with secret values blanked. `secrets_encrypted=False`
    for an in-memory render whose secrets are still plaintext. `store` and `parses`:
    schemas and parses to use (default: new ones). `built_ahead` waits for builds
    started earlier (validate/ahead.py) before kubectl's are looked up in their cache.
    """
    if decrypt is not None:
        decrypt = _memoized(decrypt)
    tree = Tree(files)
    parses = parses or ParseCache()  # each file parsed once, this run or an earlier one
    with ThreadPoolExecutor(max_workers=1) as background:
        # kubectl runs while the checks below run in Python: two cores, not one after the
        # other. It is the longest step and needs only the kustomization files: first.
        builds = None
        stopping = threading.Event()  # the checks were cut short: start no kubectl now
        if kubectl and kubectl_available():
            roots = kustomize_roots(tree, parses)
            if built_ahead is None:
                builds = background.submit(Builds(files, roots, root).run)
            else:
                builds = background.submit(
                    _after, built_ahead, stopping, lambda: Builds(files, roots, root)
                )
        try:
            docs, findings = parse_tree(files, parses.parse)
            parses.save()
            unparsable = {f.path for f in findings}
            kdirs, kustomize_findings = load_kustomizations(tree, docs)
            findings += kustomize_findings
            findings += _checks(
                files,
                docs,
                unparsable,
                tree,
                kdirs,
                schema_locations,
                strict,
                decrypt,
                store,
                secrets_encrypted,
            )
            if builds is not None:
                findings += builds.result()
        except BaseException:
            stopping.set()
            raise
    return findings


def _checks(
    files: Mapping[str, bytes],
    docs: Mapping[str, list[Doc]],
    unparsable: set[str],
    tree: Tree,
    kdirs: Mapping[str, KustomizeDir],
    schema_locations: Sequence[str],
    strict: bool,
    decrypt: Decrypt | None,
    store: SchemaStore | None,
    secrets_encrypted: bool,
) -> list[Finding]:
    """Every check but kubectl's, in the order their findings are reported."""
    findings: list[Finding] = []
    if secrets_encrypted:
        findings += check_encrypted(files, docs)
    model = build_model(files, docs, tree, kdirs, decrypt)
    findings += model.findings
    data_files = {path for kdir in kdirs.values() for path in kdir.data_files}
    object_paths = [p for p in sorted(model.docs) if may_hold_objects(p) and p not in data_files]
    store = store or SchemaStore(effective_locations(schema_locations))
    findings += check_objects(model, object_paths, store, strict=strict)
    findings += check_graph(model)
    findings += check_references(model)
    findings += check_network_policies(model)
    findings += check_applied(model, kdirs, data_files)
    findings += check_tool_configs(docs, unparsable, store.results)
    store.save_results()
    return findings


def kustomize_roots(tree: Tree, parses: ParseCache) -> list[str]:
    """The directories kubectl builds (kustomize.build_roots), from the kustomization
    files alone (all that decides them)."""
    names = {
        p: data for p, data in tree.files.items() if p.rpartition("/")[2] in KUSTOMIZATION_NAMES
    }
    return build_roots(load_kustomizations(tree, parse_tree(names, parses.parse)[0])[0])


def _after(
    ahead: Callable[[], object], stopping: threading.Event, builds: Callable[[], Builds]
) -> list[Finding]:
    # In the builds' thread: the cache lookup waits for the builds ahead, not the checks.
    ahead()
    return [] if stopping.is_set() else builds().run()


def _memoized(decrypt: Decrypt) -> Decrypt:
    # Several Kustomizations substitute from the same Secret: run sops once per file.
    cache: dict[tuple[str, bytes], bytes | None] = {}

    def cached(path: str, data: bytes) -> bytes | None:
        if (path, data) not in cache:
            cache[(path, data)] = decrypt(path, data)
        return cache[(path, data)]

    return cached


def run_validate(root: Path, schema_locations: Sequence[str], strict: bool) -> Report:
    """`clustergen validate`: the findings; status 1 when there are errors. Without
    --schema-location, $CLUSTERGEN_SCHEMA_LOCATION applies as it does for configure."""
    if not root.is_dir():
        raise ClusterGenError(f"{root} is not a directory; pass the rendered repository's root")
    files = read_tree(root)
    if not any(p.startswith(f"{d}/") for p in files for d in TREE_DIRS):
        raise ClusterGenError(
            f"{root} has no kubernetes/ or bootstrap/ directory; "
            "run `uv run clustergen configure` first or pass the repository root"
        )
    findings = validate_tree(
        files,
        schema_locations=list(schema_locations) or locations_from_env(),
        strict=strict,
        decrypt=sops_decryptor(root),
        root=root,
    )
    findings += _undecryptable(root)
    failed = any(f.severity == "error" for f in findings)
    return Report(format_report(findings), status=1 if failed else 0)


def _undecryptable(root: Path) -> list[Finding]:
    """With an age key held, a committed secret it cannot decrypt is an error (a check
    that could not look is no pass); without any key (keyless CI) nothing is said."""
    from generator.secrets.audit import scan
    from generator.secrets.readable import decryptor, undecryptable, undecryptable_message
    from generator.write.ownership import vouched_by

    sops = decryptor(root)
    if sops is None:
        return []
    written = vouched_by(root, sops.fingerprint_key)
    return [
        Finding(path, undecryptable_message(path, why).removeprefix(f"{path}: "))
        for path, why in undecryptable(root, scan(root, None), sops, written)
    ]


def sops_decryptor(root: Path) -> Decrypt | None:
    """sops with the age key next to the tree (or $SOPS_AGE_KEY/_FILE), and age.key.old
    during a rotation (sops.decrypt_in_rotation); None without a key."""
    from generator.secrets.keys import held_age_key, key_in_env
    from generator.secrets.sops import Sops, decrypt_in_rotation

    key = held_age_key(root)
    if key is None and not key_in_env():
        return None
    config = root / ".sops.yaml"
    sops = Sops(
        age_key_file=key,
        config=config if config.is_file() else None,
    )

    def decrypt(path: str, ciphertext: bytes) -> bytes | None:
        try:
            return decrypt_in_rotation(sops, ciphertext, path, root)
        except ClusterGenError:
            return None

    return decrypt
