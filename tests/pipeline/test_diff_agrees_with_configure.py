"""`clustergen diff` and `upgrade --check` say what configure does with hand edits, through
the CLI: all three take configure's plan from one place (writer.preview_plan). A conflict
is drift shown with configure's hunks; an edited file no longer rendered is kept; a file
you took over shows how its render differs; --take-theirs keeps your other edits.

Every run calls `cli.main` in this process (tests/process.py): what is tested is that the
commands agree; each of them runs as a child process elsewhere (configure in
tests/pipeline/test_hand_edits.py, upgrade --check in test_upgrade_check.py, diff in
tests/diff/test_diff_cli.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.pipeline.conftest import edit
from tests.pipeline.test_hand_edits import (
    CILIUM,
    DNS_SECRET,
    HUBBLE_UI,
    conflict,
    edit_the_dns_secret,
    env,
    hand_edit,
)
from tests.process import clustergen_in_process
from tests.test_sidefiles import TUNNEL
from tests.workdirs import configured_copy

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

TUNNEL_RELEASE = "kubernetes/apps/network/cloudflare-tunnel/app/helmrelease.yaml"
RENDERED_CIDR = 'ipv4NativeRoutingCIDR: "10.42.0.0/16"\n'
MY_CIDR = 'ipv4NativeRoutingCIDR: "10.45.0.0/16"  # mine\n'
NEW_CIDR = 'ipv4NativeRoutingCIDR: "10.44.0.0/16"\n'


def clustergen(workdir: Path, *args: str) -> tuple[int, str, str]:
    result = clustergen_in_process(list(args), cwd=workdir, env=env())
    return result.returncode, result.stdout, result.stderr


def configure(workdir: Path, *args: str) -> tuple[int, str, str]:
    return clustergen(workdir, "configure", *args)


def hunk_lines(text: str, path: str) -> list[str]:
    """The conflicting hunks as printed (from `path:N: …` on), without their indent."""
    out: list[str] = []
    for line in (line.strip() for line in text.splitlines()):
        starts = line.startswith(f"{path}:") and "change the same lines" in line
        if starts or (out and line.startswith(("--- ", "| ", "(no lines)"))):
            out.append(line)
    return out


def cidr_conflict_after_a_merged_edit(workdir: Path) -> None:
    """An edit configure merged earlier, then an edit of the line a config change renders."""
    hand_edit(workdir, CILIUM, *HUBBLE_UI)
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="snat")
    status, out, err = configure(workdir, "--no-validate")
    assert status == 0 and f"  M {CILIUM}" in out, out + err
    hand_edit(workdir, CILIUM, RENDERED_CIDR, MY_CIDR)
    edit(workdir / "cluster.yaml", kubernetes__pod_cidr="10.44.0.0/16")


@pytest.fixture
def cidr_conflict(workdir: Path, tmp_path: Path) -> Path:
    """A copy of `workdir` in `cidr_conflict_after_a_merged_edit`'s state, made once per
    process for the three tests that start from it (tests/workdirs.py)."""

    def make(root: Path) -> None:
        shutil.copytree(workdir, root, symlinks=True, dirs_exist_ok=True)
        cidr_conflict_after_a_merged_edit(root)

    return configured_copy(tmp_path / "conflict", "pipeline-cidr-conflict", make)


def test_a_conflict_is_drift_shown_with_configures_hunks(cidr_conflict: Path) -> None:
    workdir = cidr_conflict

    status, out, _err = clustergen(workdir, "diff", "--check")
    refused, _out, refusal = configure(workdir, "--no-validate")

    assert (status, refused) == (1, 1)
    assert (
        f"conflict: {CILIUM}: edited by hand since clustergen wrote it; the merge conflicts\n"
    ) in out
    assert "configure writes nothing while a file conflicts; choose for each: " in out
    shown = hunk_lines(out, CILIUM)
    assert shown and shown == hunk_lines(refusal, CILIUM)
    assert f"|     {MY_CIDR.strip()}" in shown and f"|     {NEW_CIDR.strip()}" in shown
    # Not shown as a change that would revert the merged edit: configure writes nothing.
    assert f"changed: {CILIUM}" not in out and "# mine" not in out.replace(MY_CIDR.strip(), "")
    summary = clustergen(workdir, "diff", "--format", "summary")[1]
    assert f"! {CILIUM} (conflict: edited by hand" in summary and f"~ {CILIUM}" not in summary
    report = json.loads(clustergen(workdir, "diff", "--format", "json")[1])
    assert [c["path"] for c in report["conflicts"]] == [CILIUM]
    assert CILIUM not in [c["path"] for c in report["changed"]]
    checked, upgrade_out, _ = clustergen(workdir, "upgrade", "--check")
    assert checked == 1 and f"  conflict: {CILIUM}: " in upgrade_out
    assert hunk_lines(upgrade_out, CILIUM) == shown


def test_take_theirs_resolves_conflicting_lines_only_and_keeps_your_other_edits(
    cidr_conflict: Path,
) -> None:
    workdir = cidr_conflict
    edited = (workdir / CILIUM).read_text()
    refused, _out, refusal = configure(workdir, "--no-validate")
    assert refused == 1
    assert "--take-theirs PATH; your other edits in the file stay" in refusal
    assert "dropping all your edits in them: --force" in refusal

    status, out, err = configure(workdir, "--no-validate", "--take-theirs", CILIUM)

    assert status == 0, err
    text = (workdir / CILIUM).read_text()
    assert NEW_CIDR in text and MY_CIDR not in text  # the conflicting line: the render's
    assert HUBBLE_UI[1] in text and '      mode: "snat"\n' in text  # the other edit stays
    assert (workdir / f"{CILIUM}.orig").read_text() == edited
    assert (
        f"  ~ {CILIUM} (merged: conflicting lines from the new render, your other edits kept; "
        f"your version saved as {CILIUM}.orig)"
    ) in out
    # And the merge result is what configure keeps from then on: no drift.
    assert clustergen(workdir, "diff", "--check")[0] == 0


def test_force_replaces_the_whole_file(cidr_conflict: Path) -> None:
    workdir = cidr_conflict

    status, out, err = configure(workdir, "--no-validate", "--force")

    assert status == 0, err
    text = (workdir / CILIUM).read_text()
    assert NEW_CIDR in text and HUBBLE_UI[1] not in text
    assert f"  ~ {CILIUM} (your version saved as {CILIUM}.orig)" in out


def test_an_edited_file_no_longer_rendered_is_kept_by_both(workdir: Path) -> None:
    (workdir / "cloudflare-tunnel.json").write_text(json.dumps(TUNNEL))
    edit(workdir / "cluster.yaml", ingress__mode="cloudflare-tunnel")
    status, _out, err = configure(workdir, "--no-validate")
    assert status == 0, err
    mine = "TUNNEL_LOGLEVEL: debug  # mine\n          TUNNEL_METRICS:"
    hand_edit(workdir, TUNNEL_RELEASE, "TUNNEL_METRICS:", mine)
    edit(workdir / "cluster.yaml", ingress__mode="direct")

    status, out, _err = clustergen(workdir, "diff")
    summary = clustergen(workdir, "diff", "--format", "summary")[1]
    done, written, err = configure(workdir, "--no-validate")

    assert status == 0
    kept = "(edited by you, no longer generated; configure keeps it)"
    assert f"kept: {TUNNEL_RELEASE} {kept}" in out
    assert f"removed: {TUNNEL_RELEASE}" not in out
    assert f"= {TUNNEL_RELEASE} {kept}" in summary and f"- {TUNNEL_RELEASE}" not in summary
    assert "removed: kubernetes/apps/network/cloudflare-tunnel/app/ocirepository.yaml" in out
    assert done == 0, err
    assert f"  kept (edited by you, no longer generated): {TUNNEL_RELEASE}" in written
    assert "TUNNEL_LOGLEVEL: debug  # mine" in (workdir / TUNNEL_RELEASE).read_text()


def test_a_file_you_took_over_shows_how_its_render_differs(workdir: Path) -> None:
    edited = conflict(workdir)  # mode: "hybrid" by hand, "snat" in cluster.yaml
    status, _out, err = configure(workdir, "--no-validate", "--keep-mine", CILIUM)
    assert status == 0, err
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="dsr")

    status, out, _err = clustergen(workdir, "diff", "--check")
    _, written, _ = configure(workdir, "--no-validate")
    after, again, _ = clustergen(workdir, "diff", "--check")

    # Shown, with the file's own lines, but no drift: configure leaves it to you.
    assert status == 0
    assert (
        f"taken over by you: {CILIUM} (differs from its render; "
        "the render changed since you took it over)\n"
    ) in out
    assert '-      mode: "hybrid"\n+      mode: "dsr"\n' in out
    assert "1 taken over by you (differ from the render; not drift)" in out
    assert "no differences" not in out
    # configure's pointer to diff tells the truth; it says so once, diff every time.
    assert f"yours, not written: {CILIUM}: the new render differs from it" in written
    assert after == 0
    assert f"taken over by you: {CILIUM} (differs from its render)\n" in again
    assert (workdir / CILIUM).read_text() == edited
    summary = clustergen(workdir, "diff", "--format", "summary")[1]
    assert f"= {CILIUM} (taken over by you: differs from its render)" in summary


def test_a_hand_edited_secret_is_a_conflict_for_all_three(workdir: Path) -> None:
    edit_the_dns_secret(workdir)
    why = (
        "edited by hand since clustergen wrote it; secrets are never merged: they are "
        "rendered from cluster.yaml (put the value there)"
    )

    status, out, _err = clustergen(workdir, "diff", "--check")
    checked, upgrade_out, _ = clustergen(workdir, "upgrade", "--check")
    refused, _, refusal = configure(workdir, "--no-validate")

    assert (status, checked, refused) == (1, 1, 1)
    assert f"conflict: {DNS_SECRET}: {why}\n" in out
    assert f"secret {DNS_SECRET}" not in out  # not a change configure would make
    assert f"  conflict: {DNS_SECRET}: {why}\n" in upgrade_out
    assert f"  {DNS_SECRET}: {why}\n" in refusal
    assert "another-token-Lk2p" not in out + upgrade_out
