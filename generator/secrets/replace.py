"""`clustergen secrets rotate --webhook-token / --deploy-key`: a new token or deploy key
when the old one leaked (committed to git, shared by mistake).

The old file is kept as `<name>.old` (nothing is lost until the user deletes it); the new
one is created 0600. `configure` then re-encrypts the secrets that hold it.
"""

from __future__ import annotations

import os
from pathlib import Path

from generator.errors import SideFileError
from generator.paths import DEPLOY_KEY_NAME, WEBHOOK_TOKEN_NAME
from generator.secrets.files import create_exclusive
from generator.secrets.keys import generate_deploy_key, generate_webhook_token

PRIVATE = 0o600
PUBLIC = 0o644
NEXT_STEPS = {
    WEBHOOK_TOKEN_NAME: (
        "set the new token as the secret of the repository's push webhook (GitHub: Settings "
        "→ Webhooks → the Flux receiver → Secret)"
    ),
    DEPLOY_KEY_NAME: (
        f"add {DEPLOY_KEY_NAME}.pub as a read-only deploy key of the repository and delete "
        "the old one there"
    ),
}


def replace_side_files(workdir: Path, names: list[str]) -> list[str]:
    """Move each of `names` (webhook.token, deploy.key) to `<name>.old` and create a new
    one; the lines to print. SideFileError (nothing changed) when a `.old` exists already."""
    moves = [name for name in names if (workdir / name).exists()]
    if DEPLOY_KEY_NAME in names and (workdir / f"{DEPLOY_KEY_NAME}.pub").exists():
        moves.append(f"{DEPLOY_KEY_NAME}.pub")
    in_the_way = [f"{name}.old" for name in moves if (workdir / f"{name}.old").exists()]
    if in_the_way:
        raise SideFileError(
            f"{', '.join(in_the_way)} exist(s) from an earlier replacement; delete "
            f"{'it' if len(in_the_way) == 1 else 'them'} once the new one works, then run "
            "this again (nothing was changed)"
        )
    for name in moves:
        os.rename(workdir / name, workdir / f"{name}.old")
    lines = []
    for name in names:
        if name == WEBHOOK_TOKEN_NAME:
            create_exclusive(workdir / name, generate_webhook_token() + "\n", PRIVATE)
        else:
            private, public = generate_deploy_key()
            create_exclusive(workdir / name, private, PRIVATE)
            create_exclusive(workdir / f"{name}.pub", public, PUBLIC)
        kept = f" (the old one is {name}.old)" if name in moves else ""
        lines.append(f"replaced {name}{kept}")
    steps = "; ".join(NEXT_STEPS[name] for name in names)
    lines.append(
        f"next: `uv run clustergen configure`, commit and push; {steps}; then delete the "
        f"{' and '.join(f'{n}.old' for n in moves) or 'old files'}"
    )
    return lines
