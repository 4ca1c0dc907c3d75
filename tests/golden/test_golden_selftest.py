"""The golden checker itself, on tiny renders: whole trees and deltas.

Every snapshot here lives under tmp_path; `--update-golden` is simulated with
`with_root(..., update=True)`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.render.tree import render_tree
from tests.golden import delta
from tests.golden.snapshot import GoldenSnapshots, References, Tree, snapshot_paths

HELLO = "hello: world\nhelm: '{{ .Values.x }}'\n"
BASE = {
    "apps/hello.yaml": HELLO.encode(),
    "apps/list.yaml": b"items:\n  - a\n  - b\n  - c\n  - d\n",
    "gone.txt": b"old\n",
}
# A file only the second reference has (like a chart only all-features turns on).
FULL = {**BASE, "apps/chart.yaml": b"chart: big\nversion: 1.0.0\nreplicas: 3\nother: x\n"}


def _tiny_tree(tmp_path: Path, greeting: str) -> dict[str, bytes]:
    config = tmp_path / "templates" / "config"
    (config / "apps").mkdir(parents=True)
    (config / "apps" / "hello.yaml.j2").write_text("hello: #{ who }#\nhelm: '{{ .Values.x }}'\n")
    (config / "README.md").write_text("verbatim\n")
    return render_tree({"who": greeting}, config, tmp_path / "templates").files


def _references(base: Tree = BASE, full: Tree = FULL) -> References:
    return References({"base": lambda: base, "full": lambda: full})


def _checker(
    assert_golden: GoldenSnapshots, root: Path, references: References, update: bool = False
) -> GoldenSnapshots:
    return assert_golden.with_root(root, references, update=update)


def _failure(check: GoldenSnapshots, tree: Tree, name: str) -> str:
    with pytest.raises(pytest.fail.Exception) as failure:
        check(tree, name)
    return str(failure.value)


# --- whole trees (the base scenario) ---


def test_render_matches_its_whole_tree(assert_golden: GoldenSnapshots, tmp_path: Path) -> None:
    tree = _tiny_tree(tmp_path, "world")
    references = _references(base=tree)
    _checker(assert_golden, tmp_path / "snapshots", references, update=True)(tree, "base")

    assert (tmp_path / "snapshots" / "base" / "apps" / "hello.yaml").read_text() == HELLO
    _checker(assert_golden, tmp_path / "snapshots", references)(tree, "base")


def test_whole_tree_differences_are_listed_with_a_diff(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    snapshots = tmp_path / "snapshots"
    (snapshots / "base" / "apps").mkdir(parents=True)
    (snapshots / "base" / "apps" / "hello.yaml").write_text(HELLO)
    (snapshots / "base" / "gone.txt").write_text("old\n")
    tree = _tiny_tree(tmp_path, "moon")

    message = _failure(_checker(assert_golden, snapshots, _references()), tree, "base")

    assert "missing (in snapshot, not rendered): gone.txt" in message
    assert "extra (rendered, not in snapshot): README.md" in message
    assert "different: apps/hello.yaml" in message
    assert "-hello: world" in message and "+hello: moon" in message


def test_missing_snapshot_says_how_to_create_it(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    check = _checker(assert_golden, tmp_path, _references())
    with pytest.raises(pytest.fail.Exception, match="--update-golden"):
        check({"a": b"x"}, "base")
    with pytest.raises(pytest.fail.Exception, match="--update-golden"):
        check({"a": b"x"}, "nothing-here")


# --- deltas (every other scenario) ---

SCENARIO = {
    "apps/hello.yaml": b"hello: moon\nhelm: '{{ .Values.x }}'\n",
    "apps/list.yaml": b"items:\n  - a\n  - b\n  - c\n  - d\n",
    "apps/chart.yaml": b"chart: big\nversion: 1.0.0\nreplicas: 1\nother: x\n",
    "apps/new.yaml": b"new: true\n",
}


def _stored(assert_golden: GoldenSnapshots, root: Path, tree: Tree = SCENARIO) -> str:
    _checker(assert_golden, root, _references(), update=True)(tree, "scenario")
    return (root / "scenario.diff").read_text()


def test_delta_holds_only_the_lines_that_differ(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    text = _stored(assert_golden, tmp_path)

    assert not (tmp_path / "scenario").exists(), "a delta scenario has no directory"
    assert "changed apps/hello.yaml\n@@ -1,1 +1,1 @@\n-hello: world\n+hello: moon\n" in text
    assert "removed gone.txt\n" in text
    assert "added apps/new.yaml\n@@ -0,0 +1,1 @@\n+new: true\n" in text
    assert "added apps/chart.yaml from full\n@@ -3,1 +3,1 @@\n-replicas: 3\n+replicas: 1\n" in text
    for shared in ("helm:", "items:", "version:", "other:"):
        assert shared not in text, f"a line the references hold is repeated: {shared}"
    assert "list.yaml" not in text, "an unchanged file is listed"
    _checker(assert_golden, tmp_path, _references())(SCENARIO, "scenario")


def test_delta_detects_a_changed_a_missing_and_an_extra_file(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    _stored(assert_golden, tmp_path)
    render = dict(SCENARIO)
    render["apps/chart.yaml"] = render["apps/chart.yaml"].replace(b"replicas: 1", b"replicas: 2")
    render["apps/list.yaml"] = b"items:\n  - a\n  - B\n  - c\n  - d\n"
    del render["apps/new.yaml"]
    render["gone.txt"] = b"old\n"
    render["apps/surprise.yaml"] = b"surprise: 1\n"

    message = _failure(_checker(assert_golden, tmp_path, _references()), render, "scenario")

    assert "different: apps/chart.yaml" in message
    assert "-replicas: 1" in message and "+replicas: 2" in message
    assert "different: apps/list.yaml" in message
    assert "missing (in snapshot, not rendered): apps/new.yaml" in message
    assert "extra (rendered, not in snapshot): gone.txt" in message
    assert "extra (rendered, not in snapshot): apps/surprise.yaml" in message
    assert "apps/hello.yaml" not in message


def test_a_chart_bump_in_the_references_leaves_the_delta_alone(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    text = _stored(assert_golden, tmp_path)
    bump = {p: c.replace(b"1.0.0", b"1.1.0").replace(b"- d", b"- e") for p, c in FULL.items()}
    base = {p: c for p, c in bump.items() if p in BASE}
    render = {p: c.replace(b"1.0.0", b"1.1.0").replace(b"- d", b"- e") for p, c in SCENARIO.items()}
    references = _references(base, bump)

    _checker(assert_golden, tmp_path, references)(render, "scenario")
    _checker(assert_golden, tmp_path, references, update=True)(render, "scenario")
    assert (tmp_path / "scenario.diff").read_text() == text


def test_delta_that_no_longer_fits_the_references_says_so(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    _stored(assert_golden, tmp_path)
    base = {**BASE, "apps/hello.yaml": b"hello: mars\nhelm: '{{ .Values.x }}'\n"}
    references = _references(base, {**FULL, **base})

    message = _failure(_checker(assert_golden, tmp_path, references), SCENARIO, "scenario")

    assert "apps/hello.yaml: line 1 is now 'hello: mars', the delta expects 'hello: world'" in (
        message
    )


def test_partial_scenarios_compare_within_their_part(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    def apps(tree: Tree) -> Tree:
        return {p: c for p, c in tree.items() if p.startswith("apps/")}

    tree = {"apps/hello.yaml": HELLO.encode(), "apps/list.yaml": BASE["apps/list.yaml"]}
    _checker(assert_golden, tmp_path, _references(), update=True)(tree, "part", within=apps)

    assert "gone.txt" not in (tmp_path / "part.diff").read_text()
    _checker(assert_golden, tmp_path, _references())(tree, "part", within=apps)


def test_old_layout_directory_is_stale(assert_golden: GoldenSnapshots, tmp_path: Path) -> None:
    _stored(assert_golden, tmp_path)
    (tmp_path / "scenario" / "apps").mkdir(parents=True)
    (tmp_path / "scenario" / "apps" / "hello.yaml").write_text("hello: moon\n")

    message = _failure(_checker(assert_golden, tmp_path, _references()), SCENARIO, "scenario")

    assert "stale snapshot" in message
    _stored(assert_golden, tmp_path)
    assert not (tmp_path / "scenario").exists(), "--update-golden removes the old layout"


def test_files_without_a_last_newline_round_trip() -> None:
    base = {"a.txt": b"one\ntwo", "b.txt": b"x\n"}
    tree = {"a.txt": b"one\nTWO", "b.txt": b"x", "c.txt": b"tail", "d.txt": b""}

    text = delta.dumps(delta.make(tree, base))
    rebuilt, conflicts = delta.apply(delta.loads(text), base)

    assert delta.NO_NEWLINE in text
    assert (rebuilt, conflicts) == (tree, [])


def test_malformed_delta_names_the_line() -> None:
    with pytest.raises(delta.DeltaError, match=r"x.diff line 4: expected a line starting with"):
        delta.loads("changed a.txt\n@@ -1,1 +1,1 @@\n-old\nnew\n", "x.diff")
    with pytest.raises(delta.DeltaError, match="line 1: expected 'changed"):
        delta.loads("renamed a.txt\n", "x.diff")


def test_snapshot_paths_name_every_file_of_trees_and_deltas(
    assert_golden: GoldenSnapshots, tmp_path: Path
) -> None:
    _checker(assert_golden, tmp_path, _references(), update=True)(BASE, "base")
    _stored(assert_golden, tmp_path)

    assert snapshot_paths(tmp_path) == {*BASE, *SCENARIO}
