"""The fixture corpus: valid configs load; each invalid one gives exactly its .expected lines.

Each invalid fixture has a sibling `.expected` file listing the problem lines
(`file:line:col key: message`) in the order they are reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.config import load_cluster
from generator.errors import ConfigError
from tests.features import ENABLE_FLAGS, FEATURES

FIXTURES = Path(__file__).parent / "fixtures"
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))


def test_corpus_is_not_empty() -> None:
    assert len(VALID) >= 8
    assert len(INVALID) >= 8


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture_loads(path: Path) -> None:
    cluster = load_cluster(path)
    assert cluster.derived["controller_count"] >= 1


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture_reports_expected_lines(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as caught:
        load_cluster(path)
    assert [str(p) for p in caught.value.problems] == expected
    assert str(caught.value).splitlines()[-1].startswith(f"{len(expected)} error(s)")


def test_fixture_scenarios() -> None:
    by_name = {p.stem: load_cluster(p) for p in VALID}
    assert by_name["single-node"].derived["node_count"] == 1
    assert by_name["three-controllers"].derived["replicas_control_plane"] == 3
    assert by_name["three-controllers"].derived["workers"][0]["name"] == "worker-0"
    assert by_name["ssh-bundled-host"].derived["repo_known_hosts"].startswith("github.com ")
    assert by_name["self-hosted-git"].derived["repo_known_hosts"].startswith("# ssh-keyscan")
    assert by_name["dns-none"].values["ingress"]["mode"] == "none"
    assert by_name["direct-ingress"].values["ingress"]["mode"] == "direct"
    assert by_name["bgp"].derived["bgp_enabled"] is True
    # The hand-written all-features scenario (the golden all-features tree) keeps every flag
    # of the schema on, nested ones too: a new feature is flagged here until it is added.
    all_features = by_name["all-features"]
    assert all_features.derived["features_on"] == sorted(FEATURES)
    for flag in ENABLE_FLAGS:
        node: Any = all_features.values
        for key in flag.split("."):
            node = node[key]
        assert node is True, f"all-features.yaml: {flag} is not on"
