"""The build flags of issue 11 (``--shard``, ``--executor``, ``--address``, ``--gpus``) and ``gtforge merge`` on the
command line: help texts, light ``--help``, bad values exit 2 naming the flag with nothing written."""

import json
import subprocess
import sys

from conftest import DEFAULT_RECIPE, run_cli

HELP_IMPORTS = """
import json, sys
from gtforge.cli import main
out = {}
for argv in (["--help"], ["build", "--help"], ["merge", "--help"]):
    try:
        main(argv)
    except SystemExit as e:
        out[" ".join(argv)] = e.code
print(json.dumps({"codes": out, "modules": sorted(m for m in sys.modules if m.startswith("gtforge."))}))
"""


def test_help_names_the_new_flags_and_imports_no_stage():
    r = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    *text, last = r.stdout.strip().splitlines()
    info = json.loads(last)
    assert set(info["codes"].values()) == {0}
    assert info["modules"] == ["gtforge.cli"]  # no stage, no format, no recipe code for --help
    text = "\n".join(text)
    for flag in ("--shard K/N", "--executor {local,ray}", "--address ADDR", "--gpus all|0,2,...", "merge", "SHARD"):
        assert flag in text, flag


def test_address_without_ray_exits_2(tmp_path, capsys):
    assert run_cli("build", DEFAULT_RECIPE, "--out", tmp_path / "x", "--address", "10.0.0.1:6379") == 2
    assert "--address needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_bad_gpus_exits_2_naming_the_flag(tmp_path, capsys):
    for spec in ("0,0", "x", ""):
        assert run_cli("build", DEFAULT_RECIPE, "--out", tmp_path / "x", f"--gpus={spec}") == 2
        err = capsys.readouterr().err
        assert err.startswith("gtforge: error: --gpus"), err
    assert not (tmp_path / "x").exists()
