"""The writer protocol: a format is one class and one registry entry, nothing in the pipeline."""

import json
from pathlib import Path

import pytest
from conftest import DEFAULT_RECIPE, SMALL, run_cli

from gtforge.formats import registry
from gtforge.formats.atomic import write_json_atomic
from gtforge.formats.bop import scene_dirs


class ToyWriter:
    """A toy format: per scene ``toy.json`` (per image: size and visible instances), and ``toy_index.json``."""

    def __init__(self, ctx):
        self.folder, self.scene_id, self.frames = ctx.folder, ctx.scene_id, {}

    def add_frame(self, frame):
        self.frames[frame.im_id] = {"size": [frame.view.width, frame.view.height],
                                    "visible": [lab.obj_id for lab in frame.labels if lab.px_count_visib > 0]}

    def finish(self):
        write_json_atomic(self.folder / "toy.json", self.frames)

    @classmethod
    def merge(cls, ctx):
        write_json_atomic(ctx.root / "toy_index.json", [d.name for d in scene_dirs(ctx.root, ctx.split)])


@pytest.mark.e2e
def test_a_registered_toy_format_is_written_without_touching_the_pipeline(tmp_path, monkeypatch, capsys):
    args = ["build", DEFAULT_RECIPE, "--quiet", *sum((["--set", s] for s in SMALL), []), "--set", "scenes.count=2",
            "--set", "scenes.views_per_scene=2", "--set", "output.formats=[bop, toy]"]
    assert run_cli(*args, "--out", tmp_path / "refused") == 2  # not registered: a recipe error naming the field
    assert "output.formats[1]: unknown format" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()

    monkeypatch.setitem(registry.WRITERS, "toy", ToyWriter)
    assert run_cli(*args, "--out", tmp_path / "ds") == 0
    root = Path(tmp_path / "ds")
    assert json.loads((root / "toy_index.json").read_text()) == ["000000", "000001"]
    for sd in scene_dirs(root, "train_pbr"):
        toy = json.loads((sd / "toy.json").read_text())
        gt = json.loads((sd / "scene_gt.json").read_text())
        info = json.loads((sd / "scene_gt_info.json").read_text())
        assert sorted(toy) == sorted(gt) == ["0", "1"]
        for im, entry in toy.items():
            assert entry["size"] == [320, 240]
            assert entry["visible"] == [g["obj_id"] for g, i in zip(gt[im], info[im]) if i["px_count_visib"] > 0]


def test_register_refuses_a_taken_name():
    with pytest.raises(ValueError, match="registered already"):
        registry.register("bop", ToyWriter)
    from gtforge.formats.bop import ImagesWriter
    from gtforge.formats.coco import CocoWriter

    assert registry.writer_classes(["coco"]) == [ImagesWriter, CocoWriter]
    assert "pycocotools" in __import__("sys").modules  # resolved on use
