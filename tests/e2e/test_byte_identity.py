"""Same recipe, same bytes: every bundled recipe writes exactly the files recorded in ``golden_hashes.json``.

The hashes were first recorded before the layout refactor (issue 8), which left every byte as it was,
and re-recorded with issue 12, whose fixes change output on purpose (BOP boxes, symmetries, physics
collision shapes and margin, KITTI frames, cars on the local ground). A change that is *meant* to alter
output regenerates them with ``.venv/bin/python tests/e2e/golden.py --record``
and commits the new file together with the change (the diff of the JSON shows which files moved).
"""

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("golden", Path(__file__).with_name("golden.py"))
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

RECORDED = json.loads(golden.HASHES.read_text())


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_recipe_output_is_byte_identical_to_the_recorded_hashes(case, tmp_path):
    got = golden.build_case(case, tmp_path / case)
    want = RECORDED[case]
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    changed = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    assert not (missing or extra or changed), f"missing {missing[:10]}, extra {extra[:10]}, changed {changed[:10]}"


def test_text_files_are_hashed_without_machine_paths(tmp_path):
    (tmp_path / "a.json").write_text(f'{{"base_dir": "{golden.ROOT}", "out": "{tmp_path}"}}')
    (tmp_path / "b.png").write_bytes(str(golden.ROOT).encode())
    h = golden.tree_hashes(tmp_path)
    (tmp_path / "a.json").write_text('{"base_dir": "<ROOT>", "out": "<OUT>"}')
    assert golden.tree_hashes(tmp_path)["a.json"] == h["a.json"]
    (tmp_path / "b.png").write_bytes(b"<ROOT>")
    assert golden.tree_hashes(tmp_path)["b.png"] != h["b.png"]  # binary files are hashed as written
