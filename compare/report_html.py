"""The ``index.html`` of a ``gtforge compare`` report: one self-contained page built from ``compare.json``.

It opens from the file system with no server: the style is inline, there is no script, no font and nothing from
another site; every link and image is relative to the report folder (``plots/``, ``thumbs/``,
``compare.json``). Every string that came from files (paths, file names, class names, notes) is escaped for HTML
(``html.escape``, quotes included).
"""

from __future__ import annotations

from html import escape

STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 70em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.88em; width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.45em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; white-space: nowrap; }
tr.clear td.norm { font-weight: bold; }
.bar { display: inline-block; height: 0.7em; background: #1f78b4; vertical-align: middle; margin-right: 0.3em; }
tr.g-content .bar { background: #7570b3; }
ol.summary li { margin-bottom: 0.35em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots figure { margin: 0; } .plots img { max-width: 100%; border: 1px solid #eee; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.6em; }
.thumbs figure { margin: 0; width: 170px; font-size: 0.78em; word-break: break-all; }
.thumbs img { max-width: 160px; max-height: 160px; display: block; border: 1px solid #ccc; }
.muted { color: #666; } code { font-size: 0.92em; }
"""

_THUMB_SECTIONS = (
    ("most_real_ours", "Our images that look most real",
     "highest held-out probability of being a reference image: what the reference looks like, done right"),
    ("most_synthetic_ours", "Our images that look most synthetic",
     "lowest probability: the look to change first"),
    ("most_synthetic_reference", "Reference images that look most synthetic",
     "lowest probability: the part of the reference our data already covers"),
    ("most_real_reference", "Reference images that look most real",
     "highest probability: the part of the reference our data misses"),
)


def e(x) -> str:
    """``str(x)`` escaped for HTML text and attribute values."""
    return escape(str(x), quote=True)


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def short_summary(summary: dict | None, kind: str, unit: str = "") -> str:
    """A few words for the report's table: the median, the most common category, the median point, the spread."""
    if summary is None:
        return "-"
    if kind == "scalar":
        m = summary.get("median")
        return "-" if m is None else f"{m:.3g}" + (f" {unit}" if unit and len(unit) <= 12 else "")
    if kind == "categorical":
        shares = summary.get("shares") or {}
        if not shares:
            return "-"
        top = next(iter(shares))
        return f"{top} {shares[top]:.0%}" + (f" (+{len(shares) - 1} more)" if len(shares) > 1 else "")
    if kind == "points2d":
        m = summary.get("median") or [None, None]
        return "-" if None in m else f"({m[0]:.2f}, {m[1]:.2f})"
    s = summary.get("spread")
    return "-" if s is None else f"spread {s:.3g}"


def _summary_section(doc: dict) -> str:
    items = "".join(f"<li>{e(s)}</li>" for s in doc["summary"]["sentences"])
    groups = doc["summary"]["groups"]
    scores = [f"{g}: {groups[g]['gap_score']:.2f}" for g in ("content", "image")
              if groups.get(g, {}).get("gap_score") is not None]
    score_line = (f"<p class=\"muted\">Gap scores (mean normalized distance; 0 = no measured gap): "
                  f"{e('; '.join(scores))}.</p>") if scores else ""
    return f"<h2 id=\"summary\">Summary</h2>\n<ol class=\"summary\">{items}</ol>\n{score_line}"


def _table_section(doc: dict) -> str:
    rows = []
    for d in doc["distances"]:
        st = doc["statistics"][d["name"]]
        unit = d["unit"] if d["unit"] else ""
        width = max(1, int(round(100 * min(d["normalized"], 1.0))))
        rows.append(
            f"<tr class=\"g-{e(d['group'])}{' clear' if d['clear'] else ''}\" data-name=\"{e(d['name'])}\">"
            f"<td class=\"num\">{d['rank']}</td><td>{e(d['title'])}</td><td>{e(d['group'])}</td>"
            f"<td>{e(d['method'])}</td><td class=\"num\">{e(_fmt(d['value']))}{(' ' + e(unit)) if unit else ''}</td>"
            f"<td class=\"num norm\"><span class=\"bar\" style=\"width:{width}px\"></span>{d['normalized']:.2f}</td>"
            f"<td>{e(short_summary(st['ours'], st['kind'], st['unit']))}</td>"
            f"<td>{e(short_summary(st['reference'], st['kind'], st['unit']))}</td>"
            f"<td class=\"num\">{d['n_ours']} / {d['n_ref']}</td><td>{e(d['sentence'])}</td></tr>")
    only = [(n, s) for n, s in doc["statistics"].items() if not s["compared"]]
    extra = ""
    if only:
        li = "".join(f"<li>{e(s['title'])} ({e(s['group'])}): only "
                     f"{'ours' if s['ours'] is not None else 'the reference'} has it</li>" for _, s in only)
        extra = f"<p>Measured on one side only (not compared):</p><ul>{li}</ul>"
    return ("<h2 id=\"statistics\">Every statistic</h2>\n"
            "<p class=\"muted\">Largest difference first. <em>normalized</em>: 0 = the same distribution, about 1 = "
            "disjoint (bold: beyond sampling noise). Medians for scalars, the most common value for categories, "
            "the median point for 2D statistics, the spread for embeddings.</p>\n"
            "<table id=\"stats-table\"><thead><tr><th>#</th><th>statistic</th><th>group</th><th>method</th>"
            "<th>distance</th><th>normalized</th><th>ours</th><th>reference</th><th>n ours / ref</th>"
            "<th>in words</th></tr></thead>\n<tbody>" + "\n".join(rows) + "</tbody></table>\n" + extra)


def _learned_section(doc: dict) -> str:
    ld = doc["learned"]
    if not ld.get("enabled"):
        return ("<h2 id=\"learned\">Learned distances</h2>\n<p>Not run (<code>--no-learned</code>): the KID on random "
                "CNN features and the two-sample classifier need the optional <code>tune</code> extra.</p>")
    parts = ["<h2 id=\"learned\">Learned distances</h2>"]
    kid, c2 = ld.get("kid", {}), ld.get("c2st", {})
    items = []
    if "mean" in kid:
        m, s = round(kid["mean"] * 1000, 6), round(kid["std"] * 1000, 6)
        items.append(f"<li>KID (random CNN features, {e(kid['features'])}): {m:.3g} x 10<sup>-3</sup>"
                     f" &plusmn; {s:.2g} x 10<sup>-3</sup> over {kid['subsets']} subsets of "
                     f"{kid['subset_size']}; n = {kid['n_ours']} / {kid['n_ref']}.</li>")
    elif "skipped" in kid:
        items.append(f"<li>KID: skipped ({e(kid['skipped'])}).</li>")
    if "accuracy" in c2:
        items.append(f"<li>Two-sample classifier: held-out accuracy <strong>{c2['accuracy']:.1%}</strong> "
                     f"(50% = indistinguishable; {c2['n_balanced']} images per side, {e(c2['folds'])} folds"
                     f"{' that keep each scene whole' if c2.get('folds_keep_scenes') else ''}, "
                     f"{e(c2['epochs'])} epochs).</li>")
    elif "skipped" in c2:
        items.append(f"<li>Two-sample classifier: skipped ({e(c2['skipped'])}).</li>")
    parts.append(f"<ul>{''.join(items)}</ul>")
    for key, title, hint in _THUMB_SECTIONS:
        entries = c2.get(key) or []
        if not entries:
            continue
        figs = "".join(
            f"<figure><img src=\"{e(x['thumb'])}\" alt=\"{e(x['file'])}\">"
            f"<figcaption>p(reference) = {x['p_ref']:.2f}<br>{e(x['file'])}</figcaption></figure>"
            for x in entries if x.get("thumb"))
        parts.append(f"<h3>{e(title)}</h3><p class=\"muted\">{e(hint)}</p><div class=\"thumbs\">{figs}</div>")
    return "\n".join(parts)


def _plots_section(doc: dict) -> str:
    plots = doc["files"].get("plots", {})
    order = ["summary"] + [d["name"] for d in doc["distances"]] + ["c2st"]
    figs = []
    for key in order:
        if key not in plots:
            continue
        caption = ("normalized distance of every statistic" if key == "summary" else
                   "two-sample classifier's held-out probabilities" if key == "c2st" else
                   doc["statistics"][key]["description"])
        figs.append(f"<figure id=\"plot-{e(key)}\"><img src=\"{e(plots[key])}\" alt=\"{e(key)}\">"
                    f"<figcaption class=\"muted\">{e(caption)}</figcaption></figure>")
    return "<h2 id=\"plots\">Plots</h2>\n<div class=\"plots\">" + "\n".join(figs) + "</div>"


def _inputs_section(doc: dict) -> str:
    inp = doc["inputs"]
    rows = []
    for side, title in (("dataset", "ours"), ("reference", "reference")):
        s = inp[side]
        sizes = ", ".join(f"{k} ({v})" for k, v in s["sizes"].items())
        rows.append(f"<tr><th>{title}</th><td><code>{e(s['path'])}</code></td><td>{e(s['format'])}</td>"
                    f"<td class=\"num\">{s['images']}</td><td>{'yes' if s['labelled'] else 'no'}</td>"
                    f"<td>{e(sizes)}</td></tr>")
    notes = [*(f"ours: {n}" for n in inp["dataset"]["notes"]), *(f"reference: {n}" for n in inp["reference"]["notes"]),
             *doc["notes"]]
    notes_html = ("<ul id=\"notes\">" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>") if notes else \
        "<p id=\"notes\" class=\"muted\">No notes.</p>"
    versions = ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if v)
    return ("<h2 id=\"inputs\">Inputs and notes</h2>\n<table><thead><tr><th></th><th>path</th><th>format</th>"
            "<th>images</th><th>labelled</th><th>sizes</th></tr></thead><tbody>" + "".join(rows) +
            "</tbody></table>\n"
            f"<p>Seed {inp['seed']}, at most {inp['max_images']} images per side, image statistics measured at "
            f"{inp['analysis_size'][0]}x{inp['analysis_size'][1]}.</p>\n{notes_html}\n"
            f"<p class=\"muted\">Versions: {e(versions)}. All figures: <a href=\"compare.json\">compare.json</a>."
            "</p>")


def render_html(doc: dict) -> str:
    """The report page of a ``compare.json`` document (:func:`gtforge.compare.report.run_compare`'s result,
    with ``files`` filled in). Returns the HTML text (UTF-8)."""
    ours, ref = doc["inputs"]["dataset"]["path"], doc["inputs"]["reference"]["path"]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>gtforge compare: {e(ours)} vs {e(ref)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        "<h1>Domain gap: our data against the reference</h1>\n"
        f"<p class=\"muted\">Ours: <code>{e(ours)}</code><br>Reference: <code>{e(ref)}</code></p>\n"
        f"{_summary_section(doc)}\n{_learned_section(doc)}\n{_table_section(doc)}\n{_plots_section(doc)}\n"
        f"{_inputs_section(doc)}\n</body>\n</html>\n")
