"""Findings about a file an override or a merge patch produced, told as the user's own file."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from generator.errors import Problem


def attribute(
    problems: Sequence[Problem | str],
    origins: Mapping[str, str],
    edited: Collection[str] = (),
) -> list[Problem | str]:
    """Each problem in a file of `origins` (rendered path → `overrides/x` or
    `overrides/patches/p.yaml:3`, RenderedTree.origins) moved to that file: a copied
    override keeps the line (same bytes); a rendered override or a patch names the line
    of the rendered file in the message (and a patch its own document's line).

    `edited`: paths of `origins` whose planned content is not exactly the render (a hand
    edit merged in, or kept as on disk). A problem there may be the user's own edit, so it
    stays on the file on disk, which is said to hold the edit and the override's render."""
    moved: list[Problem | str] = []
    for problem in problems:
        origin = origins.get(problem.file) if isinstance(problem, Problem) else None
        if origin is None or not isinstance(problem, Problem):
            moved.append(problem)
            continue
        at = f"{problem.file}:{problem.line}" if problem.line else problem.file
        file, _, line = origin.partition(":")
        if problem.file in edited:
            by = f"the render as patched by {origin}" if line else f"the render of {origin}"
            message = f"{problem.message} (this file holds your hand edit merged with {by})"
            moved.append(replace(problem, message=message))
        elif line:
            message = f"{problem.message} (in {at}, as patched)"
            moved.append(Problem(problem.key, message, file, int(line)))
        elif file.endswith(".j2"):
            moved.append(Problem(problem.key, f"{problem.message} (in {at}, as rendered)", file))
        else:
            moved.append(Problem(problem.key, problem.message, file, problem.line))
    return moved
