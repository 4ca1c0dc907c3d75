"""`talos reset`: confirmed by the node's name typed back, or --yes where nobody can type."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from generator.errors import ClusterGenError
from generator.lifecycle.reset import reset
from tests.lifecycle import expected
from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.stubs import StubTools

WIPE = "--reboot --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL"


def line(address: str, *, graceful: bool) -> str:
    tail = "" if graceful else " --wait=false"
    return (f"talosctl reset {expected.TALOSCONFIG} --nodes {address} "
            f"--graceful={str(graceful).lower()} {WIPE}{tail}")  # fmt: skip


def test_one_node_is_reset_gracefully_after_its_name_is_typed(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two")
    prompts: list[str] = []

    def typed(answer: str) -> Callable[[str], str]:
        def ask(prompt: str) -> str:
            prompts.append(prompt)
            return answer

        return ask

    refused = r"^not confirmed \(typed 'k8s-0', not 'w-0'\): nothing was reset$"
    with pytest.raises(ClusterGenError, match=refused):
        reset(repo, "w-0", ask=typed("k8s-0"))
    assert tools.calls() == []
    assert prompts == [
        "This wipes STATE and EPHEMERAL of w-0 (192.168.1.30) and reboots into maintenance "
        "mode.\nType w-0 to confirm: "
    ]
    report = reset(repo, "w-0", ask=typed(" w-0\n"))
    assert report.text == (
        "reset w-0 (192.168.1.30): rebooting into maintenance mode\n"
        "to bring it back: uv run task talos:apply-node NODE=w-0 -- --insecure"
    )
    assert tools.calls() == [line("192.168.1.30", graceful=True)]


def test_without_a_terminal_only_yes_confirms(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("single")
    with pytest.raises(ClusterGenError) as caught:
        reset(repo, "k8s-0", ask=None)
    assert str(caught.value) == (
        "reset wipes k8s-0 (192.168.1.10), and there is no terminal to confirm it on (or CI "
        "is set): rerun with --yes to confirm"
    )
    assert tools.calls() == []
    # The only controller: nothing to hand over to, so not graceful.
    report = reset(repo, "k8s-0", yes=True)
    assert tools.calls() == [line("192.168.1.10", graceful=False)]
    assert report.text.splitlines()[-1] == "to rebuild the cluster: uv run task bootstrap:talos"


def test_every_node_workers_first_after_typing_all(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("three-plus-two")
    order = ("192.168.1.30", "192.168.1.31", "192.168.1.10", "192.168.1.11", "192.168.1.12")
    lines = [line(address, graceful=False) for address in order]
    assert reset(repo, None, dry_run=True).text.splitlines() == lines
    assert tools.calls() == []
    reset(repo, None, ask=lambda prompt: "all")
    assert tools.calls() == lines


@pytest.mark.parametrize(
    ("shape", "order"),
    [
        ("single", ["192.168.1.10"]),
        ("secureboot", ["192.168.1.10", "192.168.1.11", "192.168.1.12"]),
        ("own-schematic", ["192.168.1.10", "192.168.1.11", "192.168.1.12"]),
    ],
)
def test_reset_every_node_in_each_shape(
    tools: StubTools, make_repo: MakeRepo, shape: str, order: list[str]
) -> None:
    reset(make_repo(shape), None, yes=True)
    assert tools.calls() == [line(address, graceful=False) for address in order]
