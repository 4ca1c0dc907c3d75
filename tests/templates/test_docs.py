"""The documents rendered with the repository (issue 18): docs/*.md, the alert runbooks and
the one-line README.md of every app folder are specific to the config that rendered them.

No `<…>` placeholder, no TODO, no template leftover; the nodes, addresses, versions and
domain of the config are in them; a feature that is off leaves no word of itself; every
relative link resolves to a rendered file (and heading); each app README lists exactly the
`dependsOn` of its ks.yaml.
"""

from __future__ import annotations

import argparse
import functools
import posixpath
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from generator.cli import build_parser
from generator.render.overrides.files import find_overrides
from generator.render.tree import render_tree
from generator.validate.schemas import SchemaStore
from tests.rendering import EVERY_CHART, context_of, render_sample, sample_with, write_config

_SCHEMATIC = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
_OWN_SCHEMATIC = "a" * 64


def _node(name: str, last: int, controller: bool, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "address": f"192.168.1.{last}",
        "controller": controller,
        "disk": "/dev/sda",
        "mac_addr": f"02:00:00:00:00:{last:02x}",
        **extra,
    }


# 3 controllers + 2 workers; one worker boots SecureBoot, one controller has its own schematic.
FIVE_NODES = [
    _node("cp-a", 10, True),
    _node("cp-b", 11, True, schematic_id=_OWN_SCHEMATIC),
    _node("cp-c", 12, True),
    _node("wk-a", 13, False, secureboot=True),
    _node("wk-b", 14, False),
]

MINIMAL = {
    "nodes": "single",
    "dns.provider": "none",
    "dns.token": "",
    "ingress.mode": "none",
    "repository.webhook_provider": "none",
    "features.ci.enabled": False,
    "features.pod_security.enabled": False,
    "features.pod_disruption_budgets.enabled": False,
}
BGP = {"cilium.bgp": {"router_addr": "192.168.1.1", "router_asn": 64513, "node_asn": 64514}}

SCENARIOS: dict[str, Mapping[str, Any]] = {
    "sample": {},
    "all-features": EVERY_CHART,
    "minimal": MINIMAL,
    "tunnel": {"ingress.mode": "cloudflare-tunnel"},
    "bgp": BGP,
    "five-nodes": {"nodes": FIVE_NODES, "features.network_policies.enabled": True},
    "ssh": {"repository.url": "ssh://git@github.com/example/home-ops"},
}

# A placeholder the reader must replace: `<namespace>`, `<node-ip>` (not `<-` or `a < b`).
_PLACEHOLDER = re.compile(r"<[A-Za-z][^<>\n]*>")
_UNFINISHED = re.compile(r"\b(TODO|TBD|FIXME|XXX)\b")
_LEFTOVER = re.compile(r"#\{|\}#|#%|%#|#\||\bNone\b|\bUndefined\b")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents(files: Mapping[str, bytes]) -> dict[str, str]:
    """Every rendered Markdown file: docs/ and the app folders' README.md."""
    return {p: b.decode("utf-8") for p, b in files.items() if p.endswith(".md")}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, bytes]]:
    name: str = request.param
    return name, render_sample(SCENARIOS[name])


def _config(name: str) -> dict[str, Any]:
    return sample_with(SCENARIOS[name])


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    in_code = False
    found: set[str] = set()
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(_slug(line.lstrip("#")))
    return found


def _code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^ *```{language}\n(.*?)^ *```$", text, flags=re.M | re.S)


def test_docs_and_app_readmes_render(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, files = rendered
    for doc in (
        "README.md",
        "upgrades.md",
        "nodes.md",
        "adding-an-app.md",
        "post-install-checks.md",
        "troubleshooting.md",
    ):
        assert f"docs/{doc}" in files
    apps = [
        p.removesuffix("/ks.yaml")
        for p in files
        if re.match(r"kubernetes/apps/[^/]+/[^/]+/ks\.yaml$", p)
    ]
    assert apps
    assert [a for a in apps if f"{a}/README.md" not in files] == []


def test_no_placeholder_todo_or_template_leftover(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, files = rendered
    problems = []
    for path, text in _documents(files).items():
        for pattern in (_PLACEHOLDER, _UNFINISHED, _LEFTOVER):
            problems += [f"{path}: {m.group(0)!r}" for m in pattern.finditer(text)]
    assert problems == []


def test_relative_links_resolve(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, files = rendered
    documents = _documents(files)
    broken = []
    for path, text in documents.items():
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # https://…
            file, _, anchor = target.partition("#")
            resolved = (
                posixpath.normpath(posixpath.join(posixpath.dirname(path), file)) if file else path
            )
            if resolved not in files:
                broken.append(f"{path} -> {target}")
            elif anchor and anchor not in _anchors(documents.get(resolved, "")):
                broken.append(f"{path} -> {target} (no such heading)")
    assert broken == []


def test_index_lists_every_document_and_app(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, files = rendered
    index = files["docs/README.md"].decode()
    linked = {
        posixpath.normpath(posixpath.join("docs", t.partition("#")[0]))
        for t in _LINK.findall(index)
    }
    top_docs = {p for p in files if re.match(r"docs/[^/]+\.md$", p)} - {"docs/README.md"}
    if "docs/runbooks/README.md" in files:
        top_docs.add("docs/runbooks/README.md")
    readmes = {p for p in files if re.match(r"kubernetes/apps/[^/]+/[^/]+/README\.md$", p)}
    assert top_docs | readmes <= linked


def test_app_readme_depends_on_is_its_ks_yaml(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, files = rendered
    for path in files:
        match = re.match(r"(kubernetes/apps/([^/]+)/[^/]+)/ks\.yaml$", path)
        if not match:
            continue
        folder, namespace = match.groups()
        expected = [
            f"{dep.get('namespace', namespace)}/{dep['name']}"
            for doc in yaml.safe_load_all(files[path])
            if doc
            for dep in doc["spec"].get("dependsOn", [])
        ]
        line = files[f"{folder}/README.md"].decode()
        assert line.count("\n") == 1, f"{folder}/README.md is one line"
        listed = re.search(r"Depends on: (.*?)\. Backup:", line)
        assert listed, line
        named = re.findall(r"`([^`]+/[^`]+)`", listed.group(1))
        assert named == list(dict.fromkeys(expected)), folder


def _render_with_overrides(tmp_path: Path, overrides: Mapping[str, str]) -> dict[str, bytes]:
    """The sample rendered with `overrides` ({path under overrides/: text}) as configure
    renders it."""
    for rel, text in overrides.items():
        (tmp_path / "overrides" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "overrides" / rel).write_text(text)
    context = context_of(write_config(sample_with({}), tmp_path))
    return render_tree(context, overrides=find_overrides(tmp_path)).files


_ECHO_DEPENDS_ON = """\
---
target: {kind: Kustomization, name: echo}
patch:
  spec:
    dependsOn:
      - name: cert-manager
        namespace: cert-manager
"""
_FLUX_2_6 = """\
---
target: {kind: HelmRelease, namespace: flux-system, name: flux-instance}
patch:
  spec:
    values:
      instance:
        distribution:
          version: "2.6.x"
"""
_CILIUM_CHART = """\
---
target: {kind: OCIRepository, name: cilium}
patch: {spec: {ref: {tag: "1.2.3"}}}
"""
_MYAPP_KS = """\
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: myapp
spec:
  interval: 1h
  path: ./kubernetes/apps/default/myapp/app
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}
  targetNamespace: default
"""


def test_docs_describe_the_patched_files_not_the_built_in_templates(tmp_path: Path) -> None:
    # Patches apply after rendering; the documents render after them.
    files = _render_with_overrides(
        tmp_path,
        {
            "patches/echo.yaml": _ECHO_DEPENDS_ON,
            "patches/flux.yaml": _FLUX_2_6,
            "patches/cilium.yaml": _CILIUM_CHART,
        },
    )
    echo = files["kubernetes/apps/default/echo/README.md"].decode()
    assert "Depends on: `cert-manager/cert-manager`. Backup:" in echo
    upgrades = files["docs/upgrades.md"].decode()
    assert "(Flux `2.6.x`)" in upgrades and "asks for Flux `2.6.x`" in upgrades
    assert "Flux `2.x`" not in upgrades
    assert "| Cilium | chart `1.2.3` |" in upgrades


def test_an_app_an_override_adds_is_applied_and_indexed(tmp_path: Path) -> None:
    files = _render_with_overrides(
        tmp_path,
        {
            "kubernetes/apps/default/myapp/ks.yaml": _MYAPP_KS,
            "kubernetes/apps/default/myapp/app/kustomization.yaml": (
                "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                "resources: []\n"
            ),
        },
    )
    listing = yaml.safe_load(files["kubernetes/apps/default/kustomization.yaml"])
    assert listing["resources"] == ["./namespace.yaml", "./echo/ks.yaml", "./myapp/ks.yaml"]
    # Indexed, as code: it has no README.md of its own to link to.
    index = files["docs/README.md"].decode()
    assert "| `default` | [echo](../kubernetes/apps/default/echo/README.md), `myapp` |" in index
    # With a README.md of its own, the index links it, and it reads the override's ks.yaml.
    files = _render_with_overrides(
        tmp_path,
        {
            "kubernetes/apps/default/myapp/README.md.j2": (
                '#% import "macros/docs.j2" as docs %#\n'
                '#{ docs.app_readme("default", "myapp", "mine") }#\n'
            )
        },
    )
    assert "[myapp](../kubernetes/apps/default/myapp/README.md)" in files["docs/README.md"].decode()
    readme = files["kubernetes/apps/default/myapp/README.md"].decode()
    assert readme.startswith("**myapp** (namespace `default`): mine. Depends on: nothing")


def test_nodes_addresses_versions_and_domain_are_real(
    rendered: tuple[str, dict[str, bytes]],
) -> None:
    name, files = rendered
    config = _config(name)
    versions = yaml.safe_load(paths.VERSIONS_FILE.read_text(encoding="utf-8"))
    nodes = config["nodes"] if name != "minimal" else config["nodes"][:1]
    for doc in ("nodes.md", "upgrades.md", "troubleshooting.md"):
        text = files[f"docs/{doc}"].decode()
        for node in nodes:
            assert f"`{node['name']}`" in text, (doc, node["name"])
            assert node["address"] in text, (doc, node["address"])
    upgrades = files["docs/upgrades.md"].decode()
    assert versions["talos"]["version"] in upgrades
    assert versions["kubernetes"]["version"] in upgrades
    assert versions["charts"]["cilium"]["version"] in upgrades
    checks = files["docs/post-install-checks.md"].decode()
    assert config["domain"]["name"] in checks
    for gateway in ("internal", "dns"):
        assert config["gateways"][gateway] in checks
    if config["ingress"]["mode"] != "none":
        assert config["gateways"]["external"] in checks


def test_upgrades_go_workers_first_with_each_nodes_installer() -> None:
    files = render_sample(SCENARIOS["five-nodes"])
    text = files["docs/upgrades.md"].decode()
    order = re.findall(r"^uv run task talos:upgrade-node NODE=(\S+)$", text, flags=re.M)
    assert order == ["wk-a", "wk-b", "cp-a", "cp-b", "cp-c"]
    dry_runs = re.findall(
        r"^uv run clustergen talos upgrade-node (\S+) --dry-run$", text, flags=re.M
    )
    assert dry_runs == order
    talos = yaml.safe_load(paths.VERSIONS_FILE.read_text(encoding="utf-8"))["talos"]["version"]
    rows = {
        m[0]: m[1]
        for m in re.findall(r"^\| \d+ \| `([^`]+)` \|.*\| `([^`]+)` \|$", text, flags=re.M)
    }
    assert rows["wk-a"] == f"factory.talos.dev/metal-installer-secureboot/{_SCHEMATIC}:{talos}"
    assert rows["cp-b"] == f"factory.talos.dev/metal-installer/{_OWN_SCHEMATIC}:{talos}"
    assert rows["cp-a"] == f"factory.talos.dev/metal-installer/{_SCHEMATIC}:{talos}"
    # The installer each node runs today is the same image talconfig.yaml gives talhelper.
    talconfig = yaml.safe_load(files["talos/talconfig.yaml"])
    for node in talconfig["nodes"]:
        assert rows[node["hostname"]] == f"{node['talosImageURL']}:{talos}"


def test_removing_a_controller_names_its_etcd_member() -> None:
    text = render_sample(SCENARIOS["five-nodes"])["docs/nodes.md"].decode()
    assert "talosctl -n 192.168.1.11 etcd members | awk '$3 == \"cp-a\" {print $2}'" in text
    assert "kubectl delete node wk-b" in text
    single = render_sample(MINIMAL)["docs/nodes.md"].decode()
    assert "remove-member" not in single
    assert "The only controller" in single


# Words that only a feature's own text uses: absent from every document while it is off,
# present while it is on (so the check cannot pass by never matching).
_FEATURE_WORDS: dict[str, tuple[str, ...]] = {
    "backups": ("velero", "DISASTER_RECOVERY"),
    "policy_engine": ("kyverno",),
    "network_policies": ("hubble", "networkpolicy", "network-policies.md"),
    "monitoring": ("grafana", "runbooks/README.md"),
    "vulnerability_scanning": ("trivy",),
    "resource_governance": ("resource-governance",),
}


@pytest.mark.parametrize("feature", sorted(_FEATURE_WORDS))
def test_a_feature_that_is_off_leaves_no_word_in_the_docs(feature: str) -> None:
    off = "\n".join(_documents(render_sample({})).values()).lower()
    on = "\n".join(_documents(render_sample(EVERY_CHART)).values()).lower()
    assert sample_with({})["features"][feature]["enabled"] is False
    for word in _FEATURE_WORDS[feature]:
        assert word.lower() not in off, word
        assert word.lower() in on, word


@pytest.mark.parametrize(
    ("off", "on", "words"),
    [
        ({}, {"ingress.mode": "cloudflare-tunnel"}, ("tunnel", "cloudflared")),
        (MINIMAL, {}, ("cloudflare", "let's encrypt", "external gateway", "envoy-external")),
        (MINIMAL, {}, ("renovate", "render-diff", "spegel", "pod security", "webhook")),
        (
            {"features.ci.renovate": False, "features.network_policies.enabled": True},
            {"features.network_policies.enabled": True},
            ("renovate",),
        ),
        ({}, BGP, ("bgp",)),
    ],
    ids=["tunnel", "dns-and-ingress", "ci-spegel-pss-webhook", "renovate", "bgp"],
)
def test_settings_that_are_off_leave_no_word_in_the_docs(
    off: Mapping[str, Any], on: Mapping[str, Any], words: tuple[str, ...]
) -> None:
    without = "\n".join(_documents(render_sample(off)).values()).lower()
    with_it = "\n".join(_documents(render_sample(on)).values()).lower()
    for word in words:
        assert word not in without, word
        assert word in with_it, word


# The day-two task names of issue 18 (generator lifecycle commands) and the Taskfile's own.
_DAY_TWO_TASKS = {
    "talos:generate-config",
    "talos:apply-node",
    "talos:upgrade-node",
    "talos:upgrade-k8s",
    "talos:reset",
    "reconcile",
}


def test_every_task_the_docs_run_exists(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, files = rendered
    taskfile = yaml.safe_load((Path(paths.SAMPLE_CONFIG).parent / "Taskfile.yaml").read_text())
    known = set(taskfile["tasks"]) | _DAY_TWO_TASKS
    used = {
        t for text in _documents(files).values() for t in re.findall(r"\btask ([a-z][\w:-]*)", text)
    }
    assert used - known == set()


def test_yaml_examples_parse(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, files = rendered
    for path, text in _documents(files).items():
        for block in _code_blocks(text, "yaml"):
            assert [d for d in yaml.safe_load_all(block) if d is not None], path


def test_adding_an_app_examples_are_valid_manifests(schemas: SchemaStore) -> None:
    """Each object the runbook tells you to write fits its schema (Namespace, Flux
    Kustomization, OCIRepository, HelmRelease, CiliumNetworkPolicy)."""
    text = render_sample(EVERY_CHART)["docs/adding-an-app.md"].decode()
    objects = [
        d
        for block in _code_blocks(text, "yaml")
        for d in yaml.safe_load_all(block)
        # kustomization.yaml is kustomize's own file, not an object of the API.
        if isinstance(d, dict) and not d.get("apiVersion", "").startswith("kustomize.config")
    ]
    kinds = {d["kind"] for d in objects}
    assert {"Namespace", "Kustomization", "HelmRelease", "OCIRepository"} <= kinds
    assert "CiliumNetworkPolicy" in kinds
    for document in objects:
        result = schemas.check(document)
        assert result.found and not result.errors, (document["kind"], result.errors)
    # What the example waits for exists: a rendered Flux Kustomization of that name.
    files = render_sample(EVERY_CHART)
    rendered = {
        f"{m.group(1)}/{doc['metadata']['name']}"
        for path in files
        if (m := re.match(r"kubernetes/apps/([^/]+)/[^/]+/ks\.yaml$", path))
        for doc in yaml.safe_load_all(files[path])
        if doc
    }
    for document in objects:
        for dep in document.get("spec", {}).get("dependsOn", []):
            assert f"{dep['namespace']}/{dep['name']}" in rendered, dep


def test_upgrades_describe_the_rendered_renovate_rules() -> None:
    files = render_sample({})
    renovate = files[".renovaterc.json5"].decode()
    upgrades = " ".join(files["docs/upgrades.md"].decode().split())  # lines rewrapped
    group = re.search(r'"groupName": "([^"]+)"', renovate)
    age = re.search(r'"minimumReleaseAge": "([^"]+)"', renovate)
    assert group and age
    assert f'"{group.group(1)}"' in upgrades
    assert f"the release is {age.group(1)} old" in upgrades


def test_documents_are_tidy(rendered: tuple[str, dict[str, bytes]]) -> None:
    """pre-commit's whitespace hooks (and editors) leave them as they are."""
    _, files = rendered
    for path, text in _documents(files).items():
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{path}: blank end"
        assert not re.search(r"[ \t]$", text, re.M), f"{path}: trailing whitespace"


# The lifecycle commands of issue 18 (`clustergen talos …`, `clustergen reconcile`).
_DAY_TWO_COMMANDS = {
    ("talos", "generate-config"),
    ("talos", "apply-node"),
    ("talos", "upgrade-node"),
    ("talos", "upgrade-k8s"),
    ("talos", "reset"),
    ("reconcile",),
}


def test_every_clustergen_command_the_docs_run_parses(
    rendered: tuple[str, dict[str, bytes]],
) -> None:
    _, files = rendered
    parser = build_parser()
    commands = {
        line.strip()
        for text in _documents(files).values()
        for line in re.findall(r"uv run clustergen ([^`\n#]+)", text)
        if "…" not in line  # prose: `uv run clustergen talos …`
    }
    assert commands
    for command in commands:
        argv = shlex.split(command)
        if tuple(argv[:2]) in _DAY_TWO_COMMANDS or tuple(argv[:1]) in _DAY_TWO_COMMANDS:
            continue
        try:
            parser.parse_args(argv)
        except SystemExit as exit_:
            pytest.fail(f"clustergen {command}: exit {exit_.code}")


# go-task's own flags, which go before the task name (`task -x check`: --exit-code).
_TASK_FLAGS = {"-x", "--exit-code"}
_TASK_LINE = re.compile(r"uv run task ([^`\n#|]+)")


def _task_runs(text: str) -> list[list[str]]:
    """Each `uv run task …` a document tells you to run, as its arguments."""
    # (not prose: `uv run task …`)
    return [shlex.split(found) for found in _TASK_LINE.findall(text) if "…" not in found]


@functools.cache
def _taskfile() -> dict[str, Any]:
    # Read once: a few hundred task runs are checked, each against the same Taskfile.
    taskfile: dict[str, Any] = yaml.safe_load(
        (Path(paths.SAMPLE_CONFIG).parent / "Taskfile.yaml").read_text()
    )
    return taskfile


@functools.cache
def _parser() -> argparse.ArgumentParser:
    return build_parser()


def _clustergen_argv(task: str, variables: Mapping[str, str], cli_args: list[str]) -> list[str]:
    """The clustergen argv the Taskfile's `task` runs ([] for a task that runs no clustergen
    command), by the substitutions its templates use."""
    commands = [c for c in _taskfile()["tasks"][task].get("cmds", []) if isinstance(c, str)]
    command = next((c for c in commands if c.startswith("clustergen ")), None)
    if command is None:
        return []
    node = shlex.quote(variables["NODE"]) if "NODE" in variables else ""
    for template, value in (
        ("{{if .NODE}}{{shellQuote .NODE}}{{end}}", node),
        ("{{shellQuote .NODE}}", node),
        ("{{.CONFIG}}", "cluster.yaml"),
        ("{{.CLI_ARGS}}", shlex.join(cli_args)),
    ):
        command = command.replace(template, value)
    assert "{{" not in command, command
    return shlex.split(command)[1:]


def _check_task_run(where: str, argv: list[str]) -> None:
    """A flag for the command goes after `--` (go-task reads one before it as its own, and
    refuses it); what goes after `--` is an argument the clustergen command takes."""
    before, cli_args = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    tasks = [a for a in before if not a.startswith("-") and "=" not in a]
    assert tasks, f"{where}: task {shlex.join(argv)}: no task"
    first = before.index(tasks[0])
    own = before[:first]
    assert set(own) <= _TASK_FLAGS, f"{where}: task {shlex.join(argv)}: unknown task flag"
    flags = [a for a in before[first:] if a.startswith("-")]
    assert not flags, f"{where}: task {shlex.join(argv)}: {flags[0]} goes after `--`"
    variables = dict(a.split("=", 1) for a in before[first:] if "=" in a)
    clustergen = _clustergen_argv(tasks[0], variables, cli_args)
    if not clustergen:
        return
    try:
        _parser().parse_args(clustergen)
    except SystemExit as exit_:
        pytest.fail(f"{where}: task {shlex.join(argv)} runs clustergen "
                    f"{shlex.join(clustergen)}: exit {exit_.code}")  # fmt: skip


def test_every_task_run_puts_its_flags_after_the_double_dash(
    rendered: tuple[str, dict[str, bytes]],
) -> None:
    """`uv run task talos:reset -- --yes`, never `… talos:reset --yes`: in every rendered
    document and in README.md, each task run's flags follow `--` and parse as the flags of
    the clustergen command the Taskfile runs."""
    _, files = rendered
    documents = {
        **_documents(files),
        "README.md (clustergen)": (Path(paths.SAMPLE_CONFIG).parent / "README.md").read_text(),
    }
    runs = [(where, argv) for where, text in documents.items() for argv in _task_runs(text)]
    assert any("--" in argv for _, argv in runs)
    for where, argv in runs:
        _check_task_run(where, argv)


@pytest.mark.parametrize(
    "run",
    ["talos:reset --yes", "talos:apply-node NODE=n --insecure", "configure --strict",
     "talos:reset -- --no-such-flag"],
)  # fmt: skip
def test_the_task_run_check_finds_a_misplaced_flag(run: str) -> None:
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _check_task_run("doc", shlex.split(run))


def test_a_node_in_maintenance_mode_is_applied_with_insecure() -> None:
    """A machine booted from the ISO (a new node, a new system disk, a reset) takes its
    first config only over `talosctl apply-config --insecure`."""
    files = render_sample({})
    nodes = files["docs/nodes.md"].decode()
    adding = nodes[nodes.index("## Adding a node") : nodes.index("## Removing a node")]
    assert re.search(r"uv run task talos:apply-node NODE=\S+ -- --insecure\n", adding)
    troubleshooting = files["docs/troubleshooting.md"].decode()
    assert re.search(r"replaced system disk.*\n.*\n.*-- --insecure", troubleshooting)


_BRANCH = re.compile(r"(├──|└──) ")


def _tree_faults(block: str) -> list[str]:
    """Lines of a `tree`-style listing whose branch is wrong: `├──` with no later sibling
    (before its parent's level ends), or `└──` followed by one."""
    entries = [(m.start(), m.group(1), line) for line in block.splitlines()
               if (m := _BRANCH.search(line))]  # fmt: skip
    faults = []
    for i, (column, branch, line) in enumerate(entries):
        sibling = False
        for later, _, _ in entries[i + 1 :]:
            if later < column:
                break
            if later == column:
                sibling = True
                break
        if (branch == "├──") != sibling:
            faults.append(line)
    return faults


def test_file_trees_end_each_level_with_its_last_entry(
    rendered: tuple[str, dict[str, bytes]],
) -> None:
    """`└──` on the last entry of each folder, whichever features are on."""
    _, files = rendered
    trees = [
        (path, block)
        for path, text in _documents(files).items()
        for block in re.findall(r"^ *```\n(.*?)^ *```$", text, flags=re.M | re.S)
        if _BRANCH.search(block)
    ]
    assert trees
    for path, block in trees:
        assert _tree_faults(block) == [], path


def test_the_tree_check_finds_a_dangling_branch() -> None:
    assert _tree_faults("a/\n├── b\n└── c/\n    ├── d\n") == ["    ├── d"]
    assert _tree_faults("a/\n└── b\n└── c\n") == ["└── b"]
    assert _tree_faults("a/\n├── b/\n│   └── x\n└── c\n") == []


def test_direct_mode_says_how_to_create_the_external_record() -> None:
    """In direct mode nothing in the cluster creates `external.<domain>` (cloudflare-dns
    only points each route's CNAME at it; the tunnel's DNSEndpoint is off): the checks say
    to create it."""
    files = render_sample({"ingress.mode": "direct"})
    assert not [p for p in files if p.endswith("dnsendpoint.yaml")]
    checks = " ".join(files["docs/post-install-checks.md"].decode().split())
    assert re.search(
        r"create it once in the Cloudflare dashboard \(`[^`]+` → DNS → Records → Add record: "
        r"type `A`, name `external`",
        checks,
    )
    assert "dig +short external." in checks
    tunnel = render_sample({"ingress.mode": "cloudflare-tunnel"})
    assert "Add record" not in tunnel["docs/post-install-checks.md"].decode()
