"""The on-disk bytecode cache: reused across processes, never stale, harmless when unusable."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest

from generator.render.bytecode import (
    TemplateBytecodeCache,
    default_cache_root,
    settings_tag,
)
from generator.usercache import user_cache_root


def render(templates: Path, cache: TemplateBytecodeCache) -> tuple[str, int]:
    """Render t.j2 in a fresh environment (as a new process would); also count compilations."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        bytecode_cache=cache,
        keep_trailing_newline=True,
    )
    compiled = 0
    original = env.compile

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal compiled
        compiled += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    env.compile = counting  # type: ignore[method-assign]
    return env.get_template("t.j2").render(name="x"), compiled


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    root.mkdir()
    (root / "t.j2").write_text("hello {{ name }}\n")
    return root


def test_second_process_loads_instead_of_compiling(templates: Path, tmp_path: Path) -> None:
    cache_root = tmp_path / "cache"
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("hello x\n", 1)
    entries = list((cache_root / "tag").iterdir())
    assert len(entries) == 1
    assert (cache_root / "tag").stat().st_mode & 0o777 == 0o700
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("hello x\n", 0)


def test_edited_template_is_recompiled(templates: Path, tmp_path: Path) -> None:
    cache_root = tmp_path / "cache"
    render(templates, TemplateBytecodeCache("tag", cache_root))
    (templates / "t.j2").write_text("bye {{ name }}\n")
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("bye x\n", 1)


def test_corrupt_entry_is_ignored(templates: Path, tmp_path: Path) -> None:
    cache_root = tmp_path / "cache"
    render(templates, TemplateBytecodeCache("tag", cache_root))
    for entry in (cache_root / "tag").iterdir():
        entry.write_bytes(entry.read_bytes()[:20])
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("hello x\n", 1)


def test_unusable_directory_means_compiling_every_time(templates: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert render(templates, TemplateBytecodeCache("tag", blocked)) == ("hello x\n", 1)
    shared = tmp_path / "shared"
    (shared / "tag").mkdir(parents=True)
    os.chmod(shared / "tag", 0o777)  # others could plant bytecode: not used
    assert render(templates, TemplateBytecodeCache("tag", shared)) == ("hello x\n", 1)
    assert list((shared / "tag").iterdir()) == []


def test_cache_root_follows_xdg_and_ignores_relative_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_root() == tmp_path / "clustergen" / "jinja"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path / "home" / ".cache" / "clustergen" / "jinja"


def test_every_cache_shares_one_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "clustergen"
    assert user_cache_root() == root
    assert default_cache_root() == root / "jinja"


def test_settings_tag_changes_with_settings() -> None:
    assert settings_tag(["#{", "}#"]) != settings_tag(["{{", "}}"])
    assert settings_tag(["#{"]) == settings_tag(["#{"])
