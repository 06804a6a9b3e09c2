"""Seeded random generators derived from (recipe seed, scene index, stream, ...).

Every random draw in gtforge comes from a ``numpy.random.Generator`` built
here. A scene's generators depend only on the recipe seed and the scene index
(plus a stream name), never on the process, the worker count or the order in
which scenes run, so any scene can be re-rendered alone. Seed 0 is a seed like
any other (there is no "no seed" value).

Scheme: ``SeedSequence(entropy=seed, spawn_key=(scene_index, STREAMS[name], *extra))``
(numpy's documented way to derive independent streams, NEP 19).

Draws that describe an asset rather than a scene (a procedural car's shape, a normalised model's length, a
background's ground plane, surface samples of a model) come from the named streams of :data:`ASSET_STREAMS`
through :func:`asset_rng`, keyed by what they describe, so a model is the same in every scene and process.

The analysis tools (``gtforge compare``, ``gtforge tune``) draw from the named streams of :data:`ANALYSIS_STREAMS`
through :func:`analysis_rng`, keyed by the tool's ``--seed``: what they sample (which images, the slicing
directions of a distance, the splits of a permutation test) never depends on a dataset's own streams.
"""

from __future__ import annotations

import numpy as np

#: Fixed stream ids: changing them changes every dataset, so append only.
STREAMS = {
    "objects": 0,  # which objects, their drop poses
    "appearance": 1,  # colours, floor texture, lights
    "views": 2,  # camera poses (one sub-stream per view)
    "hands": 3,  # hand shapes, poses, grasps
    "distractors": 4,  # which distractors, their drop poses (after the targets': adding them moves no target)
    "hand_appearance": 5,  # skin tones, skin texture, sleeve colours (one sub-stream per hand; never geometry)
    "effects": 6,  # image effects: sensor noise, blur, vignetting, colour (one sub-stream per view; RGB only)
    "depth_sensor": 7,  # simulated depth-sensor noise and holes (one sub-stream per view; depth_noisy/ only)
}


#: Streams of draws that describe an asset, not a scene: name -> entropy prefix, so that ``asset_rng(name, *key)`` is
#: ``default_rng(SeedSequence([*prefix, *key]))``. Fixed values: changing one changes every dataset that uses it,
#: so append only.
ASSET_STREAMS = {
    "car_shape": (0xCA5,),  # shape of procedural car variant i (assets/cars.py); key (i,)
    "car_length": (0x17E,),  # length drawn for a normalised model (objects[].normalize.length); key (obj_id,)
    # No prefix: these generators were numpy.random.default_rng(key) before they were named here, and keep their
    # draws (a dataset stays byte for byte the same). No draw ever mixes two of them, so sharing keys is harmless.
    "ground_plane": (),  # RANSAC samples of a background's ground plane (assets/backgrounds.py); key (recipe seed,)
    "grasp_surface": (),  # surface samples of a grasp target's distance field (scenes/hands.py); key (obj_id,)
    "symmetry_surface": (),  # surface samples of the symmetry search (assets/symmetry.py); key (0,): every mesh
}


def asset_rng(stream: str, *key: int) -> np.random.Generator:
    """Generator for one stream of :data:`ASSET_STREAMS`, keyed by what it describes.

    Parameters
    ----------
    stream : str
        One of ``ASSET_STREAMS``.
    *key : int
        Non-negative integers naming the asset (e.g. the car variant, the ``obj_id``); at least one.

    Returns
    -------
    numpy.random.Generator
        ``default_rng(SeedSequence([*ASSET_STREAMS[stream], *key]))``.

    Raises
    ------
    ValueError
        For an unknown stream, no key, or a negative key.
    """
    if stream not in ASSET_STREAMS:
        raise ValueError(f"unknown asset random stream {stream!r}; known: {sorted(ASSET_STREAMS)}")
    if not key or any(int(k) < 0 for k in key):
        raise ValueError(f"asset stream {stream!r} needs one or more keys >= 0, got {key}")
    return np.random.default_rng(np.random.SeedSequence([*ASSET_STREAMS[stream], *(int(k) for k in key)]))


#: Streams of the analysis tools (compare/, tune/): name -> id. Fixed values: changing one changes their
#: figures, so append only.
ANALYSIS_STREAMS = {
    "subsample": 0,  # which images of a set are measured (compare/imagesets.py); key: the --seed
    "sliced_directions": 1,  # projection directions of the sliced distances (compare/distances.py); seed 0: fixed
    "permutation": 2,  # random re-splits of the noise floor (compare/report.py); key: the --seed
    "tune_sampler": 3,  # the seed of each trial's Optuna sampler (tune/study.py); keys: rung, trial number
    "tune_build": 4,  # the recipe seed of each rung's candidate builds (tune/study.py); key: rung
}


def analysis_rng(stream: str, seed: int, *key: int) -> np.random.Generator:
    """Generator for one stream of :data:`ANALYSIS_STREAMS`.

    Parameters
    ----------
    stream : str
        One of ``ANALYSIS_STREAMS``.
    seed : int
        The tool's seed (``--seed``), >= 0.
    *key : int
        Further non-negative integers (e.g. a statistic's index).

    Returns
    -------
    numpy.random.Generator
        ``default_rng(SeedSequence(entropy=seed, spawn_key=(ANALYSIS_STREAMS[stream], *key)))``.

    Raises
    ------
    ValueError
        For an unknown stream or a negative seed or key.
    """
    if stream not in ANALYSIS_STREAMS:
        raise ValueError(f"unknown analysis random stream {stream!r}; known: {sorted(ANALYSIS_STREAMS)}")
    if int(seed) < 0 or any(int(k) < 0 for k in key):
        raise ValueError(f"analysis stream {stream!r} needs a seed and keys >= 0, got {seed}, {key}")
    return np.random.default_rng(
        np.random.SeedSequence(entropy=int(seed), spawn_key=(ANALYSIS_STREAMS[stream], *(int(k) for k in key))))


def scene_rng(seed: int, scene_index: int, stream: str, *extra: int) -> np.random.Generator:
    """Generator for one stream of one scene.

    Parameters
    ----------
    seed : int
        Recipe seed, >= 0.
    scene_index : int
        0-based scene index, >= 0.
    stream : str
        One of ``STREAMS``.
    *extra : int
        Further non-negative integers (e.g. the view index) for sub-streams.

    Raises
    ------
    ValueError
        For a negative seed or index, or an unknown stream.
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {sorted(STREAMS)}")
    key = (int(scene_index), STREAMS[stream], *(int(e) for e in extra))
    if int(seed) < 0 or any(k < 0 for k in key):
        raise ValueError("seed and indices must be >= 0")
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=key))


def uniform(rng: np.random.Generator, lo, hi):
    """Uniform draw in [lo, hi] (scalars or arrays of one shape, float64); returns lo when lo == hi."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    return lo + (hi - lo) * rng.random(lo.shape)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (3, 3) float64.

    A normalised 4-D Gaussian is a uniform unit quaternion (Shoemake, "Uniform random
    rotations", Graphics Gems III, 1992); it is turned into a matrix as (x, y, z, w).
    """
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
