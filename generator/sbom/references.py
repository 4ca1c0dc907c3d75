"""Container image references and package URLs (purl) for what the cluster deploys.

purl has no Helm type (`pkg:helm` is only proposed, package-url/purl-spec#236), so:
- container images are `pkg:docker/<namespace>/<name>@<tag or digest>`, the registry in
  `repository_url` (the spec forbids a host as namespace; Docker Hub is the default);
- charts in an OCI registry are `pkg:oci/<name>?repository_url=<registry/path/name>&tag=<v>`:
  the oci type reserves the version for a sha256 digest, which an offline inventory knows
  only when the OCIRepository pins one;
- charts from an HTTP Helm repository are `pkg:generic/<name>@<version>?repository_url=<url>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packageurl import PackageURL

DOCKER_HUB = "docker.io"
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-f0-9]{32,}$")
# Values a renderer other than us fills in later (Flux postBuild, Helm): not a reference yet.
_UNRESOLVED = ("${", "{{")


@dataclass(frozen=True, order=True)
class ImageRef:
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def pinned(self) -> bool:
        return self.tag is not None or self.digest is not None

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def unresolved(value: str) -> bool:
    return any(marker in value for marker in _UNRESOLVED)


def parse_image(text: str) -> ImageRef | None:
    """`registry/path/name[:tag][@digest]`, or None when `text` is not an image reference."""
    text = text.strip()
    if not text or unresolved(text):
        return None
    rest, _, digest = text.partition("@")
    repository, tag = rest, None
    head, _, last = rest.rpartition("/")
    if ":" in last:
        name, _, tag = last.partition(":")
        repository = f"{head}/{name}" if head else name
    return image_ref(repository, tag, digest or None)


def image_ref(
    repository: str, tag: str | None = None, digest: str | None = None
) -> ImageRef | None:
    """An ImageRef from its parts, or None when a part is not valid (templated, prose, ...)."""
    if not _REPOSITORY.match(repository):
        return None
    if tag is not None and not _TAG.match(tag):
        return None
    if digest is not None and not _DIGEST.match(digest):
        return None
    return ImageRef(repository, tag, digest)


def split_registry(repository: str) -> tuple[str, str]:
    """(registry, path): the first segment is a registry when it looks like a host."""
    first, _, path = repository.partition("/")
    if path and ("." in first or ":" in first or first == "localhost"):
        return first, path
    # Docker Hub: `nginx` is `library/nginx`.
    return DOCKER_HUB, repository if "/" in repository else f"library/{repository}"


def image_purl(ref: ImageRef) -> PackageURL:
    registry, path = split_registry(ref.repository)
    namespace, _, name = path.rpartition("/")
    qualifiers = {} if registry == DOCKER_HUB else {"repository_url": registry}
    if ref.digest and ref.tag:
        qualifiers["tag"] = ref.tag
    return PackageURL(
        type="docker",
        namespace=namespace or None,
        name=name,
        version=ref.digest or ref.tag,
        qualifiers=qualifiers,
    )


def chart_purl(name: str, version: str, repository: str) -> PackageURL:
    """`repository` is where the chart lives without its name: oci://host/path or https://..."""
    if repository.startswith("oci://"):
        location = f"{repository.removeprefix('oci://').rstrip('/')}/{name}"
        digest = version if _DIGEST.match(version) else None
        qualifiers = {"repository_url": location}
        if digest is None:
            qualifiers["tag"] = version
        return PackageURL(type="oci", name=name, version=digest, qualifiers=qualifiers)
    return PackageURL(
        type="generic", name=name, version=version, qualifiers={"repository_url": repository}
    )
