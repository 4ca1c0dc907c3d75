"""Secrets: age keys, the sops wrapper, tree encryption, inventory and audit (the
`secrets` commands that write through the journal are generator/secrets_commands.py).

Plaintext secrets live only in memory: sops reads them on stdin and only
ciphertext reaches the disk. `sops.py` is the one module that runs sops.
"""
