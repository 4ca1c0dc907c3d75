"""No secret in a file an override or a merge patch produced, unless it is a secret file.

A Kubernetes Secret with data in such a file is refused outright: it would be committed in
plaintext (overrides cannot add `*.sops.*` files, which sops encrypts).

An override renders with the whole context (`#{ dns.token }#` works) and a patch can carry
any value; a file that is not a secret (`*.sops.*`) is written in plaintext, committed,
and kept as a base copy under .clustergen/base/. So each such file is searched for the
values that only secrets carry: the string values of every rendered secret (as written,
and base64-encoded, as a Secret's `data` holds them) that no other, built-in rendered
file carries too (a domain in the cluster's secrets and in a runbook is no secret).
Values shorter than `MIN_SECRET_CHARS` are not searched: `true` or a port is no secret.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import yaml

from generator.bounded_yaml import load_all
from generator.errors import Problem
from generator.secrets.files import is_secret_path

MIN_SECRET_CHARS = 8
# A Kubernetes object's own fields, never a secret value.
_NOT_VALUES = frozenset({"apiVersion", "kind", "metadata", "type", "sops"})


def secret_leaks(files: Mapping[str, bytes], origins: Mapping[str, str]) -> list[Problem]:
    """A Problem for each file of `origins` (path → the override or patch that produced it,
    `overrides/x.yaml.j2`, `overrides/patches/p.yaml:3`) that is not a secret and holds a
    secret's value; the value itself is never named."""
    suspects = [p for p in origins if not is_secret_path(p)]
    if not suspects:
        return []
    values = secret_values(files, origins)
    problems = []
    for path in sorted(suspects):
        where, _, line = origins[path].partition(":")
        if _holds_a_secret_object(files[path]):
            problems.append(
                Problem(
                    "",
                    f"puts a Secret with data into {path}, which is not encrypted (only "
                    "`*.sops.*` files are, and overrides cannot add those); keep a Secret of "
                    "your own in a `*.sops.yaml` file outside overrides/ (sops encrypts it, "
                    "clustergen leaves it alone) and list it in its kustomization.yaml",
                    where,
                    int(line) if line.isdigit() else None,
                )
            )
            continue
        carried = [v for v in values if v in files[path]]
        if not carried:
            continue
        problems.append(
            Problem(
                "",
                f"renders a secret's value in plaintext into {path}, which is not encrypted "
                "(only `*.sops.*` files are); refer to the Secret instead (a secretKeyRef, "
                "`valuesFrom`, or `${SECRET_…}` from cluster-secrets), or name the file "
                "`*.sops.yaml` so that it is encrypted",
                where,
                int(line) if line.isdigit() else None,
            )
        )
    return problems


def _holds_a_secret_object(content: bytes) -> bool:
    """A `kind: Secret` document with `data` or `stringData` (a file that does not parse is
    validation's to name)."""
    if b"Secret" not in content:
        return False
    try:
        documents = load_all(content)
    except yaml.YAMLError:
        return False
    return any(
        isinstance(d, dict) and d.get("kind") == "Secret" and (d.get("data") or d.get("stringData"))
        for d in documents
    )


def redact(problems: list[Problem], files: Mapping[str, bytes]) -> list[Problem]:
    """`problems` with every secret value (of the secrets rendered in `files`) in their
    messages replaced by `<secret>`: a template error quotes the value it failed on."""
    values = sorted((v.decode("utf-8") for v in secret_values(files, {})), key=len, reverse=True)
    if not values:
        return problems
    out = []
    for problem in problems:
        message = problem.message
        for value in values:
            message = message.replace(value, "<secret>")
        out.append(replace(problem, message=message))
    return out


def secret_values(files: Mapping[str, bytes], origins: Mapping[str, str]) -> set[bytes]:
    """The values only secrets carry: those of `_secret_values` that no file outside
    `origins` that is not a secret holds too."""
    values = _secret_values(files)
    for path, content in files.items():
        if path not in origins and not is_secret_path(path):
            values = {v for v in values if v not in content}
    return values


def _secret_values(files: Mapping[str, bytes]) -> set[bytes]:
    """Every string value of the rendered secrets, as text and base64, long enough to search."""
    found: set[bytes] = set()
    for path, content in files.items():
        if not is_secret_path(path):
            continue
        try:
            documents = load_all(content)
        except yaml.YAMLError:
            continue  # validation names a broken secret
        for document in documents:
            for value in _strings(document, top=True):
                raw = value.encode("utf-8")
                if len(value) >= MIN_SECRET_CHARS:
                    found.add(raw)
                    found.add(base64.b64encode(raw))
    return found


def _strings(value: Any, top: bool = False) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            if not (top and key in _NOT_VALUES):
                yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)
    elif isinstance(value, str):
        yield value
        yield from (line for line in value.splitlines() if line.strip() != value.strip())
