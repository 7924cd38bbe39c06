"""What every policy shares: tables and their helpers (tables.py), the data path (datapath.py),
memory primitives (memory.py) and the files an arena or swap file lives in (files.py)."""
