"""Images the Talos nodes run, from the rendered talos/ files (talhelper's input).

Two sources: `# renovate: datasource=docker depName=IMAGE` annotations above a
`key: version` line (talenv.yaml names the installer and kubelet this way), and each
node's `talosImageURL` in talconfig.yaml with the `talosVersion` it resolves to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from generator.sbom.references import ImageRef, image_ref, unresolved

_ANNOTATED_DOCKER = re.compile(
    r"^\s*# renovate: datasource=docker depName=(?P<dep>\S+)[^\n]*\n\s*[^\s:#][^:\n]*:\s*"
    r"[\"']?(?P<value>[^\"'\s#]+)",
    re.MULTILINE,
)


def talos_images(
    docs: Sequence[tuple[str, Mapping[str, Any]]], texts: Mapping[str, str]
) -> Iterator[tuple[ImageRef, str]]:
    """(image, source path) pairs; `docs` are (path, parsed document), `texts` path → text."""
    for path, text in texts.items():
        if path.startswith("talos/"):
            for match in _ANNOTATED_DOCKER.finditer(text):
                ref = image_ref(match["dep"], match["value"])
                if ref is not None:
                    yield ref, path
    # talhelper fills `${var}` in talconfig.yaml from the talenv.yaml next to it.
    talenv = {
        PurePosixPath(p).parent: body for p, body in docs if PurePosixPath(p).name == "talenv.yaml"
    }
    for path, body in docs:
        nodes = body.get("nodes")
        if "talosVersion" not in body or not isinstance(nodes, list):
            continue
        version = _substitute(str(body["talosVersion"]), talenv.get(PurePosixPath(path).parent, {}))
        for node in nodes:
            url = node.get("talosImageURL") if isinstance(node, Mapping) else None
            if isinstance(url, str) and not unresolved(version):
                ref = image_ref(url, version)
                if ref is not None:
                    yield ref, path


def _substitute(text: str, variables: Mapping[str, Any]) -> str:
    """talhelper's `${name}`; unknown names stay as they are (and so count as unresolved)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: str(variables.get(m[1], m[0])), text)
