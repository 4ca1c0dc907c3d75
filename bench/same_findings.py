"""Does validation (and config loading) find exactly what it found before a change?

A pytest plugin and a diff, for changes that must not alter findings (issue 19):

    # record, once on the old code and once on the new, with the same tests
    uv run python -m pytest -p bench.same_findings --same-findings=/tmp/new.json \\
        --hypothesis-seed=0 tests/validate tests/pipeline ...
    # compare: exit status 1 and the differing calls when they differ
    uv run python bench/same_findings.py /tmp/old.json /tmp/new.json

(`python -m pytest`, so that `bench` is importable from the repository root.) For another
checkout, run its own pytest with this plugin on the path: `cd OLD && PYTHONPATH=bench
uv run python -m pytest -p same_findings ...` after copying this file into OLD/bench/.
Run without `-n` (pytest-xdist workers would each write the file), and with a fixed
`--hypothesis-seed` so that property tests load the same configs in both runs.

The plugin wraps `generator.validate.validate_tree` and `generator.config.load_cluster`
before any test module imports them and records, per test (its node id), every call
in order: for validation each finding as (path, line, severity, text); for config
loading the warnings' text, a digest of the loaded values, or the error raised (its
type and text). Temporary directories in the texts are replaced by `<tmp>`, so two
runs compare equal when only pytest's scratch paths differ.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

_TMP = re.compile(r"/(?:dev/shm|tmp)/pytest-of-[^/\s]+/pytest-\d+/[^/\s]+/")
_RECORD: dict[str, list[Any]] = {}
_current = ["(outside a test)"]


def _scrub(text: str) -> str:
    return _TMP.sub("<tmp>/", text)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--same-findings",
        metavar="PATH",
        default=None,
        help="record every validate_tree / load_cluster result per test into PATH (JSON)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--same-findings"):
        _install()


def _install() -> None:
    import generator.config
    import generator.validate
    import generator.validate.tree

    # The package's name (configure) and the module's own (`clustergen validate`).
    recording = _recording_validate(generator.validate.tree.validate_tree)
    generator.validate.validate_tree = recording  # type: ignore[assignment]
    generator.validate.tree.validate_tree = recording  # type: ignore[assignment]
    generator.config.load_cluster = _recording_load(generator.config.load_cluster)  # type: ignore[assignment]


def _recording_validate(validate: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(validate)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        findings = validate(*args, **kwargs)
        rows = [[f.path, f.line, f.severity, _scrub(str(f))] for f in findings]
        _RECORD.setdefault(_current[0], []).append({"validate": rows})
        return findings

    return recorded


def _recording_load(load: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        try:
            cluster = load(*args, **kwargs)
        except Exception as err:
            entry: dict[str, Any] = {"config_error": [type(err).__name__, _scrub(str(err))]}
            _RECORD.setdefault(_current[0], []).append(entry)
            raise
        values = json.dumps(cluster.values, sort_keys=True, default=repr)
        _RECORD.setdefault(_current[0], []).append(
            {
                "config": [_scrub(str(w)) for w in cluster.warnings],
                "values": hashlib.sha256(_scrub(values).encode()).hexdigest()[:16],
            }
        )
        return cluster

    return recorded


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _current[0] = item.nodeid
    yield
    _current[0] = "(outside a test)"


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.getoption("--same-findings")
    if path:
        Path(path).write_text(json.dumps(_RECORD, indent=1, sort_keys=True) + "\n")


# --- the comparison -----------------------------------------------------------------


def counts(record: dict[str, list[Any]]) -> tuple[int, int, int, int]:
    """(tests that called either, validations, findings, config loads) of one record."""
    validations = [c["validate"] for calls in record.values() for c in calls if "validate" in c]
    loads = sum(1 for calls in record.values() for c in calls if "validate" not in c)
    return len(record), len(validations), sum(len(v) for v in validations), loads


def differences(old: dict[str, list[Any]], new: dict[str, list[Any]]) -> list[str]:
    """One line per test whose recorded calls differ (or that only one record has)."""
    lines = []
    for test in sorted(old.keys() | new.keys()):
        if test not in new:
            lines.append(f"{test}: only in the first record")
        elif test not in old:
            lines.append(f"{test}: only in the second record")
        elif old[test] != new[test]:
            calls = max(len(old[test]), len(new[test]))
            for i in range(calls):
                a = old[test][i] if i < len(old[test]) else None
                b = new[test][i] if i < len(new[test]) else None
                if a != b:
                    lines.append(f"{test}: call {i + 1}:\n  - {a}\n  + {b}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="compare two --same-findings records")
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    old, new = (json.loads(p.read_text()) for p in (args.old, args.new))
    for name, record in (("first", old), ("second", new)):
        tests, validations, findings, loads = counts(record)
        print(
            f"{name}: {tests} tests, {validations} validations, {findings} findings, "
            f"{loads} config loads"
        )
    diff = differences(old, new)
    print("\n".join(diff) if diff else "identical")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
