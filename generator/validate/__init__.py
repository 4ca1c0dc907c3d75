"""Checks on a rendered tree: YAML, schemas, the Flux graph, kustomizations, encryption.

The package's names load on first use (PEP 562): importing a submodule such as
`generator.validate.report` must not import jsonschema and every check with it, so a
process that only reads findings (configure, while its validation worker checks the
tree, generator/validation_worker.py) never pays for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from generator.validate.report import raise_for_errors
    from generator.validate.tree import run_validate, sops_decryptor, validate_tree
    from generator.validation_scope import (
        SCHEMA_LOCATION_ENV,
        in_validation_scope,
        locations_from_env,
        read_tree,
    )

# name → the module that defines it
_HOMES = {
    "validate_tree": "generator.validate.tree",
    "run_validate": "generator.validate.tree",
    "sops_decryptor": "generator.validate.tree",
    "raise_for_errors": "generator.validate.report",
    "SCHEMA_LOCATION_ENV": "generator.validation_scope",
    "in_validation_scope": "generator.validation_scope",
    "locations_from_env": "generator.validation_scope",
    "read_tree": "generator.validation_scope",
}

__all__ = [
    "SCHEMA_LOCATION_ENV",
    "in_validation_scope",
    "locations_from_env",
    "raise_for_errors",
    "read_tree",
    "run_validate",
    "sops_decryptor",
    "validate_tree",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function (and a monkeypatch sticks)
    return value
