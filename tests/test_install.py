"""Install, uninstall, editable install and reinstall of zbudjit, one after another in one new
virtual environment, as the README's steps do (``pip install ".[all]"``, later
``pip install -e ".[bench]"``).

It guards the failure of issue 11: Numba's cache files, written into ``site-packages/zbudjit`` by
the first install, survived ``pip uninstall`` and made the editable install import an empty
namespace package. Every step imports zbudjit in a new interpreter, from a folder outside the
source tree, and runs a small pool.

The environment gets no packages from an index for zbudjit: it is installed with ``--no-deps
--no-build-isolation --no-index`` from a copy of the source tree (so no build output lands in the
repository), and sees this interpreter's site-packages (numpy, numba, pip, setuptools) through a
``.pth`` file. ``venv --system-site-packages`` would not do: run from a virtual environment, it
shares the *base* interpreter's site-packages, not the environment's. The shared view leaves out
zbudjit itself, which would otherwise shadow the editable install exactly as the leftovers did.
"""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_kernels

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS_NEEDED = 77              # pyproject.toml's build requirement: the SPDX license string
IGNORED = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", ".venv",
                                 ".asv", ".hypothesis", ".pytest_cache", "*.nbi", "*.nbc")

CHILD = """
import importlib.metadata, json, os
import zbudjit as zj
pool = zj.Pool(pages=16)
pool.free(pool.alloc([100, 2000, 3000]))
assert pool.stats().objects == 0
meta = importlib.metadata.metadata("zbudjit")
files = [str(f) for f in importlib.metadata.files("zbudjit") or ()]
here = os.path.dirname(zj.__file__)
print(json.dumps({"file": zj.__file__, "version": zj.__version__, "policies": sorted(zj.POLICIES),
                  "license": meta.get("License-Expression"),
                  "license_files": [f for f in files if f.endswith("LICENSE")],
                  "py_typed": os.path.exists(os.path.join(here, "py.typed")),
                  "cache": os.environ.get("NUMBA_CACHE_DIR")}))
"""


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                          **kwargs)


def major(version):
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def share_site_packages(view_root):
    """Folders of links to this interpreter's site-packages entries, less zbudjit's own ones."""
    views = []
    for index, folder in enumerate(p for p in dict.fromkeys(sys.path)
                                   if Path(p).name in ("site-packages", "dist-packages")
                                   and Path(p).is_dir()):
        view = view_root / str(index)
        view.mkdir(parents=True)
        for entry in Path(folder).iterdir():
            name = entry.name.lower()
            # zbudjit's package, metadata and editable hooks; .pth files, which a path added by a
            # .pth file does not run anyway; caches.
            if "zbudjit" in name or name.endswith(".pth") or name == "__pycache__":
                continue
            (view / entry.name).symlink_to(entry)
        views.append(view)
    return views


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """(python, site-packages, env) of a new virtual environment sharing this one's packages."""
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    if made.returncode != 0 or not python.exists():
        pytest.skip(f"cannot create a virtual environment here: {made.stderr.strip()[-500:]}")
    site_packages = Path(run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    try:
        views = share_site_packages(root / "shared")
    except OSError as error:
        pytest.skip(f"cannot link this environment's packages into a new one: {error}")
    (site_packages / "_shared_with_parent.pth").write_text("".join(f"{v}\n" for v in views))

    env = dict(os.environ)
    for name in ("PYTHONPATH", "NUMBA_CACHE_DIR", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if run([str(python), "-m", "pip", "--version"], env=env).returncode != 0:
        pytest.skip("pip is not installed in the environment running the tests")

    try:
        have = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        have = "none"
    if major(have) < SETUPTOOLS_NEEDED:
        # The one download of the test, and only when the running environment's setuptools is
        # too old to build zbudjit's metadata (a venv's bundled setuptools is).
        got = run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed",
                   f"setuptools>={SETUPTOOLS_NEEDED}"], env=env)
        if got.returncode != 0:
            pytest.skip(f"building zbudjit needs setuptools>={SETUPTOOLS_NEEDED}; this "
                        f"environment has {have} and none could be installed: "
                        f"{got.stderr.strip()[-500:]}")
    return python, site_packages, env, root


def pip(environment, *args):
    python, _, env, _ = environment
    result = run([str(python), "-m", "pip", *args], env=env)
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def install(environment, source, editable=False):
    pip(environment, "install", "--no-deps", "--no-build-isolation", "--no-index",
        *(["-e"] if editable else []), str(source))


def import_and_run(environment):
    """Import zbudjit in a new interpreter outside every source tree; return what CHILD saw."""
    python, _, env, root = environment
    elsewhere = root / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    result = run([str(python), "-c", CHILD], cwd=elsewhere,
                 env=dict(env, XDG_CACHE_HOME=str(root / "cache-home")))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def cache_files(folder):
    return sorted(str(p) for p in Path(folder).rglob("*") if p.suffix in (".nbi", ".nbc"))


def check_installed(environment, seen):
    """What a regular (not editable) install must look like once it has run a pool."""
    _, site_packages, _, root = environment
    installed = site_packages / "zbudjit"
    assert Path(seen["file"]).resolve() == (installed / "__init__.py").resolve()
    assert seen["license"] == "MIT" and seen["license_files"], seen
    assert seen["py_typed"]
    assert cache_files(installed) == []                 # Numba's cache went elsewhere ...
    assert seen["cache"].startswith(str(root / "cache-home" / "zbudjit") + os.sep)
    assert cache_files(seen["cache"]) != []             # ... to the per-user folder


def test_install_uninstall_editable_reinstall(environment):
    _, site_packages, _, root = environment
    source = root / "source"
    shutil.copytree(REPO, source, ignore=IGNORED)

    install(environment, source)
    seen = import_and_run(environment)
    assert seen["policies"] == ["zbud", "zsmalloc"] and seen["version"]
    check_installed(environment, seen)

    pip(environment, "uninstall", "-y", "zbudjit")
    # Nothing of the package may be left: a leftover folder would be imported as a namespace
    # package ahead of an editable install's finder.
    assert not (site_packages / "zbudjit").exists(), sorted(
        str(p.relative_to(site_packages)) for p in (site_packages / "zbudjit").rglob("*"))
    python, _, env, _ = environment
    gone = run([str(python), "-c", "import zbudjit"], cwd=root, env=env)
    assert gone.returncode != 0 and "No module named 'zbudjit'" in gone.stderr, gone.stderr

    install(environment, source, editable=True)
    seen = import_and_run(environment)
    assert Path(seen["file"]).resolve() == (source / "zbudjit" / "__init__.py").resolve()
    assert seen["policies"] == ["zbud", "zsmalloc"]
    assert cache_files(source / "zbudjit") == []
    assert not (site_packages / "zbudjit").exists()

    install(environment, source)                        # replaces the editable install
    seen = import_and_run(environment)
    check_installed(environment, seen)
