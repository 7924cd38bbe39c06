"""The zram examples run as a user would run them, in a subprocess, on tiny samples: each exits 0,
prints its table or figures, and ends with the line it prints only when its own check passed."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


def test_zram_sweep(tmp_path):
    pytest.importorskip("matplotlib")
    result = run(str(EXAMPLES / "zram_sweep.py"), "--mib", "1", "--plot", "plot.png",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "every page of every run read back byte for byte"
    assert "mem_used_total MiB" in result.stdout and "mem_used_max MiB" in result.stdout
    from zbudjit import compressors
    names = [name for name in ("lzo-rle", "lzo", "lz4", "zstd") if name in compressors.available()]
    rows = [line.split() for line in lines if line.split()[:1] and line.split()[0] in names]
    # one row per compressor x page size x chain size
    assert sorted((row[0], row[1], row[2]) for row in rows) == sorted(
        (name, page, chain) for name in names for page in ("4K", "16K")
        for chain in ("4", "8", "16"))
    assert (tmp_path / "plot.png").read_bytes()[:8] == PNG_SIGNATURE


def test_zram_sweep_without_a_plot(tmp_path):
    result = run(str(EXAMPLES / "zram_sweep.py"), "--mib", "1", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_zram_writeback(tmp_path):
    result = run(str(EXAMPLES / "zram_writeback.py"), "--pages", "512", "--hot-percent", "25",
                 "--compressor", "lz4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.strip().splitlines()[-1] == "every page read back byte for byte"
    for heading in ("mm_stat before writeback:", "mm_stat after writeback:",
                    "mm_stat after compaction:", "bd_stat after writeback"):
        assert heading in out
    assert "wrote back " in out and "128 read again" in out
    assert list(tmp_path.iterdir()) == []            # the backing file went with its temp dir


@pytest.mark.parametrize("args, message", [
    (["zram_sweep.py", "--mib", "0"], "--mib"),
    (["zram_sweep.py", "--device-percent", "0"], "--device-percent"),
    (["zram_writeback.py", "--pages", "0"], "--pages"),
    (["zram_writeback.py", "--hot-percent", "101"], "--hot-percent"),
])
def test_bad_arguments(tmp_path, args, message):
    result = run(str(EXAMPLES / args[0]), *args[1:], cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
