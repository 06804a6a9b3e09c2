"""``gtforge compare`` on the command line: flags, exit codes, nothing written on bad input, the default folder,
and (e2e) a real build compared with itself and with a darkened copy of its own images."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from gtforge import cli
from gtforge.compare import report as R
from gtforge.compare.imagesets import FORMATS, MissingExtraError


def folder(root, n=5, level=120, size=(48, 36), seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        img = np.clip(level + rng.normal(0, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i}.png")
    return root


def nothing_written(parent, name="out") -> bool:
    return not (parent / name).exists() and not list(parent.glob(f".tmp_{name}")) and not list(parent.glob(".old_*"))


def test_reference_formats_are_the_loaders():
    assert cli.REFERENCE_FORMATS == ("auto", *FORMATS)


HELP = """
import sys
from gtforge.cli import main
try:
    main(["compare", "--help"])
except SystemExit as e:
    code = e.code
print("MODULES", code, sorted(m for m in sys.modules if m.startswith("gtforge.")))
"""


def test_help_is_light_and_names_the_flags():
    r = subprocess.run([sys.executable, "-c", HELP], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text, last = r.stdout.rsplit("MODULES", 1)
    assert last.split(None, 1)[0] == "0" and "['gtforge.cli']" in last
    for flag in ("--reference REF", "--out DIR", "--reference-format", "--seed", "--max-images N", "--no-learned",
                 "default: DATASET/compare"):
        assert flag in text, flag


def test_bad_input_exits_2_naming_the_path_and_writes_nothing(tmp_path, capsys):
    ours = folder(tmp_path / "ours")
    (tmp_path / "empty").mkdir()
    coco = tmp_path / "coco.json"
    coco.write_text('{"images": [}')
    out = tmp_path / "out"
    cases = [(["compare", tmp_path / "nope", "--reference", ours], "nope: no such file or folder"),
             (["compare", ours, "--reference", tmp_path / "empty"], "empty: no images found"),
             (["compare", ours, "--reference", coco], "coco.json"),
             (["compare", ours, "--reference", ours, "--reference-format", "kitti"], "not a KITTI object folder"),
             (["compare", ours, "--reference", ours, "--max-images", "0"], "--max-images must be >= 1")]
    for argv, msg in cases:
        assert run_cli(*argv, "--out", out, "--no-learned") == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("gtforge: error: ") and msg in err, (argv, err)
        assert nothing_written(tmp_path), argv
    (tmp_path / "afile").write_text("x")
    assert run_cli("compare", ours, "--reference", ours, "--out", tmp_path / "afile", "--no-learned") == 2
    assert "afile: exists and is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        run_cli("compare", ours, "--reference", ours, "--reference-format", "png")
    assert e.value.code == 2 and "invalid choice: 'png'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_missing_extra_exits_2_naming_it(tmp_path, capsys, monkeypatch):
    def missing(*modules):
        raise MissingExtraError("torch not installed: this needs the optional 'tune' extra: pip install -e '.[tune]'")

    monkeypatch.setattr(R, "require_extra", missing)
    ours = folder(tmp_path / "ours")
    assert run_cli("compare", ours, "--reference", ours, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[tune]'" in err and "--no-learned" in err
    assert nothing_written(tmp_path)
    assert run_cli("compare", ours, "--reference", ours, "--out", tmp_path / "out", "--no-learned") == 0


@pytest.mark.slow
def test_default_folder_is_inside_the_dataset_and_a_rerun_replaces_it(tmp_path, capsys):
    ours = folder(tmp_path / "ours")
    ref = folder(tmp_path / "ref", level=60, seed=1)
    for _ in range(2):
        assert run_cli("compare", ours, "--reference", ref, "--no-learned", "--seed", "3") == 0
        out = capsys.readouterr().out
        assert f"wrote {ours / 'compare' / 'index.html'}" in out and "Largest differences" in out
        doc = json.loads((ours / "compare" / "compare.json").read_text())
        assert doc["inputs"]["dataset"]["images"] == 5 and doc["inputs"]["seed"] == 3
    assert sorted(p.name for p in ours.iterdir()) == ["0.png", "1.png", "2.png", "3.png", "4.png", "compare"]


# ----------------------------------------------------------------------------------------------- e2e

def test_a_build_compared_with_itself_shows_no_gap(small_dataset, tmp_path, capsys):
    out = tmp_path / "self"
    assert run_cli("compare", small_dataset, "--reference", small_dataset, "--out", out, "--no-learned") == 0
    doc = json.loads((out / "compare.json").read_text())
    assert doc["inputs"]["dataset"]["format"] == doc["inputs"]["reference"]["format"] == "gtforge"
    assert doc["inputs"]["dataset"]["labelled"] and doc["inputs"]["dataset"]["images"] == 9
    groups = {d["group"] for d in doc["distances"]}
    assert groups == {"image", "content"}
    assert {"visib_fract", "object_distance", "viewpoint"} <= {d["name"] for d in doc["distances"]}
    assert all(d["normalized"] == 0.0 and not d["clear"] for d in doc["distances"])
    assert doc["summary"]["sentences"][0].startswith("No statistic differs clearly")


def test_a_build_against_a_darkened_copy_of_its_images(small_dataset, tmp_path, capsys):
    """The reference: the build's own frames at 60 % brightness, as PNG files. Brightness, the file format and the
    sharpness (the Laplacian's variance scales with the square of the contrast) are among the largest differences,
    the classifier tells the sets apart, and its most real-looking of our images are files of the build."""
    from gtforge.compare.imagesets import load_image_set

    ref = tmp_path / "dark"
    ref.mkdir()
    for i, r in enumerate(load_image_set(small_dataset).records):
        rgb = np.asarray(Image.open(r.path).convert("RGB"), dtype=np.float64)
        Image.fromarray(np.rint(rgb * 0.6).astype(np.uint8)).save(ref / f"{i:02d}.png")
    out = tmp_path / "report"
    assert run_cli("compare", small_dataset, "--reference", ref, "--out", out) == 0
    doc = json.loads((out / "compare.json").read_text())
    by = {d["name"]: d for d in doc["distances"]}
    # the build's frames are JPEG files, the copies PNG; darkening scales the Laplacian by 0.6 (its variance by 0.36)
    assert by["file_format"]["normalized"] == 1.0 and "JPEG" in by["file_format"]["sentence"]
    assert by["sharpness"]["details"]["median_ref"] == pytest.approx(0.36 * by["sharpness"]["details"]["median_ours"],
                                                                     rel=0.1)
    assert "brightness" in doc["summary"]["largest"] and by["brightness"]["clear"]
    assert "brighter" in by["brightness"]["sentence"]
    assert doc["summary"]["groups"]["content"]["sentences"][0].startswith("Content: not compared")
    assert doc["learned"]["torch_threads"] == 1
    c2 = doc["learned"]["c2st"]
    assert c2["accuracy"] >= 0.7 and c2["n_balanced"] == 9
    assert c2["folds_keep_scenes"] is True  # 3 scenes of 3 views: each scene's views stay in one fold
    assert all((small_dataset / x["file"]).is_file() for x in c2["most_real_ours"])
    assert all((out / t).is_file() for t in doc["files"]["thumbs"])
