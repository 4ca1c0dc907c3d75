"""Secrets: age keys, the sops wrapper, tree encryption and the `secrets` commands.

Plaintext secrets live only in memory: sops reads them on stdin and only
ciphertext reaches the disk. `sops.py` is the one module that runs sops.
"""

from __future__ import annotations

from generator.secrets.files import is_secret_path
from generator.secrets.sops import MissingKey, Sops

__all__ = ["MissingKey", "Sops", "is_secret_path"]
