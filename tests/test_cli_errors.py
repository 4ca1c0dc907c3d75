"""Every user error through the real CLI (a subprocess, no TTY): exit 1, one screen, no traceback.

Each case breaks one thing in a fresh workdir and names what the message must
contain: the file (and line), and the fix. Every case runs through `cli.main`;
a few also run as a real process (in parallel, to stay fast).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generator import cli
from generator.init_dir import init_workdir
from generator.paths import SAMPLE_CONFIG
from generator.secrets.keys import generate_age_key, parse_age_key
from generator.secrets.sops import Sops
from tests.process import run_clustergen

ONE_SCREEN = 15
SECRET = "cf-t0ken-never-shown"
# Where the sample's first node MAC stands: the error must name that line.
MAC_LINE = next(
    number
    for number, line in enumerate(SAMPLE_CONFIG.read_text().splitlines(), start=1)
    if 'mac_addr: "02:00:00:00:00:10"' in line
)


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    expected: tuple[str, ...]  # substrings of stderr: where, and what to do
    setup: Callable[[Path], None] = lambda workdir: None
    env: dict[str, str] = field(default_factory=dict)


def _config(text: str | bytes) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        data = text.encode() if isinstance(text, str) else text
        (workdir / "cluster.yaml").write_bytes(data)

    return setup


def _edit(old: str, new: str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        config = workdir / "cluster.yaml"
        text = config.read_text()
        assert old in text, old
        config.write_text(text.replace(old, new, 1))

    return setup


def _both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        for step in steps:
            step(workdir)

    return setup


def _remove(name: str) -> Callable[[Path], None]:
    return lambda workdir: (workdir / name).unlink()


def _write(name: str, content: str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        # init leaves clustergen's state directory (its lock) behind: a file takes its place.
        if (workdir / name).is_dir():
            shutil.rmtree(workdir / name)
        (workdir / name).write_text(content)

    return setup


def _directory(name: str) -> Callable[[Path], None]:
    return lambda workdir: (workdir / name).mkdir(parents=True)


def _tracked(name: str) -> Callable[[Path], None]:
    def setup(workdir: Path) -> None:
        subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
        subprocess.run(["git", "add", name], cwd=workdir, check=True)

    return setup


def _overlay_for_another_key(workdir: Path) -> None:
    other = parse_age_key(generate_age_key()).public
    rules = workdir / "other-rules.yaml"
    rules.write_text(f"creation_rules:\n  - age: {other}\n")
    plaintext = f"dns:\n  token: {SECRET}\n".encode()
    ciphertext = Sops(config=rules).encrypt(plaintext, "cluster.secrets.sops.yaml")
    (workdir / "cluster.secrets.sops.yaml").write_bytes(ciphertext)
    rules.unlink()


BROKEN_RULES = _both(
    _edit("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.5/24"),
    _edit("service_cidr: 10.43.0.0/16", "service_cidr: 10.42.128.0/17"),
    _edit("name: k8s-1", "name: k8s-0"),
    _edit("mode: direct", "mode: drect"),
    _edit("  branch: main", "  brnch: main"),
)


def _laughs(levels: int = 9) -> str:
    """The 'billion laughs' (11 KB at 9 levels is not needed: 10 items a level will do)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


LAUGHS = _laughs()
CHECK = ("check",)
CONFIGURE = ("configure", "--no-validate")
CASES: dict[str, Case] = {
    "tabs": Case(CHECK, ("cluster.yaml:2:1:", "spaces, not tabs"),
                 _config("network:\n\tnode_cidr: 10.0.0.0/24\n")),
    "unclosed bracket": Case(CHECK, ("cluster.yaml:2:24:", "at the end of the file",
                                     "close the '['"),
                             _config("network:\n  dns_servers: [1.1.1.1\n")),
    "duplicate keys": Case(CHECK, ("cluster.yaml:3:1 network:", "lines 1 and 3", "keep one"),
                           _config("network: {}\nnodes: []\nnetwork: {}\n")),
    "empty file": Case(CHECK, ("cluster.yaml:", "empty", "cluster.sample.yaml"), _config("")),
    "list at the top": Case(CHECK, ("cluster.yaml:1:1:", "must be a mapping"),
                            _config("- network\n- nodes\n")),
    "binary garbage": Case(CHECK, ("cluster.yaml:1:", "not UTF-8"),
                           _config(bytes(range(128, 256)) * 4)),
    "missing file": Case(CHECK, ("cluster.yaml", "not found", "clustergen init"),
                         _remove("cluster.yaml")),
    "broken rules, all at once": Case(CHECK, (
        "cluster.yaml:15:3 network.node_cidr:", "use the network address 192.168.1.0/24",
        "kubernetes.service_cidr:", "overlaps kubernetes.pod_cidr",
        "nodes[1].name: name 'k8s-0' is also used by nodes[0]",
        "ingress.mode: must be one of", "did you mean 'direct'?",
        "repository.brnch: unknown key 'brnch' (did you mean 'branch'?)",
        "5 error(s)",
    ), BROKEN_RULES),
    "missing age.key": Case(CONFIGURE, ("age.key: missing", "task init"), _remove("age.key")),
    "corrupt age.key": Case(CONFIGURE, ("age.key holds no age secret key", "task init"),
                            _write("age.key", "not a key\n")),
    "missing tunnel credentials": Case(
        CONFIGURE,
        ("cloudflare-tunnel.json: missing", "ingress.mode is cloudflare-tunnel",
         "cloudflared tunnel create"),
        _edit("mode: direct", "mode: cloudflare-tunnel"),
    ),
    "git-tracked age.key": Case(
        CONFIGURE, ("age.key is tracked by git", "git rm --cached age.key", ".gitignore"),
        _tracked("age.key"),
    ),
    "missing sops": Case(CONFIGURE, ("CLUSTERGEN_SOPS is /nonexistent", "unset CLUSTERGEN_SOPS"),
                         env={"CLUSTERGEN_SOPS": "/nonexistent"}),
    "overlay for another key": Case(
        CONFIGURE,
        ("cannot decrypt cluster.secrets.sops.yaml", "age.key (age1", "age.key.old"),
        _overlay_for_another_key,
    ),
    "plaintext overlay": Case(
        CONFIGURE, ("cluster.secrets.sops.yaml is not encrypted", "sops encrypt"),
        _write("cluster.secrets.sops.yaml", f"dns:\n  token: {SECRET}\n"),
    ),
    "secrets check before configure": Case(("secrets", "check"), (".sops.yaml", "configure")),
    # Hostile or odd input: each used to end in exit 2 (an internal error) or in a hang.
    "billion laughs": Case(CHECK, ("cluster.yaml:5:45:", "expands to more than 100000 values",
                                   "at most 100000 are allowed"), _config(LAUGHS)),
    "billion laughs, configure": Case(CONFIGURE, ("expands to more than 100000 values",),
                                      _config(LAUGHS)),
    "500 levels of nesting": Case(CHECK, ("cluster.yaml:23:36:", "nested more than 32 levels deep",
                                          "at most 32 are allowed"),
                                  _edit("# vlan_tag: 20", "x: " + "[" * 500 + "]" * 500)),
    "superscript digit as VLAN": Case(CHECK, ("cluster.yaml:23:3 network.vlan_tag:",
                                              "must be a VLAN ID from 1 to 4094", "(got '²')"),
                                      _edit("# vlan_tag: 20", 'vlan_tag: "²"')),
    "huge integer": Case(CHECK, ("cluster.yaml:23:3 network.vlan_tag:",
                                 "integer of 401 digits is too large; at most 19 are allowed"),
                         _edit("# vlan_tag: 20", f"vlan_tag: {10**400}")),
    "lone surrogate": Case(CHECK, ("cluster.yaml:63:9 domain.name:", "\\ud800 is half of a "
                                   "UTF-16 surrogate pair", "write the character itself"),
                           _edit("name: example.com", 'name: "example\\ud800.com"')),
    "trailing newline in a MAC": Case(CHECK, (f"cluster.yaml:{MAC_LINE}:5 nodes[0].mac_addr: "
                                              "holds a line break (U+000A)", "one line of text"),
                                      _edit('mac_addr: "02:00:00:00:00:10"',
                                            'mac_addr: "02:00:00:00:00:10\\n"')),
    "token in repository.url": Case(CHECK, ("cluster.yaml:51:3 repository.url:",
                                            "got 'https://***@github.com/example/home-ops'",
                                            "credentials do not belong in the URL"),
                                    _edit("url: https://github.com/example/home-ops",
                                          f"url: https://x:{SECRET}@github.com/example/home-ops")),
    "manifest is a directory": Case(CONFIGURE, (".clustergen/manifest.json is a directory",
                                                "move the directory elsewhere"),
                                    _directory(".clustergen/manifest.json")),
    ".clustergen is a file": Case(CONFIGURE, (".clustergen in ", " is a file, but clustergen "
                                                  "keeps its state in a directory",
                                                  "move the file away"),
                                  _write(".clustergen", "")),
}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def _workdir(tmp_path: Path, case: Case) -> Path:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    init_workdir(tmp_path)
    case.setup(tmp_path)
    return tmp_path


def _assert_user_error(outcome: Outcome, expected: tuple[str, ...]) -> None:
    shown = outcome.stdout + outcome.stderr
    assert outcome.returncode == 1, shown
    assert "Traceback" not in shown
    assert len(shown.splitlines()) <= ONE_SCREEN, shown
    assert SECRET not in shown
    for text in expected:
        assert text in shown, f"{text!r} not in:\n{shown}"


@pytest.mark.parametrize("name", CASES)
def test_user_error_is_exit_1_on_one_screen(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    workdir = _workdir(tmp_path, case)
    for var in [v for v in os.environ if v.startswith("SOPS_")] + ["CLUSTERGEN_SOPS"]:
        monkeypatch.delenv(var, raising=False)
    for var, value in case.env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.chdir(workdir)
    returncode = cli.main(list(case.argv))
    captured = capsys.readouterr()
    _assert_user_error(Outcome(returncode, captured.out, captured.err), case.expected)


# The same path through a real process without a TTY, for a few representative cases: a
# YAML error, a character the process's stdout must encode, a tool that is not there, a
# file system error (every case runs in this process above).
IN_A_PROCESS = ("unclosed bracket", "missing sops", "lone surrogate", "manifest is a directory")


def _run(workdir: Path, case: Case) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env.update({"CLUSTERGEN_SOPS": "", **case.env})
    result = run_clustergen(case.argv, cwd=workdir, env=env)
    return Outcome(result.returncode, result.stdout, result.stderr)


def test_user_errors_in_a_process_without_a_tty(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdirs = {
        name: _workdir(tmp_path_factory.mktemp("cli"), CASES[name]) for name in IN_A_PROCESS
    }
    with ThreadPoolExecutor(max_workers=len(IN_A_PROCESS)) as pool:
        futures = {name: pool.submit(_run, workdirs[name], CASES[name]) for name in IN_A_PROCESS}
    for name, future in futures.items():
        _assert_user_error(future.result(), CASES[name].expected)
