"""`clustergen diff` as a user runs it on a configured repository: each file's own text with
its real line numbers and anchors, grouped by component; secrets by key name only."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.init_dir import init_workdir
from generator.pipeline import render_in_memory
from generator.secrets.files import is_secret_path
from generator.secrets.keys import OLD_AGE_KEY_NAME
from tests.older_render import as_if_clustergen_wrote
from tests.process import clustergen_in_process
from tests.workdirs import configured_sample

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

ECHO = "kubernetes/apps/default/echo/app/helmrelease.yaml"
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.M)
OLD_TOKEN = "fake-cloudflare-token-replace-me"
NEW_TOKEN = "zz-another-token-9f8e7d"


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    configured_sample(tmp_path)
    assert OLD_TOKEN in (tmp_path / "cluster.yaml").read_text()
    return tmp_path


def diff(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # In this process: the child processes of this file are the terminal ones below.
    result = clustergen_in_process(["diff", "--config", "cluster.yaml", *args], cwd=work)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result


def file_section(output: str, path: str) -> str:
    """The text shown for one file: from its `changed:`/`created:`/`removed:` line on."""
    start = re.search(
        rf"^(changed|created|removed|reformatted): {re.escape(path)}\b.*$", output, re.M
    )
    assert start, output
    rest = output[start.end() + 1 :]
    end = re.search(
        r"^(changed|created|removed|reformatted|secret|== |not compared|\d+ )", rest, re.M
    )
    return rest[: end.start()] if end else rest


def hunks(section: str) -> list[tuple[int, list[str], int, list[str]]]:
    """(old start, old lines, new start, new lines) of each hunk of a unified diff."""
    out = []
    pieces = HUNK.split(section)
    for index in range(1, len(pieces), 5):
        old_start, _, new_start, _, body = pieces[index : index + 5]
        lines = body.split("\n")[1:]
        old = [line[1:] for line in lines if line[:1] in (" ", "-")]
        new = [line[1:] for line in lines if line[:1] in (" ", "+")]
        out.append((int(old_start), old, int(new_start), new))
    return out


def older(work: Path, path: str, *changes: tuple[str, str]) -> None:
    """`path` as an older render wrote it (each change applied once): configure replaces it.
    A hand edit would not do: configure keeps or merges it, so diff shows none."""
    text = (work / path).read_text()
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    as_if_clustergen_wrote(work, path, text.encode())


def test_a_change_shows_the_files_own_text_and_line_numbers(configured: Path) -> None:
    target = configured / ECHO
    text = target.read_text()
    assert "&port 8080" in text and "liveness: &probes" in text
    older(configured, ECHO, ('tag: "40"', 'tag: "41"'), ("periodSeconds: 10", "periodSeconds: 30"))
    result = diff(configured, "--check")
    assert result.returncode == 1
    section = file_section(result.stdout, ECHO)
    assert section.startswith(f"--- a/{ECHO}\n+++ b/{ECHO}\n")
    # The file's own anchors and aliases, never re-serialized ones.
    for own in ("HTTP_PORT: &port 8080", "port: *port", "readiness: *probes"):
        assert own in section
    assert "&id0" not in result.stdout and "*id0" not in result.stdout
    assert '-              tag: "41"\n+              tag: "40"\n' in section
    # Hunk headers are the files' line numbers: the old side is the file on disk,
    # the new side the file a configure would write.
    on_disk = target.read_text().splitlines()
    rendered = render_in_memory(configured / "cluster.yaml").tree.files[ECHO].decode().splitlines()
    found = hunks(section)
    assert len(found) >= 1
    for old_start, old, new_start, new in found:
        assert on_disk[old_start - 1 : old_start - 1 + len(old)] == old
        assert rendered[new_start - 1 : new_start - 1 + len(new)] == new
    assert "== kubernetes/apps/default/echo/ ==" in result.stdout


def test_files_are_grouped_by_component_and_created_and_removed_say_so(
    configured: Path,
) -> None:
    (configured / "kubernetes/apps/default/echo/ks.yaml").unlink()
    talconfig = "talos/talconfig.yaml"
    noted = (configured / talconfig).read_text() + "# a note\nextra: 1\n"
    as_if_clustergen_wrote(configured, talconfig, noted.encode())
    config = configured / "cluster.yaml"
    text = config.read_text()
    assert "  pod_disruption_budgets:\n" in text
    config.write_text(
        re.sub(r"(  pod_disruption_budgets:\n(?:    #.*\n)*    enabled:) true", r"\1 false", text)
    )
    result = diff(configured)
    output = result.stdout
    headers = re.findall(r"^== (.+) ==$", output, re.M)
    assert headers == sorted(headers)  # no repository-root files changed here
    assert {"kubernetes/apps/default/echo/", "talos/"} <= set(headers)
    created = file_section(output, "kubernetes/apps/default/echo/ks.yaml")
    assert created.startswith(
        "--- /dev/null\n+++ b/kubernetes/apps/default/echo/ks.yaml\n@@ -0,0 +1,"
    )
    removed = [m.group(1) for m in re.finditer(r"^removed: (\S+)", output, re.M)]
    assert removed and all("disruption-budget" in p or "pdb" in p for p in removed), removed
    for path in removed:
        assert f"--- a/{path}\n+++ /dev/null\n" in file_section(output, path)
    talos = file_section(output, "talos/talconfig.yaml")
    assert "-# a note\n-extra: 1\n" in talos
    # Each file sits under its own component's header.
    for path in [*removed, "talos/talconfig.yaml", "kubernetes/apps/default/echo/ks.yaml"]:
        header_at = output.rfind("\n== ", 0, output.index(f": {path}"))
        header = output[header_at + 4 : output.index(" ==", header_at + 4)]
        assert path.startswith(header), (path, header)


def test_secret_files_show_key_names_only(configured: Path) -> None:
    config = configured / "cluster.yaml"
    config.write_text(config.read_text().replace(OLD_TOKEN, NEW_TOKEN))
    secret = "kubernetes/components/sops/cluster-secrets.sops.yaml"
    (configured / secret).unlink()
    result = diff(configured, "--check")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.startswith("secret ")]
    assert any(
        "cloudflare-dns/app/secret.sops.yaml" in line and "keys changed: api-token" in line
        for line in lines
    ), lines
    created = next(line for line in lines if secret in line)
    assert created.endswith(
        "created: Secret cluster-secrets; keys: SECRET_DOMAIN (values not shown)"
    )
    assert not any(
        line.startswith(("--- a/", "+++ b/")) and ".sops." in line for line in output.splitlines()
    )
    for value in (OLD_TOKEN, NEW_TOKEN, "ENC[", "example.com", "sops:", "mac:"):
        assert value not in output
    for fmt in ("summary", "json"):
        other = diff(configured, "--format", fmt).stdout
        for value in (OLD_TOKEN, NEW_TOKEN, "ENC["):
            assert value not in other


def test_a_key_rotation_is_summarized_not_listed(configured: Path) -> None:
    (configured / "age.key").rename(configured / OLD_AGE_KEY_NAME)
    init_workdir(configured)  # a new age.key; the old one stays as age.key.old
    secrets = [
        p
        for p in render_in_memory(configured / "cluster.yaml", keyless=True).tree.files
        if is_secret_path(p)
    ]
    result = diff(configured)
    output = result.stdout
    count = re.search(r"^(\d+) secret files re-encrypted \(values unchanged", output, re.M)
    assert count, output
    # The age key itself is a secret value (bootstrap/sops-age.sops.yaml): it did change.
    changed = [line for line in output.splitlines() if line.startswith("secret ")]
    assert [line.split()[1] for line in changed] == ["bootstrap/sops-age.sops.yaml"]
    assert int(count.group(1)) == len(secrets) - 1
    assert "ENC[" not in output and "changed: .sops.yaml" in output


def test_colour_only_on_a_terminal_and_never_with_no_color(configured: Path) -> None:
    older(configured, ECHO, ('tag: "40"', 'tag: "41"'))
    assert "\x1b[" not in diff(configured).stdout  # a pipe: plain
    assert "\x1b[31m-" in _on_a_terminal(configured, {})
    assert "\x1b[" not in _on_a_terminal(configured, {"NO_COLOR": "1"})


def _on_a_terminal(work: Path, extra: dict[str, str]) -> str:
    main, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm", **extra}
    with subprocess.Popen(
        [sys.executable, "-m", "generator", "diff", "--config", "cluster.yaml"],
        cwd=work,
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=120)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


def test_a_comment_only_change_is_shown_but_no_drift(configured: Path) -> None:
    older(configured, ECHO, ("  values:\n", "  values: # mine\n"))
    result = diff(configured, "--check")
    assert result.returncode == 0, result.stdout
    section = file_section(result.stdout, ECHO)
    assert "-  values: # mine\n+  values:\n" in section
    assert result.stdout.endswith("0 added, 0 changed, 0 removed, 1 reformatted\n")
