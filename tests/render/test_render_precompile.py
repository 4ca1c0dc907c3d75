"""A first render compiles part of the templates in a forked worker: same output, same
errors, and the work is not lost when the worker fails."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import jinja2
import pytest

from generator.render import environment, precompile
from generator.render.environment import RenderError
from generator.render.tree import render_tree
from generator.write.lock import LOCK_PATH, writing

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here"),
    # Python 3.12+ warns of a fork beside another thread (below: pytest-xdist's).
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]

COUNT = 2 * precompile.MIN_TEMPLATES
CONTEXT = {"items": ["a", "b"], "domain": "example.com"}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    (root / "macros").mkdir(parents=True)
    (root / "macros" / "m.j2").write_text("#% macro item(x) %#- #{ x }#\n#% endmacro %#\n")
    for n in range(COUNT):
        path = root / "config" / f"d{n % 5}" / f"f{n:02}.yaml.j2"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "#% import 'macros/m.j2' as m %#\n---\n"
            f"n: {n}\ndomain: #{{ domain }}#\nitems:\n#% for i in items %#\n#{{ m.item(i) }}#"
            "#% endfor %#\n"
        )
    return root


@pytest.fixture(autouse=True)
def forks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest-xdist worker runs execnet's I/O thread, which a compile never touches;
    `clustergen` itself renders with no other thread (the check is tested below)."""
    monkeypatch.setattr(precompile, "can_fork", lambda: True)


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names this process compiles (a forked worker counts in its own memory only)."""
    names: list[str] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None, *a, **k):  # type: ignore[no-untyped-def]
        names.append(str(name))
        return original(self, source, name, *a, **k)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a new process: no compiled template in memory (the disk keeps its bundles)."""
    monkeypatch.setattr(environment, "_BYTECODE_CACHES", {})


def render(templates: Path) -> dict[str, bytes]:
    return render_tree(CONTEXT, templates / "config", templates).files


def test_worker_compiles_part_and_the_output_is_the_same(
    templates: Path, compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[bool] = []
    original = precompile.compile_elsewhere
    monkeypatch.setattr(
        "generator.render.tree.compile_elsewhere",
        lambda env, names: started.append(original(env, names)) or started[-1],
    )
    parallel = render(templates)
    assert started == [True]
    in_parent = {n for n in compiles if n.startswith("d")}
    assert 0 < len(in_parent) < COUNT  # the worker compiled the rest

    # Serially, in a fresh template set with the same files: byte for byte the same.
    serial_root = templates.parent / "serial"
    serial_root.mkdir()
    os.rename(templates, serial_root / "templates")
    monkeypatch.setattr("generator.render.tree.compile_elsewhere", lambda env, names: False)
    assert render(serial_root / "templates") == parallel
    assert len(parallel) == COUNT


def test_what_the_worker_compiled_is_kept_for_the_next_run(
    templates: Path, compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render(templates)
    fresh_caches(monkeypatch)
    compiles.clear()
    assert render(templates) == first
    assert compiles == []


def test_a_failing_worker_means_compiling_here(
    templates: Path, compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise RuntimeError("worker lost")

    monkeypatch.setattr(precompile, "_compile_and_send", crash)
    files = render(templates)
    assert len(files) == COUNT
    assert len({n for n in compiles if n.startswith("d")}) == COUNT


def test_what_a_dying_worker_sent_is_used_and_the_rest_compiled_here(
    templates: Path, compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = precompile._compile_and_send
    sent: list[int] = []

    def half(env: object, cache: object, todo: list[tuple[str, str]], fd: int) -> None:
        sent.append(len(todo) // 2)  # in the child: this process never sees it
        real(env, cache, todo[: len(todo) // 2], fd)  # type: ignore[arg-type]
        os.write(fd, b"\0\0\1\0torn")  # a frame cut short: the child dies writing it
        os._exit(1)

    monkeypatch.setattr(precompile, "_compile_and_send", half)
    files = render(templates)
    in_parent = len({n for n in compiles if n.startswith("d")})
    assert len(files) == COUNT and sent == []
    # The child took some (at least two); half of them arrived.
    assert COUNT // 2 < in_parent < COUNT
    fresh_caches(monkeypatch)
    compiles.clear()
    assert render(templates) == files  # and all of it was kept
    assert compiles == []


def test_a_template_error_in_the_workers_part_is_reported_as_always(
    templates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = templates / "config" / "d4" / f"f{COUNT - 1:02}.yaml.j2"
    last.write_text("---\nbroken: #{ domain \n")
    with pytest.raises(RenderError) as raised:
        render(templates)
    (problem,) = raised.value.problems
    assert "syntax error" in str(problem) and f"f{COUNT - 1:02}.yaml.j2" in str(problem)


def test_no_worker_when_the_cache_holds_the_templates(
    templates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render(templates)
    fresh_caches(monkeypatch)
    env = environment.make_environment([templates / "config", templates])
    names = [p.relative_to(templates / "config").as_posix() for p in templates.rglob("f*.j2")]
    assert precompile.compile_elsewhere(env, names) is False


def test_no_worker_beside_another_thread(templates: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real check
    fresh_caches(monkeypatch)
    env = environment.make_environment([templates / "config", templates])
    names = [p.relative_to(templates / "config").as_posix() for p in templates.rglob("f*.j2")]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert precompile.compile_elsewhere(env, names) is False
    finally:
        stop.set()
        other.join()


def test_a_macro_only_the_workers_templates_import_is_compiled_there(
    templates: Path, compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documents render last and import macros nothing else does: compiled by the worker,
    not by this process once everything else is done."""
    (templates / "macros" / "late.j2").write_text(
        "#% import 'macros/m.j2' as m %#\n#% macro late(x) %##{ m.item(x) }##% endmacro %#\n"
    )
    (templates / "config" / "z.md.j2").write_text(
        "#% import 'macros/late.j2' as l %#\n#{ l.late(domain) }#\n"
    )
    files = render(templates)
    assert files["z.md"].strip() == b"- example.com"
    assert "macros/late.j2" not in compiles and "macros/m.j2" in compiles


def test_a_macro_imported_inside_an_if_is_left_to_the_render(templates: Path) -> None:
    """A feature's macros imported inside the feature's `if`: a render where it is off
    never loads them, so the worker does not compile them either."""
    (templates / "macros" / "off.j2").write_text("#% macro x() %#off#% endmacro %#\n")
    (templates / "config" / "z.md.j2").write_text(
        "#% if items | length > 5 %#\n#% import 'macros/off.j2' as o %#\n#{ o.x() }#\n"
        "#% endif %#\n#{ domain }#\n"
    )
    files = render(templates)
    assert files["z.md"].strip() == b"example.com"
    cache = environment.bytecode_cache([templates / "config", templates])
    source = (templates / "macros" / "off.j2").read_text()
    key = cache.get_cache_key("macros/off.j2", str(templates / "macros" / "off.j2"))
    assert not cache.has(key, cache.get_source_checksum(source))
    # What the worker did compile is there: the test would see it.
    z = templates / "config" / "z.md.j2"
    z_key = cache.get_cache_key("z.md.j2", str(z))
    assert cache.has(z_key, cache.get_source_checksum(z.read_text()))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc to list descriptors")
def test_the_worker_holds_no_descriptor_of_the_parents(
    templates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not `.clustergen/lock` (a stopped worker would keep it locked after the parent
    died), not stdout or stderr (a caller reading them would wait for it): only its pipe,
    and /dev/null as 0, 1 and 2."""
    real = precompile._compile_and_send
    report = tmp_path / "worker-fds.json"

    def listing(env: object, cache: object, todo: list[tuple[str, str]], fd: int) -> None:
        report.write_text(json.dumps({"pipe": fd, "held": _descriptors()}))
        real(env, cache, todo, fd)  # type: ignore[arg-type]

    monkeypatch.setattr(precompile, "_compile_and_send", listing)
    repo = tmp_path / "repo"
    repo.mkdir()
    with writing(repo):
        lock = str(repo / LOCK_PATH)
        assert lock in _descriptors().values()
        files = render(templates)
    assert len(files) == COUNT
    found = json.loads(report.read_text())
    held = {int(fd): target for fd, target in found["held"].items()}
    assert held.pop(found["pipe"]).startswith("pipe:")
    assert held == {0: os.devnull, 1: os.devnull, 2: os.devnull}


def _descriptors() -> dict[int, str]:
    """This process's open descriptors: what each refers to."""
    held = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # listdir's own descriptor, closed by now
            held[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return held
