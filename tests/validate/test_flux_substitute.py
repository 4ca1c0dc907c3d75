"""Flux's variable syntax, as kustomize-controller applies it."""

from __future__ import annotations

import pytest

from generator.validate.documents import parse_documents
from generator.validate.substitute import Decrypted, envsubst, values_of
from tests.validate.conftest import Decrypt, Tree

VARS = {"DOMAIN": "example.com", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host: a.${DOMAIN}", "host: a.example.com"),
        ("${MISSING:=fallback}", "fallback"),
        ("${EMPTY:=fallback}", "fallback"),
        ("${EMPTY=fallback}", ""),
        ("${DOMAIN:-other}", "example.com"),
        ("${MISSING-x}", "x"),
        ("literal $${DOMAIN}", "literal ${DOMAIN}"),
        ("$DOMAIN and {{ .Values.x }}", "$DOMAIN and {{ .Values.x }}"),
        ("${1bad}", "${1bad}"),
    ],
)
def test_envsubst(text: str, expected: str) -> None:
    assert envsubst(text, VARS)[0] == expected


def test_missing_variables_are_empty_and_reported() -> None:
    assert envsubst("a${NOPE}b", VARS) == ("ab", ["NOPE"])
    assert envsubst("a${NOPE}b", VARS, keep_missing=True) == ("a${NOPE}b", ["NOPE"])


def test_a_decrypted_secret_is_parsed_once_per_run(clean_tree: Tree, decrypt: Decrypt) -> None:
    # Several Kustomizations substitute from cluster-secrets: one parse of its plaintext.
    path = "kubernetes/components/common/cluster-secrets.sops.yaml"
    [doc] = parse_documents(path, clean_tree[path])[0]
    decrypted: Decrypted = {}
    assert values_of(doc, decrypt, clean_tree[path], decrypted) == {"SECRET_DOMAIN": "example.com"}
    [(docs, problems)] = decrypted.values()
    assert not problems
    docs[0].data["stringData"]["SECRET_DOMAIN"] = "kept.example"  # what answers shows
    assert values_of(doc, decrypt, clean_tree[path], decrypted) == {"SECRET_DOMAIN": "kept.example"}
    assert values_of(doc, decrypt, clean_tree[path]) == {"SECRET_DOMAIN": "example.com"}
