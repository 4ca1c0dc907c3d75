"""A missing key or token file is not a first run when the repository already depends on one.

In a fresh clone (a new laptop, a teammate) `init` would mint a new age.key, webhook.token
or deploy.key and `configure` would re-encrypt every secret for them: once pushed, Flux
(holding the old key) decrypts nothing. So both refuse when the tree already holds secrets
that only a key we do not have can open, or the encrypted copy of a token we would replace.
"""

from __future__ import annotations

from pathlib import Path

from generator.errors import SideFileError
from generator.paths import AGE_KEY_NAME, DEPLOY_KEY_NAME, WEBHOOK_TOKEN_NAME
from generator.secrets.files import iter_secret_files
from generator.secrets.keys import OLD_AGE_KEY_NAME, ROTATION_HINT, HeldKey, read_age_key
from generator.secrets.metadata import parse_rules, read_metadata

# The rendered secrets that hold a side file's value (see templates/config/…).
WEBHOOK_SECRET = "kubernetes/apps/flux-system/flux-webhook/app/secret.sops.yaml"
DEPLOY_KEY_SECRETS = (
    "bootstrap/deploy-key.sops.yaml",
    "kubernetes/apps/flux-system/flux-instance/app/deploy-key.sops.yaml",
)
RULES_NAME = ".sops.yaml"


def refuse_lost_keys(workdir: Path, held: HeldKey | None = None) -> None:
    """Raise SideFileError when a key or token file is missing (or another) while the tree
    depends on the one that was there: what to restore, and where the rotation steps are.
    `held`: age.key as the caller read it (keys.discover_age_key); read here if not given."""
    # One walk and one read of each secret's metadata serve both checks below.
    local = _local_recipients(workdir, held)
    locked = _locked_files(workdir, local)
    problems = [*_age_problems(workdir, held, local, locked)]
    for name in (WEBHOOK_TOKEN_NAME, DEPLOY_KEY_NAME):
        if (hint := _side_file_recovery(workdir, name)) is not None:
            problems.append(hint)
    if problems:
        raise SideFileError(
            "this repository already has secrets; nothing was created or written:\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    strays = _strays(workdir, local, locked if local else {})
    if strays:
        raise SideFileError(
            "secret file(s) the repository's key cannot open; nothing was written:\n"
            + "\n".join(f"  {p}" for p in strays)
        )


def missing_file_hint(workdir: Path, name: str) -> str | None:
    """The one message for a missing key or token file that committed secrets depend on
    (check, init and configure all say it), or None when creating a new one is safe."""
    if name == AGE_KEY_NAME:
        return next(iter(_age_problems(workdir, None)), None)
    return _side_file_recovery(workdir, name)


def recover_command(name: str, secret: str, field: str) -> str:
    """A shell command writing one field of a committed secret to `name`, mode 0600 (the
    umask applies as the shell creates the file; sops' --output would make it 0644)."""
    return (
        f"`(umask 077 && SOPS_AGE_KEY_FILE={AGE_KEY_NAME} uv run sops decrypt --extract "
        f'\'["stringData"]["{field}"]\' {secret} > {name})`'
    )


def _side_file_recovery(workdir: Path, name: str) -> str | None:
    if (workdir / name).exists():
        return None
    if name == WEBHOOK_TOKEN_NAME and (workdir / WEBHOOK_SECRET).is_file():
        return (
            f"{WEBHOOK_TOKEN_NAME} is missing, but {WEBHOOK_SECRET} holds the token the "
            "push webhook already uses; restore it, or recover it with "
            + recover_command(WEBHOOK_TOKEN_NAME, WEBHOOK_SECRET, "token")
        )
    committed = [p for p in DEPLOY_KEY_SECRETS if (workdir / p).is_file()]
    if name == DEPLOY_KEY_NAME and committed:
        return (
            f"{DEPLOY_KEY_NAME} is missing, but {committed[0]} holds the deploy key the "
            "repository trusts; restore it, or recover it with "
            + recover_command(DEPLOY_KEY_NAME, committed[0], "identity")
        )
    return None


def _local_recipients(workdir: Path, held: HeldKey | None) -> set[str]:
    """Public keys of age.key and (during a rotation) age.key.old; unreadable ones count as
    absent here, and are reported by the side-file checks."""
    found: set[str] = set()
    if held is not None and held.key is not None:
        found.add(held.key.public)
    for name in (AGE_KEY_NAME, OLD_AGE_KEY_NAME):
        if name == AGE_KEY_NAME and held is not None:
            continue
        try:
            found.add(read_age_key(workdir / name).public)
        except SideFileError:
            continue
    return found


def _locked_files(workdir: Path, local: set[str]) -> dict[str, frozenset[str]]:
    """Files (and .sops.yaml) naming age recipients of which none is a local key."""
    locked: dict[str, frozenset[str]] = {}
    rules = workdir / RULES_NAME
    if rules.is_file():
        for rule in parse_rules(rules.read_bytes()):
            age = frozenset(r for r in rule.recipients if r.startswith("age1"))
            if age and not age & local:
                locked.setdefault(RULES_NAME, age)
    for path in iter_secret_files(workdir):
        meta = read_metadata((workdir / path).read_bytes(), path)
        in_file = frozenset(r for r in meta.recipients if r.startswith("age1")) if meta else None
        if in_file and not in_file & local:
            locked[path] = in_file
    return locked


def _holds_repository_key(locked: dict[str, frozenset[str]], workdir: Path) -> bool:
    """Whether the local key is the repository's: .sops.yaml names it and some committed
    secret is encrypted for it. Then a file locked to another key is a stray (a user's
    file encrypted by hand for someone else), not a sign that the key was lost."""
    if RULES_NAME in locked or not (workdir / RULES_NAME).is_file():
        return False
    return any(path not in locked for path in iter_secret_files(workdir))


def _strays(workdir: Path, local: set[str], locked: dict[str, frozenset[str]]) -> list[str]:
    """Secret files encrypted only for other keys while the local key is the repository's
    (`locked`: _locked_files of `local`, empty without a local key)."""
    if not locked or not _holds_repository_key(locked, workdir):
        return []
    return [
        f"{path} is encrypted for {', '.join(sorted(wanted))} only, not for the repository's "
        f"key ({', '.join(sorted(local))}): re-encrypt it for the repository's recipients "
        f"with the key that opens it (`SOPS_AGE_KEY_FILE=<that key> uv run sops updatekeys "
        f"{path}`, or keep that key as {OLD_AGE_KEY_NAME} and run `uv run clustergen secrets "
        f"rotate`), or restore it from git (`git checkout -- {path}`)"
        for path, wanted in sorted(locked.items())
    ]


def _age_problems(
    workdir: Path,
    held: HeldKey | None,
    local: set[str] | None = None,
    locked: dict[str, frozenset[str]] | None = None,
) -> list[str]:
    """`local`, `locked`: _local_recipients and _locked_files, when the caller has them."""
    local = _local_recipients(workdir, held) if local is None else local
    locked = _locked_files(workdir, local) if locked is None else locked
    if not locked or (local and _holds_repository_key(locked, workdir)):
        return []  # nothing locked, or only strays (refuse_lost_keys names them apart)
    names = sorted(locked, key=lambda p: (p != RULES_NAME, p))
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    wanted = ", ".join(sorted(set().union(*locked.values())))
    if not (workdir / AGE_KEY_NAME).exists():
        start = f"{AGE_KEY_NAME} is missing, but {listed} are encrypted for {wanted}"
    else:
        mine = ", ".join(sorted(local)) or "unreadable"
        start = f"{AGE_KEY_NAME} ({mine}) cannot decrypt {listed}, encrypted for {wanted}"
    return [
        f"{start}; a new key would lock Flux out of them. Restore the {AGE_KEY_NAME} holding "
        "that key next to cluster.yaml (from your password manager or backup); when rotating "
        f"keys, keep the old one as {OLD_AGE_KEY_NAME} ({ROTATION_HINT})"
    ]
