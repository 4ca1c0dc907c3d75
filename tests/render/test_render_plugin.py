"""The makejinja plugin: makejinja run by hand renders what render_tree renders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from makejinja.app import makejinja
from makejinja.config import Config, Delimiter, Undefined

from generator.errors import ClusterGenError
from generator.makejinja_plugin import Plugin
from generator.render.overrides.files import find_overrides
from generator.render.tree import render_tree

CONTEXT = {
    "derived": {"ha": True, "controllers": [{"name": "cp0"}, {"name": "cp1"}]},
    "features": {"monitoring": {"enabled": False}},
    "network": {"node_cidr": "10.1.0.0/24"},
}
TREE = {
    "macros/flux.j2": "#% macro ns(n) %#\nnamespace: #{ n }#\n#% endmacro %#\n",
    "config/kubernetes/ks.yaml.j2": (
        "#% import 'macros/flux.j2' as flux %#\n---\n#{ flux.ns('flux-system') }#\n"
        "nodes:\n  #% for c in derived.controllers %#\n  - #{ c.name }#\n  #% endfor %#\n"
        "vip: #{ network.node_cidr | nthhost(5) }#\nhelm: '{{ .Values.x }}' ${VAR}\n"
    ),
    "config/kubernetes/off.yaml.j2": "#% if features.monitoring.enabled %#\nx: 1\n#% endif %#\n",
    "config/monitoring/_when.j2": "features.monitoring.enabled\n",
    "config/monitoring/app.yaml.j2": "x: 1\n",
    "config/monitoring/deep/more.yaml": "y: 2\n",
    "config/scripts/run.sh.j2": "#!/bin/sh\necho #{ derived.ha }#\n",
    "config/kubernetes/empty/.keep": "",
    "config/kubernetes/facts.yaml.j2": "---\nvip: #{ network.node_cidr | nthhost(5) }#\n",
    # A document reads the rendered files (an override's too), and no guarded-off one.
    "config/docs/keys.md.j2": (
        "keys: #{ rendered.yaml('kubernetes/facts.yaml') | first | items | list }# "
        "#{ rendered.has('kubernetes/ks.yaml') }#\n"
        "monitoring: #{ rendered.has('monitoring/app.yaml') }#\n"
    ),
}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    for rel, text in TREE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "config/scripts/run.sh.j2").chmod(0o755)
    return root


def _run_makejinja(
    templates: Path, out: Path, data_file: Path, overrides: Path | None = None
) -> None:
    config = Config(
        # As makejinja.toml lists them: the overrides first, so each wins over its built-in.
        inputs=(*([overrides] if overrides else []), templates / "config"),
        output=out,
        data=(data_file,),
        loaders=("generator.makejinja_plugin:Plugin",),
        jinja_suffix=".j2",
        exclude_patterns=("*.sops.*",),
        undefined=Undefined.strict,
        copy_metadata=True,
        quiet=True,
        delimiter=Delimiter(
            block_start="#%",
            block_end="%#",
            variable_start="#{",
            variable_end="}#",
            comment_start="#|",
            comment_end="#|",
        ),
    )
    makejinja(config)


def _files_on_disk(root: Path) -> dict[str, tuple[bytes, bool]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), bool(p.stat().st_mode & stat.S_IXUSR))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_makejinja_with_plugin_renders_the_same_tree(templates: Path, tmp_path: Path) -> None:
    data_file = tmp_path / "context.yaml"
    data_file.write_text(yaml.safe_dump(CONTEXT))
    out = tmp_path / "out"

    _run_makejinja(templates, out, data_file)
    ours = render_tree(CONTEXT, templates / "config", templates)

    expected = {p: (b, ours.modes[p] == 0o755) for p, b in ours.files.items()}
    assert _files_on_disk(out) == expected
    assert set(expected) == {
        "kubernetes/ks.yaml",
        "kubernetes/facts.yaml",
        "scripts/run.sh",
        "docs/keys.md",
    }
    assert expected["docs/keys.md"][0] == b"keys: [('vip', '10.1.0.5')] True\nmonitoring: False\n"


def test_makejinja_with_plugin_renders_the_overrides_as_configure_does(
    templates: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    overrides = {
        "kubernetes/ks.yaml": "---\nmine: copied, not rendered #{ x }#\n",
        "kubernetes/added.yaml.j2": (
            "#% import 'macros/flux.j2' as flux %#\n---\n#{ flux.ns('a') }#"
        ),
        "kubernetes/guarded/off.yaml": "---\noff: the folder's guard is false\n",
        "kubernetes/facts.yaml.j2": "---\nmine: #{ network.node_cidr }#\n",
        "patches/p.yaml": "---\ntarget: {kind: A, name: b}\npatch: {x: 1}\n",
        ".gitkeep": "",
    }
    for rel, text in overrides.items():
        (repo / "overrides" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "overrides" / rel).write_text(text)
    (templates / "config/kubernetes/guarded").mkdir()
    (templates / "config/kubernetes/guarded/_when.j2").write_text("features.monitoring.enabled\n")
    data_file = tmp_path / "context.yaml"
    data_file.write_text(yaml.safe_dump(CONTEXT))
    out = tmp_path / "out"

    _run_makejinja(templates, out, data_file, repo / "overrides")
    (repo / "overrides/patches/p.yaml").unlink()  # makejinja applies no patch (see the plugin)
    ours = render_tree(CONTEXT, templates / "config", templates, find_overrides(repo))

    assert _files_on_disk(out) == {p: (b, ours.modes[p] == 0o755) for p, b in ours.files.items()}
    assert set(ours.files) == {
        "kubernetes/ks.yaml",
        "kubernetes/added.yaml",
        "kubernetes/facts.yaml",
        "scripts/run.sh",
        "docs/keys.md",
    }
    assert ours.files["kubernetes/ks.yaml"] == b"---\nmine: copied, not rendered #{ x }#\n"
    assert (
        ours.files["docs/keys.md"] == b"keys: [('mine', '10.1.0.0/24')] True\nmonitoring: False\n"
    )


def test_plugin_builds_context_only_from_raw_cluster_yaml(tmp_path: Path) -> None:
    class FakeConfig:
        inputs = (tmp_path,)
        data = (tmp_path / "values.yaml",)

    import jinja2

    plugin = Plugin(env=jinja2.Environment(), data={"derived": {}}, config=FakeConfig())  # type: ignore[arg-type]
    # A full context gains only the published namespaces (none in an empty tree) and the
    # rendered files documents read.
    data = plugin.data()
    assert set(data) == {"namespaces", "rendered"}
    assert data["namespaces"] == []
    assert not data["rendered"].has("talos/talenv.yaml")

    raw = Plugin(env=jinja2.Environment(), data={"network": {}}, config=FakeConfig())  # type: ignore[arg-type]
    with pytest.raises(ClusterGenError, match=r"`data` must list cluster\.yaml"):
        raw.data()


def test_repo_makejinja_toml_matches_the_renderer() -> None:
    import tomllib

    from generator.render import environment

    repo = Path(__file__).resolve().parents[2]
    settings = tomllib.loads((repo / "makejinja.toml").read_text())["makejinja"]
    assert settings["delimiter"] == {
        "block_start": environment.BLOCK_START,
        "block_end": environment.BLOCK_END,
        "variable_start": environment.VARIABLE_START,
        "variable_end": environment.VARIABLE_END,
        "comment_start": environment.COMMENT_START,
        "comment_end": environment.COMMENT_END,
    }
    assert settings["undefined"] == "strict"
    assert settings["loaders"] == ["generator.makejinja_plugin:Plugin"]
    assert "*.sops.*" in settings["exclude_patterns"]
    # The overrides come first: makejinja renders the first input's file of each output path.
    assert settings["inputs"] == ["./overrides", "./templates/config"]
    assert all(os.path.isdir(repo / p) for p in settings["inputs"])
