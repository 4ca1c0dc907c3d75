"""The user's overrides (`overrides/` at the repository root): files that replace built-in
templates (`files`), merge patches of rendered objects (`patches`), and which built-in
templates changed since they were overridden (`stale`). render/tree.py applies them."""
