"""Whether the rendered `talos/` files a day-two command acts on are what configure wrote.

Each file configure writes is listed with its sha256 in `.clustergen/manifest.json`
(generator/write/manifest.py). A file that differs from it was changed by hand after the
last configure, which keeps such an edit as it is (write/writer.py): acting on it would
upgrade to whatever version or image the edit names. A file the user took over
(`configure --keep-mine`, the manifest's `released`) and an override's render are theirs
on purpose: used as they are. A file the manifest does not list (no manifest yet) is not
checked here; the inventory's shape checks still apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator import paths
from generator.errors import ClusterGenError
from generator.write.manifest import load_manifest, sha256_hex

Reads = Callable[[str], bool]  # a repository-relative posix path → whether the command reads it


@dataclass(frozen=True)
class Provenance:
    """`intended`: the read files that are the user's on purpose (taken over, or an
    override's render), repository-relative; `notes`: one line per file taken over."""

    intended: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()


def check_rendered(workdir: Path, reads: Reads) -> Provenance:
    """Compare each file under `workdir` that `reads` selects with the manifest.
    ClusterGenError naming every file that differs and how to resolve it; a missing file
    is left to the command (it names the fix)."""
    manifest = load_manifest(workdir)
    differ: list[str] = []
    for path, digest in sorted(manifest.files.items()):
        if not reads(path):
            continue
        try:
            data = (workdir / path).read_bytes()
        except FileNotFoundError:
            continue
        except OSError as err:
            raise ClusterGenError(f"{path} cannot be read: {err.strerror or err}") from None
        if sha256_hex(data) != digest:
            differ.append(path)
    if differ:
        raise ClusterGenError(_refusal(differ))
    released = sorted(path for path in manifest.released if reads(path))
    overridden = {_rendered_path(override) for override in manifest.overrides}
    notes = tuple(
        f"note: {path} is yours (taken over with `configure --keep-mine`): using it as it is"
        for path in released
    )
    return Provenance(frozenset(released) | {p for p in overridden if reads(p)}, notes)


def _rendered_path(override: str) -> str:
    """`overrides/talos/talenv.yaml.j2` → `talos/talenv.yaml`, the file it renders."""
    return override.removeprefix(f"{paths.OVERRIDES_DIR}/").removesuffix(".j2")


def _refusal(differ: list[str]) -> str:
    files = ", ".join(differ)
    one = differ[0]
    verb, it = ("differs", "it") if len(differ) == 1 else ("differ", "them")
    return (
        f"{files} {verb} from what configure last wrote (the sha256 in "
        f"{paths.MANIFEST_PATH}): edited by hand? Nothing was run. "
        f"To use configure's render, delete {it} and run `uv run task configure` (it "
        f"keeps a hand edit, but writes a deleted file anew); to make the change lasting, "
        f"copy templates/config/{one}.j2 to overrides/{one}.j2, change it there and run "
        f"`uv run task configure`; to keep the file as it is, take it over: "
        f"`uv run task configure -- --keep-mine {one}`"
    )
