"""`clustergen sbom`: the inventory of a real render, as valid and reproducible CycloneDX."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from generator import paths
from generator.cli import main
from generator.errors import ClusterGenError
from generator.render.context import load_versions
from generator.sbom import run_sbom
from generator.sbom.inventory import InventoryError, scan_tree
from generator.sbom.references import ImageRef, chart_purl, image_purl, parse_image
from generator.secrets.files import is_secret_path as is_secret
from tests.rendering import EVERY_CHART, render_config, sample_with, write_config

# Every chart of versions.yaml is rendered; monitoring stacks are alternatives, hence two.
VARIANTS = {
    "sample": {},
    "everything": EVERY_CHART,
    "victoria-metrics": {**EVERY_CHART, "features.monitoring.stack": "victoria-metrics"},
}


def _write_render(changes: dict[str, Any], where: Path) -> Path:
    """Render the sample with `changes` into `where`, leaving out secrets (plaintext here)."""
    where.mkdir(parents=True)
    tree = render_config(write_config(sample_with(changes), where))
    for path, content in tree.files.items():
        if not is_secret(path):
            (where / path).parent.mkdir(parents=True, exist_ok=True)
            (where / path).write_bytes(content)
    return where


class _Renders:
    """Each variant rendered on first use, once per module."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._done: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._done:
            self._done[name] = _write_render(VARIANTS[name], self._base / name)
        return self._done[name]

    def values(self) -> list[Path]:
        return [self[name] for name in VARIANTS]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> _Renders:
    return _Renders(tmp_path_factory.mktemp("sbom"))


@pytest.fixture(scope="module")
def sample_bom(rendered: _Renders, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("out") / "sbom.cdx.json"
    assert run_sbom(rendered["sample"], output).text.startswith(f"wrote {output}")
    return output


def test_output_is_valid_cyclonedx_1_6(sample_bom: Path) -> None:
    text = sample_bom.read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    data = json.loads(text)
    assert data["specVersion"] == "1.6"
    assert data["metadata"]["component"]["name"] == "example.com"


@pytest.mark.parametrize("variant", sorted(set(VARIANTS) - {"sample"}))
def test_every_variant_is_valid_cyclonedx(rendered: _Renders, tmp_path: Path, variant: str) -> None:
    output = tmp_path / "sbom.cdx.json"
    assert run_sbom(rendered[variant], output).status == 0
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(output.read_text()) is None


def test_every_chart_of_versions_yaml_is_listed(rendered: _Renders, tmp_path: Path) -> None:
    # Read back from what `clustergen sbom` writes, not from the scanner behind it.
    listed: set[tuple[str, str]] = set()
    for name in VARIANTS:
        output = tmp_path / f"{name}.cdx.json"
        run_sbom(rendered[name], output)
        for component in json.loads(output.read_text(encoding="utf-8"))["components"]:
            props = {p["name"]: p["value"] for p in component.get("properties", [])}
            if props.get("clustergen:kind") == "helm-chart":
                listed.add((props["clustergen:repository"], component["version"]))
    versions = load_versions(paths.VERSIONS_FILE)
    missing = [
        f"{name} {entry['repository']} {entry['version']}"
        for name, entry in versions["charts"].items()
        if (entry["repository"], str(entry["version"])) not in listed
    ]
    assert not missing, f"charts in versions.yaml the SBOMs do not list: {missing}"


def test_components_carry_valid_purls_and_references(sample_bom: Path) -> None:
    components = json.loads(sample_bom.read_text(encoding="utf-8"))["components"]
    kinds = {c["type"] for c in components}
    assert kinds == {"application", "container"}
    for component in components:
        purl = PackageURL.from_string(component["purl"])
        assert purl.type in {"oci", "docker", "generic"}
        assert component["bom-ref"] == component["purl"]
    images = {c["name"]: c for c in components if c["type"] == "container"}
    echo = images["ghcr.io/mendhak/http-https-echo"]
    refs = [p["value"] for p in echo["properties"] if p["name"] == "clustergen:reference"]
    versions = load_versions(paths.VERSIONS_FILE)
    assert refs == [f"ghcr.io/mendhak/http-https-echo:{versions['images']['echo']['version']}"]
    talos = [n for n in images if n.startswith("factory.talos.dev/metal-installer/")]
    assert talos and images[talos[0]]["version"] == versions["talos"]["version"]


def test_output_is_reproducible(rendered: _Renders, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    run_sbom(rendered["sample"], first)
    run_sbom(rendered["sample"], second)
    assert first.read_bytes() == second.read_bytes()
    assert "timestamp" not in json.loads(first.read_text())["metadata"]
    assert first.with_suffix(".md").read_bytes() == second.with_suffix(".md").read_bytes()


def test_markdown_table_lists_every_component(sample_bom: Path, rendered: _Renders) -> None:
    table = sample_bom.with_suffix(".md").read_text(encoding="utf-8")
    inventory = scan_tree(rendered["sample"])
    for chart in inventory.charts:
        assert f"| {chart.name} | {chart.version} |" in table
    for image in inventory.images:
        assert f"`{image.ref.repository}`" in table


def test_cli_writes_json_to_stdout(rendered: _Renders, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sbom", "--dir", str(rendered["sample"])]) == 0
    assert json.loads(capsys.readouterr().out)["bomFormat"] == "CycloneDX"


# --- small trees -------------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


HELM_REPOSITORY_APP = {
    "kubernetes/apps/x/app/helmrepository.yaml": (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        "metadata: {name: stable}\nspec: {url: 'https://charts.example.com/'}\n"
    ),
    "kubernetes/apps/x/app/helmrelease.yaml": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app}\n"
        "spec:\n  chart:\n    spec:\n      chart: app\n      version: 1.2.3\n"
        "      sourceRef: {kind: HelmRepository, name: stable}\n"
        "  values:\n"
        "    image: {registry: quay.io, repository: org/app, tag: v2@sha256:" + "a" * 64 + "}\n"
        "    sidecar: {repository: docker.io/library/busybox, tag: '1.37'}\n"
        "    templated: {repository: ghcr.io/x/y, tag: '${TAG}'}\n"
        "    notAnImage: {repository: 'https://charts.example.com', tag: main}\n"
    ),
    "kubernetes/apps/x/app/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - {name: a, image: 'nginx:1.29'}\n"
        "        - {name: b, image: '${IMAGE}'}\n"
    ),
    "kubernetes/apps/x/app/secret.sops.yaml": (
        "kind: Secret\nstringData: {image: 'ghcr.io/leak/me:1'}\n"
    ),
}


def test_helm_repository_charts_and_values_images(tmp_path: Path) -> None:
    inventory = scan_tree(_tree(tmp_path, HELM_REPOSITORY_APP))
    [chart] = inventory.charts
    assert (chart.name, chart.version, chart.repository) == (
        "app",
        "1.2.3",
        "https://charts.example.com",
    )
    assert {str(i.ref) for i in inventory.images} == {
        f"quay.io/org/app:v2@sha256:{'a' * 64}",
        "docker.io/library/busybox:1.37",
        "nginx:1.29",
    }


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    _tree(tmp_path, {"kubernetes/apps/x/bad.yaml": "a: b\nc: [d\n"})
    with pytest.raises(InventoryError, match=r"kubernetes/apps/x/bad\.yaml:\d+: not valid YAML"):
        scan_tree(tmp_path)


def test_missing_tree_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="clustergen configure"):
        scan_tree(tmp_path)


def test_markdown_output_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterGenError, match="name the JSON file"):
        run_sbom(tmp_path, tmp_path / "sbom.md")


def test_a_markdown_file_sbom_did_not_write_is_never_overwritten(
    rendered: _Renders, tmp_path: Path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# My notes\n")
    with pytest.raises(ClusterGenError, match=r"would overwrite .*README\.md, which clustergen"):
        run_sbom(rendered["sample"], tmp_path / "README.json")
    assert readme.read_text() == "# My notes\n"
    assert not (tmp_path / "README.json").exists()
    # Its own table from an earlier run is replaced.
    run_sbom(rendered["sample"], tmp_path / "sbom.cdx.json")
    run_sbom(rendered["sample"], tmp_path / "sbom.cdx.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ghcr.io/a/b:1.0", ImageRef("ghcr.io/a/b", "1.0")),
        ("localhost:5000/b", ImageRef("localhost:5000/b")),
        ("b@sha256:" + "0" * 64, ImageRef("b", None, "sha256:" + "0" * 64)),
        ("${REGISTRY}/b:1", None),
        ("Not An Image", None),
    ],
)
def test_parse_image(text: str, expected: ImageRef | None) -> None:
    assert parse_image(text) == expected


def test_purls() -> None:
    assert str(image_purl(ImageRef("nginx", "1.29"))) == "pkg:docker/library/nginx@1.29"
    assert (
        str(image_purl(ImageRef("ghcr.io/a/b", "v1"))) == "pkg:docker/a/b@v1?repository_url=ghcr.io"
    )
    assert (
        str(chart_purl("cilium", "1.2.3", "oci://quay.io/cilium/charts"))
        == "pkg:oci/cilium?repository_url=quay.io/cilium/charts/cilium&tag=1.2.3"
    )
    assert (
        str(chart_purl("app", "1.0", "https://charts.example.com"))
        == "pkg:generic/app@1.0?repository_url=https://charts.example.com"
    )
