"""configure killed, interrupted or refused by the disk mid-write lands whole or not at all.

Each loop switches a configured sample repository to the all-features config
(150+ files and 7 secrets change), breaks that run, then goes back to the
sample: that configure must exit 0, a further one change nothing, and disk,
manifest and ciphertext must agree, with no plaintext and nothing of the
broken run left behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.pipeline import configure
from tests.pipeline.transaction import Repo, assert_consistent, assert_no_plaintext
from tests.process import clean_env, clustergen_in_process

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

JOURNAL = ".clustergen/journal.json"


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "CLUSTERGEN_SOPS"):
        monkeypatch.delenv(name, raising=False)


def _stderr_once_ended(proc: subprocess.Popen[str]) -> str:
    """The run's stderr once it has ended. One still running 120 s after its signal fails
    the test with its threads' stacks (PYTHONFAULTHANDLER in its environment dumps them on
    SIGABRT), where a bare timeout would say nothing of where it hung."""
    try:
        return proc.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        pytest.fail(f"configure hung after its signal; its threads:\n{proc.communicate()[1]}")


def go_back_and_check(repo: Repo, reference: dict[str, bytes]) -> str:
    """Back to the sample: exit 0, then 0 changed, consistent, the sample's file set."""
    repo.use(repo.sample)
    back = repo.configure()
    assert back.returncode == 0, back.stderr
    again = configure(repo.root / "cluster.yaml", validate=False)
    assert again.startswith("0 changed"), again
    files = assert_consistent(repo)
    assert set(files) == set(reference)  # nothing of the interrupted run left behind
    changed = [p for p in reference if files[p] != reference[p] and ".sops." not in p]
    assert changed == [] or changed == [".clustergen/manifest.json"]
    return back.stdout


def _kill_when(proc: subprocess.Popen[str], journal: Path, trigger: str, sig: int) -> None:
    """Send sig once the journal shows `trigger` ("prepared"/"committed"), or the process ends
    (sig 0: only wait for that moment)."""
    while proc.poll() is None:
        try:
            if trigger.encode() in journal.read_bytes():
                if sig:
                    proc.send_signal(sig)
                return
        except OSError:
            pass
        time.sleep(0.0005)


# Spread over the run: fractions of an uninterrupted run's time, and two moments the
# journal marks (staging, and just after the commit point). The first kill times the run:
# an interrupt just after the commit point is held back until the write is whole, so that
# run (a child process, its start included, as every killed run) lasts nearly as long as
# an uninterrupted one, and a separate uninterrupted run (and going back from it) is spared.
TIMING_KILL: tuple[int, float | str] = (signal.SIGINT, "committed")
KILLS: list[tuple[int, float | str]] = [
    TIMING_KILL,
    (signal.SIGKILL, "prepared"),
    (signal.SIGKILL, "committed"),
    (signal.SIGINT, 0.3),
    (signal.SIGKILL, 0.55),
    (signal.SIGTERM, 0.7),
    (signal.SIGKILL, 0.8),
    (signal.SIGINT, 0.9),
]


def test_kill_loop(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    reference = repo.files()
    duration = 0.0
    recovered = []
    tmpdir = tmp_path / "tmp"  # the run's own temporary directory, to see what it leaves
    tmpdir.mkdir()
    env = clean_env(CI="true", TMPDIR=str(tmpdir), PYTHONFAULTHANDLER="1")
    for sig, when in KILLS:
        repo.use(repo.all_features)
        started = time.monotonic()
        proc = repo.start_configure(env)
        if isinstance(when, float):
            assert duration > 0
            time.sleep(duration * when)
            if proc.poll() is None:
                proc.send_signal(sig)
        else:
            _kill_when(proc, repo.root / JOURNAL, when, sig)
        err = _stderr_once_ended(proc)
        if (sig, when) == TIMING_KILL:
            duration = time.monotonic() - started
        assert "Traceback" not in err and "internal error" not in err, err
        files = repo.files()
        assert_no_plaintext(repo, files)
        if sig != signal.SIGKILL:
            # An interrupt is held back while the tree and journal disagree, then unwinds:
            # the write landed whole or not at all, and no temporary file is left.
            assert not any(".clustergen-" in p or "journal" in p for p in files)
            assert list(tmpdir.iterdir()) == []
        shutil.rmtree(tmpdir)
        tmpdir.mkdir()
        report = go_back_and_check(repo, reference)
        if (sig, when) == TIMING_KILL:
            # That run wrote the whole switch: going back undoes 150+ files.
            created, updated, removed = (int(n) for n in report.split()[0:6:2])
            assert created + updated + removed >= 90, report
        recovered += [line for line in report.splitlines() if line.startswith("recovered")]
    # The journal-timed kills land inside the write: at least one run had to recover.
    assert recovered, "no kill landed inside a write"


def test_ctrl_c_while_the_write_stages_beside_validation(tmp_path: Path) -> None:
    """With warm caches validation ends before the write's staging thread does: Ctrl-C then
    lands while configure waits for that thread. It stops staging and removes every stage
    before it exits; once, a thread that ran on after the process gave up left 100+ stage
    files and the journal (CPython 3.11's interrupted Thread.join)."""
    repo = Repo.create(tmp_path / "repo")
    reference = repo.files()
    env = clean_env(CI="true", PYTHONFAULTHANDLER="1")
    repo.use(repo.all_features)
    # Schemas and kustomize builds cached on disk (in this process: it only warms them).
    warm = clustergen_in_process(["configure"], cwd=repo.root, env=env)
    assert warm.returncode == 0, warm.stderr
    go_back_and_check(repo, reference)  # also forgets the validated tree: validation runs
    journal = repo.root / JOURNAL
    codes = []
    # After the journal says "prepared": as the wait starts, in its middle, and (the last,
    # on this machine) once the write is done. The moments in between were measured to end
    # as the middle one does (130, the tree as it was), so they are not run each time.
    for delay in (0.0, 0.04, 0.1):
        repo.use(repo.all_features)
        proc = subprocess.Popen(
            [sys.executable, "-m", "generator", "configure"],
            cwd=repo.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        _kill_when(proc, journal, "prepared", 0)  # only waits
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        err = _stderr_once_ended(proc)
        # Written whole when the signal came after the write (at exit, ignored), or not at all.
        assert (proc.returncode, err) in ((130, "interrupted\n"), (0, "")), err
        codes.append(proc.returncode)
        files = repo.files()
        assert not any(".clustergen-" in p or "journal" in p for p in files)
        if proc.returncode == 0:
            assert_consistent(repo)
        assert_no_plaintext(repo, files)
        go_back_and_check(repo, reference)
    assert 130 in codes


# configure in a child whose disk is slow: staging waits for the file `go` (validation
# ends first), and the file `waiting` says the main thread is in the commit, waiting for it.
_SLOW_DISK = """
import sys, time
from pathlib import Path
from generator.cli import main
from generator.write import journal, writer
flags = Path(sys.argv[1])
real_stage_files, real_commit = journal.stage_files, writer.WriteWhileValidating.commit
def stage_files(*args):
    deadline = time.monotonic() + 60
    while not (flags / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    real_stage_files(*args)
def commit(self):
    (flags / "waiting").touch()
    return real_commit(self)
journal.stage_files, writer.WriteWhileValidating.commit = stage_files, commit
sys.argv[1:] = ["configure"]
raise SystemExit(main())
"""


def test_ctrl_c_while_the_commit_waits_for_staging(tmp_path: Path) -> None:
    """Ctrl-C, twice, while configure waits for its write's staging thread: it waits on,
    stops staging and removes every stage, says "interrupted" once and exits 130; the
    lock is held until then."""
    repo = Repo.create(tmp_path / "repo")
    reference = repo.files()
    repo.use(repo.all_features)
    flags = tmp_path / "flags"
    flags.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_DISK, str(flags)],
        cwd=repo.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(CI="true"),
    )
    deadline = time.monotonic() + 120
    while not (flags / "waiting").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for _ in range(2):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
    lock = os.open(repo.root / ".clustergen" / "lock", os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):  # held while the thread may still write
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(lock)
    assert proc.poll() is None  # waiting for the staging thread
    (flags / "go").touch()
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (130, "interrupted\n")
    assert not any(".clustergen-" in p or "journal" in p for p in repo.files())
    go_back_and_check(repo, reference)


def test_two_configures_at_once_take_turns(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo")
    repo.use(repo.all_features)
    env = clean_env(CI="true", CLUSTERGEN_LOCK_WAIT="120")
    first, second = (repo.start_configure(env) for _ in range(2))

    outputs = sorted(p.communicate(timeout=240)[0] for p in (first, second))

    assert (first.returncode, second.returncode) == (0, 0)
    # One wrote everything; the other, waiting for the lock, found nothing left to do.
    assert outputs[0].startswith("0 changed") and not outputs[1].startswith("0 changed")
    assert_consistent(repo)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of its own (root only): a disk that can be filled, files made immutable."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs (full-disk and read-only-file loops)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_full_disk_loop(tmpfs: Path) -> None:
    repo = Repo.create(tmpfs / "repo")
    reference = repo.files()
    filler = tmpfs / "filler"
    failures = 0
    # From no room at all to nearly enough: the write fails at a different step each time.
    for leave in (0, 16 << 10, 64 << 10, 256 << 10, 512 << 10):
        with filler.open("wb") as fh:
            fh.truncate(0)
            chunk = b"\0" * (1 << 20)
            while _free(tmpfs) > leave + len(chunk):
                fh.write(chunk)
                fh.flush()
            room = _free(tmpfs) - leave
            if room > 0:
                fh.write(b"\0" * room)
            fh.flush()
            os.fsync(fh.fileno())
        before = repo.files()
        repo.use(repo.all_features)
        result = repo.configure()
        if result.returncode != 0:
            failures += 1
            assert result.returncode == 1, result.stderr
            assert "No space left on device (ENOSPC); nothing was changed" in result.stderr
            assert result.stderr.startswith("error: cannot ")
            now = repo.files()
            now["cluster.yaml"] = before["cluster.yaml"]
            assert now == before
        assert_no_plaintext(repo)
        filler.unlink()
        go_back_and_check(repo, reference)
    assert failures >= 3


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


def test_read_only_file_loop(tmpfs: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr to make a file immutable (read-only even for root)")
    repo = Repo.create(tmpfs / "repo")
    reference = repo.files()
    repo.use(repo.all_features)
    listing = repo.configure().stdout.splitlines()
    go_back_and_check(repo, reference)
    updated = [line[4:] for line in listing if line.startswith("  ~ ")]
    removed = [line[4:] for line in listing if line.startswith("  - ")]
    # First, middle and last file the write replaces, and one it removes.
    for path in (updated[0], updated[len(updated) // 2], updated[-1], removed[0]):
        target = repo.root / path
        _chattr("+i", target)
        try:
            before = repo.files()
            repo.use(repo.all_features)
            result = repo.configure()
            assert result.returncode == 1, result.stdout
            verb = "remove" if path in removed else "write"
            assert result.stderr == (
                f"error: cannot {verb} {path}: Operation not permitted (EPERM); "
                "nothing was changed\n"
            )
            now = repo.files()
            now["cluster.yaml"] = before["cluster.yaml"]
            assert now == before
        finally:
            _chattr("-i", target)
        go_back_and_check(repo, reference)


def test_read_only_file_system(tmpfs: Path) -> None:
    repo = Repo.create(tmpfs / "repo")
    reference = repo.files()
    repo.use(repo.all_features)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    try:
        result = repo.configure()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)

    assert result.returncode == 1
    assert result.stderr == ("error: cannot open .clustergen/lock: Read-only file system (EROFS)\n")
    go_back_and_check(repo, reference)
