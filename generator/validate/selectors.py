"""Kubernetes label selector strings (`a=b,c!=d,e in (f,g),h notin (i),j,!k`), as
kustomize reads `patches[].target.labelSelector` and `annotationSelector`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.errors import shown

# One requirement: `!key`, `key`, `key op value` or `key in|notin (v1, v2)`.
_TERM = re.compile(
    r"""\s*(?:
        !\s*(?P<absent>[^\s,!=()]+)
      | (?P<key>[^\s,!=()]+)\s*(?:
            (?P<op>==|=|!=)\s*(?P<value>[^\s,!=()]*)
          | \s(?P<set_op>in|notin)\s*\((?P<values>[^()]*)\)
        )?
    )\s*(?:,|$)""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, exists, !exists
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        present = self.key in labels
        value = str(labels.get(self.key)) if present else None
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if self.operator == "in":
            return value in self.values
        return value not in self.values  # notin (and !=) also match an absent label


def parse_selector(text: str) -> list[Requirement]:
    """The requirements of `text`; ValueError naming the part that is not a selector."""
    requirements: list[Requirement] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TERM.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot read label selector {shown(text)} at {shown(text[pos:])}")
        pos = match.end()
        if match["absent"]:
            requirements.append(Requirement(match["absent"], "!exists"))
        elif match["set_op"]:
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["key"], match["set_op"], values))
        elif match["op"]:
            operator = "notin" if match["op"] == "!=" else "in"
            requirements.append(Requirement(match["key"], operator, frozenset({match["value"]})))
        else:
            requirements.append(Requirement(match["key"], "exists"))
        if pos < len(text) and text[pos - 1] != ",":
            raise ValueError(f"cannot read label selector {shown(text)} at {shown(text[pos:])}")
    return requirements


def selector_matches(text: str, labels: Mapping[str, Any]) -> bool:
    return all(r.matches(labels) for r in parse_selector(text))
