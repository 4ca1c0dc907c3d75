"""One rule for "the repository is reached over SSH", used by derive, init and side files."""

from __future__ import annotations

import pytest

from generator.repository import is_ssh


@pytest.mark.parametrize(
    ("url", "ssh"),
    [
        ("ssh://git@github.com/o/r.git", True),
        ("ssh://git@git.example.com:2222/o/r", True),
        ("https://github.com/o/r", False),
        ("git@github.com:o/r.git", False),  # scp-style: refused by the schema, never ssh here
        (None, False),  # an init before cluster.yaml is complete
        (42, False),
    ],
)
def test_is_ssh(url: object, ssh: bool) -> None:
    assert is_ssh(url) is ssh
