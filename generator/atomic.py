"""The one atomic write outside the write transaction (generator/write/journal.py): a single
file replaced via a temporary sibling and a rename, so a reader (or a crash) never sees half
of it. Used for reports (sbom), the Talos secret and caches; no generator imports, so cheap.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int = 0o600, *, durable: bool = True) -> None:
    """Replace `path` with `data` (file mode `mode`); on any error the old file stays and no
    temporary file is left. Raises OSError. `durable=False` skips the fsync (caches)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), mode)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
