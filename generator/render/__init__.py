"""Render the template tree in memory (see DESIGN.md, "The template context")."""
