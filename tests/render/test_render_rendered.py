"""Documents render last and read the final files; nothing else may read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.render.environment import RenderError
from generator.render.tree import render_tree


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / "config" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "config" / rel).write_text(text)
    return tmp_path


def test_a_document_reads_the_file_rendered_after_it_in_walk_order(tmp_path: Path) -> None:
    # a/doc.md sorts before z/facts.yaml, yet reads it: documents render in a second pass.
    root = _tree(
        tmp_path,
        {
            "a/doc.md.j2": "v=#{ (rendered.yaml('z/facts.yaml') | first).v }#\n",
            "z/facts.yaml.j2": "---\nv: #{ 1 + 1 }#\n",
        },
    )
    files = render_tree({}, root / "config", root).files
    assert files["a/doc.md"] == b"v=2\n"


def test_a_manifest_that_reads_the_rendered_files_is_told_only_documents_may(
    tmp_path: Path,
) -> None:
    root = _tree(
        tmp_path,
        {
            "a.yaml.j2": "---\nv: #{ rendered.has('b.yaml') }#\n",
            "b.yaml.j2": "---\nb: 1\n",
        },
    )
    with pytest.raises(RenderError, match=r"config/a\.yaml\.j2.*documents \(\*\.md\) only"):
        render_tree({}, root / "config", root)


def test_a_document_naming_a_file_nothing_renders_is_a_template_error(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"doc.md.j2": "#{ rendered.yaml('gone.yaml') }#\n"})
    with pytest.raises(RenderError, match=r"doc\.md\.j2.*no rendered file has this path"):
        render_tree({}, root / "config", root)


@pytest.mark.parametrize("padding", [0, 300_000], ids=["kept for the process", "too large"])
def test_what_a_document_changes_in_a_file_it_read_stays_in_its_render(
    tmp_path: Path, padding: int
) -> None:
    # The same bytes parse once per process (unless large); each render still gets
    # documents of its own.
    root = _tree(
        tmp_path,
        {
            "doc.md.j2": "#% set facts = rendered.yaml('facts.yaml') | first %#"
            "#{ facts.seen | length }##% set _ = facts.seen.append(1) %#"
            "#{ (rendered.yaml('facts.yaml') | first).seen | length }#\n",
            "facts.yaml.j2": f"---\nseen: []\npad: {'x' * padding}\n",
        },
    )
    for _ in range(3):
        assert render_tree({}, root / "config", root).files["doc.md"] == b"01\n"
