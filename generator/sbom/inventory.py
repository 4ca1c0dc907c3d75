"""What a rendered tree deploys: its Helm charts and container images, read offline.

Charts come from HelmReleases and the OCIRepository / HelmRepository they point at.
Images come from `image:` fields anywhere in the manifests (plain strings, or
`{registry, repository, tag, digest}` mappings as Helm values write them), from obvious
`repository` + `tag` pairs in HelmRelease values, from `# renovate: datasource=docker`
annotations in Talos files and from talhelper's per-node installer images. Values that
Flux or Helm fill in later (`${VAR}`, `{{ }}`) are skipped: they name nothing yet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from generator import bounded_yaml
from generator.errors import Problem, ProblemsError
from generator.sbom.references import ImageRef, image_ref, parse_image, unresolved
from generator.sbom.talos import talos_images

SCANNED_DIRS = ("kubernetes", "bootstrap", "talos")
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class InventoryError(ProblemsError):
    headline = "{n} file(s) could not be read; fix them or run `uv run clustergen configure` again"


@dataclass(frozen=True, order=True)
class Chart:
    name: str
    version: str
    repository: str  # without the chart name: oci://host/path or https://...
    sources: tuple[str, ...]

    @property
    def url(self) -> str:
        return (
            f"{self.repository}/{self.name}"
            if self.repository.startswith("oci://")
            else self.repository
        )


@dataclass(frozen=True, order=True)
class Image:
    ref: ImageRef
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Inventory:
    charts: tuple[Chart, ...]
    images: tuple[Image, ...]


@dataclass(frozen=True)
class _Doc:
    path: str
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        ns = (self.body.get("metadata") or {}).get("namespace")
        return str(ns) if ns else None

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, Mapping) else {}


def scan_tree(root: Path) -> Inventory:
    """The inventory of the rendered tree under `root` (its kubernetes/, bootstrap/, talos/)."""
    texts = _read_texts(root)
    docs = _parse(texts)
    charts: dict[tuple[str, str, str], set[str]] = {}
    images: dict[ImageRef, set[str]] = {}
    for chart, source in _charts(docs):
        charts.setdefault(chart, set()).add(source)
    for ref, source in _images(docs, texts):
        images.setdefault(ref, set()).add(source)
    return Inventory(
        charts=tuple(sorted(Chart(n, v, r, tuple(sorted(s))) for (r, n, v), s in charts.items())),
        images=tuple(sorted(Image(ref, tuple(sorted(s))) for ref, s in images.items())),
    )


def _read_texts(root: Path) -> dict[str, str]:
    dirs = [root / d for d in SCANNED_DIRS if (root / d).is_dir()]
    if not dirs:
        raise InventoryError(
            [
                Problem(
                    "",
                    f"no rendered tree here ({', '.join(d + '/' for d in SCANNED_DIRS)} are "
                    "missing); run `uv run clustergen configure` first, or pass --dir",
                    file=str(root),
                )
            ]
        )
    texts: dict[str, str] = {}
    for directory in dirs:
        for path in sorted(directory.rglob("*")):
            # Secrets are ciphertext: nothing to inventory, and nothing to leak.
            if path.suffix in {".yaml", ".yml"} and ".sops." not in path.name and path.is_file():
                texts[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return texts


def _parse(texts: Mapping[str, str]) -> list[_Doc]:
    docs: list[_Doc] = []
    problems: list[Problem] = []
    for path, text in texts.items():
        try:
            bodies = bounded_yaml.load_all(text)
        except yaml.YAMLError as err:
            problem, line = bounded_yaml.syntax_error(err, text)
            problems.append(Problem("", f"not valid YAML: {problem}", file=path, line=line))
            continue
        docs.extend(_Doc(path, body) for body in bodies if isinstance(body, Mapping))
    if problems:
        raise InventoryError(problems)
    return docs


# --- charts -----------------------------------------------------------------------------


def _charts(docs: list[_Doc]) -> Iterator[tuple[tuple[str, str, str], str]]:
    """((repository, name, version), source path) for every chart the tree installs."""
    oci_repos = [d for d in docs if d.kind == "OCIRepository"]
    helm_repos = [d for d in docs if d.kind == "HelmRepository"]
    referenced: set[int] = set()
    for release in (d for d in docs if d.kind == "HelmRelease"):
        ref = release.spec.get("chartRef")
        if isinstance(ref, Mapping) and ref.get("kind") == "OCIRepository":
            source = _find(oci_repos, release, ref)
            if source is not None:
                referenced.add(id(source))
        template = (release.spec.get("chart") or {}).get("spec")
        if isinstance(template, Mapping):
            found = _helm_repository_chart(release, template, helm_repos)
            if found is not None:
                yield found
    for repo in oci_repos:
        layer = (repo.spec.get("layerSelector") or {}).get("mediaType")
        if id(repo) in referenced or layer == HELM_LAYER:
            found = _oci_chart(repo)
            if found is not None:
                yield found


def _find(candidates: list[_Doc], user: _Doc, ref: Mapping[str, Any]) -> _Doc | None:
    """The source a HelmRelease names: same directory first, then same namespace, then unique."""
    name = str(ref.get("name", ""))
    namespace = ref.get("namespace") or user.namespace
    named = [c for c in candidates if c.name == name]
    here = PurePosixPath(user.path).parent
    for pick in (
        [c for c in named if PurePosixPath(c.path).parent == here],
        [c for c in named if namespace and c.namespace == namespace],
        named if len(named) == 1 else [],
    ):
        if pick:
            return pick[0]
    return None


def _oci_chart(repo: _Doc) -> tuple[tuple[str, str, str], str] | None:
    url = str(repo.spec.get("url", ""))
    ref = repo.spec.get("ref") or {}
    version = ref.get("digest") or ref.get("tag") or ref.get("semver")
    if not url.startswith("oci://") or version is None or unresolved(url + str(version)):
        return None
    repository, _, name = url.rstrip("/").rpartition("/")
    return (repository, name, str(version)), repo.path


def _helm_repository_chart(
    release: _Doc, template: Mapping[str, Any], helm_repos: list[_Doc]
) -> tuple[tuple[str, str, str], str] | None:
    source_ref = template.get("sourceRef") or {}
    if source_ref.get("kind") != "HelmRepository":
        return None
    repo = _find(helm_repos, release, source_ref)
    name, version = template.get("chart"), template.get("version")
    if repo is None or not name or version is None:
        return None
    url = str(repo.spec.get("url", "")).rstrip("/")
    if unresolved(url + str(name) + str(version)):
        return None
    return (url, str(name), str(version)), release.path


# --- images -----------------------------------------------------------------------------


def _images(docs: list[_Doc], texts: Mapping[str, str]) -> Iterator[tuple[ImageRef, str]]:
    for doc in docs:
        if doc.kind == "HelmRelease":
            values = doc.spec.get("values")
            for ref in _walk(values, in_values=True):
                yield ref, doc.path
        elif doc.kind not in {"Secret", "OCIRepository", "HelmRepository"}:
            for ref in _walk(doc.body, in_values=False):
                yield ref, doc.path
    yield from talos_images([(d.path, d.body) for d in docs], texts)


def _walk(node: Any, *, in_values: bool) -> Iterator[ImageRef]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, in_values=in_values)
        return
    if not isinstance(node, Mapping):
        return
    if in_values and "image" not in node:
        # Helm values name images in many ways; a mapping with repository + tag is the
        # common one (`kubectl: {repository: x, tag: y}`).
        ref = _from_mapping(node, need_tag=True)
        if ref is not None:
            yield ref
            return
    for key, value in node.items():
        if key == "image" and isinstance(value, str):
            ref = parse_image(value)
            if ref is not None:
                yield ref
        elif key == "image" and isinstance(value, Mapping):
            ref = _from_mapping(value, need_tag=False)
            if ref is not None:
                yield ref
        else:
            yield from _walk(value, in_values=in_values)


def _from_mapping(node: Mapping[str, Any], *, need_tag: bool) -> ImageRef | None:
    repository = node.get("repository")
    if not isinstance(repository, str) or "://" in repository or unresolved(repository):
        return None
    registry = node.get("registry")
    if isinstance(registry, str) and registry and not repository.startswith(registry + "/"):
        repository = f"{registry.rstrip('/')}/{repository}"
    tag, digest = node.get("tag"), node.get("digest")
    tag = None if tag in (None, "") else str(tag)
    digest = None if digest in (None, "") else str(digest)
    if tag and "@" in tag:
        tag, _, digest = tag.partition("@")
    if need_tag and tag is None and digest is None:
        return None
    if tag is not None and unresolved(tag):
        return None
    return image_ref(repository, tag, digest)
