"""Numba's cache of zbudjit's kernels goes to a per-user directory (or the user's NUMBA_CACHE_DIR),
never into the package, whose leftover cache files once shadowed an editable install.

Each check runs a new interpreter on a fresh copy of the package (without the ``__pycache__``
folders a source tree collects), with its own XDG_CACHE_HOME and without the NUMBA_CACHE_DIR that
this test process inherits from its own ``import zbudjit``: the choice is made once per process, at
import, so only a new process shows it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zbudjit import _numba_cache

pytestmark = pytest.mark.no_kernels

PACKAGE = Path(__file__).resolve().parents[1] / "zbudjit"
CACHE_SUFFIXES = (".nbi", ".nbc")


def run_pools(*policies):
    """A program that compiles (or loads) and runs alloc and free of small pools of POLICIES."""
    return f"""
import json, os, sys
import numba
import zbudjit as zj
for policy in {policies!r}:
    pool = zj.Pool(pages=64, policy=policy)
    handles = pool.alloc([100, 2000, 3000])
    pool.free(handles)
    assert pool.stats().objects == 0
print(json.dumps({{"file": zj.__file__, "config": numba.config.CACHE_DIR,
                  "env": os.environ.get("NUMBA_CACHE_DIR")}}))
"""


# Numba imported, and a function compiled (the compiler re-reads the environment), before zbudjit;
# then every module-level @...(cache=True) function of the package, found in the sources, is looked
# up and asked where its cache is.
EVERY_KERNEL = """
import ast, importlib, json, pathlib, sys
import numba
assert numba.njit(lambda x: x + 1)(1) == 2
import zbudjit

def cached_functions(tree):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and any(
                        keyword.arg == "cache" and isinstance(keyword.value, ast.Constant)
                        and keyword.value.value is True for keyword in decorator.keywords):
                    yield node.name

root = pathlib.Path(zbudjit.__file__).parent
kernels = {}
for path in sorted(root.rglob("*.py")):
    names = cached_functions(ast.parse(path.read_text(encoding="utf-8")))
    parts = path.relative_to(root.parent).with_suffix("").parts
    module_name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    for name in names:
        module = importlib.import_module(module_name)
        cache = getattr(getattr(module, name), "_cache", None)
        kernels[module_name + "." + name] = getattr(cache, "cache_path", None)
pool = zbudjit.Pool(pages=8)
pool.free(pool.alloc([100, 2000]))
print(json.dumps({"file": zbudjit.__file__, "config": numba.config.CACHE_DIR, "kernels": kernels}))
"""


def copy_package(where):
    """A copy of the package's sources under WHERE, to import instead of the installed one."""
    shutil.copytree(PACKAGE, where / "zbudjit", ignore=shutil.ignore_patterns("__pycache__"))
    return where / "zbudjit"


def cache_files(root):
    """Numba's cache files under ROOT, as paths relative to it."""
    root = Path(root)
    if not root.exists():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")
                  if path.suffix in CACHE_SUFFIXES)


def run_child(program, cwd, **env_changes):
    """Run PROGRAM in a new interpreter in CWD (so it imports CWD's zbudjit); return its JSON line.

    ``env_changes`` set variables; a value of None removes one.
    """
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)          # this process's own import set it
    env.pop("PYTHONPATH", None)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run([sys.executable, "-c", program], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def expected_dir(cache_home):
    return _numba_cache.user_cache_dir({"XDG_CACHE_HOME": str(cache_home)})


def test_user_cache_dir_follows_xdg():
    version = f"py{sys.version_info.major}.{sys.version_info.minor}-{_numba_cache._sources_digest()}"
    assert _numba_cache.user_cache_dir({"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "1.2") == \
        f"/c/zbudjit/numba-1.2-{version}"
    # unset, empty or relative (which the XDG spec says to ignore): the home's .cache
    for environ in ({"HOME": "/h"}, {"XDG_CACHE_HOME": "", "HOME": "/h"},
                    {"XDG_CACHE_HOME": "rel/cache", "HOME": "/h"}):
        assert _numba_cache.user_cache_dir(environ, "1.2") == \
            f"/h/.cache/zbudjit/numba-1.2-{version}"
    # the version is the package's own, read from its __init__
    import zbudjit
    assert f"numba-{zbudjit.__version__}-" in _numba_cache.user_cache_dir({"HOME": "/h"})


def test_kernels_cache_in_user_dir_not_in_package(tmp_path):
    package = copy_package(tmp_path / "src")
    cache_home = tmp_path / "cache-home"
    out, _ = run_child(run_pools("zbud", "zsmalloc"), tmp_path / "src",
                       XDG_CACHE_HOME=str(cache_home))
    assert Path(out["file"]).parent == package            # the copy, not the installed zbudjit
    cache_dir = expected_dir(cache_home)
    assert out["config"] == out["env"] == cache_dir
    assert cache_files(package) == []
    written = cache_files(cache_dir)
    assert any(name.endswith(".nbi") for name in written) and any(
        name.endswith(".nbc") for name in written)
    # both policies' alloc and free kernels are there
    for folder in ("zbud_", "zsmalloc_"):
        for kernel in ("kernels.alloc_kernel", "kernels.free_kernel"):
            assert any(name.startswith(folder) and kernel in name for name in written), (folder,
                                                                                          kernel)
    assert set(cache_files(cache_home)) == {str(Path(cache_dir).relative_to(cache_home) / name)
                                            for name in written}


def test_every_cached_kernel_when_numba_is_imported_first(tmp_path):
    package = copy_package(tmp_path / "src")
    cache_home = tmp_path / "cache-home"
    out, _ = run_child(EVERY_KERNEL, tmp_path / "src", XDG_CACHE_HOME=str(cache_home))
    cache_dir = expected_dir(cache_home)
    assert out["config"] == cache_dir
    kernels = out["kernels"]
    # the policies, the engine, the zswap frontend, replay and bench all have cached kernels
    assert len(kernels) >= 50 and {name.split(".")[1] for name in kernels} >= {
        "policies", "engine", "frontends", "replay", "bench"}
    elsewhere = {name: path for name, path in kernels.items()
                 if path is None or not path.startswith(cache_dir + os.sep)}
    assert elsewhere == {}
    assert cache_files(package) == []
    assert cache_files(cache_dir) != []


def test_explicit_numba_cache_dir_is_respected(tmp_path):
    package = copy_package(tmp_path / "src")
    cache_home = tmp_path / "cache-home"
    explicit = tmp_path / "explicit"
    out, _ = run_child(run_pools("zbud"), tmp_path / "src", XDG_CACHE_HOME=str(cache_home),
                       NUMBA_CACHE_DIR=str(explicit))
    assert out["config"] == out["env"] == str(explicit)
    assert cache_files(explicit) != []
    assert not cache_home.exists()
    assert cache_files(package) == []


def test_cache_dir_set_in_code_before_import_is_respected(tmp_path):
    copy_package(tmp_path / "src")
    chosen = tmp_path / "chosen"
    program = ("import numba\nnumba.config.CACHE_DIR = %r\n" % str(chosen)) + EVERY_KERNEL
    out, _ = run_child(program, tmp_path / "src", XDG_CACHE_HOME=str(tmp_path / "cache-home"))
    assert out["config"] == str(chosen)
    assert all(path.startswith(str(chosen) + os.sep) for path in out["kernels"].values())
    assert not (tmp_path / "cache-home").exists()


def test_unwritable_cache_home_warns_and_uses_a_temporary_dir(tmp_path):
    package = copy_package(tmp_path / "src")
    # A regular file where the cache home should be: no directory can be made in it, even by root
    # (a read-only mode would not stop root).
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    program = ("import warnings\nwarnings.simplefilter('always')\n" + run_pools("zbud")
               + "print(json.dumps({'config': numba.config.CACHE_DIR, 'files': "
                 "sum(len(files) for _, _, files in os.walk(numba.config.CACHE_DIR))}))\n")
    out, stderr = run_child(program, tmp_path / "src", XDG_CACHE_HOME=str(blocked / "cache"))
    assert "CacheDirWarning" in stderr and "cannot write Numba's cache" in stderr
    assert Path(out["config"]).name.startswith("zbudjit-numba-")
    assert out["files"] > 0                                  # the temporary cache was used ...
    assert not os.path.exists(out["config"])                 # ... and removed at exit
    assert cache_files(package) == []


def test_child_processes_inherit_the_choice(tmp_path):
    copy_package(tmp_path / "src")
    cache_home = tmp_path / "cache-home"
    program = ("import json, subprocess, sys\nimport zbudjit\n"
               "child = subprocess.run([sys.executable, '-c', 'import numba.core.config as c; "
               "print(c.CACHE_DIR)'], capture_output=True, text=True, check=True)\n"
               "print(json.dumps({'child': child.stdout.strip()}))\n")
    out, _ = run_child(program, tmp_path / "src", XDG_CACHE_HOME=str(cache_home))
    assert out["child"] == expected_dir(cache_home)
