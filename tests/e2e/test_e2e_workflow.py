"""The e2e workflow (.github/workflows/e2e.yaml) and its configs: actionlint, pins, the
matrix, and configs the real loader accepts, one of them with every feature on."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from generator import paths
from generator.config import load_cluster
from tests.e2e.conftest import E2E_DIR, REPO, WORKFLOW
from tests.linters import lint, tool

PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)@([0-9a-f]{40}) # (v\d+(?:\.\d+)*)$", re.M)
NODES = [
    {
        "address": "10.9.0.2",
        "mac_addr": "AA:BB:CC:00:00:02",
        "disk": "/dev/vda",
        "controller": True,
    },
    {
        "address": "10.9.0.3",
        "mac_addr": "aa:bb:cc:00:00:03",
        "disk": "/dev/vda",
        "controller": False,
    },
]


def _workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def _job() -> dict[str, Any]:
    job: dict[str, Any] = _workflow()["jobs"]["deploy"]
    return job


def _cluster_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_config", E2E_DIR / "cluster_config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_actionlint_with_shellcheck() -> None:
    shellcheck = f"-shellcheck={tool('shellcheck')}"
    result = lint([tool("actionlint"), shellcheck, str(WORKFLOW.relative_to(REPO))], REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_on_pull_requests_and_nightly() -> None:
    triggers = _workflow().get("on", _workflow().get(True))
    assert "pull_request" in triggers
    assert [s["cron"] for s in triggers["schedule"]] and "workflow_dispatch" in triggers


def test_every_action_is_pinned_by_digest() -> None:
    text = WORKFLOW.read_text()
    uses = [line for line in text.splitlines() if "uses:" in line]
    pinned = PINNED.findall(text)
    assert uses and len(pinned) == len(uses), uses
    actions = {name for name, _, _ in pinned}
    assert "home-operations/talosctl-cluster-action" in actions


def test_the_pins_it_shares_with_the_templates_agree() -> None:
    versions = yaml.safe_load(paths.VERSIONS_FILE.read_text())
    pinned = {name: (digest, tag) for name, digest, tag in PINNED.findall(WORKFLOW.read_text())}
    for key in ("checkout", "setup_uv", "upload_artifact"):
        action = versions["actions"][key]
        assert pinned[action["uses"]] == (action["digest"], action["version"]), key
    # The bootstrap tools at the versions the rendered repository is made for.
    mise = next(s for s in _job()["steps"] if "mise-action" in s.get("uses", ""))
    tools = re.findall(r'^(\S+) = "([^"]+)"$', mise["with"]["mise_toml"], flags=re.M)
    assert ("talosctl", versions["talos"]["version"].lstrip("v")) in tools
    assert ("talhelper", versions["talhelper"]["version"].lstrip("v")) in tools


def test_the_matrix_is_the_variants() -> None:
    variants = sorted(p.stem for p in (E2E_DIR / "variants").glob("*.yaml"))
    assert variants == ["all-features", "sample"]
    assert sorted(_job()["strategy"]["matrix"]["variant"]) == variants
    assert _job()["strategy"]["fail-fast"] is False


def test_shell_steps_are_the_script_and_diagnostics_run_on_failure() -> None:
    steps = _job()["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs and all(r.startswith(".github/e2e/e2e.sh ") for r in runs)
    # No expression is expanded into a script: values go through env.
    assert not [r for r in runs if "${{" in r]
    on_failure = [s["name"] for s in steps if s.get("if") == "${{ failure() }}"]
    assert on_failure == ["Collect diagnostics", "Upload diagnostics"]
    collect, upload = (s for s in steps if s["name"] in on_failure)
    written = collect["run"].split()[-1].strip('"').replace("$RUNNER_TEMP", "${{ runner.temp }}")
    assert upload["with"]["path"] == written
    assert _workflow()["permissions"] == {}
    assert _job()["permissions"] == {"contents": "read"}


def test_lab_network_is_the_booted_one() -> None:
    booted = yaml.safe_load((E2E_DIR / "talos-cluster.yaml").read_text())
    assert _job()["env"]["E2E_CIDR"] == booted["spec"]["network"]["cidr"]
    assert booted["spec"]["qemu"]["presets"] == ["iso", "maintenance"]
    counts = (booted["spec"]["controlplanes"]["count"], booted["spec"]["workers"]["count"])
    assert counts == (1, 1)


def _variant_config(name: str, directory: Path) -> Path:
    """cluster.yaml as cluster_config.py writes it for variant `name` and NODES."""
    module = _cluster_config()
    variant = yaml.safe_load((E2E_DIR / "variants" / f"{name}.yaml").read_text()) or {}
    changes = module.lab("10.9.0.0/24", "10.9.0.1", "8418", NODES)
    config = directory / "cluster.yaml"
    config.write_text(yaml.safe_dump(module.build(variant, changes), sort_keys=False))
    return config


@pytest.mark.parametrize("name", ["sample", "all-features"])
def test_variants_are_valid_configs(name: str, tmp_path: Path) -> None:
    config = _variant_config(name, tmp_path)
    values = load_cluster(config).values
    assert values["repository"]["url"] == "http://10.9.0.1:8418/repo.git"
    assert [n["mac_addr"] for n in values["nodes"]] == ["aa:bb:cc:00:00:02", "aa:bb:cc:00:00:03"]
    # No address of the lab is taken twice (nodes, the router, the virtual IPs).
    taken = [values["network"]["default_gateway"], values["kubernetes"]["api"]["addr"]]
    taken += [n["address"] for n in values["nodes"]]
    taken += [a for a in values["gateways"].values() if a]
    assert len(taken) == len(set(taken))


def test_all_features_turns_every_feature_on(tmp_path: Path) -> None:
    config = _variant_config("all-features", tmp_path)
    schema = json.loads(paths.SCHEMA_FILE.read_text())
    features = schema["properties"]["features"]["properties"]
    switchable = sorted(f for f, s in features.items() if "enabled" in s.get("properties", {}))
    values = load_cluster(config).values["features"]
    assert [f for f in switchable if not values[f]["enabled"]] == []
    assert values["network_policies"]["mode"] == "enforce"
    assert values["policy_engine"]["mode"] == "enforce"
    assert values["pod_security"]["level"] == "restricted"
    assert values["monitoring"]["logs"]["enabled"] and values["monitoring"]["tracing"]["enabled"]


def test_the_e2e_runs_only_where_the_template_opts_in() -> None:
    # A user's clone holds this workflow too: without the variable it must not boot clusters.
    assert _workflow()["jobs"]["deploy"]["if"] == "${{ vars.CLUSTERGEN_E2E == 'true' }}"
