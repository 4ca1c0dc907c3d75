"""Write a rendered tree: plan, atomic writes, ownership manifest (see DESIGN.md, "Ownership")."""

from generator.write.manifest import Manifest, ManifestError, load_manifest, save_manifest
from generator.write.writer import (
    Conflict,
    WritePlan,
    WriteSummary,
    apply_plan,
    plan_write,
)

__all__ = [
    "Conflict",
    "Manifest",
    "ManifestError",
    "WritePlan",
    "WriteSummary",
    "apply_plan",
    "load_manifest",
    "plan_write",
    "save_manifest",
]
