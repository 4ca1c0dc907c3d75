"""Read sops metadata and creation rules without running sops.

Used to decide whether a file is encrypted and for whom, which is all that
`secrets check`, `secrets inventory` and the stable-ciphertext test need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from generator import bounded_yaml
from generator.errors import SecretsError

_DOTENV_RECIPIENT = re.compile(r"^sops_age__list_\d+__map_recipient=(\S+)$", re.M)
_DOTENV_REGEX = re.compile(r"^sops_encrypted_regex=(.*)$", re.M)


@dataclass(frozen=True)
class SopsMetadata:
    """What a sops file says about itself: who can open it and which keys it encrypts."""

    recipients: frozenset[str]
    encrypted_regex: str | None
    complete: bool  # every document carries a MAC


@dataclass(frozen=True)
class CreationRule:
    path_regex: str | None
    recipients: frozenset[str]
    encrypted_regex: str | None

    def matches(self, path: str) -> bool:
        # sops matches unanchored (Go's MatchString), against the path relative to .sops.yaml.
        return self.path_regex is None or re.search(self.path_regex, path) is not None


def is_dotenv(filename: str) -> bool:
    return PurePosixPath(filename).suffix == ".env"


def load_documents(content: bytes) -> list[Any]:
    """All YAML (or JSON) documents of content; yaml.YAMLError if it does not parse."""
    return bounded_yaml.load_all(content)


def read_metadata(content: bytes, filename: str) -> SopsMetadata | None:
    """The sops metadata of content, or None when it has none (plaintext or unparsable)."""
    if is_dotenv(filename):
        return _dotenv_metadata(content.decode(errors="replace"))
    try:
        documents = load_documents(content)
    except yaml.YAMLError:
        return None
    blocks = [d.get("sops") if isinstance(d, dict) else None for d in documents]
    if not blocks or not any(isinstance(b, dict) for b in blocks):
        return None
    recipients: set[str] = set()
    regexes: set[str] = set()
    complete = True
    for block in blocks:
        if not isinstance(block, dict):
            complete = False
            continue
        complete = complete and bool(block.get("mac"))
        recipients |= _entry_recipients(block)
        for group in block.get("key_groups") or []:
            if isinstance(group, dict):
                recipients |= _entry_recipients(group)
        if isinstance(block.get("encrypted_regex"), str):
            regexes.add(block["encrypted_regex"])
    regex = regexes.pop() if len(regexes) == 1 else None
    return SopsMetadata(frozenset(recipients), regex, complete)


def _entry_recipients(block: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for entry in block.get("age") or []:
        if isinstance(entry, dict) and isinstance(entry.get("recipient"), str):
            found.add(entry["recipient"])
    for entry in block.get("pgp") or []:
        if isinstance(entry, dict) and isinstance(entry.get("fp"), str):
            found.add(f"pgp:{entry['fp']}")
    return found


def _dotenv_metadata(text: str) -> SopsMetadata | None:
    if "sops_mac=" not in text:
        return None
    regex = _DOTENV_REGEX.search(text)
    return SopsMetadata(
        frozenset(_DOTENV_RECIPIENT.findall(text)),
        regex.group(1) if regex else None,
        complete=True,
    )


def parse_rules(config: bytes, name: str = ".sops.yaml") -> list[CreationRule]:
    """The creation rules of a .sops.yaml; SecretsError naming the file if malformed."""
    try:
        data = bounded_yaml.load(config)
    except yaml.YAMLError as err:
        raise SecretsError(f"{name} is not valid YAML: {err}") from None
    rules = data.get("creation_rules") if isinstance(data, dict) else None
    if not isinstance(rules, list) or not rules:
        raise SecretsError(f"{name} has no creation_rules; run `uv run clustergen configure`")
    parsed: list[CreationRule] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise SecretsError(f"{name} creation_rules[{index}] must be a mapping")
        recipients = _split_keys(rule.get("age"))
        recipients |= {f"pgp:{fp}" for fp in _split_keys(rule.get("pgp"))}
        for group in rule.get("key_groups") or []:
            if isinstance(group, dict):
                recipients |= _split_keys(group.get("age"))
                recipients |= {f"pgp:{fp}" for fp in _split_keys(group.get("pgp"))}
        regex = rule.get("encrypted_regex")
        parsed.append(
            CreationRule(
                path_regex=rule.get("path_regex"),
                recipients=frozenset(recipients),
                encrypted_regex=regex if isinstance(regex, str) else None,
            )
        )
    return parsed


def _split_keys(value: object) -> set[str]:
    items: Iterable[object] = value if isinstance(value, list) else [value]
    keys: set[str] = set()
    for item in items:
        if isinstance(item, str):
            keys |= {k.strip() for k in re.split(r"[,\s]+", item) if k.strip()}
    return keys


def rule_for(rules: Iterable[CreationRule], path: str) -> CreationRule | None:
    """The first rule whose path_regex matches, as sops picks it."""
    return next((rule for rule in rules if rule.matches(path)), None)


def is_current(meta: SopsMetadata | None, rule: CreationRule | None) -> bool:
    """Encrypted completely, for exactly the rule's recipients, with the rule's key selection."""
    return (
        meta is not None
        and meta.complete
        and rule is not None
        and meta.recipients == rule.recipients
        and meta.encrypted_regex == rule.encrypted_regex
    )
