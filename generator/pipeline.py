"""configure, end to end, in this order: lock (settling a write a crash left) → refuse lost
keys → inputs (cluster.yaml + overlay, side files, versions) → trust the manifest → render in
memory, each secret's encryption starting as it renders → warnings (--strict) → collect the
encrypted secrets → plan and refuse conflicts → validate the tree as it will be → write in
one transaction.

Each step lives in its own module; this one only strings them together and
decides what happens when one fails (nothing is written before every secret is
encrypted and the planned tree validates, so a failure leaves the working tree as it was).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator import paths, validation_worker
from generator.config import NOT_DECRYPTED_PROBE, load_cluster
from generator.config.model import Cluster
from generator.errors import (
    ClusterGenError,
    Problem,
    SecretsError,
    SideFileError,
    ValidationFailed,
    WriteConflict,
)
from generator.inputs import Inputs, load_inputs
from generator.lifecycle import talos_changes
from generator.secrets.continuity import refuse_lost_keys
from generator.secrets.encrypt import EncryptionInFlight, config_digest_for, fingerprints_for
from generator.secrets.files import is_secret_path
from generator.secrets.fingerprint import Vouched, Written
from generator.secrets.keys import HeldKey, discover_age_key
from generator.secrets.known_plaintext import KnownPlaintext
from generator.secrets.sops import Sops
from generator.secrets.tracked import loose_key_files, refuse_tracked_plaintext
from generator.unchanged import VALIDATION_SKIPPED, LastRun, last_run
from generator.validation_scope import (
    last_validated,
    locations_from_env,
    may_validate,
    planned_tree,
    read_tree,
    record_validated,
    stamp_inputs,
    tree_stamp,
)
from generator.write.lock import state_dir, writing
from generator.write.manifest import Manifest, ManifestError, load_manifest
from generator.write.ownership import report_line, trusted
from generator.write.writer import Resolutions, WritePlan, WriteWhileValidating, plan_write

if TYPE_CHECKING:
    # jinja2 is loaded only when rendering: a configure with nothing changed does not render.
    from generator.render.tree import FileRendered, RenderedTree
    from generator.validate.documents import Finding

Warn = Callable[[Problem], None]


def _ignore(problem: Problem) -> None:
    """The default `warn`: callers that print nothing (tests, the makejinja plugin)."""


def report_warnings(
    warnings: Iterable[Problem], warn: Warn, *, strict: bool, writes: bool = True
) -> None:
    """Hand every warning to `warn`; with `strict`, then refuse to go on.

    `writes`: whether the command would have written (configure) or only checks, so
    the refusal says what it withheld.
    """
    found = list(warnings)
    for problem in found:
        warn(problem)
    if strict and found:
        withheld = "nothing was written" if writes else "the check fails"
        raise ClusterGenError(
            f"{len(found)} warning(s) and --strict; {withheld} "
            "(act on them, or run without --strict)"
        )


def check(config_path: Path, *, warn: Warn = _ignore, strict: bool = False) -> list[str]:
    """Every check `configure` runs before rendering: cluster.yaml (+ the overlay), its
    warnings and the side files. Returns the lines to print ("ok: …", notes).

    Without age.key (a checkout without keys) the overlay's values and missing side files
    are noted rather than fatal; with it, a missing side file fails as it would configure.
    """
    from generator.config import summary
    from generator.secrets.overlay import overlay_for_check
    from generator.sidefiles import check_side_files

    workdir = config_path.resolve().parent
    overlay, note = overlay_for_check(workdir)
    cluster = load_cluster(config_path, overlay=overlay)
    refuse_tracked_plaintext(config_path.resolve())
    missing = check_side_files(cluster.values, workdir)
    held = discover_age_key(workdir)
    refusal = ""
    if held:  # not a keyless checkout: as configure
        refuse_lost_keys(workdir, held)
    else:
        # A keyless checkout (CI) passes; the person at the keyboard learns what configure says.
        try:
            refuse_lost_keys(workdir)
        except SideFileError as err:
            refusal = str(err).splitlines()[1].strip()
    stale: list[Problem] = []
    if (workdir / paths.OVERRIDES_DIR).is_dir():
        from generator.render.overrides.files import check_overrides
        from generator.render.overrides.stale import stale_warnings

        check_overrides(workdir)
        # Patch targets and the YAML overrides render need a render: in memory, keyless.
        from generator.render.overrides.dry_run import check_rendered_overrides

        check_rendered_overrides(cluster.context(), workdir)
        stale = stale_warnings(workdir, load_manifest(workdir))
    loose = loose_key_files(workdir)
    report_warnings([*cluster.warnings, *stale, *loose], warn, strict=strict, writes=False)
    lines = [f"ok: {summary(cluster)}"]
    if note:
        lines.append(f"note: {note}")
    others = [name for name in missing if name != paths.AGE_KEY_NAME]
    if missing:
        unchecked = f"; {', '.join(others)} went unchecked too" if others else ""
        lines.append(f"note: no {paths.AGE_KEY_NAME} (configure needs it){unchecked}")
    if refusal:
        lines.append(f"note: configure will refuse until then: {refusal}")
    return lines


class WriteBlocked(ValidationFailed):
    headline = (
        "{n} problem(s) in the tree as it would be written; nothing was written "
        "(fix them, or rerun with --no-validate to write anyway)"
    )


@dataclass(frozen=True)
class RenderResult:
    cluster: Cluster
    tree: RenderedTree
    workdir: Path
    sops: Sops | None  # None when there is no age key (CI without secrets)
    # Keyless only: the same render with other placeholders (generator/diff/derived.py).
    probe: Mapping[str, bytes] | None = None

    def decrypt(self, path: str, ciphertext: bytes) -> bytes | None:
        """Plaintext of an on-disk secret (during a key rotation, with age.key.old when
        age.key cannot open it), or None when we hold no key for it."""
        return KnownPlaintext({}, {}, self.sops, self.workdir)(path, ciphertext)

    def decrypt_vouched(self, written: Written) -> KnownPlaintext:
        """`decrypt`, except that a file `written` vouches for (from the manifest trusted
        with this key, write/ownership.py `vouched_by`: its bytes are what configure wrote
        from the plaintext just rendered) is answered with that plaintext, without sops."""
        key = self.sops.fingerprint_key if self.sops is not None else None
        vouched = Vouched(key, written) if key else None
        return KnownPlaintext({}, self.tree.files, self.sops, self.workdir, vouched)


def render_in_memory(
    config_path: Path, *, keyless: bool = False, held: HeldKey | None = None
) -> RenderResult:
    """Everything up to (not including) encryption; secrets are plaintext in memory.

    Without an age key (`keyless`), the tree is also rendered with a second placeholder
    (`probe`), so a comparison can tell what derives from secret values. `held`: the age
    key the caller discovered (keys.discover_age_key); discovered here if not given.
    """
    inputs = load_inputs(config_path, keyless=keyless, held=held)
    return render_loaded(inputs, config_path, keyless=keyless)


def render_loaded(
    inputs: Inputs,
    config_path: Path,
    *,
    keyless: bool = False,
    on_rendered: FileRendered | None = None,
) -> RenderResult:
    """render_in_memory for inputs already loaded from `config_path`; `on_rendered` is
    render_tree's per-file callback (configure's: encryption in flight)."""
    from generator.render.overrides.files import find_overrides
    from generator.render.tree import render_tree

    overrides = find_overrides(inputs.workdir)
    tree = render_tree(inputs.context, overrides=overrides, on_rendered=on_rendered)
    probe = None
    if keyless and inputs.sops is None:
        other = load_inputs(config_path, keyless=True, placeholder=NOT_DECRYPTED_PROBE)
        probe = render_tree(other.context, overrides=overrides).files
    return RenderResult(inputs.cluster, tree, inputs.workdir, inputs.sops, probe)


def configure(
    config_path: Path,
    *,
    force: bool = False,
    validate: bool = True,
    warn: Warn = _ignore,
    strict: bool = False,
    keep_mine: Sequence[str] = (),
    take_theirs: Sequence[str] = (),
) -> str:
    """Render, encrypt, validate, then write what changed. Returns the report to print.

    Runs under the working directory's lock, after recovering a write a crash
    interrupted. Refuses (before rendering) when a key or token the tree depends on
    is missing. The config's warnings go to `warn` first; with `strict` any warning
    stops the run. Nothing is written until every secret is encrypted and the tree
    as it will be on disk has passed validation; the write itself is one
    transaction: a failure leaves the working tree as it was. A hand-edited file is
    merged with its new render; `keep_mine` / `take_theirs` (paths as typed) resolve
    the files in the way (writer.Resolutions).
    """
    workdir = config_path.resolve().parent
    resolutions = Resolutions.of(workdir, keep_mine, take_theirs)
    if not config_path.is_file():
        load_cluster(config_path)  # its "not found" error, before the lock litters the directory
    state_dir(workdir, create=False)  # a symlinked or misplaced .clustergen: refuse up front
    with writing(workdir) as recovered:
        report = [recovered] if recovered else []
        held = discover_age_key(workdir)  # read once, passed down
        refuse_before_render(config_path, held)
        last = last_run(config_path, held)
        chosen = resolutions.keep_mine or resolutions.take_theirs
        # A warning is never skipped: a loose key file mode is not an input of the digest;
        # nor is a user's file, so a validated run skips only a tree validated as it is.
        loose = loose_key_files(workdir)
        skip = last.unchanged is not None and not chosen and not loose
        if skip and (not validate or _validated_as_is(config_path)):
            if not validate:
                record_validated(workdir, None)  # as a full run without validation does
            return "\n".join([*report, *last.report(validate)])
        lines = _configure_locked(
            config_path, held, force, validate, warn, strict, resolutions, last, loose
        )
        return "\n".join(report + lines)


def refuse_before_render(config_path: Path, held: HeldKey | None, *, keyless: bool = False) -> None:
    """configure's refusals before it renders, shared with `upgrade --check` so that its
    "configure will go through" holds: a key or token the committed secrets depend on is
    missing or another (continuity.refuse_lost_keys: SideFileError), a plaintext secret
    in a git-tracked cluster.yaml (tracked.refuse_tracked_plaintext: SecretsError).

    `keyless` (a checkout without age.key, `held` None): the key check is left to the
    caller, which says configure needs the key.
    """
    if held is not None or not keyless:
        refuse_lost_keys(config_path.resolve().parent, held)
    refuse_tracked_plaintext(config_path.resolve())


def _validated_as_is(config_path: Path) -> bool:
    """Whether the tree in validation scope on disk (ours and the user's files) is the one
    the last validated run recorded. If so, and cluster.yaml is newer than that record (a
    save that changed nothing), the record's time is brought up to date, so the next runs
    fork no validation worker (validation_scope.may_validate)."""
    workdir = config_path.resolve().parent
    stamp = tree_stamp(read_tree(workdir), locations_from_env())
    if stamp != last_validated(workdir):
        return False
    if may_validate(workdir, stamp_inputs(config_path)):
        record_validated(workdir, stamp)
    return True


def _configure_locked(
    config_path: Path,
    held: HeldKey | None,
    force: bool,
    validate: bool,
    warn: Warn,
    strict: bool,
    resolutions: Resolutions,
    last: LastRun,
    loose: list[Problem],
) -> list[str]:
    # The renderer's modules first (~15 ms): the validation worker, still loading its own,
    # then answers cluster.yaml's schema check as soon as load_inputs asks for it.
    import generator.render.overrides.files
    import generator.render.tree  # noqa: F401

    inputs = load_inputs(config_path, held=held)
    workdir = inputs.workdir
    # Read and trusted before the render, so that each secret is encrypted as it renders.
    committed = _readable_manifest(workdir)
    with ExitStack() as stack:  # leaving it stops the sops runs in flight
        flight: EncryptionInFlight | None = None
        if committed is not None and inputs.sops is not None:
            # The committed manifest only proves what passes the scope and seal checks.
            manifest, distrusted = trusted(committed, inputs.sops.fingerprint_key)
            # Its digests and fingerprints let unchanged secrets skip sops entirely.
            written = Written(manifest.files, manifest.fingerprints)
            flight = stack.enter_context(EncryptionInFlight(workdir, inputs.sops, written=written))
        result = render_loaded(
            inputs, config_path, on_rendered=_on_rendered(flight, workdir, ahead=validate)
        )
        from generator.render.overrides.stale import stale_warnings

        if committed is None:
            committed = load_manifest(workdir)  # raises, as ever after the render
        stale = stale_warnings(workdir, committed)  # before the manifest records the new digests
        # talos/ as on disk (what the nodes were given) against the new render
        fixed = talos_changes.fixed_networks(workdir, result.tree.files, result.cluster.path)
        report_warnings([*result.cluster.warnings, *stale, *loose, *fixed], warn, strict=strict)
        if result.sops is None:
            raise SecretsError(
                f"{workdir / paths.AGE_KEY_NAME} is missing; run `uv run task init` "
                "to create it, or restore your saved key"
            )
        key = result.sops.fingerprint_key
        if flight is None:  # the manifest became readable during the render
            manifest, distrusted = trusted(committed, key)
            written = Written(manifest.files, manifest.fingerprints)
            flight = stack.enter_context(EncryptionInFlight(workdir, result.sops, written=written))
        ignored = [report_line(path, why) for path, why in distrusted.items()]
        # While sops runs (only when a secret changed, so files will too), load the validator.
        meanwhile = _load_validation if validate else None
        files = flight.collect(result.tree.files, meanwhile=meanwhile)
    plan = plan_write(
        files,
        workdir,
        manifest,
        result.tree.modes,
        config_digest=config_digest_for(result.cluster.digest, result.sops),
        fingerprints=fingerprints_for(result.tree.files, result.sops),
        seal_key=key,
        untrusted=distrusted,
        resolutions=resolutions,
    )
    plan.old = committed  # so a manifest that listed entries we dropped is rewritten without them
    plan.new = replace(plan.new, overrides=result.tree.shadowed)
    plan.origins = result.tree.origins
    try:
        plan.refuse_conflicts(force)  # before the cost of validating
    except WriteConflict as err:
        in_conflict = {c.path for c in plan.unresolved(force)}
        others = [report_line(p, why) for p, why in distrusted.items() if p not in in_conflict]
        raise WriteConflict("\n".join([*others, str(err)])) from None
    report: list[str] = ignored
    # The write stages while the tree validates, and lands only once it passed.
    write = WriteWhileValidating(plan, workdir, force)
    try:
        validated = validate_planned(plan, result, report, read=write.start) if validate else None
    except BaseException:
        write.abandon()
        raise
    validation_worker.finish()  # it ends while the write lands
    summary = write.commit()
    record_validated(workdir, validated)  # after the write; None (--no-validate) clears it
    if not (result.cluster.warnings or stale or loose or fixed or distrusted):
        last.remember()  # the tree is now exactly as rendered: a rerun may skip the render
    changed = [*summary.updated, *summary.merged, *summary.removed]
    steps = talos_changes.next_step(summary.created, changed)
    return [str(summary), *report, *steps]


def _on_rendered(
    flight: EncryptionInFlight | None, workdir: Path, *, ahead: bool
) -> FileRendered | None:
    """What the render hands each file to as it is made: its secret's encryption starts
    (`flight`), and with `ahead` the validation worker, if there is one, works ahead
    (`_Ahead`)."""
    calls: list[FileRendered] = [flight.rendered] if flight is not None else []
    if ahead and validation_worker.running():
        calls.append(_Ahead(workdir))
    if len(calls) < 2:
        return calls[0] if calls else None

    def each(path: str, content: bytes) -> None:
        for call in calls:
            call(path, content)

    return each


class _Ahead:
    """Hands the validation worker what it can do before the tree is final
    (validate/ahead.py): once the render has left the directories kubectl builds (it walks
    them before scripts/ and talos/), everything rendered so far, to start those builds,
    then each YAML file but the secrets to check, those rendered so far first."""

    def __init__(self, workdir: Path) -> None:
        # Here, not at the top: a configure with nothing changed loads no validator.
        from generator.validate.documents import OBJECT_ROOTS, is_yaml

        self._built_roots = OBJECT_ROOTS
        self._is_yaml = is_yaml
        self._workdir = workdir
        self._locations = locations_from_env()
        self._rendered: dict[str, bytes] = {}
        self._state = "before"  # → "building" (a built directory seen) → "posted"
        # Checks held until the build starts, below 4 CPUs. On 2 the render up to there
        # is CPU-bound (the parent renders; sops and the compile worker share the other
        # core), and kubectl, the longest step after it, cannot start sooner: checks run
        # meanwhile only delayed it (a cold sample configure ~30 ms later). With 4 or more
        # a core is free for them during the render.
        self._hold = _usable_cpus() < 4
        self._held: list[tuple[str, bytes]] = []

    def __call__(self, path: str, content: bytes) -> None:
        built = path.startswith(self._built_roots)  # where kubectl's build roots are
        if self._state == "building" and not built:
            self._state = "posted"
            # Ahead of the checks still waiting: kubectl is the longest step.
            target = "generator.validate.ahead:build"
            validation_worker.post_first(target, self._rendered, str(self._workdir))
            for held in self._held:
                self._check(*held)
            self._held.clear()
        elif built and self._state == "before":
            self._state = "building"
        if self._state != "posted":
            self._rendered[path] = content
        if self._is_yaml(path) and not is_secret_path(path):
            if self._state == "posted" or not self._hold:
                self._check(path, content)
            else:
                self._held.append((path, content))

    def _check(self, path: str, content: bytes) -> None:
        target = "generator.validate.ahead:check_file"
        validation_worker.post(target, path, content, self._locations)


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _readable_manifest(workdir: Path) -> Manifest | None:
    """The committed manifest, or None when it cannot be read: configure then raises the
    ManifestError where it always has, after the render (a template's error comes first)."""
    try:
        return load_manifest(workdir)
    except ManifestError:
        return None


def _load_validation() -> None:
    if not validation_worker.running():  # else the worker has loaded it, not this process
        import generator.validate.tree  # noqa: F401


def validate_planned(
    plan: WritePlan,
    result: RenderResult,
    report: list[str],
    read: Callable[[], None] | None = None,
) -> str:
    """Validate the tree as it will be after the write: the user's files plus ours, unless
    that very tree (user files included) passed at the last validated run. Appends the
    report lines; returns the tree's stamp to record once written. Raises WriteBlocked
    (a ValidationFailed) with the errors. `upgrade --check` validates its preview plan here
    too (secrets as on disk there: preview_plan leaves them out). `read` is called once
    the files on disk have been read: from then on the disk may change (configure stages
    its write)."""
    files = plan.final_files()
    tree = planned_tree(result.workdir, files, plan.remove)
    if read is not None:
        read()
    locations = locations_from_env()
    stamp = tree_stamp(tree, locations)
    if stamp == last_validated(result.workdir):
        report.append(VALIDATION_SKIPPED)
        return stamp
    from generator.validate.report import raise_for_errors

    decrypt = KnownPlaintext(files, result.tree.files, result.sops, result.workdir)
    findings: list[Finding] = validation_worker.submit(
        # With what the worker checked ahead, if it did (generator/validate/ahead.py).
        "generator.validate.ahead:validate_tree",
        tree,
        schema_locations=locations,
        decrypt=decrypt,
    ).result()
    try:
        raise_for_errors(findings)
    except ValidationFailed as err:
        from generator.render.overrides.origins import attribute

        # Secrets are planned as the render (they never merge); `files` holds ciphertext.
        rendered = result.tree.files
        edited = {
            p for p in result.tree.origins if not is_secret_path(p) and files.get(p) != rendered[p]
        }
        raise WriteBlocked(attribute(err.problems, result.tree.origins, edited)) from None
    warnings = sorted(str(f) for f in findings)
    report += [
        *warnings,
        f"validated: no errors{f', {len(warnings)} warning(s)' if warnings else ''}",
    ]
    return stamp
