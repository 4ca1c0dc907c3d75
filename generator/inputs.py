"""The inputs of a render, read and checked: cluster.yaml (+ the sops overlay), the side
files and the versions, as one template context. The edge before the pure render; shared
by `configure`, `diff` and the makejinja plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import paths
from generator.config import NOT_DECRYPTED, load_cluster
from generator.config.model import Cluster
from generator.render.context import build_context, load_versions
from generator.secrets.keys import HeldKey, discover_age_key
from generator.secrets.overlay import load_overlay, load_overlay_without_key
from generator.secrets.sops import Sops
from generator.sidefiles import placeholder_side_files, read_side_files


def _sops_for(workdir: Path, held: HeldKey | None) -> Sops | None:
    if held is None:
        return None
    return Sops(age_key_file=held.path, identity=held.key, config=workdir / ".sops.yaml")


@dataclass(frozen=True)
class Inputs:
    """Everything a render needs, read and checked: the edge before the pure part."""

    cluster: Cluster
    context: dict[str, Any]
    workdir: Path
    sops: Sops | None


def load_inputs(
    config_path: Path,
    *,
    keyless: bool = False,
    placeholder: str = NOT_DECRYPTED,
    held: HeldKey | None = None,
) -> Inputs:
    """cluster.yaml (+ the sops overlay), the side files and the versions, as a context.

    `keyless`: when there is no age key (CI without secrets), use `placeholder` for
    every secret value; a tree rendered from them must never be written, only compared.
    `held`: the age key the caller discovered (keys.discover_age_key); discovered here if
    not given.
    """
    workdir = config_path.resolve().parent
    held = held or discover_age_key(workdir)
    sops = _sops_for(workdir, held)
    if sops is None and keyless:
        overlay = load_overlay_without_key(workdir, placeholder)
        cluster = load_cluster(config_path, overlay=overlay)
        side = placeholder_side_files(workdir, placeholder)
    else:
        overlay = load_overlay(workdir, sops)
        cluster = load_cluster(config_path, overlay=overlay)
        side = read_side_files(cluster.values, workdir, held)
    context = build_context(cluster.context(), side, load_versions(paths.VERSIONS_FILE))
    return Inputs(cluster, context, workdir, sops)
