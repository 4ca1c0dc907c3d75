"""URLs: no token printed or committed, ports within 1–65535."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config.urls import mask_userinfo
from tests.config.conftest import BASE, before_nodes, edit, problems, where, write

REPO_URL = "url: https://github.com/example/home-ops"
SHAPE = "must be https://host/owner/repo, http://host/owner/repo or ssh://git@host/owner/repo"
CREDENTIALS = (
    "credentials do not belong in the URL: it is committed with the Flux GitRepository; "
    "remove them (for a private repository use ssh://git@host/owner/repo with deploy.key)"
)
REPOSITORY: dict[str, tuple[str, str]] = {
    "user and token": ("https://user:ghp_s3cr3tt0ken@github.com/example/home-ops",
                       f"{SHAPE} (got 'https://***@github.com/example/home-ops'; {CREDENTIALS})"),
    "token as the user": ("https://ghp_s3cr3tt0ken@github.com/example/home-ops",
                          f"{SHAPE} (got 'https://***@github.com/example/home-ops'; "
                          f"{CREDENTIALS})"),
    "a password for git over ssh": ("ssh://git:ghp_s3cr3tt0ken@github.com/example/home-ops",
                                    f"{SHAPE} (got 'ssh://***@github.com/example/home-ops'; "
                                    f"{CREDENTIALS})"),
    "a long token cut short": (f"https://x:ghp_{'s3cr3tt0ken' * 8}@github.com/example/home-ops",
                               f"{SHAPE} (got 'https://***@github.com/example/home-ops'; "
                               f"{CREDENTIALS})"),
    "port out of range": ("https://git.lan:70000/ops/cluster",
                          f"{SHAPE} (got 'https://git.lan:70000/ops/cluster'; "
                          "the port must be a number from 1 to 65535)"),
}  # fmt: skip


@pytest.mark.parametrize("name", REPOSITORY)
def test_a_rejected_repository_url_never_shows_its_credentials(tmp_path: Path, name: str) -> None:
    url, message = REPOSITORY[name]
    text = edit(BASE, (REPO_URL, f"url: {url}"))
    found = problems(write(tmp_path, text))
    assert found == [f"cluster.yaml:{where(text, 'url')} repository.url: {message}"]
    assert "s3cr3t" not in found[0]


@pytest.mark.parametrize(
    "url", ["https://git.lan:8443/ops/cluster", "ssh://git@git.lan:2222/ops/cluster.git"]
)
def test_a_repository_url_with_a_port_is_fine(tmp_path: Path, url: str) -> None:
    text = edit(BASE, (REPO_URL, f"url: {url}\nknown_hosts: '[git.lan]:2222 ssh-ed25519 AAAA'"))
    assert problems(write(tmp_path, text)) == []


def _receiver(**fields: str) -> str:
    lines = "\n".join(f"                  {key}: {value}" for key, value in fields.items())
    return edit(BASE, before_nodes(f"""
        features:
          monitoring:
            enabled: true
            alerting:
              receivers:
                - name: chat
{lines}
    """))  # fmt: skip


URL_PORT = "must be an http:// or https:// URL; a port, if given, is from 1 to 65535"
RECEIVERS: dict[str, tuple[dict[str, str], str, str]] = {
    "port 0": ({"type": "webhook", "url": "https://hooks.lan:0/x"}, "url", URL_PORT),
    "port 65536": ({"type": "ntfy", "url": "https://ntfy.lan:65536/alerts"}, "url", URL_PORT),
    "port not a number": ({"type": "slack", "url": "https://hooks.lan:https/x"}, "url", URL_PORT),
    "smarthost port 99999": (
        {"type": "email", "address": "me@example.com", "from": "am@example.com",
         "smarthost": "smtp.example.com:99999"},
        "smarthost",
        "must be host:port like smtp.example.com:587, the port from 1 to 65535 "
        "(got 'smtp.example.com:99999')",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", RECEIVERS)
def test_a_receiver_port_out_of_range_is_named(tmp_path: Path, name: str) -> None:
    fields, key, message = RECEIVERS[name]
    text = _receiver(**fields)
    assert problems(write(tmp_path, text)) == [
        f"cluster.yaml:{where(text, f'{key}: {fields[key]}')} "
        f"features.monitoring.alerting.receivers[0].{key}: "
        f"{message}"
    ]


def test_receiver_urls_with_ports_in_range_are_fine(tmp_path: Path) -> None:
    text = _receiver(type="webhook", url="https://hooks.lan:65535/x")
    assert problems(write(tmp_path, text)) == []


def test_mask_userinfo_keeps_git_over_ssh_and_text_that_is_no_url() -> None:
    assert mask_userinfo("ssh://git@github.com/o/r") == "ssh://git@github.com/o/r"
    assert mask_userinfo("https://a:b@h/c@d") == "https://***@h/c@d"
    assert mask_userinfo("me@example.com") == "me@example.com"
