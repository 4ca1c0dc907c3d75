"""Command line edge: parse arguments, call one function, turn errors into exit codes.

Exit codes: 0 ok, 1 something the user can fix (ClusterGenError), 2 a bug in
clustergen (any other exception; the traceback only with --debug).
Handlers import their modules lazily so `clustergen check` stays fast.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import gc
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from generator import __version__
from generator.errors import ClusterGenError, Problem
from generator.interrupts import INTERRUPTED, interrupted
from generator.lifecycle import APPLY_MODES, NODE_TIMEOUT

if TYPE_CHECKING:
    from generator.report import Report

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means a bug, and a typo is the user's to fix."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _cmd_init(args: argparse.Namespace) -> int:
    from generator.init_dir import init_workdir, missing

    if args.check:  # Taskfile's init-if-needed: status 1 while init would create a file
        return 1 if missing(args.dir) else 0
    for line in init_workdir(args.dir):
        print(line)
    return 0


def _warn(problem: Problem) -> None:
    print(f"warning: {problem}", file=sys.stderr)


def _cmd_check(args: argparse.Namespace) -> int:
    from generator.pipeline import check

    for line in check(args.config, warn=_warn, strict=args.strict):
        print(line)
    return 0


def _cmd_configure(args: argparse.Namespace) -> int:
    from generator import validation_worker
    from generator.validation_scope import may_validate, stamp_inputs

    # Forked before the pipeline's imports, which it then overlaps (validation_worker.py);
    # only for a process of its own: an in-process caller's state stays in its process.
    config = Path(args.config).absolute()
    if (
        args.own_process
        and not args.no_validate
        and may_validate(config.parent, stamp_inputs(config))
    ):
        validation_worker.start()
    try:
        from generator.pipeline import configure

        report = configure(
            args.config, force=args.force, validate=not args.no_validate, warn=_warn,
            strict=args.strict, keep_mine=args.keep_mine, take_theirs=args.take_theirs,
        )  # fmt: skip
    finally:
        validation_worker.stop()
    print(report)
    return 0


def _emit(report: Report) -> int:
    """Print a command's report; its status is the exit code."""
    if report.text:
        sys.stdout.write(report.text if report.text.endswith("\n") else f"{report.text}\n")
    return report.status


def _cmd_migrate(args: argparse.Namespace) -> int:
    from generator.migrations.command import run_migrate

    return _emit(run_migrate(args.config, dry_run=args.dry_run, check=args.check))


def _cmd_validate(args: argparse.Namespace) -> int:
    from generator.validate import run_validate

    return _emit(run_validate(args.dir, schema_locations=args.schema_location, strict=args.strict))


def _cmd_diff(args: argparse.Namespace) -> int:
    from generator.diff import run_diff
    from generator.diff.color import wanted

    report = run_diff(
        args.config,
        against=args.against,
        output_format=args.format,
        check=args.check,
        color=wanted(sys.stdout, os.environ),
    )
    return _emit(report)


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from generator.upgrade import run_upgrade_check

    return _emit(run_upgrade_check(args.config))


def _cmd_secrets(args: argparse.Namespace) -> int:
    from generator import secrets_commands as commands

    replace = [name for name, on in _replaced(args) if on]
    if replace and args.secrets_action != "rotate":
        raise ClusterGenError("--webhook-token and --deploy-key go with `secrets rotate`")
    if replace:
        return _emit(commands.rotate(args.dir, replace=replace))
    action: Callable[[Path], Report] = getattr(commands, args.secrets_action)
    return _emit(action(args.dir))


def _replaced(args: argparse.Namespace) -> list[tuple[str, bool]]:
    return [("webhook.token", args.webhook_token), ("deploy.key", args.deploy_key)]


def _cmd_sbom(args: argparse.Namespace) -> int:
    from generator.sbom import run_sbom

    return _emit(run_sbom(args.dir, output=args.output))


def _progress(line: str) -> None:
    print(line, file=sys.stderr)


def _cmd_talos(args: argparse.Namespace) -> int:
    from generator import talos

    if args.talos_action == "secret":
        return _emit(talos.secret(args.dir))
    return _emit(talos.bootstrap(args.dir, progress=_progress))


def _cmd_day_two(args: argparse.Namespace) -> int:
    """The day-two commands (generator/lifecycle/): notes and progress on stderr, the
    report (under --dry-run: the command lines) on stdout."""
    from generator.lifecycle import configs, reconcile, reset, upgrade

    common = {"dry_run": args.dry_run, "progress": _progress}
    action = args.talos_action if args.command == "talos" else args.command
    if action == "generate-config":
        report = configs.generate_config(args.dir, **common)
    elif action == "apply-node":
        report = configs.apply_node(
            args.dir, args.node, mode=args.mode, insecure=args.insecure, **common
        )
    elif action == "upgrade-node":
        if (args.node is None) == (not args.all):
            raise ClusterGenError("upgrade-node takes one node name, or --all for every node")
        report = upgrade.upgrade_nodes(
            args.dir, args.node, force=args.force, timeout=args.timeout, **common
        )
    elif action == "upgrade-k8s":
        report = upgrade.upgrade_k8s(args.dir, force=args.force, **common)
    elif action == "reset":
        report = reset.reset(args.dir, args.node, yes=args.yes, ask=_asker(), **common)
    else:
        report = reconcile.reconcile(args.dir, **common)
    return _emit(report)


def _asker() -> Callable[[str], str] | None:
    """input() where someone can answer: a terminal on stdin and CI unset."""
    if not sys.stdin.isatty() or os.environ.get("CI"):
        return None

    def ask(prompt: str) -> str:
        try:
            return input(prompt)
        except EOFError:  # Ctrl-D: no answer, so not confirmed
            return ""

    return ask


def _cmd_doctor(args: argparse.Namespace) -> int:
    from generator.doctor import doctor

    return _emit(doctor(args.dir, step=args.step))


def _parser() -> argparse.ArgumentParser:
    # One per process (per `build_parser`, which a test may replace): a process calling
    # `main` again and again (the tests) builds it once.
    if build_parser not in _PARSERS:
        _PARSERS[build_parser] = build_parser()
    return _PARSERS[build_parser]


_PARSERS: dict[Callable[[], argparse.ArgumentParser], argparse.ArgumentParser] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="clustergen",
        description="Render a Flux + Talos GitOps repository from cluster.yaml.",
    )
    parser.add_argument("--version", action="version", version=f"clustergen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def config_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            type=Path,
            default=Path("cluster.yaml"),
            help="path to cluster.yaml (default: ./cluster.yaml); output goes next to it",
        )

    p = add("init", _cmd_init, "create cluster.yaml and key files that are missing")
    p.add_argument("--dir", type=Path, default=Path("."), help="working directory (default: .)")
    p.add_argument(
        "--check", action="store_true", help="create nothing; exit 1 when a file is missing"
    )

    def strict_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--strict", action="store_true", help="warnings are errors (exit 1)")

    p = add("check", _cmd_check, "validate cluster.yaml and the side files, render nothing")
    config_arg(p)
    strict_arg(p)

    p = add("configure", _cmd_configure, "render, encrypt and write the repository")
    config_arg(p)
    strict_arg(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="replace every file in the way whole, your edits in it too (keeps .orig)",
    )
    p.add_argument(
        "--keep-mine",
        action="append",
        default=[],
        metavar="PATH",
        help="keep your version of PATH (as configure lists it); clustergen stops writing it",
    )
    p.add_argument(
        "--take-theirs",
        action="append",
        default=[],
        metavar="PATH",
        help="merge PATH, taking the new render where it conflicts with your edits "
        "(your other edits stay; keeps .orig)",
    )
    p.add_argument("--no-validate", action="store_true", help="skip validating the written tree")

    p = add("migrate", _cmd_migrate, "rewrite cluster.yaml in the current schema version")
    config_arg(p)
    p.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    p.add_argument(
        "--check", action="store_true", help="as --dry-run, and exit 1 when a migration is due"
    )

    p = add("validate", _cmd_validate, "validate a rendered tree")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."))
    p.add_argument(
        "--schema-location",
        action="append",
        default=[],
        metavar="TEMPLATE",
        help="kubeconform-style CRD schema location, e.g. DIR/{group}/{kind}_{version}.json",
    )
    p.add_argument("--strict", action="store_true", help="unknown kinds are errors")

    p = add("diff", _cmd_diff, "compare a fresh render with the working tree")
    config_arg(p)
    p.add_argument("--against", metavar="GIT_REF", help="compare with a git revision instead")
    p.add_argument("--format", choices=["unified", "summary", "json"], default="unified")
    p.add_argument("--check", action="store_true", help="exit 1 when anything differs")

    p = add(
        "upgrade",
        _cmd_upgrade,
        "after taking a newer clustergen: what configure would change, merge or refuse",
    )
    config_arg(p)
    p.add_argument(
        "--check",
        action="store_true",
        required=True,
        help="report only, write nothing (exit 1 when a hand edit conflicts)",
    )

    p = add("secrets", _cmd_secrets, "inventory, check or rotate sops-encrypted files")
    p.add_argument("secrets_action", choices=["inventory", "check", "rotate"])
    p.add_argument("--dir", type=Path, default=Path("."))
    for flag, name in (("--webhook-token", "webhook.token"), ("--deploy-key", "deploy.key")):
        p.add_argument(
            flag, action="store_true", help=f"rotate only: replace a leaked {name} (old kept)"
        )

    p = add("talos", _cmd_talos, "Talos: make the secret, bootstrap, and operate the nodes")
    _talos_commands(p)

    p = add("reconcile", _cmd_day_two, "make Flux apply the Git repository now")
    _day_two_args(p)

    p = add("sbom", _cmd_sbom, "write a CycloneDX inventory of charts and images")
    p.add_argument("--dir", type=Path, default=Path("."))
    p.add_argument("--output", type=Path, default=None, help="file to write (default: stdout)")

    p = add("doctor", _cmd_doctor, "report the tools each later step needs and their versions")
    p.add_argument("--dir", type=Path, default=Path("."))
    p.add_argument(
        "--step",
        choices=["configure", "bootstrap:talos", "bootstrap:apps", "operate"],
        help="the step to check for (default: the repository's next one); exit 1 when a "
        "tool it needs is missing",
    )
    return parser


def _day_two_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("."), help="the repository (default: .)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the commands, one per line; run nothing"
    )


def _talos_commands(talos: argparse.ArgumentParser) -> None:
    """`clustergen talos ACTION`: day zero (secret, bootstrap) and day two."""
    sub = talos.add_subparsers(dest="talos_action", required=True, metavar="ACTION")

    def add(name: str, help_text: str, handler: Handler = _cmd_day_two) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    for name, text in (
        ("secret", "create talos/talsecret.sops.yaml (the cluster's PKI) once"),
        ("bootstrap", "generate and apply the node configs, bootstrap etcd, fetch kubeconfig"),
    ):
        add(name, text, _cmd_talos).add_argument("--dir", type=Path, default=Path("."))

    p = add("generate-config", "write talos/clusterconfig/ (node configs, talosconfig)")
    _day_two_args(p)
    p = add("apply-node", "apply a node's generated machine config")
    p.add_argument("node", metavar="NODE", help="a node name from cluster.yaml")
    p.add_argument(
        "--mode", choices=APPLY_MODES, default="auto", help="talosctl apply-config --mode"
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="the node is in maintenance mode (booted from the ISO, or reset): a new node",
    )
    _day_two_args(p)
    p = add("upgrade-node", "upgrade a node (or --all: workers first) to the pinned Talos")
    p.add_argument("node", metavar="NODE", nargs="?", help="a node name from cluster.yaml")
    p.add_argument("--all", action="store_true", help="every node, one at a time")
    p.add_argument("--timeout", type=_seconds, default=NODE_TIMEOUT, metavar="SECONDS",
                   help="how long a node may take to upgrade, and then to be Ready")  # fmt: skip
    _force_arg(p)
    _day_two_args(p)
    p = add("upgrade-k8s", "upgrade Kubernetes to the pinned version")
    _force_arg(p)
    _day_two_args(p)
    p = add("reset", "wipe a node (or every node) back to maintenance mode")
    p.add_argument("node", metavar="NODE", nargs="?", help="a node name (default: every node)")
    p.add_argument("--yes", action="store_true", help="confirm without the prompt (CI)")
    _day_two_args(p)


def _seconds(text: str) -> int:
    """A whole number of seconds, at least 1 (argparse shows the error as a usage error)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of seconds (1 or more)")
    return int(text)


def _force_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="go ahead while the cluster is unhealthy")


def _terminated(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so temporary directories and staged files are cleaned up
    # (a write in progress holds both signals back until its journal is consistent).
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (`argv`; None: this process's own, which then exits)."""
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        # Said here only, once: a second Ctrl-C while the first unwinds is the same interrupt.
        print("interrupted", file=sys.stderr)
        code = INTERRUPTED
    if argv is None and threading.current_thread() is threading.main_thread():
        # The process exits now: a further Ctrl-C or SIGTERM would only break off the
        # interpreter's own clean-up (a temporary directory's finalizer, the wait for a
        # staging thread) with a traceback or a kill.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if threading.active_count() == 1:
            _exit(code)
    return code


def _exit(code: int) -> NoReturn:
    """End this process without the interpreter's teardown, which frees every object one
    by one (~15 ms: as long as a whole configure with nothing to do takes to get to work).
    What of it matters is done here: the exit handlers (temporary directories' finalizers
    among them) and flushing stdout and stderr. Only once no other thread runs: a thread
    would be cut off."""
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BrokenPipeError:
        code = 141  # the reader left: as `_run` reports it
    except OSError as err:
        code = _no_room(err) if err.errno in _NO_ROOM else code or 1
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    args.own_process = argv is None  # this process runs one command, then exits
    main_thread = threading.current_thread() is threading.main_thread()
    # Its own process ends within a bound of the first interrupt, whatever its clean-up
    # does (generator/interrupts.py); a caller's process keeps its own Ctrl-C, and one
    # started with Ctrl-C ignored (`nohup`, a script's background job) keeps ignoring it.
    on_term = interrupted if args.own_process else _terminated
    previous = signal.signal(signal.SIGTERM, on_term) if main_thread else None
    ctrl_c_is_ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous_int = None
    if main_thread and args.own_process and ctrl_c_is_ours:
        previous_int = signal.signal(signal.SIGINT, interrupted)
    # One short run allocates many long-lived objects (modules, templates, schemas) and
    # few cycles: collecting them over and over costs more than it frees.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if collecting:
            gc.enable()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


def _run(args: argparse.Namespace) -> int:
    try:
        handler: Handler = args.handler
        return handler(args)
    except ClusterGenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader left (`| head`): not our error. Later flushes go nowhere, so the
        # interpreter's exit does not fail on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command its pipe's SIGPIPE ended
    except OSError as err:
        if err.errno not in _NO_ROOM:
            return _internal_error(args)
        # Where the output goes is full (`> /dev/full`, a full disk): the output is lost,
        # not the run; unwritten output must not fail the exit again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _no_room(err)
    except Exception:
        return _internal_error(args)


# The errors of a write with no room left: what `_no_room` reports.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _no_room(err: OSError) -> int:
    with contextlib.suppress(OSError):
        os.write(2, f"error: cannot write the output: {err.strerror or err}\n".encode())
    return 1


def _internal_error(args: argparse.Namespace) -> int:
    if args.debug:
        traceback.print_exc()
    else:
        print(
            "clustergen hit an internal error; sorry. "
            "Rerun with --debug for the traceback and report it.",
            file=sys.stderr,
        )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
