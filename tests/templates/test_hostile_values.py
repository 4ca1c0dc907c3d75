"""Free-text values with YAML syntax in them render to YAML that parses back to exactly them.

Quotes, backslashes, `#`, `: `, a leading `*` or `&`, non-ASCII and emoji, in every free-text
field that reaches a YAML file: through the real config loader where the schema allows the
value, and straight into the template context (domain, tls_sans: the schema allows only
lowercase names there, but the templates must not rely on it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from generator import paths
from generator.render.tree import render_tree
from tests import documents
from tests.rendering import EVERY_CHART, context_of, render_config, sample_with, write_config

# No whitespace: the schema's patterns for branch, url, disk are `\S+`.
DENSE = "q\"u'o\\te#x:y&*!%{a}[b],|>@ü🎉"
# With spaces: tokens, passwords, known_hosts take any text.
SPACED = "a \"b\" 'c' \\ # d: e *f &g ü 🎉"
LEADING = ("*alias", "&anchor", "!tag", "- dash", "? key", "@at", "%pct")

# Nested YAML that Secrets carry as one string value.
_NESTED = ("alertmanager.yaml",)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _NESTED and isinstance(item, str):
                yield from _leaves(documents.load(item))
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def parsed_values(files: Mapping[str, bytes]) -> dict[str, list[Any]]:
    """Every scalar of every YAML file (nested Alertmanager config included), by path;
    every YAML file must parse."""
    found: dict[str, list[Any]] = {}
    for path, content in files.items():
        if path.endswith((".yaml", ".yml")):
            docs = documents.load_all(content)
            found[path] = [leaf for doc in docs for leaf in _leaves(doc)]
    return found


def render_changes(changes: Mapping[str, Any], tmp_path: Path) -> dict[str, list[Any]]:
    config = write_config(sample_with(changes), tmp_path)
    return parsed_values(render_config(config).files)


def test_branch_and_https_url(tmp_path: Path) -> None:
    url = f"https://git.example.org/o/{DENSE}"
    values = render_changes(
        {"repository.branch": DENSE, "repository.url": url, **EVERY_CHART}, tmp_path
    )
    instance = values["kubernetes/apps/flux-system/flux-instance/app/helmrelease.yaml"]
    assert url in instance
    assert f"refs/heads/{DENSE}" in instance
    for workflow in ("validate", "render-diff"):
        assert DENSE in values[f".github/workflows/{workflow}.yaml"], workflow
    # Runbook links carry the branch URL-encoded, so `#` and quotes stay in the path.
    rules = values["kubernetes/apps/observability/rules/app/prometheusrule-pods.yaml"]
    assert any(isinstance(v, str) and f"/blob/{quote(DENSE)}/docs/" in v for v in rules)


def test_ssh_url_and_known_hosts(tmp_path: Path) -> None:
    url = f"ssh://git@git.example.org/o/{DENSE}"
    known_hosts = f"git.example.org ssh-ed25519 {SPACED}\n# {DENSE}\n[other]:2222 k {DENSE}\n"
    values = render_changes(
        {"repository.url": url, "repository.known_hosts": known_hosts}, tmp_path
    )
    assert url in values["kubernetes/apps/flux-system/flux-instance/app/helmrelease.yaml"]
    for secret in (
        "bootstrap/deploy-key.sops.yaml",
        "kubernetes/apps/flux-system/flux-instance/app/deploy-key.sops.yaml",
    ):
        assert known_hosts in values[secret], secret


@pytest.mark.parametrize("disk", [f"/dev/{DENSE}", DENSE, *(f"{c}{DENSE}" for c in "*&!")])
def test_disk(tmp_path: Path, disk: str) -> None:
    data = sample_with({"nodes": "single"})
    data["nodes"][0]["disk"] = disk
    values = parsed_values(render_config(write_config(data, tmp_path / "d")).files)
    assert disk in values["talos/talconfig.yaml"]


def test_receivers_notifications_and_tokens(tmp_path: Path) -> None:
    url = f"https://hooks.example.org/{DENSE}"
    receivers = [
        {"name": "hook", "type": "webhook", "url": url},
        {"name": "ntfy", "type": "ntfy", "url": url + "/n", "token": SPACED},
        {"name": "push", "type": "pushover", "user_key": SPACED + "u", "token": SPACED + "t"},
        {
            "name": "mail",
            "type": "email",
            "address": "oncall@example.com",
            "smarthost": "smtp.example.com:587",
            "from": "am@example.com",
            "username": SPACED + "n",
            "password": SPACED + "p",
        },
    ]
    changes = {
        **EVERY_CHART,
        "features.monitoring.alerting.receivers": receivers,
        "features.monitoring.alerting.heartbeat_url": url + "/hb",
        "features.flux_notifications.enabled": True,
        "features.flux_notifications.provider": "discord",
        "features.flux_notifications.address": url + "/flux",
    }
    values = render_changes(changes, tmp_path)
    every = [v for found in values.values() for v in found]
    # ntfy URLs get the query that selects ntfy's Alertmanager template.
    for expected in (url, url + "/n?template=alertmanager", url + "/hb", url + "/flux"):
        assert expected in every, expected
    for suffix in ("", "u", "t", "n", "p"):
        assert SPACED + suffix in every, suffix


@pytest.mark.parametrize("text", [DENSE, SPACED, *LEADING])
def test_names_beyond_the_schema(tmp_path: Path, text: str) -> None:
    # domain, tls_sans, node names and schematic ids: the schema allows only plain names
    # and hex, but the templates must not rely on it.
    context = context_of(write_config(sample_with({}), tmp_path))
    context["domain"] = {**context["domain"], "name": text}
    api = {**context["kubernetes"]["api"], "tls_sans": [text, "k8s." + text]}
    context["kubernetes"] = {**context["kubernetes"], "api": api}
    node = {**context["nodes"][0], "name": "n" + text, "schematic_id": "s" + text}
    context["nodes"] = [node, *context["nodes"][1:]]
    values = parsed_values(render_tree(context, template_root=paths.TEMPLATE_TREE).files)
    assert text in values["kubernetes/components/sops/cluster-secrets.sops.yaml"]
    talconfig = values["talos/talconfig.yaml"]
    assert text in talconfig and "k8s." + text in talconfig
    assert "n" + text in talconfig
    assert any(isinstance(v, str) and v.endswith("/s" + text) for v in talconfig)


# A YAML value (after `key:`, `-` or `[`) that opens a quote and interpolates inside it, and
# Jinja's tojson (surrogate pairs for emoji, which Go's YAML parser rejects).
_HAND_QUOTED = re.compile(r"""(?:[:\-\[,]\s*)["'][^"'\s]*#\{|\|\s*tojson\b""")


def test_no_template_quotes_a_value_by_hand() -> None:
    offenders = [
        f"{path.relative_to(paths.TEMPLATES)}:{number}: {line.strip()}"
        for path in sorted(paths.TEMPLATES.rglob("*.j2"))
        if not path.name.endswith(".md.j2")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _HAND_QUOTED.search(line)
    ]
    assert offenders == [], "use `| to_yaml_scalar`:\n" + "\n".join(offenders)
