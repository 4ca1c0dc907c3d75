"""The inventory as Markdown tables, for release notes and job summaries."""

from __future__ import annotations

from generator.sbom.inventory import Inventory

# Written into every table, so a later run knows the file beside the JSON is its own.
SBOM_MARK = "`clustergen sbom`"


def _cell(text: str | None) -> str:
    return (text or "–").replace("|", "\\|").replace("\n", " ")


def _code(text: str | None) -> str:
    return f"`{_cell(text)}`" if text else "–"


def to_markdown(inventory: Inventory, cluster_name: str) -> str:
    lines = [
        f"# What {cluster_name} deploys",
        "",
        f"{len(inventory.charts)} Helm chart(s) and {len(inventory.images)} container image(s) "
        f"named in the rendered manifests ({SBOM_MARK}).",
        "",
        "## Helm charts",
        "",
        "| Chart | Version | Repository | Defined in |",
        "| --- | --- | --- | --- |",
    ]
    for chart in inventory.charts:
        lines.append(
            f"| {_cell(chart.name)} | {_cell(chart.version)} | {_code(chart.repository)} "
            f"| {'<br>'.join(_code(s) for s in chart.sources)} |"
        )
    lines += [
        "",
        "## Container images",
        "",
        "| Image | Tag | Digest | Named in |",
        "| --- | --- | --- | --- |",
    ]
    for image in inventory.images:
        ref = image.ref
        tag = ref.tag if ref.pinned else "set by the chart"
        lines.append(
            f"| {_code(ref.repository)} | {_cell(tag)} | {_code(ref.digest)} "
            f"| {'<br>'.join(_code(s) for s in image.sources)} |"
        )
    return "\n".join(lines) + "\n"
