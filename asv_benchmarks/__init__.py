"""zbudjit's asv benchmark suite (see docs/benchmarks.md).

One module per area: ``bench_alloc_free``, ``bench_data_path``, ``bench_reclaim``,
``bench_compaction``, ``bench_startup`` and ``bench_memory``. ``common`` holds the workloads they
share and ``floor`` the memory-floor kernel that the speed ratios are measured against.
"""
