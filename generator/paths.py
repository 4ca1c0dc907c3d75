"""Where the product's own files live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent
_INSTALLED = _PACKAGE / "_data"


def _data_root() -> Path:
    # A checkout (the normal case: users clone the template) wins over the wheel copy.
    return _CHECKOUT if (_CHECKOUT / "templates").is_dir() else _INSTALLED


DATA_ROOT = _data_root()
TEMPLATES = DATA_ROOT / "templates"
TEMPLATE_TREE = TEMPLATES / "config"
VERSIONS_FILE = TEMPLATES / "versions.yaml"
SCHEMA_FILE = DATA_ROOT / "schemas" / "cluster.schema.json"
SAMPLE_CONFIG = DATA_ROOT / "cluster.sample.yaml"

# Files in the user's working directory.
CONFIG_NAME = "cluster.yaml"
SECRETS_CONFIG_NAME = "cluster.secrets.sops.yaml"
AGE_KEY_NAME = "age.key"
DEPLOY_KEY_NAME = "deploy.key"
WEBHOOK_TOKEN_NAME = "webhook.token"
TUNNEL_CREDENTIALS_NAME = "cloudflare-tunnel.json"
MANIFEST_PATH = ".clustergen/manifest.json"
# The user's overrides of built-in templates and merge patches (generator/render/overrides/).
OVERRIDES_DIR = "overrides"

# The cluster's own credentials, relative to the repository root. The Taskfile's `env:`
# block and the rendered `.mise.toml` set the same (tests/lifecycle/test_environment.py
# holds them to this); the day-two commands (generator/lifecycle/) use them unless the
# variable is set in the environment.
KUBECONFIG_NAME = "kubeconfig"
TALOS_DIR = "talos"
TALOSCONFIG_PATH = "talos/clusterconfig/talosconfig"
CLUSTER_ENV: dict[str, str] = {
    "KUBECONFIG": KUBECONFIG_NAME,
    "TALOSCONFIG": TALOSCONFIG_PATH,
    "SOPS_AGE_KEY_FILE": AGE_KEY_NAME,
}
