"""Executable specifications: each policy in plain Python, the oracle for tests and benchmarks."""

from .zbud import ZbudSpec

SPECS = {"zbud": ZbudSpec}

__all__ = ["SPECS", "ZbudSpec"]
