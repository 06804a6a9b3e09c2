"""The named random streams of core/rng.py: the asset streams keep the draws of the generators they replaced."""

import ast
from pathlib import Path

import numpy as np
import pytest

from gtforge.core.rng import ASSET_STREAMS, STREAMS, asset_rng

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stream, key, before", [
    ("car_shape", (3,), lambda: np.random.default_rng([0xCA5, 3])),  # assets/loaders.py, procedural car 3
    ("car_length", (12,), lambda: np.random.default_rng([0x17E, 12])),  # normalised model obj_id 12
    ("ground_plane", (0,), lambda: np.random.default_rng(0)),  # skimage's ransac(rng=recipe seed)
    ("ground_plane", (2**33 + 5,), lambda: np.random.default_rng(2**33 + 5)),  # a seed past 32 bits
    ("grasp_surface", (7,), lambda: np.random.default_rng(7)),  # trimesh's sample_surface(seed=obj_id)
    ("symmetry_surface", (0,), lambda: np.random.default_rng(0)),  # trimesh's sample_surface(seed=0)
])
def test_asset_streams_draw_what_their_former_generators_drew(stream, key, before):
    assert np.array_equal(asset_rng(stream, *key).random(64), before().random(64))


def test_asset_streams_differ_by_name_and_key():
    draws = {(s, k): asset_rng(s, k).random() for s in ("car_shape", "car_length") for k in (1, 2)}
    assert len(set(draws.values())) == 4


@pytest.mark.parametrize("args", [("no_such_stream", 1), ("car_shape",), ("car_shape", -1)])
def test_bad_asset_stream_calls_are_refused(args):
    with pytest.raises(ValueError):
        asset_rng(*args)


#: Calls that seed a generator, and the argument that holds the seed (position, keyword).
SEEDED = {"default_rng": (0, "seed"), "SeedSequence": (0, "entropy"), "sample_surface": (None, "seed"),
          "ransac": (None, "rng")}


def _outside_calls(node: ast.AST) -> list[ast.AST]:
    """``node`` and what it holds, but not the arguments of the calls in it (a seed drawn by
    ``rng.integers(2**31)`` holds a literal bound, not a literal seed)."""
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        out.append(n)
        if isinstance(n, ast.Call):
            todo.append(n.func)
        else:
            todo.extend(ast.iter_child_nodes(n))
    return out


def seeds_outside_the_tables(source: str) -> list[str]:
    """Calls in ``source`` that seed a generator with a literal or a model id (``.obj_id``), or hand trimesh's or
    scikit-image's samplers (``sample_surface``, ``ransac``) anything but a generator made by a call."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in SEEDED:
            continue
        pos, kw = SEEDED[name]
        args = [k.value for k in node.keywords if k.arg == kw] + (node.args[pos:pos + 1] if pos is not None else [])
        for v in args:
            callee = v.func.attr if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) else \
                getattr(getattr(v, "func", None), "id", "")
            if callee in ("asset_rng", "scene_rng", "analysis_rng"):
                continue
            parts = _outside_calls(v)
            literal = any(isinstance(x, ast.Constant) and type(x.value) in (int, float) for x in parts)
            model_id = any(isinstance(x, ast.Attribute) and x.attr == "obj_id" for x in parts)
            if literal or model_id or (pos is None and not isinstance(v, ast.Call)):
                bad.append(f"{node.lineno}: {ast.unparse(node)[:90]}")
    return bad


def test_no_generator_is_seeded_outside_the_stream_tables():
    """Every generator of gtforge comes from core/rng.py's tables, or from a seed drawn from one of their streams
    (a texture's, an effect's, a sensor's): none is seeded by a literal or a model id, as the procedural cars,
    the normalised lengths, the ground-plane RANSAC and the surface samples of the grasp and symmetry searches
    once were."""
    bad = []
    for path in sorted(ROOT.glob("*/*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.split("/")[0] in ("tests", "benchmarks", "docs") or rel == "core/rng.py":
            continue
        bad += [f"{rel}:{b}" for b in seeds_outside_the_tables(path.read_text())]
    assert not bad, "generators seeded outside core/rng.py's tables:\n" + "\n".join(bad)


@pytest.mark.parametrize("line", [
    "make_car(np.random.default_rng([0xCA5, variant]))",
    "trimesh.sample.sample_surface(m, 100, seed=obj.obj_id)",
    "trimesh.sample.sample_surface(mesh, 100, seed=0)",
    "ransac(points, PlaneModel, min_samples=3, rng=seed)",
])
def test_the_seed_reader_catches_the_old_bypasses(line):
    assert seeds_outside_the_tables(line)


@pytest.mark.parametrize("line", [
    "np.random.default_rng([seed, TEXTURE_FAMILIES.index(family)])",  # a texture seed drawn from appearance
    "ransac(points, PlaneModel, rng=asset_rng('ground_plane', seed))",
    "np.random.default_rng(int(params.seed))",
])
def test_the_seed_reader_passes_seeds_from_the_tables(line):
    assert not seeds_outside_the_tables(line)


def test_the_tables_do_not_collide():
    assert len(set(STREAMS.values())) == len(STREAMS)
    prefixes = [p for p in ASSET_STREAMS.values() if p]
    assert len(set(prefixes)) == len(prefixes)
