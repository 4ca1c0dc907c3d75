"""Unified diffs of a file's own text, and masking what derives from secrets."""

from __future__ import annotations

from generator.diff.text import DERIVED, around_derived, file_diff, lines_of, text_diff

OLD = b"""\
---
a: &anchor
  x: 1
b: *anchor
c: 3
d: 4
e: 5
f: 6
g: 7
h: 8
i: 9
"""


def test_hunk_headers_are_the_files_line_numbers() -> None:
    new = OLD.replace(b"h: 8", b"h: 80")
    text = file_diff(OLD, new, "x.yaml")
    assert text.startswith("--- a/x.yaml\n+++ b/x.yaml\n@@ -7,5 +7,5 @@\n")
    assert " e: 5\n" in text and "-h: 8\n+h: 80\n" in text
    assert OLD.decode().splitlines()[6] == "e: 5"  # the hunk's first line is line 7


def test_the_files_own_anchors_stay() -> None:
    new = OLD.replace(b"c: 3", b"c: 30")
    text = file_diff(OLD, new, "x.yaml")
    assert "a: &anchor\n" in text and " b: *anchor\n" in text and "&id" not in text


def test_created_and_removed_files_diff_against_dev_null() -> None:
    created = file_diff(None, b"a: 1\nb: 2\n", "n.yaml")
    assert created == "--- /dev/null\n+++ b/n.yaml\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n"
    removed = file_diff(b"a: 1\n", None, "n.yaml")
    assert removed == "--- a/n.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-a: 1\n"


def test_a_missing_final_newline_is_marked() -> None:
    text = file_diff(b"a: 1\n", b"a: 2", "x.yaml")
    assert text.endswith("-a: 1\n+a: 2\n\\ No newline at end of file\n")


def test_equal_texts_have_no_diff() -> None:
    assert text_diff(lines_of(OLD), lines_of(OLD), "x.yaml") == ""


def test_derived_values_are_masked_on_both_sides_and_line_numbers_kept() -> None:
    old = lines_of(b"kind: A\nspec:\n  type: A\n  target: real-tunnel-id.example\n  ttl: 60\n")
    new = lines_of(b"kind: A\nspec:\n  type: CNAME\n  target: placeholder-one.example\n  ttl: 60\n")
    probe = lines_of(
        b"kind: A\nspec:\n  type: CNAME\n  target: placeholder-two.example\n  ttl: 60\n"
    )
    shown_old, shown_new = around_derived(old, new, probe)
    assert len(shown_old) == len(old) and len(shown_new) == len(new)
    assert shown_old[3] == shown_new[3] == f"  target: {DERIVED}\n"
    text = text_diff(shown_old, shown_new, "x.yaml")
    assert "-  type: A\n+  type: CNAME\n" in text and "@@ -1,5 +1,5 @@" in text
    for value in ("real-tunnel-id", "placeholder"):
        assert value not in text


def test_a_derived_line_without_a_counterpart_is_masked_too() -> None:
    old = lines_of(b"ports:\n  - port: 1\n")
    new = lines_of(b"ports:\n  - port: 1\nhosts:\n  - secret-one\n")
    probe = lines_of(b"ports:\n  - port: 1\nhosts:\n  - secret-two\n")
    _, shown_new = around_derived(old, new, probe)
    assert shown_new[3] == f"  - {DERIVED}\n"
    assert shown_new[2] == "hosts:\n"


def test_leftover_old_items_of_a_derived_list_are_masked() -> None:
    old = lines_of(b"ports:\n  - port: 8443\n  - port: 8444\nmode: a\n")
    new = lines_of(b"ports:\n  - port: 111\nmode: b\n")
    probe = lines_of(b"ports:\n  - port: 222\nmode: b\n")
    shown_old, shown_new = around_derived(old, new, probe)
    text = text_diff(shown_old, shown_new, "x.yaml")
    assert "-mode: a\n+mode: b\n" in text
    for value in ("8443", "8444", "111"):
        assert value not in text
