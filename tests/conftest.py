import os

from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import pytest

REPORTED = []

# CI's second pass compiles every kernel with Numba's bounds checks (NUMBA_BOUNDSCHECK=1): it is
# for the tests that run zbudjit's kernels. A test marked ``no_kernels`` runs none (it installs
# the package, inspects Numba's cache directory, or signals the live-kernel driver), so that pass
# skips it rather than spend its minutes again.
BOUNDS_CHECKED = os.environ.get("NUMBA_BOUNDSCHECK", "0") not in ("", "0")


def pytest_configure(config):
    config.addinivalue_line("markers", "no_kernels: runs none of zbudjit's Numba kernels "
                                       "(skipped in the bounds-checked pass)")


def pytest_collection_modifyitems(config, items):
    if not BOUNDS_CHECKED:
        return
    skip = pytest.mark.skip(reason="runs no Numba kernel: nothing for NUMBA_BOUNDSCHECK to check")
    for item in items:
        if item.get_closest_marker("no_kernels"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def installation_pages():
    """1500 real 4 KiB pages of this Python's files, read once for every test that wants them."""
    from zbudjit.pagesource import default_pages
    pages = default_pages(4096, max_pages=1500).pages
    pages.setflags(write=False)                # shared by every module: nobody may change it
    return pages


@pytest.fixture
def report():
    """Record a measured figure; every one is printed in the run's closing summary."""
    return REPORTED.append


def pytest_terminal_summary(terminalreporter):
    if REPORTED:
        terminalreporter.section("measured")
        for line in REPORTED:
            terminalreporter.write_line(line)
