"""compare/distances.py: identical sets are at 0, shifted sets are ordered as the shift, disjoint ones near 1.

Oracle for the scalar normalisation: for two normal distributions of one spread shifted by d standard
deviations, total variation = KS = 2 Phi(d / 2) - 1 (computed here with scipy's normal CDF).
"""

import numpy as np
import pytest
from scipy.stats import ks_2samp, norm

from gtforge.compare.distances import (
    compare_statistics, coverage, gap_score, ks_critical, robust_scale, sliced_wasserstein, stat_distance,
    total_variation,
)
from gtforge.compare.stats import StatDistance, Statistic



def scalar(name, values, group="image", **kw):
    return Statistic(name, group, "scalar", np.asarray(values, dtype=np.float64), "", "test", **kw)


def test_identical_sets_are_at_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    pts = rng.random((200, 2))
    emb = rng.normal(size=(150, 40))
    cats = np.array(["a", "b", "b", "c"])
    pairs = [scalar("s", x), Statistic("c", "content", "categorical", cats, "", ""),
             Statistic("p", "content", "points2d", pts, "", ""), Statistic("e", "content", "embedding", emb, "", "")]
    for st in pairs:
        d = stat_distance(st, st)
        assert d.value == 0.0 and d.normalized == 0.0, st.name
        assert "close to the reference" in d.sentence


@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0, 3.0])
def test_a_normal_shift_normalises_to_its_total_variation(shift):
    rng = np.random.default_rng(0)
    a, b = rng.normal(shift, 1.0, 20000), rng.normal(0.0, 1.0, 20000)
    d = stat_distance(scalar("s", a), scalar("s", b))
    expected = 2 * norm.cdf(shift / 2) - 1
    assert d.value == pytest.approx(shift, abs=0.05)
    assert d.normalized == pytest.approx(expected, abs=0.02)
    assert d.details["ks"] == pytest.approx(ks_2samp(a, b).statistic)
    assert d.details["ks"] == pytest.approx(expected, abs=0.03)


def test_shifted_sets_are_ordered_as_the_shift_and_keep_growing_once_disjoint():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 500)
    scalars = [stat_distance(scalar("s", base + s), scalar("s", base)).normalized for s in (0.1, 0.3, 0.9, 3, 6)]
    assert scalars == sorted(scalars) and len(set(scalars)) == 5 and scalars[-1] > 0.99
    pts = rng.random((400, 2)) * 0.3
    p2 = [stat_distance(Statistic("p", "content", "points2d", pts + s, "", ""),
                        Statistic("p", "content", "points2d", pts, "", "")) for s in (0.05, 0.2, 0.6)]
    assert [d.value for d in p2] == sorted(d.value for d in p2)
    assert [d.normalized for d in p2] == sorted(d.normalized for d in p2) and p2[-1].normalized > 0.95
    emb = rng.normal(size=(300, 10))
    e = [sliced_wasserstein(emb + s, emb) for s in (0.1, 0.5, 2.0)]
    assert [v for v, _ in e] == sorted(v for v, _ in e) and [n for _, n in e] == sorted(n for _, n in e)


def test_categorical_total_variation():
    tv, p, q = total_variation(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert tv == pytest.approx(0.25) and p == {"a": 0.5, "b": 0.5} and q == {"a": 0.25, "b": 0.75}
    d = stat_distance(Statistic("c", "content", "categorical", np.array(["x", "x"]), "", ""),
                      Statistic("c", "content", "categorical", np.array(["y"]), "", ""))
    assert d.normalized == 1.0 and "share no c value" in d.sentence


def test_coverage_counts_the_reference_modes_we_reach():
    rng = np.random.default_rng(0)
    ref = np.concatenate([rng.normal(0, 0.1, (200, 3)), rng.normal(5, 0.1, (200, 3))])
    ours = rng.normal(0, 0.1, (200, 3))
    assert coverage(ours, ref) == pytest.approx(0.5, abs=0.05)
    assert coverage(ref, ref) == 1.0 and coverage(ours, ref[:3]) is None


def test_sentences_say_the_direction_with_medians():
    rng = np.random.default_rng(0)
    ours = scalar("brightness", np.full(50, 0.31) + rng.normal(0, 0.02, 50), per="image", higher="brighter",
                  lower="darker")
    ref = scalar("brightness", np.full(50, 0.52) + rng.normal(0, 0.02, 50), per="image", higher="brighter",
                 lower="darker")
    d = stat_distance(ours, ref)
    assert d.sentence.startswith("our images are darker: median brightness 0.3") and "against 0.5" in d.sentence
    wide = scalar("contrast", rng.normal(0.5, 0.3, 2000))
    narrow = scalar("contrast", rng.normal(0.5, 0.05, 2000))
    assert "more spread out" in stat_distance(wide, narrow).sentence
    boxes = Statistic("box_center", "content", "points2d", np.clip(rng.normal([0.5, 0.8], 0.05, (100, 2)), 0, 1), "",
                      "", per="box")
    centred = Statistic("box_center", "content", "points2d", np.clip(rng.normal(0.5, 0.05, (100, 2)), 0, 1), "", "",
                        per="box")
    assert stat_distance(boxes, centred).sentence.startswith("our boxes sit lower in the image")


def test_compare_statistics_ranks_common_statistics_and_gap_score_averages():
    rng = np.random.default_rng(0)
    ours = {"a": scalar("a", rng.normal(3, 1, 200)), "b": scalar("b", rng.normal(0.2, 1, 200), group="content"),
            "only_ours": scalar("only_ours", [1.0, 2.0])}
    ref = {"a": scalar("a", rng.normal(0, 1, 200)), "b": scalar("b", rng.normal(0, 1, 200), group="content"),
           "only_ref": scalar("only_ref", [1.0])}
    ds = compare_statistics(ours, ref)
    assert [d.name for d in ds] == ["a", "b"] and ds[0].normalized > ds[1].normalized
    assert gap_score(ds) == pytest.approx(np.mean([d.normalized for d in ds]))
    assert gap_score(ds, "content") == pytest.approx(ds[1].normalized) and gap_score([]) == 0.0
    assert isinstance(ds[0], StatDistance) and ds[0].n_ours == 200 and ds[0].method == "wasserstein1"


def test_mismatched_statistics_are_refused():
    with pytest.raises(ValueError, match="cannot compare"):
        stat_distance(scalar("a", [1.0]), Statistic("a", "image", "categorical", np.array(["x"]), "", ""))
    with pytest.raises(ValueError, match="kind must be"):
        Statistic("a", "image", "histogram", np.zeros(3), "", "")
    with pytest.raises(ValueError, match=r"need shape \(n, 2\)"):
        Statistic("a", "content", "points2d", np.zeros((3, 3)), "", "")


def test_a_reference_without_spread_falls_back_to_ks():
    rng = np.random.default_rng(0)
    assert robust_scale(rng.normal(0.0, 2.0, 100000)) == pytest.approx(2.0, rel=0.02)
    assert robust_scale(np.array([2.0] * 8 + [3.0] * 2)) == 0.0  # the quartiles fall on 2
    d = stat_distance(scalar("n", np.full(20, 3.0)), scalar("n", np.full(20, 2.0)))
    assert d.value == pytest.approx(1.0) and d.normalized == 1.0
    half = stat_distance(scalar("n", [2.0] * 10 + [3.0] * 10), scalar("n", np.full(20, 2.0)))
    assert half.normalized == pytest.approx(0.5) == half.details["ks"]


def test_a_difference_within_sampling_noise_is_called_so():
    rng = np.random.default_rng(0)
    assert ks_critical(100, 100) == pytest.approx(1.358 * np.sqrt(0.02), rel=1e-3)
    a, b = rng.normal(0, 1, 15), rng.normal(0.3, 1, 15)
    d = stat_distance(scalar("brightness", a), scalar("brightness", b))
    assert d.details["ks"] <= d.details["ks_critical_5pct"]
    assert d.sentence.startswith("no clear difference in brightness: within the sampling noise of 15 and 15 images")
