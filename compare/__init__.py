"""The domain gap between a gtforge dataset and a user's reference data (``gtforge compare``).

Reads written files only, like ``inspection``: imports ``core`` and ``formats``, never the renderer, the scene
builders or the pipeline, so what it measures is what was written.

``imagesets`` reads a gtforge dataset or a reference (a folder of images, COCO, BOP, KITTI, YOLO) into one
vocabulary of images and labels; ``stats`` holds the value types (a statistic of one set, the distance between
two); ``image_stats`` measures the pixels (brightness, contrast, saturation, CIELAB, sharpness, noise, spectral
slope, edges, JPEG quality); ``content_stats`` the labels (instances, box sizes and positions, classes,
truncation, occlusion, viewpoints, hand articulation and orientation); ``distances`` compares two sets'
statistics (Wasserstein-1, total variation, sliced Wasserstein), ranks them in plain words and averages them
into one gap score.

Learned distances (torch, the optional ``tune`` extra, imported inside functions): ``learned`` (KID on the
features of a fixed, seeded, randomly initialised CNN; the classifier two-sample test) and ``segmenter`` (the
class-agnostic foreground U-Net of ``benchmarks/transfer.py`` and of ``gtforge tune``'s task objective).

``report`` runs the whole comparison (``run_compare``: both sides loaded, measured at one size, compared, the
learned distances, a plain-words ranking) and writes ``compare.json``, the PNG figures of ``plots`` and the
self-contained page of ``report_html``.
"""
