"""Flux `postBuild` variable substitution, applied the way kustomize-controller does.

Flux substitutes in the text of each built object: `${VAR}`, `${VAR:=default}`
(and `:-`, `=`, `-`), `$${VAR}` escapes to a literal `${VAR}`, an unset variable
without default becomes an empty string. Objects labelled or annotated
`kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from generator.validate.documents import Doc, Finding, parse_documents

Decrypt = Callable[[str, bytes], bytes | None]

_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":=", ":-", "=", "-")
DISABLED_KEY = "kustomize.toolkit.fluxcd.io/substitute"


@dataclass
class Variables:
    """What one Flux Kustomization substitutes, and the sources it could not read."""

    values: dict[str, str] = field(default_factory=dict)
    # Human descriptions of sources whose values are unknown (e.g. no age key).
    unreadable: list[str] = field(default_factory=list)


def envsubst(
    text: str, variables: Mapping[str, str], *, keep_missing: bool = False
) -> tuple[str, list[str]]:
    """Substitute `text`; also return the names used that have no value and no default.

    `keep_missing` leaves those in place (their values exist but could not be read).
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        expr = match.group(1)
        name_match = _NAME.match(expr)
        if name_match is None:
            return match.group(0)
        name, rest = name_match.group(0), expr[name_match.end() :]
        if not rest:
            if name not in variables:
                missing.append(name)
                return match.group(0) if keep_missing else ""
            return variables[name]
        for op in _OPERATORS:
            if rest.startswith(op):
                default = rest[len(op) :]
                value = variables.get(name)
                if value is None or (op.startswith(":") and value == ""):
                    return default
                return value
        # Slicing and replacement forms: too rare in manifests to model; keep as is.
        return match.group(0)

    return _VAR.sub(replace, text), missing


def substitution_disabled(doc: Doc) -> bool:
    for section in ("labels", "annotations"):
        values = doc.get("metadata", section)
        if isinstance(values, dict) and values.get(DISABLED_KEY) == "disabled":
            return True
    return False


def substitute_doc(
    doc: Doc, variables: Mapping[str, str], *, keep_missing: bool = False
) -> tuple[Doc, list[str]]:
    """The document after substitution (reparsed) and the undefined names it used."""
    if "${" not in doc.text or substitution_disabled(doc):
        return doc, []
    text, missing = envsubst(doc.text, variables, keep_missing=keep_missing)
    if text == doc.text:
        return doc, missing
    parsed, problems = parse_documents(doc.path, text.encode())
    if problems or len(parsed) != 1:
        # The substituted text is not YAML any more: validate the original and say why.
        doc.meta["substitution_error"] = problems[0].message if problems else "not one document"
        return doc, missing
    new = parsed[0]
    return Doc(doc.path, doc.line, doc.index, new.data, text, dict(doc.meta)), missing


# Decrypted files parsed in one run, by (path, plaintext): several Kustomizations
# substitute from the same Secret. In memory only: never written anywhere.
Decrypted = dict[tuple[str, bytes], tuple[list[Doc], list[Finding]]]


def values_of(
    doc: Doc, decrypt: Decrypt | None, content: bytes, decrypted: Decrypted | None = None
) -> dict[str, str] | None:
    """String values of a ConfigMap or Secret; None when it is encrypted and cannot be read.
    `decrypted` keeps the parses of decrypted files between calls of one run."""
    source = doc
    if doc.get("sops") is not None:
        plain = decrypt(doc.path, content) if decrypt else None
        if plain is None:
            return None
        parsed = decrypted if decrypted is not None else {}
        if (doc.path, plain) not in parsed:
            parsed[(doc.path, plain)] = parse_documents(doc.path, plain)
        docs, problems = parsed[(doc.path, plain)]
        if problems or doc.index >= len(docs):
            return None
        source = docs[doc.index]
    values: dict[str, str] = {}
    data = source.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            values[str(key)] = _decode(value) if doc.kind == "Secret" else _text(value)
    string_data = source.get("stringData")
    if isinstance(string_data, dict):
        values.update({str(k): _text(v) for k, v in string_data.items()})
    return values


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _decode(value: object) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
