"""Memory: what a pool costs in RAM, and how densely zbud packs objects.

- ``BuildPool.peakmem_build_pool``: peak resident memory of the benchmark process after creating a
  pool and allocating one object per page (no object bytes written). asv's peakmem_ is the
  process's maximum RSS, so it includes Python, NumPy and Numba (about 100-150 MB); compare
  it between commits, not against zero.
- ``Occupancy``: after that fill, ``stats()``'s metadata bytes per page of the pool and per
  handle, the density (bytes stored per byte of used pages) and the pages used.
- ``CompressedFill1M``: the same for the goal workload, a 1M-page pool (2**20 pages) filled with
  1.5M compressed-page-like objects in one batch.

No numeric goals: these are tracked so that a change shows up. Metadata per page is counted
against the 4096-byte page (the README quotes 29.0 bytes under churn and 45.3 after a fill of
150k objects); a handle costs 20 bytes (its record and its place in the free-slot stack).
Density and pages used follow from zbud's placement (at most two objects a page), so a change in
them means placement changed.
"""

import zbudjit as zj

from .common import (PAGES, PARAM_NAMES, RATIO_OBJECTS, RATIO_PAGES, SIZE_KINDS, filled_pool,
                     object_sizes, warm_up)


class BuildPool:
    """Peak RSS of building a pool of ``pages`` pages holding ``pages`` objects."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    timeout = 300

    def setup(self, pages, kind):
        warm_up()
        self.sizes = object_sizes(kind, pages)

    def peakmem_build_pool(self, pages, kind):
        pool = zj.Pool(pages=pages)
        pool.alloc(self.sizes)


class Occupancy:
    """``stats()`` of a pool of ``pages`` pages after one batch of ``pages`` objects."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    timeout = 300

    def setup(self, pages, kind):
        warm_up()
        pool, _ = filled_pool(pages, object_sizes(kind, pages))
        self.stats = pool.stats()

    def track_metadata_bytes_per_page(self, pages, kind):
        return self.stats.metadata_bytes_per_page

    track_metadata_bytes_per_page.unit = "bytes"

    def track_metadata_bytes_per_handle(self, pages, kind):
        return self.stats.metadata_bytes_per_handle

    track_metadata_bytes_per_handle.unit = "bytes"

    def track_density(self, pages, kind):
        return self.stats.density

    track_density.unit = "ratio"

    def track_pages_used(self, pages, kind):
        return self.stats.pages_used

    track_pages_used.unit = "pages"


class CompressedFill1M:
    """``stats()`` after 1.5M compressed-page-like objects on a 1M-page pool."""

    timeout = 300

    def setup(self):
        warm_up()
        pool, _ = filled_pool(RATIO_PAGES, object_sizes("compressed", RATIO_OBJECTS))
        self.stats = pool.stats()

    def track_density(self):
        return self.stats.density

    track_density.unit = "ratio"

    def track_pages_used(self):
        return self.stats.pages_used

    track_pages_used.unit = "pages"

    def track_metadata_bytes_per_page(self):
        return self.stats.metadata_bytes_per_page

    track_metadata_bytes_per_page.unit = "bytes"
