"""The domain gap between a gtforge dataset and a user's reference data (``gtforge compare``).

Reads written files only, like ``inspection``: imports ``core`` and ``formats``, never the renderer, the scene
builders or the pipeline, so what it measures is what was written.
"""
