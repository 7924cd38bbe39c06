import os

from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

import pytest

REPORTED = []


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
