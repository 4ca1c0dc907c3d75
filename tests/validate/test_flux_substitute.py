"""Flux's variable syntax, as kustomize-controller applies it."""

from __future__ import annotations

import pytest

from generator.validate.substitute import envsubst

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
