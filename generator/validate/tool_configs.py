"""Rendered YAML that is not a Kubernetes object: Talos (talhelper) and GitHub Actions files.

A file that does not parse is reported by `documents.parse_tree`, like any YAML file;
this module checks the shape of the ones that do:

- `.github/workflows/*.yaml`: SchemaStore's github-workflow schema, the copy vendored by
  check-jsonschema (`check_jsonschema/builtin_schemas/vendor/github-workflows.json`,
  https://json.schemastore.org/github-workflow.json), so it runs offline.
- `talos/talconfig.yaml`: the keys talhelper accepts. Its JSON schema
  (budimanjojo/talhelper v3.1.9, pkg/config/schemas/talconfig.json) is not shipped with
  any package we can install, so the parts clustergen renders are restated here: the
  required keys, no unknown top-level or node keys, strings where strings belong.
- `talos/patches/**.yaml`: one document, a mapping (a strategic merge patch) or a list
  (a JSON patch), as `talosctl` and talhelper load patches.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from generator.errors import ClusterGenError
from generator.validate.documents import Doc, Finding
from generator.validate.schema_results import ResultCache

WORKFLOWS_DIR = ".github/workflows/"
TALCONFIG = "talos/talconfig.yaml"
TALOS_PATCHES_DIR = "talos/patches/"

# talhelper v3.1.9 pkg/config/schemas/talconfig.json: `TalhelperConfig` and `Node`
# (required keys and the full key sets; both have additionalProperties false).
_TALCONFIG_KEYS = frozenset(
    {
        "additionalApiServerCertSans", "additionalMachineCertSans",
        "allowSchedulingOnControlPlanes", "allowSchedulingOnMasters", "clusterName",
        "clusterPodNets", "clusterSvcNets", "cniConfig", "controlPlane", "domain", "endpoint",
        "imageFactory", "inlineManifests", "kubernetesVersion", "nodes", "patches",
        "talosVersion", "worker",
    }
)  # fmt: skip
_NODE_KEYS = frozenset(
    {
        "certSANs", "controlPlane", "disableSearchDomain", "extensionServices",
        "extraManifests", "filenameTmpl", "hostname", "ignoreHostname", "imageSchematic",
        "ingressFirewall", "installDisk", "installDiskSelector", "ipAddress", "kernelModules",
        "machineDisks", "machineFiles", "machineSpec", "nameservers", "networkInterfaces",
        "noSchematicValidate", "nodeAnnotations", "nodeLabels", "nodeTaints",
        "overrideExtraManifests", "overrideMachineCertSANs", "overridePatches", "patches",
        "schematic", "talosImageURL", "userVolumes", "volumes",
    }
)  # fmt: skip
_STRINGS = {"type": "string"}
_STRING_LIST = {"type": "array", "items": _STRINGS}
TALCONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["clusterName", "kubernetesVersion", "endpoint", "nodes"],
    "additionalProperties": False,
    "properties": {
        **{key: {} for key in sorted(_TALCONFIG_KEYS)},
        "clusterName": _STRINGS,
        "kubernetesVersion": _STRINGS,
        "talosVersion": _STRINGS,
        "endpoint": _STRINGS,
        "domain": _STRINGS,
        "additionalApiServerCertSans": _STRING_LIST,
        "additionalMachineCertSans": _STRING_LIST,
        "clusterPodNets": _STRING_LIST,
        "clusterSvcNets": _STRING_LIST,
        "patches": _STRING_LIST,
        "allowSchedulingOnControlPlanes": {"type": "boolean"},
        "nodes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["hostname", "ipAddress"],
                "additionalProperties": False,
                "properties": {
                    **{key: {} for key in sorted(_NODE_KEYS)},
                    "hostname": _STRINGS,
                    "ipAddress": _STRINGS,
                    "installDisk": _STRINGS,
                    "talosImageURL": _STRINGS,
                    "controlPlane": {"type": "boolean"},
                    "patches": _STRING_LIST,
                },
            },
        },
    },
}


def check_tool_configs(
    docs: Mapping[str, list[Doc]],
    unparsable: Collection[str] = (),
    results: ResultCache | None = None,
) -> Iterator[Finding]:
    """Findings for the workflows, talconfig.yaml and Talos patches among `docs`
    (every parsed YAML file of the tree, by path); `unparsable` files are already reported.
    `results`: where a workflow's findings are kept between runs (they hold no secret)."""
    for path in sorted(set(docs) - set(unparsable)):
        if is_workflow(path):
            yield from _workflow(path, _as_yaml_1_2(docs[path]), results)
        elif path == TALCONFIG:
            yield from _against(path, docs[path], _talconfig_validator(), "talhelper config")
        elif path.startswith(TALOS_PATCHES_DIR):
            yield from _patch_shape(path, docs[path])


def is_workflow(path: str) -> bool:
    """A GitHub workflow file: directly in .github/workflows/."""
    return path.startswith(WORKFLOWS_DIR) and path.count("/") == 2


def _against(
    path: str, docs: list[Doc], validator: jsonschema.protocols.Validator, what: str
) -> Iterator[Finding]:
    if len(docs) != 1:
        yield Finding(path, f"a {what} is one YAML document; found {len(docs)}")
        return
    doc = docs[0]
    for error in sorted(validator.iter_errors(doc.data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        yield Finding(path, f"not a valid {what}: {where}: {error.message}", doc.line)


def _workflow(path: str, docs: list[Doc], results: ResultCache | None) -> Iterator[Finding]:
    key = None
    if results is not None and len(docs) == 1:
        schema = _workflow_schema()
        status = schema.stat()
        key = results.key(
            f"github-workflow {schema} {status.st_size} {status.st_mtime_ns}", docs[0].data
        )
    kept = results.get(key) if results is not None and key is not None else None
    if kept is not None:
        for message, _ in kept:
            yield Finding(path, message, docs[0].line)
        return
    found = list(_against(path, docs, _workflow_validator(), "GitHub workflow"))
    if results is not None and key is not None:
        results.put(key, [(f.message, False) for f in found])
    yield from found


def _as_yaml_1_2(docs: list[Doc]) -> list[Doc]:
    # PyYAML reads YAML 1.1, where the key `on:` is the boolean true; GitHub reads 1.2.
    for doc in docs:
        if isinstance(doc.data, dict) and True in doc.data:
            doc.data = {("on" if k is True else k): v for k, v in doc.data.items()}
    return docs


def _patch_shape(path: str, docs: list[Doc]) -> Iterator[Finding]:
    if len(docs) != 1 or not isinstance(docs[0].data, dict | list):
        yield Finding(
            path,
            "a Talos patch is one YAML document: a mapping (strategic merge) or a list "
            "(JSON patch)",
        )


@functools.cache
def _workflow_schema() -> Path:
    # Found without importing check_jsonschema: its import (CLI, HTTP client) costs ~0.8 s.
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or spec.origin is None:
        raise ClusterGenError("check-jsonschema is not installed; reinstall clustergen")
    return Path(spec.origin).parent / "builtin_schemas" / "vendor" / "github-workflows.json"


@functools.cache
def _workflow_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(_workflow_schema().read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@functools.cache
def _talconfig_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(TALCONFIG_SCHEMA)
