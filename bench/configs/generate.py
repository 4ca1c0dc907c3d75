"""The three benchmark configs: the sample, every feature on, and 50 nodes with every feature.

Built from cluster.sample.yaml by code rather than kept as files, so they follow
the sample (and the schema) as both evolve: every `features.*.enabled` (and
nested `enabled`, e.g. monitoring.logs) is switched on and the sub-keys an
enabled feature requires are filled with obviously fake values.

    python bench/configs/generate.py OUT_DIR    # writes sample.yaml, all-features.yaml, large.yaml
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "cluster.sample.yaml"
LARGE_NODES = 50
LARGE_CONTROLLERS = 3

Config = dict[str, Any]

# Values a feature needs once enabled; only keys the schema knows are kept (see _fill).
_REQUIRED_WHEN_ON: dict[str, Config] = {
    "flux_notifications": {
        "provider": "discord",
        "address": "https://discord.com/api/webhooks/000/bench-fake",
    },
    "backups": {
        "s3": {
            "endpoint": "https://s3.example.com",
            "bucket": "cluster-backups",
            "access_key": "bench-fake-access-key",
            "secret_key": "bench-fake-secret-key",
        }
    },
    "monitoring": {
        "alerting": {
            "receivers": [
                {
                    "name": "discord",
                    "type": "discord",
                    "url": "https://discord.com/api/webhooks/000/bench-fake",
                },
                {"name": "phone", "type": "pushover", "user_key": "bench-fake", "token": "fake"},
                {"name": "ntfy", "type": "ntfy", "url": "https://ntfy.sh/bench-fake"},
            ],
            "heartbeat_url": "https://hc-ping.com/bench-fake",
        }
    },
}


def load_sample(path: Path = SAMPLE) -> Config:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping")
    return data


def all_features(sample: Config) -> Config:
    """The sample with every feature (and every nested `enabled`) switched on."""
    config = copy.deepcopy(sample)
    features = config.setdefault("features", {}) or {}
    config["features"] = features
    for name, section in list(features.items()):
        if not isinstance(section, dict):
            section = features[name] = {}
        _enable_all(section)
        _fill(section, _REQUIRED_WHEN_ON.get(name, {}))
    return config


def large(sample: Config, nodes: int = LARGE_NODES, controllers: int = LARGE_CONTROLLERS) -> Config:
    """all_features with `nodes` machines (the first `controllers` are control planes)."""
    config = all_features(sample)
    template = dict(config["nodes"][0])
    taken = _addresses_in_use(config)
    free = (f"192.168.1.{n}" for n in range(10, 255) if f"192.168.1.{n}" not in taken)
    config["nodes"] = [
        {
            **template,
            "name": f"k8s-{i}",
            "address": next(free),
            "controller": i < controllers,
            "mac_addr": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
        }
        for i in range(nodes)
    ]
    return config


CONFIGS: dict[str, Callable[[Config], Config]] = {
    "sample": lambda sample: copy.deepcopy(sample),
    "all-features": all_features,
    "large": large,
}


def _enable_all(section: Config) -> None:
    for key, value in section.items():
        if key == "enabled" and isinstance(value, bool):
            section[key] = True
        elif isinstance(value, dict):
            _enable_all(value)


def _fill(section: Config, required: Mapping[str, Any]) -> None:
    """Set what is missing or empty, leaving the sample's own values alone."""
    for key, value in required.items():
        current = section.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _fill(current, value)
        elif current in (None, "", [], {}):
            section[key] = copy.deepcopy(value)


def _addresses_in_use(config: Config) -> set[str]:
    gateways = config.get("gateways") or {}
    api = (config.get("kubernetes") or {}).get("api") or {}
    return {str(v) for v in (*gateways.values(), api.get("addr")) if v}


def write_all(out_dir: Path) -> dict[str, Path]:
    sample = load_sample()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, make in CONFIGS.items():
        path = out_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(make(sample), sort_keys=False), encoding="utf-8")
        written[name] = path
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    for name, path in write_all(Path(sys.argv[1])).items():
        print(f"{name}: {path}")
