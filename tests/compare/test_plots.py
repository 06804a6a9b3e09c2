"""compare/plots.py: every kind of statistic gets its figure; the pose projection keeps a planted plane."""

import numpy as np
from PIL import Image

from gtforge.compare import plots
from gtforge.compare.distances import compare_statistics
from gtforge.compare.stats import Statistic


def test_pca_2d_finds_a_planted_plane_with_fixed_signs():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(40, 2)))[0].T  # two orthonormal directions in 40D
    a = rng.normal(size=(50, 2)) * [3.0, 1.0] @ basis
    b = rng.normal(size=(70, 2)) * [3.0, 1.0] @ basis + 0.5 * basis[0]
    pa, pb, ratio = plots.pca_2d(a, b)
    assert pa.shape == (50, 2) and pb.shape == (70, 2)
    assert ratio.sum() > 0.999 and ratio[0] > ratio[1]
    both = np.concatenate([a, b])
    np.testing.assert_allclose(np.linalg.norm(np.concatenate([pa, pb]), axis=1),
                               np.linalg.norm(both - both.mean(axis=0), axis=1), rtol=1e-9)
    order = rng.permutation(50)  # the same samples in another order: the same picture, no flipped axis
    again = plots.pca_2d(a[order], b)
    np.testing.assert_allclose(again[0], pa[order], atol=1e-9)


def test_every_kind_gets_a_png(tmp_path):
    rng = np.random.default_rng(1)
    edges = np.linspace(0, 1, 33)

    def side(shift):
        hist = rng.random(32)
        return {
            "brightness": Statistic("brightness", "image", "scalar", rng.normal(0.5 + shift, 0.1, 30), "", "d",
                                    histogram=hist / hist.sum(), bin_edges=edges),
            "instances_per_image": Statistic("instances_per_image", "content", "scalar",
                                             rng.integers(1, 6, 30).astype(float), "", "d"),
            "class_frequency": Statistic("class_frequency", "content", "categorical",
                                         rng.choice(["a <b>", "mug", "car"], 40), "", "d", per="instance"),
            "box_center": Statistic("box_center", "content", "points2d", rng.random((40, 2)), "", "d", per="box",
                                    axes=("x", "y")),
            "hand_articulation": Statistic("hand_articulation", "content", "embedding", rng.normal(shift, 1, (25, 40)),
                                           "", "d", per="hand"),
        }

    ours, ref = side(0.0), side(0.3)
    ref.pop("instances_per_image")  # one side only: no figure
    distances = compare_statistics(ours, ref)
    learned = {"c2st": {"accuracy": 0.8, "normalized": 0.6}}
    p = {"ours": rng.random(30), "reference": rng.random(30)}
    files = plots.write_plots(tmp_path, ours, ref, distances, learned, p, clear={"brightness"})
    assert set(files) == {"summary", "c2st", "brightness", "class_frequency", "box_center", "hand_articulation"}
    for name in files.values():
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and min(im.size) >= 200
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files.values())


def test_safe_name():
    assert plots.safe_name("Box centre/../x") == "box_centre_x" and plots.safe_name("***") == "statistic"
