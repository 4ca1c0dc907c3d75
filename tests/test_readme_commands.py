"""Every command in the README's shell blocks runs as written in a fresh clone.

Every fenced block tagged sh, bash, shell or console is read (console: the `$ ` lines),
continuation lines joined, and split into simple commands at `|`, `||`, `&&` and `;`.
Each command's program must resolve on a fresh clone with only uv installed:
`uv run PROGRAM` for what the project's environment installs (clustergen, task, sops,
pre-commit, ...), `git` and the shell's own utilities, the tools the README's Tools section
tells the reader to install, and `task`/`clustergen` bare only after a line that activates
the environment. `uv run task NAME` must name a task of Taskfile.yaml and
`uv run clustergen NAME` a clustergen command. The cheap, harmless ones run for real.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from generator.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
SHELL_TAGS = {"sh", "bash", "shell", "console"}
OPERATORS = {"|", "||", "&&", ";", "&"}
# The shell's builtins and POSIX utilities every machine has.
SHELL = {
    "cd", "echo", "printf", "export", "source", ".", "test", "[", "mv", "cp", "rm", "mkdir",
    "cat", "ls", "chmod", "ln", "touch", "true", "false", "exit", "set", "unset", "grep",
    "sed", "head", "tail", "sort", "diff", "env", "git", "curl",
}  # fmt: skip
ACTIVATE = re.compile(r"^(source|\.) \.venv/bin/activate\b")
# Safe to run for real from the repository root: they read, print and exit 0.
RUN_FOR_REAL = {("uv", "run", "task", "--list"), ("uv", "run", "clustergen", "--help")}


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    line: int  # of README.md, 1-based
    activated: bool  # an activation line came before it in its block

    def __str__(self) -> str:
        return f"README.md:{self.line}: {' '.join(self.words)}"


def shell_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(line of the first body line, tag, body lines) of every fenced shell block."""
    blocks: list[tuple[int, str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)(`{3,}|~{3,})\s*([\w-]*)", lines[i])
        if not match:
            i += 1
            continue
        fence, tag = match.group(2), match.group(3).lower()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if tag in SHELL_TAGS:
            blocks.append((i + 2, tag, lines[i + 1 : end]))
        i = end + 1
    return blocks


def commands(text: str) -> list[Command]:
    found: list[Command] = []
    for first, tag, body in shell_blocks(text):
        activated = False
        logical: list[tuple[int, str]] = []
        for offset, raw in enumerate(body):
            line = raw.strip()
            if tag == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            continued = logical and (logical[-1][1].endswith("\\") or line.startswith("|"))
            if continued:
                number, previous = logical.pop()
                logical.append((number, previous.removesuffix("\\") + " " + line))
            elif line and not line.startswith("#"):
                logical.append((first + offset, line))
        for number, line in logical:
            if ACTIVATE.match(line):
                activated = True
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            current: list[str] = []
            for token in [*lexer, ";"]:
                if token in OPERATORS:
                    if current:
                        found.append(Command(tuple(current), number, activated))
                    current = []
                else:
                    current.append(token)
    return found


def program(words: tuple[str, ...]) -> tuple[str, ...]:
    """The command without leading `NAME=value` assignments and redirections."""
    rest = list(words)
    while rest and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", rest[0]):
        rest.pop(0)
    return tuple(rest)


def tools_section(text: str) -> set[str]:
    """The programs the Tools section's table names (backticked words in its rows)."""
    section = text.split("\n## Tools\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return {w for row in rows for w in re.findall(r"`([a-z][a-z0-9-]*)`", row)}


def task_names() -> set[str]:
    return set(yaml.safe_load((ROOT / "Taskfile.yaml").read_text())["tasks"])


def clustergen_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[arg-type]


def problem(command: Command, installed: set[str]) -> str | None:
    """Why `command` would not run as written on a fresh clone, or None."""
    words = program(command.words)
    if not words:
        return None
    name = words[0]
    if name == "uv":
        if words[1:2] != ("run",):
            return None if words[1:2] in {("sync",), ("pip",)} else "only `uv run`/`uv sync`"
        args = [w for w in words[2:] if not w.startswith("--")] or [""]
        inner = args[0]
        if not (VENV_BIN / inner).is_file():
            return f"{inner!r} is not installed by `uv sync` in this project"
        return _subcommand(inner, words[words.index(inner) + 1 :])
    if name in {"task", "clustergen", "sops", "pre-commit"}:
        if not command.activated:
            return f"`{name}` needs `uv run {name}` (or activating .venv first)"
        return _subcommand(name, words[1:])
    if name in SHELL or name in installed:
        return None
    return f"`{name}` is neither `uv run …`, a shell utility, nor a tool of the Tools section"


def _subcommand(name: str, args: tuple[str, ...]) -> str | None:
    positional = [a for a in args if not a.startswith("-")]
    if name == "task" and positional and positional[0] not in task_names():
        return f"Taskfile.yaml has no task {positional[0]!r}"
    if name == "clustergen" and positional and positional[0] not in clustergen_commands():
        return f"clustergen has no command {positional[0]!r}"
    return None


def test_the_extractor_reads_every_kind_of_block() -> None:
    text = (
        "```console\n$ uv run task --list\noutput\n```\n"
        "```bash\nprintf x \\\n  | uv run sops encrypt /dev/stdin > f  # note\n"
        "A=b task check && kubectl get nodes\n```\n"
        "```yaml\nnot: a command\n```\n"
    )
    found = [(c.line, program(c.words)[:3]) for c in commands(text)]
    assert found == [
        (2, ("uv", "run", "task")),
        (6, ("printf", "x")),
        (6, ("uv", "run", "sops")),
        (8, ("task", "check")),
        (8, ("kubectl", "get", "nodes")),
    ]
    bare = commands(text)[3]
    assert problem(bare, set()) == "`task` needs `uv run task` (or activating .venv first)"
    activated = commands("```sh\nsource .venv/bin/activate\ntask nope\n```\n")[1]
    assert problem(activated, set()) == "Taskfile.yaml has no task 'nope'"
    assert problem(commands("```sh\nkubectl get pods\n```\n")[0], set()) is not None


def test_every_readme_command_resolves() -> None:
    text = README.read_text(encoding="utf-8")
    found = commands(text)
    assert len(found) >= 5
    installed = tools_section(text)
    assert {"talhelper", "talosctl", "kubectl", "flux", "helmfile", "cloudflared"} <= installed
    problems = [f"{c}: {why}" for c in found if (why := problem(c, installed))]
    assert not problems, "\n".join(problems)


def test_the_safe_commands_run_for_real() -> None:
    """`uv run task --list`, `uv run clustergen --help` and every README doctor command."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    listed = {program(c.words) for c in commands(README.read_text(encoding="utf-8"))}
    doctors = {w for w in listed if w[:4] == ("uv", "run", "clustergen", "doctor")}
    assert doctors, "the README shows `uv run clustergen doctor`"
    for words in sorted(RUN_FOR_REAL | doctors):
        result = subprocess.run(
            [uv, *words[1:]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        # doctor's status depends on this machine's tools; that it runs is what counts.
        ok = result.returncode in ((0, 1) if words in doctors else (0,))
        assert ok and result.stdout, (words, result.stdout, result.stderr)
