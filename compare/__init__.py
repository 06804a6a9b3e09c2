"""The domain gap between a gtforge dataset and a user's reference data (``gtforge compare``).

Reads written files only, like ``inspection``: imports ``core`` and ``formats``, never the renderer, the scene
builders or the pipeline, so what it measures is what was written.

Learned distances (torch, the optional ``tune`` extra, imported inside functions): ``learned`` (KID on the
features of a fixed, seeded, randomly initialised CNN; the classifier two-sample test) and ``segmenter`` (the
class-agnostic foreground U-Net of ``benchmarks/transfer.py`` and of ``gtforge tune``'s task objective).
"""
