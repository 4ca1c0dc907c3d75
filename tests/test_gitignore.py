"""Users commit the rendered tree in their clone: .gitignore must not hide any of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.golden.snapshot import snapshot_paths

ROOT = Path(__file__).resolve().parents[1]


def ignored(names: list[str]) -> list[str]:
    """Which of `names` the repository's .gitignore files ignore (tracked or not)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        input="\n".join(names),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: none ignored; else git failed
    return result.stdout.split()


def test_no_rendered_path_is_ignored() -> None:
    rendered = sorted(snapshot_paths())
    assert rendered
    assert ignored(rendered) == [], "ignored rendered files"


def test_keys_and_config_are_ignored_at_the_root() -> None:
    names = ["age.key", "deploy.key", "webhook.token", "cloudflare-tunnel.json", "cluster.yaml"]
    assert sorted(ignored(names)) == sorted(names)


def test_the_manifest_and_merge_bases_are_committed() -> None:
    # CI's fresh clone merges hand edits on the same base copies as the user's checkout.
    names = [".clustergen/manifest.json", ".clustergen/base/" + "0" * 40]
    assert ignored(names) == []
