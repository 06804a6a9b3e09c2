"""compare/report.py, plots.py, report_html.py: the report's JSON on fixture sets with planted differences, its
files, its determinism, its output folder, and its page in a real headless browser.

Oracles: the fixtures are written here with known differences (one instance per image against six; bright images
against dark ones with a few planted look-alikes on each side), so the ranking, the medians and the images the
classifier picks are known in advance. The page is opened in Debian's chromium through selenium and chromedriver
(`.ci/setup.sh --test` installs them); those tests skip when either is absent.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtforge.compare import report as R
from gtforge.compare.imagesets import CompareInputError
from gtforge.compare.report_html import render_html

CLASS = "mug <b>&"  # a class name that HTML must escape


def blobs(rng, w: int, h: int, level: float) -> np.ndarray:
    """(h, w, 3) uint8: a grey level with five random coloured discs and a little noise."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), float(level))
    for _ in range(5):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 15)
        img += rng.uniform(-40, 40, 3) * (np.hypot(x - cx, y - cy) < r)[..., None]
    img += rng.normal(0, 3, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_coco(root: Path, sizes: list, per_image: int, seed: int) -> Path:
    """A COCO set: one image per entry of ``sizes`` (w, h), ``per_image`` random boxes of class :data:`CLASS`."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(blobs(rng, w, h, 120)).save(root / "images" / f"{i:03d}.png")
        images.append({"id": i, "file_name": f"{i:03d}.png", "width": w, "height": h})
        for _ in range(per_image):
            bw, bh = rng.uniform(5, 20, 2)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                         "bbox": [float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh)), float(bw), float(bh)]})
    (root / "instances.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                      "categories": [{"id": 1, "name": CLASS}]}))
    return root


def write_folder(root: Path, levels: list, seed: int, size=(64, 48)) -> Path:
    """A folder of images ``{i:03d}.png`` with the given grey levels."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i, level in enumerate(levels):
        Image.fromarray(blobs(rng, *size, level)).save(root / f"{i:03d}.png")
    return root


def without_timing(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "timing"}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Ours: 24 COCO images (64x48), one box each; the reference (a path with characters HTML escapes): 20 at 64x48
    and 4 at 80x60, six boxes each, images drawn alike. Report without the learned part."""
    base = tmp_path_factory.mktemp("labelled")
    ours = write_coco(base / "ours", [(64, 48)] * 24, 1, seed=0)
    ref = write_coco(base / "ref & <co>", [(64, 48)] * 20 + [(80, 60)] * 4, 6, seed=1)
    doc = R.run_compare(ours, ref, base / "report", learned=False)
    return {"ours": ours, "ref": ref, "out": base / "report", "doc": doc}


@pytest.fixture(scope="module")
def look(tmp_path_factory):
    """Unlabelled folders: ours 20 bright + 3 dark images (files 020-022), the reference 20 dark + 3 bright (files
    020-022). Report with the learned part."""
    base = tmp_path_factory.mktemp("look")
    ours = write_folder(base / "ours", [175] * 20 + [70] * 3, seed=2)
    ref = write_folder(base / "ref", [70] * 20 + [175] * 3, seed=3)
    doc = R.run_compare(ours, ref, base / "report", seed=0, threads=1)
    return {"ours": ours, "ref": ref, "out": base / "report", "doc": doc}


# ----------------------------------------------------------------------------------------------- the JSON

@pytest.mark.slow
def test_the_planted_content_difference_ranks_first(labelled):
    doc = labelled["doc"]
    first = doc["distances"][0]
    assert first["name"] == "instances_per_image" and first["rank"] == 1 and first["normalized"] > 0.95
    assert first["clear"] and first["method"] == "wasserstein1" and first["value"] == pytest.approx(5.0)
    assert "sparser" in first["sentence"] and "1 against 6" in first["sentence"]
    assert doc["summary"]["largest"][0] == "instances_per_image"
    assert doc["summary"]["sentences"][0].startswith("Largest differences") and "instances per image" in \
        doc["summary"]["sentences"][0]
    assert doc["summary"]["sentences"][1].startswith("Content: our images are sparser")
    # the images are drawn alike: no image statistic comes near the planted difference
    assert max(d["normalized"] for d in doc["distances"] if d["group"] == "image") < 0.6
    norms = [d["normalized"] for d in doc["distances"]]
    assert norms == sorted(norms, reverse=True)


def test_every_statistic_has_its_distance_and_both_sides_figures(labelled):
    doc = labelled["doc"]
    names = {d["name"] for d in doc["distances"]}
    assert {"brightness", "contrast", "saturation", "lab_l", "lab_a", "lab_b", "sharpness", "noise_sigma",
            "spectral_slope", "edge_density", "file_format", "instances_per_image", "box_size", "aspect_ratio",
            "box_center", "class_frequency"} == names
    for d in doc["distances"]:
        assert set(d) >= {"name", "group", "method", "value", "normalized", "n_ours", "n_ref", "sentence", "details"}
        st = doc["statistics"][d["name"]]
        assert st["compared"] and st["ours"]["n"] == d["n_ours"] and st["reference"]["n"] == d["n_ref"]
        assert st["description"]
    ipi = doc["statistics"]["instances_per_image"]
    assert (ipi["ours"]["median"], ipi["reference"]["median"]) == (1.0, 6.0)
    assert (ipi["ours"]["n"], ipi["reference"]["n"]) == (24, 24)
    assert doc["statistics"]["box_size"]["reference"]["n"] == 144
    assert doc["statistics"]["class_frequency"]["ours"]["shares"] == {CLASS: 1.0}
    b = doc["statistics"]["brightness"]["ours"]
    assert b["q05"] <= b["q25"] <= b["median"] <= b["q75"] <= b["q95"]
    assert len(b["pixel_histogram"]["shares"]) + 1 == len(b["pixel_histogram"]["bin_edges"])
    # 2D statistics carry their permutation noise floor
    assert "noise_floor_95" in next(d for d in doc["distances"] if d["name"] == "box_center")["details"]


def test_inputs_notes_and_mixed_sizes(labelled):
    doc = labelled["doc"]
    ref = doc["inputs"]["reference"]
    assert ref["format"] == "coco" and ref["labelled"] and ref["images"] == 24
    assert ref["sizes"] == {"64x48": 20, "80x60": 4}
    assert any("2 sizes" in n and "64x48" in n for n in ref["notes"])
    assert doc["inputs"]["analysis_size"] == [64, 48] and doc["inputs"]["seed"] == 0
    assert doc["inputs"]["dataset"]["path"] == str(labelled["ours"].resolve())
    assert doc["learned"]["enabled"] is False and doc["summary"]["groups"]["learned"]["sentences"] == []
    assert doc["versions"]["gtforge"] and doc["versions"]["numpy"]
    assert set(doc["timing"]["seconds"]) >= {"load", "image_statistics", "total"}


def test_the_files_are_written_and_listed(labelled):
    out, doc = labelled["out"], labelled["doc"]
    assert json.loads((out / "compare.json").read_text()) == doc
    assert set(doc["files"]["plots"]) == {"summary"} | {d["name"] for d in doc["distances"]}
    for rel in doc["files"]["plots"].values():
        with Image.open(out / rel) as im:
            assert im.format == "PNG" and im.size[0] > 100
    assert doc["files"]["thumbs"] == [] and not any((out / "thumbs").iterdir())
    assert not list(out.parent.glob(".tmp_*")) and not list(out.parent.glob(".old_*"))


@pytest.mark.slow
def test_the_json_is_deterministic_apart_from_timing(labelled, tmp_path):
    again = R.run_compare(labelled["ours"], labelled["ref"], tmp_path / "again", learned=False)
    assert without_timing(again) == without_timing(labelled["doc"])
    assert (tmp_path / "again" / "compare.json").read_text() != "" and "timing" in again
    other = R.run_compare(labelled["ours"], labelled["ref"], tmp_path / "seed5", learned=False, seed=5,
                          max_images=10)
    assert other["inputs"]["dataset"]["images"] == 10 and without_timing(other) != without_timing(again)


def test_the_page_escapes_what_comes_from_files(labelled):
    page = (labelled["out"] / "index.html").read_text()
    assert "mug &lt;b&gt;&amp;" in page and CLASS not in page
    assert "ref &amp; &lt;co&gt;" in page and "<co>" not in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


@pytest.mark.slow
def test_an_unlabelled_reference_compares_images_only_and_says_so(look):
    doc = look["doc"]
    assert doc["summary"]["groups"]["content"]["sentences"] == [
        "Content: not compared (our dataset and the reference have no labels)."]
    assert all(d["group"] == "image" for d in doc["distances"])
    assert any("content statistics need labels" in n for n in doc["notes"])
    assert doc["summary"]["largest"][0] in ("brightness", "lab_l")
    assert "brighter" in next(d for d in doc["distances"] if d["name"] == "brightness")["sentence"]


@pytest.mark.slow  # its fixture trains the classifier (6 s)
def test_the_learned_part_finds_the_planted_look_alikes(look):
    """Our three dark images look like the reference, the reference's three bright ones like ours: the classifier's
    held-out probabilities put them first."""
    ld = look["doc"]["learned"]
    assert ld["enabled"] and ld["kid"]["mean"] > 0 and ld["kid"]["n_ours"] == 23 and ld["torch_threads"] == 1
    c2 = ld["c2st"]
    assert c2["accuracy"] >= 0.8 and c2["normalized"] == pytest.approx(2 * c2["accuracy"] - 1)
    assert (c2["n_ours"], c2["n_ref"]) == (23, 23)
    planted = {"020.png", "021.png", "022.png"}
    assert planted <= {x["file"] for x in c2["most_real_ours"]}
    assert planted <= {x["file"] for x in c2["most_synthetic_reference"]}
    assert not planted & {x["file"] for x in c2["most_synthetic_ours"]}
    real = [x["p_ref"] for x in c2["most_real_ours"]]
    assert real == sorted(real, reverse=True) and min(real) > max(x["p_ref"] for x in c2["most_synthetic_ours"])
    assert ld["sentences"][0].startswith("a small CNN trained from scratch")
    assert look["doc"]["summary"]["groups"]["learned"]["sentences"][0].startswith("Learned: a small CNN")
    for key in ("most_real_ours", "most_synthetic_ours", "most_real_reference", "most_synthetic_reference"):
        assert len(c2[key]) == R.THUMBS_PER_KIND
        for x in c2[key]:
            with Image.open(look["out"] / x["thumb"]) as im:
                assert im.format == "JPEG" and max(im.size) <= R.THUMB_SIDE
    assert "c2st" in look["doc"]["files"]["plots"]


@pytest.mark.slow
def test_the_learned_json_is_deterministic_apart_from_timing(look, tmp_path):
    again = R.run_compare(look["ours"], look["ref"], tmp_path / "again", seed=0, threads=1)
    assert without_timing(again) == without_timing(look["doc"])


# ----------------------------------------------------------------------------------------------- output folder

@pytest.mark.slow
def test_a_previous_report_is_replaced_and_anything_else_refused(tmp_path):
    ours = write_folder(tmp_path / "ours", [120] * 4, seed=0)
    ref = write_folder(tmp_path / "ref", [60] * 4, seed=1)
    out = tmp_path / "out"
    R.run_compare(ours, ref, out, learned=False)
    (out / "stale.txt").write_text("from before")
    R.run_compare(ours, ref, out, learned=False)
    assert (out / "compare.json").is_file() and not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours", "out", "ref"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(CompareInputError, match=r"other: exists and is not a gtforge compare report"):
        R.run_compare(ours, ref, other, learned=False)
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    with pytest.raises(CompareInputError, match=r"keep\.txt: exists and is not a folder"):
        R.run_compare(ours, ref, other / "keep.txt", learned=False)


def test_bad_input_writes_nothing(tmp_path):
    ours = write_folder(tmp_path / "ours", [120] * 4, seed=0)
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    cases = [(tmp_path / "empty", r"empty: no images found"), (tmp_path / "missing", r"missing: no such file"),
             (tmp_path / "broken", r"a\.png: not a readable image")]
    for ref, msg in cases:
        with pytest.raises(CompareInputError, match=msg):
            R.run_compare(ours, ref, tmp_path / "out", learned=False)
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".tmp_*"))
    with pytest.raises(CompareInputError, match="max_images must be >= 1"):
        R.run_compare(ours, ours, tmp_path / "out", learned=False, max_images=0)


@pytest.mark.slow
def test_images_inside_the_report_folder_are_not_measured(tmp_path):
    """A report written into the folder of images it measured (the CLI's default, DATASET/compare) is not part of
    the next report's images."""
    ours = write_folder(tmp_path / "ours", [120] * 5, seed=0)
    ref = write_folder(tmp_path / "ref", [60] * 5, seed=1)
    first = R.run_compare(ours, ref, ours / "compare", learned=False)
    (ours / "compare" / "thumbs" / "x.png").write_bytes((ours / "000.png").read_bytes())
    second = R.run_compare(ours, ref, ours / "compare", learned=False)
    assert first["inputs"]["dataset"]["images"] == second["inputs"]["dataset"]["images"] == 5
    assert any("left out" in n for n in second["inputs"]["dataset"]["notes"])


def test_analysis_size_takes_the_smaller_and_says_what_was_resized():
    from gtforge.compare.imagesets import ImageRecord, ImageSet

    def s(*sizes):
        return ImageSet(Path("."), "folder", tuple(ImageRecord(Path(f"{i}.png"), w, h, None)
                                                   for i, (w, h) in enumerate(sizes)))

    assert R.analysis_size(s((320, 240)), s((320, 240))) == ((320, 240), [])
    size, notes = R.analysis_size(s((1280, 720)), s((640, 360)))
    assert size == (640, 360) and "differ in size" in notes[0] and len(notes) == 1
    size, notes = R.analysis_size(s((320, 240)), s((1920, 1080)))
    assert size == (320, 240) and "aspect ratios differ" in notes[1]
    size, notes = R.analysis_size(s((1600, 1200)), s((1600, 1200)))
    assert size == (640, 480) and "capped at 640" in notes[0]


def test_noise_floor_separates_noise_from_a_shift():
    from gtforge.compare.distances import stat_distance
    from gtforge.compare.stats import Statistic

    rng = np.random.default_rng(0)

    def pts(n, shift=0.0):
        return Statistic("box_center", "content", "points2d", np.clip(rng.random((n, 2)) * 0.5 + 0.25 + shift, 0, 1),
                         "", "")

    a, b, c = pts(20), pts(200), pts(200, 0.2)
    same, shifted = stat_distance(a, b), stat_distance(a, c)
    floor = R.noise_floor(a, b, seed=0)
    assert same.normalized <= floor < shifted.normalized
    [d_same] = R.with_noise_floors([same], {"box_center": a}, {"box_center": b}, seed=0)
    assert not R.is_clear(d_same) and d_same.sentence.startswith("no clear difference in box center")
    [d_shift] = R.with_noise_floors([shifted], {"box_center": a}, {"box_center": c}, seed=0)
    assert R.is_clear(d_shift) and d_shift.sentence == shifted.sentence


def test_noise_floor_of_categories():
    """Twelve classes drawn alike: 30 samples against 300 differ by chance (total variation well above 0.1), within
    the floor; a class that only the reference has is beyond it."""
    from gtforge.compare.distances import stat_distance
    from gtforge.compare.stats import Statistic

    rng = np.random.default_rng(1)
    classes = [f"c{i}" for i in range(12)]

    def cats(n, extra=0):
        v = rng.choice(classes, n).astype(object)
        v[:extra] = "new"
        return Statistic("class_frequency", "content", "categorical", v.astype(str), "", "", per="instance")

    a, b, c = cats(30), cats(300), cats(300, extra=150)
    same, other = stat_distance(a, b), stat_distance(a, c)
    assert same.normalized > 0.15
    [d_same], [d_other] = (R.with_noise_floors([d], {"class_frequency": a}, {"class_frequency": r}, seed=0)
                           for d, r in ((same, b), (other, c)))
    assert not R.is_clear(d_same) and d_same.sentence.startswith("no clear difference in class frequency")
    assert R.is_clear(d_other) and d_other.details["noise_floor_95"] < d_other.normalized


# ----------------------------------------------------------------------------------------------- the browser

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, through its chromedriver (never a browser that downloads itself)."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} is absent (installed by .ci/setup.sh --test: chromium, "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


PAGE_FACTS = """
const refs = [];
for (const el of document.querySelectorAll('[href], [src]')) {
  const attr = el.hasAttribute('href') ? 'href' : 'src';
  refs.push([el.tagName, el.getAttribute(attr), attr === 'href' ? el.href : el.src]);
}
return {
  refs: refs,
  images: Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]),
  scripts: document.scripts.length,
  styles: Array.from(document.querySelectorAll('link[rel=stylesheet], style')).map(s => s.textContent),
  summary: Array.from(document.querySelectorAll('ol.summary li')).map(li => li.textContent),
  rows: Array.from(document.querySelectorAll('#stats-table tbody tr')).map(tr => tr.dataset.name),
  tableText: document.querySelector('#stats-table').textContent,
  bold: document.querySelectorAll('#stats-table b').length,
};
"""


def page_problems(driver, folder: Path, doc: dict) -> list[str]:
    """Open ``folder/index.html`` and list what is wrong with it (empty: nothing)."""
    driver.get_log("browser")  # drop earlier messages
    driver.get((folder / "index.html").resolve().as_uri())
    facts = driver.execute_script(PAGE_FACTS)
    base = folder.resolve().as_uri() + "/"
    problems = []
    for tag, raw, resolved in facts["refs"]:
        if not resolved.startswith(base) or raw.startswith(("/", "file:", "http:", "https:", "//")):
            problems.append(f"{tag} points outside the report: {raw}")
    for src, complete, width in facts["images"]:
        if not complete or width == 0:
            problems.append(f"image did not load: {src}")
    if facts["scripts"]:
        problems.append(f"{facts['scripts']} script elements")
    if any("url(" in s or "@import" in s for s in facts["styles"]):
        problems.append("the style loads something")
    if facts["summary"] != doc["summary"]["sentences"]:
        problems.append(f"summary sentences differ: {facts['summary']}")
    if facts["rows"] != [d["name"] for d in doc["distances"]]:
        problems.append(f"table rows differ: {facts['rows']}")
    if facts["bold"]:
        problems.append("a string from the files became markup")
    for entry in driver.get_log("browser"):
        if entry["level"] in ("SEVERE", "WARNING"):
            problems.append(f"console: {entry['message']}")
    return problems


@pytest.mark.browser
def test_the_page_in_a_headless_browser(browser, look, labelled):
    for case in (look, labelled):
        assert page_problems(browser, case["out"], case["doc"]) == []
    facts = browser.execute_script(PAGE_FACTS)  # the labelled report is open
    assert CLASS in facts["tableText"]  # the escaped class name reads as written
    browser.get((look["out"] / "index.html").resolve().as_uri())
    n_images = browser.execute_script("return document.images.length")
    doc = look["doc"]
    assert n_images == len(doc["files"]["plots"]) + len(doc["files"]["thumbs"]) == len(doc["files"]["plots"]) + 16


@pytest.mark.browser
def test_the_browser_check_finds_broken_pages(browser, look, tmp_path):
    """The checks above can fail: a missing plot, a link out of the folder, a script error, a changed summary."""
    broken = tmp_path / "broken"
    shutil.copytree(look["out"], broken)
    (broken / "plots" / "summary.png").unlink()
    page = (broken / "index.html").read_text()
    page = page.replace("<a href=\"compare.json\">", "<a href=\"../../elsewhere.json\">")
    page = page.replace("</body>", "<script>undefinedFunction();</script></body>")
    page = page.replace(look["doc"]["summary"]["sentences"][0], "something else", 1)
    (broken / "index.html").write_text(page)
    problems = page_problems(browser, broken, look["doc"])
    assert any("did not load: plots/summary.png" in p for p in problems), problems
    assert any("outside the report: ../../elsewhere.json" in p for p in problems), problems
    assert any(p.startswith("console:") for p in problems) and any("script elements" in p for p in problems)
    assert any(p.startswith("summary sentences differ") for p in problems)


def test_render_html_is_pure_and_escapes_notes(labelled):
    doc = json.loads(json.dumps(labelled["doc"]))
    doc["notes"] = ['<img src="http://example.com/x.png">']
    page = render_html(doc)
    assert "&lt;img src=&quot;http://example.com/x.png&quot;&gt;" in page and "<img src=\"http" not in page


def test_sets_too_small_for_the_classifier_still_get_a_report(tmp_path):
    ours = write_folder(tmp_path / "ours", [150] * 3, seed=0)
    ref = write_folder(tmp_path / "ref", [60] * 3, seed=1)
    doc = R.run_compare(ours, ref, tmp_path / "out")
    ld = doc["learned"]
    assert ld["enabled"] and ld["kid"]["n_ours"] == 3 and ld["kid"]["subset_size"] == 3
    assert ld["c2st"] == {"skipped": "the two-sample test needs 4 images per side; got 3 ours and 3 reference"}
    assert doc["files"]["thumbs"] == [] and "c2st" not in doc["files"]["plots"]
    assert doc["summary"]["groups"]["learned"]["sentences"] == [f"Learned: {ld['sentences'][0]}."]
    assert "Two-sample classifier: skipped" in (tmp_path / "out" / "index.html").read_text()
