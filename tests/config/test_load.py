"""load_cluster end to end: every problem at once, the secrets overlay, the summary line."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config import NOT_DECRYPTED, NOT_DECRYPTED_PROBE, load_cluster
from generator.errors import ConfigError
from tests.config.conftest import BASE, before_nodes, edit, problems, where, write


def test_schema_and_rule_problems_come_together_sorted_by_line(tmp_path: Path) -> None:
    text = edit(
        BASE,
        ("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.7/24"),
        ("name: example.com", "name: example.com\nnmae: x"),
        ("- name: k8s-1", "- name: k8s-0"),
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_cluster(path)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"cluster.yaml:{where(text, 'node_cidr')} network.node_cidr: 192.168.1.7/24 has host "
        "bits set; use the network address 192.168.1.0/24",
        f"cluster.yaml:{where(text, 'nmae')} domain.nmae: unknown key 'nmae' "
        "(did you mean 'name'?)",
        f"cluster.yaml:{where(text, 'name: k8s-0#2')} nodes[1].name: name 'k8s-0' is also used by "
        "nodes[0]",
        "3 error(s) in the configuration; fix them and run again",
    ]


def test_a_value_the_schema_rejects_is_not_judged_again(tmp_path: Path) -> None:
    text = edit(BASE, ("addr: 192.168.1.20", "addr: 10.0.0.300"))
    assert problems(write(tmp_path, text)) == [
        f"cluster.yaml:{where(text, 'addr:')} kubernetes.api.addr: must be an IPv4 address like "
        "192.168.1.10 (got '10.0.0.300')"
    ]


def test_overlay_supplies_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, edit(BASE, ("token: fake-token", "")))
    cluster = load_cluster(path, {"dns": {"token": "from-sops"}})
    assert cluster.values["dns"]["token"] == "from-sops"


def test_overlay_problems_name_the_secrets_file(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    overlay = {
        "dns": {"token": 5},
        "features": {"backups": {"enabled": True, "s3": {"bucket": "b"}}},
    }
    found = problems(path, overlay)
    assert "cluster.secrets.sops.yaml dns.token: must be text" in found
    assert (
        "cluster.secrets.sops.yaml features.backups.s3.endpoint: is required when "
        "features.backups.enabled is true" in found
    )
    assert all(line.startswith("cluster.secrets.sops.yaml ") for line in found)


@pytest.mark.parametrize("placeholder", [NOT_DECRYPTED, NOT_DECRYPTED_PROBE])
def test_values_that_could_not_be_decrypted_are_not_judged(
    tmp_path: Path, placeholder: str
) -> None:
    # Without the age key every overlay value is a placeholder: an e-mail field, an
    # enum or a "must be empty" rule cannot judge it. What cluster.yaml says still counts.
    text = edit(
        BASE,
        ("provider: cloudflare", "provider: none"),
        ("token: fake-token", ""),
        ("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.7/24"),
    )
    path = write(tmp_path, text)
    masked = {
        "dns": {"token": placeholder},
        "features": {"flux_notifications": {"provider": placeholder}},
    }
    assert problems(path, masked) == [
        f"cluster.yaml:{where(text, 'node_cidr')} network.node_cidr: 192.168.1.7/24 has host "
        "bits set; use the network address 192.168.1.0/24"
    ]
    readable = {"dns": {"token": "t"}, "features": {"flux_notifications": {"provider": "x"}}}
    assert len(problems(path, readable)) == 3


def test_overlay_merges_list_items_by_index(tmp_path: Path) -> None:
    text = edit(
        BASE,
        before_nodes("""
        features:
          monitoring:
            enabled: true
            alerting:
              receivers:
                - name: chat
                  type: discord
    """),
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError):
        load_cluster(path)
    overlay = {
        "features": {"monitoring": {"alerting": {"receivers": [{"url": "https://d.example/x"}]}}}
    }
    receivers = load_cluster(path, overlay).values["features"]["monitoring"]["alerting"][
        "receivers"
    ]
    assert receivers[0]["name"] == "chat"
    assert receivers[0]["url"] == "https://d.example/x"
    assert receivers[0]["token"] is None


def test_overlay_does_not_change_the_callers_data(tmp_path: Path) -> None:
    overlay = {"dns": {"token": "t"}}
    load_cluster(write(tmp_path, BASE), overlay)
    assert overlay == {"dns": {"token": "t"}}


def test_numbers_written_where_text_is_expected_keep_their_text(tmp_path: Path) -> None:
    digits = "0123456789" * 6 + "0123"
    text = edit(
        BASE,
        ("token: fake-token", "token: 12345"),
        ("url: https://github.com/example/home-ops", "+  branch: 2024"),
        ("controller: false", f"controller: false\nschematic_id: {digits}"),
        ("node_cidr: 192.168.1.0/24", "+  vlan_tag: 020"),
    )  # fmt: skip
    values = load_cluster(write(tmp_path, text)).values
    assert values["dns"]["token"] == "12345"
    assert values["repository"]["branch"] == "2024"
    assert values["nodes"][1]["schematic_id"] == digits
    assert values["network"]["vlan_tag"] == 20  # int or numeric string: read as a number
