"""`clustergen sbom`: an offline inventory of what the rendered cluster deploys.

Every Helm chart (HelmRelease + OCIRepository / HelmRepository) and every container
image named in the rendered manifests under kubernetes/, bootstrap/ and talos/, as a
CycloneDX 1.6 JSON document. With --output FILE.json a Markdown table of the same
inventory is written next to it as FILE.md (`sbom.cdx.json` → `sbom.cdx.md`); without
--output the JSON goes to stdout. Output is byte-identical for an unchanged tree.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from generator import bounded_yaml
from generator.atomic import atomic_write
from generator.errors import ClusterGenError
from generator.paths import CONFIG_NAME
from generator.report import Report
from generator.sbom.cyclonedx import to_json
from generator.sbom.inventory import scan_tree
from generator.sbom.markdown import SBOM_MARK, to_markdown

__all__ = [
    "markdown_path",
    "run_sbom",
]


def markdown_path(output: Path) -> Path:
    return output.with_suffix(".md")


def run_sbom(root: Path, output: Path | None = None) -> Report:
    """Write the inventory of the tree under `root` to `output` (JSON, and a Markdown table
    next to it); without `output` the report's text is the JSON document."""
    if output is not None and output.suffix == ".md":
        raise ClusterGenError(
            f"--output {output}: name the JSON file (e.g. sbom.cdx.json); "
            "the Markdown table is written next to it with the suffix .md"
        )
    if output is not None:
        _refuse_foreign_table(markdown_path(output))
    inventory = scan_tree(root)
    name = cluster_name(root)
    document = to_json(inventory, name)
    if output is None:
        return Report(document)
    table = markdown_path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(output, document.encode(), 0o644)
        atomic_write(table, to_markdown(inventory, name).encode(), 0o644)
    except OSError as err:
        raise ClusterGenError(f"cannot write {err.filename}: {err.strerror}") from err
    return Report(
        f"wrote {output} and {table}: "
        f"{len(inventory.charts)} chart(s), {len(inventory.images)} image(s)"
    )


def _refuse_foreign_table(table: Path) -> None:
    """The Markdown table goes beside the JSON; a file there that sbom did not write (a
    README.md for `--output README.json`) is the user's and is never overwritten."""
    try:
        existing = table.read_bytes()
    except FileNotFoundError:
        return
    except OSError as err:
        raise ClusterGenError(f"cannot read {table}: {err.strerror}") from err
    if SBOM_MARK.encode() not in existing:
        raise ClusterGenError(
            f"--output would overwrite {table}, which clustergen sbom did not write; "
            "choose another name (e.g. sbom.cdx.json)"
        )


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
