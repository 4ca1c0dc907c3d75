"""`clustergen migrate` through the CLI: what it rewrites, what it keeps. The first migrate
and the first refusal of what cannot be migrated run clustergen as a process; the other
tests call `cli.main` in this process (tests/process.py), the same code (check, configure
and diff run as processes in tests/test_cli.py, tests/pipeline and tests/diff)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.config import version
from generator.migrations import STEPS
from generator.paths import SAMPLE_CONFIG
from tests.process import clustergen_in_process, first_case, run_clustergen
from tests.versions import as_version_1

SAMPLE = SAMPLE_CONFIG.read_text(encoding="utf-8")
V1 = as_version_1(SAMPLE)


def _config(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "cluster.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_every_version_before_the_current_has_a_step() -> None:
    assert sorted(STEPS) == list(range(version.FIRST, version.CURRENT))


def test_the_sample_is_the_current_version() -> None:
    assert f"\n{version.KEY}: {version.CURRENT}\n" in SAMPLE


def test_a_version_1_sample_becomes_the_current_sample_byte_for_byte(tmp_path: Path) -> None:
    # Every comment, blank line, flow list and `- # comment` of the sample survives; the
    # renamed key and the added schema_version are the only changes.
    config = _config(tmp_path, V1)
    result = run_clustergen(["migrate"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert config.read_text(encoding="utf-8") == SAMPLE
    assert result.stdout.splitlines()[:3] == [
        "migrated cluster.yaml from schema version 1 to 2:",
        "  renamed kubernetes.svc_cidr to kubernetes.service_cidr",
        "  added schema_version: 2",
    ]
    # The diff shows the changed lines only: no neighbouring line (a secret) is printed.
    assert "-  svc_cidr: 10.43.0.0/16\n+  service_cidr: 10.43.0.0/16\n" in result.stdout
    assert "token" not in result.stdout and "pod_cidr" not in result.stdout
    assert result.stdout.rstrip().endswith("then `uv run task configure`")


def test_check_refuses_version_1_before_any_schema_error(tmp_path: Path) -> None:
    _config(tmp_path, V1)
    result = clustergen_in_process(["check"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "error: cluster.yaml:1:1 schema_version: the key is missing, so cluster.yaml is schema "
        "version 1 (as the first release wrote it); this clustergen reads version 2: run "
        "`uv run clustergen migrate`\n"
        "1 error(s) in the configuration; fix them and run again\n"
    )


@pytest.mark.parametrize("command", [["configure", "--no-validate"], ["diff"]])
def test_configure_and_diff_refuse_version_1_and_write_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    config = _config(tmp_path, V1.replace("# yaml", f"{version.KEY}: 1\n# yaml", 1))
    result = clustergen_in_process(command, cwd=tmp_path)
    assert result.returncode == 1
    assert (
        "cluster.yaml:1:1 schema_version: cluster.yaml is schema version 1; this clustergen "
        "reads version 2: run `uv run clustergen migrate`"
    ) in result.stderr
    assert "svc_cidr" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".clustergen") == [config.name]


def test_an_explicit_version_1_is_set_in_place(tmp_path: Path) -> None:
    text = V1.replace("network:\n", f"{version.KEY}: 1 # the first layout\nnetwork:\n", 1)
    config = _config(tmp_path, text)
    assert clustergen_in_process(["migrate"], cwd=tmp_path).returncode == 0
    migrated = config.read_text(encoding="utf-8")
    assert f"\n{version.KEY}: 2 # the first layout\nnetwork:\n" in migrated
    assert "Schema version of this file" not in migrated


def test_dry_run_and_check_write_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path, V1)
    dry = clustergen_in_process(["migrate", "--dry-run"], cwd=tmp_path)
    check = clustergen_in_process(["migrate", "--check"], cwd=tmp_path)
    assert (dry.returncode, check.returncode) == (0, 1)
    assert dry.stdout == check.stdout
    assert dry.stdout.startswith(
        "cluster.yaml needs migrating from schema version 1 to 2 (nothing written; "
        "run `uv run clustergen migrate`):"
    )
    assert config.read_text(encoding="utf-8") == V1


def test_a_current_file_is_left_alone(tmp_path: Path) -> None:
    config = _config(tmp_path, SAMPLE)
    before = config.stat().st_mtime_ns
    for args in (["migrate"], ["migrate", "--check"]):
        result = clustergen_in_process(args, cwd=tmp_path)
        assert result.returncode == 0
        assert result.stdout == "cluster.yaml is schema version 2 already; nothing to migrate\n"
    assert config.stat().st_mtime_ns == before


def test_quoted_flow_crlf_bom_mode_and_symlink_are_kept(tmp_path: Path) -> None:
    text = (
        '# my cluster\r\nkubernetes: {pod_cidr: 10.42.0.0/16, "svc_cidr": 10.43.0.0/16}\r\n'
        "network:\r\n  node_cidr: 192.168.1.0/24\r\n"
    )
    real = tmp_path / "real.yaml"
    real.write_bytes(b"\xef\xbb\xbf" + text.encode())
    real.chmod(0o640)
    (tmp_path / "cluster.yaml").symlink_to(real.name)
    result = clustergen_in_process(["migrate"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cluster.yaml").is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    # A comment right above the first key stays with it; the new key goes above both.
    assert real.read_bytes().decode() == (
        "\ufeff# Schema version of this file (which layout of keys it uses). Required. A newer "
        "clustergen\r\n"
        "# that renames keys says so, and `uv run clustergen migrate` updates the file, comments "
        "kept.\r\n"
        "schema_version: 2\r\n\r\n"
        "# my cluster\r\n"
        'kubernetes: {pod_cidr: 10.42.0.0/16, "service_cidr": 10.43.0.0/16}\r\n'
        "network:\r\n  node_cidr: 192.168.1.0/24\r\n"
    )


def test_a_line_separator_inside_a_value_does_not_shift_lines(tmp_path: Path) -> None:
    text = 'domain:\n  name: "a\u2028b"\nkubernetes:\n  svc_cidr: 10.43.0.0/16\n'
    config = _config(tmp_path, text)
    result = clustergen_in_process(["migrate"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert config.read_text(encoding="utf-8").endswith(
        'domain:\n  name: "a\u2028b"\nkubernetes:\n  service_cidr: 10.43.0.0/16\n'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "kubernetes:\n  svc_cidr: 10.43.0.0/16\n  service_cidr: 10.44.0.0/16\n",
            "both kubernetes.svc_cidr and kubernetes.service_cidr are set; keep only "
            "kubernetes.service_cidr",
        ),
        (
            "base: &k\n  svc_cidr: 10.43.0.0/16\nkubernetes:\n  <<: *k\n",
            "kubernetes.svc_cidr comes from a `<<:` merge; write kubernetes.service_cidr in its "
            "place by hand",
        ),
        (
            f"{version.KEY}: 3\n",
            "cluster.yaml is schema version 3; this clustergen reads version 2",
        ),
        (f"{version.KEY}: two\n", "schema_version: must be a whole number"),
        (f"{version.KEY}: true\n", "schema_version: must be a whole number from 1 up"),
        (f"{version.KEY}: true\n", "; found true"),
        (f"{version.KEY}: 2.0\n", "found 2.0: write it without the fraction (schema_version: 2)"),
        (f'{version.KEY}: "1"\n', "found the string '1': write it without quotes"),
        (f"{version.KEY}: -1\n", "must be a whole number from 1 up"),
        (f"{version.KEY}: 0\n", "must be a whole number from 1 up"),
        ("network: [\n", "invalid YAML"),
        (
            "kubernetes:\n  !!str svc_cidr: 10.43.0.0/16\n",
            "cluster.yaml:2: kubernetes.svc_cidr is written with a tag (`!!str`); write it as "
            "plain kubernetes.service_cidr by hand",
        ),
    ],
    ids=[
        "both names",
        "merged key",
        "newer",
        "not a number",
        "boolean",
        "boolean as YAML",
        "float",
        "string",
        "negative",
        "zero",
        "broken YAML",
        "tagged key",
    ],
)
def test_what_cannot_be_migrated_is_refused_untouched(
    tmp_path: Path, text: str, expected: str, request: pytest.FixtureRequest
) -> None:
    config = _config(tmp_path, text)
    run = run_clustergen if first_case(request) else clustergen_in_process
    result = run(["migrate"], cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr
    assert config.read_text(encoding="utf-8") == text
    assert os.listdir(tmp_path) == ["cluster.yaml"]


def test_another_config_path_is_named_in_the_command(tmp_path: Path) -> None:
    _config(tmp_path, V1)
    (tmp_path / "sub").mkdir()
    result = clustergen_in_process(["check", "--config", "sub/../cluster.yaml"], cwd=tmp_path)
    assert "run `uv run clustergen migrate --config sub/../cluster.yaml`" in result.stderr
    result = clustergen_in_process(["migrate", "--config", "sub/../cluster.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert clustergen_in_process(["check"], cwd=tmp_path).returncode == 0


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder no one can create a file in (chattr +i for root, whom modes do not stop)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(V1, encoding="utf-8")
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", folder], check=False).returncode != 0:
        folder.chmod(0o755)
        pytest.skip("root, and no chattr to make a folder read-only")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", folder], check=True)
    folder.chmod(0o755)


def test_a_config_that_cannot_be_rewritten_is_an_error_and_stays(read_only_dir: Path) -> None:
    result = clustergen_in_process(
        ["migrate", "--config", "ro/cluster.yaml"], cwd=read_only_dir.parent
    )

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "cluster.yaml: cannot be rewritten in " in result.stderr
    assert "nothing was changed" in result.stderr
    assert (read_only_dir / "cluster.yaml").read_text(encoding="utf-8") == V1
    assert os.listdir(read_only_dir) == ["cluster.yaml"]


def test_a_changed_line_shows_no_secret_value(tmp_path: Path) -> None:
    # A flow mapping on one line: the renamed key's line holds the DNS token too.
    token = "cf-token-Zq8nV3kQ1wLx"
    text = (
        f"{{schema_version: 1, dns: {{token: {token}}}, kubernetes: {{svc_cidr: 10.43.0.0/16}}}}\n"
    )
    config = _config(tmp_path, text)
    for argv in (["migrate", "--dry-run"], ["migrate"]):
        result = clustergen_in_process(argv, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert token not in result.stdout + result.stderr
        assert "+{schema_version: 2, dns: {token: <secret>}, kubernetes: {service_cidr:" in (
            result.stdout
        )
    assert token in config.read_text(encoding="utf-8")  # the file keeps it, of course


def test_a_renamed_key_in_the_overlay_is_named_with_its_fix_and_nothing_is_migrated(
    tmp_path: Path,
) -> None:
    # cluster.secrets.sops.yaml holds the v1 key too; migrate must not leave it for check
    # to find after saying it succeeded. Real sops and age, and the fix as the user runs it.
    from generator.init_dir import init_workdir
    from generator.secrets.keys import read_age_key
    from generator.secrets.sops import Sops

    init_workdir(tmp_path)
    config = _config(tmp_path, V1)
    public = read_age_key(tmp_path / "age.key").public
    rules = tmp_path / "rules" / ".sops.yaml"
    rules.parent.mkdir()
    rules.write_text(f'creation_rules:\n  - path_regex: .*\n    age: "{public}"\n')
    overlay = tmp_path / "cluster.secrets.sops.yaml"
    plain = b"# in the overlay\nkubernetes:\n  svc_cidr: 10.43.0.0/16\n"
    overlay.write_bytes(Sops(config=rules).encrypt(plain, overlay.name))
    before = (config.read_bytes(), overlay.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}

    refused = clustergen_in_process(["migrate"], cwd=tmp_path, env=env)

    assert refused.returncode == 1
    assert (config.read_bytes(), overlay.read_bytes()) == before, "nothing half-done"
    assert (
        "cluster.secrets.sops.yaml:3 kubernetes.svc_cidr: rename svc_cidr to service_cidr"
    ) in refused.stderr
    fix = "SOPS_AGE_KEY_FILE=age.key uv run sops edit cluster.secrets.sops.yaml"
    assert f"`{fix}`, then run `uv run clustergen migrate` again" in refused.stderr
    # The fix as said (an editor that renames the key), then migrate and check go through.
    editor = tmp_path / "rename.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/svc_cidr:/service_cidr:/' \"$1\"\n")
    editor.chmod(0o700)
    sops = str(Path(sys.executable).parent / "sops")
    subprocess.run(
        ["sh", "-c", fix.replace("uv run sops", sops)],
        cwd=tmp_path,
        env={**env, "EDITOR": str(editor)},
        check=True,
    )
    migrated = clustergen_in_process(["migrate"], cwd=tmp_path, env=env)
    assert migrated.returncode == 0, migrated.stderr
    checked = clustergen_in_process(["check"], cwd=tmp_path, env=env)
    assert "svc_cidr" not in checked.stdout + checked.stderr
    assert checked.returncode == 0, checked.stderr
