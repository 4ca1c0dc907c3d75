"""format_unified: files grouped by component, each file's own text, secrets by key name."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from generator.diff.output import format_json, format_summary, format_unified
from generator.diff.trees import Conflicting, TakenOver, diff_trees
from generator.secrets.sops import Sops

ECHO = "kubernetes/apps/default/echo/app/helmrelease.yaml"
HELMRELEASE = b"""\
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: echo
spec:
  values:
    env:
      HTTP_PORT: &port 8080
    service:
      port: *port
    replicas: 1
"""
SECRET_PATH = "kubernetes/apps/default/echo/app/secret.sops.yaml"
SECRET = b"""\
apiVersion: v1
kind: Secret
metadata:
  name: echo-secret
stringData:
  KEPT: kept-value-1
  CHANGED: before-value-2
  DROPPED: dropped-value-3
"""
NEW_SECRET = b"""\
apiVersion: v1
kind: Secret
metadata:
  name: echo-secret
stringData:
  KEPT: kept-value-1
  CHANGED: after-value-4
  ADDED: added-value-5
"""


def test_files_grouped_by_component_with_their_own_text() -> None:
    new = {
        ECHO: HELMRELEASE.replace(b"replicas: 1", b"replicas: 2"),
        "talos/talconfig.yaml": b"clusterName: home\n",
        ".sops.yaml": b"creation_rules: []\n",
    }
    old = {ECHO: HELMRELEASE, ".sops.yaml": b"creation_rules: [{}]\n", "talos/gone.yaml": b"a: 1\n"}
    text = format_unified(diff_trees(new, old, owned=["talos/gone.yaml"]))
    assert re.findall(r"^== (.*) ==$", text, re.M) == [
        "kubernetes/apps/default/echo/",
        "talos/",
        "(repository root)",
    ]
    assert (
        f"changed: {ECHO} (HelmRelease echo)\n--- a/{ECHO}\n+++ b/{ECHO}\n@@ -9,4 +9,4 @@\n" in text
    )
    assert "      HTTP_PORT: &port 8080\n" in text and "       port: *port\n" in text
    assert "-    replicas: 1\n+    replicas: 2\n" in text
    talos = text[text.index("== talos/ ==") :]
    assert talos.startswith("== talos/ ==\nremoved: talos/gone.yaml\n--- a/talos/gone.yaml\n")
    assert "created: talos/talconfig.yaml\n--- /dev/null\n+++ b/talos/talconfig.yaml\n" in talos
    assert "changed: .sops.yaml\n" in text  # a plain document is named by its file alone
    assert text.endswith("1 added, 2 changed, 1 removed")


def test_secret_keys_added_removed_changed_never_values(sops: Sops) -> None:
    old = sops.encrypt(SECRET, SECRET_PATH)
    diff = diff_trees(
        {SECRET_PATH: NEW_SECRET}, {SECRET_PATH: old}, decrypt_old=lambda p, d: sops.decrypt(d, p)
    )
    [obj] = diff.changed[0].objects
    assert (obj.secret_keys_changed, obj.secret_keys_added, obj.secret_keys_removed) == (
        ("CHANGED",),
        ("ADDED",),
        ("DROPPED",),
    )
    text = format_unified(diff)
    assert (
        f"secret {SECRET_PATH} Secret echo-secret changed; keys changed: CHANGED; added: ADDED; "
        "removed: DROPPED (values not shown)\n"
    ) in text
    every = text + format_summary(diff) + format_json(diff)
    for value in re.findall(rb": (\S+-value-\d)", SECRET + NEW_SECRET):
        assert value.decode() not in every
    assert "ENC[" not in every and "--- a/" not in text


def test_created_and_removed_secret_files_show_no_values_or_ciphertext(sops: Sops) -> None:
    gone = "kubernetes/apps/default/echo/app/old.sops.yaml"
    diff = diff_trees({SECRET_PATH: NEW_SECRET}, {gone: sops.encrypt(SECRET, gone)}, owned=[gone])
    text = format_unified(diff)
    assert (
        f"secret {SECRET_PATH} created: Secret echo-secret; keys: ADDED, CHANGED, KEPT "
        "(values not shown)\n"
    ) in text
    assert f"secret {gone} removed (contents not shown)\n" in text
    assert "-value-" not in text and "ENC[" not in text and "/dev/null" not in text


def test_a_re_encrypted_secret_is_counted_not_shown(sops: Sops) -> None:
    old = sops.encrypt(SECRET, SECRET_PATH)
    other = frozenset({"age1someoneelse"})
    diff = diff_trees(
        {SECRET_PATH: SECRET},
        {SECRET_PATH: old},
        decrypt_old=lambda p, d: sops.decrypt(d, p),
        recipients=lambda path: other,
    )
    assert diff.reencrypted == (SECRET_PATH,) and not diff.differs
    text = format_unified(diff)
    assert text == (
        "1 secret file re-encrypted (values unchanged, now for the recipients in .sops.yaml)\n"
        "no differences"
    )
    assert json.loads(format_json(diff))["reencrypted"] == [SECRET_PATH]
    same = sops.recipients(old, SECRET_PATH)
    unchanged = diff_trees(
        {SECRET_PATH: SECRET},
        {SECRET_PATH: old},
        decrypt_old=lambda p, d: sops.decrypt(d, p),
        recipients=lambda path: frozenset(same),
    )
    assert unchanged.reencrypted == ()


def test_colour_marks_removed_added_and_hunks() -> None:
    diff = diff_trees({"a.txt": b"one\ntwo\n"}, {"a.txt": b"one\n"})
    coloured = format_unified(diff, color=True)
    assert "\x1b[32m+two\x1b[0m\n" in coloured and "\x1b[36m@@ -1 +1,2 @@\x1b[0m\n" in coloured
    assert re.sub(r"\x1b\[\d+m", "", coloured) == format_unified(diff)


def test_created_and_removed_files_name_their_objects() -> None:
    gone = "kubernetes/apps/default/echo/app/old.yaml"
    diff = diff_trees({ECHO: HELMRELEASE}, {gone: HELMRELEASE}, owned=[gone])
    text = format_unified(diff)
    assert f"created: {ECHO} (HelmRelease echo)\n--- /dev/null\n" in text
    assert f"removed: {gone} (HelmRelease echo)\n--- a/{gone}\n+++ /dev/null\n" in text


def test_hand_edits_as_configure_plans_them() -> None:
    kept = "kubernetes/apps/network/cloudflare-tunnel/app/helmrelease.yaml"
    taken = diff_trees({ECHO: HELMRELEASE}, {ECHO: HELMRELEASE.replace(b"1\n", b"2\n")})
    diff = replace(
        diff_trees({}, {}),
        conflicts=(Conflicting("a.yaml", "the merge conflicts", ("a.yaml:3: hunk",)),),
        kept=(kept,),
        taken_over=(TakenOver(taken.changed[0], render_changed=True),),
    )

    assert diff.differs  # a conflict is drift; kept and taken-over files are not
    assert not replace(diff, conflicts=()).differs
    summary = format_summary(diff).splitlines()
    assert summary == [
        "! a.yaml (conflict: the merge conflicts)",
        f"= {kept} (edited by you, no longer generated; configure keeps it)",
        f"= {ECHO} (taken over by you: differs from its render; "
        "the render changed since you took it over)",
        "0 added, 0 changed, 0 removed, 1 in conflict, 1 kept, "
        "1 taken over by you (differ from the render; not drift)",
    ]
    unified = format_unified(diff)
    assert "conflict: a.yaml: the merge conflicts\n  a.yaml:3: hunk\n" in unified
    assert f"taken over by you: {ECHO} (differs from its render; " in unified
    assert "-    replicas: 2\n+    replicas: 1\n" in unified
    report = json.loads(format_json(diff))
    assert report["conflicts"] == [
        {"path": "a.yaml", "reason": "the merge conflicts", "hunks": ["a.yaml:3: hunk"]}
    ]
    assert report["kept"] == [kept]
    assert report["taken_over"] == [{"path": ECHO, "render_changed": True}]
