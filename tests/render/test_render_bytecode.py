"""The on-disk bytecode cache: reused across processes, never stale, harmless when unusable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest

from generator.render import bytecode
from generator.render.bytecode import (
    BUNDLE_FORMAT,
    TemplateBytecodeCache,
    default_cache_root,
    pack,
    settings_tag,
    unpack,
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
    text = env.get_template("t.j2").render(name="x")
    cache.save()  # as render_tree does at its end
    return text, compiled


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


def test_another_environment_of_the_process_reuses_the_code(
    templates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What one environment unmarshalled, the next of the same process takes as it is, for
    a template still as compiled; an edited one is compiled again."""
    cache = TemplateBytecodeCache("tag", tmp_path / "cache")
    render(templates, cache)
    render(templates, cache)  # its entry now in memory
    unmarshalled: list[str] = []
    original = jinja2.bccache.Bucket.bytecode_from_string

    def counting(self: jinja2.bccache.Bucket, string: bytes) -> None:
        unmarshalled.append(self.key)
        original(self, string)

    monkeypatch.setattr(jinja2.bccache.Bucket, "bytecode_from_string", counting)
    assert render(templates, cache) == ("hello x\n", 0)
    assert unmarshalled == []
    (templates / "t.j2").write_text("bye {{ name }}\n")
    assert render(templates, cache) == ("bye x\n", 1)


def test_edited_template_is_recompiled(templates: Path, tmp_path: Path) -> None:
    cache_root = tmp_path / "cache"
    render(templates, TemplateBytecodeCache("tag", cache_root))
    (templates / "t.j2").write_text("bye {{ name }}\n")
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("bye x\n", 1)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # torn: a crash before the data reached the disk
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: b"",
        lambda data: data.replace(BUNDLE_FORMAT, b"clustergen-jinja-bundle-0\n"),
    ],
    ids=["torn", "flipped", "empty", "other-format"],
)
def test_damaged_bundle_means_compiling(
    templates: Path, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    cache_root = tmp_path / "cache"
    render(templates, TemplateBytecodeCache("tag", cache_root))
    (bundle,) = (cache_root / "tag").iterdir()
    bundle.write_bytes(damage(bundle.read_bytes()))
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("hello x\n", 1)
    # ... and the compile is kept again.
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("hello x\n", 0)


def test_foreign_entry_in_a_sound_bundle_means_compiling(templates: Path, tmp_path: Path) -> None:
    cache_root = tmp_path / "cache"
    render(templates, TemplateBytecodeCache("tag", cache_root))
    (bundle,) = (cache_root / "tag").iterdir()
    entries = unpack(bundle.read_bytes())
    bundle.write_bytes(pack(dict.fromkeys(entries, b"not bytecode")))
    assert render(templates, TemplateBytecodeCache("tag", cache_root)) == ("hello x\n", 1)


def test_one_bundle_per_set_written_only_after_a_compile(templates: Path, tmp_path: Path) -> None:
    cache_root = tmp_path / "cache"
    (templates / "u.j2").write_text("{{ name }}\n")
    render(templates, TemplateBytecodeCache("tag", cache_root, name="a"))
    render(templates, TemplateBytecodeCache("tag", cache_root, name="b"))
    assert sorted(p.name for p in (cache_root / "tag").iterdir()) == ["a.bundle", "b.bundle"]
    before = (cache_root / "tag" / "a.bundle").stat().st_mtime_ns
    assert render(templates, TemplateBytecodeCache("tag", cache_root, name="a"))[1] == 0
    assert (cache_root / "tag" / "a.bundle").stat().st_mtime_ns == before


def test_bundle_keeps_other_templates_up_to_a_bound(
    templates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_root = tmp_path / "cache"
    bundle = cache_root / "tag" / "templates.bundle"
    render(templates, TemplateBytecodeCache("tag", cache_root))
    other = tmp_path / "other"
    other.mkdir()
    (other / "t.j2").write_text("other {{ name }}\n")
    render(other, TemplateBytecodeCache("tag", cache_root))
    assert len(unpack(bundle.read_bytes())) == 2  # both sets' entries
    monkeypatch.setattr(bytecode, "MAX_ENTRIES", 1)
    (other / "t.j2").write_text("edited {{ name }}\n")
    render(other, TemplateBytecodeCache("tag", cache_root))
    assert len(unpack(bundle.read_bytes())) == 1  # past the bound: what this run used


def test_unusable_directory_means_compiling_every_time(templates: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert render(templates, TemplateBytecodeCache("tag", blocked)) == ("hello x\n", 1)
    shared = tmp_path / "shared"
    (shared / "tag").mkdir(parents=True)
    os.chmod(shared / "tag", 0o777)  # others could plant bytecode: not used
    assert render(templates, TemplateBytecodeCache("tag", shared)) == ("hello x\n", 1)
    assert list((shared / "tag").iterdir()) == []
    theirs = tmp_path / "theirs"
    (theirs / "tag").mkdir(parents=True)
    render(templates, TemplateBytecodeCache("tag", theirs))
    os.chmod(theirs / "tag", 0o770)  # the group could plant bytecode: not used
    assert render(templates, TemplateBytecodeCache("tag", theirs)) == ("hello x\n", 1)


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
