"""Secrets: age keys, the sops wrapper, tree encryption and the `secrets` commands.

Plaintext secrets live only in memory: sops reads them on stdin and only
ciphertext reaches the disk. `sops.py` is the one module that runs sops.
"""
