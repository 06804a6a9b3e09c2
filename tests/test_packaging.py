"""gtforge installed like a Python package, as a new user gets it: the wheel built from the repository holds the
modules and the bundled recipes and nothing else, and once installed (not editable) it builds a bundled recipe by
name in a folder outside the repository, with ``python -m gtforge`` and with the ``gtforge`` console script.

The wheel is built with the environment's setuptools (``--no-build-isolation``: nothing is downloaded) from a
copy of the repository (so no ``build/`` or ``*.egg-info`` appears in it) and installed with ``--target`` into a
temporary folder; its dependencies are the test environment's. That folder comes first on ``PYTHONPATH``, ahead
of the environment's editable install of the repository (a meta-path finder placed after the path finder), and the
subprocesses assert that they imported gtforge from it.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e

#: Not part of a checkout: left out of the copy the wheel is built from (the environment, git, build outputs).
NOT_SOURCE = (".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "output", "out", ".pytest_cache", "site")
#: 160x120 with the default recipe's camera scaled by 1/4.
TINY = ["camera.width=160", "camera.height=120", "camera.intrinsics={fx: 143.1, fy: 143.4, cx: 81.3, cy: 60.5}"]


def _run(argv, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    return r, f"$ {' '.join(str(a) for a in argv)}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    r, log = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                   "--disable-pip-version-check", "-q", "-w", tmp / "dist", src], timeout=300)
    assert r.returncode == 0, log
    (whl,) = (tmp / "dist").glob("gtforge-*.whl")
    return whl


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("installed") / "site"
    r, log = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
                   "-q", "--target", site, wheel], timeout=300)
    assert r.returncode == 0, log
    return site


def test_wheel_holds_the_modules_and_recipes_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    files = [n for n in names if not n.split("/")[0].endswith(".dist-info")]
    # every module of every package folder (a package missing from pyproject.toml's list would be missing here)
    folders = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    modules = {f"gtforge/{p.name}" for p in ROOT.glob("*.py")}
    modules |= {f"gtforge/{f}/{p.name}" for f in folders for p in (ROOT / f).glob("*.py")}
    recipes = {f"gtforge/recipes/{p.name}" for p in (ROOT / "recipes").glob("*.yaml")}
    assert len(recipes) >= 5 and "gtforge/__main__.py" in modules
    assert set(files) == modules | recipes, (
        f"missing: {sorted((modules | recipes) - set(files))}; stray: {sorted(set(files) - modules - recipes)}")
    assert not any(n.startswith(("gtforge/tests/", "gtforge/docs/", "gtforge/.ci/", "gtforge/benchmarks/"))
                   for n in names)


#: In the subprocess: gtforge must come from the installed folder; then run it as ``python -m gtforge``.
RUN_INSTALLED = """
import runpy, sys
from pathlib import Path
import gtforge
site = Path(sys.argv[1]).resolve()
assert Path(gtforge.__file__).resolve().is_relative_to(site), f"gtforge imported from {gtforge.__file__}, not {site}"
sys.argv = ["gtforge", *sys.argv[2:]]
runpy.run_module("gtforge", run_name="__main__", alter_sys=True)
"""


def test_installed_wheel_builds_a_bundled_recipe_outside_the_repository(site, tmp_path):
    work = tmp_path / "work"  # the current folder: no recipes/, no source tree
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = tmp_path / "ds"
    set_args = sum((["--set", s] for s in TINY), [])
    r, log = _run([sys.executable, "-c", RUN_INSTALLED, site, "build", "clutter_bop", "--out", out, "--frames", "2",
                   "--quiet", *set_args], cwd=work, env=env, timeout=600)
    assert r.returncode == 0, log
    meta = json.loads((out / "gtforge.json").read_text())
    assert Path(meta["recipe_file"]).resolve() == (site / "gtforge" / "recipes" / "clutter_bop.yaml").resolve()
    assert len(list(out.glob("train_pbr/*/rgb/*.jpg"))) == 2

    script = site / "bin" / "gtforge"  # the console script of the wheel's entry point
    r, log = _run([script, "verify", out, "--sample", "1"], cwd=work, env=env, timeout=300)
    assert r.returncode == 0 and "gtforge verify: OK" in r.stdout, log
    r, log = _run([script, "recipes"], cwd=work, env=env, timeout=120)
    assert r.returncode == 0, log
    names = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))
    assert [line.split()[0] for line in r.stdout.splitlines()] == names
    r, log = _run([script, "init", "hands_objects", "--out", "mine.yaml"], cwd=work, env=env, timeout=120)
    assert r.returncode == 0, log
    assert (work / "mine.yaml").read_bytes() == (site / "gtforge" / "recipes" / "hands_objects.yaml").read_bytes()
    assert sorted(p.name for p in work.iterdir()) == ["mine.yaml"]  # nothing else written into the current folder
