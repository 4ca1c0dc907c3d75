"""Non-ASCII and emoji in secret values survive the real sops and the Alertmanager config.

The rendered secrets are encrypted and decrypted with the real sops (whose YAML store is
Go's yaml.v3, the parser Flux and Alertmanager use too) under the rendered `.sops.yaml`,
and the Alertmanager configuration inside its Secret is put through sops on its own, so
Go parses it as well: every value must come back exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyrage
import yaml

from generator.secrets.sops import Sops
from tests.fakes import side_files
from tests.rendering import EVERY_CHART, render_config, sample_with, write_config

UNICODE = "pässwörd 🎉🔐 «ключ» \"q\" 'a' \\ # x: y"
ALERTMANAGER_SECRET = "kubernetes/apps/observability/{stack}/app/alertmanager-config.sops.yaml"


def _render_with_key(tmp_path: Path, stack: str) -> tuple[dict[str, bytes], Sops]:
    identity = pyrage.x25519.Identity.generate()
    receivers = [
        {"name": "mail", "type": "email", "address": "oncall@example.com",
         "smarthost": "smtp.example.com:587", "from": "am@example.com",
         "username": "ünïcode-user", "password": UNICODE},
        {"name": "push", "type": "pushover", "user_key": "ключ🎉", "token": UNICODE + "t"},
        {"name": "hook", "type": "webhook", "url": "https://hooks.example.org/🎉/ü"},
    ]  # fmt: skip
    changes = {
        **EVERY_CHART,
        "features.monitoring.stack": stack,
        "features.monitoring.alerting.receivers": receivers,
        "features.backups.s3.secret_key": UNICODE + "s3",
        "dns.token": UNICODE + "dns",
    }
    config = write_config(sample_with(changes), tmp_path / "cluster")
    files = render_config(config, side=lambda ctx: side_files(ctx, identity)).files
    key = tmp_path / "age.key"
    key.write_text(f"{identity}\n", encoding="utf-8")
    rules = tmp_path / ".sops.yaml"
    rules.write_bytes(files[".sops.yaml"])
    return files, Sops(age_key_file=key, config=rules)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _round_trip(sops: Sops, path: str, plaintext: bytes, encrypted: str | None) -> Any:
    """Encrypt and decrypt `plaintext` as `path`; every leaf under `encrypted` (the whole
    document when "") must be ciphertext."""
    ciphertext = sops.encrypt(plaintext, path)
    if encrypted is not None:
        for doc in yaml.safe_load_all(ciphertext):
            part = (
                doc.get(encrypted) if encrypted else {k: v for k, v in doc.items() if k != "sops"}
            )
            assert all(str(leaf).startswith("ENC[") for leaf in _leaves(part)), path
    return list(yaml.safe_load_all(sops.decrypt(ciphertext, path)))


def test_emoji_in_secret_values_survive_sops_and_alertmanager(tmp_path: Path) -> None:
    for stack in ("victoria-metrics", "kube-prometheus-stack"):
        files, sops = _render_with_key(tmp_path / stack, stack)
        secrets = sorted(p for p in files if ".sops." in p.rsplit("/", 1)[-1])
        carrying = [p for p in secrets if "🎉".encode() in files[p] or b"\\U0001F389" in files[p]]
        alertmanager = ALERTMANAGER_SECRET.format(stack=stack)
        assert alertmanager in carrying
        for path in carrying:
            expected = list(yaml.safe_load_all(files[path]))
            assert _round_trip(sops, path, files[path], "stringData") == expected
        (secret,) = yaml.safe_load_all(files[alertmanager])
        config_text = secret["stringData"]["alertmanager.yaml"]
        config = yaml.safe_load(config_text)
        by_name = {r["name"]: r for r in config["receivers"]}
        assert by_name["mail"]["email_configs"][0]["auth_password"] == UNICODE
        assert by_name["push"]["pushover_configs"][0]["token"] == UNICODE + "t"
        assert by_name["push"]["pushover_configs"][0]["user_key"] == "ключ🎉"
        assert by_name["hook"]["webhook_configs"][0]["url"] == "https://hooks.example.org/🎉/ü"
        # Alertmanager reads this text with Go's yaml.v3, as sops does: it must agree.
        # (talos/ rules encrypt every value.)
        nested = f"talos/{stack}-alertmanager.sops.yaml"
        assert _round_trip(sops, nested, config_text.encode(), "") == [config]
