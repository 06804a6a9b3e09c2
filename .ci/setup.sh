#!/usr/bin/env bash
# Set up gtforge on a fresh Debian/Ubuntu-like machine, idempotently:
#   1. system EGL/OpenGL libraries (Mesa llvmpipe; an NVIDIA driver's EGL works too) -
#      installed with apt-get when missing and we are root, otherwise a clear message;
#   2. a virtual environment in .venv with gtforge and its pinned dependencies
#      (with --tune: the `tune` extra too, what `gtforge compare` and `gtforge tune` need: torch on the CPU,
#      Optuna; with --test: the test dependencies, which include the tune extra's, and the headless browser
#      the compare report's test drives: Debian's chromium and chromium-driver, with apt-get as root);
#   3. a check that an EGL context can actually be created.
# Usage: bash .ci/setup.sh [--test | --tune]
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
case "${1:-}" in
  --test) extras="[test]" ;;
  --tune) extras="[tune]" ;;
  "") ;;
  *) echo "gtforge setup: unknown option ${1} (use --test or --tune)" >&2; exit 2 ;;
esac

# apt_install "what they are for" "why, when they cannot be installed" PACKAGES...: as root with apt-get,
# installs them; otherwise prints the command and stops.
apt_install() {
  local what="$1" why="$2"; shift 2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "gtforge setup: installing $what: $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "gtforge setup: $why. Install them, e.g.:" >&2
    echo "  sudo apt-get install $*" >&2
    exit 1
  fi
}

if [ "$extras" = "[test]" ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
  # the compare report's page test (tests/compare/test_report.py, marker browser)
  apt_install "the headless browser for the tests" "the tests drive a headless browser" chromium chromium-driver
fi

libs="$(ldconfig -p 2>/dev/null || true)"   # captured once: grep -q on a pipe can SIGPIPE ldconfig
have_lib() { grep -qF "$1" <<<"$libs"; }
if ! { have_lib 'libEGL.so.1' && { have_lib 'libEGL_mesa.so.0' || have_lib 'libEGL_nvidia.so.0'; } \
       && { have_lib 'libOpenGL.so.0' || have_lib 'libGL.so.1'; }; }; then
  apt_install "EGL/OpenGL system libraries" "EGL/OpenGL libraries are missing" \
    libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgl1
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "gtforge setup: installing python3-venv"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv .venv
    else
      echo "gtforge setup: '$PY -m venv' failed; install your Python's venv module (e.g. apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
# The repository root *is* the package `gtforge` (pyproject: package-dir); every setuptools editable mode
# prints an "Editable installation" notice for such a mapping. That notice, from that module alone, is
# silenced here; any other warning still shows.
PYTHONWARNINGS="ignore::UserWarning:setuptools.command.editable_wheel" \
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import gtforge" 2>/dev/null || { echo "gtforge setup: installing the package failed" >&2; exit 1; }
if [ "$extras" = "[test]" ]; then
  # The YOLO test client, without its declared dependencies: it asks for opencv-python, which would clash with
  # opencv-python-headless; what its dataset checks and loader use is in the test extras (pyproject.toml).
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "ultralytics==8.4.190" 2>&1 \
    | grep -v '^WARNING: Location' || true
  ulcfg="$(mktemp -d)"   # ultralytics writes its settings file at import: not into the home folder or the repository
  YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$ulcfg" .venv/bin/python -c "import ultralytics.data.utils" >/dev/null \
    || { rm -rf "$ulcfg"; echo "gtforge setup: installing the YOLO test client (ultralytics) failed" >&2; exit 1; }
  rm -rf "$ulcfg"
fi

if ! PYOPENGL_PLATFORM=egl .venv/bin/python - <<'PY'
import pyrender
r = pyrender.OffscreenRenderer(16, 16)
r.delete()
PY
then
  echo "gtforge setup: cannot create an EGL context (see the error above); check the Mesa/NVIDIA EGL install" >&2
  exit 1
fi
echo "gtforge setup: ready (.venv)"
