"""Reference data that lives beside the repository (`../shared`), for tests only.

CRD JSON schemas and the cluster.yaml spec are never copied into the project;
CI clones the repository with shared/ next to it, as developers have it.
"""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
CRD_SCHEMAS = SHARED / "crd-schemas"
# kubeconform-style location template, as `clustergen validate --schema-location` takes it.
CRD_SCHEMA_LOCATION = f"{CRD_SCHEMAS}/{{group}}/{{kind}}_{{version}}.json"
SPEC = SHARED / "spec" / "cluster-config.md"
