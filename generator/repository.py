"""What repository.url says about how Flux reaches the repository. No imports: `init`
(and the Taskfile's `clustergen init --check`) use it without loading the config package."""


def is_ssh(url: object) -> bool:
    """The one rule for "Flux reaches the repository over SSH" (and so needs a deploy key):
    repository.url is an ssh:// URL (the schema refuses scp-style URLs)."""
    return isinstance(url, str) and url.startswith("ssh://")
