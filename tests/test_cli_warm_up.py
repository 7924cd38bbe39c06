"""No time the command line reports includes compiling: after its warm-up, the run it times loads
no kernel the warm-up did not. Each check is a new interpreter (with Numba's cache warm, so it
takes seconds, not a compile), since in this process every kernel is loaded already; a kernel
loaded during the timed run shows as a new signature of one of zbudjit's dispatchers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROLOGUE = """
import json, sys
from numba.core.registry import CPUDispatcher
import zbudjit
from zbudjit import cli

def signatures():
    return {f"{name}.{key}": len(value.signatures)
            for name, module in list(sys.modules.items()) if name.startswith("zbudjit") and module
            for key, value in vars(module).items() if isinstance(value, CPUDispatcher)}
"""

SWAP = PROLOGUE + """
from zbudjit.pagesource import default_pages
from zbudjit.workloads import swap_cycle
args = cli._parser().parse_args(["zswap", "x"])
compressor = cli._compressor("auto")
pages = default_pages(4096, max_pages=3000).pages
cli._warm_up_swap(args, compressor, 4096, len(pages))
before = signatures()
swap_cycle(pages, compressor=compressor, pool_percent=20, batches=50)
print(json.dumps(sorted(k for k, v in signatures().items() if before.get(k, 0) != v)))
"""

REPLAY = PROLOGUE + """
from zbudjit.replay import replay, synthetic_trace
policy, on_full = sys.argv[1:]
args = cli._parser().parse_args(["replay", "t.csv", "--policy", policy, "--on-full", on_full])
trace = synthetic_trace(200_000, seed=1)
cli._warm_up_replay(args)
before = signatures()
pool = cli._new_pool(1 << 20 if on_full == "error" else 3000, policy, 4096)
replay(trace, pool, samples=200, on_full=on_full)
print(json.dumps(sorted(k for k, v in signatures().items() if before.get(k, 0) != v)))
"""

RUNS = {"zswap": (SWAP,), "replay zbud": (REPLAY, "zbud", "error"),
        "replay zbud, reclaiming": (REPLAY, "zbud", "reclaim"),
        "replay zsmalloc": (REPLAY, "zsmalloc", "error")}


@pytest.fixture(scope="module")
def loaded_after_warm_up():
    """For each run, the kernels its timed part loaded that its warm-up had not: run side by
    side, one interpreter each."""
    processes = {name: subprocess.Popen([sys.executable, "-c", script, *argv], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
                 for name, (script, *argv) in RUNS.items()}
    loaded = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        loaded[name] = json.loads(out.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_timed_run_compiles_nothing(loaded_after_warm_up, run):
    assert loaded_after_warm_up[run] == []
