"""The state of every secret file in a tree, judged against `.sops.yaml`, without sops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.errors import SecretsError
from generator.secrets.files import SOPS_CONFIG, iter_secret_files
from generator.secrets.metadata import (
    CreationRule,
    SopsMetadata,
    is_current,
    parse_rules,
    read_metadata,
    rule_for,
)


@dataclass(frozen=True)
class SecretFile:
    path: str
    content: bytes
    meta: SopsMetadata | None
    rule: CreationRule | None

    @property
    def encrypted(self) -> bool:
        return self.meta is not None and self.meta.complete

    @property
    def problem(self) -> str | None:
        """Why this file is not as `.sops.yaml` wants it, or None when it is."""
        if not self.encrypted:
            return "not encrypted (no sops metadata with a MAC)"
        if self.rule is None:
            return f"no creation rule in {SOPS_CONFIG} matches this path"
        if is_current(self.meta, self.rule):
            return None
        assert self.meta is not None
        if self.meta.recipients != self.rule.recipients:
            return (
                f"encrypted for {_keys(self.meta.recipients)}, but {SOPS_CONFIG} says "
                f"{_keys(self.rule.recipients)}"
            )
        return (
            f"encrypted_regex is {self.meta.encrypted_regex!r}, but {SOPS_CONFIG} says "
            f"{self.rule.encrypted_regex!r}"
        )


def _keys(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys)) or "no age keys"


def load_rules(workdir: Path) -> list[CreationRule]:
    path = workdir / SOPS_CONFIG
    if not path.is_file():
        raise SecretsError(
            f"no {SOPS_CONFIG} in {workdir}; run `uv run clustergen configure` to render it"
        )
    return parse_rules(path.read_bytes(), SOPS_CONFIG)


def scan(
    workdir: Path, rules: list[CreationRule] | None, pending: Mapping[str, bytes] | None = None
) -> list[SecretFile]:
    """Every `*.sops.*` file under workdir with its metadata and the rule that applies;
    `pending`: contents about to be written, by path, read instead of the disk's."""
    found = []
    for path in iter_secret_files(workdir):
        content = (pending or {}).get(path) or (workdir / path).read_bytes()
        rule = rule_for(rules, path) if rules is not None else None
        found.append(SecretFile(path, content, read_metadata(content, path), rule))
    return found
