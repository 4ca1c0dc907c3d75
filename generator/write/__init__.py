"""Write a rendered tree: plan, one transaction, ownership manifest (DESIGN.md, "Writing")."""
