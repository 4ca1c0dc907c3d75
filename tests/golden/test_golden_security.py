"""Golden trees of the security flags.

Only the files the security flags own are snapshotted (network-policies, disruption-budgets,
kyverno, trivy-system, the resource-governance component, the vulnerability runbook) plus
every namespace.yaml, which carries the Pod Security labels: the rest of the tree belongs
to other features' snapshots, and a change there should not churn these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.templates.security import (
    ALL_ON,
    ENFORCE,
    SECURITY_OFF,
    SINGLE_NODE,
    render,
    security_files,
)

pytestmark = pytest.mark.slow

SCENARIOS: dict[str, dict[str, Any]] = {
    # Everything the security flags render is absent: only the plain namespaces remain.
    "security-off": SECURITY_OFF,
    "security-audit": ALL_ON,
    "security-enforce": ENFORCE,
    # One controller: no budgets, single replicas, the same policies.
    "security-enforce-single-node": {
        **ENFORCE,
        **SINGLE_NODE,
        "features.pod_security.level": "restricted",
        "ingress.mode": "cloudflare-tunnel",
    },
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_security_tree(assert_golden: Any, tmp_path: Path, name: str) -> None:
    tree = render(SCENARIOS[name], tmp_path / "work")
    assert_golden(security_files(tree), name, within=security_files)
