"""Hand edits to generated files, through the CLI: merged, or a conflict with its choices.

The first merge runs configure as a child process; every other run calls `cli.main` in this
process (tests/process.py): the same code without the ~0.2 s CPU of a new interpreter."""

from __future__ import annotations

import json
from pathlib import Path

from generator.secrets.sops import Sops
from tests.pipeline.conftest import SECRET_TOKEN, edit, snapshot
from tests.process import clean_env, clustergen_in_process, run_clustergen
from tests.shared import CRD_SCHEMA_LOCATION

CILIUM = "kubernetes/apps/kube-system/cilium/app/helmrelease.yaml"
DNS_SECRET = "kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml"
# One part of the release: Hubble's UI turned on, with a note why.
HUBBLE_UI = (
    "      ui:\n        enabled: false\n",
    "      ui:\n        # mine\n        enabled: true\n",
)
DSR, SNAT = '      mode: "dsr"\n', '      mode: "snat"\n'


def hand_edit(workdir: Path, path: str, old: str, new: str) -> str:
    target = workdir / path
    text = target.read_text()
    assert text.count(old) == 1, f"{old!r} not once in {path}"
    target.write_text(text.replace(old, new))
    return target.read_text()


def env() -> dict[str, str]:
    """The environment of every clustergen here, made per call (tests/process.py)."""
    return clean_env(CLUSTERGEN_SCHEMA_LOCATION=CRD_SCHEMA_LOCATION)


def configure(workdir: Path, *args: str, child: bool = False) -> tuple[int, str, str]:
    """`clustergen configure *args`: a child process, or `cli.main` here when not `child`."""
    run = run_clustergen if child else clustergen_in_process
    result = run(["configure", *args], cwd=workdir, env=env())
    return result.returncode, result.stdout, result.stderr


def test_a_hand_edit_merges_with_a_config_change_to_another_part(workdir: Path) -> None:
    hand_edit(workdir, CILIUM, *HUBBLE_UI)
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="snat")

    status, out, err = configure(workdir, child=True)  # validated: the merge goes through it

    assert status == 0, err
    text = (workdir / CILIUM).read_text()
    assert HUBBLE_UI[1] in text and SNAT in text and DSR not in text
    assert f"  M {CILIUM} (merged: your edits and the new render)" in out
    assert " merged, " in out.splitlines()[0]
    # Merged once: the next run keeps both and changes nothing.
    status, out, err = configure(workdir, "--no-validate")
    assert status == 0, err
    assert out.startswith("0 changed"), out
    assert (workdir / CILIUM).read_text() == text


def test_a_hand_edit_saved_with_crlf_merges_and_keeps_crlf(workdir: Path) -> None:
    text = hand_edit(workdir, CILIUM, *HUBBLE_UI)
    (workdir / CILIUM).write_bytes(text.replace("\n", "\r\n").encode())
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="snat")

    status, out, err = configure(workdir, "--no-validate")  # the merge above is validated

    assert status == 0, err
    assert f"  M {CILIUM} (merged" in out
    merged = (workdir / CILIUM).read_bytes()
    assert merged.count(b"\n") == merged.count(b"\r\n")
    text = merged.decode().replace("\r\n", "\n")
    assert HUBBLE_UI[1] in text and SNAT in text and DSR not in text


def test_a_hand_edit_the_render_does_not_change_is_left_alone(workdir: Path) -> None:
    edited = hand_edit(workdir, CILIUM, *HUBBLE_UI)
    edit(workdir / "cluster.yaml", repository__branch="trunk")

    status, out, err = configure(workdir, "--no-validate")

    assert status == 0, err
    assert (workdir / CILIUM).read_text() == edited
    assert CILIUM not in out


def conflict(workdir: Path) -> str:
    """A hand edit and a config change of the same line; returns the edited text."""
    edited = hand_edit(workdir, CILIUM, DSR, '      mode: "hybrid"\n')
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="snat")
    return edited


def edit_the_dns_secret(workdir: Path) -> Sops:
    """A hand edit of the DNS secret (a comment added, re-encrypted) and a config change
    that renders it anew; returns the sops that opens it."""
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    plaintext = sops.decrypt((workdir / DNS_SECRET).read_bytes(), DNS_SECRET)
    (workdir / DNS_SECRET).write_bytes(sops.encrypt(b"# mine\n" + plaintext, DNS_SECRET))
    edit(workdir / "cluster.yaml", dns__token="another-token-Lk2p")
    return sops


def test_a_conflicting_edit_writes_nothing_and_shows_the_hunk(workdir: Path) -> None:
    edited = conflict(workdir)
    line = edited.splitlines().index('      mode: "hybrid"') + 1
    before = snapshot(workdir)

    status, _out, err = configure(workdir)

    assert status == 1
    assert snapshot(workdir) == before
    assert err.startswith(
        "error: 1 file(s) in the way; nothing was written:\n"
        f"  {CILIUM}: edited by hand since clustergen wrote it; the merge conflicts\n"
        f"    {CILIUM}:{line}: your edit and the new render change the same lines\n"
        "        --- yours (on disk)\n"
        '        |       mode: "hybrid"\n'
        "        --- as clustergen last wrote it\n"
        '        |       mode: "dsr"\n'
        "        --- new render\n"
        '        |       mode: "snat"\n'
    ), err
    assert "--keep-mine PATH" in err and "--take-theirs PATH" in err
    assert f"{CILIUM} to overrides/{CILIUM}.j2" in err


def test_keep_mine_makes_the_file_yours_for_good(workdir: Path) -> None:
    edited = conflict(workdir)

    status, out, err = configure(workdir, "--no-validate", "--keep-mine", CILIUM)

    assert status == 0, err
    assert (workdir / CILIUM).read_text() == edited
    assert f"released (yours now; clustergen no longer writes it): {CILIUM}" in out
    # A later change to the same file leaves it alone, and says so once.
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="dsr")
    status, out, err = configure(workdir, "--no-validate")
    assert status == 0, err
    assert f"yours, not written: {CILIUM}: the new render differs" in out
    assert (workdir / CILIUM).read_text() == edited
    status, out, err = configure(workdir, "--no-validate")
    assert (status, CILIUM in out) == (0, False), out


def test_take_theirs_writes_the_render_and_keeps_yours_as_orig(workdir: Path) -> None:
    edited = conflict(workdir)

    status, out, err = configure(workdir, "--no-validate", "--take-theirs", CILIUM)

    assert status == 0, err
    assert SNAT in (workdir / CILIUM).read_text()
    assert (workdir / f"{CILIUM}.orig").read_text() == edited
    assert f"  ~ {CILIUM} (your version saved as {CILIUM}.orig)" in out


def test_a_hand_edited_secret_never_merges(workdir: Path) -> None:
    sops = edit_the_dns_secret(workdir)
    before = snapshot(workdir)

    status, _out, err = configure(workdir, "--no-validate")

    assert status == 1
    assert snapshot(workdir) == before
    assert (
        f"  {DNS_SECRET}: edited by hand since clustergen wrote it; secrets are never merged" in err
    )
    assert "--keep-mine" not in err  # a secret always comes from cluster.yaml
    # No copy of a secret is kept for merging, in any form.
    assert (
        DNS_SECRET not in json.loads((workdir / ".clustergen/manifest.json").read_text())["bases"]
    )
    secret_bytes = (SECRET_TOKEN.encode(), (workdir / DNS_SECRET).read_bytes())
    for base in (workdir / ".clustergen/base").iterdir():
        assert not any(secret in base.read_bytes() for secret in secret_bytes)
    status, _out, err = configure(workdir, "--no-validate", "--take-theirs", DNS_SECRET)
    assert status == 0, err
    rendered = sops.decrypt((workdir / DNS_SECRET).read_bytes(), DNS_SECRET)
    assert b"another-token-Lk2p" in rendered and b"# mine" not in rendered


def test_diff_shows_what_configure_would_change_not_the_hand_edit(workdir: Path) -> None:
    hand_edit(workdir, CILIUM, *HUBBLE_UI)
    # A hand edit configure keeps is no drift.
    clean = clustergen_in_process(["diff", "--check"], cwd=workdir, env=env())
    assert clean.returncode == 0, clean.stdout + clean.stderr

    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="snat")
    drift = clustergen_in_process(["diff", "--check"], cwd=workdir, env=env())

    assert drift.returncode == 1
    assert "snat" in drift.stdout and "# mine" not in drift.stdout
