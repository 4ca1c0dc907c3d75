"""`clustergen secrets inventory|check|rotate --dir D`: each returns its Report."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generator.errors import ClusterGenError, SecretsError, SideFileError, WriteConflict
from generator.paths import AGE_KEY_NAME, CONFIG_NAME
from generator.report import Report
from generator.secrets.audit import SecretFile, load_rules, scan
from generator.secrets.files import SOPS_CONFIG
from generator.secrets.inventory import MARKER, build_inventory
from generator.secrets.keys import OLD_AGE_KEY_NAME
from generator.secrets.readable import (
    NO_KEY_NOTE,
    decryptor,
    undecryptable,
    undecryptable_message,
)
from generator.secrets.replace import replace_side_files
from generator.secrets.sops import MissingKey, Sops
from generator.secrets.tracked import (
    PRIVATE_FILES,
    REPLACE_HOW,
    refuse_tracked_plaintext,
    tracked_files,
)
from generator.write.journal import transact
from generator.write.lock import writing
from generator.write.ownership import vouched_by

INVENTORY_PATH = Path("docs/SECRETS.md")
WORKERS = 4


def inventory(workdir: Path) -> Report:
    with writing(workdir) as recovered:
        return Report.of([recovered, *_inventory(workdir)] if recovered else _inventory(workdir))


def _inventory(workdir: Path) -> list[str]:
    target = workdir / INVENTORY_PATH
    if target.exists() and not target.read_text(errors="replace").startswith(MARKER):
        raise WriteConflict(
            f"{INVENTORY_PATH} exists and was not written by `clustergen secrets inventory`; "
            "move it away to let the inventory be written there"
        )
    text = build_inventory(workdir)
    rel = INVENTORY_PATH.as_posix()
    transact(workdir, {rel: text.encode()}, {rel: _mode(target)}, [], None)
    return [f"wrote {INVENTORY_PATH}"]


def check(workdir: Path) -> Report:
    files = scan(workdir, load_rules(workdir))
    problems = [f"{item.path}: {item.problem}" for item in files if item.problem]
    problems += [
        f"{name}: tracked by git; run `git rm --cached {name}`, commit, and replace it "
        f"({REPLACE_HOW[name]})"
        for name in tracked_files(workdir, PRIVATE_FILES)
    ]
    try:
        refuse_tracked_plaintext(workdir / CONFIG_NAME)
    except SideFileError as err:
        problems.append(str(err))
    except ClusterGenError as err:  # it does not parse: it could not be looked at
        problems.append(f"{CONFIG_NAME}: not checked for secret values ({err})")
    sops = decryptor(workdir)
    if sops is not None:
        problems += [
            undecryptable_message(p, why)
            for p, why in undecryptable(
                workdir, files, sops, vouched_by(workdir, sops.fingerprint_key)
            )
        ]
    if _stale_inventory(workdir):
        problems.append(
            f"{INVENTORY_PATH}: names other files or recipients than the tree holds; "
            "run `uv run clustergen secrets inventory`"
        )
    if problems:
        summary = (
            f"{len(problems)} problem(s); `uv run clustergen configure` re-encrypts generated "
            "files, `uv run clustergen secrets rotate` re-encrypts the rest for the keys in "
            ".sops.yaml"
        )
        return Report.of([*problems, summary], status=1)
    ok = f"ok: {len(files)} secret file(s), all encrypted for the keys in {SOPS_CONFIG}"
    return Report(f"{ok}; {NO_KEY_NOTE}" if sops is None and files else f"{ok}; all decrypt")


def _ours(target: Path) -> bool:
    """docs/SECRETS.md exists and `secrets inventory` wrote it."""
    return target.is_file() and target.read_text(errors="replace").startswith(MARKER)


def _stale_inventory(workdir: Path) -> bool:
    target = workdir / INVENTORY_PATH
    return _ours(target) and target.read_text(errors="replace") != build_inventory(workdir)


def _refreshed_inventory(workdir: Path, pending: dict[str, bytes]) -> dict[str, bytes]:
    """docs/SECRETS.md as it reads after `pending` is written, when it exists and is stale."""
    target = workdir / INVENTORY_PATH
    if not _ours(target):
        return {}
    text = build_inventory(workdir, pending)
    return (
        {}
        if text == target.read_text(errors="replace")
        else {INVENTORY_PATH.as_posix(): text.encode()}
    )


def rotate(workdir: Path, *, replace: list[str] | None = None) -> Report:
    """Re-encrypt for the keys in .sops.yaml; with `replace` (webhook.token, deploy.key)
    make those new instead (secrets/replace.py)."""
    with writing(workdir) as recovered:
        lines = replace_side_files(workdir, replace) if replace else _rotate(workdir)
        return Report.of([recovered, *lines] if recovered else lines)


def _mode(path: Path) -> int:
    """path's mode when it exists (the user may have changed it), else 0644."""
    try:
        return path.lstat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o644


def _rotate(workdir: Path) -> list[str]:
    files = scan(workdir, load_rules(workdir))
    todo = [item for item in files if item.problem]
    unmatched = [item.path for item in todo if item.rule is None]
    if unmatched:
        raise SecretsError(
            f"no creation rule in {SOPS_CONFIG} matches {', '.join(unmatched)}; "
            "add one (or move the files) and run rotate again"
        )
    if not todo:
        # configure re-encrypted everything already; the inventory still names the old key.
        inventory = _refreshed_inventory(workdir, {})
        if inventory:
            transact(workdir, inventory, {p: _mode(workdir / p) for p in inventory}, [], None)
        refreshed = [f"refreshed {INVENTORY_PATH}"] if inventory else []
        return [
            f"nothing to do: {len(files)} secret file(s) already encrypted for the current keys",
            *refreshed,
        ]
    sops = Sops(age_key_file=workdir / AGE_KEY_NAME, config=workdir / SOPS_CONFIG)
    old_key = workdir / OLD_AGE_KEY_NAME
    old_sops = Sops(age_key_file=old_key, config=sops.config) if old_key.is_file() else None
    # Everything is re-encrypted in memory first: one failure writes nothing.
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda item: _reencrypt(item, sops, old_sops), todo))
    written = {item.path: ciphertext for item, ciphertext in zip(todo, results, strict=True)}
    # docs/SECRETS.md names the recipients: refreshed with them, never left naming the old.
    inventory = _refreshed_inventory(workdir, written)
    # One transaction: a crash or a full disk re-encrypts all of them or none.
    transact(
        workdir,
        {**written, **inventory},
        {path: _mode(workdir / path) for path in [*written, *inventory]},
        [],
        None,
    )
    lines = [f"re-encrypted {item.path} ({item.problem})" for item in todo]
    lines += [f"refreshed {INVENTORY_PATH}" for _ in inventory]
    return [*lines, f"{len(todo)} file(s) re-encrypted, {len(files) - len(todo)} already current"]


def _reencrypt(item: SecretFile, sops: Sops, old_sops: Sops | None) -> bytes:
    if not item.encrypted:
        return sops.encrypt(item.content, item.path)
    try:
        plaintext = sops.decrypt(item.content, item.path)
    except SecretsError as err:
        if old_sops is None:
            if isinstance(err, MissingKey):
                raise
            raise SecretsError(
                f"{err}; if the file was encrypted for your previous key, put that key in "
                f"{OLD_AGE_KEY_NAME} and run rotate again (nothing was changed)"
            ) from None
        plaintext = old_sops.decrypt(item.content, item.path)
    return sops.encrypt(plaintext, item.path)
