"""The live kernel as an oracle: a driver for private zram devices (``zram.py``)."""
