"""Colour only on a terminal, and never with NO_COLOR."""

from __future__ import annotations

import io

import pytest

from generator.diff.color import paint, wanted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "environ", "expected"),
    [
        (Terminal(), {"TERM": "xterm"}, True),
        (Terminal(), {}, True),
        (Terminal(), {"NO_COLOR": "1"}, False),
        (Terminal(), {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (Terminal(), {"TERM": "dumb"}, False),
        (io.StringIO(), {"TERM": "xterm"}, False),
    ],
)
def test_wanted(stream: io.StringIO, environ: dict[str, str], expected: bool) -> None:
    assert wanted(stream, environ) is expected


def test_paint_keeps_the_line_ending_outside() -> None:
    assert paint("-a: 1\n", "red", True) == "\x1b[31m-a: 1\x1b[0m\n"
    assert paint("-a: 1\n", "red", False) == "-a: 1\n"
    assert paint("x", "", True) == "x"
