"""The forms of repository.url and the SSH host keys we bundle for well-known forges."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from generator.repository import is_ssh

# git@github.com:owner/repo.git -- what `git clone` accepts but Flux does not.
_SCP = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>(?!//)\S+)$")
# The port of scheme://host:port/ (not an IPv6 literal's colons).
_PORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s]*?(\]|[^\]/:\s]):(?P<port>[^/:\]\s]*)(/|$)")
# scheme://userinfo@ -- up to the last '@' before the path.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s]*)@")

# Published host keys (ed25519 + ecdsa) of the forges whose keys we bundle, so an
# ssh:// repository there works without the user pasting known_hosts. Sources:
# docs.github.com "GitHub's SSH key fingerprints", docs.gitlab.com "SSH host keys
# fingerprints" (gitlab.com), docs.codeberg.org "Verifying SSH fingerprints".
BUNDLED_KNOWN_HOSTS: dict[str, str] = {
    "github.com": (
        "github.com ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
        "github.com ecdsa-sha2-nistp256 "
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5"
        "YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=\n"
    ),
    "gitlab.com": (
        "gitlab.com ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf\n"
        "gitlab.com ecdsa-sha2-nistp256 "
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFSMqzJeV9rUzU4kWitGjeR4PWSa29SP"
        "qJ1fVkhtj3Hw9xjLVXVYrU9QlYWrOLXBpQ6KWjbjTDTdDkoohFzgbEY=\n"
    ),
    "codeberg.org": (
        "codeberg.org ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIIVIC02vnjFyL+I4RHfvIGNtOgJMe769VTF1VR4EB3ZB\n"
        "codeberg.org ecdsa-sha2-nistp256 "
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBL2pDxWr18SoiDJCGZ5LmxPygTlPu+cC"
        "KSkpqkvCyQzl5xmIMeKNdfdBpfbCGDPoZQghePzFZkKJNR/v9Win3Sc=\n"
    ),
}


def scp_hint(url: object) -> str | None:
    """For an scp-style URL, the ssh:// form Flux understands."""
    if not isinstance(url, str):
        return None
    match = _SCP.match(url.strip())
    if not match:
        return None
    path = match["path"].lstrip("/")
    return f"scp-style URLs are not supported; write ssh://{match['user']}@{match['host']}/{path}"


def mask_userinfo(text: str) -> str:
    """`text` with the userinfo of a leading URL (`https://user:token@host/…`) shown as
    `***`, so an error never prints a token; ssh://git@ is kept as it is."""
    match = _USERINFO.match(text)
    if not match or match["userinfo"] == "git":
        return text
    return f"{match['scheme']}***@{text[match.end() :]}"


def repo_url_hint(url: object) -> str | None:
    """What is wrong with a repository.url the schema rejected, when we can tell."""
    if not isinstance(url, str):
        return None
    match = _USERINFO.match(url.strip())
    if match and match["userinfo"] != "git":
        return (
            "credentials do not belong in the URL: it is committed with the Flux "
            "GitRepository; remove them (for a private repository use "
            "ssh://git@host/owner/repo with deploy.key)"
        )
    port = _PORT.match(url)
    if port and not (
        port["port"].isascii() and port["port"].isdigit() and 0 < int(port["port"][:6]) < 65536
    ):
        return "the port must be a number from 1 to 65535"
    return scp_hint(url)


def repo_host(url: str) -> str:
    """Host name of an https/http/ssh URL ("" when there is none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def repo_port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def bundled_known_hosts(url: str) -> str | None:
    """Bundled host keys for an ssh:// URL on the default port of a known forge."""
    if not is_ssh(url) or repo_port(url) not in (None, 22):
        return None
    return BUNDLED_KNOWN_HOSTS.get(repo_host(url))
