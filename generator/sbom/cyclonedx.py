"""The inventory as a CycloneDX 1.6 JSON document, identical for identical input.

Reproducible so it can be committed, diffed and attested: the serial number is a UUIDv5
of the content, and the timestamp is left out unless SOURCE_DATE_EPOCH (the
reproducible-builds convention) gives one.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
from datetime import UTC, datetime

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6

from generator import __version__
from generator.sbom.inventory import Chart, Image, Inventory
from generator.sbom.references import chart_purl, image_purl

# Property names (CycloneDX recommends a namespace prefix for custom ones).
KIND = "clustergen:kind"
REFERENCE = "clustergen:reference"  # registry/repository[:tag][@digest], for `trivy image`
REPOSITORY = "clustergen:repository"
SOURCE = "clustergen:source"
_SERIAL_NAMESPACE = uuid.UUID("8f6f2c1e-4d0a-5b7e-9c3a-2e1f0d9b8a76")


def chart_component(chart: Chart) -> Component:
    purl = chart_purl(chart.name, chart.version, chart.repository)
    return Component(
        type=ComponentType.APPLICATION,
        name=chart.name,
        version=chart.version,
        purl=purl,
        bom_ref=purl.to_string(),
        properties=[
            Property(name=KIND, value="helm-chart"),
            Property(name=REPOSITORY, value=chart.url),
            *(Property(name=SOURCE, value=s) for s in chart.sources),
        ],
    )


def image_component(image: Image) -> Component:
    ref = image.ref
    purl = image_purl(ref)
    properties = [Property(name=KIND, value="container-image")]
    if ref.pinned:
        properties.append(Property(name=REFERENCE, value=str(ref)))
    hashes = []
    if ref.digest and ref.digest.startswith("sha256:"):
        hashes.append(
            HashType(alg=HashAlgorithm.SHA_256, content=ref.digest.removeprefix("sha256:"))
        )
    return Component(
        type=ComponentType.CONTAINER,
        name=ref.repository,
        version=ref.tag or ref.digest,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=hashes,
        properties=[*properties, *(Property(name=SOURCE, value=s) for s in image.sources)],
    )


def to_json(inventory: Inventory, cluster_name: str) -> str:
    """The CycloneDX JSON text (2-space indent, trailing newline)."""
    components = [chart_component(c) for c in inventory.charts]
    components += [image_component(i) for i in inventory.images]
    root = Component(
        type=ComponentType.PLATFORM,
        name=cluster_name,
        bom_ref="cluster",
        properties=[Property(name=KIND, value="kubernetes-cluster")],
    )
    bom = Bom(components=components, serial_number=_serial(cluster_name, components))
    bom.metadata.component = root
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="clustergen", version=__version__)
    )
    bom.register_dependency(root, components)
    with warnings.catch_warnings():
        # The library warns about optional fields it would like to see; none apply here.
        warnings.simplefilter("ignore")
        data = json.loads(JsonV1Dot6(bom).output_as_string())
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        data["metadata"]["timestamp"] = datetime.fromtimestamp(int(epoch), UTC).isoformat()
    else:
        data["metadata"].pop("timestamp", None)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _serial(cluster_name: str, components: list[Component]) -> uuid.UUID:
    digest = hashlib.sha256(cluster_name.encode())
    for component in sorted(components, key=lambda c: str(c.bom_ref.value)):
        digest.update(f"\n{component.bom_ref.value}".encode())
        for prop in component.properties:
            digest.update(f"\t{prop.name}={prop.value}".encode())
    return uuid.uuid5(_SERIAL_NAMESPACE, digest.hexdigest())
