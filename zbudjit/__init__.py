"""zbudjit: compressed-memory allocators (zbud, zsmalloc) as batched Numba kernels over NumPy tables.

>>> import zbudjit as zj
>>> pool = zj.Pool(pages=1024)
>>> handles = pool.alloc([100, 2000, 3000])
>>> pool.stats().objects
3
"""

from .errors import CorruptionError, InvalidHandleError, PoolError, PoolFullError
from .persist import SaveError, SaveNotFoundError
from .policies.zsmalloc.classes import huge_class_size, size_class_table
from .pool import POLICIES, CompactResult, Pool, ReclaimResult, Stats
from .frontends.zswap import Zswap, ZswapStats

__version__ = "0.1.0"

__all__ = ["POLICIES", "CompactResult", "CorruptionError", "InvalidHandleError", "Pool", "PoolError",
           "PoolFullError", "ReclaimResult", "SaveError", "SaveNotFoundError", "Stats", "Zswap",
           "ZswapStats", "__version__", "huge_class_size", "size_class_table"]
