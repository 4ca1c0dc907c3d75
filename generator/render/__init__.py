"""Render the template tree in memory (see DESIGN.md, "The template context")."""

from generator.render.context import build_context, load_versions
from generator.render.environment import RenderError, make_environment
from generator.render.tree import RenderedTree, render_tree

# One rule for what a secret file is, shared with encryption, validation and diff.
from generator.secrets.files import is_secret_path as is_secret

__all__ = [
    "RenderError",
    "RenderedTree",
    "build_context",
    "is_secret",
    "load_versions",
    "make_environment",
    "render_tree",
]
