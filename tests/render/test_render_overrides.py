"""render_tree with overrides (generator/render/overrides/) on small trees built in tmp_path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from generator.errors import Problem
from generator.render.environment import RenderError
from generator.render.overrides.files import find_overrides
from generator.render.overrides.origins import attribute
from generator.render.overrides.patches import apply_patches
from generator.render.overrides.stale import StaleOverride, stale_overrides
from generator.render.tree import RenderedTree, render_tree
from generator.write.manifest import Manifest, Shadowed, dump_manifest, load_manifest

CONTEXT = {"domain": "example.com", "features": {"extra": {"enabled": False}}}
APP = "kubernetes/apps/default/app"


def put(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clustergen checkout in miniature (templates/) that is also the user's repository."""
    put(tmp_path, "templates/macros/m.j2", "#% macro host() %#app.#{ domain }##% endmacro %#")
    for namespace in ("default", "extra"):
        facts = f"templates/config/kubernetes/apps/{namespace}/_namespace.yaml.j2"
        put(tmp_path, facts, "order: 1\nplatform: false\n")
    put(tmp_path, f"templates/config/{APP}/release.yaml.j2", "---\nhost: built-in\n")
    put(tmp_path, f"templates/config/{APP}/plain.yaml", "---\nplain: built-in\n")
    put(tmp_path, "templates/config/kubernetes/apps/extra/_when.j2", "features.extra.enabled\n")
    put(tmp_path, "templates/config/kubernetes/apps/extra/x.yaml.j2", "---\nx: built-in\n")
    return tmp_path


def render(repo: Path) -> RenderedTree:
    return render_tree(CONTEXT, repo / "templates/config", repo / "templates", find_overrides(repo))


def test_an_override_renders_with_the_same_context_and_macros(repo: Path) -> None:
    put(
        repo,
        f"overrides/{APP}/release.yaml.j2",
        '#% import "macros/m.j2" as m %#\n---\nhost: #{ m.host() }#\n',
    )
    put(repo, f"overrides/{APP}/plain.yaml.j2", "---\nplain: #{ domain }#\n")

    tree = render(repo)

    assert tree.files[f"{APP}/release.yaml"] == b"---\nhost: app.example.com\n"
    assert tree.files[f"{APP}/plain.yaml"] == b"---\nplain: example.com\n"
    template = repo / f"templates/config/{APP}/release.yaml.j2"
    assert tree.shadowed[f"overrides/{APP}/release.yaml.j2"] == Shadowed(
        f"templates/config/{APP}/release.yaml.j2",
        hashlib.sha256(template.read_bytes()).hexdigest(),
    )
    assert tree.origins == {
        f"{APP}/release.yaml": f"overrides/{APP}/release.yaml.j2",
        f"{APP}/plain.yaml": f"overrides/{APP}/plain.yaml.j2",
    }


def test_a_plain_override_is_copied_and_a_new_path_adds_a_file(repo: Path) -> None:
    put(repo, f"overrides/{APP}/release.yaml", "---\nhost: #{ kept as written }#\n")
    put(repo, f"overrides/{APP}/extra-route.yaml", "---\nroute: mine\n")
    for leftover in (".DS_Store", "extra-route.yaml~", ".extra-route.yaml.swp", ".gitkeep"):
        put(repo, f"overrides/{APP}/{leftover}", "not an override\n")

    tree = render(repo)

    assert tree.files[f"{APP}/release.yaml"] == b"---\nhost: #{ kept as written }#\n"
    assert tree.files[f"{APP}/extra-route.yaml"] == b"---\nroute: mine\n"
    assert set(tree.shadowed) == {f"overrides/{APP}/release.yaml"}  # an added file shadows none
    assert set(tree.origins) == {f"{APP}/release.yaml", f"{APP}/extra-route.yaml"}


def test_a_guard_that_is_off_leaves_no_trace_of_its_overrides(repo: Path) -> None:
    put(repo, "overrides/kubernetes/apps/extra/x.yaml.j2", "---\nx: mine\n")
    put(repo, "overrides/kubernetes/apps/extra/y.yaml", "---\ny: mine\n")

    tree = render(repo)

    assert not [p for p in tree.files if "extra" in p]
    on = render_tree(
        {**CONTEXT, "features": {"extra": {"enabled": True}}},
        repo / "templates/config",
        repo / "templates",
        find_overrides(repo),
    )
    assert on.files["kubernetes/apps/extra/x.yaml"] == b"---\nx: mine\n"
    assert on.files["kubernetes/apps/extra/y.yaml"] == b"---\ny: mine\n"


def test_a_broken_override_is_reported_with_its_own_path_and_line(repo: Path) -> None:
    put(repo, f"overrides/{APP}/release.yaml.j2", "---\nhost: ok\nbad: #{ nope }#\n")

    with pytest.raises(RenderError) as raised:
        render(repo)

    assert [str(p) for p in raised.value.problems] == [
        f"overrides/{APP}/release.yaml.j2:3: 'nope' is undefined "
        "(a typo, or a key the context does not have)"
    ]


@pytest.mark.parametrize(
    ("rel", "message"),
    [
        ("kubernetes/apps/extra/_when.j2", "_when.j2 cannot be overridden"),
        ("kubernetes/apps/x/secret.sops.yaml.j2", "a secret cannot be overridden"),
        (".sops.yaml.j2", ".sops.yaml cannot be overridden"),
        ("notes/mine.md", "notes/mine.md is outside what clustergen renders"),
        ("patches/notes.txt", "overrides/patches/ holds merge patches (*.yaml) only"),
    ],
)
def test_overrides_that_cannot_be_are_refused_by_name(repo: Path, rel: str, message: str) -> None:
    put(repo, f"overrides/{rel}", "---\n")

    with pytest.raises(RenderError) as raised:
        find_overrides(repo)

    (problem,) = raised.value.problems
    assert isinstance(problem, Problem) and problem.file == f"overrides/{rel}"
    assert message in problem.message


@pytest.mark.parametrize(
    ("link", "to"),
    [
        (f"{APP}/release.yaml", "../../../../../age.key"),  # the key beside cluster.yaml
        (f"{APP}/.gitkeep", "/etc/passwd"),  # an ignored name: an include still reads it
        ("kubernetes/apps/etc", "/etc"),  # a folder: the template loader follows it
        ("patches/p.yaml", "/etc/passwd"),
        (f"{APP}/gone.yaml", "nowhere"),
    ],
)
def test_a_symlink_that_leads_outside_overrides_is_refused(repo: Path, link: str, to: str) -> None:
    put(repo, "age.key", "AGE-SECRET-KEY-1PLAINTEXT\n")
    put(repo, f"overrides/{APP}/inside.yaml", "---\nmine: true\n")
    (repo / "overrides" / link).parent.mkdir(parents=True, exist_ok=True)
    (repo / "overrides" / link).symlink_to(to)

    with pytest.raises(RenderError) as raised:
        find_overrides(repo)

    (problem,) = raised.value.problems
    assert isinstance(problem, Problem) and problem.file == f"overrides/{link}"
    assert "symlink that leads outside overrides/" in problem.message


def test_a_symlink_inside_overrides_is_an_override_like_its_target(repo: Path) -> None:
    put(repo, f"overrides/{APP}/shared.yaml", "---\nshared: true\n")
    (repo / f"overrides/{APP}/release.yaml").symlink_to("shared.yaml")

    assert render(repo).files[f"{APP}/release.yaml"] == b"---\nshared: true\n"


def test_two_overrides_of_one_output_are_refused(repo: Path) -> None:
    put(repo, f"overrides/{APP}/release.yaml", "---\n")
    put(repo, f"overrides/{APP}/release.yaml.j2", "---\n")

    with pytest.raises(RenderError, match=r"renders to .*release\.yaml, as overrides/"):
        find_overrides(repo)


# --- merge patches ---------------------------------------------------------------

TWO_DOCUMENTS = """\
---
# The first object: kept byte for byte.
apiVersion: v1
kind: ConfigMap
metadata: {name: first}   # flow style, kept
data: {a: "1"}
---
# yaml-language-server: $schema=https://example.com/release.json
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
spec:
  values:
    probes:
      liveness: &probe
        enabled: true
        path: /healthz
      readiness: *probe
    drop: me
"""


def test_a_patch_merges_into_one_document_and_keeps_the_rest_of_the_file(repo: Path) -> None:
    put(repo, f"templates/config/{APP}/release.yaml", TWO_DOCUMENTS)
    (repo / f"templates/config/{APP}/release.yaml.j2").unlink()
    put(
        repo,
        "overrides/patches/app.yaml",
        "---\ntarget: {kind: HelmRelease, namespace: default, name: app}\n"
        "patch:\n  spec:\n    values:\n      probes: {liveness: {path: /live}}\n"
        "      drop: null\n      added: [1, 2]\n",
    )

    tree = render(repo)

    text = tree.files[f"{APP}/release.yaml"].decode()
    first = TWO_DOCUMENTS.split("---\n")[1]
    assert text.startswith(f"---\n{first}---\n# yaml-language-server: $schema=")
    values = list(yaml.safe_load_all(text))[1]["spec"]["values"]
    assert values == {
        "probes": {
            "liveness": {"enabled": True, "path": "/live"},
            # The alias was the anchor's node: patching one must not change the other.
            "readiness": {"enabled": True, "path": "/healthz"},
        },
        "added": [1, 2],
    }
    assert tree.origins == {f"{APP}/release.yaml": "overrides/patches/app.yaml:2"}


def test_on_rendered_is_told_the_first_render_and_the_tree_holds_the_patched_bytes(
    repo: Path,
) -> None:
    put(
        repo,
        "overrides/patches/app.yaml",
        "---\ntarget: {kind: ConfigMap, name: app}\npatch:\n  data: {b: '2'}\n",
    )
    put(
        repo,
        f"templates/config/{APP}/release.yaml.j2",
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: '1'}\n",
    )
    told: dict[str, bytes] = {}

    tree = render_tree(
        CONTEXT,
        repo / "templates/config",
        repo / "templates",
        find_overrides(repo),
        on_rendered=told.__setitem__,
    )

    release = f"{APP}/release.yaml"
    assert yaml.safe_load(told[release])["data"] == {"a": "1"}
    assert yaml.safe_load(tree.files[release])["data"] == {"a": "1", "b": "2"}
    assert {path: told[path] for path in told if path != release} == {
        path: data for path, data in tree.files.items() if path != release
    }


def test_a_patch_matching_two_objects_names_both_and_file_narrows_it(repo: Path) -> None:
    doc = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\n"
    put(repo, f"templates/config/{APP}/a.yaml", doc)
    put(repo, f"templates/config/{APP}/b.yaml", doc)
    patch = "---\ntarget:\n  kind: ConfigMap\n  name: same\n{file}patch: {{data: {{k: v}}}}\n"
    put(repo, "overrides/patches/p.yaml", patch.format(file=""))

    with pytest.raises(RenderError) as raised:
        render(repo)
    assert [str(p) for p in raised.value.problems] == [
        "overrides/patches/p.yaml:2 target: ConfigMap same matches 2 objects "
        f"({APP}/a.yaml:2, {APP}/b.yaml:2); add `file:` to say which"
    ]

    put(repo, "overrides/patches/p.yaml", patch.format(file=f"  file: {APP}/b.yaml\n"))
    tree = render(repo)
    assert yaml.safe_load(tree.files[f"{APP}/b.yaml"])["data"] == {"k": "v"}
    assert tree.files[f"{APP}/a.yaml"] == doc.encode()


# --- stale overrides and where findings belong -------------------------------------


def test_stale_overrides_names_changed_and_removed_built_ins(repo: Path) -> None:
    put(repo, f"overrides/{APP}/release.yaml.j2", "---\nhost: mine\n")
    put(repo, f"overrides/{APP}/plain.yaml", "---\nplain: mine\n")
    manifest = Manifest(overrides=render(repo).shadowed)
    # The record survives the manifest's round trip through JSON.
    put(repo, ".clustergen/manifest.json", dump_manifest(manifest).decode())
    assert load_manifest(repo).overrides == manifest.overrides
    assert stale_overrides(repo, manifest, repo) == []

    put(repo, f"templates/config/{APP}/release.yaml.j2", "---\nhost: built-in, newer\n")
    (repo / f"templates/config/{APP}/plain.yaml").unlink()
    assert stale_overrides(repo, manifest, repo) == [
        StaleOverride(f"overrides/{APP}/plain.yaml", f"templates/config/{APP}/plain.yaml", True),
        StaleOverride(
            f"overrides/{APP}/release.yaml.j2", f"templates/config/{APP}/release.yaml.j2", False
        ),
    ]
    assert str(stale_overrides(repo, manifest, repo)[1]) == (
        f"templates/config/{APP}/release.yaml.j2 changed since you overrode it: "
        f"review overrides/{APP}/release.yaml.j2"
    )
    # An edited manifest cannot make it look outside the overrides and the templates.
    forged = {
        f"overrides/{APP}/release.yaml.j2": Shadowed("templates/config/../../../etc/hostname", ""),
        "cluster.yaml": Shadowed(f"templates/config/{APP}/release.yaml.j2", ""),
    }
    put(repo, "cluster.yaml", "---\n")
    assert stale_overrides(repo, Manifest(overrides=forged), repo) == []
    # An override the user has since deleted needs no review.
    (repo / f"overrides/{APP}/plain.yaml").unlink()
    assert [s.override for s in stale_overrides(repo, manifest, repo)] == [
        f"overrides/{APP}/release.yaml.j2"
    ]


def test_a_manifest_without_overrides_is_written_as_before() -> None:
    assert b"overrides" not in dump_manifest(Manifest(files={"a": "0" * 64}))


def test_findings_move_to_the_override_or_patch_they_come_from() -> None:
    origins = {
        "k/copied.yaml": "overrides/k/copied.yaml",
        "k/rendered.yaml": "overrides/k/rendered.yaml.j2",
        "k/patched.yaml": "overrides/patches/p.yaml:4",
    }
    problems: list[Problem | str] = [
        Problem("", "invalid YAML", "k/copied.yaml", 5),
        Problem("ConfigMap/x", "bad", "k/rendered.yaml", 7),
        Problem("HelmRelease/y", "spec.interval: 5 is not of type 'string'", "k/patched.yaml", 2),
        Problem("", "untouched", "k/other.yaml", 1),
    ]
    assert [str(p) for p in attribute(problems, origins)] == [
        "overrides/k/copied.yaml:5: invalid YAML",
        "overrides/k/rendered.yaml.j2 ConfigMap/x: bad (in k/rendered.yaml:7, as rendered)",
        "overrides/patches/p.yaml:4 HelmRelease/y: spec.interval: 5 is not of type 'string' "
        "(in k/patched.yaml:2, as patched)",
        "k/other.yaml:1: untouched",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "---\nkind: A\nmetadata: {name: b}\n---\nkind: C\n",
            "---\nkind: A\nmetadata:\n  name: b\nspec:\n  x: 1\n---\nkind: C\n",
            id="block",
        ),
        pytest.param(
            "--- {kind: A, metadata: {name: b}}\n--- {kind: C}\n",
            "---\nkind: A\nmetadata:\n  name: b\nspec:\n  x: 1\n--- {kind: C}\n",
            id="flow-on-the-marker-line",
        ),
        pytest.param(
            "---\nkind: A\nmetadata:\n  name: b",
            "---\nkind: A\nmetadata:\n  name: b\nspec:\n  x: 1\n",
            id="no-final-newline",
        ),
        pytest.param(
            "---\nkind: A\nmetadata: {name: b}\n...\n---\nkind: C\n",
            "---\nkind: A\nmetadata:\n  name: b\nspec:\n  x: 1\n...\n---\nkind: C\n",
            id="document-end-marker",
        ),
    ],
)
def test_a_patched_document_is_rewritten_in_place(tmp_path: Path, text: str, expected: str) -> None:
    patch = put(tmp_path, "p.yaml", "---\ntarget: {kind: A, name: b}\npatch: {spec: {x: 1}}\n")
    files = {"kubernetes/f.yaml": text.encode()}

    origins, problems = apply_patches(files, (patch,), lambda _: "overrides/patches/p.yaml")

    assert problems == []
    assert files["kubernetes/f.yaml"].decode() == expected
    assert origins == {"kubernetes/f.yaml": "overrides/patches/p.yaml:2"}


@pytest.mark.parametrize(
    ("rel", "raw", "where"),
    [
        (f"overrides/{APP}/release.yaml.j2", b"---\nhost: ok\nbad: caf\xe9\n", ":3:9"),
        ("overrides/patches/p.yaml", b"target: {kind: A, name: b}\npatch: {x: \xff}\n", ":2:12"),
    ],
)
def test_an_override_or_patch_that_is_not_utf8_names_its_line_and_column(
    repo: Path, rel: str, raw: bytes, where: str
) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_bytes(raw)

    with pytest.raises(RenderError) as raised:
        render(repo)

    bad = next(b for b in raw if b > 0x7F)
    assert [str(p) for p in raised.value.problems] == [
        f"{rel}{where}: is not UTF-8 text (byte 0x{bad:02x}); save the file as UTF-8"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{d: 2001-12-14}", "`patch.spec.d` is a date (2001-12-14), which JSON cannot hold; quote"),
        ("{b: !!binary aGk=}", "`patch.spec.b` is binary data (!!binary), which JSON cannot"),
        ("{n: .nan}", "`patch.spec.n` is nan, which JSON cannot hold"),
        ("{l: [1, .inf]}", "`patch.spec.l[1]` is inf, which JSON cannot hold"),
        ("{1: one}", "`patch.spec` has the key 1, which is not a string; Kubernetes objects are"),
    ],
)
def test_a_patch_value_json_cannot_hold_is_refused_by_key(
    repo: Path, value: str, message: str
) -> None:
    put(
        repo,
        "overrides/patches/p.yaml",
        f"---\ntarget: {{kind: A, name: b}}\npatch:\n  spec: {value}\n",
    )

    with pytest.raises(RenderError) as raised:
        render(repo)

    (problem,) = raised.value.problems
    assert isinstance(problem, Problem)
    assert (problem.file, problem.line) == ("overrides/patches/p.yaml", 2)
    assert message in problem.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f'---\n#% include "overrides/{APP}/release.yaml.j2" %#\n', 2),
        ("#% macro f(n) %##{ f(n + 1) }##% endmacro %#\nx: #{ f(1) }#\n", 1),
    ],
)
def test_an_override_that_calls_itself_without_end_is_a_template_error(
    repo: Path, text: str, line: int
) -> None:
    put(repo, f"overrides/{APP}/release.yaml.j2", text)

    with pytest.raises(RenderError) as raised:
        render(repo)

    assert [str(p) for p in raised.value.problems] == [
        f"overrides/{APP}/release.yaml.j2:{line}: includes or calls itself without end; "
        "give the include or macro a way to stop"
    ]
