"""Overrides and merge patches through the CLI, on a real workdir with real sops and age keys:
they survive later configures, a broken one names its own file and line and nothing is
written. A built-in template changed since it was overridden (a newer clustergen) is noticed
by check, configure and --strict: tests/upgrade/test_upgrade_path.py, on the real upgrade path.

Every run calls `cli.main` in this process (tests/process.py), the same code without the
~0.2 s CPU of a new interpreter importing the generator (and its schemas): what is tested is
what configure and check make of overrides/, not the process boundary, which configure's
and check's child-process tests cover (tests/pipeline/test_hand_edits.py,
tests/migrations/test_migrate_command.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from generator import paths
from tests.linters import lint, tool
from tests.pipeline.conftest import SECRET_TOKEN, edit, snapshot
from tests.process import clean_env, clustergen_in_process
from tests.shared import CRD_SCHEMA_LOCATION

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

ECHO = "kubernetes/apps/default/echo/app/helmrelease.yaml"
ECHO_OVERRIDE = f"overrides/{ECHO}.j2"
ECHO_TEMPLATE = paths.TEMPLATE_TREE / f"{ECHO}.j2"
CILIUM = "kubernetes/apps/kube-system/cilium/app/helmrelease.yaml"
PATCH = "overrides/patches/cilium.yaml"
CILIUM_PATCH = """\
---
# A few more API requests per second for a busy cluster.
target:
  kind: HelmRelease
  namespace: kube-system
  name: cilium
patch:
  spec:
    values:
      k8sClientRateLimit:
        qps: 50
        burst: 100
"""


def env(**extra: str) -> dict[str, str]:
    """The environment of every clustergen here (made per call, after the session's
    fixtures set the private cache and temporary directory)."""
    return clean_env(**{"CLUSTERGEN_SCHEMA_LOCATION": CRD_SCHEMA_LOCATION, **extra})


def clustergen(argv: Sequence[str], root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """clustergen in `root`: `cli.main` in this process."""
    return clustergen_in_process(argv, cwd=root, env=env(**extra))


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def override_echo(root: Path) -> None:
    """The built-in echo HelmRelease with a larger memory limit and a note."""
    text = ECHO_TEMPLATE.read_text()
    assert "memory: 64Mi" in text
    write(root, ECHO_OVERRIDE, text.replace("memory: 64Mi", "memory: 96Mi  # mine: echo grew"))


def values(root: Path, rel: str) -> dict[str, object]:
    release = yaml.safe_load((root / rel).read_text())
    assert isinstance(release["spec"]["values"], dict)
    return release["spec"]["values"]


def configure(root: Path, *args: str) -> str:
    result = clustergen(["configure", *args], root)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_override_of_the_echo_helmrelease_survives_every_later_configure(
    workdir: Path,
) -> None:
    override_echo(workdir)
    report = configure(workdir)  # validated: the override goes through every check
    assert f"~ {ECHO}" in report and "validated: no errors" in report
    assert "memory: 96Mi  # mine: echo grew" in (workdir / ECHO).read_text()
    recorded = json.loads((workdir / ".clustergen/manifest.json").read_text())["overrides"]
    assert recorded == {
        ECHO_OVERRIDE: {
            "template": f"templates/config/{ECHO}.j2",
            "sha256": hashlib.sha256(ECHO_TEMPLATE.read_bytes()).hexdigest(),
        }
    }

    # A config change that reaches the echo release too (its replica count): re-rendered
    # from the override, never a conflict, never the built-in.
    edit(workdir / "cluster.yaml", repository__branch="trunk", spegel__enabled=False)
    nodes = yaml.safe_load((workdir / "cluster.yaml").read_text())["nodes"]
    edit(workdir / "cluster.yaml", nodes=nodes[:1])
    report = configure(workdir, "--no-validate")
    assert "in the way" not in report
    text = (workdir / ECHO).read_text()
    assert "memory: 96Mi  # mine: echo grew" in text
    assert values(workdir, ECHO)["controllers"]["echo"]["replicas"] == 1  # type: ignore[index]
    assert configure(workdir, "--no-validate").startswith("0 changed")
    assert (workdir / ECHO_OVERRIDE).is_file(), "overrides are the user's: never removed"

    # The drift check renders with the overrides as configure does.
    assert clustergen(["diff", "--check"], workdir).returncode == 0


def test_a_merge_patch_adds_a_cilium_helm_value_that_survives_later_configures(
    workdir: Path,
) -> None:
    before = (workdir / CILIUM).read_text()
    write(workdir, PATCH, CILIUM_PATCH)
    report = configure(workdir)
    assert f"~ {CILIUM}" in report and "validated: no errors" in report
    patched = values(workdir, CILIUM)
    assert patched["k8sClientRateLimit"] == {"qps": 50, "burst": 100}
    # Everything else of the release is as the template rendered it.
    assert {k: v for k, v in patched.items() if k != "k8sClientRateLimit"} == yaml.safe_load(
        before
    )["spec"]["values"]
    assert (workdir / CILIUM).read_text().startswith("---\napiVersion: helm.toolkit.fluxcd.io/v2\n")
    # The repository's own yamllint (its rendered config) lints the patch and the result.
    listed = lint([tool("yamllint"), "--list-files", "."], workdir).stdout.splitlines()
    assert PATCH in {p.removeprefix("./") for p in listed}
    linted = lint([tool("yamllint"), "--strict", PATCH, CILIUM], workdir)
    assert linted.returncode == 0, linted.stdout + linted.stderr

    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="snat")
    configure(workdir, "--no-validate")
    assert values(workdir, CILIUM)["k8sClientRateLimit"] == {"qps": 50, "burst": 100}
    assert values(workdir, CILIUM)["loadBalancer"]["mode"] == "snat"  # type: ignore[index]
    assert configure(workdir, "--no-validate").startswith("0 changed")


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        pytest.param(
            ECHO_OVERRIDE,
            '#% import "macros/flux.j2" as flux %#\n\n#{ derived.no_such_value }#\n',
            f"{ECHO_OVERRIDE}:3: 'dict object' has no attribute 'no_such_value'",
            id="jinja",
        ),
        pytest.param(
            ECHO_OVERRIDE,
            '#% import "macros/flux.j2" as flux %#\n#% if %#\n',
            f"{ECHO_OVERRIDE}:2: syntax error:",
            id="jinja-syntax",
        ),
        pytest.param(
            ECHO.removesuffix(".j2").replace("kubernetes", "overrides/kubernetes", 1),
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [echo\n",
            f"overrides/{ECHO}:5: invalid YAML",
            id="copied-yaml",
        ),
        pytest.param(
            PATCH,
            "---\ntarget:\n  kind: HelmRelease\n  name: cilium\npatch:\n  spec: [\n",
            f"{PATCH}:6: invalid YAML",
            id="patch-yaml",
        ),
        pytest.param(
            PATCH,
            CILIUM_PATCH.replace("name: cilium", "name: cillium"),
            f"{PATCH}:3 target: no rendered object is the HelmRelease cillium in namespace "
            "kube-system",
            id="patch-unknown-target",
        ),
        pytest.param(
            PATCH,
            CILIUM_PATCH + "---\ntarget: {kind: HelmRelease, name: cilium}\npatch: {}\n",
            f"{PATCH}:14: `patch` must be a non-empty mapping",
            id="patch-shape",
        ),
        pytest.param(
            PATCH,
            "---\ntarget:\n  kind: HelmRelease\n  namespace: kube-system\n  name: cilium\n"
            "patch:\n  spec:\n    interval: 5\n",
            f"{PATCH}:2 HelmRelease/cilium: spec.interval: 5 is not of type",
            id="patch-schema-invalid",
        ),
        pytest.param(
            PATCH,
            "---\ntarget:\n  kind: Secret\n  name: cloudflare-dns-secret\n"
            "patch:\n  stringData:\n    api-token: mine\n",
            f"{PATCH}:2 target: kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml is a "
            "secret",
            id="patch-secret",
        ),
        pytest.param(
            "overrides/kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml.j2",
            "---\n",
            "overrides/kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml.j2: a secret "
            "cannot be overridden",
            id="override-secret",
        ),
        pytest.param(
            "overrides/kubernetes/apps/default/leak.yaml.j2",
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\n"
            "data:\n  token: #{ dns.token | b64encode }#\n",
            "overrides/kubernetes/apps/default/leak.yaml.j2: renders a secret's value in "
            "plaintext into kubernetes/apps/default/leak.yaml, which is not encrypted",
            id="override-leaks-a-secret",
        ),
        pytest.param(
            PATCH,
            "---\ntarget:\n  kind: HelmRelease\n  namespace: kube-system\n  name: cilium\n"
            f"patch:\n  spec:\n    values:\n      note: {SECRET_TOKEN}\n",
            f"{PATCH}:2: renders a secret's value in plaintext into {CILIUM}",
            id="patch-leaks-a-secret",
        ),
        pytest.param(
            ECHO_OVERRIDE,
            "---\nx: #{ cycler.__init__.__globals__.os.getcwd() }#\n",
            f"{ECHO_OVERRIDE}:2: SecurityError: access to attribute '__init__'",
            id="override-reaches-python",
        ),
        pytest.param(
            "overrides/kubernetes/apps/default/leak.yaml.j2",
            "---\nx: #{ dns.token | nthhost(1) }#\n",
            "overrides/kubernetes/apps/default/leak.yaml.j2:2: ValueError: '<secret>' does not "
            "appear to be an IPv4 or IPv6 network",
            id="override-error-quotes-a-secret",
        ),
        pytest.param(
            "overrides/kubernetes/apps/default/echo/app/mine.yaml",
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: mine\n"
            "stringData:\n  password: hunter2hunter2\n",
            "overrides/kubernetes/apps/default/echo/app/mine.yaml: puts a Secret with data into "
            "kubernetes/apps/default/echo/app/mine.yaml, which is not encrypted",
            id="override-adds-a-plaintext-secret",
        ),
        pytest.param(
            PATCH,
            "---\ntarget:\n  kind: HelmRelease\n  namespace: kube-system\n  name: cilium\n"
            "patch:\n  kind: Secret\n  stringData:\n    password: hunter2hunter2\n",
            f"{PATCH}:2: puts a Secret with data into {CILIUM}",
            id="patch-makes-a-plaintext-secret",
        ),
    ],
)
def test_a_broken_override_or_patch_names_its_own_file_and_line_and_writes_nothing(
    workdir: Path, rel: str, text: str, expected: str
) -> None:
    write(workdir, rel, text)
    edit(workdir / "cluster.yaml", repository__branch="trunk")  # something to write
    before = snapshot(workdir)

    result = clustergen(["configure"], workdir)

    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr
    assert SECRET_TOKEN not in result.stdout + result.stderr
    assert snapshot(workdir) == before


@pytest.mark.parametrize("schemas", ["none", "crds"])
def test_a_patch_that_breaks_a_helmrelease_is_refused_with_or_without_schemas(
    workdir: Path, tmp_path: Path, schemas: str
) -> None:
    # `chartRef: null` removes the key (RFC 7386): the HelmRelease has no chart at all,
    # which only the CRD's CEL rule says; `soon` is no Go duration.
    write(
        workdir,
        PATCH,
        "---\ntarget: {kind: HelmRelease, namespace: kube-system, name: cilium}\n"
        "patch:\n  spec: {interval: soon, chartRef: null}\n",
    )
    empty = tmp_path / "no-schemas"  # a location without any CRD schema, as offline
    empty.mkdir()
    location = str(empty) if schemas == "none" else CRD_SCHEMA_LOCATION
    before = snapshot(workdir)

    result = clustergen(["configure"], workdir, CLUSTERGEN_SCHEMA_LOCATION=location)

    assert result.returncode == 1, result.stdout
    where = f"{PATCH}:2 HelmRelease/cilium: "
    assert f"{where}spec: set exactly one of chart or chartRef (neither is set)" in result.stderr
    assert f"{where}spec.interval" in result.stderr and "soon" in result.stderr
    assert snapshot(workdir) == before


def test_a_manifest_only_change_is_said_though_no_file_changes(workdir: Path) -> None:
    # An override identical to the built-in template renders the same bytes; configure
    # still records which template it shadows, so git status shows the manifest changed.
    write(workdir, ECHO_OVERRIDE, ECHO_TEMPLATE.read_text())
    manifest = workdir / paths.MANIFEST_PATH
    before = manifest.read_bytes()

    report = configure(workdir, "--no-validate")

    assert manifest.read_bytes() != before
    assert report.splitlines()[:2] == [
        report.splitlines()[0],
        f"  manifest updated: recorded the hash of templates/config/{ECHO}.j2, "
        f"which {ECHO_OVERRIDE} shadows",
    ]
    assert report.startswith("0 changed (")
    # Recorded once: the next run changes nothing and says nothing of the manifest.
    again = configure(workdir, "--no-validate")
    assert "manifest updated" not in again and manifest.read_bytes() != before


def test_an_override_that_adds_a_file_is_owned_like_a_rendered_one(workdir: Path) -> None:
    added = "kubernetes/apps/default/echo/app/extra-config.yaml"
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n"
    write(workdir, f"overrides/{added}", text)
    assert f"+ {added}" in configure(workdir, "--no-validate")
    assert (workdir / added).read_text() == text

    (workdir / f"overrides/{added}").unlink()
    assert f"- {added}" in configure(workdir, "--no-validate")
    assert not (workdir / added).exists()
    assert (workdir / "overrides").is_dir(), "overrides/ is the user's: never removed"


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        (
            PATCH,
            "---\ntarget:\n  kind: HelmRelease\n  name: [cilium\n",
            # The 4-line file ends inside the list: its last line, not line 5.
            f"{PATCH}:4: invalid YAML: did not find expected ',' or ']' at the end of the file "
            "(while parsing a flow sequence on line 4)",
        ),
        (
            PATCH,
            CILIUM_PATCH.replace("patch:", "patches:"),
            f"{PATCH}:3: missing `patch`; unknown key `patches` (did you mean `patch`?); a patch "
            "is a mapping of `target` (kind, name, namespace, file) and `patch`",
        ),
        (
            PATCH,
            "---\ntarget: {kind: HelmRelease, nmae: cilium}\npatch: {a: 1}\n",
            f"{PATCH}:2: `target`: missing `name`; unknown key `nmae` (did you mean `name`?) "
            "(keys: kind, name, namespace, file)",
        ),
        (
            PATCH,
            "---\ntarget: {kind: HelmRelease}\npatch: {a: 1}\n",
            f"{PATCH}:2: `target`: missing",
        ),
        ("overrides/.sops.yaml", "---\n", "overrides/.sops.yaml: .sops.yaml cannot be overridden"),
    ],
)
def test_check_finds_what_needs_no_render(
    workdir: Path, rel: str, text: str, expected: str
) -> None:
    write(workdir, rel, text)

    result = clustergen(["check"], workdir)

    assert result.returncode == 1
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    # A patch is not a template, and check writes nothing, so it says neither.
    assert result.stderr.endswith("1 problem(s) in overrides/; fix them and run again\n")


@pytest.mark.parametrize(
    ("rel", "text", "expected"),
    [
        pytest.param(
            f"overrides/{ECHO}",
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [echo\n",
            f"overrides/{ECHO}:5: invalid YAML: did not find expected ',' or ']' at the end of "
            "the file (while parsing a flow sequence on line 5)",
            id="copied-yaml",
        ),
        pytest.param(
            f"overrides/{ECHO}.j2",
            "---\nkind: ConfigMap\nmetadata: {name: #{ 'echo' }#\n",
            f"overrides/{ECHO}.j2: renders {ECHO}, which is invalid YAML at its line 3: ",
            id="template-yaml",
        ),
        pytest.param(
            PATCH,
            CILIUM_PATCH.replace("name: cilium", "name: cillium"),
            f"{PATCH}:3 target: no rendered object is the HelmRelease cillium in namespace "
            f"kube-system; did you mean name: cilium? (in {CILIUM}, namespace kube-system)",
            id="patch-unknown-name",
        ),
        pytest.param(
            PATCH,
            CILIUM_PATCH.replace("kind: HelmRelease", "kind: Helmrelease"),
            f"{PATCH}:3 target: no rendered object is the Helmrelease cilium in namespace "
            "kube-system; no object is of kind Helmrelease: did you mean kind: HelmRelease?",
            id="patch-unknown-kind",
        ),
    ],
)
def test_check_renders_overrides_in_memory_without_keys(
    workdir: Path, rel: str, text: str, expected: str
) -> None:
    # A patch target and the YAML an override renders need a render: check does one in
    # memory, with placeholders for secrets (no age key needed, nothing written).
    write(workdir, rel, text)
    (workdir / "age.key").rename(workdir / "age.key.away")
    before = snapshot(workdir)

    result = clustergen(["check"], workdir)

    assert result.returncode == 1, result.stdout
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.endswith("1 problem(s) in overrides/; fix them and run again\n")
    assert snapshot(workdir) == before


def test_keep_mine_suggests_the_path_meant(workdir: Path) -> None:
    typo = CILIUM.replace("helmrelease", "helmrelase")
    result = clustergen(["configure", "--keep-mine", typo], workdir)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {typo}: clustergen does not render that path, so there is nothing to keep or "
        f"take (did you mean {CILIUM}?)\n"
    )


@pytest.mark.parametrize(
    ("rel", "text", "origin", "by"),
    [
        pytest.param(ECHO, None, ECHO_OVERRIDE, f"the render of {ECHO_OVERRIDE}", id="override"),
        pytest.param(
            CILIUM, CILIUM_PATCH, f"{PATCH}:3", f"the render as patched by {PATCH}:3", id="patch"
        ),
    ],
)
def test_an_invalid_hand_edit_in_an_overridden_file_is_blamed_on_the_file_not_the_override(
    workdir: Path, rel: str, text: str | None, origin: str, by: str
) -> None:
    if text is None:
        override_echo(workdir)
    else:
        write(workdir, PATCH, text)
    configure(workdir, "--no-validate")
    rendered = (workdir / rel).read_text()
    assert "\n  interval: " in rendered
    head, _, tail = rendered.partition("\n  interval: ")
    (workdir / rel).write_text(f"{head}\n  interval: bogus\n{tail.partition(chr(10))[2]}")
    edit(workdir / "cluster.yaml", repository__branch="trunk")  # something to write
    before = snapshot(workdir)

    result = clustergen(["configure"], workdir)

    assert result.returncode == 1, result.stdout
    blamed = [line for line in result.stderr.splitlines() if "bogus" in line]
    assert blamed, result.stderr
    assert all(line.startswith(f"error: {rel}:") for line in blamed), result.stderr
    assert all(f"(this file holds your hand edit merged with {by})" in line for line in blamed), (
        result.stderr
    )
    assert not any(line.startswith(f"error: {origin}") for line in result.stderr.splitlines())
    assert snapshot(workdir) == before


def test_a_conflict_in_an_overridden_file_advises_editing_the_override(workdir: Path) -> None:
    override_echo(workdir)
    configure(workdir, "--no-validate")
    rendered = (workdir / ECHO).read_text()
    (workdir / ECHO).write_text(rendered.replace("memory: 96Mi", "memory: 80Mi"))
    override = (workdir / ECHO_OVERRIDE).read_text()
    (workdir / ECHO_OVERRIDE).write_text(override.replace("memory: 96Mi", "memory: 128Mi"))

    result = clustergen(["configure", "--no-validate"], workdir)

    assert result.returncode == 1, result.stdout
    assert f"{ECHO}: edited by hand" in result.stderr, result.stderr
    assert f"      {ECHO}: edit {ECHO_OVERRIDE}\n" in result.stderr
    assert f"to {ECHO_OVERRIDE}" not in result.stderr
    assert "memory: 128Mi" in (workdir / ECHO_OVERRIDE).read_text()


def test_the_docs_describe_what_the_overrides_render(workdir: Path) -> None:
    # The echo Kustomization with a dependency, Talos held one patch release back.
    ks = (paths.TEMPLATE_TREE / "kubernetes/apps/default/echo/ks.yaml.j2").read_text()
    write(
        workdir,
        "overrides/kubernetes/apps/default/echo/ks.yaml.j2",
        ks + "  dependsOn:\n    - name: cert-manager\n      namespace: cert-manager\n",
    )
    talenv = (paths.TEMPLATE_TREE / "talos/talenv.yaml.j2").read_text()
    assert "talosVersion: #{ versions.talos.version }#" in talenv
    write(
        workdir,
        "overrides/talos/talenv.yaml.j2",
        talenv.replace("#{ versions.talos.version }#", "v1.13.5"),
    )
    report = configure(workdir)
    assert "validated: no errors" in report
    ks_yaml = yaml.safe_load((workdir / "kubernetes/apps/default/echo/ks.yaml").read_text())
    assert ks_yaml["spec"]["dependsOn"] == [{"name": "cert-manager", "namespace": "cert-manager"}]
    readme = (workdir / "kubernetes/apps/default/echo/README.md").read_text()
    assert "Depends on: `cert-manager/cert-manager`. Backup:" in readme
    for doc in ("upgrades.md", "README.md", "nodes.md", "post-install-checks.md"):
        text = (workdir / "docs" / doc).read_text()
        assert "v1.13.5" in text and "v1.13.7" not in text, doc


def test_an_app_an_override_adds_to_a_namespace_clustergen_owns_is_applied(
    workdir: Path,
) -> None:
    ks = (paths.TEMPLATE_TREE / "kubernetes/apps/default/echo/ks.yaml.j2").read_text()
    write(
        workdir, "overrides/kubernetes/apps/default/myapp/ks.yaml.j2", ks.replace("echo", "myapp")
    )
    write(
        workdir,
        "overrides/kubernetes/apps/default/myapp/app/kustomization.yaml",
        "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
    )
    report = configure(workdir)
    assert "never applied" not in report and "validated: no errors" in report, report
    listing = yaml.safe_load((workdir / "kubernetes/apps/default/kustomization.yaml").read_text())
    assert "./myapp/ks.yaml" in listing["resources"]
    assert "`myapp`" in (workdir / "docs/README.md").read_text()
