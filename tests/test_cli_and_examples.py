"""The command line and the examples run as a user would run them: in a subprocess."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_demo_verifies_and_prints_stats():
    result = run("-m", "zbudjit.cli", "demo", "--pages", "20000", "--objects", "20000")
    assert result.returncode == 0, result.stderr
    assert "every object read back byte for byte" in result.stdout
    assert "density" in result.stdout and "pages used / total" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["demo", "--pages", "0"], "pages must be between"),
    (["demo", "--page-size", "5000"], "power of two"),
    (["demo", "--pages", "100", "--objects", "1000"], "pool is full"),
])
def test_demo_bad_arguments_give_one_line(args, message):
    result = run("-m", "zbudjit.cli", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_command_is_rejected():
    result = run("-m", "zbudjit.cli", "frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


# highmem_pool.py runs in test_highmem.py, on a smaller sample
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name != "highmem_pool.py")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example):
    result = run(str(example))
    assert result.returncode == 0, result.stderr
    assert "pool audit passed" in result.stdout
