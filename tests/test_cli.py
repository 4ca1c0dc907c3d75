"""The CLI edge: exit codes, one-screen errors, no prompts."""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

import generator
from generator import cli
from generator.paths import SAMPLE_CONFIG
from tests.process import run_clustergen


def test_check_accepts_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config", str(SAMPLE_CONFIG)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "3 nodes" in out


def test_user_error_is_one_line_per_problem_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text(
        SAMPLE_CONFIG.read_text().replace("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.7/24")
    )
    assert cli.main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cluster.yaml:" in err and "network.node_cidr" in err and "192.168.1.0/24" in err


def test_internal_bug_is_exit_2_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_: argparse.Namespace) -> int:
        raise RuntimeError("simulated bug")

    # A handler that raises something other than ClusterGenError stands for any bug.
    monkeypatch.setattr(cli, "build_parser", _parser_with(broken))
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert "--debug" in err and "Traceback" not in err
    assert cli.main(["--debug", "check"]) == 2
    assert "Traceback" in capsys.readouterr().err


def _parser_with(handler: cli.Handler) -> Callable[[], argparse.ArgumentParser]:
    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices["check"].set_defaults(handler=handler)  # type: ignore[index]
        return parser

    return build


def test_runs_without_a_tty(tmp_path: Path) -> None:
    result = run_clustergen(["init", "--dir", str(tmp_path)], timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cluster.yaml").read_text().startswith("# yaml-language-server: $schema=")


@pytest.mark.parametrize("argv", [["chek"], [], ["check", "--confg", "x"], ["secrets", "chek"]])
def test_usage_errors_are_user_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # argparse would exit 2, which here means a bug in clustergen.
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("usage: clustergen") and "error:" in err


def _sys_stream(node: ast.Attribute) -> bool:
    return (
        isinstance(node.value, ast.Name)
        and node.value.id == "sys"
        and node.attr in {"stdout", "stderr"}
    )


def test_only_the_cli_prints() -> None:
    """Commands return reports (generator/report.py); cli.py alone writes to stdout/stderr."""
    package = Path(generator.__file__).parent
    printing = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "cli.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func if isinstance(node, ast.Call) else None
            if isinstance(called, ast.Name) and called.id == "print":
                printing.append(f"{path.relative_to(package)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and _sys_stream(node):
                printing.append(f"{path.relative_to(package)}:{node.lineno}")
    assert printing == []


def test_a_signal_after_the_command_ends_is_still_interrupted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # SIGTERM raises KeyboardInterrupt (cli._terminated); one that lands while main puts
    # the previous handler back is outside _run's except clauses.
    real = cli.signal.signal
    calls: list[int] = []

    def delivered_on_restore(signum: int, handler: object) -> object:
        calls.append(signum)
        if len(calls) == 2:
            real(signum, handler)  # type: ignore[arg-type]
            raise KeyboardInterrupt
        return real(signum, handler)  # type: ignore[arg-type]

    monkeypatch.setattr(cli.signal, "signal", delivered_on_restore)
    assert cli.main(["check", "--config", str(SAMPLE_CONFIG)]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.endswith("interrupted\n")


def test_a_reader_that_leaves_is_not_an_internal_error() -> None:
    # `clustergen ... | head -1`: the pipe closes before the output is written.
    read, write = os.pipe()
    os.close(read)
    try:
        done = _check_writing_to(write)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr


def _check_writing_to(stdout: int | IO[str]) -> subprocess.CompletedProcess[str]:
    """`clustergen check` of the sample in a child whose stdout is `stdout`."""
    return subprocess.run(
        [sys.executable, "-m", "generator", "check", "--config", str(SAMPLE_CONFIG)],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CI": "true"},
        timeout=60,
        check=False,
    )


def test_a_process_run_ends_with_its_exit_handlers_run_and_its_output_flushed(
    tmp_path: Path,
) -> None:
    """`main()` ends its process without the interpreter's teardown (cli._exit): what the
    teardown would have done that matters still happens."""
    marker = tmp_path / "handler-ran"
    script = (
        "import atexit, pathlib, sys\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        f"sys.argv = ['clustergen', 'check', '--config', {str(SAMPLE_CONFIG)!r}]\n"
        "from generator.cli import main\n"
        "main()\n"
        "print('not reached')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,  # a pipe: stdout is block-buffered until flushed
        text=True,
        env={**os.environ, "CI": "true"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ") and "not reached" not in done.stdout
    assert marker.read_text() == "yes"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_output_that_cannot_be_written_is_an_error_not_an_internal_one() -> None:
    with open("/dev/full", "w") as full:
        done = _check_writing_to(full)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: cannot write the output: No space left"), done.stderr
