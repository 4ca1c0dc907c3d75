"""Findings for people (grouped lines with counts) and for the error types."""

from __future__ import annotations

from collections.abc import Sequence

from generator.errors import Problem, ValidationFailed
from generator.validate.documents import Finding


def _order(finding: Finding) -> tuple[str, int, str]:
    return (finding.path, finding.line or 0, finding.message)


def format_report(findings: Sequence[Finding]) -> str:
    """Errors then warnings, each sorted by file and line, ending in a one-line count."""
    errors = sorted((f for f in findings if f.severity == "error"), key=_order)
    warnings = sorted((f for f in findings if f.severity == "warning"), key=_order)
    lines = [str(f) for f in errors]
    if warnings:
        if lines:
            lines.append("")
        lines.append("warnings:")
        lines += [f"  {f}" for f in warnings]
    # Tree-wide findings (offline schemas) have no file.
    files = len({f.path for f in errors if f.path})
    summary = f"{len(errors)} error(s)" if errors else "ok: no errors"
    if files:
        summary += f" in {files} file(s)"
    if warnings:
        summary += f", {len(warnings)} warning(s)"
    lines.append(summary)
    return "\n".join(lines)


def as_problems(findings: Sequence[Finding]) -> list[Problem]:
    return [
        Problem(key=f.obj, message=f.message, file=f.path, line=f.line)
        for f in sorted(findings, key=_order)
        if f.severity == "error"
    ]


def raise_for_errors(findings: Sequence[Finding]) -> None:
    """For callers that stop on errors (configure): ValidationFailed listing each one."""
    problems = as_problems(findings)
    if problems:
        raise ValidationFailed(problems)
