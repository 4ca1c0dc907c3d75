"""render_tree on small template trees built in tmp_path."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from generator.render.environment import RenderError
from generator.render.tree import render_tree
from generator.secrets.files import is_secret_path as is_secret

CONTEXT = {
    "network": {"node_cidr": "10.10.0.0/24"},
    "features": {"monitoring": {"enabled": False}, "backups": {"enabled": True}},
    "domain": "example.com",
}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    (root / "config").mkdir(parents=True)
    (root / "macros").mkdir()
    return root


def put(root: Path, rel: str, text: str, mode: int | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


def render(templates: Path, context: dict[str, object] = CONTEXT) -> dict[str, bytes]:
    return render_tree(context, templates / "config", templates).files


def test_suffix_stripped_and_plain_files_copied_verbatim(templates: Path) -> None:
    put(templates, "config/kubernetes/apps/ks.yaml.j2", "domain: #{ domain }#\n")
    put(templates, "config/README.md", "#{ not a template }#\n")

    assert render(templates) == {
        "README.md": b"#{ not a template }#\n",
        "kubernetes/apps/ks.yaml": b"domain: example.com\n",
    }


def test_helm_and_flux_syntax_pass_through(templates: Path) -> None:
    text = (
        "a: '{{ .Values.image }}'\nb: ${SECRET_DOMAIN}\nc: '{{- if .x }}{{ end }}'\n{# jinja #}\n"
    )
    put(templates, "config/values.yaml.j2", text)

    assert render(templates)["values.yaml"] == text.encode()


def test_whitespace_settings_match_upstream(templates: Path) -> None:
    put(
        templates,
        "config/list.yaml.j2",
        "items:\n  #% for i in [1, 2] %#\n  - #{ i }#\n  #% endfor %#\n#| comment #|\n",
    )

    assert render(templates)["list.yaml"] == b"items:\n  - 1\n  - 2\n"


def test_whitespace_only_output_produces_no_file(templates: Path) -> None:
    put(
        templates,
        "config/off.yaml.j2",
        "#% if features.monitoring.enabled %#\nx: 1\n#% endif %#\n\n",
    )
    put(templates, "config/on.yaml.j2", "#% if features.backups.enabled %#\nx: 1\n#% endif %#\n")

    assert set(render(templates)) == {"on.yaml"}


def test_when_guard_skips_whole_directory(templates: Path) -> None:
    put(templates, "config/monitoring/_when.j2", "# comment\nfeatures.monitoring.enabled\n")
    put(templates, "config/monitoring/app/ks.yaml.j2", "x: 1\n")
    put(templates, "config/monitoring/static.txt", "static\n")
    put(templates, "config/backups/_when.j2", "features.backups.enabled")
    put(templates, "config/backups/ks.yaml.j2", "x: 1\n")
    put(templates, "config/backups/inner/_when.j2", "network.node_cidr == '192.168.0.0/24'")
    put(templates, "config/backups/inner/x.yaml.j2", "x: 1\n")
    put(templates, "config/backups/empty/.keep", "")

    assert set(render(templates)) == {"backups/ks.yaml"}


def test_misspelt_guard_is_an_error_not_a_skip(templates: Path) -> None:
    put(templates, "config/monitoring/_when.j2", "featurez.monitoring.enabled\n")
    put(templates, "config/monitoring/ks.yaml.j2", "x: 1\n")

    with pytest.raises(RenderError, match=r"templates/config/monitoring/_when\.j2:1.*featurez"):
        render(templates)


def test_a_guard_compiles_once_and_keeps_its_verdicts_and_errors(
    templates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard's code is kept with the templates' bytecode: a later render (a new
    environment, as every configure makes) compiles no guard, and answers the same."""
    put(templates, "config/monitoring/_when.j2", "features.monitoring.enabled\n")
    put(templates, "config/monitoring/ks.yaml.j2", "x: 1\n")
    put(templates, "config/backups/_when.j2", "features.backups.enabled and domain")
    put(templates, "config/backups/ks.yaml.j2", "x: 1\n")
    assert set(render(templates)) == {"backups/ks.yaml"}

    compiled: list[object] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: object, *args: object, **kw: object) -> object:
        compiled.append(source)
        return original(self, source, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    assert set(
        render(
            templates,
            {
                **CONTEXT,
                "features": {"monitoring": {"enabled": True}, "backups": {"enabled": True}},
            },
        )
    ) == {
        "backups/ks.yaml",
        "monitoring/ks.yaml",
    }
    assert compiled == ["x: 1\n"]  # monitoring/ks.yaml's first render; no guard
    # A guard that no longer parses is still the error compile_expression gives.
    put(templates, "config/backups/_when.j2", "features.backups.enabled enabled")
    with pytest.raises(RenderError, match=r"backups/_when\.j2:1.*chunk after expression"):
        render(templates)


def test_modes_follow_the_template(templates: Path) -> None:
    put(templates, "config/scripts/run.sh.j2", "#!/bin/sh\necho #{ domain }#\n", mode=0o755)
    put(templates, "config/scripts/copy.sh", "#!/bin/sh\n", mode=0o755)
    put(templates, "config/plain.yaml.j2", "a: 1\n", mode=0o644)

    modes = render_tree(CONTEXT, templates / "config", templates).modes

    assert modes == {"plain.yaml": 0o644, "scripts/copy.sh": 0o755, "scripts/run.sh": 0o755}


def test_macros_import_from_templates_root_and_see_globals(templates: Path) -> None:
    put(
        templates,
        "macros/names.j2",
        "#% macro fqdn(host) %##{ host }#.#{ domain }##% endmacro %#\n",
    )
    put(
        templates,
        "config/a.yaml.j2",
        "#% import 'macros/names.j2' as names %#\nhost: #{ names.fqdn('api') }#\n",
    )

    assert render(templates)["a.yaml"] == b"host: api.example.com\n"


def test_undefined_variable_names_file_and_line(templates: Path) -> None:
    put(templates, "config/apps/ks.yaml.j2", "a: 1\nb: #{ domain }#\nc: #{ netwrok.node_cidr }#\n")

    with pytest.raises(RenderError) as err:
        render(templates)

    assert re.search(
        r"templates/config/apps/ks\.yaml\.j2:3\b.*'netwrok' is undefined", str(err.value)
    )


def test_a_template_reads_what_another_renders(templates: Path) -> None:
    put(templates, "config/apps/ks.yaml.j2", "---\nspec:\n  dependsOn: [{name: #{ domain }#}]\n")
    put(
        templates,
        "config/apps/README.md.j2",
        '#% set text %##% include "apps/ks.yaml.j2" %##% endset %#'
        "#{ (text | from_yaml_all | first).spec.dependsOn[0].name }#\n",
    )
    assert render(templates)["apps/README.md"] == b"example.com\n"


def test_reading_what_is_not_yaml_names_the_template(templates: Path) -> None:
    put(templates, "config/apps/README.md.j2", '#{ "a: [" | from_yaml_all }#\n')

    with pytest.raises(RenderError, match=r"templates/config/apps/README\.md\.j2:1: ParserError"):
        render(templates)


def test_undefined_inside_macro_names_macro_and_caller(templates: Path) -> None:
    put(templates, "macros/m.j2", "#% macro f() %#\nx: #{ missing_key }#\n#% endmacro %#\n")
    put(templates, "config/a.yaml.j2", "#% import 'macros/m.j2' as m %#\n#{ m.f() }#\n")

    with pytest.raises(RenderError) as err:
        render(templates)
    message = str(err.value)

    assert "templates/macros/m.j2:2" in message
    assert "while rendering templates/config/a.yaml.j2" in message


def test_syntax_error_names_file_and_line(templates: Path) -> None:
    put(templates, "config/bad.yaml.j2", "a: 1\n#% if x %#\nb: 2\n")

    with pytest.raises(RenderError, match=r"templates/config/bad\.yaml\.j2:\d+.*syntax error"):
        render(templates)


def test_every_failing_template_is_reported_at_once(templates: Path) -> None:
    put(templates, "config/one.yaml.j2", "#{ nope1 }#\n")
    put(templates, "config/two.yaml.j2", "#{ network.node_cidr | nthhost(999) }#\n")
    put(templates, "config/ok.yaml.j2", "ok: 1\n")

    with pytest.raises(RenderError) as err:
        render(templates)

    assert len(err.value.problems) == 2
    message = str(err.value)
    assert "one.yaml.j2:1" in message and "two.yaml.j2:1" in message
    assert message.endswith("2 template error(s); fix them and run again")


def test_two_templates_for_one_output_is_an_error(templates: Path) -> None:
    put(templates, "config/a.yaml", "a: 1\n")
    put(templates, "config/a.yaml.j2", "a: 2\n")

    with pytest.raises(RenderError, match=r"renders to a\.yaml"):
        render(templates)


def test_output_is_sorted_and_hidden_files_render(templates: Path) -> None:
    put(templates, "config/z.yaml.j2", "z: 1\n")
    put(templates, "config/.sops.yaml.j2", "creation_rules: []\n")
    put(templates, "config/.github/workflows/ci.yaml", "on: push\n")
    put(templates, "config/.gitkeep", "")

    assert list(render(templates)) == [".github/workflows/ci.yaml", ".sops.yaml", "z.yaml"]


def test_is_secret() -> None:
    assert is_secret("kubernetes/apps/x/secret.sops.yaml")
    assert is_secret("talos/talsecret.sops.yaml")
    assert not is_secret(".sops.yaml")
    assert not is_secret("kubernetes/sops.yaml")
    assert not is_secret("a.sops.d/plain.yaml")


def test_150_templates_share_one_macro_import(templates: Path) -> None:
    put(
        templates,
        "macros/ks.j2",
        "#% macro ks(n) %#\nname: #{ n }#\ndomain: #{ domain }#\n#% endmacro %#\n",
    )
    for i in range(150):
        put(
            templates,
            f"config/apps/a{i}/ks.yaml.j2",
            f"#% import 'macros/ks.j2' as k %#\n#{{ k.ks('a{i}') }}#\n",
        )
    # How fast is bench/'s question (bench/run.py); here: every file renders.
    tree = render(templates)
    assert len(tree) == 150
    assert tree["apps/a149/ks.yaml"].startswith(b"name: a149\n")


def test_on_rendered_is_told_each_file_in_render_order_but_the_documents(
    templates: Path,
) -> None:
    put(templates, "config/.sops.yaml.j2", "creation_rules: []\n")
    put(templates, "config/bootstrap/secret.sops.yaml.j2", "token: #{ domain }#\n")
    put(templates, "config/b/ks.yaml.j2", "domain: #{ domain }#\n")
    put(templates, "config/b/blank.yaml.j2", "#% if false %#x#% endif %#\n")
    put(templates, "config/docs/README.md.j2", "# #{ domain }#\n")
    told: list[tuple[str, bytes]] = []

    tree = render_tree(
        CONTEXT,
        templates / "config",
        templates,
        on_rendered=lambda path, content: told.append((path, content)),
    )

    # Root files first, then directories in sorted order: .sops.yaml before every secret.
    assert told == [
        (".sops.yaml", b"creation_rules: []\n"),
        ("b/ks.yaml", b"domain: example.com\n"),
        ("bootstrap/secret.sops.yaml", b"token: example.com\n"),
    ]
    assert set(tree.files) == {path for path, _ in told} | {"docs/README.md"}
