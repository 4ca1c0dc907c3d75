"""merge3: git merge-file on real bytes; hunks placed on the lines of the file on disk."""

from __future__ import annotations

from generator.write.merge import merge3, merge_taking_theirs

BASE = b"".join(f"line {n}\n".encode() for n in range(1, 11))


def test_edits_in_different_places_merge_cleanly() -> None:
    ours = BASE.replace(b"line 2\n", b"line 2\n# mine\n")
    theirs = BASE.replace(b"line 9\n", b"line nine\n")

    result = merge3(BASE, ours, theirs)

    assert result.clean
    assert result.merged == ours.replace(b"line 9\n", b"line nine\n")


def test_edits_of_the_same_line_conflict_at_its_line_on_disk() -> None:
    ours = b"# added on top\n" + BASE.replace(b"line 5\n", b"line five (mine)\n")
    theirs = BASE.replace(b"line 5\n", b"line 5 (new)\n")

    result = merge3(BASE, ours, theirs)

    assert not result.clean and len(result.hunks) == 1
    hunk = result.hunks[0]
    assert (hunk.line, hunk.end) == (6, 6)  # line 5 of the base, after the added line
    assert (hunk.ours, hunk.base, hunk.theirs) == (
        ("line five (mine)",),
        ("line 5",),
        ("line 5 (new)",),
    )
    text = "\n".join(hunk.describe("a.yaml"))
    assert text.startswith("a.yaml:6: your edit and the new render change the same lines")
    assert "| line 5 (new)" in text


def test_taking_theirs_resolves_only_the_conflicting_lines() -> None:
    ours = b"# added on top\n" + BASE.replace(b"line 5\n", b"line five (mine)\n")
    theirs = BASE.replace(b"line 5\n", b"line 5 (new)\n")

    merged = merge_taking_theirs(BASE, ours, theirs)

    assert merged == b"# added on top\n" + theirs


def test_taking_theirs_of_a_binary_side_is_no_merge() -> None:
    assert merge_taking_theirs(BASE, b"\0binary\0", BASE.replace(b"line 1", b"one")) is None


def test_a_file_with_its_own_marker_lines_still_parses() -> None:
    base = b"a\n=======\nb\n"
    ours, theirs = b"a\n=======\nmine\n", b"a\n=======\ntheirs\n"

    result = merge3(base, ours, theirs)

    assert [(h.line, h.ours, h.theirs) for h in result.hunks] == [(3, ("mine",), ("theirs",))]


def test_a_conflict_whose_lines_also_appear_earlier_is_placed_on_its_own() -> None:
    base = b"one:\n  v: 1\ntwo:\n  v: 2\nthree:\n  v: 3\n"
    ours = b"# top\n" + base.replace(b"  v: 2", b"  v: 1")  # as line 3 already reads
    theirs = base.replace(b"  v: 2", b"  v: 20").replace(b"  v: 3", b"  v: 30")

    result = merge3(base, ours, theirs)

    assert [(h.line, h.ours, h.theirs) for h in result.hunks] == [(5, ("  v: 1",), ("  v: 20",))]


def test_lines_of_a_side_that_look_like_markers_are_never_taken_for_them() -> None:
    base = b"".join(f"k{n}: {n}\n".encode() for n in range(1, 11))
    own = b"<<<<<<<<<<<<<<< yours (on disk)\n===============\n>>>>>>>>>>>>>>>>>>>>\n"
    ours = base.replace(b"k5: 5\n", b"k5: 7\n" + own).replace(
        b"k1: 1\n", b"===============\nk1: 1\n"
    )
    theirs = base.replace(b"k5: 5", b"k5: 99")

    result = merge3(base, ours, theirs)

    (hunk,) = result.hunks
    assert (hunk.line, hunk.end) == (6, 9)  # after the own `=====` line at the top
    assert hunk.ours == ("k5: 7", *own.decode().splitlines())
    assert (hunk.base, hunk.theirs) == (("k5: 5",), ("k5: 99",))
    clean = merge3(base, ours, base.replace(b"k9: 9", b"k9: 99"))
    assert clean.merged == ours.replace(b"k9: 9", b"k9: 99")
