"""Reproductions of the published tables; run with ``python -m reproductions``."""
