"""diff_trees: per-object comparison, secrets by key name only, ownership scope."""

from __future__ import annotations

import json

import pytest

from generator.diff.output import format_json, format_summary, format_unified
from generator.diff.trees import diff_trees
from generator.secrets.sops import Sops

DEPLOY = b"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  namespace: default
data:
  x: "1"
  y: "2"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
  namespace: default
data:
  z: "3"
"""
REORDERED = b"""\
kind: ConfigMap
apiVersion: v1
metadata: {namespace: default, name: b}
data: {z: '3'}
---
# a comment does not change the object
metadata:
  namespace: default
  name: a
apiVersion: v1
data:
  y: "2"
  x: "1"
kind: ConfigMap
"""
SECRET = b"""\
apiVersion: v1
kind: Secret
metadata:
  name: cluster-secrets
  namespace: flux-system
stringData:
  SECRET_DOMAIN: old-domain.example
  TOKEN: hunter2-unchanged
"""
PATH = "kubernetes/apps/x.yaml"
SECRET_PATH = "kubernetes/flux/cluster-secrets.sops.yaml"


def every_format(diff: object) -> str:
    return "\n".join(f(diff) for f in (format_unified, format_summary, format_json))  # type: ignore[arg-type]


def test_identical_trees() -> None:
    diff = diff_trees({PATH: DEPLOY}, {PATH: DEPLOY})
    assert not diff.differs and diff.unchanged == 1
    assert format_summary(diff) == "no differences"


def test_reordered_documents_and_keys_are_not_a_change() -> None:
    diff = diff_trees({PATH: REORDERED}, {PATH: DEPLOY})
    assert not diff.differs
    # ... but configure would write other text: it is shown, as such.
    [reformatted] = diff.reformatted
    assert reformatted.text_diff.startswith(f"--- a/{PATH}\n+++ b/{PATH}\n")
    assert "+# a comment does not change the object\n" in reformatted.text_diff
    assert (
        f"reformatted: {PATH} (comments or formatting only: no object changed)\n"
        in format_unified(diff)
    )
    assert format_unified(diff).endswith("0 added, 0 changed, 0 removed, 1 reformatted")
    assert format_summary(diff).splitlines()[0] == f"~ {PATH} (comments or formatting only)"


def test_one_value_change_shows_that_object_only() -> None:
    diff = diff_trees({PATH: DEPLOY.replace(b'z: "3"', b'z: "4"')}, {PATH: REORDERED})
    [change] = diff.changed
    [obj] = change.objects
    assert (obj.kind, obj.namespace, obj.name, obj.change) == (
        "ConfigMap",
        "default",
        "b",
        "changed",
    )
    # The file's own text, flow style and all.
    assert change.text_diff.startswith(f"--- a/{PATH}\n+++ b/{PATH}\n")
    assert "-data: {z: '3'}\n" in change.text_diff
    assert "changed: kubernetes/apps/x.yaml (ConfigMap default/b)" in format_unified(diff)
    assert format_summary(diff).splitlines() == [
        "~ kubernetes/apps/x.yaml (ConfigMap default/b)",
        "0 added, 1 changed, 0 removed",
    ]


def test_added_and_removed_objects_and_files() -> None:
    one = DEPLOY.split(b"---\n")[0]
    diff = diff_trees({PATH: one, "new.yaml": b"a: 1\n"}, {PATH: DEPLOY})
    assert diff.added == ("new.yaml",)
    [obj] = diff.changed[0].objects
    assert (obj.name, obj.change) == ("b", "removed")


def test_only_owned_paths_can_be_removed() -> None:
    old = {PATH: DEPLOY, "user/notes.yaml": b"x: 1\n", "gone.yaml": b"y: 1\n"}
    diff = diff_trees({PATH: DEPLOY}, old, owned=["gone.yaml", "never-written.yaml"])
    assert diff.removed == ("gone.yaml",)


def test_text_files_get_a_text_diff() -> None:
    diff = diff_trees({"README.md": b"one\ntwo\n"}, {"README.md": b"one\n"})
    assert "+two\n" in diff.changed[0].text_diff


def test_secret_change_names_keys_never_values(sops: Sops) -> None:
    old = sops.encrypt(SECRET, SECRET_PATH)
    assert b"old-domain" not in old
    new = SECRET.replace(b"old-domain.example", b"new-domain.example")
    diff = diff_trees({SECRET_PATH: new}, {SECRET_PATH: old}, decrypt_old=_decrypt(sops))
    [obj] = diff.changed[0].objects
    assert obj.secret_keys_changed == ("SECRET_DOMAIN",) and diff.changed[0].text_diff == ""
    text = every_format(diff)
    assert "SECRET_DOMAIN" in text
    for value in ("old-domain", "new-domain", "hunter2"):
        assert value not in text
    assert (
        "secret kubernetes/flux/cluster-secrets.sops.yaml Secret flux-system/cluster-secrets "
        "changed; keys changed: SECRET_DOMAIN (values not shown)" in format_unified(diff)
    )


def test_unchanged_secret_is_clean(sops: Sops) -> None:
    old = sops.encrypt(SECRET, SECRET_PATH)
    diff = diff_trees({SECRET_PATH: SECRET}, {SECRET_PATH: old}, decrypt_old=_decrypt(sops))
    assert not diff.differs and not diff.not_compared


def test_secret_without_key_is_not_compared(sops: Sops) -> None:
    old = sops.encrypt(SECRET, SECRET_PATH)
    diff = diff_trees({SECRET_PATH: SECRET + b"  NEW: x\n"}, {SECRET_PATH: old})
    assert not diff.differs
    assert diff.not_compared == ((SECRET_PATH, "no age key"),)
    assert "not compared: kubernetes/flux/cluster-secrets.sops.yaml (no age key)" in format_unified(
        diff
    )


def test_json_is_stable_and_complete(sops: Sops) -> None:
    new = {PATH: DEPLOY.replace(b'x: "1"', b'x: "9"'), "added.yaml": b"a: 1\n", SECRET_PATH: SECRET}
    old = {PATH: DEPLOY, "removed.yaml": b"r: 1\n", SECRET_PATH: b"sops: {}\n"}
    diff = diff_trees(new, old, owned=["removed.yaml"])
    text = format_json(diff)
    assert text == format_json(diff_trees(dict(reversed(new.items())), old, owned=["removed.yaml"]))
    assert json.loads(text) == {
        "added": ["added.yaml"],
        "removed": ["removed.yaml"],
        "changed": [
            {
                "path": PATH,
                "objects": [
                    {
                        "kind": "ConfigMap",
                        "namespace": "default",
                        "name": "a",
                        "change": "changed",
                        "secret_keys_changed": [],
                        "secret_keys_added": [],
                        "secret_keys_removed": [],
                    }
                ],
            }
        ],
        "not_compared": [{"path": SECRET_PATH, "reason": "no age key"}],
        "reencrypted": [],
        "reformatted": [],
        "conflicts": [],
        "kept": [],
        "taken_over": [],
    }
    assert list(json.loads(text)) == sorted(json.loads(text))


def _decrypt(sops: Sops) -> object:
    return lambda path, data: sops.decrypt(data, path)


@pytest.mark.parametrize("bad", [b"\xff\xfe", b"a: [unclosed\n"])
def test_unparseable_files_compare_as_text(bad: bytes) -> None:
    diff = diff_trees({"x.yaml": bad}, {"x.yaml": b"a: 1\n"})
    assert diff.changed[0].text_diff.startswith("--- a/x.yaml")


def test_a_committed_billion_laughs_is_compared_as_text_without_expanding() -> None:
    # diff runs in CI on pull requests: the old tree is whatever a PR committed.
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 9)]
    old = {PATH: ("\n".join(levels) + "\n").encode()}
    diff = diff_trees({PATH: DEPLOY}, old)
    assert [change.path for change in diff.changed] == [PATH]
    assert "-l8: &l8 [*l7, " in diff.changed[0].text_diff
