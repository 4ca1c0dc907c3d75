"""`cluster.secrets.sops.yaml`: secret values kept out of cluster.yaml, deep-merged over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from generator.bounded_yaml import CONFIG_LIMITS, LimitError
from generator.bounded_yaml import load as load_yaml
from generator.config import NOT_DECRYPTED
from generator.errors import SecretsError
from generator.paths import AGE_KEY_NAME, SECRETS_CONFIG_NAME
from generator.secrets.keys import held_age_key, key_in_env
from generator.secrets.metadata import read_metadata
from generator.secrets.sops import MissingKey, Sops, decrypt_in_rotation


def load_overlay(workdir: Path, sops: Sops | None) -> dict[str, Any] | None:
    """The decrypted overlay as plain data, or None when the file does not exist.

    Raises MissingKey when the file exists but no key is at hand, so the caller
    can decide whether running without secrets is acceptable.
    """
    path = workdir / SECRETS_CONFIG_NAME
    if not path.is_file():
        return None
    content = path.read_bytes()
    meta = read_metadata(content, SECRETS_CONFIG_NAME)
    if meta is None or not meta.complete:
        raise SecretsError(
            f"{SECRETS_CONFIG_NAME} is not encrypted; encrypt it before anything else: "
            "`uv run sops encrypt --age \"$(grep -o 'age1.*' age.key)\" "
            f"--in-place {SECRETS_CONFIG_NAME}`"
        )
    if sops is None:
        raise MissingKey(
            f"{SECRETS_CONFIG_NAME} exists but no age key is available to decrypt it; "
            "put age.key next to cluster.yaml or set SOPS_AGE_KEY_FILE"
        )
    # Mid-rotation the overlay is still encrypted for the previous key.
    plaintext = decrypt_in_rotation(sops, content, SECRETS_CONFIG_NAME, workdir)
    try:
        data = load_yaml(plaintext, CONFIG_LIMITS)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        # A bound says what is allowed; a syntax error could quote a secret value.
        why = f": {err.problem}" if isinstance(err, LimitError) else ""
        raise SecretsError(f"{SECRETS_CONFIG_NAME} does not parse as YAML{where}{why}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SecretsError(
            f"{SECRETS_CONFIG_NAME} must be a mapping with the same sections as cluster.yaml "
            f"(e.g. `dns: {{token: ...}}`), not a {type(data).__name__}"
        )
    return data


def overlay_for_check(workdir: Path) -> tuple[dict[str, Any] | None, str]:
    """The overlay for `clustergen check`, and a note when its values could not be read.

    With the age key the real values are checked; without it (a CI job that
    only validates) the structure is, and the note says so.
    """
    if not (workdir / SECRETS_CONFIG_NAME).is_file():
        return None, ""
    key = held_age_key(workdir)
    try:
        sops = Sops(age_key_file=key) if key is not None or key_in_env() else None
        return load_overlay(workdir, sops), ""
    except MissingKey:
        note = f"{SECRETS_CONFIG_NAME} not decrypted (no {AGE_KEY_NAME}); its values went unchecked"
        return load_overlay_without_key(workdir), note


def load_overlay_without_key(
    workdir: Path, placeholder: str = NOT_DECRYPTED
) -> dict[str, Any] | None:
    """The overlay's structure with every encrypted value replaced by `placeholder`.

    sops keeps YAML keys in clear text, so CI without the age key still knows
    which keys the overlay sets; the files rendered from them are reported as
    "not compared" rather than failing the whole render.
    """
    path = workdir / SECRETS_CONFIG_NAME
    if not path.is_file():
        return None
    try:
        data = load_yaml(path.read_bytes(), CONFIG_LIMITS)
    except yaml.YAMLError:
        raise SecretsError(f"{SECRETS_CONFIG_NAME} does not parse as YAML") from None
    if not isinstance(data, dict):
        return None
    data.pop("sops", None)
    return _mask(data, placeholder)  # type: ignore[no-any-return]


def _mask(node: Any, placeholder: str) -> Any:
    if isinstance(node, dict):
        return {key: _mask(value, placeholder) for key, value in node.items()}
    if isinstance(node, list):
        return [_mask(value, placeholder) for value in node]
    if isinstance(node, str) and node.startswith("ENC["):
        return placeholder
    return node
