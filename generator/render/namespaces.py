"""What the guards leave on, published to every template before it renders (DESIGN.md).

Every namespace folder `kubernetes/apps/<name>/` holds `_namespace.yaml.j2`: the facts
about the namespace, next to its components (a Jinja template, rendered with the
cluster's context, holding one YAML mapping):

    order: 60          # where the namespace comes in listings (Flux alerts, Kyverno excludes)
    platform: true     # rebuilt from Git: Kyverno's pod rules skip it, daily backups too
    privileged: >-     # why its pods need the host; absent or "" when `restricted` suits them
      node-exporter reads the host's /proc ...

A namespace folder whose guards are off does not exist, so neither do its facts: templates
loop over `namespaces` and never name a feature to know which namespaces are there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator import bounded_yaml
from generator.errors import Problem, shown
from generator.render.environment import RenderError

# Never rendered itself (guards.NEVER_RENDERED).
NAMESPACE_FILE = "_namespace.yaml.j2"
# Where a namespace keeps its network policies (guarded in templates/config/_folder_guards.yaml).
POLICIES = "network-policies"
# An app folder: its Flux Kustomization, listed by the namespace's kustomization.yaml.
FLUX_KUSTOMIZATION = "ks.yaml.j2"

APPS = "kubernetes/apps"
_KEYS = {"order": int, "platform": bool, "privileged": str}


def publish_namespaces(
    env: jinja2.Environment,
    template_root: Path,
    wanted: Callable[[Path], bool],
    show: Callable[[Path], str] = str,
    added: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The namespaces that exist, in `order`, each a dict the templates read:

    `name`; `platform` (rebuilt from Git); `privileged` (why its pods need the host, "" if
    they need nothing of it); `pod_security_level` (`privileged` when it says why, else
    features.pod_security.level; "" with pod security off) and `pod_security_reason` (""
    unless the level is looser than the cluster's); `backed_up` (the daily Velero schedule
    takes it: not platform and not in features.backups.excluded_namespaces);
    `network_policies` (the folders `network-policies/` of the namespace and of its
    components, `<name>/network-policies` and `<name>/<app>/network-policies`, relative to
    kubernetes/apps, whose guards are on) and `policed` (there is one); `apps` (its
    sub-folders holding a Flux `ks.yaml.j2` whose guards are on, sorted by name: what
    its kustomization.yaml lists; with those `added` holds, the output paths the user's
    overrides render: `kubernetes/apps/<name>/<app>/ks.yaml` adds app `<app>`).

    `wanted` is the directory guard (render/guards.py DirectoryGuards.wanted); env must hold
    the cluster's context as globals. Raises RenderError naming a namespace folder without
    its facts file, or a facts file that is not the mapping above.
    """
    apps = template_root / APPS
    found: list[dict[str, Any]] = []
    problems: list[Problem] = []
    if not apps.is_dir():
        return found
    features: Mapping[str, Any] = env.globals.get("features") or {}  # type: ignore[assignment]
    pod_security = features.get("pod_security") or {}
    backups = features.get("backups") or {}
    excluded = set(backups.get("excluded_namespaces") or ())
    # An override's ks.yaml (`.j2` or copied as it is) adds its app folder.
    added_ks = FLUX_KUSTOMIZATION.removesuffix(".j2")
    added_apps = {
        tuple(out.split("/")[2:4])
        for out in added
        if out.startswith(f"{APPS}/") and out.count("/") == 4 and out.endswith(f"/{added_ks}")
    }
    for folder in sorted(p for p in apps.iterdir() if p.is_dir()):
        if not wanted(folder):
            continue
        facts_file = folder / NAMESPACE_FILE
        if not facts_file.is_file():
            problems.append(
                Problem(
                    "",
                    f"namespace folder without {NAMESPACE_FILE}; add one saying order, "
                    "platform and (if its pods need the host) privileged",
                    show(folder),
                )
            )
            continue
        name_in_tree = facts_file.relative_to(template_root).as_posix()
        try:
            facts = bounded_yaml.load(env.get_template(name_in_tree).render())
        except (jinja2.TemplateError, yaml.YAMLError) as err:
            problems.append(Problem("", f"{type(err).__name__}: {err}", show(facts_file)))
            continue
        wrong = _check(facts)
        if wrong:
            problems.append(Problem("", wrong, show(facts_file), 1))
            continue
        privileged = str(facts.get("privileged") or "").strip()
        # The namespace's own policies, then each component's, where the guards leave them.
        candidates = [folder / POLICIES, *(app / POLICIES for app in sorted(folder.iterdir()))]
        policies = [p.relative_to(apps).as_posix() for p in candidates if p.is_dir() and wanted(p)]
        level = ""
        if pod_security.get("enabled"):
            level = "privileged" if privileged else str(pod_security.get("level", ""))
        found.append(
            {
                "name": folder.name,
                "order": facts["order"],
                "platform": facts["platform"],
                "privileged": privileged,
                "pod_security_level": level,
                "pod_security_reason": privileged if level else "",
                "backed_up": not facts["platform"] and folder.name not in excluded,
                "network_policies": policies,
                "policed": bool(policies),
                "apps": sorted(
                    {
                        app.name
                        for app in folder.iterdir()
                        if (app / FLUX_KUSTOMIZATION).is_file() and wanted(app)
                    }
                    | {
                        app
                        for ns, app in added_apps
                        if ns == folder.name and wanted(folder / app / added_ks)
                    }
                ),
            }
        )
    if problems:
        raise RenderError(problems)
    return sorted(found, key=lambda ns: (ns["order"], ns["name"]))


def _check(facts: object) -> str:
    """ "" when `facts` is the facts mapping, else what is wrong with it."""
    if not isinstance(facts, dict):
        return "must be a YAML mapping with order, platform and optionally privileged"
    unknown = sorted(set(facts) - set(_KEYS))
    if unknown:
        return f"unknown key {unknown[0]}; allowed: {', '.join(_KEYS)}"
    for key, kind in _KEYS.items():
        value = facts.get(key)
        if value is None and key == "privileged":
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{key} must be a {kind.__name__}, not {shown(value)}"
    return ""
