"""Write a rendered tree: plan, one transaction, ownership manifest (DESIGN.md, "Writing")."""

from generator.write.fs import WriteError
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
    "WriteError",
    "WritePlan",
    "WriteSummary",
    "apply_plan",
    "load_manifest",
    "plan_write",
    "save_manifest",
]
