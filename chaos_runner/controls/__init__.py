"""Chaos Toolkit controls declared by the experiments: sandbox (auto-start) and safety
(refuse a dirty target, lock it, always restore)."""
