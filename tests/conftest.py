"""Shared fixtures: small datasets built once per test session (320x240, CPU EGL)."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
sys.path.insert(0, str(Path(__file__).parent))  # "from conftest import ..." in test modules

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = ROOT / "recipes" / "clutter_bop.yaml"
#: The developers' and CI's shared material (``../shared`` from the root; ``GTFORGE_SHARED`` names another place,
#: e.g. for a git worktree elsewhere). Tests that need it skip when it is missing.
SHARED = Path(os.environ.get("GTFORGE_SHARED") or ROOT.parent / "shared")

#: Overrides that make the bundled recipe small enough for CI (320x240, few frames).
SMALL = [
    "camera.width=320", "camera.height=240",
    "camera.intrinsics={fx: 286.2, fy: 286.8, cx: 161.6, cy: 120.5}",
]


#: Fixtures that build a dataset with the CLI: a test using one is end-to-end.
E2E_FIXTURES = {"small_dataset", "hands_dataset", "kitti_ar", "coco", "oracle_results", "yolo_dataset"}


def pytest_collection_modifyitems(config, items):
    """Tests on a built dataset are ``e2e``; every ``e2e`` test renders, so it is ``gl`` too; ``browser`` tests are
    ``slow``."""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("e2e") and not item.get_closest_marker("gl"):
            item.add_marker(pytest.mark.gl)
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)  # a headless browser starts in seconds: not in the fast loop


def run_cli(*argv) -> int:
    from gtforge.cli import main

    return main([str(a) for a in argv])


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """The bundled recipe at 320x240: 3 scenes x 3 views, built once."""
    out = tmp_path_factory.mktemp("ds") / "clutter"
    rc = run_cli("build", DEFAULT_RECIPE, "--out", out, "--quiet", *sum((["--set", s] for s in SMALL), []),
                 "--set", "scenes.count=3", "--set", "scenes.views_per_scene=3")
    assert rc == 0
    return out


class FakeLibrary:
    """A minimal asset library for renderer tests: ``get(obj_id)`` of a list of ``Asset``s."""

    def __init__(self, assets):
        self.assets = {a.obj_id: a for a in assets}

    def get(self, obj_id):
        return self.assets[obj_id]


def gl_modules_imported_by(module: str) -> list[str]:
    """The ``pyrender`` and ``OpenGL`` modules that importing ``module`` loads, in a fresh interpreter.

    Raises AssertionError (with the interpreter's stderr) if the import fails."""
    import subprocess

    code = (f"import sys, {module}\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in ('pyrender', 'OpenGL'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()
