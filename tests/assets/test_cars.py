"""Procedural cars (assets/cars.py): parts, exact boxes, wheels on the ground, cut arches, closed meshes; paint."""

import numpy as np
import pytest

from gtforge.assets.cars import KINDS, PAINT_TABLE, ROLES, draw_paint, make_car, sample_paint

REQUIRED_ROLES = {"body", "glass", "tyre", "rim", "light_front", "light_rear", "trim"}


@pytest.fixture(scope="module")
def cars():
    """One car per kind at a stated size (m), and one with every size drawn."""
    sizes = {"sedan": (4.6, 1.8, 1.45), "hatchback": (4.0, 1.72, 1.5), "suv": (4.7, 1.9, 1.7), "van": (4.9, 1.95, 1.95)}
    out = {kind: (make_car(np.random.default_rng(10 + i), kind, *sizes[kind]), sizes[kind])
           for i, kind in enumerate(KINDS)}
    return out


def role_mask(car, role):
    k = [lk.role for lk in car.parts].index(role)
    return car.face_parts == k


def test_every_kind_has_all_parts_covering_every_face(cars):
    for kind, (car, _size) in cars.items():
        m = car.mesh
        assert car.kind == kind
        assert car.face_parts.shape == (len(m.faces),) and car.face_parts.dtype == np.int64
        assert car.face_parts.min() >= 0 and car.face_parts.max() < len(car.parts)
        assert tuple(lk.role for lk in car.parts) == ROLES
        present = {car.parts[k].role for k in np.unique(car.face_parts)}
        assert REQUIRED_ROLES <= present, (kind, REQUIRED_ROLES - present)
        assert len(m.faces) < 20_000, (kind, len(m.faces))


def test_bounding_box_is_the_requested_size_bottom_centred(cars):
    for kind, (car, (L, W, H)) in cars.items():
        lo, hi = car.mesh.bounds
        assert np.allclose(hi - lo, [L, W, H], atol=0.01), (kind, hi - lo)
        assert np.allclose([lo[0] + hi[0], lo[1] + hi[1], lo[2]], 0.0, atol=1e-9)
        assert np.allclose([car.length, car.width, car.height], hi - lo)
    drawn = make_car(np.random.default_rng(0))
    assert np.allclose(drawn.mesh.extents, [drawn.length, drawn.width, drawn.height])


def wheels(car):
    """Per quadrant (front/rear, left/right): the tyre's vertices (k, 3)."""
    v = car.mesh.vertices[np.unique(car.mesh.faces[role_mask(car, "tyre")])]
    return {(sx, sy): v[(np.sign(v[:, 0]) == sx) & (np.sign(v[:, 1]) == sy)] for sx in (-1, 1) for sy in (-1, 1)}


def test_four_wheels_touch_the_ground_and_nothing_is_below(cars):
    for kind, (car, _size) in cars.items():
        assert car.mesh.vertices[:, 2].min() >= -1e-9
        for quad, v in wheels(car).items():
            assert len(v) > 100, (kind, quad)
            assert abs(v[:, 2].min()) < 0.005, (kind, quad, v[:, 2].min())
            radius = np.ptp(v[:, 2]) / 2
            assert 0.27 < radius < 0.42, (kind, radius)  # real tyre radii (m)


def test_wheel_arches_are_cut_out_of_the_body(cars):
    """No body vertex or face centre lies inside a tyre's cylinder: the body is open above each wheel."""
    for kind, (car, _size) in cars.items():
        body_faces = car.mesh.faces[role_mask(car, "body")]
        pts = np.vstack([car.mesh.vertices[np.unique(body_faces)], car.mesh.vertices[body_faces].mean(axis=1)])
        for quad, v in wheels(car).items():
            cx, cz = (v[:, 0].min() + v[:, 0].max()) / 2, (v[:, 2].min() + v[:, 2].max()) / 2
            radius = np.ptp(v[:, 2]) / 2
            y0, y1 = v[:, 1].min(), v[:, 1].max()
            inside = (np.hypot(pts[:, 0] - cx, pts[:, 2] - cz) < radius + 0.01) & (pts[:, 1] > y0) & (pts[:, 1] < y1)
            assert not inside.any(), (kind, quad, int(inside.sum()))


def test_meshes_are_closed_and_wound_outwards(cars):
    for kind, (car, _size) in cars.items():
        m = car.mesh
        assert m.is_watertight and m.is_winding_consistent, kind
        assert m.volume > 0.3 * car.length * car.width * car.height, kind  # outward normals: positive volume


def test_glass_sits_on_the_greenhouse_and_looks_like_glass(cars):
    for kind, (car, (_L, _W, H)) in cars.items():
        g = car.mesh.vertices[np.unique(car.mesh.faces[role_mask(car, "glass")])]
        body = car.mesh.vertices[np.unique(car.mesh.faces[role_mask(car, "body")])]
        # above the wheels, under the roof; the roof is body (the car's highest point)
        assert g[:, 2].min() > 0.4 * H and g[:, 2].max() < H, kind
        assert body[:, 2].max() == pytest.approx(H, abs=1e-9)
        look = car.parts[ROLES.index("glass")]
        assert look.roughness <= 0.1 and look.metallic >= 0.8
    lf, lr = (make_car(np.random.default_rng(0)).parts[ROLES.index(r)] for r in ("light_front", "light_rear"))
    assert lf.emissive is not None and lr.emissive is not None
    assert lr.emissive[0] > 5 * max(lr.emissive[1], lr.emissive[2])  # red tail lamps


def test_lamps_face_their_ends(cars):
    for kind, (car, (L, _W, _H)) in cars.items():
        front = car.mesh.vertices[np.unique(car.mesh.faces[role_mask(car, "light_front")])]
        rear = car.mesh.vertices[np.unique(car.mesh.faces[role_mask(car, "light_rear")])]
        assert front[:, 0].min() > 0.3 * L and rear[:, 0].max() < -0.3 * L, kind
        for lamps in (front, rear):  # a pair, left and right
            assert (lamps[:, 1] > 0.2).any() and (lamps[:, 1] < -0.2).any(), kind


def test_same_rng_same_car_and_neutral_colours():
    a = make_car(np.random.default_rng(42), "suv")
    b = make_car(np.random.default_rng(42), "suv")
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices) and np.array_equal(a.mesh.faces, b.mesh.faces)
    assert np.array_equal(a.face_parts, b.face_parts)
    # the written model carries neutral part colours: the body is mid grey, whatever paint instances get
    body_v = np.unique(a.mesh.faces[role_mask(a, "body")])
    assert np.all(a.mesh.visual.vertex_colors[body_v, :3] == 128)


def test_paint_never_changes_the_model(tmp_path):
    """The asset library's procedural car is the same model whatever paint is drawn between loads."""
    from gtforge.assets.loaders import AssetLibrary
    from gtforge.config.schema import ObjectSet

    s = ObjectSet.model_validate({"name": "car", "source": "procedural://cars", "variants": 2,
                                  "count": {"min": 1, "max": 1}}, context={"base_dir": str(tmp_path)})
    first = AssetLibrary([s], tmp_path).get(2)
    rng = np.random.default_rng(5)
    paints = {tuple(sample_paint(rng).base_color) for _ in range(20)}
    assert len(paints) > 1
    again = AssetLibrary([s], tmp_path).get(2)
    assert np.array_equal(first.mesh.vertices, again.mesh.vertices)
    assert np.array_equal(first.mesh.visual.vertex_colors, again.mesh.visual.vertex_colors)
    assert first.face_parts is not None and len(first.face_parts) == len(first.mesh.faces)
    assert [lk.role for lk in first.parts] == list(ROLES)


def nearest_family(rgb):
    """Independent classifier of colours (n, 3): the family whose base colour is nearest (the whites together)."""
    names, bases = [], []
    for fam, _share, colours, _m in PAINT_TABLE:
        for c in colours:
            names.append("white" if fam.startswith("white") else fam)
            bases.append(c)
    d = np.linalg.norm(np.asarray(rgb)[:, None, :] - np.asarray(bases)[None], axis=2)
    return np.asarray(names)[d.argmin(axis=1)]


def test_paint_shares_follow_the_table():
    expected = {}
    for fam, share, _c, _m in PAINT_TABLE:
        key = "white" if fam.startswith("white") else fam
        expected[key] = expected.get(key, 0.0) + share
    assert sum(expected.values()) == pytest.approx(1.0)
    assert expected["white"] == pytest.approx(0.34) and expected["black"] == pytest.approx(0.21)
    rng = np.random.default_rng(2022)
    n = 20_000
    draws = [draw_paint(rng) for _ in range(n)]
    mats = [m for _f, m in draws]
    assert all(m.mode == "color" and m.base_color.shape == (4,) and m.base_color[3] == 1.0 for m in mats)
    metallic = np.array([m.metallic for m in mats])
    rough = np.array([m.roughness for m in mats])
    assert metallic.min() >= 0 and metallic.max() <= 0.8 and rough.min() >= 0.2 and rough.max() <= 0.4
    got = nearest_family(np.array([m.base_color[:3] for m in mats]))
    named = np.array(["white" if f.startswith("white") else f for f, _m in draws])
    assert np.array_equal(got, named)  # each colour is one of its family's
    for fam, share in expected.items():
        assert abs(np.mean(got == fam) - share) < 0.015, (fam, np.mean(got == fam), share)
    assert abs(np.mean([f == "white_pearl" for f, _m in draws]) - 0.14) < 0.015


def test_silver_and_grey_are_mostly_metallic():
    rng = np.random.default_rng(1)
    metal = {"grey": [], "silver": [], "white_solid": []}
    for _ in range(3000):
        fam, mat = draw_paint(rng)
        if fam in metal:
            metal[fam].append(mat.metallic)
    assert np.mean(np.array(metal["silver"]) >= 0.4) == 1.0
    assert np.mean(np.array(metal["grey"]) >= 0.4) > 0.65
    assert max(metal["white_solid"]) <= 0.1


def test_glass_stands_outside_the_body(cars):
    """Each glass slab's outer half (its front surface) lies outside the closed body (trimesh's signed distance)."""
    import trimesh

    for kind in ("sedan", "suv"):
        car = cars[kind][0]
        V, F = car.mesh.vertices, car.mesh.faces
        body = trimesh.Trimesh(V, F[role_mask(car, "body")], process=False)
        glass = V[np.unique(F[role_mask(car, "glass")])]
        sd = np.sort(trimesh.proximity.signed_distance(body, glass))  # > 0 inside
        front = sd[: len(sd) // 2]  # slabs stand 8 mm out and 4 mm in: the outer half is their front faces
        assert front.max() < -0.002, (kind, front.max())
