"""`clustergen talos secret|bootstrap`: the Talos steps that need a live cluster, from the
rendered `talos/` folder (talhelper's talconfig.yaml and talenv.yaml).

`secret` makes the cluster's PKI once (`talhelper gensecret`) and writes it encrypted: the
plaintext only passes through memory to sops. `bootstrap` generates the node configs,
applies them, then retries `talosctl bootstrap` while the nodes install and reboot, and
fetches the kubeconfig. talhelper prints the talosctl commands (`talhelper gencommand …`);
they are run by bash as talhelper's documentation shows
(https://budimanjojo.github.io/talhelper/latest/reference/cli/#talhelper-gencommand).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from generator import paths
from generator.atomic import atomic_write
from generator.command import run
from generator.errors import ClusterGenError, CommandError
from generator.report import Report
from generator.secrets.files import SOPS_CONFIG
from generator.secrets.keys import held_age_key, key_in_env
from generator.secrets.sops import Sops
from generator.write.lock import writing

TALOS_DIR = "talos"
SECRET_FILE = "talsecret.sops.yaml"
# The nodes install Talos and reboot after the apply: 60 tries 10 s apart (10 minutes).
ATTEMPTS = 60
WAIT_SECONDS = 10.0
# Generated commands talk to nodes that may still be rebooting: a generous bound per run.
COMMAND_TIMEOUT = 300.0

Progress = Callable[[str], None]


def _quiet(line: str) -> None:
    """The default `progress`: callers that show nothing (tests)."""


def secret(workdir: Path) -> Report:
    """talos/talsecret.sops.yaml from `talhelper gensecret`, encrypted with the rules in
    .sops.yaml; an existing file is kept (it is the cluster's PKI). ClusterGenError when
    talhelper, the rendered tree or the rules are missing."""
    talos = _talos_dir(workdir)
    target = talos / SECRET_FILE
    if target.exists():
        return Report(f"kept {TALOS_DIR}/{SECRET_FILE} (already exists)")
    _require("talhelper")
    with writing(workdir) as recovered:  # as every command that writes here (DESIGN.md)
        lines = [recovered] if recovered else []
        if target.exists():  # made by a run that held the lock before us: theirs stays
            return Report.of([*lines, f"kept {TALOS_DIR}/{SECRET_FILE} (already exists)"])
        plaintext = run(["talhelper", "gensecret"], cwd=talos).stdout
        sops = Sops(age_key_file=held_age_key(workdir), config=workdir / SOPS_CONFIG)
        ciphertext = sops.encrypt(plaintext, f"{TALOS_DIR}/{SECRET_FILE}")
        try:
            atomic_write(target, ciphertext, 0o644)
        except OSError as err:  # a read-only folder or disk: nothing was written
            raise ClusterGenError(
                f"cannot write {TALOS_DIR}/{SECRET_FILE}: {err.strerror or err}; make "
                f"{TALOS_DIR}/ writable and run again"
            ) from None
        return Report.of([*lines, f"created {TALOS_DIR}/{SECRET_FILE}"])


def bootstrap(
    workdir: Path,
    *,
    progress: Progress = _quiet,
    attempts: int = ATTEMPTS,
    wait: float = WAIT_SECONDS,
) -> Report:
    """Secret, node configs, apply, bootstrap etcd (retried until the first controller
    accepts it; AlreadyExists on a bootstrapped cluster counts as done), then the
    kubeconfig into `workdir` (retried likewise). ClusterGenError after `attempts` tries,
    quoting the last error."""
    talos = _talos_dir(workdir)
    _require("talhelper", "talosctl")
    key = held_age_key(workdir)
    if key is None and not key_in_env():
        raise ClusterGenError(
            f"{workdir / paths.AGE_KEY_NAME} is missing: talhelper needs it to decrypt "
            f"{TALOS_DIR}/{SECRET_FILE}; restore your saved key"
        )
    # talhelper decrypts talsecret.sops.yaml with the repository's age key.
    env = {"SOPS_AGE_KEY_FILE": str(key)} if key is not None else {}
    lines = [secret(workdir).text]
    genconfig = [
        "talhelper",
        "genconfig",
        "--secret-file",
        SECRET_FILE,
        "--env-file",
        "talenv.yaml",
    ]
    run(genconfig, cwd=talos, env=env, timeout=COMMAND_TIMEOUT)
    lines.append(f"generated the node configs in {TALOS_DIR}/clusterconfig")
    _generated(talos, env, "apply", "--extra-flags=--insecure")
    lines.append("applied the node configs")

    def bootstrapped() -> None:
        try:
            _generated(talos, env, "bootstrap")
        except CommandError as err:
            if "AlreadyExists" not in str(err):  # a rerun on a bootstrapped cluster: done
                raise

    _retry(bootstrapped, "the controllers to accept the bootstrap", progress, attempts, wait)
    lines.append("bootstrapped etcd")

    def kubeconfig() -> None:
        _generated(talos, env, "kubeconfig", f"--extra-flags={workdir.resolve()} --force")

    _retry(kubeconfig, "the kubeconfig", progress, attempts, wait)
    lines.append(f"wrote {workdir / 'kubeconfig'}")
    return Report.of(lines)


def _generated(talos: Path, env: dict[str, str], *command: str) -> None:
    """Run the talosctl commands `talhelper gencommand COMMAND…` prints, with bash."""
    script = run(["talhelper", "gencommand", *command], cwd=talos, env=env).stdout
    try:
        result = run(["bash"], input=script, cwd=talos, env=env, timeout=COMMAND_TIMEOUT,
                     ok_codes=range(256))  # fmt: skip
    except CommandError as err:
        raise CommandError(f"talosctl {command[0]}: {err}") from None
    if result.returncode != 0:
        output = (result.stderr + result.stdout).decode(errors="replace").strip()
        raise CommandError(f"talosctl {command[0]} failed: {output or 'no output'}")


def _retry(step: Callable[[], None], waiting_for: str, progress: Progress, attempts: int,
           wait: float) -> None:  # fmt: skip
    """Run `step` until it raises no CommandError, at most `attempts` times."""
    last: CommandError | None = None
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except CommandError as err:
            last = err
        progress(f"waiting for {waiting_for} ({attempt}/{attempts})")
        if attempt < attempts:
            time.sleep(wait)
    raise ClusterGenError(f"still waiting for {waiting_for} after {attempts} tries: {last}")


def _talos_dir(workdir: Path) -> Path:
    talos = workdir / TALOS_DIR
    if not (talos / "talconfig.yaml").is_file():
        raise ClusterGenError(
            f"{TALOS_DIR}/talconfig.yaml is missing in {workdir}: run `uv run task configure` first"
        )
    return talos


def _require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise ClusterGenError(
            f"{' and '.join(missing)} not found on PATH: see https://budimanjojo.github.io/"
            "talhelper/ (talhelper) and https://www.talos.dev/ (talosctl)"
        )
