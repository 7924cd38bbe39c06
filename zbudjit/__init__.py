"""zbudjit: compressed-memory allocators (zbud, zsmalloc) as batched Numba kernels over NumPy tables,
and the zswap and zram frontends over them.

>>> import zbudjit as zj
>>> pool = zj.Pool(pages=1024)
>>> handles = pool.alloc([100, 2000, 3000])
>>> pool.stats().objects
3
"""

# First: it points Numba's cache away from the package before the modules below define their
# @njit(cache=True) kernels, which fix their cache directory as they are defined.
from . import _numba_cache  # noqa: F401

from .errors import CorruptionError, FileInUseError, InvalidHandleError, PoolError, PoolFullError
from .persist import SaveError, SaveNotFoundError
from .policies.zsmalloc.classes import huge_class_size, size_class_table
from .pool import POLICIES, CompactResult, Pool, ReclaimResult, Stats
from .frontends.zswap import Zswap, ZswapStats
from .frontends.zram import BdStat, IoStat, MmStat, Zram
from .replay import TraceError
from . import results

__version__ = "0.1.0"

__all__ = ["POLICIES", "BdStat", "CompactResult", "CorruptionError", "FileInUseError",
           "InvalidHandleError", "IoStat", "MmStat", "Pool", "PoolError", "PoolFullError",
           "ReclaimResult", "SaveError", "SaveNotFoundError", "Stats", "TraceError", "Zram",
           "Zswap", "ZswapStats", "__version__", "huge_class_size", "results",
           "size_class_table"]
