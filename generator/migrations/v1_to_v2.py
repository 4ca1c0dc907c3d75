"""Schema version 1 → 2: `kubernetes.svc_cidr` is `kubernetes.service_cidr`.

"svc" was the only abbreviated network name beside `node_cidr` and `pod_cidr`; Kubernetes
calls this range the service CIDR (kube-apiserver `--service-cluster-ip-range`, the
`networking.k8s.io` ServiceCIDR kind: https://kubernetes.io/docs/reference/networking/virtual-ips/).
"""

from __future__ import annotations

from generator.config.locate import KeyPath, format_path
from generator.migrations.document import Document

# (old key path, new name of its last part)
RENAMES: tuple[tuple[KeyPath, str], ...] = ((("kubernetes", "svc_cidr"), "service_cidr"),)


def migrate(document: Document) -> list[str]:
    """Rename the keys of RENAMES that `document` has; one line per change made."""
    changes = []
    for path, new in RENAMES:
        if document.rename(path, new) is not None:
            changes.append(f"renamed {format_path(path)} to {format_path((*path[:-1], new))}")
    return changes
