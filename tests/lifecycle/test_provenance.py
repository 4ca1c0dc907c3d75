"""The day-two commands act only on the talos/ files configure wrote (the sha256 in
`.clustergen/manifest.json`), a file the user took over, or an override's render; through
the CLI against the stub tools.

Every run calls `cli.main` in this process (tests/process.py): what is tested is which
files a command trusts; each command runs as a child process in test_cli_lifecycle.py."""

from __future__ import annotations

from pathlib import Path

from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.repos import KUBERNETES_VERSION, TALOS_VERSION, record_render
from tests.lifecycle.stubs import StubTools
from tests.process import clustergen_in_process

TALENV = "talos/talenv.yaml"
TALCONFIG = "talos/talconfig.yaml"
OLDER = "v1.12.0"
FOREIGN = "evil.example.com/installer"


def clustergen(repo: Path, *argv: str) -> tuple[int, str, str]:
    result = clustergen_in_process([*argv, "--dir", str(repo)], cwd=repo)
    return result.returncode, result.stdout, result.stderr


def _edit(repo: Path, relative: str, old: str, new: str) -> None:
    path = repo / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _downgrade(repo: Path) -> None:
    _edit(repo, TALENV, f"talosVersion: {TALOS_VERSION}", f"talosVersion: {OLDER}")


def _foreign_image(repo: Path) -> None:
    path = repo / TALCONFIG
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "talosImageURL:" in line)
    lines[at] = lines[at][: lines[at].index("talosImageURL:")] + f'talosImageURL: "{FOREIGN}"\n'
    path.write_text("".join(lines))


def test_hand_edits_after_configure_reach_no_command(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("single")
    record_render(repo)
    _downgrade(repo)
    _foreign_image(repo)
    for argv in (
        ["talos", "upgrade-node", "k8s-0", "--dry-run"],
        ["talos", "upgrade-node", "k8s-0"],
        ["talos", "generate-config", "--dry-run"],
        ["talos", "upgrade-k8s", "--dry-run"],
    ):
        code, out, err = clustergen(repo, *argv)
        assert (code, out) == (1, ""), (argv, err)
        assert err.startswith(
            f"error: {TALCONFIG}, {TALENV} differ from what configure last wrote (the sha256 "
            "in .clustergen/manifest.json): edited by hand? Nothing was run. To use "
            "configure's render, delete them and run `uv run task configure`"
        ), err
        assert f"overrides/{TALCONFIG}.j2" in err
        assert f"`uv run task configure -- --keep-mine {TALCONFIG}`" in err
        assert "note:" not in err
    # The commands that read only talconfig.yaml name only it.
    for argv in (["talos", "apply-node", "k8s-0", "--dry-run"], ["talos", "reset", "--dry-run"]):
        code, out, err = clustergen(repo, *argv)
        assert (code, out) == (1, ""), (argv, err)
        assert err.startswith(f"error: {TALCONFIG} differs from what configure last wrote"), err
        assert "delete it and run" in err
    assert tools.calls() == []


def test_a_hand_edited_patch_stops_only_generate_config(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("single", live=False)
    record_render(repo)
    patch = next(p for p in sorted((repo / "talos/patches").rglob("*.yaml")))
    patch.write_text(patch.read_text() + "# mine\n")
    shown = patch.relative_to(repo).as_posix()
    code, out, err = clustergen(repo, "talos", "generate-config", "--dry-run")
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {shown} differs from what configure last wrote"), err
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-0", "--dry-run")
    assert (code, err) == (0, "")
    assert f"{TALOS_VERSION} --timeout 600s" in out


def test_a_talenv_taken_over_is_used_with_a_note(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("single", live=False)
    _downgrade(repo)
    record_render(repo, released=[TALENV])
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-0", "--dry-run")
    assert code == 0, err
    assert err == (
        f"note: {TALENV} is yours (taken over with `configure --keep-mine`): using it as it is\n"
    )
    assert f":{OLDER} --timeout 600s" in out
    # What the user took over is theirs; talconfig.yaml still is configure's.
    _foreign_image(repo)
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-0", "--dry-run")
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {TALCONFIG} differs from what configure last wrote"), err
    assert tools.calls() == []


def test_the_pin_note_only_where_the_version_is_used_and_not_for_an_override(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("single")
    _downgrade(repo)
    record_render(repo)  # as configure rendered it before templates/versions.yaml moved on
    note = (
        f"note: {TALENV} has talos {OLDER}, templates/versions.yaml {TALOS_VERSION}: using "
        f"{OLDER}, as the last `uv run task configure` rendered it (run it again to render "
        "templates/versions.yaml's)\n"
    )
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-0", "--dry-run")
    assert (code, err) == (0, note)
    for argv in (
        ["reconcile", "--dry-run"],
        ["talos", "upgrade-k8s", "--dry-run"],
        ["talos", "apply-node", "k8s-0", "--dry-run"],
        ["talos", "reset", "--dry-run"],
    ):
        code, out, err = clustergen(repo, *argv)
        assert (code, err) == (0, ""), argv
    assert f"--to {KUBERNETES_VERSION}" in clustergen(repo, "talos", "upgrade-k8s", "--dry-run")[1]

    record_render(repo, overrides=[TALENV])  # the older pin is an override's: intended
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-0", "--dry-run")
    assert (code, err) == (0, "")
    assert f":{OLDER} --timeout 600s" in out
    assert tools.calls() == []


def test_reconcile_does_not_read_talos_files_for_their_provenance(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("single")
    record_render(repo)
    _downgrade(repo)
    code, out, err = clustergen(repo, "reconcile", "--dry-run")
    assert (code, err) == (0, "")
    assert out.startswith("flux reconcile kustomization flux-system")


def test_a_corrupt_manifest_is_named_with_its_fix(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("single", live=False)
    record_render(repo)
    (repo / ".clustergen/manifest.json").write_text("{")
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-0", "--dry-run")
    assert (code, out) == (1, "")
    assert err.startswith("error: .clustergen/manifest.json is corrupt"), err
    assert "git checkout -- .clustergen/manifest.json" in err
    code, out, err = clustergen(repo, "reconcile", "--dry-run")  # acts on no talos/ file
    assert (code, err) == (0, "")
