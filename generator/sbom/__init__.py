"""`clustergen sbom`: an offline inventory of what the rendered cluster deploys.

Every Helm chart (HelmRelease + OCIRepository / HelmRepository) and every container
image named in the rendered manifests under kubernetes/, bootstrap/ and talos/, as a
CycloneDX 1.6 JSON document. With --output FILE.json a Markdown table of the same
inventory is written next to it as FILE.md (`sbom.cdx.json` → `sbom.cdx.md`); without
--output the JSON goes to stdout. Output is byte-identical for an unchanged tree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from generator import bounded_yaml
from generator.errors import ClusterGenError
from generator.paths import CONFIG_NAME
from generator.sbom.cyclonedx import to_json
from generator.sbom.inventory import Chart, Image, Inventory, InventoryError, scan_tree
from generator.sbom.markdown import to_markdown

__all__ = [
    "Chart",
    "Image",
    "Inventory",
    "InventoryError",
    "markdown_path",
    "run_sbom",
    "scan_tree",
    "to_json",
    "to_markdown",
]


def markdown_path(output: Path) -> Path:
    return output.with_suffix(".md")


def run_sbom(root: Path, output: Path | None = None) -> int:
    """Write the inventory of the tree under `root`; the CLI's entry. Returns the exit code."""
    if output is not None and output.suffix == ".md":
        raise ClusterGenError(
            f"--output {output}: name the JSON file (e.g. sbom.cdx.json); "
            "the Markdown table is written next to it with the suffix .md"
        )
    inventory = scan_tree(root)
    name = cluster_name(root)
    document = to_json(inventory, name)
    if output is None:
        sys.stdout.write(document)
        return 0
    table = markdown_path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(document, encoding="utf-8")
        table.write_text(to_markdown(inventory, name), encoding="utf-8")
    except OSError as err:
        raise ClusterGenError(f"cannot write {err.filename}: {err.strerror}") from err
    print(
        f"wrote {output} and {table}: "
        f"{len(inventory.charts)} chart(s), {len(inventory.images)} image(s)"
    )
    return 0


def cluster_name(root: Path) -> str:
    """domain.name from cluster.yaml when it can be read (plain YAML, no validation needed
    for a label), else the directory's name."""
    try:
        data = bounded_yaml.load((root / CONFIG_NAME).read_bytes(), bounded_yaml.CONFIG_LIMITS)
    except (OSError, yaml.YAMLError):
        data = None
    domain = data.get("domain") if isinstance(data, dict) else None
    name = domain.get("name") if isinstance(domain, dict) else None
    return name if isinstance(name, str) and name else (root.resolve().name or "cluster")
