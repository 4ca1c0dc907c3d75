"""The rendered Renovate config, checked against what it has to find.

Renovate itself cannot run here, so its regex managers run through Python's `re` (the
named groups translated), and its flux / kubernetes / helm-values managers are modelled by
what they extract (OCIRepository url + tag, HelmRelease chart + version with a
HelmRepository url, `image: repo:tag` lines, `repository` + `tag` mappings). A dependency
must come out of templates/versions.yaml and the rendered files under the same depName
and version: that puts both bumps in one branch, so a Renovate pull request never drifts
from a fresh render.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from generator.render.context import load_versions
from tests import documents
from tests.rendering import render_config, render_context, render_sample, write_config
from tests.templates.conftest import ContextFor

RENOVATE = ".renovaterc.json5"
VALIDATE = ".github/workflows/validate.yaml"
ALL_FEATURES = Path(__file__).parents[1] / "config" / "fixtures" / "valid" / "all-features.yaml"
Dep = tuple[str, str, str]  # (datasource, depName, currentValue)


def _json5(text: str) -> Any:
    """Our JSON5 is JSON plus whole-line `//` comments."""
    return json.loads(
        "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    )


def _python_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("(?<", "(?P<"))


@pytest.fixture(scope="module")
def ci_files(ci_templates: Path, context_for: ContextFor) -> dict[str, str]:
    files = render_context(context_for({}), ci_templates).files
    return {path: content.decode() for path, content in files.items()}


@pytest.fixture(scope="module")
def renovate(ci_files: dict[str, str]) -> dict[str, Any]:
    config = _json5(ci_files[RENOVATE])
    assert isinstance(config, dict)
    return config


def _managers_for(renovate: dict[str, Any], path: str) -> list[re.Pattern[str]]:
    found = []
    for manager in renovate["customManagers"]:
        patterns = [_python_regex(p.strip("/")) for p in manager["managerFilePatterns"]]
        if any(p.search(path) for p in patterns):
            found += [_python_regex(m) for m in manager["matchStrings"]]
    return found


def _versions_matches(renovate: dict[str, Any]) -> list[re.Match[str]]:
    text = paths.VERSIONS_FILE.read_text(encoding="utf-8")
    matchers = _managers_for(renovate, "templates/versions.yaml")
    assert len(matchers) == 2
    return [m for matcher in matchers for m in matcher.finditer(text)]


def test_managers_cover_flux_actions_and_talos(renovate: dict[str, Any]) -> None:
    flux = [_python_regex(p.strip("/")) for p in renovate["flux"]["managerFilePatterns"]]
    assert any(p.search("kubernetes/apps/x/y/app/ocirepository.yaml") for p in flux)
    assert _managers_for(renovate, "talos/talenv.yaml")
    assert renovate.get("github-actions", {}).get("enabled", True)


def test_every_annotation_of_the_versions_file_is_read_once(renovate: dict[str, Any]) -> None:
    text = paths.VERSIONS_FILE.read_text(encoding="utf-8")
    annotations = len(re.findall(r"^\s*# renovate: ", text, re.MULTILINE))
    starts = [m.start() for m in _versions_matches(renovate)]
    # Each annotation is read by exactly one manager, so no dependency is bumped twice.
    assert len(starts) == len(set(starts)) == annotations


def _expected_deps() -> Iterator[tuple[str, dict[str, str]]]:
    """What Renovate must read for each entry of versions.yaml, derived from the entry."""
    data = load_versions(paths.VERSIONS_FILE)
    for name, chart in data["charts"].items():
        repository, version = chart["repository"], str(chart["version"])
        if repository.startswith("oci://"):
            dep = {"datasource": "docker", "depName": repository.removeprefix("oci://")}
        else:
            dep = {"datasource": "helm", "depName": name, "registryUrl": repository}
        yield name, {**dep, "currentValue": version}
    for name, image in data["images"].items():
        dep = {"datasource": "docker", "depName": image["repository"]}
        yield name, {**dep, "currentValue": str(image["version"])}
    for name, action in data["actions"].items():
        dep = {"datasource": "github-tags", "depName": "/".join(action["uses"].split("/")[:2])}
        yield name, {**dep, "currentValue": action["version"], "currentDigest": action["digest"]}
    for section in ("ci_tools", "pre_commit"):
        for name, tool in data[section].items():
            yield name, {"datasource": "pypi", "depName": name, "currentValue": tool["version"]}
    for name in ("talos", "kubernetes", "talhelper"):
        yield name, {"currentValue": str(data[name]["version"])}


def test_each_entry_is_read_under_its_own_name_and_version(renovate: dict[str, Any]) -> None:
    matches = [m.groupdict() for m in _versions_matches(renovate)]
    expected = list(_expected_deps())
    assert len(matches) == len(expected), "an entry of versions.yaml has no `# renovate:` line"
    for name, wanted in expected:
        found = [m for m in matches if _agrees(m, wanted)]
        assert len(found) == 1, f"versions.yaml {name}: no annotation reads {wanted}"


def _agrees(groups: Mapping[str, str | None], wanted: Mapping[str, str]) -> bool:
    return all(groups.get(key) == value for key, value in wanted.items())


def test_rendered_talos_versions_are_annotated(
    renovate: dict[str, Any], ci_files: dict[str, str]
) -> None:
    talenv = ci_files["talos/talenv.yaml"]
    values = yaml.safe_load(talenv)
    found = {
        m["depName"]: m["currentValue"]
        for r in _managers_for(renovate, "talos/talenv.yaml")
        for m in r.finditer(talenv)
    }
    assert found == {
        "ghcr.io/siderolabs/installer": values["talosVersion"],
        "ghcr.io/siderolabs/kubelet": values["kubernetesVersion"],
    }


def test_rendered_workflow_tool_versions_are_annotated(
    renovate: dict[str, Any], ci_files: dict[str, str]
) -> None:
    found = {
        (m["datasource"], m["depName"], m["currentValue"])
        for r in _managers_for(renovate, VALIDATE)
        for m in r.finditer(ci_files[VALIDATE])
    }
    tools = load_versions(paths.VERSIONS_FILE)["ci_tools"]
    assert found == {("pypi", name, str(tool["version"])) for name, tool in tools.items()}


def test_rendered_pre_commit_hooks_are_annotated(renovate: dict[str, Any]) -> None:
    config = ".pre-commit-config.yaml"
    text = render_sample({})[config].decode()
    found = {
        (m["datasource"], m["depName"], m["currentValue"])
        for r in _managers_for(renovate, config)
        for m in r.finditer(text)
    }
    tools = load_versions(paths.VERSIONS_FILE)["pre_commit"]
    assert found == {("pypi", name, tool["version"]) for name, tool in tools.items()}
    pinned = {
        dep
        for repo in yaml.safe_load(text)["repos"]
        for hook in repo["hooks"]
        for dep in hook.get("additional_dependencies", [])
    }
    assert pinned == {f"{name}=={tool['version']}" for name, tool in tools.items()}


def test_automerge_only_for_digest_and_patch(renovate: dict[str, Any]) -> None:
    automerged = [r for r in renovate["packageRules"] if r.get("automerge")]
    assert automerged
    for rule in automerged:
        assert set(rule["matchUpdateTypes"]) <= {"digest", "patch"}
        assert rule.get("groupName")


def test_renovate_schema(ci_files: dict[str, str], tmp_path: Path) -> None:
    # check-jsonschema ships Renovate's schema; json5 parses the file.
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is not installed")
    pytest.importorskip("json5", reason="json5 is not installed")
    (tmp_path / RENOVATE).write_text(ci_files[RENOVATE], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.renovate",
         str(tmp_path / RENOVATE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# --- the rendered manifests, as Renovate's built-in managers see them ----------------------


def _render_all_features(tmp_path: Path, stack: str) -> dict[str, bytes]:
    config = yaml.safe_load(ALL_FEATURES.read_text(encoding="utf-8"))
    config["features"]["monitoring"]["stack"] = stack
    return render_config(write_config(config, tmp_path / stack)).files


def _built_in_deps(files: Mapping[str, bytes]) -> set[Dep]:
    docs = [
        doc
        for path, content in files.items()
        if path.startswith("kubernetes/") and path.endswith(".yaml") and ".sops." not in path
        for doc in documents.load_all(content)
        if isinstance(doc, dict)
    ]
    helm_repos = {
        d["metadata"]["name"]: d["spec"]["url"] for d in docs if d.get("kind") == "HelmRepository"
    }
    deps: set[Dep] = set()
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc.get("kind") == "OCIRepository":
            deps.add(("docker", spec["url"].removeprefix("oci://"), str(spec["ref"]["tag"])))
        if doc.get("kind") == "HelmRelease" and "chart" in spec:
            chart = spec["chart"]["spec"]
            url = helm_repos[chart["sourceRef"]["name"]]
            deps.add(("helm", f"{chart['chart']}@{url}", str(chart["version"])))
        deps |= set(_images(doc))
    return deps


def _images(node: Any) -> Iterator[Dep]:
    """`image: repo:tag` strings (kubernetes manager), {repository, tag} maps (helm-values)."""
    if isinstance(node, dict):
        image = node.get("image")
        if isinstance(image, str) and ":" in image.rsplit("/", 1)[-1]:
            repository, tag = image.rsplit(":", 1)
            yield "docker", repository, tag
        if isinstance(node.get("repository"), str) and "tag" in node:
            yield "docker", node["repository"], str(node["tag"])
        for value in node.values():
            yield from _images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _images(item)


def test_rendered_charts_and_images_match_the_versions_file(
    renovate: dict[str, Any], tmp_path: Path
) -> None:
    rendered: set[Dep] = set()
    for stack in ("victoria-metrics", "kube-prometheus-stack"):
        rendered |= _built_in_deps(_render_all_features(tmp_path, stack))
    for match in _versions_matches(renovate):
        if match["datasource"] not in {"docker", "helm"} or match.start() > _talos_offset():
            continue
        name = match["depName"]
        if match["datasource"] == "helm":
            name = f"{name}@{match['registryUrl']}"
        dep = (match["datasource"], name, match["currentValue"])
        assert dep in rendered, f"{dep}: Renovate finds it in versions.yaml, not in kubernetes/"


def _talos_offset() -> int:
    """Where the charts and images end in versions.yaml (Talos has its own annotations)."""
    text = paths.VERSIONS_FILE.read_text(encoding="utf-8")
    return text.index("\ntalos:")
