"""Frontends over a pool: zswap (zswap.py)."""
